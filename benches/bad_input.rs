//! Bad input at scale: while well-behaved senders post SD-WAN alarms to the gateway (release
//! binary, its own process, default `http:` limits), attackers hold thousands of idle connections,
//! trickle headers and bodies (slow loris), flood a corpus of malformed, oversized and wrongly
//! encoded bodies, and finally open more connections than `http.max_connections`. The benchmark
//! prints what the well-behaved senders saw (answers, p50/p99 latency) without and with the attack
//! in the same run, the statuses of the hostile requests, the gateway's memory and how many
//! connections it refused, and checks that every alarm acknowledged is stored.
//!
//! Run: `bench/bad-input.sh` or `cargo bench --bench bad_input -- --idle 3000 --slow 300`.

#[path = "support/mod.rs"]
mod support;

use std::collections::BTreeMap;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const FIXTURE: &str =
    include_str!("../tests/data/sdwan/webhook-interface-state-change-down-2019.json");
const ORIGINAL_UUID: &str = "8459e3a0-5bea-4370-ab57-6f45f8022d66";
/// `Basic base64("vmanage:bench-password")`.
const AUTHORIZATION: &str = "Basic dm1hbmFnZTpiZW5jaC1wYXNzd29yZA==";
const MAX_CONNECTIONS: usize = 4096;

struct Options {
    idle: usize,
    slow: usize,
    phase: Duration,
    senders: usize,
    rate: f64,
}

fn options() -> Options {
    let mut options = Options {
        idle: 3000,
        slow: 300,
        phase: Duration::from_secs(15),
        senders: 4,
        rate: 400.0,
    };
    let args: Vec<String> = std::env::args().collect();
    for pair in args.windows(2) {
        let value = pair[1].as_str();
        match pair[0].as_str() {
            "--idle" => options.idle = value.parse().expect("--idle N"),
            "--slow" => options.slow = value.parse().expect("--slow N"),
            "--seconds" => options.phase = Duration::from_secs(value.parse().expect("--seconds N")),
            "--rate" => options.rate = value.parse().expect("--rate alarms/s"),
            _ => {}
        }
    }
    options
}

fn main() {
    let options = options();
    let runtime = support::runtime();
    runtime.block_on(run(options));
}

/// What the well-behaved senders saw in one phase.
#[derive(Default)]
struct Seen {
    latencies: Vec<Duration>,
    accepted: Vec<String>,
    failed: u64,
}

impl Seen {
    fn percentile(&self, p: f64) -> Duration {
        let mut sorted = self.latencies.clone();
        sorted.sort();
        sorted
            .get(((sorted.len() as f64 * p) as usize).min(sorted.len().saturating_sub(1)))
            .copied()
            .unwrap_or_default()
    }
}

/// Posts alarms with fresh uuids, paced to `rate` in all, until `stop`; kept-alive connections.
async fn well_behaved(
    client: reqwest::Client,
    url: String,
    sender: usize,
    phase: &'static str,
    interval: Duration,
    stop: Arc<AtomicBool>,
    seen: Arc<Mutex<Seen>>,
) {
    let mut next = Instant::now();
    for index in 0.. {
        if stop.load(Ordering::Relaxed) {
            return;
        }
        let uuid = format!("{phase}-{sender}-{index}");
        let body = FIXTURE.replace(ORIGINAL_UUID, &uuid);
        let started = Instant::now();
        let sent = client
            .post(&url)
            .header("authorization", AUTHORIZATION)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await;
        let elapsed = started.elapsed();
        let accepted = matches!(&sent, Ok(response) if response.status().is_success());
        {
            let mut seen = seen.lock().unwrap();
            if accepted {
                seen.latencies.push(elapsed);
                seen.accepted.push(uuid);
            } else {
                seen.failed += 1;
            }
        }
        next += interval;
        tokio::time::sleep_until(next.into()).await;
    }
}

/// One phase of well-behaved traffic, for `duration`.
async fn phase(
    options: &Options,
    client: &reqwest::Client,
    url: &str,
    name: &'static str,
    duration: Duration,
) -> Seen {
    let stop = Arc::new(AtomicBool::new(false));
    let seen = Arc::new(Mutex::new(Seen::default()));
    let interval = Duration::from_secs_f64(options.senders as f64 / options.rate);
    let tasks: Vec<_> = (0..options.senders)
        .map(|sender| {
            tokio::spawn(well_behaved(
                client.clone(),
                url.to_owned(),
                sender,
                name,
                interval,
                stop.clone(),
                seen.clone(),
            ))
        })
        .collect();
    tokio::time::sleep(duration).await;
    stop.store(true, Ordering::Relaxed);
    for task in tasks {
        task.await.unwrap();
    }
    Arc::try_unwrap(seen)
        .ok()
        .expect("senders done")
        .into_inner()
        .unwrap()
}

