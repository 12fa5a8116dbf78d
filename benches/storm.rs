//! Storm: 50 SD-WAN edges raise 12 alarms each (600) within a second, then clear them, through
//! the release gateway, the Webex API simulator and real SD-WAN Manager documents. Two gateways
//! run side by side in the same run, each with its own store and its own room:
//!
//! - **today**: a Webex sink with `match:` and no routes (one message per event);
//! - **routes**: one route to the Webex sink with `group_by`, `group_wait` and `group_interval`
//!   (grouped notifications, the clears as an update in the group's thread).
//!
//! For each it prints the messages posted, the time from the first alarm to the first
//! notification, the time until every alarm is *represented* in the room, the same for the
//! clears, and whether every alarm is in the history (`GET /api/v1/events`).
//!
//! An alarm is represented once a delivery the room accepted covers its event: the event's own
//! outbox row (today), or a notification whose `members` hold the event's seq (routes, from the
//! store's `notification_members`). A grouped message shows the first lines and counts the rest
//! ("and 37 more"), so membership is the honest test of "is this alarm in the room". When a
//! delivery happened is measured from outside: the benchmark polls the store every 100 ms for
//! delivered rows, and takes the arrival at the simulator of the newest room message at or before
//! the poll that first saw the row delivered (an upper bound on the true arrival, at most one
//! poll late).
//!
//! Run: `bench/storm.sh` (about 1.5 minutes; `--full` waits until today's backlog has drained,
//! about 10 minutes at the default rate limit).

#[path = "support/mod.rs"]
mod support;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use jiff::Timestamp;
use netpulse::sim::webex::{SimMessage, WebexSim, WebexSimConfig};
use serde_json::Value;
use tokio_util::sync::CancellationToken;

const API_TOKEN: &str = "storm-bench-api-token";
const RAISED: &str = "com.cisco.sdwan.alarm.raised";
const CLEARED: &str = "com.cisco.sdwan.alarm.cleared";
const NOTIFICATION: &str = "io.netpulse.notification";
/// How often the benchmark looks at the stores for delivered rows.
const POLL: Duration = Duration::from_millis(100);
/// With `--full`, the longest the benchmark waits for every scenario to drain.
const PATIENCE: Duration = Duration::from_secs(1500);

/// Each edge's alarms: one OMP session down, one CPU alarm and interfaces down, from captures.
const OMP: (&str, &str) = (
    include_str!("../tests/data/sdwan/rest-alarm-omp-state-change-active-20.x.json"),
    include_str!("../tests/data/sdwan/rest-alarm-omp-state-change-clearing-record-20.x.json"),
);
const CPU: (&str, &str) = (
    include_str!("../tests/data/sdwan/rest-alarm-cpu-usage-active-20.x.json"),
    include_str!("../tests/data/sdwan/rest-alarm-cpu-usage-clearing-record-20.x.json"),
);
const INTERFACE: (&str, &str) = (
    include_str!("../tests/data/sdwan/webhook-interface-state-change-down-2019.json"),
    include_str!("../tests/data/sdwan/webhook-interface-state-change-up-clears-previous-2019.json"),
);

/// The storm and the two configurations; every figure can be set on the command line.
#[derive(Debug, Clone)]
struct Options {
    edges: usize,
    alarms_per_edge: usize,
    /// Concurrent connections per gateway while posting.
    concurrency: usize,
    /// The clears are posted this long after the first raise.
    clear_after: Duration,
    /// The Webex sink's `rate_limit` (messages/s) in both scenarios.
    rate_limit: f64,
    /// The route's `group_by`.
    group_by: Vec<String>,
    group_wait: Duration,
    /// The route's `group_interval`. Its default (5 m) would delay the clears' update by five
    /// minutes; the benchmark uses 30 s unless told otherwise, and says so in its table.
    group_interval: Duration,
    /// How long the run lasts after the first raise unless every scenario is done sooner.
    observe: Duration,
    /// Wait until every scenario has delivered everything (today's 1,200 messages: ~10 min).
    full: bool,
}

