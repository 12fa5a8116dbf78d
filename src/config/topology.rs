//! `topology:`: root causes from the network's own view of its neighbours. With it, every DME
//! source also subscribes to its LLDP and CDP adjacencies (`lldpAdjEp`, `cdpAdjEp`), the router
//! keeps a graph of who is connected to whom, and while a link or device alarm is raised upstream
//! the alarms of the devices and ports behind it are held under it (one notification names the
//! root cause and what it holds).

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;

use super::Problems;
use crate::duration::serde_duration;

/// Which discovery protocols feed the graph.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DiscoveryProtocol {
    Lldp,
    Cdp,
}

impl DiscoveryProtocol {
    /// The DME class of one adjacency of this protocol.
    pub fn class(self) -> &'static str {
        match self {
            DiscoveryProtocol::Lldp => "lldpAdjEp",
            DiscoveryProtocol::Cdp => "cdpAdjEp",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TopologyConfig {
    /// Off: no adjacency subscription, no graph, no hold (the section can stay written).
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// The devices everything else is behind (spines, cores, the devices nearest the NOC),
    /// as device names with `*` wildcards. Empty: the devices with the most neighbours (an
    /// inference; name them for a result that does not depend on the cabling).
    #[serde(default)]
    pub roots: Vec<String>,
    #[serde(default = "default_protocols")]
    pub protocols: Vec<DiscoveryProtocol>,
    /// A neighbour's name as it announces itself (LLDP `sysName`, CDP `devId`) → the device name
    /// netpulse knows it by, where the two differ and the domain-stripped, case-insensitive
    /// match does not find it.
    #[serde(default)]
    pub aliases: BTreeMap<String, String>,
    /// An adjacency the device stopped reporting is kept this long (a link that went down takes
    /// its LLDP neighbour with it, and the graph must still know what was behind it).
    #[serde(default = "default_forget_after", with = "serde_duration")]
    pub forget_after: Duration,
}

impl Default for TopologyConfig {
    fn default() -> TopologyConfig {
        TopologyConfig {
            enabled: true,
            roots: Vec::new(),
            protocols: default_protocols(),
            aliases: BTreeMap::new(),
            forget_after: default_forget_after(),
        }
    }
}

fn default_true() -> bool {
    true
}

fn default_protocols() -> Vec<DiscoveryProtocol> {
    vec![DiscoveryProtocol::Lldp, DiscoveryProtocol::Cdp]
}

fn default_forget_after() -> Duration {
    Duration::from_secs(24 * 3600)
}

impl TopologyConfig {
    pub(crate) fn validate(&self, problems: &mut Problems) {
        if self.protocols.is_empty() {
            problems.push(
                "topology.protocols",
                "empty: list lldp, cdp or both (or set enabled: false)",
            );
        }
        for (index, root) in self.roots.iter().enumerate() {
            if root.trim().is_empty() {
                problems.push(&format!("topology.roots[{index}]"), "empty device name");
            }
        }
    }
}
