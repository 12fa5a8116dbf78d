#!/usr/bin/env bash
# Crash loop: kill -9 the gateway at random moments under webhook and device load, restart it on
# the same store each time, and check that nothing acknowledged is lost and every delivery happens.
#   bench/crash-loop.sh [--kills 20] [--devices 20]
set -euo pipefail
cd "$(dirname "$0")/.."
cargo bench --bench crash_loop -- "$@"
