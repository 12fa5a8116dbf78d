#!/usr/bin/env bash
# Live feed benchmark: WebSocket feed clients while webhooks arrive at a steady rate, against a
# baseline phase without clients in the same run. Flags go to the benchmark, e.g.:
#   bench/feed.sh --clients 1000 --rate 5000 --seconds 20 [--filter all]
set -euo pipefail
cd "$(dirname "$0")/.."
cargo bench --bench feed -- "$@"
