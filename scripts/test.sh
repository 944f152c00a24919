#!/usr/bin/env bash
# scripts/test.sh — what `npm test` runs.
#   1. system packages the tests need (scripts/install-test-deps.sh; apt-get only if missing)
#   2. build when a source changed since the last build (scripts/build.mjs --if-stale → dist/main.js, which the e2e tests start)
#   3. the test files with node's test runner, two files at a time, on two runtimes (a full run, what CI runs):
#      a. Node 20 — the node on PATH, still supported: the files closest to the runtime (test/unit, test/metadata,
#         the filesystem storage driver, test/runtime) with SQLite, then test/api, test/auth, garbage collection,
#         scrub, retention, mirror, replication, trust, scanning and network-rule stores with the metadata in
#         PostgreSQL (BERTH_TEST_METADATA=postgres)                                        ~1.5 + ~4 min
#      b. Node 24 LTS — the primary runtime (scripts/node24.sh: node from the npm registry and a node_modules
#         rebuilt for it, set up in the background during a.): every test file, in .cache/node24/app (a copy of
#         the working tree; Node resolves packages next to the importing file, so Node 24 needs its own tree)
#                                                                                          ~15 min
#      About 21 min in all on 2 cores, under CI's 30. Measured: Node 20's main pass took 893 s and the PostgreSQL
#      pass 243 s (a full run before this split); the files of a. take 90 s of CPU on Node 20 and 89 s on Node 24,
#      so Node 24 runs the suite in Node 20's time; the first setup of Node 24 takes ~15 s to fetch and ~95 s of
#      CPU to compile SQLite (nothing when .cache/node24 is warm). Each pass sets BERTH_TEST_NODE_MAJOR, which
#      test/runtime/node-version.test.ts checks against the test runner, the node on PATH and the server started.
#
#   npm test                          everything (both runtimes)
#   npm test -- test/e2e/ctr.test.ts  only the given files, on the node on PATH
# Env: BERTH_TEST_NODE=24            run on Node 24 (the given files, or all of them) instead of the node on PATH
#      BERTH_TEST_NODE=system        a full run on the node on PATH only (every file, then the PostgreSQL pass)
#      BERTH_TEST_METADATA=postgres  run the given files with the metadata in PostgreSQL
#      BERTH_E2E_TARGET=reference  run the e2e tests against docker-registry instead of Berth
#      BIG_MIB=100                 size of the big layer of the multi-layer test image
#      BERTH_E2E_KEEP=1            keep temporary data dirs and the dockerd dir
#      BERTH_E2E_SEED=berth        seed of the test images' random data
#      BERTH_E2E_STORAGE_DRIVER=overlay  containers/storage driver for podman/buildah (vfs works too)
#      BERTH_DOCKER_DIR=DIR        reuse a dockerd started by scripts/start-dockerd.sh (not stopped at the end)
#      BERTH_CEPH_KEEP=1           keep a Ceph RGW this run started
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
if [ $# -eq 0 ] || [[ " $* " == *s3* || " $* " == *cluster* || " $* " == *oss* ]]; then
  if ! bash scripts/start-ceph-rgw.sh env >/dev/null 2>&1; then
    ceph_started=1
    ceph_log=$(mktemp /tmp/berth-ceph-start.XXXXXX.log)
    echo "test.sh: starting Ceph RGW in the background (log: $ceph_log)"
    bash scripts/start-ceph-rgw.sh ensure >"$ceph_log" 2>&1 &
  fi
fi

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

node_major() { node -p 'process.versions.node.split(".")[0]'; }
runner=(--import tsx --test --test-reporter=spec --test-concurrency=2)
want=${BERTH_TEST_NODE:-}
case "$want" in
  '' | 24 | system) ;;
  *) echo "test.sh: BERTH_TEST_NODE must be 24 or system, not $want" >&2; exit 2 ;;
esac

# Runs files on Node 24 in .cache/node24/app (paths relative to the repository); $node24_bin set up before.
node24_run() {
  local app
  app=$(bash scripts/node24.sh app)
  (
    cd "$app"
    export PATH="$node24_bin:$PATH" BERTH_TEST_NODE_MAJOR=24
    node scripts/build.mjs --if-stale
    node "${runner[@]}" "$@"
  )
}

