//! Topology storm: one spine link down behind which 40 leaf ports report down, through the release
//! gateway, the DME fabric simulator (one spine, two leaves: a star, `topology.roots: [spine1]`)
//! and the Webex API simulator. Two gateways subscribe to the same switches in the same run, each
//! with its own store and its own room, with the same route (`group_by: [device]`):
//!
//! - **topology**: `topology: { roots: [spine1] }` (the sources also subscribe to
//!   `lldpAdjEp`/`cdpAdjEp`, the router holds what is behind a raised failure);
//! - **baseline**: `topology: { enabled: false }`.
//!
//! The storm: the spine1–leaf1 cable pulled (both ends report their port down), then leaf1's 40
//! host ports down. Printed per gateway: the notifications posted to the room (top-level messages
//! and replies), whether the first names the cause (spine1's port), how many held alarms its
//! thread lists (the "holding N alarms" headline, and the lines shown), whether every alarm is in
//! the history (`GET /api/v1/events`), and the time from pulling the cable to the first
//! notification (the simulator's arrival time of the message).
//!
//! Run: `bench/topology-storm.sh` (about a minute; `--ports 40 --group-wait 10 --observe 45`).

#[path = "support/mod.rs"]
mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use jiff::Timestamp;
use netpulse::sim::dme::{
    Change, DmeSim, DmeSimConfig, FabricShape, FabricSpec, LinkAction, LinkState,
};
use netpulse::sim::webex::{SimMessage, WebexSim, WebexSimConfig};
use serde_json::Value;
use tokio_util::sync::CancellationToken;

const API_TOKEN: &str = "topology-bench-api-token";

#[derive(Debug, Clone)]
struct Options {
    /// Leaf1's host ports that go down behind the pulled cable.
    ports: usize,
    group_wait: Duration,
    group_interval: Duration,
    /// How long the rooms are watched after the cable is pulled.
    observe: Duration,
}

impl Options {
    fn from_args() -> Options {
        let mut options = Options {
            ports: 40,
            group_wait: Duration::from_secs(10),
            group_interval: Duration::from_secs(30),
            observe: Duration::from_secs(45),
        };
        let mut args = std::env::args().skip(1);
        while let Some(arg) = args.next() {
            let mut value = || {
                args.next()
                    .unwrap_or_else(|| panic!("{arg} needs a value"))
                    .parse::<u64>()
                    .unwrap_or_else(|_| panic!("{arg}: a number"))
            };
            match arg.as_str() {
                "--ports" => options.ports = value() as usize,
                "--group-wait" => options.group_wait = Duration::from_secs(value()),
                "--group-interval" => options.group_interval = Duration::from_secs(value()),
                "--observe" => options.observe = Duration::from_secs(value()),
                // `cargo bench` passes `--bench`.
                "--bench" => {}
                other => panic!(
                    "unknown argument {other}; known: --ports --group-wait --group-interval --observe"
                ),
            }
        }
        options
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    Topology,
    Baseline,
}

impl Kind {
    fn room(self) -> &'static str {
        match self {
            Kind::Topology => "NOC topology",
            Kind::Baseline => "NOC baseline",
        }
    }
}

fn main() {
    let options = Options::from_args();
    support::runtime().block_on(run(options));
}

