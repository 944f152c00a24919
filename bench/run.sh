#!/usr/bin/env bash
# Side-by-side benchmark of Berth and the reference registry. See docs/benchmarks.md.
#   bash bench/run.sh                  full run: start-up, 3 passes of blob (1 GiB) + load + small pushes on
#                                      SQLite and PostgreSQL, S3 (Ceph RGW), tag moves across replicas (≤ 25 min)
#   BENCH_QUICK=1 bash bench/run.sh    quick run for development (~4 min)
#   BENCH_BERTH_WORKERS=2 ...          the tuned variant (2 workers); results in latest-workers2.*
#   BENCH_SELFTEST=1 ...               reference registry in both columns (no Berth build needed)
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
command -v docker-registry >/dev/null || missing+=(docker-registry)
command -v wrk >/dev/null || missing+=(wrk)
command -v ab >/dev/null || missing+=(apache2-utils)
if ((${#missing[@]})); then
  echo "installing: ${missing[*]}" >&2
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
[[ -d node_modules/tsx ]] || npm ci --no-audit --no-fund
if [[ "${BENCH_SELFTEST:-}" != 1 && -z "${BENCH_BERTH_CMD:-}" && ! -f dist/main.js ]]; then
  npm run build
fi
exec node --import tsx bench/run.ts
