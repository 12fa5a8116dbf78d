//! Store benchmark: the embedded store alone, without HTTP or a load generator sharing the cores,
//! so that a change to the write path can be judged on steadier figures than `bench/ingest.sh`
//! gives on a noisy machine. Concurrent appenders each append the 1.5 KB SD-WAN alarm (a new
//! uuid each time, normalized as the receiver does) and wait for it to be durable, like webhook
//! requests. Printed per target: events/s, the CPU each store thread spends per event (the figure
//! to compare), events per commit and bytes written to disk per event.
//!
//! Targets, in the same run:
//! - `store`: the store as configured by default (`synchronous: full`);
//! - `store-normal`: the same with `synchronous: normal` (no fsync before acknowledging);
//! - `sqlite`: the floor, bare SQLite on the same disk: the same compressed bodies inserted by one
//!   thread into a table without any index, in transactions of the size the store's commits had,
//!   `synchronous=FULL`.
//!
//! - `dme-plain`, `dme-noview`, `dme-view`: DME `modified` events of 10 000 ports instead of the
//!   alarm, to weigh the fold of device events into the stored view (`store/views.rs`):
//!   `dme-plain` under a type that does not fold (the writer's cost without views), `dme-noview`
//!   from a source without a saved baseline (the fold's check only), `dme-view` from a source
//!   whose baseline is saved (each event updates its object's attributes).
//!
//!   cargo bench --bench store -- --seconds 10 --appenders 64 --rounds 2
//!   cargo bench --bench store -- --only dme-plain,dme-noview,dme-view --rounds 3

#[path = "support/mod.rs"]
mod support;

/// The allocator of the `netpulse` binary, so that the figures are the gateway's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use netpulse::store::{NewEvent, Store, StoreConfig};

const FIXTURE: &str = include_str!("../tests/data/sdwan/rest-alarm-bfd-tloc-down-active-20.x.json");

struct Options {
    seconds: u64,
    appenders: usize,
    rounds: usize,
    only: Vec<String>,
}

fn options() -> Options {
    let mut options = Options {
        seconds: 10,
        appenders: 64,
        rounds: 1,
        only: vec!["store".into(), "store-normal".into(), "sqlite".into()],
    };
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut pairs = args.chunks(2);
    while let Some([flag, value]) = pairs.next() {
        match flag.as_str() {
            "--seconds" => options.seconds = value.parse().expect("--seconds N"),
            "--appenders" => options.appenders = value.parse().expect("--appenders N"),
            "--rounds" => options.rounds = value.parse().expect("--rounds N"),
            "--only" => options.only = value.split(',').map(str::to_owned).collect(),
            // `cargo bench` passes `--bench`; anything else unknown is ignored the same way.
            _ => {}
        }
    }
    options
}

/// One target's figures.
struct Measure {
    target: &'static str,
    events: u64,
    elapsed: Duration,
    /// CPU seconds per thread name over the run.
    threads: BTreeMap<String, f64>,
    commits: u64,
    written_bytes: u64,
}

impl Measure {
    fn per_event(&self, seconds: f64) -> f64 {
        seconds * 1e6 / self.events.max(1) as f64
    }

    fn store_cpu(&self) -> f64 {
        self.threads
            .iter()
            .filter(|(name, _)| name.starts_with("store-") || name.as_str() == "sqlite-floor")
            .map(|(_, seconds)| seconds)
            .sum()
    }

    fn print(&self, round: usize) {
        let threads: Vec<String> = self
            .threads
            .iter()
            .filter(|(_, seconds)| **seconds > 0.0)
            .map(|(name, seconds)| format!("{name} {:.1}", self.per_event(*seconds)))
            .collect();
        println!(
            "round {round} {:>12}: {:>7.0} events/s  store CPU {:>5.1} µs/event  [{}]  {:>5.1} events/commit  {:>6.0} B written/event",
            self.target,
            self.events as f64 / self.elapsed.as_secs_f64(),
            self.per_event(self.store_cpu()),
            threads.join(", "),
            self.events as f64 / self.commits.max(1) as f64,
            self.written_bytes as f64 / self.events.max(1) as f64,
        );
    }
}

