//! Device chaos soak: many simulated switches (in this process, over TLS) and the gateway (the
//! release binary, its own process) with one DME source per switch and a file sink taking every
//! event. For a fixed duration random faults hit random switches (dropped sockets, expired
//! sessions, lost subscriptions, restarts, failed refreshes, refused logins, slow refreshes) while
//! every switch changes at a steady rate. Then the changes stop, the gateway catches up, and for
//! every switch the view an application builds from the gateway's events alone (the switch's
//! starting state, then every created, modified and deleted event in order, resync events
//! included) must equal the switch's objects.
//!
//! Run: `bench/device-chaos.sh` or `cargo bench --bench device_chaos -- --devices 50 --seconds 240`.
//! Options: `--devices`, `--seconds`, `--fault-every-ms` (mean interval between faults across the
//! fleet), `--change-rate` (per switch per second), `--seed`.
//!
//! Exits nonzero when a replayed view differs from its switch, when an event does not fit the
//! view it applies to (a modification of an unknown object...), when a source does not catch up,
//! or when the gaps counted by the API and the gap events in the file disagree.

// The crate root of a bench looks for modules beside it, so the paths are spelled out.
#[path = "device_chaos/gateway.rs"]
mod gateway;
#[path = "device_chaos/replay.rs"]
mod replay;
#[path = "device_chaos/report.rs"]
mod report;
#[path = "support/mod.rs"]
mod support;

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::time::{Duration, Instant};

use netpulse::sim::dme::{DmeSim, DmeSimConfig, Fault};
use tokio_util::sync::CancellationToken;

use gateway::{Gateway, SUBSCRIPTION_REFRESH, SourceRow, count_lines, count_stored, gateway_yaml};
use replay::{Objects, compare, read_events, subscribed_objects};
use report::Report;
use support::{cpu_seconds, free_port, memory_kib};

const SUBSCRIPTION_TTL: Duration = Duration::from_secs(10);
/// How often the bench looks at the gateway's sources (and how fine fault timing is).
const POLL: Duration = Duration::from_millis(100);
/// How long the gateway gets to catch up once the faults and changes stop.
const CATCH_UP_LIMIT: Duration = Duration::from_secs(90);
/// No new line in the event file for this long, with nothing pending: the gateway is quiet.
const QUIET: Duration = Duration::from_secs(2);

struct Options {
    devices: usize,
    seconds: u64,
    fault_every: Duration,
    change_rate: f64,
    seed: u64,
}

fn options() -> Options {
    let mut options = Options {
        devices: 50,
        seconds: 240,
        fault_every: Duration::from_millis(1000),
        change_rate: 2.0,
        seed: 42,
    };
    let args: Vec<String> = std::env::args().collect();
    for pair in args.windows(2) {
        let value = &pair[1];
        match pair[0].as_str() {
            "--devices" => options.devices = value.parse().expect("--devices N"),
            "--seconds" => options.seconds = value.parse().expect("--seconds N"),
            "--fault-every-ms" => {
                options.fault_every =
                    Duration::from_millis(value.parse().expect("--fault-every-ms N"))
            }
            "--change-rate" => {
                options.change_rate = value.parse().expect("--change-rate R (per switch per s)")
            }
            "--seed" => options.seed = value.parse().expect("--seed N"),
            _ => {}
        }
    }
    options
}

fn main() {
    let options = options();
    let runtime = support::runtime();
    let passed = runtime.block_on(run(options));
    if !passed {
        std::process::exit(1);
    }
}

/// What is injected: each kind is one or two [`Fault`]s.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    DropSockets,
    ExpireSessions,
    LoseSubscriptions,
    Restart,
    FailRefresh,
    RefuseLogins,
    DelayRefresh,
}

impl Kind {
    const ALL: [Kind; 7] = [
        Kind::DropSockets,
        Kind::ExpireSessions,
        Kind::LoseSubscriptions,
        Kind::Restart,
        Kind::FailRefresh,
        Kind::RefuseLogins,
        Kind::DelayRefresh,
    ];

    fn name(self) -> &'static str {
        match self {
            Kind::DropSockets => "drop_sockets",
            Kind::ExpireSessions => "expire_sessions",
            Kind::LoseSubscriptions => "lose_subscriptions",
            Kind::Restart => "restart (down 0.2-3 s)",
            Kind::FailRefresh => "fail_refresh (next one)",
            Kind::RefuseLogins => "refuse_logins 0.5-3 s + drop_sockets",
            Kind::DelayRefresh => "delay_refresh 0.2-1.5 s (no gap expected)",
        }
    }

    /// A refused login only matters when the gateway logs in, so the sockets are dropped with it.
    fn faults(self, rng: &mut fastrand::Rng) -> Vec<Fault> {
        match self {
            Kind::DropSockets => vec![Fault::DropSockets],
            Kind::ExpireSessions => vec![Fault::ExpireSessions],
            Kind::LoseSubscriptions => vec![Fault::LoseSubscriptions],
            Kind::Restart => vec![Fault::Restart {
                down_for_ms: rng.u64(200..3000),
            }],
            Kind::FailRefresh => vec![Fault::FailRefresh { count: 1 }],
            Kind::RefuseLogins => vec![
                Fault::RefuseLogins {
                    for_ms: rng.u64(500..3000),
                },
                Fault::DropSockets,
            ],
            Kind::DelayRefresh => vec![Fault::DelayRefresh {
                delay_ms: rng.u64(200..1500),
                count: 1,
            }],
        }
    }

    /// A delayed refresh well within the subscription's lifetime must not break the session.
    fn breaks_session(self) -> bool {
        self != Kind::DelayRefresh
    }
}