/// Hostile bodies, named, as raw requests (some headers are hostile too).
fn corpus(port: u16) -> Vec<(&'static str, Vec<u8>)> {
    let request = |content_type: &str, extra: &str, body: &[u8]| {
        let mut bytes = format!(
            "POST /hooks/sdwan HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: {AUTHORIZATION}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n{extra}\r\n",
            body.len()
        )
        .into_bytes();
        bytes.extend_from_slice(body);
        bytes
    };
    let json = |body: &[u8]| request("application/json", "", body);
    let fixture = FIXTURE.as_bytes();
    let mut nested = "[".repeat(50_000).into_bytes();
    nested.extend("]".repeat(50_000).bytes());
    let mut utf16 = vec![0xFF, 0xFE];
    for unit in FIXTURE.encode_utf16() {
        utf16.extend_from_slice(&unit.to_le_bytes());
    }
    vec![
        ("truncated", json(&fixture[..fixture.len() / 2])),
        ("invalid UTF-8", json(b"{\"rule_name\": \"\xff\xfe\"}")),
        ("UTF-16", json(&utf16)),
        ("NUL bytes", json(&[0; 4096])),
        ("100k nested arrays", json(&nested)),
        ("not an alarm", json(b"{\"hello\": \"world\"}")),
        (
            "2 MB body (declared)",
            request("application/json", "", &vec![b' '; 2 << 20]),
        ),
        ("text/plain", request("text/plain", "", fixture)),
        (
            "gzip encoded",
            request("application/json", "Content-Encoding: gzip\r\n", fixture),
        ),
        (
            "wrong password",
            json(fixture).replace_auth("Basic dm1hbmFnZTp3cm9uZw=="),
        ),
        (
            "60 KB header",
            request(
                "application/json",
                &format!("X-Junk: {}\r\n", "j".repeat(60_000)),
                fixture,
            ),
        ),
        (
            "200 KB header",
            request(
                "application/json",
                &format!("X-Junk: {}\r\n", "j".repeat(200_000)),
                fixture,
            ),
        ),
        ("not HTTP", b"\x16\x03\x01\x02\x00garbage\r\n\r\n".to_vec()),
    ]
}

trait ReplaceAuth {
    fn replace_auth(self, with: &str) -> Vec<u8>;
}

impl ReplaceAuth for Vec<u8> {
    fn replace_auth(self, with: &str) -> Vec<u8> {
        let text = String::from_utf8(self).unwrap();
        text.replacen(AUTHORIZATION, with, 1).into_bytes()
    }
}

