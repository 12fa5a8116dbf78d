//! Live feed benchmark: many WebSocket feed clients while webhooks arrive at a steady rate.
//!
//! The gateway is the release binary in its own process, with one SD-WAN webhook source. The
//! benchmark process posts alarms at `--rate` per second (each carrying the instant it was sent,
//! in microseconds, in an extra top-level field that netpulse keeps in `data`), and runs
//! `--clients` WebSocket clients of `/api/v1/stream`. With `--filter device` (the default) client
//! *i* asks for the events of device `edge-<i mod devices>`, as an application watching its own
//! devices would; with `--filter all` every client takes every event.
//!
//! Two phases in the same run, same rate, same duration: the baseline without any feed client,
//! then with all the clients connected. Printed: delivery latency from the POST to the client
//! (p50, p99, max), events delivered against expected, clients dropped, the gateway's CPU and RSS
//! in each phase.
//!
//! Run: `bench/feed.sh` or `cargo bench --bench feed -- --clients 1000 --rate 5000 --seconds 20`.

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use tokio_tungstenite::tungstenite::Message;

const FIXTURE: &str = include_str!("../tests/data/sdwan/rest-alarm-bfd-tloc-down-active-20.x.json");
const TOKEN: &str = "bench-token-0123456789";

#[derive(Clone)]
struct Options {
    clients: usize,
    rate: u64,
    seconds: u64,
    devices: usize,
    all: bool,
    connections: usize,
}

fn options() -> Options {
    let args: Vec<String> = std::env::args().collect();
    let mut options = Options {
        clients: 1000,
        rate: 5000,
        seconds: 20,
        devices: 1000,
        all: false,
        connections: 32,
    };
    for pair in args.windows(2) {
        let value = &pair[1];
        match pair[0].as_str() {
            "--clients" => options.clients = value.parse().expect("--clients N"),
            "--rate" => options.rate = value.parse().expect("--rate N"),
            "--seconds" => options.seconds = value.parse().expect("--seconds N"),
            "--devices" => options.devices = value.parse().expect("--devices N"),
            "--connections" => options.connections = value.parse().expect("--connections N"),
            "--filter" => options.all = value == "all",
            _ => {}
        }
    }
    options.devices = options.devices.max(1);
    options
}

fn main() {
    let options = options();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(run(options));
}

/// The alarm as a template: uuid, host name and send time filled in per request.
fn template() -> String {
    let mut alarm: serde_json::Value = serde_json::from_str(FIXTURE).unwrap();
    alarm["uuid"] = "@UUID@".into();
    alarm["bench_sent_us"] = "@SENT@".into();
    for list in ["values", "values_short_display"] {
        if let Some(entries) = alarm[list].as_array_mut() {
            for entry in entries {
                if entry.get("host-name").is_some() {
                    entry["host-name"] = "@HOST@".into();
                }
            }
        }
    }
    serde_json::to_string(&alarm).unwrap()
}

struct Gateway {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

fn start_gateway() -> Gateway {
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let config = dir.path().join("netpulse.yaml");
    std::fs::write(
        &config,
        format!(
            "store: {{ path: netpulse.db }}\nhttp: {{ listen: \"127.0.0.1:{port}\" }}\napi:\n  auth:\n    tokens:\n      - {{ name: bench, token: {TOKEN} }}\nsources:\n  - name: vmanage\n    type: webhook\n    provider: sdwan\n    path: /hooks/sdwan\n    auth: {{ none: true }}\n"
        ),
    )
    .unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_netpulse"))
        .args(["run", "-c"])
        .arg(&config)
        .env("NETPULSE_LOG", "warn")
        .stdout(Stdio::null())
        .spawn()
        .expect("start netpulse");
    Gateway {
        child,
        port,
        _dir: dir,
    }
}

/// CPU seconds (user + system) and RSS in MiB of a process.
fn usage(pid: u32) -> (f64, f64) {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest)
        .unwrap_or("")
        .split_whitespace()
        .collect();
    let ticks: f64 = fields
        .get(11..13)
        .map(|pair| pair.iter().filter_map(|f| f.parse::<f64>().ok()).sum())
        .unwrap_or(0.0);
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let rss_kib: f64 = status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
        .unwrap_or(0.0);
    (ticks / 100.0, rss_kib / 1024.0)
}

/// What one phase measured.
struct Phase {
    posted: u64,
    post_errors: u64,
    cpu_percent: f64,
    rss_mib: f64,
}

