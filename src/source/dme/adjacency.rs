//! LLDP and CDP adjacencies (`lldpAdjEp`, `cdpAdjEp`): with `topology:` on, every DME source also
//! subscribes to them, so that the router can keep the graph of who is cabled to whom. They
//! arrive as ordinary DME events (`com.cisco.dme.created|modified|deleted`, `objectclass`
//! `lldpAdjEp` / `cdpAdjEp`, `subject` the dn, `data` the object); they are information, never
//! alarms. Pure, no IO.

use crate::config::{DmePlatform, DmeSourceConfig, TopologyConfig};

use super::view::{Status, ViewChange};

/// The adjacency classes.
pub const CLASSES: [&str; 2] = ["lldpAdjEp", "cdpAdjEp"];

/// The class queries `topology` adds to every DME source: one per protocol, none when the
/// section is absent or disabled. A class query covers every node of an APIC as well as a
/// standalone switch.
pub fn queries(topology: Option<&TopologyConfig>) -> Vec<String> {
    let Some(topology) = topology.filter(|topology| topology.enabled) else {
        return Vec::new();
    };
    let mut queries: Vec<String> = topology
        .protocols
        .iter()
        .map(|protocol| format!("/api/class/{}.json", protocol.class()))
        .collect();
    queries.dedup();
    queries
}

/// The source as it runs: its configured subscriptions plus the adjacency queries `topology`
/// asks for, with the APIC `refresh-timeout` the configured ones were given (a query already
/// configured is not asked twice).
pub fn with_topology(
    config: &DmeSourceConfig,
    topology: Option<&TopologyConfig>,
) -> DmeSourceConfig {
    let mut config = config.clone();
    for mut query in queries(topology) {
        if let (DmePlatform::Apic, Some(timeout)) = (config.platform, config.subscription_timeout) {
            query.push_str(&format!("?refresh-timeout={}", timeout.as_secs()));
        }
        if !config.subscriptions.contains(&query) {
            config.subscriptions.push(query);
        }
    }
    config
}

pub fn is_adjacency(class: &str) -> bool {
    CLASSES.contains(&class)
}

/// The adjacencies found when a source first subscribes. That first sync is otherwise a silent
/// baseline, but the graph is a fold of the log: the neighbours a device already has must be
/// in it, so they are published as `created` (marked resync, as found at subscribe time).
pub fn baseline(changes: &[ViewChange]) -> impl Iterator<Item = &ViewChange> {
    changes
        .iter()
        .filter(|change| change.status == Status::Created && is_adjacency(&change.class))
}

/// The one-line summary of an adjacency change: `eth1/49 LLDP neighbour spine1 Ethernet1/1
/// created`. A `deleted` push carries only the dn, so it names the port alone.
pub fn summary(change: &ViewChange) -> String {
    let attribute = |key: &str| change.attributes.get(key).map(String::as_str);
    let protocol = if change.class == "cdpAdjEp" {
        "CDP"
    } else {
        "LLDP"
    };
    let port = local_port(&change.dn).unwrap_or(change.dn.as_str());
    let neighbour = match change.class.as_str() {
        "cdpAdjEp" => attribute("devId").or(attribute("sysName")),
        _ => attribute("sysName").or(attribute("chassisIdV")),
    };
    let neighbour_port = match change.class.as_str() {
        "cdpAdjEp" => attribute("portId"),
        _ => attribute("portIdV"),
    };
    let status = change.status.as_str();
    match (neighbour, neighbour_port) {
        (Some(neighbour), Some(neighbour_port)) => {
            format!("{port} {protocol} neighbour {neighbour} {neighbour_port} {status}")
        }
        (Some(neighbour), None) => format!("{port} {protocol} neighbour {neighbour} {status}"),
        _ if change.status == Status::Deleted => format!("{port} {protocol} neighbour gone"),
        _ => format!("{port} {protocol} neighbour {status}"),
    }
}