impl Options {
    fn from_args() -> Options {
        let args: Vec<String> = std::env::args().skip(1).collect();
        let mut options = Options {
            edges: 50,
            alarms_per_edge: 12,
            concurrency: 8,
            clear_after: Duration::from_secs(20),
            rate_limit: 2.0,
            group_by: vec!["source".to_owned()],
            group_wait: Duration::from_secs(10),
            group_interval: Duration::from_secs(30),
            observe: Duration::from_secs(75),
            full: args.iter().any(|arg| arg == "--full"),
        };
        for pair in args.windows(2) {
            let number = || -> f64 {
                pair[1]
                    .parse()
                    .unwrap_or_else(|_| panic!("{} takes a number", pair[0]))
            };
            let seconds = || Duration::from_secs_f64(number());
            match pair[0].as_str() {
                "--edges" => options.edges = number() as usize,
                "--alarms-per-edge" => options.alarms_per_edge = number() as usize,
                "--concurrency" => options.concurrency = (number() as usize).max(1),
                "--clear-after" => options.clear_after = seconds(),
                "--rate-limit" => options.rate_limit = number(),
                "--group-by" => {
                    options.group_by = pair[1].split(',').map(str::to_owned).collect();
                }
                "--group-wait" => options.group_wait = seconds(),
                "--group-interval" => options.group_interval = seconds(),
                "--observe" => options.observe = seconds(),
                _ => {}
            }
        }
        options
    }

    fn alarms(&self) -> usize {
        self.edges * self.alarms_per_edge
    }
}

/// One of the two configurations under test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// A sink with `match:` and no routes: today's behaviour.
    Today,
    /// One route to the sink with grouping.
    Routes,
}

impl Kind {
    fn room(self) -> &'static str {
        match self {
            Kind::Today => "NOC today",
            Kind::Routes => "NOC routes",
        }
    }
}

fn main() {
    let options = Options::from_args();
    let runtime = support::runtime();
    runtime.block_on(run(options));
}

