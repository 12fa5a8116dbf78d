//! Sink outage: the Webex API (the simulator) goes down for minutes while SD-WAN alarms keep
//! arriving, comes back, then answers 429 storms (each followed by a few 500s). The gateway runs
//! as its own release process with a rate-limited Webex sink. The benchmark checks and prints:
//!
//! - every alarm posted got a 2xx during the outage too (it is durable in the store);
//! - every acknowledged alarm reached the room, none twice, none dead-lettered;
//! - after each 429 the next request came no sooner than its Retry-After;
//! - the backlog drained at the configured rate, never faster (any 1 s window);
//! - peak backlog, gateway memory at the peak and at the end, time to recover and to drain.
//!
//! Run: `bench/sink-outage.sh` (about 6 minutes) or `bench/sink-outage.sh --short` (about 1).

#[path = "support/mod.rs"]
mod support;

use std::collections::HashMap;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use netpulse::sim::webex::{Fault, RequestRecord, WebexSim, WebexSimConfig};
use tokio_util::sync::CancellationToken;

const FIXTURE: &str =
    include_str!("../tests/data/sdwan/webhook-interface-state-change-down-2019.json");
const FIXTURE_UUID: &str = "8459e3a0-5bea-4370-ab57-6f45f8022d66";
const API_TOKEN: &str = "sink-outage-bench-api-token";
/// The sink's retry policy for 5xx and refused connections: short enough that the sink notices
/// the end of the outage within seconds.
const RETRY: &str = "{ initial: 500ms, max: 10s }";
/// How often the backlog and the gateway's memory are sampled.
const SAMPLE_EVERY: Duration = Duration::from_millis(250);
/// The longest any wait on the gateway may take before the benchmark gives up.
const PATIENCE: Duration = Duration::from_secs(600);

/// The scenario; every figure can be set on the command line (`--outage-secs 60`).
#[derive(Debug, Clone)]
struct Scenario {
    /// Alarms posted per second, in every phase up to the end of the last storm.
    rate: f64,
    /// The sink's `rate_limit`, messages per second.
    sink_rate: f64,
    healthy_secs: u64,
    outage_secs: u64,
    storms: u32,
    /// 429s per storm, each asking for `retry_after` seconds.
    storm_429s: u32,
    retry_after: u64,
    /// 500s served right after each storm's 429s.
    storm_500s: u32,
    /// Delivery time between two storms.
    gap_secs: u64,
}

impl Scenario {
    fn from_args() -> Scenario {
        let args: Vec<String> = std::env::args().skip(1).collect();
        let mut scenario = if args.iter().any(|arg| arg == "--short") {
            Scenario {
                rate: 4.0,
                sink_rate: 10.0,
                healthy_secs: 5,
                outage_secs: 10,
                storms: 2,
                storm_429s: 3,
                retry_after: 2,
                storm_500s: 1,
                gap_secs: 2,
            }
        } else {
            Scenario {
                rate: 4.0,
                sink_rate: 10.0,
                healthy_secs: 20,
                outage_secs: 120,
                storms: 3,
                storm_429s: 5,
                retry_after: 4,
                storm_500s: 2,
                gap_secs: 5,
            }
        };
        for pair in args.windows(2) {
            let value = || -> f64 {
                pair[1]
                    .parse()
                    .unwrap_or_else(|_| panic!("{} takes a number", pair[0]))
            };
            match pair[0].as_str() {
                "--rate" => scenario.rate = value(),
                "--sink-rate" => scenario.sink_rate = value(),
                "--healthy-secs" => scenario.healthy_secs = value() as u64,
                "--outage-secs" => scenario.outage_secs = value() as u64,
                "--storms" => scenario.storms = value() as u32,
                "--storm-429s" => scenario.storm_429s = value() as u32,
                "--retry-after" => scenario.retry_after = value() as u64,
                "--storm-500s" => scenario.storm_500s = value() as u32,
                "--gap-secs" => scenario.gap_secs = value() as u64,
                _ => {}
            }
        }
        scenario
    }
}

fn main() {
    let scenario = Scenario::from_args();
    let runtime = support::runtime();
    runtime.block_on(run(scenario));
}

