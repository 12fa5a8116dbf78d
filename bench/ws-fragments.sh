#!/usr/bin/env bash
# Memory under the WebSocket fragment flood (see ws_fragments.py) for one netpulse binary:
#   bench/ws-fragments.sh [path/to/netpulse]   (default: target/debug/netpulse)
set -euo pipefail
cd "$(dirname "$0")/.."
binary=${1:-target/debug/netpulse}
dir=$(mktemp -d)
trap 'kill "$pid" 2>/dev/null || true; rm -rf "$dir"' EXIT
port=18931
cat > "$dir/netpulse.yaml" <<YAML
store: { path: $dir/netpulse.db }
http: { listen: "127.0.0.1:$port" }
api: { auth: { tokens: [ { name: screen, token: "read-token-0123456789" } ] } }
sources:
  - { name: vmanage, type: webhook, provider: sdwan, path: /hooks/sdwan, auth: { none: true } }
YAML
"$binary" run -c "$dir/netpulse.yaml" > "$dir/run.log" 2>&1 &
pid=$!
for _ in $(seq 1 100); do curl -sf -o /dev/null "http://127.0.0.1:$port/healthz" && break; sleep 0.2; done
python3 bench/ws_fragments.py "$port" read-token-0123456789 "$pid"