async fn run(options: Options) {
    let shutdown = CancellationToken::new();
    let webex = WebexSim::start(
        WebexSimConfig {
            rooms: vec![
                Kind::Today.room().to_owned(),
                Kind::Routes.room().to_owned(),
            ],
            ..WebexSimConfig::default()
        },
        shutdown.clone(),
    )
    .await
    .unwrap();
    println!(
        "storm: {} edges x {} alarms, clears after {:?}, sink rate_limit {}/s; routes: group_by {:?}, group_wait {:?}, group_interval {:?}; machine: {} cores",
        options.edges,
        options.alarms_per_edge,
        options.clear_after,
        options.rate_limit,
        options.group_by,
        options.group_wait,
        options.group_interval,
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(0)
    );
    let mut scenarios = Vec::new();
    for kind in [Kind::Today, Kind::Routes] {
        scenarios.push(Scenario::start(kind, &webex, &options).await);
    }
    let storm = Storm::new(&options);

    // The raises: both gateways at once, all within about a second.
    let started = Timestamp::now();
    let clock = Instant::now();
    let raised = futures_all(
        scenarios
            .iter()
            .map(|scenario| post_all(scenario.port, storm.raises.clone(), options.concurrency)),
    )
    .await;
    for (scenario, posted) in scenarios.iter_mut().zip(raised) {
        println!(
            "[{:>5.1?}] {}: {} raises acknowledged in {:.2?}",
            clock.elapsed(),
            scenario.kind.room(),
            posted.acknowledged,
            posted.took
        );
        scenario.raises = posted;
    }

    // The clears, once the raises have had time to be notified.
    tokio::time::sleep(options.clear_after.saturating_sub(clock.elapsed())).await;
    let clears_started = Timestamp::now();
    let cleared = futures_all(
        scenarios
            .iter()
            .map(|scenario| post_all(scenario.port, storm.clears.clone(), options.concurrency)),
    )
    .await;
    for (scenario, posted) in scenarios.iter_mut().zip(cleared) {
        println!(
            "[{:>5.1?}] {}: {} clears acknowledged in {:.2?}",
            clock.elapsed(),
            scenario.kind.room(),
            posted.acknowledged,
            posted.took
        );
        scenario.clears = posted;
    }

    // Observe until every scenario is done (nothing pending, every alarm and clear covered), or
    // the observation time is up (unless --full).
    let deadline = if options.full {
        PATIENCE
    } else {
        options.observe
    };
    let mut reported = Instant::now();
    loop {
        let mut all_done = true;
        for scenario in &scenarios {
            all_done &= scenario.done(options.alarms()).await;
        }
        if all_done || clock.elapsed() >= deadline {
            break;
        }
        if reported.elapsed() >= Duration::from_secs(10) {
            reported = Instant::now();
            let progress: Vec<String> = scenarios
                .iter()
                .map(|scenario| {
                    format!(
                        "{}: {} messages",
                        scenario.kind.room(),
                        room_messages(&webex, &scenario.room).len()
                    )
                })
                .collect();
            println!("[{:>5.1?}] {}", clock.elapsed(), progress.join(", "));
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }

    let mut results = Vec::new();
    for scenario in scenarios {
        results.push(
            scenario
                .finish(&webex, &options, started, clears_started)
                .await,
        );
    }
    shutdown.cancel();
    print_table(&options, &results);
    for result in &results {
        result.check(&options);
    }
}

/// Every document of the storm, in posting order.
struct Storm {
    raises: Arc<Vec<Vec<u8>>>,
    clears: Arc<Vec<Vec<u8>>>,
}

impl Storm {
    /// Edge by edge: OMP down, CPU, then interfaces GigabitEthernet1, 2… down; each clear names
    /// its raise in `cleared_events`, as SD-WAN Manager does.
    fn new(options: &Options) -> Storm {
        let parse = |text: &str| serde_json::from_str::<Value>(text).unwrap();
        let mut raises = Vec::new();
        let mut clears = Vec::new();
        let now = Timestamp::now().as_millisecond();
        for edge in 0..options.edges {
            for index in 0..options.alarms_per_edge {
                let (raise, clear) = match index {
                    0 => OMP,
                    1 => CPU,
                    _ => INTERFACE,
                };
                let interface = format!("GigabitEthernet{}", index - 1);
                let raise_uuid = uuid::Uuid::now_v7().to_string();
                let mut raise = parse(raise);
                stamp(&mut raise, &raise_uuid, edge, &interface, now);
                let mut clear = parse(clear);
                stamp(
                    &mut clear,
                    &uuid::Uuid::now_v7().to_string(),
                    edge,
                    &interface,
                    now,
                );
                clear["cleared_events"] = Value::from(vec![raise_uuid]);
                raises.push(serde_json::to_vec(&raise).unwrap());
                clears.push(serde_json::to_vec(&clear).unwrap());
            }
        }
        Storm {
            raises: Arc::new(raises),
            clears: Arc::new(clears),
        }
    }
}

/// A captured document made the `edge`'s (`edge-001`, 10.100.0.1) with a new uuid and time.
fn stamp(document: &mut Value, uuid: &str, edge: usize, interface: &str, now_ms: i64) {
    document["uuid"] = uuid.into();
    for key in ["entry_time", "receive_time", "statcycletime"] {
        if document.get(key).is_some() {
            document[key] = now_ms.into();
        }
    }
    let host = format!("edge-{:03}", edge + 1);
    let system_ip = format!("10.100.{}.{}", edge / 256, edge % 256);
    for list in ["values", "values_short_display", "devices"] {
        if let Some(entries) = document[list].as_array_mut() {
            for entry in entries {
                if entry.get("host-name").is_some() {
                    entry["host-name"] = host.as_str().into();
                }
                if entry.get("system-ip").is_some() {
                    entry["system-ip"] = system_ip.as_str().into();
                }
                if entry.get("if-name").is_some() {
                    entry["if-name"] = interface.into();
                }
            }
        }
    }
    for (key, value) in [("host_name", &host), ("system_ip", &system_ip)] {
        if document.get(key).is_some() {
            document[key] = value.as_str().into();
        }
    }
}

/// Runs the futures at once and returns their outputs in order.
async fn futures_all<F>(futures: impl Iterator<Item = F>) -> Vec<F::Output>
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    let handles: Vec<_> = futures.map(tokio::spawn).collect();
    let mut outputs = Vec::new();
    for handle in handles {
        outputs.push(handle.await.unwrap());
    }
    outputs
}

/// What one gateway answered to a batch of documents.
#[derive(Debug, Default, Clone)]
struct Posted {
    acknowledged: usize,
    refused: usize,
    took: Duration,
}

/// Posts every document on `concurrency` kept-alive connections, each taking the next one.
async fn post_all(port: u16, documents: Arc<Vec<Vec<u8>>>, concurrency: usize) -> Posted {
    let client = reqwest::Client::new();
    let url = format!("http://127.0.0.1:{port}/hooks/sdwan");
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let posted = Arc::new(Mutex::new(Posted::default()));
    let started = Instant::now();
    let mut senders = Vec::new();
    for _ in 0..concurrency {
        let (client, url, next, documents, posted) = (
            client.clone(),
            url.clone(),
            next.clone(),
            documents.clone(),
            posted.clone(),
        );
        senders.push(tokio::spawn(async move {
            loop {
                let index = next.fetch_add(1, Ordering::Relaxed);
                let Some(document) = documents.get(index) else {
                    return;
                };
                let answer = client
                    .post(&url)
                    .header("content-type", "application/json")
                    .body(document.clone())
                    .send()
                    .await;
                let mut posted = posted.lock().unwrap();
                match answer {
                    Ok(response) if response.status().is_success() => posted.acknowledged += 1,
                    other => {
                        eprintln!("alarm {index} not acknowledged: {other:?}");
                        posted.refused += 1;
                    }
                }
            }
        }));
    }
    for sender in senders {
        sender.await.unwrap();
    }
    let mut posted = posted.lock().unwrap().clone();
    posted.took = started.elapsed();
    posted
}