async fn run(options: Options) -> bool {
    let out = Path::new(env!("CARGO_MANIFEST_DIR")).join("bench/out/device-chaos");
    let _ = std::fs::remove_dir_all(&out);
    std::fs::create_dir_all(&out).unwrap();
    let shutdown = CancellationToken::new();
    let sim = DmeSim::start(
        DmeSimConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            devices: options.devices,
            subscription_ttl: SUBSCRIPTION_TTL,
            refresh_timeout: Duration::from_secs(60),
            change_rate: options.change_rate,
            ports: 16,
            vlans: 8,
            seed: options.seed,
            ..DmeSimConfig::default()
        },
        shutdown.clone(),
    )
    .await
    .expect("simulator starts");
    // The gateway's first snapshot of a switch is its baseline and gives no events, so the replay
    // starts from the same state: the switches are frozen until every source has subscribed.
    sim.pause_changes(true);
    let baselines: Vec<Objects> = sim.devices().iter().map(subscribed_objects).collect();
    let ca = out.join("ca.pem");
    std::fs::write(&ca, sim.ca_pem().expect("a generated certificate")).unwrap();
    let events_path = out.join("events.jsonl");
    let port = free_port();
    let config = out.join("netpulse.yaml");
    std::fs::write(
        &config,
        gateway_yaml(sim.devices(), &ca, &events_path, port),
    )
    .unwrap();
    println!(
        "device chaos: {} switches (16 ports, 8 VLANs, 3 subscriptions each, TTL {:?}, refresh {SUBSCRIPTION_REFRESH}), {} changes/s per switch, a fault every {:?} on average across the fleet for {} s, seed {}; machine: {} cores",
        options.devices,
        SUBSCRIPTION_TTL,
        options.change_rate,
        options.fault_every,
        options.seconds,
        options.seed,
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    let mut gateway = Gateway::spawn(&config, port, &out.join("gateway.log"));
    gateway.wait_ready().await;
    let started = Instant::now();
    let mut recovery = Recovery::default();
    wait_all_connected(&mut gateway, &mut recovery).await;
    let connect_time = started.elapsed();
    let rss_start = memory_kib(&gateway.pid).0;
    let cpu_start = cpu_seconds(&gateway.pid);

    sim.pause_changes(false);
    let chaos_started = Instant::now();
    let mut rng = fastrand::Rng::with_seed(options.seed);
    let injected = chaos(&sim, &mut gateway, &options, &mut recovery, &mut rng).await;
    sim.pause_changes(true);
    let chaos_time = chaos_started.elapsed();
    let cpu_chaos = cpu_seconds(&gateway.pid) - cpu_start;

    let caught_up = catch_up(&mut gateway, &mut recovery, &events_path).await;
    let catch_up_time = chaos_started.elapsed() - chaos_time;
    let rows = gateway.sources().await.expect("the sources API answers");
    let archive = gateway.archive().await.expect("the sinks API answers");
    let (rss_end, rss_peak) = memory_kib(&gateway.pid);
    let store_path = out.join("netpulse.db");
    gateway.terminate();

    let events = read_events(&events_path);
    let outcome = compare(sim.devices(), &baselines, &events);
    let stats = sim.stats();
    shutdown.cancel();
    let report = Report {
        options: &options,
        connect_time,
        chaos_time,
        catch_up_time,
        injected: &injected,
        recovery: &recovery,
        rows: &rows,
        archive: &archive,
        events: &events,
        outcome: &outcome,
        stats: &stats,
        stored: count_stored(&store_path),
        cpu_percent: 100.0 * cpu_chaos / chaos_time.as_secs_f64(),
        rss_mib: [rss_start, rss_end, rss_peak].map(|kib| kib as f64 / 1024.0),
    };
    report.print();
    report.verdict(caught_up.err().as_deref())
}