/// CPU seconds of each of this process's threads but the main one (named like the binary, which
/// starts with `store-` too, and idle while it waits), summed by thread name.
fn thread_cpu() -> BTreeMap<String, f64> {
    let main = std::process::id().to_string();
    let mut cpu = BTreeMap::new();
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return cpu;
    };
    for task in tasks.flatten() {
        let path = task.path();
        let name = std::fs::read_to_string(path.join("comm")).unwrap_or_default();
        let tid = path.file_name().unwrap().to_string_lossy().into_owned();
        if tid == main {
            continue;
        }
        let seconds = support::cpu_seconds(&format!("self/task/{tid}"));
        *cpu.entry(name.trim().to_owned()).or_insert(0.0) += seconds;
    }
    cpu
}

fn written_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/io")
        .unwrap_or_default()
        .lines()
        .find_map(|line| line.strip_prefix("write_bytes: "))
        .and_then(|value| value.trim().parse().ok())
        .unwrap_or(0)
}

fn delta(before: &BTreeMap<String, f64>, after: &BTreeMap<String, f64>) -> BTreeMap<String, f64> {
    after
        .iter()
        .map(|(name, seconds)| {
            let start = before.get(name).copied().unwrap_or(0.0);
            (name.clone(), (seconds - start).max(0.0))
        })
        .collect()
}

/// The ports of the DME targets.
const PORTS: usize = 10_000;

fn port_dn(port: usize) -> String {
    format!(
        "sys/intf/phys-[eth{}/{}]/phys",
        port / 64 + 1,
        port % 64 + 1
    )
}

/// A DME `modified` event of a random port (link up or down), as a live push makes it.
fn dme_event(rng: &mut fastrand::Rng, plain: bool) -> NewEvent {
    use netpulse::source::dme::view::{Status, ViewChange};
    let dn = port_dn(rng.usize(..PORTS));
    let oper = if rng.bool() { "up" } else { "down" };
    let attributes = [
        ("dn", dn.as_str()),
        ("operSt", oper),
        (
            "operStQual",
            if oper == "up" { "none" } else { "link-failure" },
        ),
        ("modTs", "2026-01-01T00:00:00.000+00:00"),
        ("rn", ""),
        ("status", "modified"),
    ]
    .into_iter()
    .map(|(key, value)| (key.to_owned(), value.to_owned()))
    .collect();
    let change = ViewChange {
        class: "ethpmPhysIf".into(),
        dn,
        status: Status::Modified,
        attributes,
    };
    let mut event =
        netpulse::source::dme::normalize::to_event("leaf1", &change, false, jiff::Timestamp::now());
    if plain {
        event.kind = "bench.dme.modified".into();
    }
    NewEvent::new(event)
}

/// The baseline of the DME targets' device: every port, with the attributes a switch reports.
fn dme_baseline() -> Vec<netpulse::cluster::wire::ViewObject> {
    (0..PORTS)
        .map(|port| netpulse::cluster::wire::ViewObject {
            key: port_dn(port),
            class: "ethpmPhysIf".into(),
            attributes: [
                ("allowedVlans", "1"),
                ("bundleIndex", "unspecified"),
                ("lastLinkStChg", "2026-01-01T00:00:00.000+00:00"),
                ("modTs", "2026-01-01T00:00:00.000+00:00"),
                ("operDuplex", "full"),
                ("operSpeed", "10G"),
                ("operSt", "up"),
                ("operStQual", "none"),
                ("rn", "phys"),
            ]
            .into_iter()
            .map(|(key, value)| (key.to_owned(), value.to_owned()))
            .collect(),
        })
        .collect()
}

