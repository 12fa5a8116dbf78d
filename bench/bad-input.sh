#!/usr/bin/env bash
# Bad input at scale: idle connections, slow senders, a hostile-body flood and more connections
# than http.max_connections against the release gateway, while well-behaved senders post alarms;
# prints their latency with and without the attack, the gateway's memory and the refusals.
#   bench/bad-input.sh [--idle 3000] [--slow 300] [--seconds 15] [--rate 400]
set -euo pipefail
cd "$(dirname "$0")/.."
cargo bench --bench bad_input -- "$@"
