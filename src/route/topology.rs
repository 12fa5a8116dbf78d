//! The network's own map: a fold of the LLDP and CDP adjacency events the DME sources deliver
//! (`lldpAdjEp`, `cdpAdjEp`), kept as state rows like the rest of the engine, and what it says
//! about an alarm: where it is (a device, a device's port), whether it is a failure (a raised
//! alarm on a link of the graph, or a device alarm), and what lies behind a failure (the devices
//! no root reaches without it, and the far end of its link).
//!
//! The graph is structural: a deleted adjacency is kept, marked down, for `forget_after`, because
//! the link that went down took its neighbour's announcement with it and the graph must still
//! know what was behind it. Reachability is computed over every known link, up or down, with only
//! the failure under question removed (a pair of redundant uplinks that are both down is a
//! limitation: each alone hides nothing).

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use serde::{Deserialize, Serialize};

pub(crate) use super::adjacency::place_of;
use super::adjacency::{adjacency_of, glob_matches, resolve};
use super::state::{Changes, TOPO, later};
use crate::config::TopologyConfig;
use crate::event::Event;

/// One adjacency as one device reports it: its port, the neighbour it hears there.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Adjacency {
    pub(crate) device: String,
    pub(crate) port: String,
    /// `lldp` or `cdp`.
    pub(crate) protocol: String,
    /// The neighbour's name as announced (LLDP `sysName`, CDP `devId` without its serial).
    pub(crate) neighbour: String,
    /// The neighbour's port, normalized (`Ethernet1/49` → `eth1/49`); empty when not given.
    pub(crate) neighbour_port: String,
    pub(crate) up: bool,
    /// When it last changed state.
    pub(crate) since: jiff::Timestamp,
}

impl Adjacency {
    fn row(&self) -> String {
        format!("{TOPO}{}|{}|{}", self.device, self.port, self.protocol)
    }
}

/// The adjacencies every device reported, by row key.
#[derive(Debug, Clone, Default)]
pub(crate) struct Topology {
    pub(crate) adjacencies: BTreeMap<String, Adjacency>,
}

impl Topology {
    /// Folds one event: an adjacency created, modified or deleted. True when the event was an
    /// adjacency (of a protocol the configuration takes).
    pub(crate) fn observe(
        &mut self,
        config: &TopologyConfig,
        event: &Event,
        changes: &mut Changes,
    ) -> bool {
        let Some(mut adjacency) = adjacency_of(config, event) else {
            return false;
        };
        let row = adjacency.row();
        match self.adjacencies.get(&row) {
            // A deletion keeps what the device said before, marked down.
            Some(known) if !adjacency.up => {
                let mut kept = known.clone();
                if kept.up {
                    kept.up = false;
                    kept.since = event.time;
                }
                adjacency = kept;
            }
            Some(known) if known.up && known.neighbour == adjacency.neighbour => {
                adjacency.since = known.since;
            }
            None if !adjacency.up => return true,
            _ => {}
        }
        changes.put(row.clone(), &adjacency);
        self.adjacencies.insert(row, adjacency);
        true
    }

    /// Forgets the adjacencies down for longer than `forget_after`.
    pub(crate) fn prune(
        &mut self,
        config: &TopologyConfig,
        now: jiff::Timestamp,
        changes: &mut Changes,
    ) {
        self.adjacencies.retain(|row, adjacency| {
            let keep = adjacency.up || later(adjacency.since, config.forget_after) > now;
            if !keep {
                changes.delete(row.clone());
            }
            keep
        });
    }

    pub(crate) fn restore(&mut self, value: &str) -> Result<(), String> {
        let adjacency: Adjacency = serde_json::from_str(value).map_err(|e| e.to_string())?;
        self.adjacencies.insert(adjacency.row(), adjacency);
        Ok(())
    }

