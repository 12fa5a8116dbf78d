//! Topology from the network itself, source side: with `topology:` on, the DME sources of a
//! simulated spine/leaf fabric publish the adjacencies they find, and a link pulled in the
//! simulator shows on both ends as a port down and its adjacencies deleted.

use netpulse::event::{AlarmState, Event};
use netpulse::sim::dme::{DmeSim, DmeSimConfig, FabricShape, FabricSpec, LinkAction, LinkState};
use tokio_util::sync::CancellationToken;

use crate::support::{Running, wait_until};

fn config(sim: &DmeSim, ca: &std::path::Path, topology: &str) -> String {
    let mut yaml =
        String::from("store: { path: netpulse.db }\nhttp: { listen: \"127.0.0.1:0\" }\nsources:\n");
    for device in sim.devices() {
        yaml.push_str(&format!(
            "  - {{ name: {}, type: dme, address: \"{}\", username: admin, password: \"${{P}}\", tls: {{ ca_file: {} }}, subscription_refresh: 2s, backoff: {{ initial: 200ms, max: 2s }}, subscriptions: [/api/class/ethpmPhysIf.json] }}\n",
            device.name(),
            device.base_url(),
            ca.display()
        ));
    }
    yaml.push_str(topology);
    yaml.push_str("sinks:\n  - { name: archive, type: file, path: events.jsonl }\n");
    yaml
}

fn read_events(running: &Running) -> Vec<Event> {
    std::fs::read_to_string(running.dir.path().join("events.jsonl"))
        .unwrap_or_default()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

fn from<'a>(events: &'a [Event], device: &str, class: &str, kind: &str) -> Vec<&'a Event> {
    events
        .iter()
        .filter(|event| {
            event.device == device
                && event.objectclass.as_deref() == Some(class)
                && event.kind == kind
        })
        .collect()
}

async fn fabric() -> (DmeSim, CancellationToken, tempfile::TempDir) {
    let shutdown = CancellationToken::new();
    let sim = DmeSim::start(
        DmeSimConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            ports: 4,
            vlans: 1,
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
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("ca.pem"), sim.ca_pem().unwrap()).unwrap();
    (sim, shutdown, dir)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn adjacencies_arrive_as_events_and_a_pulled_link_shows_on_both_ends() {
    let (sim, sim_shutdown, dir) = fabric().await;
    let yaml = config(
        &sim,
        &dir.path().join("ca.pem"),
        "topology: { roots: [spine1] }\n",
    );
    let running = Running::start_in(dir, &yaml, &[("P", "admin")]).await;
    let created = "com.cisco.dme.created";
    wait_until("every device published its neighbours", || {
        let events = read_events(&running);
        from(&events, "spine1", "lldpAdjEp", created).len() == 2
            && from(&events, "spine1", "cdpAdjEp", created).len() == 2
            && ["leaf1", "leaf2"].iter().all(|leaf| {
                from(&events, leaf, "lldpAdjEp", created).len() == 1
                    && from(&events, leaf, "cdpAdjEp", created).len() == 1
            })
    })
    .await;
    let events = read_events(&running);
    let leaf1 = from(&events, "leaf1", "lldpAdjEp", created)[0];
    assert_eq!(
        leaf1.subject.as_deref(),
        Some("sys/lldp/inst/if-[eth1/5]/adj-1")
    );
    let attributes = &leaf1.data["lldpAdjEp"]["attributes"];
    assert_eq!(attributes["sysName"], "spine1.lab.example.com");
    assert_eq!(attributes["portIdV"], "Ethernet1/1");
    assert!(leaf1.resync, "found at subscribe time");
    assert_eq!(leaf1.alarmstate, AlarmState::Info);
    let cdp = from(&events, "spine1", "cdpAdjEp", created);
    assert!(
        cdp.iter()
            .any(|event| event.data["cdpAdjEp"]["attributes"]["devId"]
                .as_str()
                .unwrap()
                .starts_with("leaf2.lab.example.com(")),
        "{cdp:?}"
    );

    let fabric = sim.fabric().unwrap();
    fabric
        .set_link(&LinkAction {
            device: "spine1".into(),
            port: Some("eth1/1".into()),
            neighbor: None,
            state: LinkState::Down,
        })
        .unwrap();
    let deleted = "com.cisco.dme.deleted";
    wait_until(
        "both ends report the link down and lose the neighbour",
        || {
            let events = read_events(&running);
            [("leaf1", "eth1/5"), ("spine1", "eth1/1")]
                .iter()
                .all(|(device, port)| {
                    let adjacency = |class: &str, protocol: &str| {
                        from(&events, device, class, deleted).iter().any(|event| {
                            event.subject.as_deref()
                                == Some(format!("sys/{protocol}/inst/if-[{port}]/adj-1").as_str())
                        })
                    };
                    let port_down = events.iter().any(|event| {
                        event.device == *device
                            && event.alarmstate == AlarmState::Raised
                            && event.subject.as_deref()
                                == Some(format!("sys/intf/phys-[{port}]/phys").as_str())
                    });
                    port_down && adjacency("lldpAdjEp", "lldp") && adjacency("cdpAdjEp", "cdp")
                })
        },
    )
    .await;
    let events = read_events(&running);
    let gone = from(&events, "spine1", "lldpAdjEp", deleted)[0];
    assert_eq!(gone.summary, "eth1/1 LLDP neighbour gone");
    assert_eq!(gone.alarmstate, AlarmState::Info, "never an alarm");
    assert!(
        from(&events, "leaf2", "lldpAdjEp", deleted).is_empty(),
        "leaf2's link is untouched"
    );

    fabric
        .set_link(&LinkAction {
            device: "leaf1".into(),
            port: None,
            neighbor: Some("spine1".into()),
            state: LinkState::Up,
        })
        .unwrap();
    wait_until("both ends find their neighbour again", || {
        let events = read_events(&running);
        from(&events, "leaf1", "lldpAdjEp", created).len() == 2
            && from(&events, "spine1", "cdpAdjEp", created).len() == 3
    })
    .await;
    running.stop().await;
    sim_shutdown.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_topology_no_adjacency_is_subscribed() {
    let (sim, sim_shutdown, dir) = fabric().await;
    let yaml = config(
        &sim,
        &dir.path().join("ca.pem"),
        "topology: { enabled: false }\n",
    );
    let running = Running::start_in(dir, &yaml, &[("P", "admin")]).await;
    wait_until("every source subscribed", || {
        sim.devices()
            .iter()
            .all(|device| device.stats().subscriptions_active == 1)
    })
    .await;
    sim.fabric()
        .unwrap()
        .set_link(&LinkAction {
            device: "leaf2".into(),
            port: Some("eth1/5".into()),
            neighbor: None,
            state: LinkState::Down,
        })
        .unwrap();
    wait_until("the port down arrives", || {
        read_events(&running)
            .iter()
            .any(|event| event.device == "leaf2" && event.alarmstate == AlarmState::Raised)
    })
    .await;
    assert!(
        read_events(&running)
            .iter()
            .all(|event| event.objectclass.as_deref() != Some("lldpAdjEp")),
        "no adjacency events"
    );
    running.stop().await;
    sim_shutdown.cancel();
}