/// What the posters recorded: each acknowledged alarm's uuid (in posting order), the rest refused.
#[derive(Default)]
struct Posted {
    acknowledged: Vec<String>,
    refused: Vec<String>,
    slowest_ack: Duration,
}

/// The backlog and the gateway's memory, sampled.
#[derive(Default, Clone, Copy)]
struct Peak {
    backlog: u64,
    rss_kib_at_peak: u64,
}

async fn run(scenario: Scenario) {
    let shutdown = CancellationToken::new();
    let webex = WebexSim::start(WebexSimConfig::default(), shutdown.clone())
        .await
        .unwrap();
    let room = webex.room_id("NOC").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let port = support::free_port();
    let config_path = dir.path().join("netpulse.yaml");
    std::fs::write(&config_path, config(port, &webex, &room, &scenario)).unwrap();
    println!(
        "sink outage: {scenario:?}; machine: {} cores",
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(0)
    );
    let started = Instant::now();
    let mut gateway = support::Gateway(support::spawn_gateway(&config_path, API_TOKEN));
    support::wait_ready(port, &mut gateway.0).await;
    let pid = gateway.0.id();
    let gateway_api = GatewayApi::new(port);
    let rss_start = rss_kib(pid);

    let posted = Arc::new(Mutex::new(Posted::default()));
    let posting = CancellationToken::new();
    let poster = tokio::spawn(post_alarms(
        port,
        scenario.rate,
        posted.clone(),
        posting.clone(),
    ));
    let peak = Arc::new(Mutex::new(Peak::default()));
    let sampling = CancellationToken::new();
    let sampler = tokio::spawn(sample(
        gateway_api.clone(),
        pid,
        peak.clone(),
        sampling.clone(),
    ));

    // Healthy: everything posted so far reaches the room.
    tokio::time::sleep(Duration::from_secs(scenario.healthy_secs)).await;
    let healthy_acknowledged = posted.lock().unwrap().acknowledged.len();
    wait_for("the healthy phase's alarms reach the room", || {
        webex.messages().len() >= healthy_acknowledged
    })
    .await;
    println!(
        "[{:>5.1?}] healthy: {healthy_acknowledged} alarms, all in the room; Webex goes down for {} s",
        started.elapsed(),
        scenario.outage_secs
    );

    // Down: connections to the Webex API are refused; alarms keep coming.
    let down_at = Instant::now();
    let acknowledged_before_outage = posted.lock().unwrap().acknowledged.len();
    webex.go_down().await;
    tokio::time::sleep(Duration::from_secs(scenario.outage_secs)).await;
    let acknowledged_during_outage =
        posted.lock().unwrap().acknowledged.len() - acknowledged_before_outage;
    let backlog_at_recovery = gateway_api.backlog().await;
    webex.come_back().await.unwrap();
    let up_at = Instant::now();
    let outage = up_at - down_at;
    println!(
        "[{:>5.1?}] Webex is back after {outage:.1?}: {acknowledged_during_outage} alarms acknowledged while it was down, backlog {backlog_at_recovery}",
        started.elapsed()
    );
    wait_for("a first delivery after the outage", || {
        webex
            .requests()
            .iter()
            .any(|request| request.instant >= up_at && request.status == 200)
    })
    .await;
    let recovered_in = first_success_after(&webex.requests(), up_at).unwrap() - up_at;

    // Storms: 429s with Retry-After, then a few 500s, while the backlog drains.
    let last_fault_at = storms(&webex, &scenario, started).await;
    posting.cancel();
    poster.await.unwrap();

    // Drain: no new alarms; the backlog goes out at the configured rate.
    // Pending deliveries, not messages in the room: a dead letter must be reported, not waited for.
    let deadline = Instant::now() + PATIENCE;
    while gateway_api.backlog().await > 0 {
        assert!(
            Instant::now() < deadline,
            "gave up waiting for the backlog to drain"
        );
        tokio::time::sleep(SAMPLE_EVERY).await;
    }
    let drained_at = Instant::now();
    sampling.cancel();
    sampler.await.unwrap();
    let rss_end = rss_kib(pid);
    let dead = gateway_api.dead().await;
    println!(
        "[{:>5.1?}] drained; stopping the gateway",
        started.elapsed()
    );
    let _ = Command::new("kill").arg(pid.to_string()).status();
    gateway.0.wait().unwrap();
    shutdown.cancel();

    let posted = std::mem::take(&mut *posted.lock().unwrap());
    let stored = stored_alarms(&dir.path().join("netpulse.db"), &posted.acknowledged);
    let report = Report {
        scenario: scenario.clone(),
        posted,
        stored,
        dead,
        room: room_uuids(&webex),
        requests: webex.requests(),
        outage,
        acknowledged_during_outage,
        backlog_at_recovery,
        recovered_in,
        up_at,
        last_fault_at,
        drained_at,
        peak: *peak.lock().unwrap(),
        rss_start,
        rss_end,
        total: started.elapsed(),
    };
    report.print_and_check();
}