    /// The graph: adjacencies reported from both ends made one link, neighbours named as
    /// netpulse knows them.
    pub(crate) fn graph(&self, config: &TopologyConfig) -> Graph {
        let known: BTreeSet<String> = self
            .adjacencies
            .values()
            .map(|adjacency| adjacency.device.clone())
            .collect();
        let mut links: BTreeMap<(End, End), Link> = BTreeMap::new();
        for adjacency in self.adjacencies.values() {
            let here = End {
                device: adjacency.device.clone(),
                port: adjacency.port.clone(),
            };
            let there = End {
                device: resolve(config, &known, &adjacency.neighbour),
                port: adjacency.neighbour_port.clone(),
            };
            let key = if here <= there {
                (here, there)
            } else {
                (there, here)
            };
            let link = links.entry(key.clone()).or_insert_with(|| Link {
                a: key.0.clone(),
                b: key.1.clone(),
                protocols: BTreeSet::new(),
                up: false,
                since: adjacency.since,
            });
            link.protocols.insert(adjacency.protocol.clone());
            if adjacency.up && !link.up {
                link.up = true;
                link.since = adjacency.since;
            } else if adjacency.up == link.up {
                link.since = link.since.max(adjacency.since);
            }
        }
        let links: Vec<Link> = links.into_values().collect();
        let mut nodes = BTreeSet::new();
        for link in &links {
            nodes.insert(link.a.device.clone());
            nodes.insert(link.b.device.clone());
        }
        let roots = roots(config, &nodes, &links);
        let ends = links
            .iter()
            .flat_map(|link| [link.a.clone(), link.b.clone()])
            .collect();
        Graph {
            nodes,
            links,
            roots,
            ends,
        }
    }
}

/// One side of a link.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct End {
    pub device: String,
    pub port: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Link {
    pub a: End,
    pub b: End,
    pub protocols: BTreeSet<String>,
    /// Some end still reports it.
    pub up: bool,
    pub since: jiff::Timestamp,
}

/// The graph at one moment.
#[derive(Debug, Clone, Default)]
pub struct Graph {
    pub nodes: BTreeSet<String>,
    pub links: Vec<Link>,
    pub roots: BTreeSet<String>,
    /// Every end of every link: a port alarm elsewhere is no failure.
    pub(crate) ends: BTreeSet<End>,
}

/// Where an alarm is.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub(crate) struct Place {
    pub(crate) device: String,
    #[serde(default)]
    pub(crate) port: Option<String>,
    /// A device alarm (unreachable, a gap): a failure of the device itself.
    #[serde(default)]
    pub(crate) device_failure: bool,
    /// The raising event's summary (how a root cause is described).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub(crate) summary: String,
}

/// What a failure hides.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Behind {
    pub(crate) devices: BTreeSet<String>,
    pub(crate) ports: BTreeSet<End>,
}

impl Behind {
    pub(crate) fn contains(&self, place: &Place) -> bool {
        self.devices.contains(&place.device)
            || place.port.as_ref().is_some_and(|port| {
                self.ports.contains(&End {
                    device: place.device.clone(),
                    port: port.clone(),
                })
            })
    }
}

impl Graph {
    /// What lies behind a failure at `place`; `None` when `place` is no failure (a port that is
    /// not a link of the graph, a device alarm that is not a device failure, an unknown device).
    pub(crate) fn behind(&self, place: &Place) -> Option<Behind> {
        if self.roots.is_empty() || !self.nodes.contains(&place.device) {
            return None;
        }
        let mut behind = Behind::default();
        let removed: Vec<usize> = match &place.port {
            Some(port) => {
                let here = End {
                    device: place.device.clone(),
                    port: port.clone(),
                };
                if !self.ends.contains(&here) {
                    return None;
                }
                let cut: Vec<usize> = (0..self.links.len())
                    .filter(|&i| self.links[i].a == here || self.links[i].b == here)
                    .collect();
                for &i in &cut {
                    let link = &self.links[i];
                    let far = if link.a == here { &link.b } else { &link.a };
                    if self.downstream(&place.device, &far.device) {
                        behind.ports.insert(far.clone());
                    }
                }
                cut
            }
            None if place.device_failure => {
                behind.devices.insert(place.device.clone());
                (0..self.links.len())
                    .filter(|&i| {
                        let link = &self.links[i];
                        let far = if link.a.device == place.device {
                            &link.b
                        } else if link.b.device == place.device {
                            &link.a
                        } else {
                            return false;
                        };
                        if self.downstream(&place.device, &far.device) {
                            behind.ports.insert(far.clone());
                        }
                        true
                    })
                    .collect()
            }
            None => return None,
        };
        if removed.is_empty() {
            return None;
        }
        let gone = place
            .device_failure
            .then_some(place.device.as_str())
            .filter(|_| place.port.is_none());
        let reached = self.reachable(&removed, gone);
        for node in &self.nodes {
            if !reached.contains(node.as_str()) {
                behind.devices.insert(node.clone());
            }
        }
        Some(behind)
    }