/// Posts alarms at `rate` per second for `seconds`, spread over `devices` host names.
async fn post_load(
    port: u16,
    options: &Options,
    epoch: Instant,
    expected: Arc<Vec<AtomicU64>>,
) -> (u64, u64) {
    let template = Arc::new(template());
    let next = Arc::new(AtomicU64::new(0));
    let total = options.rate * options.seconds;
    let started = Instant::now();
    let client = reqwest::Client::new();
    let url = format!("http://127.0.0.1:{port}/hooks/sdwan");
    let tasks: Vec<_> = (0..options.connections)
        .map(|_| {
            let (template, next, client, url, expected) = (
                template.clone(),
                next.clone(),
                client.clone(),
                url.clone(),
                expected.clone(),
            );
            let (rate, devices) = (options.rate, options.devices);
            tokio::spawn(async move {
                let (mut posted, mut errors) = (0u64, 0u64);
                loop {
                    let k = next.fetch_add(1, Ordering::Relaxed);
                    if k >= total {
                        break;
                    }
                    let due = started + Duration::from_secs_f64(k as f64 / rate as f64);
                    tokio::time::sleep_until(due.into()).await;
                    let device = (k as usize) % devices;
                    let sent = epoch.elapsed().as_micros() as u64;
                    let body = template
                        .replace("@UUID@", &format!("bench-{k}-{sent}"))
                        .replace("@HOST@", &format!("edge-{device:04}"))
                        .replace("\"@SENT@\"", &sent.to_string());
                    let response = client
                        .post(&url)
                        .header("content-type", "application/json")
                        .body(body)
                        .send()
                        .await;
                    match response {
                        Ok(response) if response.status().is_success() => {
                            posted += 1;
                            expected[device].fetch_add(1, Ordering::Relaxed);
                        }
                        _ => errors += 1,
                    }
                }
                (posted, errors)
            })
        })
        .collect();
    let mut result = (0, 0);
    for task in tasks {
        let (posted, errors) = task.await.unwrap();
        result.0 += posted;
        result.1 += errors;
    }
    result
}

async fn phase(
    gateway: &Gateway,
    options: &Options,
    epoch: Instant,
    expected: Arc<Vec<AtomicU64>>,
) -> Phase {
    let pid = gateway.child.id();
    let (cpu_before, _) = usage(pid);
    let started = Instant::now();
    let (posted, post_errors) = post_load(gateway.port, options, epoch, expected).await;
    let elapsed = started.elapsed().as_secs_f64();
    let (cpu_after, rss_mib) = usage(pid);
    Phase {
        posted,
        post_errors,
        cpu_percent: 100.0 * (cpu_after - cpu_before) / elapsed,
        rss_mib,
    }
}

/// One feed client's record.
#[derive(Default)]
struct ClientResult {
    received: u64,
    latencies_us: Vec<u64>,
    dropped: Option<String>,
}

async fn client(
    port: u16,
    index: usize,
    options: Options,
    epoch: Instant,
    connected: Arc<AtomicU64>,
    stop: tokio_util::sync::CancellationToken,
) -> ClientResult {
    let filter = if options.all {
        String::new()
    } else {
        format!("&device=edge-{:04}", index % options.devices)
    };
    let url = format!("ws://127.0.0.1:{port}/api/v1/stream?access_token={TOKEN}{filter}");
    let mut result = ClientResult::default();
    let mut socket = match tokio_tungstenite::connect_async(url).await {
        Ok((socket, _)) => socket,
        Err(error) => {
            result.dropped = Some(format!("connect: {error}"));
            return result;
        }
    };
    connected.fetch_add(1, Ordering::Relaxed);
    loop {
        let message = tokio::select! {
            message = socket.next() => message,
            _ = stop.cancelled() => break,
        };
        match message {
            Some(Ok(Message::Text(text))) => {
                let now = epoch.elapsed().as_micros() as u64;
                let value: serde_json::Value = serde_json::from_str(&text).unwrap();
                if let Some(sent) = value["data"]["bench_sent_us"].as_u64() {
                    result.received += 1;
                    result.latencies_us.push(now.saturating_sub(sent));
                } else if value.get("notice").is_some() {
                    result.dropped = Some(format!("notice: {text}"));
                }
            }
            Some(Ok(Message::Close(frame))) => {
                result.dropped = Some(format!("closed: {frame:?}"));
                break;
            }
            Some(Ok(_)) => {}
            Some(Err(error)) => {
                result.dropped = Some(format!("error: {error}"));
                break;
            }
            None => {
                result.dropped = Some("ended".to_owned());
                break;
            }
        }
    }
    result
}

fn percentile(sorted: &[u64], fraction: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() as f64 - 1.0) * fraction).round() as usize] as f64 / 1000.0
}

