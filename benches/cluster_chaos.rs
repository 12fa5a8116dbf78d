//! Cluster chaos: three NATS servers and three netpulse nodes (the release binary, each its own
//! process and store) on loopback, 60 simulated switches changing at a steady rate, SD-WAN alarms
//! posted round-robin to the nodes, the simulated Webex room as the sink. In turn: `kill -9` a
//! node (then it starts again), SIGSTOP a node for 20 s then SIGCONT, kill one NATS server, kill
//! two then start them again, add a fourth node; after each, every switch must be owned once
//! again before the next. Checked from outside netpulse, by the simulators and the nodes' API:
//!
//! - at no sample (every 100 ms) does a switch hold two active sessions (open socket and live
//!   subscription, as the switch sees them);
//! - the time until every moved switch is owned again (median / max per disruption);
//! - one gap event per session change of a switch, and the view rebuilt from the events equals
//!   every switch at the end (exactly the changes, none missing, none twice);
//! - every acknowledged (2xx) webhook in every node's history exactly once, the same events at
//!   the same seqs and the same alarm states on every node;
//! - every stored alarm in the Webex room once;
//! - per-node CPU and memory, and durable ingest against the cluster and against a single node.
//!
//! Run: `bench/cluster-chaos.sh` or `cargo bench --bench cluster_chaos -- --switches 60`.
//! Options: `--switches`, `--change-rate` (per switch per s), `--webhook-rate` (per s),
//! `--settle` (s), `--pause` (s), `--ttl`/`--renew`/`--self-fence`/`--poll` (ms; default the
//! configuration's defaults, 20 s / 4 s / 16 s / 2 s), `--seed`.
//! Exits nonzero when a check fails. Logs and stores are left in `bench/out/cluster-chaos/`.

// The benchmarks' process helpers (CPU and memory from /proc, free ports).
#[path = "support/mod.rs"]
mod bench_support;
#[path = "cluster_chaos/checks.rs"]
mod checks;
#[path = "cluster_chaos/hooks.rs"]
mod hooks;
#[path = "cluster_chaos/nodes.rs"]
mod nodes;
#[allow(dead_code)]
#[path = "device_chaos/replay.rs"]
mod replay;
#[path = "cluster_chaos/scenario.rs"]
mod scenario;
#[path = "cluster_chaos/watch.rs"]
mod watch;

use std::path::Path;
use std::time::Duration;

use nodes::LeaseTiming;
use scenario::{Disruption, Plan};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let value = |name: &str| {
        args.windows(2)
            .find(|pair| pair[0] == name)
            .map(|pair| pair[1].clone())
    };
    let number = |name: &str, default: f64| {
        value(name).map_or(default, |text| {
            text.parse()
                .unwrap_or_else(|_| panic!("{name} takes a number"))
        })
    };
    let ms = |name: &str, default: u64| Duration::from_millis(number(name, default as f64) as u64);
    let pause = Duration::from_secs(number("--pause", 20.0) as u64);
    let plan = Plan {
        out: Path::new(env!("CARGO_MANIFEST_DIR")).join("bench/out/cluster-chaos"),
        switches: number("--switches", 60.0) as usize,
        nodes: 3,
        change_rate: number("--change-rate", 0.5),
        webhook_rate: number("--webhook-rate", 20.0),
        // The defaults of `cluster.lease`: renewals ride out a NATS leader election (6.8 to
        // 7.8 s measured on this loaded machine).
        lease: LeaseTiming {
            ttl: ms("--ttl", 20_000),
            renew: ms("--renew", 4_000),
            self_fence: ms("--self-fence", 16_000),
            poll: ms("--poll", 2_000),
        },
        disruptions: vec![
            Disruption::KillNode(2),
            Disruption::PauseNode(1, pause),
            Disruption::KillNats(vec![0], Duration::from_secs(15)),
            Disruption::KillNats(vec![1, 2], Duration::from_secs(15)),
            Disruption::AddNode,
        ],
        settle: Duration::from_secs(number("--settle", 10.0) as u64),
        ingest: Some((8, Duration::from_secs(10))),
        seed: number("--seed", 42.0) as u64,
        log: std::env::var("NETPULSE_LOG").unwrap_or_else(|_| "info".to_owned()),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let findings = runtime.block_on(scenario::run(plan));
    findings.print();
    if !findings.failures.is_empty() {
        std::process::exit(1);
    }
}
