#!/usr/bin/env bash
# Click to acknowledgement: N SD-WAN alarms become N Adaptive Cards in a simulated Webex room; a
# person clicks Acknowledge on each, one at a time; prints, per path (a signed webhook on
# attachmentActions, and the webex_events real-time source), the median/p95/max time from the
# click to the acknowledgement in GET /api/v1/alarms and to the thread reply in the room.
# Clicks are spaced by two intervals of the sink's rate limiter, so each is measured on its own.
# Release gateway; about 30 s. Any argument is passed on:
#   bench/click-ack.sh [--clicks 50] [--rate-limit 20]
set -euo pipefail
cd "$(dirname "$0")/.."
cargo bench --bench click_ack -- "$@"
