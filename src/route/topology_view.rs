//! The topology as `GET /api/v1/topology` shows it, read from the router's state rows: the
//! devices (root or not, reachable now, the alarms raised on them), the links (both ends, the
//! protocols that report them, up or down since when, the alarm that fails them) and the holds
//! (each root cause and the alarms it holds).

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use super::hold::{Held, HoldMeta};
use super::state::{HELD, HOLD, PLACE, TOPO};
use super::topology::{End, Place, Topology};
use crate::config::TopologyConfig;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TopologyView {
    /// The roots, as configured (`topology.roots`) or inferred (the devices with the most
    /// neighbours: `roots_inferred`).
    pub roots: Vec<String>,
    pub roots_inferred: bool,
    pub nodes: Vec<NodeView>,
    pub edges: Vec<EdgeView>,
    pub holds: Vec<HoldView>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NodeView {
    pub device: String,
    pub is_root: bool,
    /// A root reaches it now over links that are up and carry no raised alarm.
    pub reachable: bool,
    /// The alarms raised on it: on its ports and the device, and those held.
    pub alarms: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EdgeView {
    pub a: String,
    pub a_port: String,
    pub b: String,
    pub b_port: String,
    pub protocols: Vec<String>,
    pub up: bool,
    /// When it last went up or down (as the devices reported it).
    pub since: jiff::Timestamp,
    /// The raised alarms on its ends.
    pub alarms: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HoldView {
    pub root: String,
    pub device: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port: Option<String>,
    pub summary: String,
    /// Cleared: what it held is released; it stays until its groups' last report.
    pub cleared: bool,
    /// The held alarms still raised.
    pub held: Vec<String>,
    pub held_cleared: Vec<String>,
}

/// The view of the router's state rows (`route_state`) under `config`. Rows of other kinds are
/// ignored; a row that cannot be read is skipped.
pub fn topology_view(config: &TopologyConfig, rows: &[(String, String)]) -> TopologyView {
    let mut topology = Topology::default();
    let mut places: BTreeMap<String, Place> = BTreeMap::new();
    let mut holds: Vec<HoldMeta> = Vec::new();
    let mut held: Vec<Held> = Vec::new();
    for (key, value) in rows {
        if key.starts_with(TOPO) {
            let _ = topology.restore(value);
        } else if let Some(alarm) = key.strip_prefix(PLACE) {
            if let Ok(place) = serde_json::from_str(value) {
                places.insert(alarm.to_owned(), place);
            }
        } else if key.starts_with(HOLD) {
            holds.extend(serde_json::from_str(value).ok());
        } else if key.starts_with(HELD) {
            held.extend(serde_json::from_str(value).ok());
        }
    }
    let graph = topology.graph(config);
    let failed_at = |end: &End| -> Vec<String> {
        places
            .iter()
            .filter(|(_, place)| {
                place.device == end.device && place.port.as_deref() == Some(end.port.as_str())
            })
            .map(|(key, _)| key.clone())
            .collect()
    };
    let mut removed = Vec::new();
    let mut edges = Vec::new();
    for (index, link) in graph.links.iter().enumerate() {
        let mut alarms = failed_at(&link.a);
        alarms.extend(failed_at(&link.b));
        if !link.up || !alarms.is_empty() {
            removed.push(index);
        }
        edges.push(EdgeView {
            a: link.a.device.clone(),
            a_port: link.a.port.clone(),
            b: link.b.device.clone(),
            b_port: link.b.port.clone(),
            protocols: link.protocols.iter().cloned().collect(),
            up: link.up,
            since: link.since,
            alarms,
        });
    }
    let failed_devices: BTreeSet<&str> = places
        .values()
        .filter(|place| place.device_failure)
        .map(|place| place.device.as_str())
        .collect();
    let reached = graph.reachable(&removed, None);
    let nodes = graph
        .nodes
        .iter()
        .map(|device| {
            let mut alarms: Vec<String> = places
                .iter()
                .filter(|(_, place)| &place.device == device)
                .map(|(key, _)| key.clone())
                .collect();
            alarms.extend(
                held.iter()
                    .filter(|one| one.raised && &one.device == device)
                    .map(|one| one.key.clone()),
            );
            alarms.sort();
            alarms.dedup();
            NodeView {
                device: device.clone(),
                is_root: graph.roots.contains(device),
                reachable: reached.contains(device.as_str())
                    && !failed_devices.contains(device.as_str()),
                alarms,
            }
        })
        .collect();
    let holds = holds
        .into_iter()
        .map(|meta| {
            let of_root = |raised: bool| -> Vec<String> {
                held.iter()
                    .filter(|one| one.root == meta.root && one.raised == raised)
                    .map(|one| one.key.clone())
                    .collect()
            };
            HoldView {
                held: of_root(true),
                held_cleared: of_root(false),
                root: meta.root,
                device: meta.device,
                port: meta.port,
                summary: meta.summary,
                cleared: meta.cleared,
            }
        })
        .collect();
    TopologyView {
        roots: graph.roots.iter().cloned().collect(),
        roots_inferred: config.roots.is_empty(),
        nodes,
        edges,
        holds,
    }
}