async fn run(options: Options) {
    let shutdown = CancellationToken::new();
    let sim = DmeSim::start(
        DmeSimConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            // Host ports; each leaf's uplink to the spine comes after them.
            ports: options.ports,
            vlans: 1,
            change_rate: 0.0,
            fabric: Some(FabricSpec {
                shape: FabricShape::SpineLeaf {
                    spines: 1,
                    leaves: 2,
                },
                domain: Some("lab.example.com".into()),
            }),
            ..DmeSimConfig::default()
        },
        shutdown.clone(),
    )
    .await
    .unwrap();
    let webex = WebexSim::start(
        WebexSimConfig {
            rooms: vec![
                Kind::Topology.room().to_owned(),
                Kind::Baseline.room().to_owned(),
            ],
            ..WebexSimConfig::default()
        },
        shutdown.clone(),
    )
    .await
    .unwrap();
    println!(
        "topology storm: 1 spine, 2 leaves; spine1-leaf1 cable pulled, then {} leaf1 host ports down; route group_by [device], group_wait {:?}, group_interval {:?}; machine: {} cores",
        options.ports,
        options.group_wait,
        options.group_interval,
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(0)
    );
    // The simulator starts a few ports down at random: every host port of leaf1 up first, so
    // that the storm takes down all of them.
    let leaf1 = sim
        .devices()
        .iter()
        .find(|device| device.name() == "leaf1")
        .unwrap();
    set_ports(leaf1, options.ports, "up");
    let mut gateways = Vec::new();
    for kind in [Kind::Topology, Kind::Baseline] {
        gateways.push(Gateway::start(kind, &sim, &webex, &options).await);
    }

    // Ready: every switch has both gateways' subscriptions (1 + lldp + cdp for topology, 1 for
    // the baseline) and the topology gateway's map has both links up.
    let clock = Instant::now();
    loop {
        let subscribed = sim
            .devices()
            .iter()
            .all(|device| device.stats().subscriptions_active >= 4);
        let map = gateways[0].get("/api/v1/topology").await;
        let links_up = map["edges"]
            .as_array()
            .is_some_and(|edges| edges.len() == 2 && edges.iter().all(|edge| edge["up"] == true));
        if subscribed && links_up {
            break;
        }
        assert!(
            clock.elapsed() < Duration::from_secs(60),
            "not ready within 60 s: {map}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    println!("[{:>5.1?}] subscribed, links up", clock.elapsed());

    // The storm.
    let fabric = sim.fabric().unwrap();
    let pulled = Timestamp::now();
    let storm = Instant::now();
    fabric
        .set_link(&LinkAction {
            device: "spine1".into(),
            port: None,
            neighbor: Some("leaf1".into()),
            state: LinkState::Down,
        })
        .unwrap();
    set_ports(leaf1, options.ports, "down");
    println!(
        "[{:>5.1?}] cable pulled, {} ports down in {:.2?}",
        clock.elapsed(),
        options.ports,
        storm.elapsed()
    );
    // The alarms: both ends of the cable and the host ports.
    let alarms = options.ports + 2;
    while storm.elapsed() < options.observe {
        tokio::time::sleep(Duration::from_millis(250)).await;
    }

    let mut results = Vec::new();
    for gateway in &gateways {
        results.push(gateway.figures(&webex, pulled, alarms).await);
    }
    print_table(&results, alarms);
    for gateway in gateways {
        gateway.stop();
    }
    shutdown.cancel();
    let topology = &results[0];
    assert!(
        topology.names_cause && topology.top_level == 1 && topology.history == alarms,
        "the topology gateway: one notification naming the cause, every alarm in the history"
    );
}

/// Sets `operSt` of the host ports `eth1/1..=ports` of `device`.
fn set_ports(device: &netpulse::sim::dme::SimDevice, ports: usize, state: &str) {
    for port in 1..=ports {
        device
            .apply(Change::Set {
                dn: format!("sys/intf/phys-[eth1/{port}]/phys"),
                attrs: BTreeMap::from([("operSt".to_owned(), state.to_owned())]),
            })
            .unwrap();
    }
}

struct Gateway {
    kind: Kind,
    port: u16,
    room: String,
    child: support::Gateway,
    _dir: tempfile::TempDir,
}

impl Gateway {
    async fn start(kind: Kind, sim: &DmeSim, webex: &WebexSim, options: &Options) -> Gateway {
        let dir = tempfile::tempdir().unwrap();
        let ca = dir.path().join("ca.pem");
        std::fs::write(&ca, sim.ca_pem().unwrap()).unwrap();
        let port = support::free_port();
        let room = webex.room_id(kind.room()).unwrap();
        let path: PathBuf = dir.path().join("netpulse.yaml");
        std::fs::write(
            &path,
            config(kind, sim, webex, &room, port, &ca, dir.path(), options),
        )
        .unwrap();
        let mut child = support::spawn_gateway(&path, API_TOKEN);
        support::wait_ready(port, &mut child).await;
        Gateway {
            kind,
            port,
            room,
            child: support::Gateway(child),
            _dir: dir,
        }
    }

    async fn get(&self, path: &str) -> Value {
        let response = reqwest::Client::new()
            .get(format!("http://127.0.0.1:{}{path}", self.port))
            .bearer_auth(API_TOKEN)
            .send()
            .await
            .unwrap();
        response.json().await.unwrap_or(Value::Null)
    }

    /// The distinct alarms raised in the history (device and dn).
    async fn history(&self) -> usize {
        let mut raised = BTreeSet::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut path = "/api/v1/events?order=oldest&limit=1000".to_owned();
            if let Some(cursor) = &cursor {
                path.push_str(&format!("&cursor={cursor}"));
            }
            let page = self.get(&path).await;
            let events = page["events"].as_array().cloned().unwrap_or_default();
            for event in &events {
                if event["alarmstate"] == "raised" {
                    raised.insert(format!(
                        "{} {}",
                        event["device"].as_str().unwrap_or(""),
                        event["subject"].as_str().unwrap_or("")
                    ));
                }
            }
            match page["next_cursor"].as_str() {
                Some(next) if !events.is_empty() => cursor = Some(next.to_owned()),
                _ => {
                    if std::env::var_os("TOPOLOGY_STORM_DEBUG").is_some() {
                        eprintln!("{:?} raised: {raised:#?}", self.kind);
                    }
                    return raised.len();
                }
            }
        }
    }

    async fn figures(&self, webex: &WebexSim, pulled: Timestamp, alarms: usize) -> Figures {
        let messages: Vec<SimMessage> = webex
            .messages()
            .into_iter()
            .filter(|message| message.room_id.as_deref() == Some(self.room.as_str()))
            .collect();
        let text = |message: &SimMessage| message.markdown.clone().unwrap_or_default();
        let first = messages.iter().find(|message| message.parent_id.is_none());
        let thread: Vec<&SimMessage> = first
            .map(|first| {
                messages
                    .iter()
                    .filter(|message| {
                        message.id == first.id || message.parent_id.as_deref() == Some(&first.id)
                    })
                    .collect()
            })
            .unwrap_or_default();
        if std::env::var_os("TOPOLOGY_STORM_DEBUG").is_some() {
            for message in &messages {
                eprintln!("{:?} message: {}", self.kind, text(message));
            }
        }
        let held_headline = thread
            .iter()
            .filter_map(|message| holding(&text(message)))
            .max()
            .unwrap_or(0);
        let held_lines = thread
            .iter()
            .map(|message| text(message).matches("· *held*").count())
            .sum();
        Figures {
            kind: self.kind,
            messages: messages.len(),
            top_level: messages.iter().filter(|m| m.parent_id.is_none()).count(),
            names_cause: first.is_some_and(|first| {
                let text = text(first);
                text.contains("Root cause: spine1 eth1/")
            }),
            held_headline,
            held_lines,
            history: self.history().await,
            first_after: first.map(|first| {
                Duration::from_millis(
                    (first.created.as_millisecond() - pulled.as_millisecond()).max(0) as u64,
                )
            }),
            alarms,
        }
    }

    fn stop(mut self) {
        let _ = self.child.0.kill();
        let _ = self.child.0.wait();
    }
}

