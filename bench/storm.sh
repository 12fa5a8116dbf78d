#!/usr/bin/env bash
# Alarm storm: 50 SD-WAN edges raise 12 alarms each (600) within a second, then clear them, through
# the release gateway and the Webex simulator, in two gateways side by side in the same run: (a)
# today's behaviour (a Webex sink with `match:`, no routes: one message per event) and (b) one
# route grouping the storm (group_by [source], group_wait 10s, group_interval 30s by default here,
# not 5m, so that the clears' update comes within the run). Prints messages posted, time to the
# first notification, time until every alarm and every clear is represented in the room, and the
# history. About 1.5 minutes; any argument is passed on:
#   bench/storm.sh [--edges 50] [--alarms-per-edge 12] [--clear-after 20] [--rate-limit 2]
#                  [--group-by source,device] [--group-wait 10] [--group-interval 30]
#                  [--observe 75] [--full]
set -euo pipefail
cd "$(dirname "$0")/.."
cargo bench --bench storm -- "$@"
