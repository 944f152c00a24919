#!/usr/bin/env bash
# start-postgres.sh — make sure a local PostgreSQL is running with the test role and
# database, for the metadata suite and the API tests on PostgreSQL. Idempotent, and fast
# (one connection attempt) when everything is already there.
#   1. installs Debian's `postgresql` when no server is installed (apt-get; needs root)
#   2. creates a cluster when none exists, starts it without systemd (pg_ctlcluster)
#   3. creates the role and the database the tests use
# Prints the connection URL on stdout (the last line); everything else goes to stderr.
#
# Env: BERTH_PG_PORT=5432   port of the cluster to use or create
#      BERTH_PG_USER=berth  BERTH_PG_PASSWORD=berth  BERTH_PG_DB=berth_test
set -euo pipefail

PORT=${BERTH_PG_PORT:-5432}
USER_=${BERTH_PG_USER:-berth}
PASS=${BERTH_PG_PASSWORD:-berth}
DB=${BERTH_PG_DB:-berth_test}
URL="postgres://$USER_:$PASS@127.0.0.1:$PORT/$DB"
log() { echo "start-postgres: $*" >&2; }

SUDO=
if [ "$(id -u)" != 0 ]; then
  if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then SUDO="sudo -n"; fi
fi
as_postgres() {
  if [ "$(id -u)" = 0 ]; then su postgres -s /bin/sh -c "$1"
  elif [ "$(id -un)" = postgres ]; then sh -c "$1"
  else $SUDO -u postgres sh -c "$1"; fi
}

# Fast path: the test role can already connect to the test database.
if command -v psql >/dev/null 2>&1 && PGCONNECT_TIMEOUT=2 psql "$URL" -Atqc 'select 1' >/dev/null 2>&1; then
  echo "$URL"
  exit 0
fi

# 1. the server packages
if ! ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 || ! command -v pg_ctlcluster >/dev/null 2>&1; then
  log "installing postgresql"
  [ "$(id -u)" = 0 ] || [ -n "$SUDO" ] || { log "need root to apt-get install postgresql"; exit 1; }
  # Debian's postinst would start the cluster through invoke-rc.d; we start it ourselves.
  $SUDO env DEBIAN_FRONTEND=noninteractive RUNLEVEL=1 apt-get install -y -q --no-install-recommends postgresql >&2 ||
    { $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -q >&2 &&
      $SUDO env DEBIAN_FRONTEND=noninteractive RUNLEVEL=1 apt-get install -y -q --no-install-recommends postgresql >&2; }
fi
VERSION=$(ls /usr/lib/postgresql | sort -V | tail -n1)

# 2. a cluster on PORT, started
cluster=$(pg_lsclusters -h 2>/dev/null | awk -v p="$PORT" '$3 == p { print $1 " " $2; exit }')
if [ -z "$cluster" ]; then
  log "creating cluster $VERSION/main on port $PORT"
  $SUDO pg_createcluster --port "$PORT" "$VERSION" main >&2
  cluster="$VERSION main"
fi
read -r cver cname <<<"$cluster"
status=$(pg_lsclusters -h | awk -v v="$cver" -v n="$cname" '$1 == v && $2 == n { print $4 }')
if [ "$status" != online ]; then
  log "starting cluster $cver/$cname"
  # pg_ctlcluster (not systemctl): CI containers and these machines run no systemd.
  $SUDO pg_ctlcluster "$cver" "$cname" start >&2
fi
for _ in $(seq 1 100); do
  pg_isready -q -h 127.0.0.1 -p "$PORT" && break
  sleep 0.1
done
pg_isready -q -h 127.0.0.1 -p "$PORT" || { log "cluster $cver/$cname did not accept connections"; exit 1; }

# 3. role and database (CREATEDB: the tests may make databases of their own)
as_postgres "psql -p $PORT -v ON_ERROR_STOP=1 -Atq" >&2 <<SQL
do \$\$ begin
  if not exists (select from pg_roles where rolname = '$USER_') then
    create role "$USER_" login createdb password '$PASS';
  else
    alter role "$USER_" login createdb password '$PASS';
  end if;
end \$\$;
SQL
if [ -z "$(as_postgres "psql -p $PORT -Atqc \"select 1 from pg_database where datname = '$DB'\"")" ]; then
  # C collation: text compares and sorts by bytes, like SQLite (tag and catalog order).
  as_postgres "psql -p $PORT -v ON_ERROR_STOP=1 -qc \"create database \\\"$DB\\\" owner \\\"$USER_\\\" template template0 encoding 'UTF8' lc_collate 'C' lc_ctype 'C'\"" >&2
fi
PGCONNECT_TIMEOUT=5 psql "$URL" -Atqc 'select 1' >/dev/null || { log "cannot connect to $URL"; exit 1; }
log "ready: $URL"
echo "$URL"