rc=0
if [ $# -gt 0 ]; then
  files=()
  for f in "$@"; do files+=("${f#"$PWD"/}"); done
  echo "test.sh: ${#files[@]} test files, e2e target ${BERTH_E2E_TARGET:-berth}"
  if [ "$want" = 24 ]; then
    node24_bin=$(bash scripts/node24.sh sync)
    echo "test.sh: on Node 24 ($("$node24_bin/node" -v)) in $(bash scripts/node24.sh app)"
    node24_run "${files[@]}" || rc=$?
  else
    node scripts/build.mjs --if-stale
    echo "test.sh: on the node on PATH ($(node -v))"
    BERTH_TEST_NODE_MAJOR=$(node_major) node "${runner[@]}" "${files[@]}" || rc=$?
  fi
  exit $rc
fi

shopt -s globstar nullglob
all=(test/**/*.test.ts)
if [ ${#all[@]} -eq 0 ]; then
  echo "test.sh: no test files found under test/" >&2
  exit 1
fi
# The PostgreSQL pass: the API, auth, garbage-collection, scrub, tag-history, immutable-tag, retention, mirror blob-fetch and
# replication tests again with the metadata in PostgreSQL (test/helpers/api-server.ts gives each server a fresh schema).
pg_files=(test/api/*.test.ts test/auth/*.test.ts test/gc/scrub.test.ts test/gc/{race,reclaim,manifests,lifecycle,gc-command,sweep,sweep-command}.test.ts test/api-v1/tag-history.test.ts test/api-v1/immutable-tags.test.ts test/retention/*.test.ts test/mirror/fetch.test.ts test/mirror/fetch-replicas.test.ts test/mirror/{pull-through,upstream-auth,evict,blob-protected}.test.ts test/replication/{store,push,pull,runner}.test.ts test/trust/{api,enforce}.test.ts test/scan/{queue,report,policy}.test.ts test/net/api-rules.test.ts)
# The files closest to the runtime (streams, crypto, fs, better-sqlite3), again on Node 20 with SQLite.
node20_files=(test/unit/*.test.ts test/metadata/*.test.ts test/storage/{filesystem,direct-writer,file-read-stream}.test.ts test/runtime/*.test.ts)

pass() { # pass LABEL COMMAND...: runs one pass, notes its time, keeps going after a failure
  local label=$1 t0=$SECONDS r=0
  shift
  echo "test.sh: $label"
  "$@" || r=$?
  echo "test.sh: $label took $((SECONDS - t0)) s$([ $r = 0 ] || echo ", FAILED ($r)")"
  [ $r = 0 ] || rc=$r
}

if [ "$want" = 24 ]; then
  node24_bin=$(bash scripts/node24.sh sync)
  pass "Node 24 ($("$node24_bin/node" -v)): ${#all[@]} test files, e2e target ${BERTH_E2E_TARGET:-berth}" node24_run "${all[@]}"
  exit $rc
fi

node scripts/build.mjs --if-stale
system=$(node -v)
if [ "$want" = system ]; then
  pass "$system: ${#all[@]} test files, e2e target ${BERTH_E2E_TARGET:-berth}" env BERTH_TEST_NODE_MAJOR="$(node_major)" node "${runner[@]}" "${all[@]}"
  pass "$system: ${#pg_files[@]} test files again with BERTH_TEST_METADATA=postgres" \
    env BERTH_TEST_METADATA=postgres BERTH_TEST_NODE_MAJOR="$(node_major)" node "${runner[@]}" "${pg_files[@]}"
  exit $rc
fi

# Node 24 is set up while the Node 20 passes run (its first setup compiles SQLite: ~2 min of CPU).
n24_log=$(mktemp /tmp/berth-node24.XXXXXX.log)
bash scripts/node24.sh sync >"$n24_log.bin" 2>"$n24_log" &
n24_pid=$!
pass "$system (the node on PATH): ${#node20_files[@]} test files closest to the runtime, SQLite" \
  env BERTH_TEST_NODE_MAJOR="$(node_major)" node "${runner[@]}" "${node20_files[@]}"
pass "$system (the node on PATH): ${#pg_files[@]} API, auth, garbage-collection and scrub test files with BERTH_TEST_METADATA=postgres" \
  env BERTH_TEST_METADATA=postgres BERTH_TEST_NODE_MAJOR="$(node_major)" node "${runner[@]}" "${pg_files[@]}"
if wait "$n24_pid"; then
  node24_bin=$(cat "$n24_log.bin")
  pass "Node 24 ($("$node24_bin/node" -v)), the primary runtime: ${#all[@]} test files, e2e target ${BERTH_E2E_TARGET:-berth}" node24_run "${all[@]}"
else
  cat "$n24_log" >&2
  echo "test.sh: Node 24 setup failed (scripts/node24.sh; log above): the main pass did not run" >&2
  rc=1
fi
rm -f "$n24_log" "$n24_log.bin"
exit $rc
