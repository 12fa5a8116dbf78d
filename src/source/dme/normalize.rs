//! Turns a DME object change into a normalized [`Event`]: its type, time, severity, alarm state
//! and a one-line summary a network engineer can read. Pure, no IO.

use serde_json::{Map, Value, json};

use super::view::{Status, ViewChange};
use crate::event::{AlarmState, Event, Severity};

/// The CloudEvents `type` of a DME change: `com.cisco.dme.created|modified|deleted`.
pub fn event_type(status: Status) -> &'static str {
    match status {
        Status::Created => "com.cisco.dme.created",
        Status::Modified => "com.cisco.dme.modified",
        Status::Deleted => "com.cisco.dme.deleted",
    }
}

/// Builds the event for one change; `data` is the object in the device's own JSON shape.
pub fn to_event(
    source_name: &str,
    change: &ViewChange,
    resync: bool,
    received: jiff::Timestamp,
) -> Event {
    let time = change
        .attributes
        .get("modTs")
        .and_then(|text| text.parse::<jiff::Timestamp>().ok())
        .unwrap_or(received);
    let attributes: Map<String, Value> = change
        .attributes
        .iter()
        .map(|(key, value)| (key.clone(), Value::String(value.clone())))
        .collect();
    let data = json!({ change.class.as_str(): { "attributes": attributes } });
    let mut event = Event::new(source_name, event_type(change.status), time, data);
    if let Some(node) = fabric_node(&change.dn) {
        event.device = node.to_owned();
    }
    event.subject = Some(change.dn.clone());
    event.objectclass = Some(change.class.clone());
    event.resync = resync;
    let (severity, alarm, summary) = classify(change);
    event.severity = severity;
    event.alarmstate = alarm;
    event.summary = summary;
    event
}

fn classify(change: &ViewChange) -> (Severity, AlarmState, String) {
    let attribute = |key: &str| change.attributes.get(key).map(String::as_str);
    let status = change.status.as_str();
    // Nothing but a newer modTs (after a gap: changed and changed back meanwhile): a mark, which
    // must not raise or clear anything.
    if change.status == Status::Modified && changed_keys(change).is_empty() {
        let what = match change.class.as_str() {
            "ethpmPhysIf" | "l1PhysIf" => interface(&change.dn).to_owned(),
            class => format!("{class} {}", change.dn),
        };
        return (
            Severity::Info,
            AlarmState::Info,
            format!("{what} touched: only modTs changed"),
        );
    }
    match change.class.as_str() {
        "ethpmPhysIf" => match attribute("operSt") {
            Some("down") => {
                let reason = attribute("operStQual").filter(|q| !q.is_empty() && *q != "none");
                let reason = reason.map(|q| format!(" ({q})")).unwrap_or_default();
                (
                    Severity::Major,
                    AlarmState::Raised,
                    format!("{} link down{reason}", interface(&change.dn)),
                )
            }
            Some("up") => (
                Severity::Info,
                AlarmState::Cleared,
                format!("{} link up", interface(&change.dn)),
            ),
            _ => (
                Severity::Info,
                AlarmState::Info,
                format!(
                    "{} port state {status}{}",
                    interface(&change.dn),
                    changed_keys(change)
                ),
            ),
        },
        "l1PhysIf" => match attribute("adminSt") {
            Some(state @ ("up" | "down")) => {
                let severity = if state == "down" {
                    Severity::Warning
                } else {
                    Severity::Info
                };
                (
                    severity,
                    AlarmState::Info,
                    format!("{} admin {state}", interface(&change.dn)),
                )
            }
            _ => (
                Severity::Info,
                AlarmState::Info,
                format!(
                    "{} config {status}{}",
                    interface(&change.dn),
                    changed_keys(change)
                ),
            ),
        },
        "l2BD" => {
            let name = attribute("fabEncap")
                .map(str::to_owned)
                .unwrap_or_else(|| bracketed(&change.dn).to_owned());
            (
                Severity::Info,
                AlarmState::Info,
                format!("{name} {status}{}", changed_keys(change)),
            )
        }
        "faultInst" => fault(change),
        // Adjacencies feed the topology graph; they never raise or clear anything.
        class if super::adjacency::is_adjacency(class) => (
            Severity::Info,
            AlarmState::Info,
            super::adjacency::summary(change),
        ),
        "eventRecord" | "aaaModLR" => record(change),
        class => (
            Severity::Info,
            AlarmState::Info,
            format!("{class} {} {status}{}", change.dn, changed_keys(change)),
        ),
    }
}

