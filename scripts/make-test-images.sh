#!/usr/bin/env bash
# make-test-images.sh — write Berth's e2e test images as OCI image layouts, offline and
# byte-for-byte reproducible (same tools + same SEED/BIG_MIB => same digests).
#
# Usage:   scripts/make-test-images.sh OUTDIR
# Env:     BIG_MIB=100     size of the pseudo-random layer of "multilayer" (MiB)
#          SEED=berth      seed of the pseudo-random data
#
# Result (OUTDIR is replaced atomically; it only appears when everything is written):
#   OUTDIR/tiny/        OCI manifest, 1 small layer                      ref "latest"
#   OUTDIR/multilayer/  OCI manifest, 3 layers: base, BIG_MIB MiB random, app  ref "latest"
#   OUTDIR/multiarch/   OCI index -> linux/amd64 + linux/arm64/v8; both share the
#                       base layer and add one layer of their own           ref "latest"
#   OUTDIR/artifact/    OCI 1.1 artifact (artifactType, empty config, 1 text/plain
#                       blob) whose subject is tiny's manifest              ref "latest"
#   OUTDIR/summary.json {"tiny":{"digest":..,"mediaType":..,"size":..}, ...}
#
# Tools: bash, tar (GNU), gzip, sha256sum, stat, jq, openssl.
set -euo pipefail

OUT=${1:?usage: make-test-images.sh OUTDIR}
BIG_MIB=${BIG_MIB:-100}
SEED=${SEED:-berth}

for tool in tar gzip sha256sum stat jq openssl; do
  command -v "$tool" >/dev/null 2>&1 || { echo "make-test-images: missing tool '$tool'" >&2; exit 1; }
done
case "$BIG_MIB" in ''|*[!0-9]*) echo "make-test-images: BIG_MIB must be an integer" >&2; exit 1;; esac

umask 022
export LC_ALL=C TZ=UTC
STAGE="$OUT.partial.$$"
SCRATCH=$(mktemp -d "${TMPDIR:-/tmp}/berth-mkimg.XXXXXX")
cleanup() { rm -rf "$SCRATCH" "$STAGE"; }
trap cleanup EXIT
mkdir -p "$STAGE"

OCI_MANIFEST=application/vnd.oci.image.manifest.v1+json
OCI_INDEX=application/vnd.oci.image.index.v1+json
OCI_CONFIG=application/vnd.oci.image.config.v1+json
OCI_LAYER=application/vnd.oci.image.layer.v1.tar+gzip
OCI_EMPTY=application/vnd.oci.empty.v1+json

# keystream <bytes> <label>: deterministic pseudo-random bytes (ChaCha20 keystream of zeros)
keystream() {
  local key
  key=$(printf 'berth-fixture/%s/%s' "$SEED" "$2" | sha256sum | cut -c1-64)
  head -c "$1" /dev/zero | openssl enc -chacha20 -K "$key" -iv 00000000000000000000000000000000
}

# store <layout> <file>: move a file into the layout's blob store; prints "sha256:<hex> <size>"
store() {
  local hex size
  hex=$(sha256sum "$2" | cut -d' ' -f1)
  size=$(stat -c %s "$2")
  mv -f "$2" "$1/blobs/sha256/$hex"
  printf 'sha256:%s %s\n' "$hex" "$size"
}

# store_json <layout> <json>: store the exact bytes of a JSON document
n_json=0
store_json() {
  n_json=$((n_json + 1))
  local f="$SCRATCH/doc.$n_json"
  printf '%s' "$2" > "$f"
  store "$1" "$f"
}

# pack <layout> <dir>: deterministic tar.gz of dir's content;
# prints "<blob digest> <blob size> <diff_id>"
n_layer=0
pack() {
  n_layer=$((n_layer + 1))
  local t="$SCRATCH/layer.$n_layer.tar" diff
  tar -C "$2" --sort=name --format=gnu --numeric-owner --owner=0 --group=0 \
      --mtime=@946684800 --mode='u+rwX,go+rX,go-w' -cf "$t" .
  diff=sha256:$(sha256sum "$t" | cut -d' ' -f1)
  gzip -n -6 "$t"
  printf '%s %s\n' "$(store "$1" "$t.gz")" "$diff"
}

