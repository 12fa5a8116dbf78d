#!/usr/bin/env bash
# Webhook ingest benchmark: netpulse (durable) against a parse-only hyper server and the classic
# Flask receiver, in the same run. Flags go to the benchmark, e.g.:
#   bench/ingest.sh --seconds 10 --rounds 3 --connections 64
set -euo pipefail
cd "$(dirname "$0")/.."
if ! python3 -c "import flask" 2>/dev/null; then
    echo "installing Flask for the status-quo baseline (pip install --user flask)" >&2
    python3 -m pip install --user --quiet flask || echo "Flask not installed: that column is skipped" >&2
fi
cargo bench --bench ingest -- "$@"
