//! The topology graph: folded from both protocols' adjacency events, neighbours named as netpulse
//! knows them, deletions kept then forgotten, the roots, and what lies behind a failure.

use std::collections::BTreeSet;
use std::time::Duration;

use super::adjacency::{glob_matches, normalize_port, place_of};
use super::state::Changes;
use super::testkit::{at, cdp, lldp, port};
use super::topology::{End, Graph, Place, Topology};
use crate::config::{DiscoveryProtocol, TopologyConfig};

fn config(roots: &[&str]) -> TopologyConfig {
    TopologyConfig {
        roots: roots.iter().map(|root| (*root).to_owned()).collect(),
        ..TopologyConfig::default()
    }
}

fn fold(
    config: &TopologyConfig,
    events: &[(crate::event::Event, Vec<crate::event::AlarmUpdate>)],
) -> Topology {
    let mut topology = Topology::default();
    let mut changes = Changes::default();
    for (event, _) in events {
        topology.observe(config, event, &mut changes);
    }
    topology
}

fn end(device: &str, port: &str) -> End {
    End {
        device: device.to_owned(),
        port: port.to_owned(),
    }
}

fn edges(graph: &Graph) -> Vec<(End, End, bool)> {
    graph
        .links
        .iter()
        .map(|link| (link.a.clone(), link.b.clone(), link.up))
        .collect()
}

#[test]
fn both_ends_of_an_lldp_link_make_one_link_and_cdp_adds_its_protocol() {
    let config = config(&[]);
    let topology = fold(
        &config,
        &[
            lldp(
                "spine-1",
                "eth1/1",
                "leaf-1.fabric.example.com",
                "Ethernet1/49",
                true,
            ),
            lldp("leaf-1", "eth1/49", "SPINE-1", "Ethernet1/1", true),
            cdp("leaf-1", "eth1/49", "spine-1(FDO2345ABCD)", "Ethernet1/1"),
        ],
    );
    let graph = topology.graph(&config);
    assert_eq!(
        edges(&graph),
        vec![(end("leaf-1", "eth1/49"), end("spine-1", "eth1/1"), true)]
    );
    assert_eq!(
        graph.links[0].protocols,
        BTreeSet::from(["cdp".to_owned(), "lldp".to_owned()])
    );
}

#[test]
fn an_alias_names_a_neighbour_the_domain_match_cannot() {
    let mut config = config(&[]);
    config
        .aliases
        .insert("core-a-re0".to_owned(), "core-a".to_owned());
    let topology = fold(
        &config,
        &[lldp("leaf-1", "eth1/49", "core-a-re0", "xe-0/0/1", true)],
    );
    let graph = topology.graph(&config);
    assert_eq!(
        edges(&graph),
        vec![(end("core-a", "xe-0/0/1"), end("leaf-1", "eth1/49"), true)]
    );
}

#[test]
fn a_protocol_not_configured_is_not_folded() {
    let config = TopologyConfig {
        protocols: vec![DiscoveryProtocol::Lldp],
        ..TopologyConfig::default()
    };
    let topology = fold(
        &config,
        &[cdp("leaf-1", "eth1/49", "spine-1(FDO1)", "Ethernet1/1")],
    );
    assert!(topology.adjacencies.is_empty());
}

#[test]
fn a_deleted_adjacency_is_kept_down_then_forgotten_after_forget_after() {
    let config = TopologyConfig {
        forget_after: Duration::from_secs(3600),
        ..TopologyConfig::default()
    };
    let mut deleted = lldp("spine-1", "eth1/1", "leaf-1", "Ethernet1/49", false);
    deleted.0.time = at(100);
    let mut topology = fold(
        &config,
        &[
            lldp("spine-1", "eth1/1", "leaf-1", "Ethernet1/49", true),
            deleted,
        ],
    );
    let graph = topology.graph(&config);
    assert_eq!(
        edges(&graph),
        vec![(end("leaf-1", "eth1/49"), end("spine-1", "eth1/1"), false)],
        "kept, marked down, with what it said before"
    );
    assert_eq!(graph.links[0].since, at(100));
    let mut changes = Changes::default();
    topology.prune(&config, at(100 + 3599), &mut changes);
    assert_eq!(topology.adjacencies.len(), 1);
    topology.prune(&config, at(100 + 3600), &mut changes);
    assert!(topology.adjacencies.is_empty());
    assert_eq!(changes.take().len(), 1, "the row is deleted");
}

