//! Crash loop: `kill -9` the gateway at random moments, over and over, while SD-WAN alarms are
//! posted to it and simulated switches push changes, with a Webex sink (the simulated Webex) and a
//! file sink taking every event. After each kill the gateway is started again on the same store.
//! At the end it runs until its outbox is empty, and the benchmark checks and prints:
//!
//! - the store opens every time and passes `PRAGMA integrity_check`;
//! - every alarm that got a 2xx is stored, exactly once;
//! - every stored alarm reached the room (and how many reached it more than once);
//! - every stored event reached the file sink (and how many lines are repeats: at-least-once);
//! - with a route grouping the alarms into a second file sink (issue 20): every notification
//!   event in the store reached that file, no group number was made twice (unique group and
//!   number), and every alarm is in some notification's members or has a decision other than
//!   `grouped` (none was left out of its group's notifications).
//!
//! Run: `bench/crash-loop.sh` or `cargo bench --bench crash_loop -- --kills 20`.

#[path = "support/mod.rs"]
mod support;

use std::collections::HashMap;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use netpulse::sim::dme::{DmeSim, DmeSimConfig};
use netpulse::sim::webex::{WebexSim, WebexSimConfig};
use tokio_util::sync::CancellationToken;

const FIXTURE: &str =
    include_str!("../tests/data/sdwan/webhook-interface-state-change-down-2019.json");
const LOADERS: usize = 4;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let mut kills = 20;
    let mut devices = 20;
    for pair in args.windows(2) {
        match pair[0].as_str() {
            "--kills" => kills = pair[1].parse().expect("--kills N"),
            "--devices" => devices = pair[1].parse().expect("--devices N"),
            _ => {}
        }
    }
    let runtime = support::runtime();
    runtime.block_on(run(kills, devices));
}

fn spawn_gateway(config: &std::path::Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_netpulse"))
        .args(["run", "-c"])
        .arg(config)
        .env("WEBEX_TOKEN", "sim-bot-token")
        .env("DEVICE_PASSWORD", "admin")
        .env("NETPULSE_LOG", "error")
        .stdout(Stdio::null())
        .spawn()
        .unwrap()
}

