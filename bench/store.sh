#!/usr/bin/env bash
# Store benchmark: the embedded store alone (no HTTP, no load generator), against the same store
# at synchronous=normal and bare SQLite, in the same run. Flags go to the benchmark, e.g.:
#   bench/store.sh --seconds 10 --appenders 64 --rounds 3
set -euo pipefail
cd "$(dirname "$0")/.."
cargo bench --bench store -- "$@"