# layout <dir>: fresh empty OCI layout
layout() {
  mkdir -p "$1/blobs/sha256"
  printf '%s' '{"imageLayoutVersion":"1.0.0"}' > "$1/oci-layout"
}

# image <layout> <os/arch[/variant]> <name> <rootfs dir>...: config + manifest;
# prints "<manifest digest> <manifest size>"
image() {
  local lay=$1 platform=$2 name=$3; shift 3
  local layers='[]' diffs='[]' hist='[]' dg sz diff
  for dir in "$@"; do
    read -r dg sz diff < <(pack "$lay" "$dir")
    layers=$(jq -c --arg mt "$OCI_LAYER" --arg d "$dg" --argjson s "$sz" '. + [{mediaType:$mt,digest:$d,size:$s}]' <<<"$layers")
    diffs=$(jq -c --arg d "$diff" '. + [$d]' <<<"$diffs")
    hist=$(jq -c --arg by "berth-fixture: add $(basename "$dir")" '. + [{created:"2000-01-01T00:00:00Z",created_by:$by}]' <<<"$hist")
  done
  local os arch variant
  IFS=/ read -r os arch variant <<<"$platform"
  local config
  config=$(jq -cn --arg os "$os" --arg arch "$arch" --arg v "${variant:-}" --arg name "$name" \
      --argjson diffs "$diffs" --argjson hist "$hist" '
    {created:"2000-01-01T00:00:00Z", architecture:$arch, os:$os}
    + (if $v == "" then {} else {variant:$v} end)
    + {config:{Env:["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
               Entrypoint:["/bin/true"], WorkingDir:"/",
               Labels:{"dev.berth.fixture":$name}},
       rootfs:{type:"layers", diff_ids:$diffs}, history:$hist}')
  read -r dg sz < <(store_json "$lay" "$config")
  store_json "$lay" "$(jq -cn --arg mt "$OCI_MANIFEST" --arg cmt "$OCI_CONFIG" --arg cd "$dg" \
      --argjson cs "$sz" --argjson layers "$layers" --arg name "$name" '
    {schemaVersion:2, mediaType:$mt, config:{mediaType:$cmt, digest:$cd, size:$cs},
     layers:$layers, annotations:{"org.opencontainers.image.title":$name}}')"
}

# tag <layout> <mediaType> <digest> <size> [platform-json]: write index.json with ref "latest"
tag() {
  jq -cn --arg mt "$2" --arg d "$3" --argjson s "$4" '
    {schemaVersion:2, mediaType:"application/vnd.oci.image.index.v1+json",
     manifests:[{mediaType:$mt, digest:$d, size:$s,
                 annotations:{"org.opencontainers.image.ref.name":"latest"}}]}' > "$1/index.json"
  summary=$(jq -c --arg n "$(basename "$1")" --arg mt "$2" --arg d "$3" --argjson s "$4" \
    '. + {($n):{mediaType:$mt, digest:$d, size:$s}}' <<<"$summary")
}
summary='{}'

# rootfs <name>: a fresh directory to fill as a layer
rootfs() { local d="$SCRATCH/rootfs/$1"; mkdir -p "$d"; printf '%s' "$d"; }

# --- tiny ---------------------------------------------------------------------------
L="$STAGE/tiny"; layout "$L"
R=$(rootfs tiny); mkdir -p "$R/etc" "$R/srv"
printf 'berth tiny fixture\n' > "$R/srv/hello.txt"
printf 'ID=berth-fixture\nVERSION_ID=1\n' > "$R/etc/os-release"
read -r d s < <(image "$L" linux/amd64 tiny "$R")
tag "$L" "$OCI_MANIFEST" "$d" "$s"
tiny_desc=$(jq -cn --arg mt "$OCI_MANIFEST" --arg d "$d" --argjson s "$s" '{mediaType:$mt,digest:$d,size:$s}')

# --- multilayer: base, big random layer, app ----------------------------------------
L="$STAGE/multilayer"; layout "$L"
R1=$(rootfs ml-base); mkdir -p "$R1/etc" "$R1/usr/lib/berth"
printf 'ID=berth-fixture\nVERSION_ID=2\n' > "$R1/etc/os-release"
keystream 32768 ml-base > "$R1/usr/lib/berth/seed.bin"
R2=$(rootfs ml-big); mkdir -p "$R2/var/lib/berth"
keystream $((BIG_MIB * 1048576)) ml-big > "$R2/var/lib/berth/random.bin"
R3=$(rootfs ml-app); mkdir -p "$R3/app"
printf '#!/bin/sh\necho multilayer fixture\n' > "$R3/app/start.sh"; chmod 0755 "$R3/app/start.sh"
read -r d s < <(image "$L" linux/amd64 multilayer "$R1" "$R2" "$R3")
tag "$L" "$OCI_MANIFEST" "$d" "$s"

# --- multiarch: index of linux/amd64 + linux/arm64/v8 -------------------------------
L="$STAGE/multiarch"; layout "$L"
RB=$(rootfs ma-base); mkdir -p "$RB/etc"
printf 'ID=berth-fixture\nVERSION_ID=3\n' > "$RB/etc/os-release"
entries='[]'
for p in linux/amd64 linux/arm64/v8; do
  arch=$(cut -d/ -f2 <<<"$p")
  R=$(rootfs "ma-$arch"); mkdir -p "$R/opt"
  printf 'built for %s\n' "$p" > "$R/opt/platform.txt"
  keystream 4096 "ma-$arch" > "$R/opt/noise.bin"
  read -r d s < <(image "$L" "$p" "multiarch-$arch" "$RB" "$R")
  entries=$(jq -c --arg mt "$OCI_MANIFEST" --arg d "$d" --argjson s "$s" --arg p "$p" '
    ($p | split("/")) as $q
    | . + [{mediaType:$mt, digest:$d, size:$s,
            platform:({os:$q[0], architecture:$q[1]} + (if ($q|length) > 2 then {variant:$q[2]} else {} end))}]' <<<"$entries")
done
read -r d s < <(store_json "$L" "$(jq -cn --arg mt "$OCI_INDEX" --argjson m "$entries" '{schemaVersion:2, mediaType:$mt, manifests:$m}')")
tag "$L" "$OCI_INDEX" "$d" "$s"

# --- artifact: OCI 1.1 artifact manifest with subject = tiny -------------------------
L="$STAGE/artifact"; layout "$L"
read -r ed es < <(store_json "$L" '{}')
printf 'SPDX-like fake SBOM of the tiny fixture\n' > "$SCRATCH/sbom.txt"
read -r bd bs < <(store "$L" "$SCRATCH/sbom.txt")
read -r d s < <(store_json "$L" "$(jq -cn --arg mt "$OCI_MANIFEST" --arg emt "$OCI_EMPTY" \
    --arg ed "$ed" --argjson es "$es" --arg bd "$bd" --argjson bs "$bs" --argjson subj "$tiny_desc" '
  {schemaVersion:2, mediaType:$mt, artifactType:"application/vnd.berth.test.sbom.v1",
   config:{mediaType:$emt, digest:$ed, size:$es, data:"e30="},
   layers:[{mediaType:"text/plain", digest:$bd, size:$bs,
            annotations:{"org.opencontainers.image.title":"sbom.txt"}}],
   subject:$subj,
   annotations:{"org.opencontainers.image.created":"2000-01-01T00:00:00Z"}}')")
# the artifact's own blobs reference tiny's manifest only by descriptor; copy it in so the
# layout is self-contained for tools that walk the subject
cp "$STAGE/tiny/blobs/sha256/$(jq -r .digest <<<"$tiny_desc" | cut -d: -f2)" "$L/blobs/sha256/"
tag "$L" "$OCI_MANIFEST" "$d" "$s"

printf '%s\n' "$(jq --argjson big "$BIG_MIB" --arg seed "$SEED" '. + {params:{BIG_MIB:$big, SEED:$seed}}' <<<"$summary")" > "$STAGE/summary.json"

rm -rf "$OUT"
mv "$STAGE" "$OUT"
cat "$OUT/summary.json"
