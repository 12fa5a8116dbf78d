#!/usr/bin/env bash
# Scale benchmark of the DME source. Defaults: 2000 devices x 3 subscriptions, subscription TTL
# 10 s refreshed every 5 s, 0.5 changes/s per device, 60 s measured. Any argument is passed on:
#   bench/dme-scale.sh --devices 500 --seconds 30 --change-rate 2
set -euo pipefail
cd "$(dirname "$0")/.."
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
exec cargo bench --bench dme_scale -- "$@"