/// A gateway under test: its process, store, room and the poller of its deliveries.
struct Scenario {
    kind: Kind,
    port: u16,
    room: String,
    _dir: tempfile::TempDir,
    database: PathBuf,
    gateway: support::Gateway,
    api: GatewayApi,
    /// seq → when the poller first saw its outbox row delivered.
    delivered: Arc<Mutex<HashMap<i64, Timestamp>>>,
    polling: Arc<AtomicBool>,
    poller: Option<std::thread::JoinHandle<()>>,
    raises: Posted,
    clears: Posted,
}

impl Scenario {
    async fn start(kind: Kind, webex: &WebexSim, options: &Options) -> Scenario {
        let room = webex.room_id(kind.room()).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let port = support::free_port();
        let config_path = dir.path().join("netpulse.yaml");
        let config = config(kind, port, webex, &room, options);
        std::fs::write(&config_path, config).unwrap();
        let mut gateway = support::Gateway(support::spawn_gateway(&config_path, API_TOKEN));
        support::wait_ready(port, &mut gateway.0).await;
        let database = dir.path().join("netpulse.db");
        let delivered = Arc::new(Mutex::new(HashMap::new()));
        let polling = Arc::new(AtomicBool::new(true));
        let poller = {
            let (database, delivered, polling) =
                (database.clone(), delivered.clone(), polling.clone());
            std::thread::spawn(move || poll_deliveries(&database, &delivered, &polling))
        };
        Scenario {
            kind,
            port,
            room,
            _dir: dir,
            database,
            gateway,
            api: GatewayApi::new(port),
            delivered,
            polling,
            poller: Some(poller),
            raises: Posted::default(),
            clears: Posted::default(),
        }
    }

    /// Nothing pending for the sink, and every raise and clear covered by a delivery.
    async fn done(&self, alarms: usize) -> bool {
        if self.api.sink().await["pending"].as_u64() != Some(0) {
            return false;
        }
        let store = read_store(&self.database);
        let (raises, clears) = store.covered(&self.delivered.lock().unwrap());
        raises.len() >= alarms && clears.len() >= alarms
    }

    /// Reads the history through the API, stops the gateway, and works out the figures.
    async fn finish(
        mut self,
        webex: &WebexSim,
        options: &Options,
        started: Timestamp,
        clears_started: Timestamp,
    ) -> Figures {
        let history_raises = self.api.count_events(RAISED).await;
        let history_clears = self.api.count_events(CLEARED).await;
        let still_active = self.api.active_alarms().await;
        let sink = self.api.sink().await;
        self.polling.store(false, Ordering::Relaxed);
        if let Some(poller) = self.poller.take() {
            poller.join().unwrap();
        }
        let _ = Command::new("kill")
            .arg(self.gateway.0.id().to_string())
            .status();
        self.gateway.0.wait().unwrap();

        let store = read_store(&self.database);
        let (delivered_rows, outbox_rows) = outbox_rows(&self.database);
        let messages = room_messages(webex, &self.room);
        let arrivals: Vec<Timestamp> = messages.iter().map(|message| message.created).collect();
        // When each delivered row's message reached the room: the newest arrival at or before
        // the poll that first saw it delivered.
        let delivered: HashMap<i64, Timestamp> = self
            .delivered
            .lock()
            .unwrap()
            .iter()
            .map(|(seq, seen)| {
                let arrived = arrivals
                    .iter()
                    .filter(|arrival| *arrival <= seen)
                    .max()
                    .copied()
                    .unwrap_or(*seen);
                (*seq, arrived)
            })
            .collect();
        let (raises_covered, clears_covered) = store.covered(&delivered);
        let since = |from: Timestamp, to: Timestamp| {
            Duration::from_millis((to.as_millisecond() - from.as_millisecond()).max(0) as u64)
        };
        let all_by = |covered: &HashMap<i64, Timestamp>, expected: usize, from: Timestamp| {
            (covered.len() >= expected)
                .then(|| covered.values().max().map(|last| since(from, *last)))
                .flatten()
        };
        let pending = sink["pending"].as_u64().unwrap_or(0);
        let last_message = arrivals.iter().max().copied();
        let rate = options.rate_limit;
        // Not reached within the run: the backlog drains in order at the rate limit (measured by
        // bench/sink-outage.sh), raises first since they were stored first.
        let project = |uncovered: usize| {
            last_message
                .map(|last| since(started, last) + Duration::from_secs_f64(uncovered as f64 / rate))
        };
        let raises_all = all_by(&raises_covered, options.alarms(), started);
        let clears_all = all_by(&clears_covered, options.alarms(), clears_started);
        Figures {
            kind: self.kind,
            raises: self.raises,
            clears: self.clears,
            history_raises,
            history_clears,
            still_active,
            messages: messages.len(),
            first_lines: messages
                .iter()
                .map(|message| {
                    let text = message.markdown.as_deref().or(message.text.as_deref());
                    let line = text.unwrap_or_default().lines().next().unwrap_or_default();
                    line.chars().take(140).collect()
                })
                .collect(),
            delivered_rows,
            outbox_rows,
            pending,
            dead: sink["dead"].as_u64().unwrap_or(0),
            first_message: arrivals.iter().min().map(|first| since(started, *first)),
            raises_covered: raises_covered.len(),
            clears_covered: clears_covered.len(),
            raises_all,
            clears_all,
            raises_projected: raises_all
                .is_none()
                .then(|| project(options.alarms().saturating_sub(raises_covered.len())))
                .flatten(),
            clears_projected: clears_all
                .is_none()
                .then(|| {
                    project(pending as usize)
                        .map(|at| at.saturating_sub(since(started, clears_started)))
                })
                .flatten(),
            notifications: store.notifications.clone(),
            notification_times: store
                .notifications
                .iter()
                .map(|notification| {
                    delivered
                        .get(&notification.seq)
                        .map(|at| since(started, *at))
                })
                .collect(),
        }
    }
}