    /// Whether `far` is further from the roots than `here` (hops, then name: a link between two
    /// devices at the same distance has one fixed upstream end, whichever end fails first).
    fn downstream(&self, here: &str, far: &str) -> bool {
        let depth = self.depths();
        let order = |device: &str| {
            (
                depth.get(device).copied().unwrap_or(usize::MAX),
                device.to_owned(),
            )
        };
        order(far) > order(here)
    }

    /// Hops from the nearest root over every known link.
    pub(crate) fn depths(&self) -> BTreeMap<&str, usize> {
        let mut depth: BTreeMap<&str, usize> = BTreeMap::new();
        let mut queue: VecDeque<(&str, usize)> =
            self.roots.iter().map(|root| (root.as_str(), 0)).collect();
        while let Some((node, hops)) = queue.pop_front() {
            if depth.contains_key(node) {
                continue;
            }
            depth.insert(node, hops);
            for link in &self.links {
                let next = if link.a.device == node {
                    &link.b.device
                } else if link.b.device == node {
                    &link.a.device
                } else {
                    continue;
                };
                if !depth.contains_key(next.as_str()) {
                    queue.push_back((next, hops + 1));
                }
            }
        }
        depth
    }

    /// The devices a root reaches without the links `removed` and the device `gone`.
    pub(crate) fn reachable(&self, removed: &[usize], gone: Option<&str>) -> BTreeSet<&str> {
        let mut next: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for (i, link) in self.links.iter().enumerate() {
            if removed.contains(&i) {
                continue;
            }
            next.entry(&link.a.device).or_default().push(&link.b.device);
            next.entry(&link.b.device).or_default().push(&link.a.device);
        }
        let mut reached: BTreeSet<&str> = BTreeSet::new();
        let mut queue: VecDeque<&str> = self
            .roots
            .iter()
            .map(String::as_str)
            .filter(|root| Some(*root) != gone)
            .collect();
        while let Some(node) = queue.pop_front() {
            if !reached.insert(node) {
                continue;
            }
            for &neighbour in next.get(node).into_iter().flatten() {
                if Some(neighbour) != gone && !reached.contains(neighbour) {
                    queue.push_back(neighbour);
                }
            }
        }
        reached
    }
}

/// The roots: the configured globs, or (none configured) the devices with the most neighbours.
/// INFER: "most neighbours" is a guess at the core of a fabric (spines have every leaf as
/// neighbour); name the roots for a result that does not depend on the cabling.
fn roots(config: &TopologyConfig, nodes: &BTreeSet<String>, links: &[Link]) -> BTreeSet<String> {
    if !config.roots.is_empty() {
        return nodes
            .iter()
            .filter(|node| config.roots.iter().any(|glob| glob_matches(glob, node)))
            .cloned()
            .collect();
    }
    let mut neighbours: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for link in links {
        neighbours
            .entry(&link.a.device)
            .or_default()
            .insert(&link.b.device);
        neighbours
            .entry(&link.b.device)
            .or_default()
            .insert(&link.a.device);
    }
    let most = neighbours.values().map(BTreeSet::len).max().unwrap_or(0);
    neighbours
        .into_iter()
        .filter(|(_, set)| set.len() == most && most > 0)
        .map(|(node, _)| node.to_owned())
        .collect()
}