/// APIC/NX-OS faults: severity from the fault, cleared when the fault says so or disappears.
fn fault(change: &ViewChange) -> (Severity, AlarmState, String) {
    let attribute = |key: &str| change.attributes.get(key).map(String::as_str);
    // A modification push carries only what changed: the code is also the dn's last part
    // (`.../fault-F0546`), and the object it is about is the dn's parent.
    let code = attribute("code")
        .or_else(|| change.dn.rsplit_once("/fault-").map(|(_, code)| code))
        .unwrap_or("fault");
    let about = change
        .dn
        .rsplit_once("/fault-")
        .map_or(change.dn.as_str(), |(parent, _)| parent);
    let fallback = match attribute("lc") {
        Some(lc) => format!("{about} ({lc})"),
        None => about.to_owned(),
    };
    let text = attribute("descr").unwrap_or(&fallback);
    let severity = match attribute("severity") {
        Some("critical") => Severity::Critical,
        Some("major") => Severity::Major,
        Some("minor") => Severity::Minor,
        Some("warning") => Severity::Warning,
        _ => Severity::Info,
    };
    // The fault lifecycle (`lc`): soaking (raised, waiting to see if it lasts) and raised are
    // active; raised-clearing and soaking-clearing (the condition is gone, the fault waits out its
    // clearing interval) and retaining (kept for history) are cleared, as is a deleted record.
    let cleared = change.status == Status::Deleted
        || attribute("severity") == Some("cleared")
        || matches!(
            attribute("lc"),
            Some("retaining" | "soaking-clearing" | "raised-clearing")
        );
    if cleared {
        (
            Severity::Info,
            AlarmState::Cleared,
            format!("{code} cleared: {text}"),
        )
    } else {
        let soaking = if attribute("lc") == Some("soaking") && attribute("descr").is_some() {
            " (soaking)"
        } else {
            ""
        };
        (
            severity,
            AlarmState::Raised,
            format!("{code}: {text}{soaking}"),
        )
    }
}

/// APIC event records and audit records (`aaaModLR`: who changed what): information, never
/// alarms. Their attributes follow the APIC management information model: `code`, `descr`,
/// `severity`, `user`, `ind` (creation, modification, deletion), `affected` (the changed dn).
fn record(change: &ViewChange) -> (Severity, AlarmState, String) {
    let attribute = |key: &str| change.attributes.get(key).map(String::as_str);
    let severity = match attribute("severity") {
        Some("critical") => Severity::Critical,
        Some("major") => Severity::Major,
        Some("minor") => Severity::Minor,
        Some("warning") => Severity::Warning,
        _ => Severity::Info,
    };
    let descr = attribute("descr").unwrap_or(&change.dn);
    let summary = match (change.class.as_str(), attribute("user")) {
        ("aaaModLR", Some(user)) if !user.is_empty() => {
            let action = attribute("ind").unwrap_or("change");
            let affected = attribute("affected").unwrap_or("");
            format!("{user}: {action} {affected}: {descr}")
        }
        _ => format!("{}: {descr}", attribute("code").unwrap_or("event")),
    };
    (severity, AlarmState::Info, summary)
}