fn config(kind: Kind, port: u16, webex: &WebexSim, room: &str, options: &Options) -> String {
    let mut config = format!(
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
",
        base = webex.base_url(),
        rate = options.rate_limit,
    );
    match kind {
        Kind::Today => config.push_str("    match: { source: [vmanage] }\n"),
        Kind::Routes => config.push_str(&format!(
            "routes:
  - name: storm
    match: {{ source: [vmanage] }}
    sinks: [noc]
    group_by: [{group_by}]
    group_wait: {wait}ms
    group_interval: {interval}ms
",
            group_by = options.group_by.join(", "),
            wait = options.group_wait.as_millis(),
            interval = options.group_interval.as_millis(),
        )),
    }
    config
}

/// The gateway's API, with the bench's bearer token.
struct GatewayApi {
    client: reqwest::Client,
    base: String,
}

impl GatewayApi {
    fn new(port: u16) -> GatewayApi {
        GatewayApi {
            client: reqwest::Client::new(),
            base: format!("http://127.0.0.1:{port}/api/v1"),
        }
    }

    async fn get(&self, path_and_query: &str) -> Value {
        self.client
            .get(format!("{}{path_and_query}", self.base))
            .bearer_auth(API_TOKEN)
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .unwrap_or_else(|error| panic!("GET {path_and_query}: {error}"))
            .json()
            .await
            .unwrap_or_else(|error| panic!("GET {path_and_query}: {error}"))
    }

    async fn sink(&self) -> Value {
        self.get("/sinks").await["sinks"]
            .as_array()
            .and_then(|sinks| sinks.iter().find(|sink| sink["name"] == "noc"))
            .cloned()
            .expect("the sink noc in /api/v1/sinks")
    }

    /// Events of the source `vmanage` of one type in the history, page by page.
    async fn count_events(&self, kind: &str) -> usize {
        let mut count = 0;
        let mut cursor: Option<String> = None;
        loop {
            let mut query = format!("/events?source=vmanage&type={kind}&limit=1000");
            if let Some(cursor) = &cursor {
                query.push_str(&format!("&cursor={cursor}"));
            }
            let page = self.get(&query).await;
            count += page["events"].as_array().map_or(0, Vec::len);
            match page["next_cursor"].as_str() {
                Some(next) => cursor = Some(next.to_owned()),
                None => return count,
            }
        }
    }

    async fn active_alarms(&self) -> usize {
        self.get("/alarms?state=active").await["alarms"]
            .as_array()
            .map_or(0, Vec::len)
    }
}