fn config(port: u16, webex: &WebexSim, room: &str, scenario: &Scenario) -> String {
    format!(
        "store: {{ path: netpulse.db }}
http: {{ listen: \"127.0.0.1:{port}\" }}
api:
  auth:
    tokens:
      - name: bench
        token: ${{API_TOKEN}}
sources:
  - name: vmanage
    type: webhook
    provider: sdwan
    path: /hooks/sdwan
    auth: {{ none: true }}
    vmanage_url: https://vmanage.example.com
sinks:
  - name: noc
    type: webex
    base_url: {base}
    token: ${{WEBEX_TOKEN}}
    room_id: \"{room}\"
    rate_limit: {rate}
    request_timeout: 5s
    retry: {RETRY}
",
        base = webex.base_url(),
        rate = scenario.sink_rate,
    )
}

/// Waits for a condition, checked every 100 ms; panics after [`PATIENCE`].
async fn wait_for(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + PATIENCE;
    while !condition() {
        assert!(Instant::now() < deadline, "gave up waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The gateway's status API, with the bench's bearer token.
#[derive(Clone)]
struct GatewayApi {
    client: reqwest::Client,
    url: String,
}

impl GatewayApi {
    fn new(port: u16) -> GatewayApi {
        GatewayApi {
            client: reqwest::Client::new(),
            url: format!("http://127.0.0.1:{port}/api/v1/sinks"),
        }
    }

    async fn sink(&self) -> serde_json::Value {
        let answer: serde_json::Value = self
            .client
            .get(&self.url)
            .bearer_auth(API_TOKEN)
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .expect("GET /api/v1/sinks")
            .json()
            .await
            .expect("a JSON answer from /api/v1/sinks");
        answer["sinks"]
            .as_array()
            .and_then(|sinks| sinks.iter().find(|sink| sink["name"] == "noc"))
            .cloned()
            .expect("the sink noc in /api/v1/sinks")
    }

    /// Deliveries pending: the backlog.
    async fn backlog(&self) -> u64 {
        self.sink().await["pending"].as_u64().unwrap()
    }

    async fn dead(&self) -> u64 {
        self.sink().await["dead"].as_u64().unwrap()
    }
}

/// The gateway's resident memory, KiB (`VmRSS`).
fn rss_kib(pid: u32) -> u64 {
    support::memory_kib(&pid.to_string()).0
}

/// Posts alarms with fresh uuids at `rate` per second until `stop`; records each answer.
async fn post_alarms(port: u16, rate: f64, posted: Arc<Mutex<Posted>>, stop: CancellationToken) {
    let client = reqwest::Client::new();
    let url = format!("http://127.0.0.1:{port}/hooks/sdwan");
    let mut ticks = tokio::time::interval(Duration::from_secs_f64(1.0 / rate));
    for index in 0u64.. {
        tokio::select! {
            _ = ticks.tick() => {}
            () = stop.cancelled() => return,
        }
        let uuid = uuid::Uuid::now_v7().to_string();
        let body = FIXTURE.replace(FIXTURE_UUID, &uuid).replace(
            "The interface oper-state changed to down",
            &format!("sink outage bench alarm {index}"),
        );
        let sent_at = Instant::now();
        let answer = client
            .post(&url)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await;
        let acknowledged = matches!(&answer, Ok(response) if response.status().is_success());
        let mut posted = posted.lock().unwrap();
        posted.slowest_ack = posted.slowest_ack.max(sent_at.elapsed());
        if acknowledged {
            posted.acknowledged.push(uuid);
        } else {
            eprintln!("alarm {index} not acknowledged: {answer:?}");
            posted.refused.push(uuid);
        }
    }
}

/// Samples the backlog and the gateway's memory until `stop`; keeps the peak.
async fn sample(api: GatewayApi, pid: u32, peak: Arc<Mutex<Peak>>, stop: CancellationToken) {
    while !stop.is_cancelled() {
        let backlog = api.backlog().await;
        {
            let mut peak = peak.lock().unwrap();
            if backlog > peak.backlog {
                *peak = Peak {
                    backlog,
                    rss_kib_at_peak: rss_kib(pid),
                };
            }
        }
        tokio::select! {
            () = tokio::time::sleep(SAMPLE_EVERY) => {}
            () = stop.cancelled() => {}
        }
    }
}

/// Runs the storms one after the other; returns when the last fault was served.
async fn storms(webex: &WebexSim, scenario: &Scenario, started: Instant) -> Instant {
    let per_storm = (scenario.storm_429s + scenario.storm_500s) as usize;
    for storm in 0..scenario.storms {
        let first = webex.requests().len();
        // The simulator serves the 429s first, then the 500s.
        webex.fault(Fault::RateLimit {
            count: scenario.storm_429s,
            retry_after_secs: scenario.retry_after,
        });
        if scenario.storm_500s > 0 {
            webex.fault(Fault::ServerError {
                count: scenario.storm_500s,
                status: 500,
            });
        }
        // Served, and the request after the last fault arrived (to know the wait before it).
        wait_for("a storm to be served", || {
            let requests = webex.requests();
            requests.len() > first + per_storm
                && faults_in(&requests[first..]) >= per_storm
                && requests.last().is_some_and(|last| last.status == 200)
        })
        .await;
        let requests = webex.requests();
        let served = storm_timeline(&requests[first..]);
        println!(
            "[{:>5.1?}] storm {}: {} (status, then the wait before the next request)",
            started.elapsed(),
            storm + 1,
            served
        );
        if storm + 1 < scenario.storms {
            tokio::time::sleep(Duration::from_secs(scenario.gap_secs)).await;
        }
    }
    webex
        .requests()
        .iter()
        .rev()
        .find(|request| matches!(request.status, 429 | 500))
        .map_or_else(Instant::now, |request| request.instant)
}

fn faults_in(requests: &[RequestRecord]) -> usize {
    requests
        .iter()
        .filter(|request| matches!(request.status, 429 | 500))
        .count()
}

/// `429 +2.00s, 500 +0.31s`: each fault served and how long the gateway waited after it.
fn storm_timeline(requests: &[RequestRecord]) -> String {
    requests
        .windows(2)
        .filter(|pair| matches!(pair[0].status, 429 | 500))
        .map(|pair| {
            let waited = pair[1].instant - pair[0].instant;
            format!("{} +{:.2}s", pair[0].status, waited.as_secs_f64())
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn first_success_after(requests: &[RequestRecord], after: Instant) -> Option<Instant> {
    requests
        .iter()
        .find(|request| request.instant >= after && request.status == 200)
        .map(|request| request.instant)
}

/// How many of the acknowledged alarms are stored exactly once.
fn stored_alarms(database: &std::path::Path, acknowledged: &[String]) -> usize {
    let connection = rusqlite::Connection::open(database).unwrap();
    let mut statement = connection
        .prepare("SELECT count(*) FROM event_keys WHERE key = ?1")
        .unwrap();
    acknowledged
        .iter()
        .filter(|uuid| {
            let stored: i64 = statement
                // Keys are scoped by their source since issue 19.
                .query_row([format!("vmanage:sdwan:{uuid}")], |row| row.get(0))
                .unwrap();
            stored == 1
        })
        .count()
}

/// Alarm uuids of the room's messages in the order they arrived (taken from the link back to
/// SD-WAN Manager).
fn room_uuids(webex: &WebexSim) -> Vec<String> {
    let mut in_room = Vec::new();
    for message in webex.messages() {
        let markdown = message.markdown.unwrap_or_default();
        let uuid = markdown
            .split("/details/")
            .nth(1)
            .and_then(|rest| rest.split(')').next());
        if let Some(uuid) = uuid {
            in_room.push(uuid.to_owned());
        }
    }
    in_room
}

/// Messages that arrived after one for an alarm posted later.
fn out_of_order(room: &[String], acknowledged: &[String]) -> usize {
    let position: HashMap<&str, usize> = acknowledged
        .iter()
        .enumerate()
        .map(|(index, uuid)| (uuid.as_str(), index))
        .collect();
    let mut latest = None;
    let mut late = 0;
    for index in room.iter().filter_map(|uuid| position.get(uuid.as_str())) {
        if latest.is_some_and(|latest| index < latest) {
            late += 1;
        }
        latest = latest.max(Some(index));
    }
    late
}

struct Report {
    scenario: Scenario,
    posted: Posted,
    stored: usize,
    dead: u64,
    /// Alarm uuids of the room's messages, in arrival order.
    room: Vec<String>,
    requests: Vec<RequestRecord>,
    outage: Duration,
    acknowledged_during_outage: usize,
    backlog_at_recovery: u64,
    recovered_in: Duration,
    up_at: Instant,
    last_fault_at: Instant,
    drained_at: Instant,
    peak: Peak,
    rss_start: u64,
    rss_end: u64,
    total: Duration,
}

/// How the gateway waited after the answers of one status: (served, shortest wait, longest wait).
fn waits_after(requests: &[RequestRecord], status: u16) -> (usize, Duration, Duration) {
    let waits: Vec<Duration> = requests
        .windows(2)
        .filter(|pair| pair[0].status == status)
        .map(|pair| pair[1].instant - pair[0].instant)
        .collect();
    let shortest = waits.iter().min().copied().unwrap_or_default();
    let longest = waits.iter().max().copied().unwrap_or_default();
    (waits.len(), shortest, longest)
}

/// 429s whose next request came sooner than their Retry-After, and the least margin left.
fn retry_after_violations(requests: &[RequestRecord]) -> (usize, Option<Duration>) {
    let mut violations = 0;
    let mut least_margin: Option<Duration> = None;
    for pair in requests.windows(2).filter(|pair| pair[0].status == 429) {
        let asked = Duration::from_secs(pair[0].retry_after.unwrap_or(0));
        let waited = pair[1].instant - pair[0].instant;
        match waited.checked_sub(asked) {
            Some(margin) => {
                least_margin = Some(least_margin.map_or(margin, |least| least.min(margin)));
            }
            None => violations += 1,
        }
    }
    (violations, least_margin)
}

/// The most requests that arrived within any 1 s window, and the shortest gap between two.
fn densest_second(requests: &[RequestRecord]) -> (usize, Duration) {
    let mut densest = 0;
    let mut end = 0;
    for (start, request) in requests.iter().enumerate() {
        while end < requests.len()
            && requests[end].instant - request.instant < Duration::from_secs(1)
        {
            end += 1;
        }
        densest = densest.max(end - start);
    }
    let shortest_gap = requests
        .windows(2)
        .map(|pair| pair[1].instant - pair[0].instant)
        .min()
        .unwrap_or_default();
    (densest, shortest_gap)
}

impl Report {
    fn print_and_check(&self) {
        let acknowledged = &self.posted.acknowledged;
        let mut in_room: HashMap<&str, usize> = HashMap::new();
        for uuid in &self.room {
            *in_room.entry(uuid.as_str()).or_default() += 1;
        }
        let delivered = acknowledged
            .iter()
            .filter(|uuid| in_room.contains_key(uuid.as_str()))
            .count();
        let lost = acknowledged.len() - delivered;
        let duplicates: usize = in_room.values().map(|count| count - 1).sum();
        let late = out_of_order(&self.room, acknowledged);
        let count = |status: u16| {
            self.requests
                .iter()
                .filter(|request| request.status == status)
                .count()
        };
        let (served_429, _, longest_429_wait) = waits_after(&self.requests, 429);
        let (violations, least_margin) = retry_after_violations(&self.requests);
        let (served_500, shortest_500_wait, longest_500_wait) = waits_after(&self.requests, 500);
        let after_recovery: Vec<RequestRecord> = self
            .requests
            .iter()
            .filter(|request| request.instant >= self.up_at)
            .cloned()
            .collect();
        let (densest, shortest_gap) = densest_second(&after_recovery);
        let allowed = self.scenario.sink_rate.floor() as usize + 1;
        let drain: Vec<&RequestRecord> = after_recovery
            .iter()
            .filter(|request| request.instant > self.last_fault_at && request.status == 200)
            .collect();
        let drain_rate = match (drain.first(), drain.last()) {
            (Some(first), Some(last)) if drain.len() > 1 => {
                (drain.len() - 1) as f64 / (last.instant - first.instant).as_secs_f64()
            }
            _ => 0.0,
        };
        let mib = |kib: u64| kib as f64 / 1024.0;
        println!();
        println!("| figure | value |");
        println!("|---|---|");
        println!("| Webex down (connections refused) | {:.1?} |", self.outage);
        println!(
            "| alarms acknowledged (2xx), all phases / while Webex was down | {} / {} |",
            acknowledged.len(),
            self.acknowledged_during_outage
        );
        println!(
            "| alarms refused or unanswered | **{}** |",
            self.posted.refused.len()
        );
        println!(
            "| slowest acknowledgement | {:.1?} |",
            self.posted.slowest_ack
        );
        println!(
            "| acknowledged alarms stored exactly once | {} |",
            self.stored
        );
        println!(
            "| acknowledged alarms in the room / posted more than once | {delivered} / **{duplicates}** |"
        );
        println!("| messages that reached the room after a later alarm's (order) | {late} |");
        println!(
            "| lost (acknowledged, not in the room) / dead letters | **{lost}** / **{}** |",
            self.dead
        );
        println!(
            "| backlog when Webex came back / peak backlog | {} / {} |",
            self.backlog_at_recovery, self.peak.backlog
        );
        println!(
            "| first delivery after Webex came back | {:.1?} |",
            self.recovered_in
        );
        println!(
            "| answers served: 200 / 429 / 500 | {} / {} / {} |",
            count(200),
            count(429),
            count(500)
        );
        println!(
            "| Retry-After {} s: requests sooner than asked / least margin / longest wait | **{violations}** of {served_429} / {:.0?} / {:.1?} |",
            self.scenario.retry_after,
            least_margin.unwrap_or_default(),
            longest_429_wait
        );
        println!(
            "| wait after a 500, shortest / longest (retry {RETRY}) | {:.1?} / {:.1?} ({served_500} served) |",
            shortest_500_wait, longest_500_wait
        );
        println!(
            "| requests in any 1 s after recovery, most (configured rate_limit {}) | {densest} (allowed {allowed}) |",
            self.scenario.sink_rate
        );
        println!("| shortest gap between two requests after recovery | {shortest_gap:.1?} |");
        println!(
            "| drain after the last storm: messages / average rate | {} / {drain_rate:.2}/s |",
            drain.len()
        );
        println!(
            "| time to drain after the last storm | {:.1?} |",
            self.drained_at - self.last_fault_at
        );
        println!(
            "| gateway RSS at start / at the peak backlog / at the end | {:.1} / {:.1} / {:.1} MiB |",
            mib(self.rss_start),
            mib(self.peak.rss_kib_at_peak),
            mib(self.rss_end)
        );
        println!("| whole run | {:.1?} |", self.total);
        assert!(self.posted.refused.is_empty(), "alarms were refused");
        assert_eq!(
            self.stored,
            acknowledged.len(),
            "acknowledged alarms missing from the store"
        );
        assert_eq!(lost, 0, "acknowledged alarms never reached the room");
        assert_eq!(self.dead, 0, "deliveries were dead-lettered");
        assert_eq!(
            duplicates, 0,
            "alarms were posted to the room more than once"
        );
        assert_eq!(violations, 0, "requests came sooner than Retry-After asked");
        assert!(
            densest <= allowed,
            "{densest} requests within 1 s, above the rate limit {}",
            self.scenario.sink_rate
        );
        assert!(
            drain_rate <= self.scenario.sink_rate * 1.02,
            "the backlog drained at {drain_rate:.2}/s, above the rate limit {}",
            self.scenario.sink_rate
        );
    }
}