/// Sends hostile requests one per connection until `stop`; counts the status lines.
async fn flood(
    port: u16,
    stop: Arc<AtomicBool>,
    statuses: Arc<Mutex<BTreeMap<(&'static str, String), u64>>>,
) {
    let corpus = corpus(port);
    while !stop.load(Ordering::Relaxed) {
        for (name, request) in &corpus {
            let status = match TcpStream::connect(("127.0.0.1", port)).await {
                Ok(mut stream) => {
                    let _ = stream.write_all(request).await;
                    let mut answer = vec![0u8; 64];
                    match tokio::time::timeout(Duration::from_secs(5), stream.read(&mut answer))
                        .await
                    {
                        Ok(Ok(n)) if n >= 12 => String::from_utf8_lossy(&answer[9..12]).into(),
                        Ok(Ok(_)) | Ok(Err(_)) => "closed".to_owned(),
                        Err(_) => "no answer in 5 s".to_owned(),
                    }
                }
                Err(_) => "connect failed".to_owned(),
            };
            *statuses.lock().unwrap().entry((*name, status)).or_default() += 1;
        }
    }
}

/// Opens a connection and says nothing (or trickles a header, or a body); reconnects when the
/// server closes it. Counts how many times it was closed.
async fn attacker(port: u16, kind: Attack, stop: Arc<AtomicBool>, closed: Arc<AtomicU64>) {
    while !stop.load(Ordering::Relaxed) {
        let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)).await else {
            tokio::time::sleep(Duration::from_millis(200)).await;
            continue;
        };
        match kind {
            Attack::Idle => {}
            Attack::SlowHeader => {
                let _ = stream
                    .write_all(b"POST /hooks/sdwan HTTP/1.1\r\nHost: x\r\nX-Slow: ")
                    .await;
            }
            Attack::SlowBody => {
                let head = format!(
                    "POST /hooks/sdwan HTTP/1.1\r\nHost: x\r\nAuthorization: {AUTHORIZATION}\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{{"
                );
                let _ = stream.write_all(head.as_bytes()).await;
            }
        }
        let mut buffer = [0u8; 512];
        loop {
            if stop.load(Ordering::Relaxed) {
                return;
            }
            match tokio::time::timeout(Duration::from_secs(1), stream.read(&mut buffer)).await {
                Ok(Ok(0)) | Ok(Err(_)) => break,
                Ok(Ok(_)) => {}
                Err(_) => {
                    // One more byte every second from the slow senders (a header value goes
                    // on, a JSON body gets one more space).
                    let byte: &[u8] = if kind == Attack::SlowHeader {
                        b"a"
                    } else {
                        b" "
                    };
                    if kind != Attack::Idle && stream.write_all(byte).await.is_err() {
                        break;
                    }
                }
            }
        }
        closed.fetch_add(1, Ordering::Relaxed);
        // A persistent attacker comes back, but not in a busy loop.
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Attack {
    Idle,
    SlowHeader,
    SlowBody,
}

/// Connections are opened 100 at a time: thousands of simultaneous connects overflow the listen
/// backlog, and the kernel then retries them only after seconds.
async fn pace(index: usize) {
    if index % 100 == 99 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn metrics(client: &reqwest::Client, port: u16) -> String {
    client
        .get(format!("http://127.0.0.1:{port}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

async fn metric(client: &reqwest::Client, port: u16, name: &str) -> f64 {
    let text = metrics(client, port).await;
    text.lines()
        .filter(|line| line.starts_with(name))
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

async fn run(options: Options) {
    let dir = tempfile::tempdir().unwrap();
    let port = support::free_port();
    let config = dir.path().join("netpulse.yaml");
    std::fs::write(
        &config,
        format!(
            "store: {{ path: netpulse.db }}\nhttp: {{ listen: \"127.0.0.1:{port}\", max_connections: {MAX_CONNECTIONS} }}\nsources:\n  - name: vmanage\n    type: webhook\n    provider: sdwan\n    path: /hooks/sdwan\n    auth: {{ basic: {{ username: vmanage, password: bench-password }} }}\n"
        ),
    )
    .unwrap();
    let mut gateway: Child = Command::new(env!("CARGO_BIN_EXE_netpulse"))
        .args(["run", "-c"])
        .arg(&config)
        .env("NETPULSE_LOG", "error")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let pid = gateway.id();
    let client = reqwest::Client::new();
    let ready = format!("http://127.0.0.1:{port}/readyz");
    let started = Instant::now();
    while !client
        .get(&ready)
        .send()
        .await
        .is_ok_and(|r| r.status().is_success())
    {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the gateway did not start"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let url = format!("http://127.0.0.1:{port}/hooks/sdwan");
    println!(
        "bad-input: {} well-behaved senders at {:.0} alarms/s; attack: {} idle, {} slow-header, {} slow-body connections, a hostile-body flood, then {} more idle (limit {MAX_CONNECTIONS}); {} s per phase",
        options.senders,
        options.rate,
        options.idle,
        options.slow,
        options.slow,
        MAX_CONNECTIONS,
        options.phase.as_secs()
    );

    let rss_start = support::memory_kib(&pid.to_string()).0;
    let baseline = phase(&options, &client, &url, "baseline", options.phase).await;

    // The attack, with the same well-behaved traffic.
    let stop = Arc::new(AtomicBool::new(false));
    let closed = Arc::new(AtomicU64::new(0));
    let statuses = Arc::new(Mutex::new(BTreeMap::new()));
    let mut attackers = Vec::new();
    let attacks = [
        (Attack::Idle, options.idle),
        (Attack::SlowHeader, options.slow),
        (Attack::SlowBody, options.slow),
    ];
    for (kind, count) in attacks {
        for index in 0..count {
            attackers.push(tokio::spawn(attacker(
                port,
                kind,
                stop.clone(),
                closed.clone(),
            )));
            pace(index).await;
        }
    }
    let stop_flood = Arc::new(AtomicBool::new(false));
    let floods: Vec<_> = (0..2)
        .map(|_| tokio::spawn(flood(port, stop_flood.clone(), statuses.clone())))
        .collect();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let open_under_attack = metric(&client, port, "netpulse_http_connections{").await;
    let under_attack = phase(&options, &client, &url, "attack", options.phase).await;
    let rss_attack = support::memory_kib(&pid.to_string()).0;

    // Over the limit: the senders' kept-alive connections must still be served. (The flood
    // stops first: it opens a connection per request, which would crowd the accept queue.)
    stop_flood.store(true, Ordering::Relaxed);
    for flood in floods {
        flood.await.unwrap();
    }
    for index in 0..MAX_CONNECTIONS {
        attackers.push(tokio::spawn(attacker(
            port,
            Attack::Idle,
            stop.clone(),
            closed.clone(),
        )));
        pace(index).await;
    }
    let filling = Instant::now();
    let mut open_over_limit = 0.0;
    while filling.elapsed() < Duration::from_secs(60) {
        tokio::time::sleep(Duration::from_millis(500)).await;
        open_over_limit = metric(&client, port, "netpulse_http_connections{").await;
        if open_over_limit >= MAX_CONNECTIONS as f64 {
            break;
        }
    }
    let over_limit = phase(&options, &client, &url, "overlimit", options.phase).await;
    let (rss_over_limit, rss_peak) = support::memory_kib(&pid.to_string());
    let refused = metric(&client, port, "netpulse_http_connections_refused_total").await;
    stop.store(true, Ordering::Relaxed);
    for attacker in attackers {
        attacker.await.unwrap();
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let after = phase(&options, &client, &url, "after", options.phase).await;
    let rss_after = support::memory_kib(&pid.to_string()).0;
    let refusals: BTreeMap<String, f64> = {
        let text = metrics(&client, port).await;
        text.lines()
            .filter(|line| line.starts_with("netpulse_webhook_requests_total"))
            .filter_map(|line| {
                let outcome = line.split("outcome=\"").nth(1)?.split('"').next()?;
                Some((outcome.to_owned(), line.rsplit(' ').next()?.parse().ok()?))
            })
            .collect()
    };

    // Stop cleanly and count what is stored.
    let _ = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status();
    let _ = gateway.wait();
    let store = rusqlite::Connection::open(dir.path().join("netpulse.db")).unwrap();
    let mut stored = std::collections::HashSet::new();
    let mut statement = store.prepare("SELECT key FROM event_keys").unwrap();
    for key in statement
        .query_map([], |row| row.get::<_, String>(0))
        .unwrap()
    {
        let key = key.unwrap();
        // Keys are scoped by their source since issue 19: `vmanage:sdwan:<uuid>`.
        stored.insert(key.trim_start_matches("vmanage:sdwan:").to_owned());
    }
    let phases = [
        ("no attack (baseline)", &baseline),
        ("idle + slow senders + hostile flood", &under_attack),
        ("... + connections over the limit", &over_limit),
        ("after the attack", &after),
    ];
    let acknowledged: usize = phases.iter().map(|(_, seen)| seen.accepted.len()).sum();
    let missing = phases
        .iter()
        .flat_map(|(_, seen)| seen.accepted.iter())
        .filter(|uuid| !stored.contains(*uuid))
        .count();

    println!();
    println!("| well-behaved senders | alarms acknowledged | failed | p50 | p99 |");
    println!("|---|---|---|---|---|");
    for (name, seen) in phases {
        println!(
            "| {name} | {} | {} | {:.2} ms | {:.2} ms |",
            seen.accepted.len(),
            seen.failed,
            seen.percentile(0.5).as_secs_f64() * 1000.0,
            seen.percentile(0.99).as_secs_f64() * 1000.0
        );
    }
    println!();
    println!("| figure | value |");
    println!("|---|---|");
    println!(
        "| open connections under attack / over the limit | {open_under_attack:.0} / {open_over_limit:.0} (limit {MAX_CONNECTIONS}) |"
    );
    println!("| connections refused over the limit | {refused:.0} |");
    println!(
        "| attacker connections closed by the server (timeouts, refusals) | {} |",
        closed.load(Ordering::Relaxed)
    );
    println!(
        "| gateway RSS: start / under attack / over the limit / after / peak | {:.1} / {:.1} / {:.1} / {:.1} / {:.1} MiB |",
        rss_start as f64 / 1024.0,
        rss_attack as f64 / 1024.0,
        rss_over_limit as f64 / 1024.0,
        rss_after as f64 / 1024.0,
        rss_peak as f64 / 1024.0
    );
    println!(
        "| alarms acknowledged / stored / missing | {acknowledged} / {} / {missing} |",
        stored.len()
    );
    println!();
    println!("| hostile request | answers |");
    println!("|---|---|");
    let statuses = statuses.lock().unwrap();
    let mut by_name: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for ((name, status), count) in statuses.iter() {
        by_name
            .entry(name)
            .or_default()
            .push(format!("{count} × {status}"));
    }
    for (name, answers) in by_name {
        println!("| {name} | {} |", answers.join(", "));
    }
    println!();
    println!("webhook outcomes counted by the gateway: {refusals:?}");

    assert_eq!(missing, 0, "acknowledged alarms missing from the store");
    for (name, seen) in [
        ("baseline", &baseline),
        ("attack", &under_attack),
        ("over the limit", &over_limit),
        ("after", &after),
    ] {
        assert_eq!(seen.failed, 0, "well-behaved requests failed during {name}");
    }
    assert!(refused > 0.0, "the connection limit was never reached");
}