/// Until `polling` turns false: every [`POLL`], notes when each outbox row of the sink was first
/// seen delivered. A read-only connection next to the gateway's writer (WAL: readers do not
/// block it).
fn poll_deliveries(
    database: &Path,
    delivered: &Mutex<HashMap<i64, Timestamp>>,
    polling: &AtomicBool,
) {
    let connection = rusqlite::Connection::open_with_flags(
        database,
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .unwrap();
    connection.busy_timeout(Duration::from_millis(500)).unwrap();
    while polling.load(Ordering::Relaxed) {
        let seen = Timestamp::now();
        let seqs: Vec<i64> = connection
            .prepare_cached("SELECT seq FROM outbox WHERE sink = 'noc' AND status = 'delivered'")
            .and_then(|mut statement| {
                statement
                    .query_map([], |row| row.get(0))?
                    .collect::<rusqlite::Result<_>>()
            })
            .unwrap_or_default();
        {
            let mut delivered = delivered.lock().unwrap();
            for seq in seqs {
                delivered.entry(seq).or_insert(seen);
            }
        }
        std::thread::sleep(POLL);
    }
}

/// What the benchmark reads from a store.
struct StoreView {
    /// seq of each SD-WAN raise and clear.
    raises: Vec<i64>,
    clears: Vec<i64>,
    /// member seq → the notifications (seqs) that report it.
    members: HashMap<i64, Vec<i64>>,
    /// The notification events, in seq order.
    notifications: Vec<NotificationSummary>,
}

#[derive(Debug, Clone)]
struct NotificationSummary {
    seq: i64,
    number: u64,
    reason: String,
    alarms: usize,
    members: usize,
    all_cleared: bool,
}

fn read_store(database: &Path) -> StoreView {
    let connection =
        rusqlite::Connection::open_with_flags(database, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .unwrap();
    connection
        .busy_timeout(Duration::from_millis(2000))
        .unwrap();
    let seqs = |kind: &str| -> Vec<i64> {
        connection
            .prepare("SELECT seq FROM events WHERE kind = ?1 ORDER BY seq")
            .unwrap()
            .query_map([kind], |row| row.get(0))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap()
    };
    // Absent until the routing engine's store migration is in.
    let mut members: HashMap<i64, Vec<i64>> = HashMap::new();
    if let Ok(mut statement) =
        connection.prepare("SELECT member_seq, notification_seq FROM notification_members")
    {
        let rows = statement
            .query_map([], |row| Ok((row.get::<_, i64>(0)?, row.get::<_, i64>(1)?)))
            .unwrap();
        for row in rows {
            let (member, notification) = row.unwrap();
            members.entry(member).or_default().push(notification);
        }
    }
    let notifications = connection
        .prepare("SELECT seq, body FROM events WHERE kind = ?1 ORDER BY seq")
        .unwrap()
        .query_map([NOTIFICATION], |row| {
            Ok((row.get::<_, i64>(0)?, body_json(row.get_ref(1)?)))
        })
        .unwrap()
        .map(|row| {
            let (seq, event) = row.unwrap();
            let data = &event["data"];
            NotificationSummary {
                seq,
                number: data["number"].as_u64().unwrap_or(0),
                reason: data["reason"].as_str().unwrap_or("?").to_owned(),
                alarms: data["alarms"].as_array().map_or(0, Vec::len),
                members: data["members"].as_array().map_or(0, Vec::len),
                all_cleared: data["all_cleared"].as_bool().unwrap_or(false),
            }
        })
        .collect();
    StoreView {
        raises: seqs(RAISED),
        clears: seqs(CLEARED),
        members,
        notifications,
    }
}

/// An `events.body`: JSON text, or a BLOB of the length (4 bytes, little-endian) and an LZ4
/// block (`src/store/body.rs`).
fn body_json(value: rusqlite::types::ValueRef<'_>) -> Value {
    match value {
        rusqlite::types::ValueRef::Text(text) => serde_json::from_slice(text).unwrap_or_default(),
        rusqlite::types::ValueRef::Blob(blob) => lz4_flex::block::decompress_size_prepended(blob)
            .ok()
            .and_then(|json| serde_json::from_slice(&json).ok())
            .unwrap_or_default(),
        _ => Value::Null,
    }
}

impl StoreView {
    /// Raises and clears covered by a delivered row, with the earliest such delivery: their own
    /// row, or a notification that has them among its members.
    fn covered(
        &self,
        delivered: &HashMap<i64, Timestamp>,
    ) -> (HashMap<i64, Timestamp>, HashMap<i64, Timestamp>) {
        let cover = |seqs: &[i64]| -> HashMap<i64, Timestamp> {
            seqs.iter()
                .filter_map(|seq| {
                    let own = delivered.get(seq).copied();
                    let grouped = self
                        .members
                        .get(seq)
                        .into_iter()
                        .flatten()
                        .filter_map(|notification| delivered.get(notification).copied())
                        .min();
                    own.into_iter().chain(grouped).min().map(|at| (*seq, at))
                })
                .collect()
        };
        (cover(&self.raises), cover(&self.clears))
    }
}

/// Outbox rows of the sink marked delivered (each is one message the room accepted), and all its
/// rows (the messages once the backlog has drained).
fn outbox_rows(database: &Path) -> (u64, u64) {
    let connection =
        rusqlite::Connection::open_with_flags(database, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .unwrap();
    connection
        .query_row(
            "SELECT count(*) FILTER (WHERE status = 'delivered'), count(*)
             FROM outbox WHERE sink = 'noc'",
            [],
            |row| Ok((row.get::<_, i64>(0)? as u64, row.get::<_, i64>(1)? as u64)),
        )
        .unwrap()
}

fn room_messages(webex: &WebexSim, room: &str) -> Vec<SimMessage> {
    webex
        .messages()
        .into_iter()
        .filter(|message| message.room_id.as_deref() == Some(room))
        .collect()
}

/// One scenario's figures.
struct Figures {
    kind: Kind,
    raises: Posted,
    clears: Posted,
    history_raises: usize,
    history_clears: usize,
    still_active: usize,
    messages: usize,
    delivered_rows: u64,
    /// Every outbox row of the sink: the messages once everything is delivered.
    outbox_rows: u64,
    /// The first line of each message in the room, in order.
    first_lines: Vec<String>,
    pending: u64,
    dead: u64,
    first_message: Option<Duration>,
    raises_covered: usize,
    clears_covered: usize,
    /// First raise → every raise represented.
    raises_all: Option<Duration>,
    /// First clear → every clear represented.
    clears_all: Option<Duration>,
    raises_projected: Option<Duration>,
    clears_projected: Option<Duration>,
    notifications: Vec<NotificationSummary>,
    /// After the first raise, when each notification reached the room (None: not delivered).
    notification_times: Vec<Option<Duration>>,
}

impl Figures {
    fn represented(
        &self,
        all: Option<Duration>,
        covered: usize,
        projected: Option<Duration>,
        expected: usize,
    ) -> String {
        match (all, projected) {
            (Some(all), _) => format!("{:.1} s", all.as_secs_f64()),
            (None, Some(projected)) => format!(
                "not in the run ({covered} of {expected}); ≈ {:.0} s projected",
                projected.as_secs_f64()
            ),
            (None, None) => format!("not in the run ({covered} of {expected})"),
        }
    }

    /// Whether the routing engine made any notification (it is absent before issue 20 lands).
    fn grouped(&self) -> bool {
        !self.notifications.is_empty()
    }

    fn check(&self, options: &Options) {
        let expected = options.alarms();
        assert_eq!(
            self.raises.refused + self.clears.refused,
            0,
            "{:?}: alarms refused",
            self.kind
        );
        assert_eq!(
            self.history_raises, expected,
            "{:?}: raises missing from the history",
            self.kind
        );
        assert_eq!(
            self.history_clears, expected,
            "{:?}: clears missing from the history",
            self.kind
        );
        assert_eq!(self.dead, 0, "{:?}: dead letters", self.kind);
        // Each delivered row is one message the room accepted. While a backlog was still
        // draining when the gateway was stopped, one message may have been accepted whose row
        // the gateway had no time to mark.
        let unmarked = self.messages as i64 - self.delivered_rows as i64;
        let allowed = if self.pending > 0 { 0..=1 } else { 0..=0 };
        assert!(
            allowed.contains(&unmarked),
            "{:?}: {} rows marked delivered but {} messages in the room",
            self.kind,
            self.delivered_rows,
            self.messages
        );
    }
}

/// What makes notifications alike in the summary: number, reason, all cleared.
type AlikeKey<'a> = (u64, &'a str, bool);
/// A notification and when it reached the room.
type Delivered<'a> = (&'a NotificationSummary, Option<Duration>);

fn print_table(options: &Options, results: &[Figures]) {
    let expected = options.alarms();
    let seconds = |duration: Option<Duration>| {
        duration.map_or_else(
            || "–".to_owned(),
            |d| match d.as_secs_f64() {
                short if short < 10.0 => format!("{short:.2} s"),
                long => format!("{long:.1} s"),
            },
        )
    };
    let column = |kind: Kind| results.iter().find(|result| result.kind == kind);
    let (Some(today), Some(routes)) = (column(Kind::Today), column(Kind::Routes)) else {
        return;
    };
    let wait = options.group_wait.as_secs_f64();
    println!();
    println!(
        "| | (a) today: sink `match:`, no routes | (b) routes: group_by [{}], group_wait {}s, group_interval {}s | target |",
        options.group_by.join(", "),
        wait,
        options.group_interval.as_secs_f64()
    );
    println!("|---|---|---|---|");
    let row = |figure: &str, a: String, b: String, target: &str| {
        println!("| {figure} | {a} | {b} | {target} |");
    };
    let acknowledged = |figures: &Figures| {
        format!(
            "{} + {} (raises in {:.2} s)",
            figures.raises.acknowledged,
            figures.clears.acknowledged,
            figures.raises.took.as_secs_f64()
        )
    };
    row(
        &format!("alarms acknowledged (2xx), raises + clears, of {expected} + {expected}"),
        acknowledged(today),
        acknowledged(routes),
        "all",
    );
    let history = |figures: &Figures| {
        format!(
            "{} + {} (still active: {})",
            figures.history_raises, figures.history_clears, figures.still_active
        )
    };
    row(
        "in the history (`GET /api/v1/events?source=vmanage`), raises + clears",
        history(today),
        history(routes),
        &format!("{expected} + {expected}"),
    );
    let messages = |figures: &Figures| {
        if figures.pending > 0 {
            // Pending rows count the one in flight too: the total is what was marked delivered
            // plus what was still pending.
            format!(
                "{} by the end of the run ({} when drained)",
                figures.messages, figures.outbox_rows
            )
        } else {
            figures.messages.to_string()
        }
    };
    row(
        "messages posted to the room",
        messages(today),
        messages(routes),
        "",
    );
    row(
        "first alarm → first message in the room",
        seconds(today.first_message),
        seconds(routes.first_message),
        &format!("(b) ≤ {:.0} s (group_wait + 1 s)", wait + 1.0),
    );
    let raises = |figures: &Figures| {
        figures.represented(
            figures.raises_all,
            figures.raises_covered,
            figures.raises_projected,
            expected,
        )
    };
    row(
        "first alarm → every alarm represented in the room",
        raises(today),
        raises(routes),
        "≤ 30 s",
    );
    let clears = |figures: &Figures| {
        figures.represented(
            figures.clears_all,
            figures.clears_covered,
            figures.clears_projected,
            expected,
        )
    };
    row(
        "first clear → every clear represented in the room",
        clears(today),
        clears(routes),
        "(b) ≈ group_interval after the first message",
    );
    let notifications = |figures: &Figures| {
        if figures.grouped() {
            figures.notifications.len().to_string()
        } else {
            "none".to_owned()
        }
    };
    row(
        "notifications made by the routing engine",
        notifications(today),
        notifications(routes),
        "",
    );
    row(
        "dead letters",
        today.dead.to_string(),
        routes.dead.to_string(),
        "0",
    );
    println!();
    println!(
        "group_interval is {} s in this run, not the default 5 m, so that the clears' update comes within the run.",
        options.group_interval.as_secs_f64()
    );
    if !routes.grouped() {
        println!(
            "(b) made no notification: this gateway has no routing engine, so the route was not applied and (b) behaved like (a)."
        );
    }
    if routes.messages <= 10 {
        for (index, line) in routes.first_lines.iter().enumerate() {
            println!("(b) message {}: {line}", index + 1);
        }
    }
    // Notifications alike (same number, reason and end) on one line: a group per device makes
    // dozens.
    let mut alike: Vec<(AlikeKey, Vec<Delivered>)> = Vec::new();
    for (notification, at) in routes.notifications.iter().zip(&routes.notification_times) {
        let key = (
            notification.number,
            notification.reason.as_str(),
            notification.all_cleared,
        );
        match alike.iter_mut().find(|(seen, _)| *seen == key) {
            Some((_, list)) => list.push((notification, *at)),
            None => alike.push((key, vec![(notification, *at)])),
        }
    }
    for ((number, reason, all_cleared), list) in alike {
        let lines: usize = list.iter().map(|(n, _)| n.alarms).sum();
        let members: usize = list.iter().map(|(n, _)| n.members).sum();
        let first = list.iter().filter_map(|(_, at)| *at).min();
        let last = list.iter().filter_map(|(_, at)| *at).max();
        let when = if list.len() == 1 {
            format!("in the room at {}", seconds(first))
        } else {
            format!("in the room from {} to {}", seconds(first), seconds(last))
        };
        println!(
            "(b) {} notification(s) number {number} ({reason}): {lines} alarm lines, {members} members, all_cleared {all_cleared}, {when}",
            list.len()
        );
    }
}
