#!/usr/bin/env bash
# Scale-out benchmark: Berth and the reference registry on filesystem and on S3 (Ceph RGW)
# + PostgreSQL, one replica and two behind nginx. See docs/benchmarks.md.
#   bash bench/scale.sh                    (BENCH_SCALE_MIB=256 BENCH_REPEAT=3 BENCH_DURATION=8)
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-test-deps.sh
[[ -d node_modules/tsx ]] || npm ci --no-audit --no-fund
[[ -f dist/main.js ]] || npm run build
exec node --import tsx bench/scale.ts
