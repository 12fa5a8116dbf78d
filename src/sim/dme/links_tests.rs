//! The fabric end to end: real clients subscribed on both ends of a link see it go down and up,
//! and a switch switched off takes its neighbours' ends down with it.

use std::time::Duration;

use futures_util::StreamExt;
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use tokio_util::sync::CancellationToken;

use crate::sim::dme::{
    DmeSim, DmeSimConfig, FabricShape, FabricSpec, SimDevice, SimTls, TopologyDump,
};

const DEADLINE: Duration = Duration::from_secs(10);

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

async fn fabric(spines: usize, leaves: usize) -> (DmeSim, CancellationToken) {
    let shutdown = CancellationToken::new();
    let config = DmeSimConfig {
        tls: SimTls::Plain,
        ports: 4,
        vlans: 1,
        fabric: Some(FabricSpec {
            shape: FabricShape::SpineLeaf { spines, leaves },
            domain: None,
        }),
        ..DmeSimConfig::default()
    };
    (
        DmeSim::start(config, shutdown.clone()).await.unwrap(),
        shutdown,
    )
}

/// A client of one switch subscribed to its ports' link state and its LLDP and CDP adjacencies.
struct Watcher {
    socket: Socket,
}

impl Watcher {
    async fn start(device: &SimDevice) -> (Watcher, Value) {
        let client = reqwest::Client::new();
        let base = device.base_url();
        let login: Value = client
            .post(format!("{base}/api/aaaLogin.json"))
            .body(r#"{"aaaUser":{"attributes":{"name":"admin","pwd":"admin"}}}"#)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let token = login["imdata"][0]["aaaLogin"]["attributes"]["token"]
            .as_str()
            .unwrap()
            .to_owned();
        let (socket, _) =
            tokio_tungstenite::connect_async(format!("ws://{}/socket{token}", device.addr()))
                .await
                .unwrap();
        let mut snapshot = Vec::new();
        for class in ["ethpmPhysIf", "lldpAdjEp", "cdpAdjEp"] {
            let body: Value = client
                .get(format!("{base}/api/class/{class}.json?subscription=yes"))
                .header("Cookie", format!("APIC-cookie={token}"))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            snapshot.extend(body["imdata"].as_array().unwrap().iter().cloned());
        }
        (Watcher { socket }, Value::Array(snapshot))
    }

    /// The next pushed object as (class, dn, status, attributes); `None` when the socket closed.
    async fn next(&mut self) -> Option<(String, String, String, Value)> {
        loop {
            match tokio::time::timeout(DEADLINE, self.socket.next())
                .await
                .expect("a push before the deadline")
            {
                Some(Ok(Message::Text(text))) => {
                    let push: Value = serde_json::from_str(&text).unwrap();
                    let (class, body) = push["imdata"][0]
                        .as_object()
                        .unwrap()
                        .iter()
                        .next()
                        .unwrap();
                    let attributes = body["attributes"].clone();
                    return Some((
                        class.clone(),
                        attributes["dn"].as_str().unwrap().to_owned(),
                        attributes["status"].as_str().unwrap().to_owned(),
                        attributes,
                    ));
                }
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return None,
                Some(Ok(_)) => {}
            }
        }
    }

    /// The next `count` pushes as (class, dn, status).
    async fn pushes(&mut self, count: usize) -> Vec<(String, String, String)> {
        let mut pushes = Vec::new();
        for _ in 0..count {
            let (class, dn, status, _) = self.next().await.expect("a push, not a close");
            pushes.push((class, dn, status));
        }
        pushes
    }
}

fn push(class: &str, dn: &str, status: &str) -> (String, String, String) {
    (class.to_owned(), dn.to_owned(), status.to_owned())
}

async fn control(device: &SimDevice, path: &str, body: Value) -> (u16, Value) {
    let response = reqwest::Client::new()
        .post(format!("{}/_sim/{path}", device.base_url()))
        .json(&body)
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

#[tokio::test]
async fn a_link_down_shows_on_both_ends_and_a_link_up_restores_both() {
    let (sim, shutdown) = fabric(2, 2).await;
    let names: Vec<&str> = sim.devices().iter().map(SimDevice::name).collect();
    assert_eq!(names, ["spine1", "spine2", "leaf1", "leaf2"]);
    let (spine1, leaf1) = (&sim.devices()[0], &sim.devices()[2]);
    let (mut at_spine, snapshot) = Watcher::start(spine1).await;
    let adjacency = snapshot
        .as_array()
        .unwrap()
        .iter()
        .find(|object| object["lldpAdjEp"]["attributes"]["dn"] == "sys/lldp/inst/if-[eth1/1]/adj-1")
        .expect("spine1 eth1/1 has an LLDP neighbour");
    assert_eq!(adjacency["lldpAdjEp"]["attributes"]["sysName"], "leaf1");
    assert_eq!(
        adjacency["lldpAdjEp"]["attributes"]["portIdV"],
        "Ethernet1/5"
    );
    let (mut at_leaf, _) = Watcher::start(leaf1).await;

    // Sent to leaf2's listener: the control API acts on the whole fabric.
    let (status, body) = control(
        &sim.devices()[3],
        "link",
        json!({"device": "leaf1", "port": "eth1/5", "state": "down"}),
    )
    .await;
    assert_eq!((status, body), (200, json!({"ok": true})));
    assert_eq!(
        at_leaf.pushes(3).await,
        [
            push("ethpmPhysIf", "sys/intf/phys-[eth1/5]/phys", "modified"),
            push("lldpAdjEp", "sys/lldp/inst/if-[eth1/5]/adj-1", "deleted"),
            push("cdpAdjEp", "sys/cdp/inst/if-[eth1/5]/adj-1", "deleted"),
        ]
    );
    assert_eq!(
        at_spine.pushes(3).await,
        [
            push("ethpmPhysIf", "sys/intf/phys-[eth1/1]/phys", "modified"),
            push("lldpAdjEp", "sys/lldp/inst/if-[eth1/1]/adj-1", "deleted"),
            push("cdpAdjEp", "sys/cdp/inst/if-[eth1/1]/adj-1", "deleted"),
        ]
    );
    let topology: TopologyDump = reqwest::get(format!("{}/_sim/topology", leaf1.base_url()))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let link = topology
        .links
        .iter()
        .find(|link| link.a == "leaf1" && link.b == "spine1")
        .unwrap();
    assert!(!link.up && link.cut, "{link:?}");
    assert_eq!(topology.links.iter().filter(|link| link.up).count(), 3);

    // Named by its two switches this time.
    let (status, _) = control(
        spine1,
        "link",
        json!({"device": "spine1", "neighbor": "leaf1", "state": "up"}),
    )
    .await;
    assert_eq!(status, 200);
    let (class, dn, status, attributes) = at_leaf.next().await.unwrap();
    assert_eq!(
        (class.as_str(), status.as_str()),
        ("ethpmPhysIf", "modified")
    );
    assert_eq!(
        (dn.as_str(), &attributes["operSt"]),
        ("sys/intf/phys-[eth1/5]/phys", &json!("up"))
    );
    let (class, _, status, attributes) = at_leaf.next().await.unwrap();
    assert_eq!((class.as_str(), status.as_str()), ("lldpAdjEp", "created"));
    assert_eq!(
        (&attributes["sysName"], &attributes["portIdV"]),
        (&json!("spine1"), &json!("Ethernet1/1"))
    );
    let (class, _, _, attributes) = at_leaf.next().await.unwrap();
    assert_eq!(class, "cdpAdjEp");
    assert_eq!(attributes["portId"], "Ethernet1/1");
    assert_eq!(
        at_spine
            .pushes(3)
            .await
            .into_iter()
            .map(|(class, _, status)| (class, status))
            .collect::<Vec<_>>(),
        [
            ("ethpmPhysIf".to_owned(), "modified".to_owned()),
            ("lldpAdjEp".to_owned(), "created".to_owned()),
            ("cdpAdjEp".to_owned(), "created".to_owned()),
        ]
    );

    let (status, body) = control(
        leaf1,
        "link",
        json!({"device": "leaf1", "port": "eth1/1", "state": "down"}),
    )
    .await;
    assert_eq!(status, 400, "eth1/1 of leaf1 is an access port: {body}");
    shutdown.cancel();
    sim.stopped().await;
}

#[tokio::test]
async fn a_switch_switched_off_takes_its_neighbours_ends_down_and_comes_back_with_them() {
    let (sim, shutdown) = fabric(1, 3).await;
    let spine = sim.devices()[0].clone();
    let mut leaves = Vec::new();
    for leaf in &sim.devices()[1..] {
        leaves.push(Watcher::start(leaf).await.0);
    }
    let (mut at_spine, _) = Watcher::start(&spine).await;
    let (status, _) = control(
        &sim.devices()[1],
        "device",
        json!({"device": "spine1", "state": "down"}),
    )
    .await;
    assert_eq!(status, 200);
    assert!(at_spine.next().await.is_none(), "its socket closes");
    let login = reqwest::Client::new()
        .post(format!("{}/api/aaaLogin.json", spine.base_url()))
        .body(r#"{"aaaUser":{"attributes":{"name":"admin","pwd":"admin"}}}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), 503, "a switched-off switch does not answer");
    for (index, at_leaf) in leaves.iter_mut().enumerate() {
        assert_eq!(
            at_leaf.pushes(3).await,
            [
                push("ethpmPhysIf", "sys/intf/phys-[eth1/5]/phys", "modified"),
                push("lldpAdjEp", "sys/lldp/inst/if-[eth1/5]/adj-1", "deleted"),
                push("cdpAdjEp", "sys/cdp/inst/if-[eth1/5]/adj-1", "deleted"),
            ],
            "leaf{}",
            index + 1
        );
    }
    // A link cut meanwhile stays down when the spine comes back.
    let (status, _) = control(
        &spine,
        "link",
        json!({"device": "leaf3", "neighbor": "spine1", "state": "down"}),
    )
    .await;
    assert_eq!(status, 200);
    let (status, _) = control(&spine, "device", json!({"device": "spine1", "state": "up"})).await;
    assert_eq!(status, 200);
    for at_leaf in &mut leaves[..2] {
        let statuses: Vec<String> = at_leaf
            .pushes(3)
            .await
            .into_iter()
            .map(|push| push.2)
            .collect();
        assert_eq!(statuses, ["modified", "created", "created"]);
    }
    let (_, snapshot) = Watcher::start(&spine).await;
    let neighbours: Vec<&str> = snapshot
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|object| object["lldpAdjEp"]["attributes"]["sysName"].as_str())
        .collect();
    assert_eq!(neighbours, ["leaf1", "leaf2"], "leaf3's link is still cut");
    shutdown.cancel();
    sim.stopped().await;
}

#[tokio::test]
async fn random_changes_leave_the_cabled_ports_to_the_link_actions() {
    let (sim, shutdown) = fabric(2, 1).await;
    let leaf = &sim.devices()[2];
    leaf.apply(crate::sim::dme::Change::Random { count: 400 })
        .unwrap();
    let dump = leaf.dump();
    let attribute = |dn: &str, name: &str| {
        dump.iter()
            .find(|mo| mo.attributes["dn"] == dn)
            .and_then(|mo| mo.attributes.get(name).cloned())
    };
    let mut touched = 0;
    for port in 1..=6 {
        let config = format!("sys/intf/phys-[eth1/{port}]");
        let changed = attribute(&config, "descr") != Some(String::new())
            || attribute(&config, "adminSt") != Some("up".to_owned());
        if port > 4 {
            assert!(!changed, "uplink eth1/{port} was changed");
            assert_eq!(
                attribute(&format!("{config}/phys"), "operSt").as_deref(),
                Some("up")
            );
        } else if changed {
            touched += 1;
        }
    }
    assert!(touched > 0, "the access ports do change");
    shutdown.cancel();
    sim.stopped().await;
}

#[tokio::test]
async fn the_command_line_client_pulls_and_plugs_cables() {
    use crate::sim::dme::fabric_cli::{FabricCliArgs, FabricCommand, run_fabric_cli};
    let (sim, shutdown) = fabric(1, 2).await;
    let run = |action| {
        run_fabric_cli(FabricCliArgs {
            target: sim.devices()[1].base_url(),
            ca_file: None,
            insecure: false,
            action,
        })
    };
    run(FabricCommand::Link {
        device: "leaf2".into(),
        port_or_neighbor: "spine1".into(),
        state: "down".into(),
    })
    .await
    .unwrap();
    let dump = sim.fabric().unwrap().dump();
    let down: Vec<(&str, &str)> = dump
        .links
        .iter()
        .filter(|link| !link.up)
        .map(|link| (link.a.as_str(), link.b.as_str()))
        .collect();
    assert_eq!(down, [("leaf2", "spine1")]);
    run(FabricCommand::Device {
        device: "spine1".into(),
        state: "down".into(),
    })
    .await
    .unwrap();
    assert!(
        sim.fabric()
            .unwrap()
            .dump()
            .links
            .iter()
            .all(|link| !link.up)
    );
    let refused = run(FabricCommand::Device {
        device: "spine9".into(),
        state: "up".into(),
    })
    .await
    .unwrap_err();
    assert!(format!("{refused:#}").contains("spine9"), "{refused:#}");
    run(FabricCommand::Show).await.unwrap();
    shutdown.cancel();
    sim.stopped().await;
}

#[tokio::test]
async fn a_fabric_of_64_switches_starts_with_every_adjacency_named_back() {
    let (sim, shutdown) = fabric(4, 60).await;
    assert_eq!(sim.devices().len(), 64);
    // (device, port) → (neighbour, neighbour's port), from every switch's own tree.
    let mut seen = std::collections::BTreeMap::new();
    for device in sim.devices() {
        for mo in device
            .dump()
            .into_iter()
            .filter(|mo| mo.class == "lldpAdjEp")
        {
            let dn = &mo.attributes["dn"];
            let port = dn
                .split('[')
                .nth(1)
                .unwrap()
                .split(']')
                .next()
                .unwrap()
                .to_owned();
            let far_port = mo.attributes["portIdV"].replace("Ethernet", "eth");
            seen.insert(
                (device.name().to_owned(), port),
                (mo.attributes["sysName"].clone(), far_port),
            );
        }
    }
    assert_eq!(seen.len(), 2 * 4 * 60);
    for ((device, port), (neighbour, far_port)) in &seen {
        assert_eq!(
            seen.get(&(neighbour.clone(), far_port.clone())),
            Some(&(device.clone(), port.clone())),
            "{device} {port}"
        );
    }
    let dump = sim.fabric().unwrap().dump();
    assert_eq!(dump.links.len(), 240);
    assert!(dump.links.iter().all(|link| link.up));
    shutdown.cancel();
    sim.stopped().await;
}

#[tokio::test]
async fn shutting_a_cabled_port_takes_the_far_end_down_too() {
    let (sim, shutdown) = fabric(1, 1).await;
    let (spine, leaf) = (&sim.devices()[0], &sim.devices()[1]);
    let (mut at_spine, _) = Watcher::start(spine).await;
    let shut = |state: &str| crate::sim::dme::Change::Set {
        dn: "sys/intf/phys-[eth1/5]".into(),
        attrs: [("adminSt".to_owned(), state.to_owned())].into(),
    };
    leaf.apply(shut("down")).unwrap();
    assert_eq!(
        at_spine.pushes(3).await,
        [
            push("ethpmPhysIf", "sys/intf/phys-[eth1/1]/phys", "modified"),
            push("lldpAdjEp", "sys/lldp/inst/if-[eth1/1]/adj-1", "deleted"),
            push("cdpAdjEp", "sys/cdp/inst/if-[eth1/1]/adj-1", "deleted"),
        ]
    );
    let leaf_objects = leaf.dump();
    assert!(
        !leaf_objects.iter().any(|mo| mo.class == "lldpAdjEp"),
        "the shut end lost its neighbour too"
    );
    assert!(!sim.fabric().unwrap().dump().links[0].up);
    leaf.apply(shut("up")).unwrap();
    let statuses: Vec<String> = at_spine
        .pushes(3)
        .await
        .into_iter()
        .map(|push| push.2)
        .collect();
    assert_eq!(statuses, ["modified", "created", "created"]);
    assert!(sim.fabric().unwrap().dump().links[0].up);
    shutdown.cancel();
    sim.stopped().await;
}
