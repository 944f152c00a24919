#!/usr/bin/env bash
# node24.sh — Node.js 24 LTS (the runtime Berth recommends) beside the system's Node 20, for running
# Berth and its tests on both. Everything goes under .cache/node24/ (ignored by git); the shared
# node_modules of the repository is only read.
#
#   bash scripts/node24.sh [setup]  fetch node and build .cache/node24/app/node_modules for it; print the bin dir
#   bash scripts/node24.sh bin      only fetch node; print the bin dir
#   bash scripts/node24.sh sync     setup, then copy the working tree (git's tracked and untracked, not ignored,
#                                   files) into .cache/node24/app: scripts/test.sh runs the Node 24 pass there
#   bash scripts/node24.sh app      print the app dir (.cache/node24/app)
#
#   PATH=$(bash scripts/node24.sh):$PATH node -v     → v24.22.3
#
# How:
#   - node: `npm pack node-linux-<arch>@$NODE24_VERSION` from the npm registry (the package holds bin/node and
#     include/node, the headers native modules compile against), unpacked into .cache/node24/node-v<version>.
#   - node_modules: native modules built for Node 20 cannot load in Node 24 (another ABI), and Node resolves
#     packages from the directory of the importing file, so Node 24 needs its own tree. A copy of the repository's
#     node_modules (hard links: ~2 s, no disk; real copies of the packages that compile code, and of npm's
#     hidden lockfile, since those are rewritten) in which `npm rebuild` compiles the native modules
#     (better-sqlite3, bcrypt) with Node 24 first on PATH, from source against the package's own headers
#     (npm_config_nodedir): offline, no download from GitHub or nodejs.org. About 2 min of CPU (SQLite's C source).
#   - Idempotent: a stamp records the node version, package-lock.json's hash and the repository's node_modules
#     hidden lockfile; nothing is redone while they hold. Run `npm ci` (Node 20) first: its node_modules is copied.
# Env: NODE24_VERSION=24.22.3   NODE24_DIR=<repo>/.cache/node24
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
REPO=$PWD
VERSION=${NODE24_VERSION:-24.22.3}
DIR=${NODE24_DIR:-$REPO/.cache/node24}
APP=$DIR/app
case "$(uname -m)" in
  x86_64) ARCH=x64 ;;
  aarch64) ARCH=arm64 ;;
  *) echo "node24: no node-linux package for $(uname -m)" >&2; exit 1 ;;
esac
NODE_HOME=$DIR/node-v$VERSION-linux-$ARCH
BIN=$NODE_HOME/bin

t0=$(date +%s)
log() { echo "node24: [$(( $(date +%s) - t0 ))s] $*" >&2; }

fetch_node() {
  if [ -x "$BIN/node" ] && [ "$("$BIN/node" -v 2>/dev/null)" = "v$VERSION" ]; then return; fi
  mkdir -p "$DIR"
  local tmp
  tmp=$(mktemp -d "$DIR/fetch.XXXXXX")
  log "fetching node-linux-$ARCH@$VERSION from the npm registry"
  (cd "$tmp" && npm pack --silent "node-linux-$ARCH@$VERSION" >/dev/null)
  tar -xzf "$tmp"/node-linux-"$ARCH"-"$VERSION".tgz -C "$tmp"
  [ "$("$tmp/package/bin/node" -v)" = "v$VERSION" ] || { echo "node24: the package's bin/node is not v$VERSION" >&2; exit 1; }
  rm -rf "$NODE_HOME"
  mv "$tmp/package" "$NODE_HOME" # atomic: a half-unpacked node is never taken for a good one
  rm -rf "$tmp"
  log "node $("$BIN/node" -v) in $BIN"
}

modules_stamp() {
  local hidden=none
  [ -f node_modules/.package-lock.json ] && hidden=$(sha256sum <node_modules/.package-lock.json | cut -c1-64)
  echo "node v$VERSION; package-lock $(sha256sum <package-lock.json | cut -c1-64); node_modules $hidden"
}