/// Injects random faults on random switches for the configured time, watching the sources.
async fn chaos(
    sim: &DmeSim,
    gateway: &mut Gateway,
    options: &Options,
    recovery: &mut Recovery,
    rng: &mut fastrand::Rng,
) -> BTreeMap<Kind, u64> {
    let mean = options.fault_every.as_secs_f64();
    let gap = |rng: &mut fastrand::Rng| Duration::from_secs_f64(-(1.0 - rng.f64()).ln() * mean);
    let end = Instant::now() + Duration::from_secs(options.seconds);
    let mut next_fault = Instant::now() + gap(rng);
    let mut injected = BTreeMap::new();
    while Instant::now() < end {
        tokio::time::sleep(POLL).await;
        gateway.check_running();
        if let Some(rows) = gateway.sources().await {
            recovery.observe(&rows);
        }
        while next_fault <= Instant::now() && next_fault < end {
            let device = &sim.devices()[rng.usize(..sim.devices().len())];
            let kind = Kind::ALL[rng.usize(..Kind::ALL.len())];
            for fault in kind.faults(rng) {
                device.fault(fault);
            }
            recovery.fault(device.name(), kind);
            *injected.entry(kind).or_insert(0) += 1;
            next_fault += gap(rng);
        }
    }
    injected
}

/// Waits until every source is connected with subscriptions proven alive after the last fault
/// (made or refreshed since), the file sink has nothing pending and no new line came for
/// [`QUIET`]. Names the sources that did not catch up within [`CATCH_UP_LIMIT`].
async fn catch_up(
    gateway: &mut Gateway,
    recovery: &mut Recovery,
    events_path: &Path,
) -> Result<(), String> {
    // A refresh finishing just as the last fault lands could carry a later timestamp than the
    // fault: only what happens clearly after it proves the subscriptions alive.
    let settled_after = jiff::Timestamp::now() + Duration::from_millis(500);
    let alive = |row: &SourceRow| {
        let after = |at: Option<jiff::Timestamp>| at.is_some_and(|at| at > settled_after);
        row.state == "connected" && (after(row.last_refresh_at) || after(row.connected_since))
    };
    let deadline = Instant::now() + CATCH_UP_LIMIT;
    let mut lines = count_lines(events_path);
    let mut quiet_since = Instant::now();
    loop {
        tokio::time::sleep(POLL).await;
        gateway.check_running();
        let rows = gateway.sources().await.unwrap_or_default();
        recovery.observe(&rows);
        let pending = gateway
            .archive()
            .await
            .map_or(u64::MAX, |sink| sink.pending);
        let now_lines = count_lines(events_path);
        if now_lines != lines {
            lines = now_lines;
            quiet_since = Instant::now();
        }
        let all_alive = !rows.is_empty() && rows.iter().all(alive);
        if all_alive && pending == 0 && quiet_since.elapsed() >= QUIET {
            return Ok(());
        }
        if Instant::now() > deadline {
            let stuck: Vec<String> = rows
                .iter()
                .filter(|row| !alive(row))
                .map(|row| format!("{row:?}"))
                .collect();
            return Err(format!(
                "the gateway did not catch up within {CATCH_UP_LIMIT:?} (file sink pending {pending}); sources not caught up:\n  {}",
                stuck.join("\n  ")
            ));
        }
    }
}

async fn wait_all_connected(gateway: &mut Gateway, recovery: &mut Recovery) {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        gateway.check_running();
        if let Some(rows) = gateway.sources().await {
            recovery.observe(&rows);
            if rows.iter().all(|row| row.state == "connected") {
                return;
            }
        }
        assert!(
            Instant::now() < deadline,
            "the sources did not all connect within 120 s"
        );
        tokio::time::sleep(POLL).await;
    }
}

/// Time from a fault to the next connect of that switch's source, as seen by polling the API.
/// A fault that lands while an earlier one is still being recovered from is counted with it.
#[derive(Default)]
struct Recovery {
    connects: HashMap<String, u64>,
    pending: HashMap<String, (Instant, Kind)>,
    times: BTreeMap<Kind, Vec<Duration>>,
}

impl Recovery {
    fn fault(&mut self, source: &str, kind: Kind) {
        if kind.breaks_session() {
            self.pending
                .entry(source.to_owned())
                .or_insert((Instant::now(), kind));
        }
    }

    fn observe(&mut self, rows: &[SourceRow]) {
        for row in rows {
            let known = self
                .connects
                .entry(row.name.clone())
                .or_insert(row.connects);
            if row.connects > *known {
                *known = row.connects;
                if let Some((at, kind)) = self.pending.remove(&row.name) {
                    self.times.entry(kind).or_default().push(at.elapsed());
                }
            }
        }
    }

    /// (measured, median, max) of one kind, or of all kinds.
    fn summary(&self, kind: Option<Kind>) -> Option<(usize, Duration, Duration)> {
        let mut times: Vec<Duration> = self
            .times
            .iter()
            .filter(|(each, _)| kind.is_none_or(|kind| **each == kind))
            .flat_map(|(_, times)| times.iter().copied())
            .collect();
        times.sort();
        let max = *times.last()?;
        Some((times.len(), times[times.len() / 2], max))
    }
}