/// N in "holding N alarms behind it".
fn holding(text: &str) -> Option<usize> {
    let after = text.split_once("holding ")?.1;
    after.split_whitespace().next()?.parse().ok()
}

#[allow(clippy::too_many_arguments)]
fn config(
    kind: Kind,
    sim: &DmeSim,
    webex: &WebexSim,
    room: &str,
    port: u16,
    ca: &std::path::Path,
    dir: &std::path::Path,
    options: &Options,
) -> String {
    let mut yaml = format!(
        "store: {{ path: {store} }}\nhttp: {{ listen: \"127.0.0.1:{port}\" }}\napi: {{ auth: {{ tokens: [{{ name: bench, token: \"${{API_TOKEN}}\" }}] }} }}\nsources:\n",
        store = dir.join("netpulse.db").display()
    );
    for device in sim.devices() {
        yaml.push_str(&format!(
            "  - {{ name: {}, type: dme, address: \"{}\", username: admin, password: admin, tls: {{ ca_file: {} }}, subscriptions: [/api/class/ethpmPhysIf.json] }}\n",
            device.name(),
            device.base_url(),
            ca.display()
        ));
    }
    yaml.push_str(match kind {
        Kind::Topology => "topology: { roots: [spine1] }\n",
        Kind::Baseline => "topology: { enabled: false }\n",
    });
    yaml.push_str(&format!(
        "sinks:
  - {{ name: noc, type: webex, token: \"${{WEBEX_TOKEN}}\", room_id: \"{room}\", base_url: \"{base}\", rate_limit: 50 }}
routes:
  - {{ name: fabric-ports, match: {{ type_prefix: [com.cisco.dme.], min_severity: major }}, sinks: [noc], group_by: [device], group_wait: {wait}s, group_interval: {interval}s }}
",
        base = webex.base_url(),
        wait = options.group_wait.as_secs(),
        interval = options.group_interval.as_secs(),
    ));
    yaml
}

struct Figures {
    kind: Kind,
    messages: usize,
    top_level: usize,
    names_cause: bool,
    held_headline: usize,
    held_lines: usize,
    history: usize,
    first_after: Option<Duration>,
    alarms: usize,
}

fn print_table(results: &[Figures], alarms: usize) {
    println!();
    println!(
        "| gateway | notifications (top-level / all messages) | first names the cause | held listed in its thread (headline / lines shown) | alarms in the history | cable pulled → first notification |"
    );
    println!("|---|---|---|---|---|---|");
    for figures in results {
        println!(
            "| {} | {} / {} | {} | {} / {} | {} of {} | {} |",
            match figures.kind {
                Kind::Topology => "topology on",
                Kind::Baseline => "topology off (baseline)",
            },
            figures.top_level,
            figures.messages,
            if figures.names_cause { "yes" } else { "no" },
            figures.held_headline,
            figures.held_lines,
            figures.history,
            figures.alarms,
            figures
                .first_after
                .map_or("none".to_owned(), |after| format!(
                    "{:.1} s",
                    after.as_secs_f64()
                )),
        );
    }
    println!("\n{alarms} alarms: both ends of the cable and the host ports behind it.");
}
