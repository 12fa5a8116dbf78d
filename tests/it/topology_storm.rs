//! A root cause found from LLDP/CDP, end to end: a simulated star fabric (one spine, three
//! leaves), one DME source per switch with `topology:` on, a route to the Webex simulator's room.
//! The spine1–leaf1 cable is pulled and leaf1's host ports go down behind it: the room gets ONE
//! notification naming spine1's port as the root cause and listing what it holds, the held
//! alarms' traces say so, the history keeps every alarm; the cable plugged back, what is still
//! raised behind it is notified then.

use std::time::Duration;

use netpulse::sim::dme::{DmeSim, DmeSimConfig, FabricShape, FabricSpec, LinkAction, LinkState};
use netpulse::sim::webex::{SimMessage, WebexSim, WebexSimConfig};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use crate::support::{Running, wait_until};

const TOKEN: &str = "read-token-0123456789";
const HOST_PORTS: [&str; 3] = ["eth1/1", "eth1/2", "eth1/3"];

fn config(sim: &DmeSim, webex: &WebexSim, ca: &std::path::Path) -> String {
    let mut yaml = String::from(
        "store: { path: netpulse.db }\nhttp: { listen: \"127.0.0.1:0\" }\napi: { auth: { tokens: [{ name: noc, token: \"${T}\" }] } }\nsources:\n",
    );
    for device in sim.devices() {
        yaml.push_str(&format!(
            "  - {{ name: {}, type: dme, address: \"{}\", username: admin, password: \"${{P}}\", tls: {{ ca_file: {} }}, subscription_refresh: 2s, backoff: {{ initial: 200ms, max: 2s }}, subscriptions: [/api/class/ethpmPhysIf.json] }}\n",
            device.name(),
            device.base_url(),
            ca.display()
        ));
    }
    yaml.push_str(&format!(
        "topology: {{ roots: [spine1] }}
sinks:
  - {{ name: noc, type: webex, token: sim-bot-token, room_id: \"{room}\", base_url: \"{base}\", rate_limit: 50 }}
routes:
  - {{ name: fabric-ports, match: {{ type_prefix: [com.cisco.dme.], min_severity: major }}, sinks: [noc], group_by: [device], group_wait: 4s, group_interval: 2s }}
",
        room = webex.room_id("NOC").unwrap(),
        base = webex.base_url(),
    ));
    yaml
}

async fn get(running: &Running, path: &str) -> Value {
    let response = reqwest::Client::new()
        .get(running.url(path))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success(), "{path}: {response:?}");
    response.json().await.unwrap()
}

/// Every event of the history, oldest first.
async fn history(running: &Running) -> Vec<Value> {
    let mut all = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut path = "/api/v1/events?order=oldest&limit=500".to_owned();
        if let Some(cursor) = &cursor {
            path.push_str(&format!("&cursor={cursor}"));
        }
        let page = get(running, &path).await;
        let events = page["events"].as_array().cloned().unwrap_or_default();
        let done = events.is_empty();
        all.extend(events);
        match page["next_cursor"].as_str() {
            Some(next) if !done => cursor = Some(next.to_owned()),
            _ => return all,
        }
    }
}

fn text(message: &SimMessage) -> String {
    message
        .markdown
        .clone()
        .or(message.text.clone())
        .unwrap_or_default()
}

/// The bot's top-level messages (not replies in a thread).
fn top_level(webex: &WebexSim) -> Vec<SimMessage> {
    webex
        .messages()
        .into_iter()
        .filter(|message| message.parent_id.is_none())
        .collect()
}

/// Sets a port of `device` down or up through the simulator's control API (`POST /_sim/change`).
async fn set_port(client: &reqwest::Client, base: &str, port: &str, state: &str) {
    let response = client
        .post(format!("{base}/_sim/change"))
        .json(&json!({"op": "set", "dn": format!("sys/intf/phys-[{port}]/phys"), "attrs": {"operSt": state}}))
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success(), "{response:?}");
}

