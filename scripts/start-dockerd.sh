#!/usr/bin/env bash
# start-dockerd.sh — run a private dockerd (and the containerd it spawns) entirely under one
# directory, for the e2e tests. Idempotent: if the daemon in DIR answers, nothing is started.
#
#   scripts/start-dockerd.sh [start|stop|env] [DIR]
#   DIR defaults to $BERTH_DOCKER_DIR, else ${TMPDIR:-/tmp}/berth-dockerd (keep it short:
#   unix socket paths are limited to 107 bytes).
#   DOCKER_STORAGE_DRIVER=overlay2 (falls back to vfs when overlay2 does not come up)
#
# Prints, on success, lines usable with `eval`:
#   DOCKER_HOST=unix://DIR/docker.sock
#   CONTAINERD_ADDRESS=DIR/exec/containerd/containerd.sock
# 127.0.0.0/8 is an insecure registry for dockerd by default: plain HTTP and unverified
# TLS to 127.0.0.1:PORT work without daemon.json.
set -euo pipefail

cmd=${1:-start}
DIR=${2:-${BERTH_DOCKER_DIR:-${TMPDIR:-/tmp}/berth-dockerd}}
SOCK="$DIR/docker.sock"
CTRD_SOCK="$DIR/exec/containerd/containerd.sock"
LOG="$DIR/dockerd.log"
DOCKER=/usr/bin/docker
DOCKERD=/usr/sbin/dockerd

print_env() {
  echo "DOCKER_HOST=unix://$SOCK"
  echo "CONTAINERD_ADDRESS=$CTRD_SOCK"
}
alive() { DOCKER_HOST="unix://$SOCK" "$DOCKER" version --format '{{.Server.Version}}' >/dev/null 2>&1; }

stop() {
  [ -f "$DIR/dockerd.pid" ] || return 0
  local pid; pid=$(cat "$DIR/dockerd.pid")
  if kill -0 "$pid" 2>/dev/null; then
    kill "$pid"
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$pid" 2>/dev/null && kill -9 "$pid" 2>/dev/null || true
  fi
  rm -f "$DIR/dockerd.pid"
}

case "$cmd" in
  env) print_env; exit 0 ;;
  stop) stop; echo "dockerd in $DIR stopped"; exit 0 ;;
  start) ;;
  *) echo "usage: $0 [start|stop|env] [DIR]" >&2; exit 2 ;;
esac

[ -x "$DOCKERD" ] || { echo "start-dockerd: $DOCKERD not installed (apt-get install docker.io)" >&2; exit 1; }
if alive; then print_env; exit 0; fi

mkdir -p "$DIR/data" "$DIR/exec"
[ -f "$DIR/daemon.json" ] || echo '{}' > "$DIR/daemon.json"

launch() {
  # a stale pid file from a dead daemon makes dockerd refuse to start
  if [ -f "$DIR/dockerd.pid" ] && ! kill -0 "$(cat "$DIR/dockerd.pid")" 2>/dev/null; then rm -f "$DIR/dockerd.pid"; fi
  echo "=== $(date -u +%FT%TZ) starting dockerd (storage driver $1)" >> "$LOG"
  setsid "$DOCKERD" \
    --config-file "$DIR/daemon.json" \
    --data-root "$DIR/data" \
    --exec-root "$DIR/exec" \
    --pidfile "$DIR/dockerd.pid" \
    --host "unix://$SOCK" \
    --storage-driver "$1" \
    --iptables=false --ip6tables=false --ip-masq=false --bridge=none \
    --userland-proxy=false \
    --exec-opt native.cgroupdriver=cgroupfs \
    </dev/null >>"$LOG" 2>&1 &
  local pid=$!
  for _ in $(seq 1 120); do
    if alive; then return 0; fi
    kill -0 "$pid" 2>/dev/null || return 1
    sleep 0.25
  done
  kill "$pid" 2>/dev/null || true
  return 1
}

driver=${DOCKER_STORAGE_DRIVER:-overlay2}
if ! launch "$driver"; then
  if [ "$driver" != vfs ]; then
    echo "start-dockerd: dockerd with $driver did not come up, retrying with vfs" >&2
    stop
    launch vfs || { echo "start-dockerd: dockerd did not come up; log $LOG:" >&2; tail -n 40 "$LOG" >&2; exit 1; }
  else
    echo "start-dockerd: dockerd did not come up; log $LOG:" >&2; tail -n 40 "$LOG" >&2; exit 1
  fi
fi
for _ in $(seq 1 40); do [ -S "$CTRD_SOCK" ] && break; sleep 0.25; done
[ -S "$CTRD_SOCK" ] || { echo "start-dockerd: containerd socket $CTRD_SOCK missing" >&2; exit 1; }
print_env
