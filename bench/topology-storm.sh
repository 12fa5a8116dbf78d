#!/usr/bin/env bash
# Topology storm: one spine link down behind which 40 leaf ports report down, through the release
# gateway, the DME fabric simulator (1 spine, 2 leaves) and the Webex simulator, with topology on
# and, in the same run, the same storm through a second gateway with topology off (the baseline).
# Prints per gateway: notifications posted to the room, whether the first names the cause, the
# held alarms listed in its thread, whether every alarm is in the history, and the time from the
# cable being pulled to the first notification. About a minute; any argument is passed on:
#   bench/topology-storm.sh [--ports 40] [--group-wait 10] [--group-interval 30] [--observe 45]
set -euo pipefail
cd "$(dirname "$0")/.."
cargo bench --bench topology_storm -- "$@"
