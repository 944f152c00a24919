#!/usr/bin/env bash
# scripts/test.sh — what `npm test` runs.
#   1. system packages the tests need (scripts/install-test-deps.sh; apt-get only if missing)
#   2. build when a source changed since the last build (scripts/build.mjs --if-stale → dist/main.js, which the e2e tests start)
#   3. every test/**/*.test.ts with node's test runner, two files at a time
#   4. test/api, test/auth, garbage collection, scrub, retention, mirror, replication, trust, scanning and network-rule
#      stores again with the metadata in PostgreSQL (BERTH_TEST_METADATA=postgres)
#
#   npm test                          everything
#   npm test -- test/e2e/ctr.test.ts  only the given files
# Env: BERTH_TEST_METADATA=postgres  run the given files with the metadata in PostgreSQL
#      BERTH_E2E_TARGET=reference  run the e2e tests against docker-registry instead of Berth
#      BIG_MIB=100                 size of the big layer of the multi-layer test image
#      BERTH_E2E_KEEP=1            keep temporary data dirs and the dockerd dir
#      BERTH_E2E_SEED=berth        seed of the test images' random data
#      BERTH_E2E_STORAGE_DRIVER=overlay  containers/storage driver for podman/buildah (vfs works too)
#      BERTH_DOCKER_DIR=DIR        reuse a dockerd started by scripts/start-dockerd.sh (not stopped at the end)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

bash scripts/install-test-deps.sh

# PostgreSQL for the metadata suite and the PostgreSQL pass below: installed and started
# when needed (scripts/start-postgres.sh), never skipped.
BERTH_TEST_PG_URL=$(bash scripts/start-postgres.sh)
export BERTH_TEST_PG_URL

# Ceph RGW for the S3 tests (test/storage/s3.test.ts, test/api-s3/, test/cluster/), started in the background
# while the build runs. The tests call scripts/start-ceph-rgw.sh ensure themselves (it takes a
# lock, so they wait for this start) and fail, never skip, when it cannot start. Stopped and
# removed at the end unless it was already running; BERTH_CEPH_KEEP=1 keeps it.
ceph_started=0
if [ $# -eq 0 ] || [[ " $* " == *s3* || " $* " == *cluster* ]]; then
  if ! bash scripts/start-ceph-rgw.sh env >/dev/null 2>&1; then
    ceph_started=1
    ceph_log=$(mktemp /tmp/berth-ceph-start.XXXXXX.log)
    echo "test.sh: starting Ceph RGW in the background (log: $ceph_log)"
    bash scripts/start-ceph-rgw.sh ensure >"$ceph_log" 2>&1 &
  fi
fi

node scripts/build.mjs --if-stale

# One private dockerd for this run (started lazily by the first test that needs docker or
# ctr, shared by all test files through BERTH_DOCKER_DIR), stopped and removed at the end.
# Short path on purpose: unix socket paths are limited to 107 bytes.
if [ -z "${BERTH_DOCKER_DIR:-}" ]; then
  BERTH_DOCKER_DIR=$(mktemp -d /tmp/berth-dockerd.XXXXXX)
  own_docker_dir=1
else
  own_docker_dir=0
fi
export BERTH_DOCKER_DIR
cleanup() {
  local rc=$?
  if [ "$ceph_started" = 1 ] && [ "${BERTH_CEPH_KEEP:-0}" != 1 ]; then
    bash scripts/start-ceph-rgw.sh purge >/dev/null 2>&1 || true
  fi
  bash scripts/start-dockerd.sh stop "$BERTH_DOCKER_DIR" >/dev/null 2>&1 || true
  if [ "$own_docker_dir" = 1 ] && [ "${BERTH_E2E_KEEP:-0}" != 1 ]; then
    # dockerd unmounts its overlays on exit; anything left is unmounted before removal
    grep -o " $BERTH_DOCKER_DIR/[^ ]*" /proc/mounts 2>/dev/null | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
    rm -rf "$BERTH_DOCKER_DIR" 2>/dev/null || true
  fi
  exit $rc
}
trap cleanup EXIT

if [ $# -gt 0 ]; then
  files=("$@")
else
  shopt -s globstar nullglob
  files=(test/**/*.test.ts)
fi
if [ ${#files[@]} -eq 0 ]; then
  echo "test.sh: no test files found under test/" >&2
  exit 1
fi

echo "test.sh: ${#files[@]} test files, e2e target ${BERTH_E2E_TARGET:-berth}"
rc=0
node --import tsx --test --test-reporter=spec --test-concurrency=2 "${files[@]}" || rc=$?

# Second pass (full runs only): the API, auth, garbage-collection, scrub, tag-history, immutable-tag, retention, mirror blob-fetch and
# replication tests again with the metadata in PostgreSQL (test/helpers/api-server.ts gives each server a fresh schema).
if [ $# -eq 0 ]; then
  pg_files=(test/api/*.test.ts test/auth/*.test.ts test/gc/scrub.test.ts test/gc/{race,reclaim,manifests,lifecycle,gc-command,sweep,sweep-command}.test.ts test/api-v1/tag-history.test.ts test/api-v1/immutable-tags.test.ts test/retention/*.test.ts test/mirror/fetch.test.ts test/mirror/fetch-replicas.test.ts test/mirror/{pull-through,upstream-auth,evict,blob-protected}.test.ts test/replication/{store,push,pull,runner}.test.ts test/trust/{api,enforce}.test.ts test/scan/{queue,report,policy}.test.ts test/net/api-rules.test.ts)
  echo "test.sh: ${#pg_files[@]} API, auth, garbage-collection and scrub test files again with BERTH_TEST_METADATA=postgres"
  t0=$SECONDS
  BERTH_TEST_METADATA=postgres node --import tsx --test --test-reporter=spec --test-concurrency=2 "${pg_files[@]}" || rc=$?
  echo "test.sh: PostgreSQL pass took $((SECONDS - t0)) s"
fi
exit $rc