/// Pulls or plugs a cable through the control API (`POST /_sim/link`).
async fn set_link(client: &reqwest::Client, base: &str, action: &LinkAction) {
    let response = client
        .post(format!("{base}/_sim/link"))
        .json(action)
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success(), "{response:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pulled_spine_link_makes_one_notification_naming_it_and_holding_what_is_behind() {
    let shutdown = CancellationToken::new();
    let sim = DmeSim::start(
        DmeSimConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            ports: 4,
            vlans: 1,
            fabric: Some(FabricSpec {
                shape: FabricShape::SpineLeaf {
                    spines: 1,
                    leaves: 3,
                },
                domain: Some("lab.example.com".into()),
            }),
            ..DmeSimConfig::default()
        },
        shutdown.clone(),
    )
    .await
    .unwrap();
    let webex = WebexSim::start(WebexSimConfig::default(), shutdown.clone())
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, sim.ca_pem().unwrap()).unwrap();
    let client = reqwest::Client::builder()
        .add_root_certificate(
            reqwest::Certificate::from_pem(sim.ca_pem().unwrap().as_bytes()).unwrap(),
        )
        .build()
        .unwrap();
    let yaml = config(&sim, &webex, &ca);
    let running = Running::start_in(dir, &yaml, &[("P", "admin"), ("T", TOKEN)]).await;

    // The map: three links, all up, spine1 the root.
    let mut topology = Value::Null;
    for _ in 0..200 {
        topology = get(&running, "/api/v1/topology").await;
        let edges = topology["edges"].as_array().cloned().unwrap_or_default();
        if edges.len() == 3 && edges.iter().all(|edge| edge["up"] == true) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let edges = topology["edges"].as_array().expect("edges");
    assert_eq!(edges.len(), 3, "{topology:#}");
    assert_eq!(topology["roots"], json!(["spine1"]), "{topology:#}");
    let leaf1_edge = edges
        .iter()
        .find(|edge| edge["a"] == "leaf1" || edge["b"] == "leaf1")
        .expect("leaf1's uplink");
    assert!(
        leaf1_edge["a"] == "spine1" || leaf1_edge["b"] == "spine1",
        "{leaf1_edge}"
    );
    let spine_port = if leaf1_edge["a"] == "spine1" {
        leaf1_edge["a_port"].as_str().unwrap().to_owned()
    } else {
        leaf1_edge["b_port"].as_str().unwrap().to_owned()
    };
    assert!(top_level(&webex).is_empty(), "nothing to say yet");

    // The storm: the cable, then leaf1's host ports.
    let spine1 = sim.devices()[0].base_url();
    let leaf1 = sim
        .devices()
        .iter()
        .find(|device| device.name() == "leaf1")
        .unwrap()
        .base_url();
    // leaf1's end reports first (its uplink, then its host ports), spine1's a moment later: the
    // host ports are held behind leaf1's uplink at first, and move behind spine1's port when it
    // comes (the most upstream), within the groups' wait.
    let leaf_uplink = if leaf1_edge["a"] == "leaf1" {
        leaf1_edge["a_port"].as_str().unwrap().to_owned()
    } else {
        leaf1_edge["b_port"].as_str().unwrap().to_owned()
    };
    set_port(&client, &leaf1, &leaf_uplink, "down").await;
    for port in HOST_PORTS {
        set_port(&client, &leaf1, port, "down").await;
    }
    for _ in 0..100 {
        let events = history(&running).await;
        let down = |port: &str| {
            events.iter().any(|event| {
                event["device"] == "leaf1"
                    && event["alarmstate"] == "raised"
                    && event["subject"] == format!("sys/intf/phys-[{port}]/phys")
            })
        };
        if HOST_PORTS.iter().all(|port| down(port)) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    set_link(
        &client,
        &spine1,
        &LinkAction {
            device: "spine1".into(),
            port: None,
            neighbor: Some("leaf1".into()),
            state: LinkState::Down,
        },
    )
    .await;

    wait_until("a notification names the root cause", || {
        top_level(&webex)
            .iter()
            .any(|message| text(message).contains("Root cause"))
    })
    .await;
    // Wait until the holds and the history settle: every alarm raised, the root holding them.
    let root_key = loop_until_hold(&running, HOST_PORTS.len() + 1).await;
    // Give any stray notification (a group of leaf1's own) the time to be posted: two group_waits.
    tokio::time::sleep(Duration::from_secs(8)).await;
    let messages = top_level(&webex);
    assert_eq!(messages.len(), 1, "ONE notification: {messages:#?}");
    let first = text(&messages[0]);
    assert!(
        first.contains("Root cause") && first.contains("spine1") && first.contains(&spine_port),
        "names spine1 {spine_port}: {first}"
    );
    // The host ports and the cable's far end on leaf1.
    let holding = format!("holding {} alarms behind it", HOST_PORTS.len() + 1);
    assert!(first.contains(&holding), "{holding}: {first}");
    let held_lines = webex
        .messages()
        .iter()
        .map(text)
        .collect::<Vec<_>>()
        .join("\n");
    for port in HOST_PORTS {
        assert!(
            held_lines.contains(&format!("**leaf1** {port} link down · *held*")),
            "{port} listed: {held_lines}"
        );
    }

    // The history keeps every alarm, and the held ones' traces say behind what.
    let events = history(&running).await;
    let raised = |device: &str, port: &str| {
        events
            .iter()
            .filter(|event| {
                event["device"] == device
                    && event["alarmstate"] == "raised"
                    && event["subject"] == format!("sys/intf/phys-[{port}]/phys")
            })
            .cloned()
            .collect::<Vec<_>>()
    };
    assert_eq!(raised("spine1", &spine_port).len(), 1, "the root's alarm");
    for port in HOST_PORTS {
        let event = raised("leaf1", port);
        assert_eq!(event.len(), 1, "leaf1 {port} in the history");
        let id = event[0]["id"].as_str().unwrap();
        let trace = get(&running, &format!("/api/v1/events/{id}/trace")).await;
        // The trace records the decision when the alarm came: held behind leaf1's uplink,
        // which spine1's port (the root now) holds in turn.
        let held = trace.to_string();
        let uplink_key = format!("leaf1:sys/intf/phys-[{leaf_uplink}]/phys");
        assert!(
            held.contains("\"held\"") && (held.contains(&root_key) || held.contains(&uplink_key)),
            "leaf1 {port} held behind {root_key} or {uplink_key}: {trace:#}"
        );
    }

    // The cable back: the root clears, the host ports still down behind it are notified now.
    let before = webex.messages().len();
    set_link(
        &client,
        &spine1,
        &LinkAction {
            device: "spine1".into(),
            port: None,
            neighbor: Some("leaf1".into()),
            state: LinkState::Up,
        },
    )
    .await;
    wait_until(
        "the host ports still down are notified in leaf1's own group",
        || {
            top_level(&webex).iter().any(|message| {
                let text = text(message);
                text.contains("device: **leaf1**")
                    && HOST_PORTS
                        .iter()
                        .all(|port| text.contains(&format!("**leaf1** {port} link down")))
            })
        },
    )
    .await;
    let later = webex.messages()[before..].to_vec();
    let released = later
        .iter()
        .find(|message| text(message).contains("device: **leaf1**"))
        .unwrap();
    assert!(released.parent_id.is_none(), "a thread of its own");
    let root_update = later
        .iter()
        .find(|message| text(message).contains("Root cause"))
        .expect("the root's group reports its clear");
    assert_eq!(
        root_update.parent_id.as_deref(),
        Some(messages[0].id.as_str()),
        "in the first notification's thread"
    );
    assert!(
        // The host ports, and leaf1's uplink when its clear comes after spine1's.
        text(root_update).contains("Root cause: spine1") && text(root_update).contains("released"),
        "{}",
        text(root_update)
    );
    running.stop().await;
    shutdown.cancel();
}

/// Waits until `/api/v1/topology` shows one hold holding `count` alarms; returns its root key.
async fn loop_until_hold(running: &Running, count: usize) -> String {
    let mut topology = Value::Null;
    for _ in 0..200 {
        topology = get(running, "/api/v1/topology").await;
        if let Some(hold) = topology["holds"].as_array().and_then(|holds| holds.first())
            && hold["held"].as_array().map(Vec::len) == Some(count)
        {
            assert_eq!(hold["device"], "spine1", "{topology:#}");
            return hold["root"].as_str().unwrap().to_owned();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("no hold of {count} alarms: {topology:#}");
}
