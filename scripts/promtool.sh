#!/usr/bin/env bash
# promtool.sh — prints the path of a promtool that checks and unit-tests deploy/prometheus/alerts.yaml.
# Uses promtool from PATH when there is one; otherwise unpacks Debian's `prometheus` package into .tmp/promtool
# (apt-get download + dpkg-deb -x: the package is not installed, so no Prometheus service gets started).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
if command -v promtool >/dev/null 2>&1; then command -v promtool; exit 0; fi
dir=.tmp/promtool
bin=$dir/root/usr/bin/promtool
if [ ! -x "$bin" ]; then
  mkdir -p "$dir"
  (
    cd "$dir"
    rm -f prometheus_*.deb
    apt-get download prometheus >/dev/null 2>&1 || { apt-get update >/dev/null && apt-get download prometheus >/dev/null; }
    dpkg-deb -x prometheus_*.deb root
    rm -f prometheus_*.deb
  )
fi
"$bin" --version >/dev/null
echo "$PWD/$bin"
