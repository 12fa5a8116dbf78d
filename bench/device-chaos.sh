#!/usr/bin/env bash
# Device chaos soak: many simulated switches with random socket drops, session expiries, lost
# subscriptions, restarts, failed refreshes and refused logins for a fixed duration; at the end the
# view rebuilt from netpulse's events must equal every switch's state. Any argument is passed on:
#   bench/device-chaos.sh [--devices 50] [--seconds 240] [--fault-every-ms 1000] [--change-rate 2] [--seed 42]
set -euo pipefail
cd "$(dirname "$0")/.."
cargo bench --bench device_chaos -- "$@"