/// `…/if-[eth1/49]/adj-1` → `eth1/49`.
fn local_port(dn: &str) -> Option<&str> {
    let start = dn.find("/if-[")? + "/if-[".len();
    let end = start + dn[start..].find(']')?;
    Some(&dn[start..end])
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::config::DiscoveryProtocol;

    fn change(class: &str, status: Status, pairs: &[(&str, &str)]) -> ViewChange {
        let dn = if class == "cdpAdjEp" {
            "sys/cdp/inst/if-[eth1/49]/adj-1"
        } else {
            "topology/pod-1/node-101/sys/lldp/inst/if-[eth1/49]/adj-1"
        };
        let mut attributes: BTreeMap<String, String> = pairs
            .iter()
            .map(|(key, value)| ((*key).to_owned(), (*value).to_owned()))
            .collect();
        attributes.insert("dn".into(), dn.into());
        ViewChange {
            class: class.into(),
            dn: dn.into(),
            status,
            attributes,
        }
    }

    #[test]
    fn queries_follow_the_protocols_and_the_switch() {
        assert!(queries(None).is_empty());
        let mut topology = TopologyConfig::default();
        assert_eq!(
            queries(Some(&topology)),
            ["/api/class/lldpAdjEp.json", "/api/class/cdpAdjEp.json"]
        );
        topology.protocols = vec![DiscoveryProtocol::Cdp];
        assert_eq!(queries(Some(&topology)), ["/api/class/cdpAdjEp.json"]);
        topology.enabled = false;
        assert!(queries(Some(&topology)).is_empty());
    }

    #[test]
    fn summaries_name_the_port_the_neighbour_and_its_port() {
        let lldp = change(
            "lldpAdjEp",
            Status::Created,
            &[("sysName", "spine1"), ("portIdV", "Ethernet1/1")],
        );
        assert_eq!(
            summary(&lldp),
            "eth1/49 LLDP neighbour spine1 Ethernet1/1 created"
        );
        let cdp = change(
            "cdpAdjEp",
            Status::Created,
            &[("devId", "spine1(SIM1)"), ("portId", "Ethernet1/1")],
        );
        assert_eq!(
            summary(&cdp),
            "eth1/49 CDP neighbour spine1(SIM1) Ethernet1/1 created"
        );
        let gone = change("lldpAdjEp", Status::Deleted, &[("status", "deleted")]);
        assert_eq!(summary(&gone), "eth1/49 LLDP neighbour gone");
    }

    #[test]
    fn adjacency_events_are_information_about_the_object() {
        let gone = change("lldpAdjEp", Status::Deleted, &[("status", "deleted")]);
        let event =
            super::super::normalize::to_event("apic1", &gone, false, jiff::Timestamp::UNIX_EPOCH);
        assert_eq!(event.kind, "com.cisco.dme.deleted");
        assert_eq!(event.objectclass.as_deref(), Some("lldpAdjEp"));
        assert_eq!(event.subject.as_deref(), Some(gone.dn.as_str()));
        assert_eq!(event.device, "pod-1/node-101");
        assert_eq!(event.alarmstate, crate::event::AlarmState::Info);
        assert_eq!(
            event.data["lldpAdjEp"]["attributes"]["dn"],
            gone.dn.as_str()
        );
        let cdp = change("cdpAdjEp", Status::Created, &[("devId", "spine1(SIM1)")]);
        let event =
            super::super::normalize::to_event("leaf1", &cdp, true, jiff::Timestamp::UNIX_EPOCH);
        assert_eq!(event.kind, "com.cisco.dme.created");
        assert_eq!(event.alarmstate, crate::event::AlarmState::Info);
        assert_eq!(event.severity, crate::event::Severity::Info);
        assert!(event.resync);
    }

    #[test]
    fn the_baseline_publishes_adjacencies_only() {
        let changes = [
            change("lldpAdjEp", Status::Created, &[]),
            change("cdpAdjEp", Status::Created, &[]),
            ViewChange {
                class: "ethpmPhysIf".into(),
                dn: "sys/intf/phys-[eth1/1]/phys".into(),
                status: Status::Created,
                attributes: BTreeMap::new(),
            },
        ];
        let classes: Vec<&str> = baseline(&changes)
            .map(|change| change.class.as_str())
            .collect();
        assert_eq!(classes, ["lldpAdjEp", "cdpAdjEp"]);
    }
}
