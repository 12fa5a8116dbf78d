#!/usr/bin/env bash
# OpenAPI conformance: starts netpulse (debug build) with a webhook source, posts a few alarms,
# and runs schemathesis against /api/v1/openapi.json with an admin token: every documented
# operation gets generated requests, and every answer must match the document (status codes,
# content types, schemas) and never be a 5xx. The two live feeds never end, so they are left to
# the integration tests.
#   scripts/api-conformance.sh [path to the netpulse binary]
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${1:-target/debug/netpulse}
if ! python3 -c 'import schemathesis' >/dev/null 2>&1; then
    echo "installing schemathesis (pip install schemathesis)" >&2
    python3 -m pip install --quiet schemathesis
fi
WORK=$(mktemp -d)
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
TOKEN=conformance-token-0123456789
cat > "$WORK/netpulse.yaml" <<YAML
store: { path: netpulse.db }
http: { listen: "127.0.0.1:$PORT" }
api:
  auth:
    tokens:
      - { name: conformance, token: "\${API_TOKEN}", scope: admin }
sources:
  - name: vmanage
    type: webhook
    provider: sdwan
    path: /hooks/sdwan
    auth: { none: true }
sinks:
  - { name: archive, type: file, path: events.jsonl }
YAML
API_TOKEN=$TOKEN NETPULSE_LOG=warn "$BIN" run -c "$WORK/netpulse.yaml" &
PID=$!
trap 'kill $PID 2>/dev/null; wait $PID 2>/dev/null; rm -rf "$WORK"' EXIT
for _ in $(seq 100); do
    curl -sf "http://127.0.0.1:$PORT/readyz" >/dev/null && break
    sleep 0.1
done
for fixture in tests/data/sdwan/*.json; do
    curl -sf -H 'content-type: application/json' --data-binary "@$fixture" \
        "http://127.0.0.1:$PORT/hooks/sdwan" >/dev/null
done
python3 -m schemathesis.cli --config-file scripts/schemathesis.toml run "http://127.0.0.1:$PORT/api/v1/openapi.json" \
    --header "Authorization: Bearer $TOKEN" \
    --checks all \
    --exclude-path-regex 'stream$' \
    --max-examples "${MAX_EXAMPLES:-50}" \
    --workers 1
