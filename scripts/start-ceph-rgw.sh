#!/usr/bin/env bash
# start-ceph-rgw.sh — a throwaway single-node Ceph cluster with an S3 gateway (radosgw) for
# Berth's S3 tests and local experiments: 1 mon, 1 bluestore OSD on a sparse file, 1 radosgw
# on 127.0.0.1, one S3 user and one bucket. Debian bookworm's Ceph 16.2 packages, no systemd,
# every daemon runs in the background as the current (root) user; PIDs in $CEPH_DIR/run.
#
#   scripts/start-ceph-rgw.sh [ensure]   reuse a healthy cluster in $CEPH_DIR, else start a fresh one
#   scripts/start-ceph-rgw.sh fresh      wipe $CEPH_DIR and start a fresh cluster
#   scripts/start-ceph-rgw.sh stop       stop the daemons this script started (keeps $CEPH_DIR)
#   scripts/start-ceph-rgw.sh purge      stop and remove $CEPH_DIR
#   scripts/start-ceph-rgw.sh env        print the S3 settings of a running cluster (exit 1 if none)
#
# On success it prints shell assignments (also written to $CEPH_DIR/s3.env), e.g.
#   S3_ENDPOINT=http://127.0.0.1:7490 S3_REGION=us-east-1 S3_ACCESS_KEY=... S3_SECRET_KEY=... S3_BUCKET=berth
# Starts are serialised with flock, so parallel test files may all call `ensure`.
#
# Env: CEPH_DIR=/tmp/berth-rgw   MON_PORT=3390  RGW_PORT=7490  (not Ceph's usual 3300/7480, so a
#      cluster started by hand with the usual ports does not collide with the test suite's)
#      OSD_SIZE_GB=40 (sparse: only written data takes disk space)
#      OSD_COMPRESSION=none|lz4|snappy|zstd (bluestore compression; off by default: it compresses in
#      4 KiB units, so blobs gain nothing and the CPU is better spent on RGW)
#      S3_ACCESS_KEY, S3_SECRET_KEY, S3_BUCKET=berth   INSTALL=1 (apt-get install missing packages)
set -euo pipefail

CEPH_DIR=${CEPH_DIR:-/tmp/berth-rgw}
MON_PORT=${MON_PORT:-3390}
RGW_PORT=${RGW_PORT:-7490}
OSD_SIZE_GB=${OSD_SIZE_GB:-40}
OSD_COMPRESSION=${OSD_COMPRESSION:-none}
ACCESS_KEY=${S3_ACCESS_KEY:-berthtestaccesskey01}
SECRET_KEY=${S3_SECRET_KEY:-berthtestsecretkey0000000000000000000001}
BUCKET=${S3_BUCKET:-berth}
REGION=us-east-1
CONF=$CEPH_DIR/ceph.conf
ENV_FILE=$CEPH_DIR/s3.env
DAEMONS=(mon.a osd.0 client.rgw.berth)

