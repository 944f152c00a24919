#!/usr/bin/env bash
# install-test-deps.sh — make sure the Debian packages the test suite and the benches use
# are installed. Fast no-op when everything is present; otherwise one `apt-get update` and
# one `apt-get install --no-install-recommends` of just the missing packages.
# Needs root (or passwordless sudo) when something is missing.
#   INSTALL_TEST_DEPS=0  only check, never install (fails listing what is missing)
set -euo pipefail

# "package:file-that-proves-it-is-installed" (absolute paths: another `docker` may be first on PATH)
WANT=(
  skopeo:/usr/bin/skopeo
  podman:/usr/bin/podman
  buildah:/usr/bin/buildah
  umoci:/usr/bin/umoci
  docker.io:/usr/sbin/dockerd
  docker.io:/usr/bin/docker
  containerd:/usr/bin/containerd
  containerd:/usr/bin/ctr
  jq:/usr/bin/jq
  zstd:/usr/bin/zstd
  openssl:/usr/bin/openssl
  apache2-utils:/usr/bin/htpasswd
  docker-registry:/usr/bin/docker-registry
  wrk:/usr/bin/wrk
  tar:/bin/tar
  gzip:/bin/gzip
  # Ceph RGW for the S3 tests (scripts/start-ceph-rgw.sh starts it)
  ceph-mon:/usr/bin/ceph-mon
  ceph-osd:/usr/bin/ceph-osd
  radosgw:/usr/bin/radosgw
  ceph-common:/usr/bin/ceph
  uuid-runtime:/usr/bin/uuidgen
  curl:/usr/bin/curl
  # the metadata suite and the API tests on PostgreSQL (scripts/start-postgres.sh starts it)
  postgresql:/usr/bin/pg_ctlcluster
  postgresql:/usr/bin/psql
  # the load balancer of the cluster test (test/cluster/), configured from deploy/nginx/berth.conf
  nginx:/usr/sbin/nginx
  # the web UI's browser tests (test/ui/, driven by playwright-core)
  chromium:/usr/bin/chromium
)

missing=()
for entry in "${WANT[@]}"; do
  pkg=${entry%%:*} file=${entry#*:}
  if [ ! -x "$file" ]; then
    case " ${missing[*]-} " in *" $pkg "*) ;; *) missing+=("$pkg");; esac
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-test-deps: all test packages present"
  exit 0
fi

echo "install-test-deps: missing packages: ${missing[*]}"
if [ "${INSTALL_TEST_DEPS:-1}" = 0 ]; then
  echo "install-test-deps: INSTALL_TEST_DEPS=0, not installing" >&2
  exit 1
fi

SUDO=
if [ "$(id -u)" != 0 ]; then
  if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then SUDO="sudo -n"
  else echo "install-test-deps: need root to apt-get install ${missing[*]}" >&2; exit 1; fi
fi

# Packages like docker.io, containerd and docker-registry ship init scripts that apt would
# start (docker-registry listens on *:5000). Forbid service starts while we install.
POLICY=/usr/sbin/policy-rc.d
added_policy=0
if [ ! -e "$POLICY" ]; then
  printf '#!/bin/sh\n# temporary, from berth scripts/install-test-deps.sh\nexit 101\n' | $SUDO tee "$POLICY" >/dev/null
  $SUDO chmod 755 "$POLICY"
  added_policy=1
fi
remove_policy() { if [ "$added_policy" = 1 ]; then $SUDO rm -f "$POLICY"; fi; }
trap remove_policy EXIT

export DEBIAN_FRONTEND=noninteractive NEEDRESTART_SUSPEND=1 NEEDRESTART_MODE=l
t0=$(date +%s)
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -q
$SUDO env DEBIAN_FRONTEND=noninteractive NEEDRESTART_SUSPEND=1 apt-get install -y -q \
  --no-install-recommends -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
  "${missing[@]}"
echo "install-test-deps: installed ${missing[*]} in $(( $(date +%s) - t0 ))s"

still=()
for entry in "${WANT[@]}"; do
  [ -x "${entry#*:}" ] || still+=("${entry#*:}")
done
if [ ${#still[@]} -gt 0 ]; then
  echo "install-test-deps: still missing after install: ${still[*]}" >&2
  exit 1
fi
