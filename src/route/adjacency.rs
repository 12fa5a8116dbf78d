//! Reading the devices' words: an adjacency event as an [`Adjacency`], a neighbour's announced
//! name as the device netpulse knows, a port name normalized, where an alarm is ([`Place`]), the
//! root globs.

use std::collections::BTreeSet;

use super::topology::{Adjacency, Place};
use crate::config::TopologyConfig;
use crate::event::{Event, GAP_EVENT_TYPE};

/// A device-name glob: `*` any run of characters, case-insensitive.
pub(crate) fn glob_matches(glob: &str, name: &str) -> bool {
    let glob = glob.to_ascii_lowercase();
    let name = name.to_ascii_lowercase();
    let parts: Vec<&str> = glob.split('*').collect();
    if parts.len() == 1 {
        return glob == name;
    }
    let mut rest = name.as_str();
    for (index, part) in parts.iter().enumerate() {
        if index == 0 {
            let Some(after) = rest.strip_prefix(part) else {
                return false;
            };
            rest = after;
        } else if index == parts.len() - 1 {
            return rest.ends_with(part);
        } else {
            match rest.find(part) {
                Some(at) => rest = &rest[at + part.len()..],
                None => return false,
            }
        }
    }
    true
}

/// The device name netpulse knows a neighbour by: an alias, else the reporting device whose
/// name matches case-insensitively once the domain is stripped, else the stripped name. An
/// APIC's devices are its fabric nodes (`pod-1/node-101`), which no adjacency announces: there
/// the aliases are needed (the node's own `topSystem` name is not subscribed to).
pub(crate) fn resolve(
    config: &TopologyConfig,
    known: &BTreeSet<String>,
    announced: &str,
) -> String {
    if let Some(alias) = config.aliases.get(announced) {
        return alias.clone();
    }
    if let Some((_, alias)) = config
        .aliases
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(announced))
    {
        return alias.clone();
    }
    let short = strip_domain(announced);
    known
        .iter()
        .find(|device| strip_domain(device).eq_ignore_ascii_case(short))
        .cloned()
        .unwrap_or_else(|| short.to_owned())
}

fn strip_domain(name: &str) -> &str {
    // An IP address as a name keeps its dots.
    if name.parse::<std::net::IpAddr>().is_ok() {
        return name;
    }
    name.split('.').next().unwrap_or(name)
}

/// `Ethernet1/49`, `Eth1/49`, `eth1/49` → `eth1/49`; other names lowercased as they are.
pub(crate) fn normalize_port(port: &str) -> String {
    let lower = port.trim().to_ascii_lowercase();
    for long in ["ethernet", "eth"] {
        if let Some(rest) = lower.strip_prefix(long)
            && rest.starts_with(|c: char| c.is_ascii_digit())
        {
            return format!("eth{rest}");
        }
    }
    lower
}

/// The text between `marker[` and the next `]` of a DME dn.
fn bracket<'a>(dn: &'a str, marker: &str) -> Option<&'a str> {
    let start = dn.find(marker)? + marker.len();
    let end = dn[start..].find(']')? + start;
    Some(&dn[start..end])
}

/// The adjacency an event reports, if it is one: the DME class (`objectclass`) `lldpAdjEp` or
/// `cdpAdjEp` of a protocol the configuration takes, its dn naming the local interface
/// (`sys/lldp/inst/if-[eth1/1]/adj-1`).
pub(crate) fn adjacency_of(config: &TopologyConfig, event: &Event) -> Option<Adjacency> {
    let class = event.objectclass.as_deref()?;
    let protocol = config
        .protocols
        .iter()
        .find(|protocol| protocol.class() == class)?;
    if !event.kind.starts_with("com.cisco.dme.") {
        return None;
    }
    let dn = event.subject.as_deref()?;
    let port = normalize_port(bracket(dn, "if-[")?);
    let up = event.kind != "com.cisco.dme.deleted";
    let attributes = event.data.get(class)?.get("attributes")?;
    let text = |name: &str| {
        attributes
            .get(name)
            .and_then(|value| value.as_str())
            .unwrap_or_default()
            .trim()
    };
    let (neighbour, neighbour_port) = if class == "lldpAdjEp" {
        (text("sysName").to_owned(), text("portIdV"))
    } else {
        // CDP's device id carries the serial in parentheses on NX-OS (`leaf-1(FDO123)`).
        let id = text("devId");
        let name = id.split('(').next().unwrap_or(id).trim();
        let name = if name.is_empty() {
            text("sysName")
        } else {
            name
        };
        (name.to_owned(), text("portId"))
    };
    // A deletion may carry only the dn: the kept adjacency supplies the rest.
    if neighbour.is_empty() && up {
        return None;
    }
    Some(Adjacency {
        device: event.device.clone(),
        port,
        protocol: format!("{protocol:?}").to_ascii_lowercase(),
        neighbour,
        neighbour_port: normalize_port(neighbour_port),
        up,
        since: event.time,
    })
}

/// Where the alarm an event raises is: a port (`phys-[eth1/1]` in its dn, as interface objects
/// and APIC port faults have), or its device; a device failure for a gap or a type that says the
/// device is unreachable or down. INFER: no DME class announces "device down"; these are
/// netpulse's own signals and the names a webhook provider may use.
pub(crate) fn place_of(event: &Event) -> Place {
    let port = event
        .subject
        .as_deref()
        .and_then(|dn| bracket(dn, "phys-["))
        .map(normalize_port);
    let kind = event.kind.to_ascii_lowercase();
    let device_failure = port.is_none()
        && (event.kind == GAP_EVENT_TYPE
            || kind.contains("unreachable")
            || kind.ends_with("device.down")
            || kind.ends_with("node.down"));
    Place {
        device: event.device.clone(),
        port,
        device_failure,
        summary: event.summary.clone(),
    }
}
