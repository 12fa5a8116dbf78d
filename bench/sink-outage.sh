#!/usr/bin/env bash
# Sink outage: the (simulated) Webex API is down for minutes while alarms keep arriving, then
# answers 429 storms; checks that nothing is lost, Retry-After is honoured and the backlog drains
# at the configured rate.
#   bench/sink-outage.sh [--short] [--outage-secs 120] [--storms 3] [--rate 4] [--sink-rate 10]
#                        [--storm-429s 5] [--retry-after 4] [--storm-500s 2] [--healthy-secs 20] [--gap-secs 5]
set -euo pipefail
cd "$(dirname "$0")/.."
cargo bench --bench sink_outage -- "$@"