/// The alarm with a new uuid each time, normalized into what the receiver appends.
struct Alarms {
    prefix: String,
    suffix: String,
}

impl Alarms {
    fn new() -> Alarms {
        let (prefix, suffix) = support::split_at_uuid(FIXTURE);
        Alarms {
            prefix: prefix.to_owned(),
            suffix: suffix.to_owned(),
        }
    }

    fn next(&self, rng: &mut fastrand::Rng) -> NewEvent {
        let uuid = uuid::Builder::from_random_bytes(rng.u128(..).to_be_bytes()).into_uuid();
        let body = Bytes::from(format!("{}{uuid}{}", self.prefix, self.suffix));
        let request = netpulse::source::webhook::verify::open_body(&body);
        netpulse::source::webhook::sdwan::normalize("vmanage", &request, None)
            .expect("the fixture parses")
            .into()
    }
}

async fn measure_store(target: &'static str, options: &Options, alarms: &Arc<Alarms>) -> Measure {
    let dir = tempfile::tempdir().unwrap();
    let mut config = StoreConfig::new(dir.path().join("netpulse.db"));
    config.synchronous_full = target != "store-normal";
    let store = tokio::task::spawn_blocking(move || Store::open(config))
        .await
        .unwrap()
        .unwrap();
    if target == "dme-view" {
        store.save_view("leaf1", dme_baseline()).await.unwrap();
    }
    let stop = Arc::new(AtomicBool::new(false));
    let appended = Arc::new(AtomicU64::new(0));
    let commits_before = store.stats().commits;
    let (cpu_before, written_before) = (thread_cpu(), written_bytes());
    let started = Instant::now();
    let tasks: Vec<_> = (0..options.appenders)
        .map(|index| {
            let (store, alarms) = (store.clone(), alarms.clone());
            let (stop, appended) = (stop.clone(), appended.clone());
            tokio::spawn(async move {
                let mut rng = fastrand::Rng::with_seed(index as u64);
                while !stop.load(Ordering::Relaxed) {
                    let item = match target {
                        "dme-plain" => dme_event(&mut rng, true),
                        "dme-noview" | "dme-view" => dme_event(&mut rng, false),
                        _ => alarms.next(&mut rng),
                    };
                    let result = store.append(std::slice::from_ref(&item)).await;
                    assert!(!result.expect("the store appends")[0].duplicate);
                    appended.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_secs(options.seconds)).await;
    stop.store(true, Ordering::Relaxed);
    for task in tasks {
        task.await.unwrap();
    }
    let elapsed = started.elapsed();
    let measure = Measure {
        target,
        events: appended.load(Ordering::Relaxed),
        elapsed,
        threads: delta(&cpu_before, &thread_cpu()),
        commits: store.stats().commits - commits_before,
        written_bytes: written_bytes() - written_before,
    };
    store.close().await;
    measure
}

/// Bare SQLite: the bodies as the store keeps them (LZ4, made ready beforehand), one thread,
/// `batch` rows per transaction, no index.
fn measure_sqlite(seconds: u64, batch: usize, alarms: &Alarms) -> Measure {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = fastrand::Rng::with_seed(7);
    let bodies: Vec<Vec<u8>> = (0..4096)
        .map(|_| {
            let item = alarms.next(&mut rng);
            let json = netpulse::store::event_json(&item.event, item.raw_data.as_deref()).unwrap();
            lz4_flex::block::compress_prepend_size(json.as_bytes())
        })
        .collect();
    let path = dir.path().join("floor.db");
    let worker = std::thread::Builder::new()
        .name("sqlite-floor".to_owned())
        .spawn(move || {
            let mut conn = rusqlite::Connection::open(&path).unwrap();
            conn.pragma_update_and_check(None, "journal_mode", "WAL", |_| Ok(()))
                .unwrap();
            conn.pragma_update(None, "synchronous", "FULL").unwrap();
            conn.execute_batch(
                "CREATE TABLE events (seq INTEGER PRIMARY KEY, received_ms INTEGER, body BLOB)",
            )
            .unwrap();
            let (mut events, mut commits) = (0u64, 0u64);
            let end = Instant::now() + Duration::from_secs(seconds);
            while Instant::now() < end {
                let tx = conn.transaction().unwrap();
                {
                    let mut insert = tx
                        .prepare_cached("INSERT INTO events (received_ms, body) VALUES (?1, ?2)")
                        .unwrap();
                    for index in 0..batch {
                        let body = &bodies[(events as usize + index) % bodies.len()];
                        insert.execute(rusqlite::params![0, body]).unwrap();
                    }
                }
                tx.commit().unwrap();
                events += batch as u64;
                commits += 1;
            }
            (events, commits)
        })
        .unwrap();
    let (cpu_before, written_before) = (thread_cpu(), written_bytes());
    let started = Instant::now();
    // The worker's CPU is read while it still runs: sample until it ends.
    let mut cpu_after = thread_cpu();
    while !worker.is_finished() {
        std::thread::sleep(Duration::from_millis(50));
        if !worker.is_finished() {
            cpu_after = thread_cpu();
        }
    }
    let elapsed = started.elapsed();
    let (events, commits) = worker.join().unwrap();
    Measure {
        target: "sqlite",
        events,
        elapsed,
        threads: delta(&cpu_before, &cpu_after),
        commits,
        written_bytes: written_bytes() - written_before,
    }
}

fn main() {
    let options = options();
    let alarms = Arc::new(Alarms::new());
    println!(
        "store benchmark: {} appenders, {} s, {} rounds, machine: {} cores; CPU per event by thread (µs)",
        options.appenders,
        options.seconds,
        options.rounds,
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    let runtime = support::runtime();
    let mut rounds = Vec::new();
    for round in 1..=options.rounds {
        let mut measures = Vec::new();
        for target in [
            "store",
            "store-normal",
            "dme-plain",
            "dme-noview",
            "dme-view",
        ] {
            if options.only.iter().any(|only| only == target) {
                let measure = runtime.block_on(measure_store(target, &options, &alarms));
                measure.print(round);
                measures.push(measure);
            }
        }
        if options.only.iter().any(|only| only == "sqlite") {
            // Transactions as large as the store's own commits were, for a like-for-like floor.
            let batch = measures.first().map_or(16, |store| {
                (store.events / store.commits.max(1)).max(1) as usize
            });
            let measure = measure_sqlite(options.seconds, batch, &alarms);
            measure.print(round);
            measures.push(measure);
        }
        rounds.push(measures);
    }
    println!();
    println!(
        "| target | events/s (median) | store CPU per event (median) | events per commit | bytes written per event |"
    );
    println!("|---|---|---|---|---|");
    let targets: Vec<&'static str> = rounds
        .first()
        .map(|measures| measures.iter().map(|m| m.target).collect())
        .unwrap_or_default();
    for target in targets {
        let of_target: Vec<&Measure> = rounds
            .iter()
            .flatten()
            .filter(|measure| measure.target == target)
            .collect();
        let median = |value: &dyn Fn(&Measure) -> f64| {
            let mut values: Vec<f64> = of_target.iter().map(|m| value(m)).collect();
            values.sort_by(f64::total_cmp);
            values[values.len() / 2]
        };
        println!(
            "| {target} | {:.0} | {:.1} µs | {:.1} | {:.0} |",
            median(&|m| m.events as f64 / m.elapsed.as_secs_f64()),
            median(&|m| m.per_event(m.store_cpu())),
            median(&|m| m.events as f64 / m.commits.max(1) as f64),
            median(&|m| m.written_bytes as f64 / m.events.max(1) as f64),
        );
    }
    println!(
        "command: cargo bench --bench store -- --seconds {} --appenders {} --rounds {}",
        options.seconds, options.appenders, options.rounds
    );
}