async fn run(options: Options) {
    println!(
        "feed benchmark: {} WebSocket clients ({}), {} alarms/s for {} s per phase over {} devices, machine: {} cores",
        options.clients,
        if options.all {
            "every event each"
        } else {
            "one device each"
        },
        options.rate,
        options.seconds,
        options.devices,
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(0)
    );
    let mut gateway = start_gateway();
    let ready = format!("http://127.0.0.1:{}/readyz", gateway.port);
    let deadline = Instant::now() + Duration::from_secs(30);
    while !reqwest::get(&ready)
        .await
        .is_ok_and(|r| r.status().is_success())
    {
        assert!(Instant::now() < deadline, "netpulse did not become ready");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let epoch = Instant::now();
    let ignore = Arc::new(
        (0..options.devices)
            .map(|_| AtomicU64::new(0))
            .collect::<Vec<_>>(),
    );
    let baseline = phase(&gateway, &options, epoch, ignore).await;
    println!(
        "baseline, no feed client: {} alarms acknowledged ({} errors), gateway CPU {:.1}%, RSS {:.1} MiB",
        baseline.posted, baseline.post_errors, baseline.cpu_percent, baseline.rss_mib
    );

    let connected = Arc::new(AtomicU64::new(0));
    let stop = tokio_util::sync::CancellationToken::new();
    let connect_started = Instant::now();
    let clients: Vec<_> = (0..options.clients)
        .map(|index| {
            tokio::spawn(client(
                gateway.port,
                index,
                options.clone(),
                epoch,
                connected.clone(),
                stop.clone(),
            ))
        })
        .collect();
    while connected.load(Ordering::Relaxed) < options.clients as u64 {
        assert!(
            connect_started.elapsed() < Duration::from_secs(60),
            "only {} of {} clients connected within 60 s",
            connected.load(Ordering::Relaxed),
            options.clients
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (_, rss_idle) = usage(gateway.child.id());
    println!(
        "{} clients connected in {:.2?}; gateway RSS {:.1} MiB",
        options.clients,
        connect_started.elapsed(),
        rss_idle
    );
    let expected = Arc::new(
        (0..options.devices)
            .map(|_| AtomicU64::new(0))
            .collect::<Vec<_>>(),
    );
    let loaded = phase(&gateway, &options, epoch, expected.clone()).await;
    // Let the last events reach their clients.
    tokio::time::sleep(Duration::from_secs(2)).await;
    stop.cancel();
    let mut latencies = Vec::new();
    let (mut received, mut dropped, mut reasons) = (0u64, 0usize, Vec::new());
    let mut expected_total = 0u64;
    for (index, task) in clients.into_iter().enumerate() {
        let result = task.await.unwrap();
        received += result.received;
        expected_total += if options.all {
            loaded.posted
        } else {
            expected[index % options.devices].load(Ordering::Relaxed)
        };
        latencies.extend(result.latencies_us);
        if let Some(reason) = result.dropped {
            dropped += 1;
            if reasons.len() < 3 {
                reasons.push(reason);
            }
        }
    }
    latencies.sort_unstable();
    let _ = Command::new("kill")
        .arg(gateway.child.id().to_string())
        .status();
    let _ = gateway.child.wait();
    println!(
        "with {} clients: {} alarms acknowledged ({} errors), gateway CPU {:.1}%, RSS {:.1} MiB",
        options.clients, loaded.posted, loaded.post_errors, loaded.cpu_percent, loaded.rss_mib
    );
    println!();
    println!(
        "| | baseline (no client) | {} feed clients |",
        options.clients
    );
    println!("|---|---|---|");
    println!(
        "| alarms/s posted (target {}) | {:.0} | {:.0} |",
        options.rate,
        baseline.posted as f64 / options.seconds as f64,
        loaded.posted as f64 / options.seconds as f64
    );
    println!(
        "| gateway CPU (one core = 100%) | {:.1}% | {:.1}% |",
        baseline.cpu_percent, loaded.cpu_percent
    );
    println!(
        "| gateway RSS | {:.1} MiB | {:.1} MiB |",
        baseline.rss_mib, loaded.rss_mib
    );
    println!("| events delivered / expected | – | {received} / {expected_total} |");
    println!(
        "| delivery latency POST → client p50 / p99 / max | – | {:.2} / {:.2} / {:.2} ms |",
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.99),
        percentile(&latencies, 1.0)
    );
    println!("| clients dropped | – | {dropped} |");
    for reason in reasons {
        println!("  dropped: {reason}");
    }
}