/// spine-1 and spine-2; leaf-1 only behind spine-1; leaf-2 on both; host-sw behind leaf-1.
fn fabric(config: &TopologyConfig) -> Graph {
    fold(
        config,
        &[
            lldp("spine-1", "eth1/1", "leaf-1", "Ethernet1/49", true),
            lldp("leaf-1", "eth1/49", "spine-1", "Ethernet1/1", true),
            lldp("spine-1", "eth1/2", "leaf-2", "Ethernet1/49", true),
            lldp("spine-2", "eth1/2", "leaf-2", "Ethernet1/50", true),
            lldp("leaf-1", "eth1/10", "host-sw", "Ethernet1/1", true),
        ],
    )
    .graph(config)
}

fn at_port(device: &str, port: &str) -> Place {
    Place {
        device: device.to_owned(),
        port: Some(port.to_owned()),
        device_failure: false,
        summary: String::new(),
    }
}

#[test]
fn behind_a_link_are_the_devices_no_root_reaches_without_it_and_its_far_port() {
    let graph = fabric(&config(&["spine-*"]));
    assert_eq!(
        graph.roots,
        BTreeSet::from(["spine-1".to_owned(), "spine-2".to_owned()])
    );
    let behind = graph.behind(&at_port("spine-1", "eth1/1")).unwrap();
    assert_eq!(
        behind.devices,
        BTreeSet::from(["host-sw".to_owned(), "leaf-1".to_owned()])
    );
    assert_eq!(behind.ports, BTreeSet::from([end("leaf-1", "eth1/49")]));
    // leaf-2 has another uplink: only the far port of the failed one is behind it.
    let behind = graph.behind(&at_port("spine-1", "eth1/2")).unwrap();
    assert!(behind.devices.is_empty());
    assert_eq!(behind.ports, BTreeSet::from([end("leaf-2", "eth1/49")]));
    // The downstream end of a link does not hold its upstream end.
    let behind = graph.behind(&at_port("leaf-1", "eth1/49")).unwrap();
    assert!(!behind.contains(&at_port("spine-1", "eth1/1")));
    assert!(behind.devices.contains("leaf-1"));
    // A port that is no link of the graph is no failure.
    assert_eq!(graph.behind(&at_port("leaf-1", "eth1/3")), None);
}

#[test]
fn behind_a_device_failure_is_the_device_and_what_only_it_reaches() {
    let graph = fabric(&config(&["spine-*"]));
    let failure = Place {
        device: "leaf-1".to_owned(),
        port: None,
        device_failure: true,
        summary: String::new(),
    };
    let behind = graph.behind(&failure).unwrap();
    assert_eq!(
        behind.devices,
        BTreeSet::from(["host-sw".to_owned(), "leaf-1".to_owned()])
    );
    assert!(behind.ports.contains(&end("host-sw", "eth1/1")));
    assert!(!behind.ports.contains(&end("spine-1", "eth1/1")));
}

#[test]
fn without_configured_roots_the_devices_with_most_neighbours_are_the_roots() {
    let graph = fabric(&config(&[]));
    // leaf-1 has spine-1 and host-sw, spine-1 has leaf-1 and leaf-2, leaf-2 both spines.
    assert_eq!(
        graph.roots,
        BTreeSet::from([
            "leaf-1".to_owned(),
            "leaf-2".to_owned(),
            "spine-1".to_owned()
        ])
    );
}

#[test]
fn ports_globs_and_places_are_read_as_the_devices_write_them() {
    assert_eq!(normalize_port("Ethernet1/49"), "eth1/49");
    assert_eq!(normalize_port("Eth1/1"), "eth1/1");
    assert_eq!(normalize_port("mgmt0"), "mgmt0");
    assert!(glob_matches("spine-*", "Spine-12"));
    assert!(glob_matches("*-core-*", "dc1-core-a"));
    assert!(!glob_matches("spine-*", "leaf-1"));
    let (event, _) = port("leaf-1", "eth1/7", false, 0);
    assert_eq!(place_of(&event).port.as_deref(), Some("eth1/7"));
    assert_eq!(place_of(&event).device, "leaf-1");
    let mut gap = crate::event::Event::new(
        "leaf-1",
        crate::event::GAP_EVENT_TYPE,
        at(0),
        serde_json::json!({}),
    );
    gap.subject = Some("gap".to_owned());
    assert!(place_of(&gap).device_failure);
}