build_modules() {
  [ -d node_modules ] || { echo "node24: $REPO/node_modules is missing: run npm ci first (its tree is copied)" >&2; exit 1; }
  local stamp
  stamp=$(modules_stamp)
  if [ -d "$APP/node_modules" ] && [ "$(cat "$APP/.modules-stamp" 2>/dev/null)" = "$stamp" ]; then return; fi
  log "building $APP/node_modules for Node $VERSION"
  mkdir -p "$APP"
  rm -rf "$APP/node_modules" "$APP/.modules-stamp"
  cp package.json package-lock.json "$APP/"
  local src
  src=$(realpath node_modules)
  cp -al "$src" "$APP/node_modules" 2>/dev/null || { rm -rf "$APP/node_modules"; cp -a "$src" "$APP/node_modules"; }
  # Packages that compile code (binding.gyp), as real copies: the rebuild rewrites them.
  local natives=() pkg
  while IFS= read -r gyp; do
    pkg=${gyp%/binding.gyp}
    pkg=${pkg#"$src"/}
    rm -rf "$APP/node_modules/$pkg"
    cp -a "$src/$pkg" "$APP/node_modules/$pkg"
    natives+=("$(node -p "require('$src/$pkg/package.json').name")")
  done < <(find "$src" -maxdepth 3 -name binding.gyp -not -path '*/node_modules/*/node_modules/*' | sort)
  if [ -f "$src/.package-lock.json" ]; then
    rm -f "$APP/node_modules/.package-lock.json"
    cp "$src/.package-lock.json" "$APP/node_modules/.package-lock.json"
  fi
  log "rebuilding ${natives[*]} from source for Node $VERSION (headers from $NODE_HOME/include)"
  (cd "$APP" && PATH="$BIN:$PATH" npm_config_nodedir="$NODE_HOME" npm_config_build_from_source=true \
    npm rebuild --no-audit --no-fund "${natives[@]}" >"$DIR/rebuild.log" 2>&1) || {
    tail -40 "$DIR/rebuild.log" >&2
    echo "node24: npm rebuild failed (log: $DIR/rebuild.log)" >&2
    exit 1
  }
  # The proof: both native modules load in Node 24 from the new tree.
  (cd "$APP" && "$BIN/node" -e "new (require('better-sqlite3'))(':memory:').prepare('select 1').get(); require('bcrypt').hashSync('x', 4)") || {
    echo "node24: the rebuilt native modules do not load in Node $VERSION" >&2
    exit 1
  }
  echo "$stamp" >"$APP/.modules-stamp"
  log "node_modules ready"
}

# Copies the working tree into $APP: every file, in place (mtimes kept, so build.mjs --if-stale sees what
# changed), and removes files that are gone. $APP's node_modules, dist and test-artifacts stay.
sync_tree() {
  local list
  list=$(mktemp)
  if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    git ls-files -z --cached --others --exclude-standard | while IFS= read -r -d '' f; do [ -f "$f" ] && printf '%s\0' "$f"; done >"$list"
  else
    find . \( -path ./node_modules -o -path ./.cache -o -path ./.git -o -path ./dist -o -path ./test-artifacts -o -path ./data \) -prune \
      -o -type f -printf '%P\0' >"$list"
  fi
  xargs -0 -r cp -a --parents -t "$APP" <"$list"
  (cd "$APP" && find . \( -path ./node_modules -o -path ./dist -o -path ./test-artifacts \) -prune -o -type f ! -name .modules-stamp -printf '%P\0') |
    sort -z | comm -z -13 <(sort -z "$list") - | (cd "$APP" && xargs -0 -r rm -f)
  rm -f "$list"
  log "working tree copied to $APP"
}

[ "${1:-}" = app ] && { echo "$APP"; exit 0; }
mkdir -p "$DIR"
# One setup at a time (parallel test runs share the cache).
exec 9>"$DIR/.lock"
flock 9

case "${1:-setup}" in
  bin) fetch_node ;;
  setup) fetch_node; build_modules ;;
  sync) fetch_node; build_modules; sync_tree ;;
  *) echo "usage: scripts/node24.sh [setup|bin|sync|app]" >&2; exit 2 ;;
esac
echo "$BIN"