T0=$(date +%s%N)
log() { local ms=$(( ($(date +%s%N) - T0) / 1000000 )); printf 'start-ceph-rgw: [%3d.%03ds] %s\n' $((ms/1000)) $((ms%1000)) "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# curl signs with SigV4 itself (curl ≥ 7.75); RGW also wants the payload hash header.
s3curl() {
  curl -sf -o /dev/null --max-time 5 -H 'x-amz-content-sha256: UNSIGNED-PAYLOAD' \
    --aws-sigv4 "aws:amz:$REGION:s3" --user "$ACCESS_KEY:$SECRET_KEY" "$@"
}

pid_alive() { [ -s "$CEPH_DIR/run/$1.pid" ] && kill -0 "$(cat "$CEPH_DIR/run/$1.pid")" 2>/dev/null; }

stop() {
  local pids=() f
  for f in "$CEPH_DIR"/run/*.pid; do
    [ -s "$f" ] || continue
    local pid; pid=$(cat "$f")
    # only processes of this cluster: their command line names our ceph.conf
    if kill -0 "$pid" 2>/dev/null && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$CONF"; then
      kill "$pid" 2>/dev/null || true
      pids+=("$pid")
    fi
  done
  for _ in $(seq 1 40); do
    local alive=0 p
    for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done
    [ $alive = 0 ] && break
    sleep 0.25
  done
  for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null && kill -9 "$p" 2>/dev/null || true; done
  rm -f "$CEPH_DIR"/run/*.pid
}

# Healthy = all three daemons alive, the gateway answers, and the credentials work on the bucket.
healthy() {
  [ -s "$ENV_FILE" ] || return 1
  local d
  for d in "${DAEMONS[@]}"; do pid_alive "$d" || return 1; done
  s3curl "http://127.0.0.1:$RGW_PORT/$BUCKET?max-keys=1"
}

print_env() { cat "$ENV_FILE"; }

case "${1:-ensure}" in
  stop) stop; echo "start-ceph-rgw: stopped"; exit 0 ;;
  purge) stop; rm -rf "$CEPH_DIR"; echo "start-ceph-rgw: removed $CEPH_DIR"; exit 0 ;;
  env) healthy || die "no healthy cluster in $CEPH_DIR"; print_env; exit 0 ;;
  ensure | fresh) mode=${1:-ensure} ;;
  *) echo "usage: $0 [ensure|fresh|stop|purge|env]" >&2; exit 2 ;;
esac

# ---- packages ----
if ! command -v radosgw >/dev/null || ! command -v ceph-osd >/dev/null || ! command -v ceph-mon >/dev/null \
   || ! command -v uuidgen >/dev/null || ! command -v curl >/dev/null; then
  [ "${INSTALL:-1}" = 1 ] || die "Ceph packages missing (apt-get install --no-install-recommends ceph-mon ceph-osd radosgw ceph-common uuid-runtime curl)"
  log "installing Ceph packages"
  export DEBIAN_FRONTEND=noninteractive NEEDRESTART_SUSPEND=1
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends ceph-mon ceph-osd radosgw ceph-common uuid-runtime curl >/dev/null
fi

mkdir -p "$CEPH_DIR"
exec 9>"$CEPH_DIR.lock"
flock -w 300 9 || die "timed out waiting for another start (lock $CEPH_DIR.lock)"

if [ "$mode" = ensure ] && healthy; then
  log "reusing the running cluster in $CEPH_DIR"
  print_env
  exit 0
fi

port_busy() { ss -Hltn "sport = :$1" 2>/dev/null | grep -q .; }
stop
for p in "$MON_PORT" "$RGW_PORT"; do
  port_busy "$p" && die "127.0.0.1:$p is in use by another process (set MON_PORT / RGW_PORT)"
done

# wait_until SECONDS WHAT CMD...: poll every 0.25 s; on timeout show the logs and fail
wait_until() {
  local secs=$1 what=$2; shift 2
  local n=$((secs * 4))
  while [ $n -gt 0 ]; do "$@" >/dev/null 2>&1 && return 0; sleep 0.25; n=$((n - 1)); done
  log "TIMEOUT waiting for $what"; tail -n 20 "$CEPH_DIR"/log/*.log >&2 || true; exit 1
}

rm -rf "$CEPH_DIR"
mkdir -p "$CEPH_DIR"/{mon/a,osd/0,rgw,run,log}
FSID=$(uuidgen)
compression=
if [ "$OSD_COMPRESSION" != none ]; then
  compression="bluestore compression mode = aggressive
bluestore compression algorithm = $OSD_COMPRESSION"
fi
cat >"$CONF" <<EOF
[global]
fsid = $FSID
mon host = v2:127.0.0.1:$MON_PORT
mon initial members = a
public network = 127.0.0.0/8
ms bind ipv4 = true
ms bind ipv6 = false
keyring = $CEPH_DIR/keyring
run dir = $CEPH_DIR/run
admin socket = $CEPH_DIR/run/\$name.asok
log file = $CEPH_DIR/log/\$name.log
pid file = $CEPH_DIR/run/\$name.pid
auth cluster required = cephx
auth service required = cephx
auth client required = cephx
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
osd crush chooseleaf type = 0
mon allow pool size one = true
mon allow pool delete = true
mon warn on pool no redundancy = false
mon max pg per osd = 1000
mon data avail warn = 1
mon data avail crit = 0
debug ms = 0
debug mon = 1
debug osd = 1
debug rgw = 1

[mon]
mon data = $CEPH_DIR/mon/\$id

[osd]
osd data = $CEPH_DIR/osd/\$id
keyring = $CEPH_DIR/osd/\$id/keyring
osd objectstore = bluestore
osd memory target = 939524096
bluestore block create = true
bluestore block size = $((OSD_SIZE_GB * 1024 * 1024 * 1024))
bluestore fsck on mkfs = false
$compression
osd op num shards = 2
osd op num threads per shard = 1
osd class load list = *
osd class default list = *

[client.rgw.berth]
keyring = $CEPH_DIR/rgw/keyring
rgw data = $CEPH_DIR/rgw
rgw frontends = beast endpoint=127.0.0.1:$RGW_PORT
rgw dns name = localhost
rgw enable usage log = false
rgw thread pool size = 64
# deleted objects' data is freed after a minute, not RGW's default two hours: the sparse OSD
# file only grows, and the 6 GiB test would otherwise keep its bytes for the rest of the run
rgw gc obj min wait = 60
rgw gc processor period = 60
EOF

ceph-authtool --create-keyring "$CEPH_DIR/keyring" --gen-key -n mon. --cap mon 'allow *' >/dev/null
ceph-authtool "$CEPH_DIR/keyring" --gen-key -n client.admin \
  --cap mon 'allow *' --cap osd 'allow *' --cap mgr 'allow *' --cap mds 'allow *' >/dev/null

monmaptool --create --fsid "$FSID" --addv a "[v2:127.0.0.1:$MON_PORT]" "$CEPH_DIR/monmap" >/dev/null
ceph-mon -c "$CONF" --mkfs -i a --monmap "$CEPH_DIR/monmap" --keyring "$CEPH_DIR/keyring"
ceph-mon -c "$CONF" -i a 9>&-   # daemons must not inherit the lock
C="ceph -c $CONF"
wait_until 30 "the monitor" $C -s --connect-timeout 2
log "mon up on 127.0.0.1:$MON_PORT"

OSD_UUID=$(uuidgen)
OSD_ID=$($C osd new "$OSD_UUID")
[ "$OSD_ID" = 0 ] || die "unexpected OSD id $OSD_ID"
ceph-authtool --create-keyring "$CEPH_DIR/osd/0/keyring" --gen-key -n osd.0 >/dev/null
$C auth add osd.0 osd 'allow *' mon 'allow profile osd' mgr 'allow profile osd' -i "$CEPH_DIR/osd/0/keyring" >/dev/null 2>&1
ceph-osd -c "$CONF" -i 0 --mkfs --osd-uuid "$OSD_UUID" --no-mon-config >>"$CEPH_DIR/log/osd-mkfs.log" 2>&1
ceph-osd -c "$CONF" -i 0 9>&-
wait_until 60 "osd.0 up" sh -c "$C osd stat -f json | grep -q '\"num_up_osds\":1'"
log "osd.0 up (bluestore, ${OSD_SIZE_GB} GiB sparse, compression $OSD_COMPRESSION)"

# RGW would create its pools one by one (~2 s each) at start and on first use: create them at once.
for pool in .rgw.root default.rgw.log default.rgw.control default.rgw.meta \
            default.rgw.buckets.index default.rgw.buckets.data default.rgw.buckets.non-ec; do
  ( $C osd pool create "$pool" 8 8 >/dev/null 2>&1 && $C osd pool application enable "$pool" rgw >/dev/null 2>&1 ) &
done
wait
$C auth get-or-create client.rgw.berth mon 'allow rw' osd 'allow rwx' mgr 'allow rw' >"$CEPH_DIR/rgw/keyring"
radosgw -c "$CONF" -n client.rgw.berth 9>&-
wait_until 120 "radosgw on 127.0.0.1:$RGW_PORT" curl -s -o /dev/null "http://127.0.0.1:$RGW_PORT/"
log "radosgw up on 127.0.0.1:$RGW_PORT"

radosgw-admin -c "$CONF" user create --uid=berth --display-name="Berth tests" \
  --access-key="$ACCESS_KEY" --secret-key="$SECRET_KEY" >/dev/null
# the bucket, through the S3 API itself (curl signs with SigV4)
wait_until 30 "bucket $BUCKET" s3curl -X PUT "http://127.0.0.1:$RGW_PORT/$BUCKET"
log "user and bucket '$BUCKET' created"

cat >"$ENV_FILE.tmp" <<EOF
S3_ENDPOINT=http://127.0.0.1:$RGW_PORT
S3_REGION=$REGION
S3_ACCESS_KEY=$ACCESS_KEY
S3_SECRET_KEY=$SECRET_KEY
S3_BUCKET=$BUCKET
CEPH_CONF=$CONF
EOF
mv "$ENV_FILE.tmp" "$ENV_FILE"
print_env