/// Waits for `/readyz`; the time it took, or None when the gateway exited or never got ready.
async fn wait_ready(port: u16, child: &mut Child) -> Option<Duration> {
    let started = Instant::now();
    let url = format!("http://127.0.0.1:{port}/readyz");
    while started.elapsed() < Duration::from_secs(60) {
        if let Ok(response) = reqwest::get(&url).await
            && response.status().is_success()
        {
            return Some(started.elapsed());
        }
        if let Ok(Some(_)) = child.try_wait() {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    None
}

/// Posts alarms with fresh uuids until the gateway stops answering; records each 2xx.
async fn load(port: u16, loader: usize, round: usize, accepted: Arc<Mutex<Vec<String>>>) {
    let client = reqwest::Client::new();
    let url = format!("http://127.0.0.1:{port}/hooks/sdwan");
    let original_uuid = "8459e3a0-5bea-4370-ab57-6f45f8022d66";
    for index in 0.. {
        let uuid = format!("loop-{round}-{loader}-{index}");
        let body = FIXTURE.replace(original_uuid, &uuid);
        let sent = client
            .post(&url)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await;
        match sent {
            Ok(response) if response.status().is_success() => accepted.lock().unwrap().push(uuid),
            _ => return,
        }
        // About 100 alarms/s per poster: enough in flight at every kill, and a backlog the
        // final run drains in seconds.
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn config(port: u16, webex: &WebexSim, room: &str, sim: &DmeSim, ca: &std::path::Path) -> String {
    let mut yaml = format!(
        "store: {{ path: netpulse.db }}\nhttp: {{ listen: \"127.0.0.1:{port}\" }}\nsources:\n  - name: vmanage\n    type: webhook\n    provider: sdwan\n    path: /hooks/sdwan\n    auth: {{ none: true }}\n    vmanage_url: https://vmanage.example.com\n"
    );
    for (index, device) in sim.devices().iter().enumerate() {
        yaml.push_str(&format!(
            "  - name: leaf{index}\n    type: dme\n    address: {}\n    username: admin\n    password: ${{DEVICE_PASSWORD}}\n    tls: {{ ca_file: {} }}\n    backoff: {{ initial: 100ms, max: 1s }}\n    subscriptions: [/api/class/ethpmPhysIf.json]\n",
            device.base_url(),
            ca.display()
        ));
    }
    yaml.push_str(&format!(
        "sinks:\n  - name: noc\n    type: webex\n    base_url: {}\n    token: ${{WEBEX_TOKEN}}\n    room_id: \"{room}\"\n    rate_limit: 2000\n    match: {{ source: [vmanage] }}\n  - {{ name: archive, type: file, path: events.jsonl }}\n  - {{ name: grouped, type: file, path: grouped.jsonl }}\n",
        webex.base_url()
    ));
    // Short timers, so that groups notify (and update) several times between two kills.
    yaml.push_str(
        "routes:\n  - name: sdwan\n    match: { source: [vmanage] }\n    sinks: [grouped]\n    group_by: [device]\n    group_wait: 500ms\n    group_interval: 1s\n",
    );
    yaml
}

async fn run(kills: usize, devices: usize) {
    let shutdown = CancellationToken::new();
    let webex = WebexSim::start(WebexSimConfig::default(), shutdown.clone())
        .await
        .unwrap();
    let room = webex.room_id("NOC").unwrap();
    let sim = DmeSim::start(
        DmeSimConfig {
            devices,
            ports: 8,
            vlans: 2,
            change_rate: 5.0,
            ..DmeSimConfig::default()
        },
        shutdown.clone(),
    )
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, sim.ca_pem().unwrap()).unwrap();
    let port = support::free_port();
    let config_path = dir.path().join("netpulse.yaml");
    std::fs::write(&config_path, config(port, &webex, &room, &sim, &ca)).unwrap();
    println!(
        "crash loop: {kills} × kill -9 at random moments; load: {LOADERS} webhook posters, {devices} switches at 5 changes/s each, a Webex and a file sink; machine: {} cores",
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(0)
    );

    let accepted = Arc::new(Mutex::new(Vec::new()));
    let mut rng = fastrand::Rng::with_seed(42);
    let mut ready_times = Vec::new();
    let restarts = AtomicU64::new(0);
    for round in 0..kills {
        let mut gateway = spawn_gateway(&config_path);
        let ready = wait_ready(port, &mut gateway)
            .await
            .unwrap_or_else(|| panic!("round {round}: the gateway did not start on the store"));
        ready_times.push(ready);
        restarts.fetch_add(1, Ordering::Relaxed);
        let loaders: Vec<_> = (0..LOADERS)
            .map(|loader| tokio::spawn(load(port, loader, round, accepted.clone())))
            .collect();
        tokio::time::sleep(Duration::from_millis(rng.u64(200..2000))).await;
        gateway.kill().unwrap();
        gateway.wait().unwrap();
        for loader in loaders {
            loader.await.unwrap();
        }
    }
    // The last start: it runs until every delivery is done.
    let mut gateway = spawn_gateway(&config_path);
    ready_times.push(
        wait_ready(port, &mut gateway)
            .await
            .expect("the final start"),
    );
    let database = dir.path().join("netpulse.db");
    let reader = netpulse::store::Reader::open(&database).unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    while reader.outbox_counts("noc").unwrap().pending > 0
        || reader.outbox_counts("archive").unwrap().pending > 0
        || reader.outbox_counts("grouped").unwrap().pending > 0
        || unreported(&database) > 0
    {
        assert!(
            Instant::now() < deadline,
            "the outbox did not drain (or alarms stayed unreported) within 120 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let _ = Command::new("kill").arg(gateway.id().to_string()).status();
    gateway.wait().unwrap();
    shutdown.cancel();

    let connection = rusqlite::Connection::open(&database).unwrap();
    let integrity: String = connection
        .query_row("PRAGMA integrity_check", [], |row| row.get(0))
        .unwrap();
    let accepted = accepted.lock().unwrap().clone();
    let mut missing = 0;
    for uuid in &accepted {
        let stored: i64 = connection
            .query_row(
                // Keys are scoped by their source since issue 19: `<source>:sdwan:<uuid>`.
                "SELECT count(*) FROM event_keys WHERE key = ?1",
                [format!("vmanage:sdwan:{uuid}")],
                |row| row.get(0),
            )
            .unwrap();
        if stored != 1 {
            missing += 1;
        }
    }
    let alarms_stored: i64 = connection
        .query_row(
            "SELECT count(*) FROM events WHERE source = 'vmanage'",
            [],
            |row| row.get(0),
        )
        .unwrap();
    // Notifications go to their route's sink only, not through the archive's `match:`.
    let events_stored: i64 = connection
        .query_row(
            "SELECT count(*) FROM events WHERE kind <> 'io.netpulse.notification'",
            [],
            |row| row.get(0),
        )
        .unwrap();
    let mut in_room: HashMap<String, usize> = HashMap::new();
    for message in webex.messages() {
        let markdown = message.markdown.unwrap_or_default();
        if let Some(uuid) = markdown
            .split("/details/")
            .nth(1)
            .and_then(|rest| rest.split(')').next())
        {
            *in_room.entry(uuid.to_owned()).or_default() += 1;
        }
    }
    let room_repeats: usize = in_room.values().map(|count| count - 1).sum();
    let lines = std::fs::read_to_string(dir.path().join("events.jsonl")).unwrap_or_default();
    let mut in_file: HashMap<u64, usize> = HashMap::new();
    for line in lines.lines().filter(|line| !line.is_empty()) {
        let event: serde_json::Value = serde_json::from_str(line).unwrap();
        *in_file.entry(event["seq"].as_u64().unwrap()).or_default() += 1;
    }
    let file_repeats: usize = in_file.values().map(|count| count - 1).sum();
    let notifications = Notifications::check(&reader, dir.path());
    let unreported = unreported(&database);
    ready_times.sort();
    println!();
    println!("| figure | value |");
    println!("|---|---|");
    println!("| kill -9 / restarts | {kills} / {} |", kills + 1);
    println!("| store integrity_check after the last run | {integrity} |");
    println!(
        "| restart to ready, median / max | {:.0?} / {:.0?} |",
        ready_times[ready_times.len() / 2],
        ready_times.last().unwrap()
    );
    println!("| alarms acknowledged (2xx) | {} |", accepted.len());
    println!("| acknowledged but not stored exactly once | **{missing}** |");
    println!(
        "| alarms stored (incl. ones stored but not acknowledged before a kill) | {alarms_stored} |"
    );
    println!(
        "| stored alarms that reached the room / posted more than once | {} / {room_repeats} |",
        in_room.len()
    );
    println!("| events stored (alarms and device changes) | {events_stored} |");
    println!(
        "| stored events in the file sink / lines repeated (at-least-once) | {} / {file_repeats} |",
        in_file.len()
    );
    println!(
        "| notification events stored / in the grouped file (lines repeated) | {} / {} ({}) |",
        notifications.stored, notifications.in_file, notifications.file_repeats
    );
    println!(
        "| notifications missing from their sink / group numbers made twice | **{}** / **{}** |",
        notifications.missing, notifications.numbers_twice
    );
    println!("| routed alarms in no notification and not decided otherwise | **{unreported}** |");
    assert_eq!(integrity, "ok");
    assert!(notifications.stored > 0, "the route made no notification");
    assert_eq!(
        notifications.missing, 0,
        "notifications missing from their sink"
    );
    assert_eq!(
        notifications.numbers_twice, 0,
        "a group's notification number was made twice"
    );
    assert_eq!(
        unreported, 0,
        "routed alarms left out of their group's notifications"
    );
    assert_eq!(missing, 0, "acknowledged alarms missing from the store");
    assert_eq!(
        in_room.len() as i64,
        alarms_stored,
        "stored alarms missing from the room"
    );
    assert_eq!(
        in_file.len() as i64,
        events_stored,
        "stored events missing from the file"
    );
}

/// Routed alarms (every `vmanage` event: the route takes them all, and the router's first start
/// preceded the first) that no notification reports and that have no decision other than
/// `grouped`: after the final run has settled, each one is an alarm a crash left out.
fn unreported(database: &std::path::Path) -> i64 {
    let connection = rusqlite::Connection::open(database).unwrap();
    connection.busy_timeout(Duration::from_secs(5)).unwrap();
    connection
        .query_row(
            "SELECT count(*) FROM events WHERE source = 'vmanage'
                AND NOT EXISTS (SELECT 1 FROM notification_members WHERE member_seq = events.seq)
                AND NOT EXISTS (SELECT 1 FROM route_trace WHERE route_trace.seq = events.seq
                    AND json_extract(decision, '$.outcome') <> 'grouped')",
            [],
            |row| row.get(0),
        )
        .unwrap()
}

/// The notification events of the store against the grouped file sink's lines.
struct Notifications {
    stored: usize,
    in_file: usize,
    /// Lines of a notification written more than once (the file sink is at-least-once).
    file_repeats: usize,
    /// Stored notifications that never reached the file.
    missing: usize,
    /// Stored notifications whose (group, number) another one already has.
    numbers_twice: usize,
}

impl Notifications {
    fn check(reader: &netpulse::store::Reader, dir: &std::path::Path) -> Notifications {
        let mut stored = Vec::new();
        let mut after = 0;
        loop {
            let page = reader
                .events(&netpulse::store::EventQuery {
                    filter: netpulse::store::EventFilter {
                        kind: Some("io.netpulse.notification".to_owned()),
                        ..Default::default()
                    },
                    after_seq: Some(after),
                    limit: 1000,
                    ..Default::default()
                })
                .unwrap();
            let Some(last) = page.last() else { break };
            after = last.seq;
            stored.extend(page);
        }
        let mut numbers = std::collections::HashSet::new();
        let numbers_twice = stored
            .iter()
            .filter(|event| {
                let group = event.data["group"].as_str().unwrap_or_default().to_owned();
                !numbers.insert((group, event.data["number"].as_u64()))
            })
            .count();
        let lines = std::fs::read_to_string(dir.join("grouped.jsonl")).unwrap_or_default();
        let mut in_file: HashMap<u64, usize> = HashMap::new();
        for line in lines.lines().filter(|line| !line.is_empty()) {
            let event: serde_json::Value = serde_json::from_str(line).unwrap();
            *in_file.entry(event["seq"].as_u64().unwrap()).or_default() += 1;
        }
        let missing = stored
            .iter()
            .filter(|event| !in_file.contains_key(&event.seq))
            .count();
        Notifications {
            stored: stored.len(),
            in_file: in_file.len(),
            file_repeats: in_file.values().map(|count| count - 1).sum(),
            missing,
            numbers_twice,
        }
    }
}