/// `topology/pod-1/node-101/sys/...` → `pod-1/node-101`: on an APIC the node an object belongs
/// to is the device a network engineer thinks of.
fn fabric_node(dn: &str) -> Option<&str> {
    let rest = dn.strip_prefix("topology/")?;
    let pod_end = rest.find('/')?;
    let node_end = rest[pod_end + 1..]
        .find('/')
        .map_or(rest.len(), |end| pod_end + 1 + end);
    let node = &rest[..node_end];
    node[pod_end + 1..].starts_with("node-").then_some(node)
}

/// `sys/intf/phys-[eth1/3]/phys` → `eth1/3`.
fn interface(dn: &str) -> &str {
    bracketed(dn)
}

fn bracketed(dn: &str) -> &str {
    match (dn.find('['), dn.rfind(']')) {
        (Some(start), Some(end)) if start < end => &dn[start + 1..end],
        _ => dn,
    }
}

fn changed_keys(change: &ViewChange) -> String {
    if change.status != Status::Modified {
        return String::new();
    }
    let keys: Vec<&str> = change
        .attributes
        .keys()
        .map(String::as_str)
        .filter(|key| !matches!(*key, "dn" | "rn" | "status" | "modTs" | "childAction"))
        .collect();
    if keys.is_empty() {
        String::new()
    } else {
        format!(": {}", keys.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(class: &str, dn: &str, status: Status, pairs: &[(&str, &str)]) -> ViewChange {
        ViewChange {
            class: class.into(),
            dn: dn.into(),
            status,
            attributes: pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    /// The event of `change` seen live (not in a resync) at [`now`].
    fn live(source_name: &str, change: ViewChange) -> Event {
        to_event(source_name, &change, false, now())
    }

    fn now() -> jiff::Timestamp {
        "2026-11-28T00:00:00Z".parse().unwrap()
    }

    #[test]
    fn apic_faults_follow_their_lifecycle_and_records_are_information() {
        let dn = "topology/pod-1/node-103/sys/phys-[eth9/24]/phys/fault-F0546";
        let fault = |status, lc: &str, severity: &str| {
            live(
                "apic1",
                change(
                    "faultInst",
                    dn,
                    status,
                    &[
                        ("code", "F0546"),
                        ("descr", "Port is down"),
                        ("lc", lc),
                        ("severity", severity),
                    ],
                ),
            )
        };
        let soaking = fault(Status::Created, "soaking", "minor");
        assert_eq!(soaking.alarmstate, AlarmState::Raised);
        assert_eq!(soaking.device, "pod-1/node-103");
        assert_eq!(soaking.summary, "F0546: Port is down (soaking)");
        let raised = fault(Status::Modified, "raised", "major");
        assert_eq!(
            (raised.alarmstate, raised.severity),
            (AlarmState::Raised, Severity::Major)
        );
        for (lc, severity) in [
            ("raised-clearing", "cleared"),
            ("retaining", "cleared"),
            ("soaking-clearing", "minor"),
        ] {
            assert_eq!(
                fault(Status::Modified, lc, severity).alarmstate,
                AlarmState::Cleared,
                "{lc}"
            );
        }
        assert_eq!(
            fault(Status::Deleted, "retaining", "cleared").alarmstate,
            AlarmState::Cleared
        );

        let audit = live(
            "apic1",
            change(
                "aaaModLR",
                "subj-[uni/tn-prod/BD-web]/mod-4294967301",
                Status::Created,
                &[
                    ("user", "admin"),
                    ("ind", "modification"),
                    ("affected", "uni/tn-prod/BD-web"),
                    ("descr", "BD web modified"),
                    ("severity", "info"),
                ],
            ),
        );
        assert_eq!(audit.alarmstate, AlarmState::Info);
        assert_eq!(
            audit.summary,
            "admin: modification uni/tn-prod/BD-web: BD web modified"
        );
        assert_eq!(audit.device, "apic1");
        assert_eq!(
            fabric_node("topology/pod-2/node-201"),
            Some("pod-2/node-201")
        );
        assert_eq!(fabric_node("topology/pod-2/paths-201"), None);
        assert_eq!(fabric_node("sys/intf"), None);
    }

    #[test]
    fn a_link_down_raises_and_a_link_up_clears() {
        let dn = "sys/intf/phys-[eth1/3]/phys";
        let down = live(
            "leaf1",
            change(
                "ethpmPhysIf",
                dn,
                Status::Modified,
                &[
                    ("dn", dn),
                    ("operSt", "down"),
                    ("operStQual", "link-failure"),
                    ("modTs", "2019-10-18T19:42:29.446+00:00"),
                ],
            ),
        );
        assert_eq!(
            (down.severity, down.alarmstate),
            (Severity::Major, AlarmState::Raised)
        );
        assert_eq!(down.summary, "eth1/3 link down (link-failure)");
        assert_eq!(
            down.time.to_string(),
            "2019-10-18T19:42:29.446Z",
            "time is the device's modTs"
        );
        assert_eq!(down.kind, "com.cisco.dme.modified");
        assert_eq!(down.subject.as_deref(), Some(dn));
        assert_eq!(down.data["ethpmPhysIf"]["attributes"]["operSt"], "down");
        let up = live(
            "leaf1",
            change("ethpmPhysIf", dn, Status::Modified, &[("operSt", "up")]),
        );
        assert_eq!(
            (up.alarmstate, up.summary.as_str()),
            (AlarmState::Cleared, "eth1/3 link up")
        );
        assert_eq!(up.time, now(), "without modTs the receive time is used");
    }

    #[test]
    fn vlan_and_config_changes_are_information() {
        let vlan = to_event(
            "leaf1",
            &change("l2BD", "sys/bd/bd-[vlan-101]", Status::Deleted, &[]),
            true,
            now(),
        );
        assert_eq!(
            (vlan.alarmstate, vlan.summary.as_str(), vlan.resync),
            (AlarmState::Info, "vlan-101 deleted", true)
        );
        let descr = live(
            "leaf1",
            change(
                "l1PhysIf",
                "sys/intf/phys-[eth1/1]",
                Status::Modified,
                &[("descr", "uplink")],
            ),
        );
        assert_eq!(descr.summary, "eth1/1 config modified: descr");
    }

    #[test]
    fn an_object_touched_during_a_gap_raises_and_clears_nothing() {
        for (class, dn, summary) in [
            (
                "ethpmPhysIf",
                "sys/intf/phys-[eth1/1]/phys",
                "eth1/1 touched: only modTs changed",
            ),
            (
                "faultInst",
                "topology/pod-1/node-101/sys/phys-[eth1/1]/fault-F0532",
                "faultInst topology/pod-1/node-101/sys/phys-[eth1/1]/fault-F0532 touched: only modTs changed",
            ),
        ] {
            let touched = to_event(
                "leaf1",
                &change(
                    class,
                    dn,
                    Status::Modified,
                    &[("modTs", "2026-01-01T00:05:00.000+00:00")],
                ),
                true,
                now(),
            );
            assert_eq!(touched.alarmstate, AlarmState::Info, "{class}");
            assert_eq!(touched.severity, Severity::Info);
            assert_eq!(touched.summary, summary);
        }
    }

    #[test]
    fn a_fault_carries_its_severity_until_it_clears() {
        let raised = live(
            "apic",
            change(
                "faultInst",
                "x/fault-F0546",
                Status::Created,
                &[
                    ("code", "F0546"),
                    ("severity", "major"),
                    ("descr", "Port is down"),
                ],
            ),
        );
        assert_eq!(
            (raised.severity, raised.alarmstate),
            (Severity::Major, AlarmState::Raised)
        );
        let cleared = live(
            "apic",
            change(
                "faultInst",
                "x/fault-F0546",
                Status::Modified,
                &[("severity", "cleared")],
            ),
        );
        assert_eq!(cleared.alarmstate, AlarmState::Cleared);
    }
}
