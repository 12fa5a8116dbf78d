//! What the engine's tests share: a policy from YAML, explicit times, events made by the real
//! normalizers from the fixtures of `tests/data/`, and a run that feeds an engine and keeps its
//! persisted rows as the router would.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::Value;

use super::engine::{Decision, Engine, Policy, RoutedEvent};
use super::mute::{Mute, MuteKind};
use super::notification::LineState;
use super::notification::Notification;
use crate::config::Config;
use crate::event::{AlarmUpdate, Event, Severity};
use crate::source::dme::normalize::to_event;
use crate::source::dme::view::{Status, ViewChange};
use crate::source::webhook::testing::{fixture_json, normalize_at};
use crate::source::webhook::{catalyst_center, sdwan};

/// The configuration's head: one source, two sinks; `tail` adds routes, intervals, rules.
pub(crate) fn config(tail: &str) -> Config {
    let yaml = format!(
        "sources:\n  - {{ name: vmanage, type: webhook, provider: sdwan, path: /hooks/sdwan, auth: {{ none: true }} }}\n\
         sinks:\n  - {{ name: noc, type: stdout }}\n  - {{ name: ops, type: stdout }}\n{tail}"
    );
    Config::parse_with(&yaml, Path::new("."), &|_| None).unwrap_or_else(|errors| panic!("{errors}"))
}

pub(crate) fn policy(tail: &str) -> Policy {
    Policy::compile(&config(tail)).unwrap_or_else(|errors| panic!("{errors:?}"))
}

/// `seconds` after a fixed instant.
pub(crate) fn at(seconds: i64) -> jiff::Timestamp {
    let start: jiff::Timestamp = "2026-03-02T08:00:00Z".parse().unwrap();
    start + jiff::SignedDuration::from_secs(seconds)
}

/// An SD-WAN alarm from `tests/data/sdwan/<file>`, edited first (another device, another uuid,
/// active or not), through the SD-WAN normalizer of the source `vmanage`.
pub(crate) fn sdwan_alarm(file: &str, edit: impl FnOnce(&mut Value)) -> (Event, Vec<AlarmUpdate>) {
    let mut document = fixture_json("sdwan", file);
    edit(&mut document);
    let body = serde_json::to_vec(&document).unwrap();
    let normalized = normalize_at("vmanage", &body, at(0), |name, request| {
        sdwan::normalize(name, request, Some("https://vmanage.example.com"))
    })
    .unwrap();
    let mut event = normalized.event;
    // The store writes the raw body as `data`; the engine sees the parsed document.
    event.data = document;
    (event, normalized.alarms)
}

/// The SD-WAN fixture as another edge's alarm: host name `device`, alarm `uuid`, raised when
/// `active`, else cleared.
pub(crate) fn edge_alarm(
    file: &str,
    device: &str,
    uuid: &str,
    active: bool,
) -> (Event, Vec<AlarmUpdate>) {
    sdwan_alarm(file, |document| {
        document["uuid"] = Value::from(uuid);
        document["active"] = Value::from(active);
        // An inactive record clears its own alarm when it names what cleared it, as the
        // inactive records of the fixtures do.
        document["cleared_by"] = Value::from(if active {
            ""
        } else {
            "f1c3e742-a514-4f1a-a76d-b6eb36ef69bc"
        });
        document["host_name"] = Value::from(device);
        if let Some(values) = document["values"].as_array_mut() {
            for value in values {
                value["host-name"] = Value::from(device);
            }
        }
    })
}

/// A Catalyst Center issue from `tests/data/catalyst-center/<file>`, edited first.
pub(crate) fn catalyst_issue(
    file: &str,
    edit: impl FnOnce(&mut Value),
) -> (Event, Vec<AlarmUpdate>) {
    let mut document = fixture_json("catalyst-center", file);
    edit(&mut document);
    let body = serde_json::to_vec(&document).unwrap();
    let normalized = normalize_at("catc", &body, at(0), |name, request| {
        catalyst_center::normalize(name, request, Some("https://dnac.example.com"))
    })
    .unwrap();
    (normalized.event, normalized.alarms)
}

/// An APIC fault (`faultInst`) as the DME source makes it: the attributes of
/// `tests/data/dme/faultInst-F0546-attributes-port-down.json`, edited first.
pub(crate) fn apic_fault(
    edit: impl FnOnce(&mut BTreeMap<String, String>),
) -> (Event, Vec<AlarmUpdate>) {
    let document = fixture_json("dme", "faultInst-F0546-attributes-port-down.json");
    let mut attributes: BTreeMap<String, String> = document
        .as_object()
        .unwrap()
        .iter()
        .map(|(key, value)| (key.clone(), value.as_str().unwrap_or_default().to_owned()))
        .collect();
    edit(&mut attributes);
    let change = ViewChange {
        class: "faultInst".to_owned(),
        dn: attributes["dn"].clone(),
        status: Status::Created,
        attributes,
    };
    let event = to_event("apic1", &change, false, at(0));
    let alarms = event.device_alarm().into_iter().collect();
    (event, alarms)
}

/// An informational event of the source `vmanage`.
pub(crate) fn info(device: &str, severity: Severity) -> Event {
    let mut event = Event::new(
        "vmanage",
        "com.cisco.sdwan.event",
        at(0),
        serde_json::json!({}),
    );
    event.device = device.to_owned();
    event.severity = severity;
    event.summary = format!("information from {device}");
    event
}

/// An engine fed as the router feeds it: seqs from 1, the state rows it persists after each
/// step, what it notified and decided.
pub(crate) struct Run {
    pub(crate) engine: Engine,
    pub(crate) policy: Policy,
    pub(crate) seq: u64,
    pub(crate) rows: BTreeMap<String, String>,
    pub(crate) notifications: Vec<Notification>,
    pub(crate) decisions: Vec<(u64, Decision)>,
    pub(crate) operator_events: Vec<Event>,
}

impl Run {
    pub(crate) fn new(policy: Policy) -> Run {
        Run {
            engine: Engine::new(policy.clone()),
            policy,
            seq: 0,
            rows: BTreeMap::new(),
            notifications: Vec::new(),
            decisions: Vec::new(),
            operator_events: Vec::new(),
        }
    }

    /// Observes `event` with its alarm updates at `now`: its seq and the decisions.
    pub(crate) fn send(
        &mut self,
        event: &(Event, Vec<AlarmUpdate>),
        now: jiff::Timestamp,
    ) -> (u64, Vec<Decision>) {
        self.seq += 1;
        let routed = RoutedEvent {
            seq: self.seq,
            event: &event.0,
            alarms: &event.1,
        };
        let decisions = self.engine.observe(routed, now);
        for decision in &decisions {
            self.decisions.push((self.seq, decision.clone()));
        }
        // Decisions about earlier events (a release): the router commits them in the same step,
        // with what `due` hands out.
        self.decisions.append(&mut self.engine.later);
        self.persist();
        (self.seq, decisions)
    }

    /// What is due at `now`: the notifications made.
    pub(crate) fn tick(&mut self, now: jiff::Timestamp) -> Vec<Notification> {
        let due = self.engine.due(now);
        self.decisions.extend(due.decisions);
        self.operator_events.extend(due.operator_events);
        self.notifications.extend(due.notifications.iter().cloned());
        self.persist();
        due.notifications
    }

    /// A new engine from the persisted rows, as after a restart.
    pub(crate) fn restart(&mut self) {
        let mut engine = Engine::new(self.policy.clone());
        let rows = self
            .rows
            .iter()
            .map(|(key, value)| (key.clone(), value.clone()))
            .collect();
        engine.restore(rows).unwrap();
        self.engine = engine;
    }

    fn persist(&mut self) {
        for change in self.engine.take_changes() {
            match change.value {
                Some(value) => self.rows.insert(change.key, value),
                None => self.rows.remove(&change.key),
            };
        }
    }
}

/// A distinct SD-WAN alarm uuid per device and alarm.
pub(crate) fn uuid(device: usize, alarm: usize) -> String {
    format!("00000000-0000-4000-8000-{device:06}{alarm:06}")
}

/// Each line's state and severity, in order.
pub(crate) fn states(notification: &Notification) -> Vec<(LineState, Severity)> {
    notification
        .alarms
        .iter()
        .map(|line| (line.state, line.severity))
        .collect()
}

/// An operator event as the API appends it.
pub(crate) fn operator(
    kind: &str,
    data: serde_json::Value,
) -> (Event, Vec<crate::event::AlarmUpdate>) {
    (Event::new("netpulse", kind, at(0), data), Vec::new())
}

/// A mute's JSON, from `from` to `to` seconds.
pub(crate) fn mute(
    id: &str,
    kind: MuteKind,
    matcher: serde_json::Value,
    from: i64,
    to: i64,
) -> serde_json::Value {
    let mute = Mute {
        id: id.to_owned(),
        kind,
        matcher: serde_json::from_value(matcher).unwrap(),
        starts_at: at(from),
        ends_at: at(to),
        comment: "change CHG0042".to_owned(),
        created_by: "alice".to_owned(),
        created_at: at(from),
        expired_by: None,
    };
    serde_json::to_value(mute).unwrap()
}

/// A DME change as an NX-OS source named `device` makes it (the source's name is the device's),
/// at `seconds`.
pub(crate) fn dme(
    device: &str,
    class: &str,
    dn: &str,
    status: Status,
    attributes: &[(&str, &str)],
    seconds: i64,
) -> (Event, Vec<AlarmUpdate>) {
    let mut map: BTreeMap<String, String> = attributes
        .iter()
        .map(|(key, value)| ((*key).to_owned(), (*value).to_owned()))
        .collect();
    map.insert("dn".to_owned(), dn.to_owned());
    let change = ViewChange {
        class: class.to_owned(),
        dn: dn.to_owned(),
        status,
        attributes: map,
    };
    let event = to_event(device, &change, false, at(seconds));
    let alarms = event.device_alarm().into_iter().collect();
    (event, alarms)
}

/// `device`'s LLDP neighbour on `port`: `neighbour` (its `sysName`) on its port `far`
/// (`portIdV`, e.g. `Ethernet1/49`); deleted when `up` is false.
pub(crate) fn lldp(
    device: &str,
    port: &str,
    neighbour: &str,
    far: &str,
    up: bool,
) -> (Event, Vec<AlarmUpdate>) {
    let dn = format!("sys/lldp/inst/if-[{port}]/adj-1");
    let status = if up { Status::Created } else { Status::Deleted };
    let attributes: &[(&str, &str)] = if up {
        &[
            ("sysName", neighbour),
            ("portIdV", far),
            ("chassisIdV", "00:de:fb:00:00:01"),
            ("id", "1"),
        ]
    } else {
        &[]
    };
    dme(device, "lldpAdjEp", &dn, status, attributes, 0)
}

/// `device`'s CDP neighbour on `port`: `dev_id` (`devId`, with its serial) on its port `far`.
pub(crate) fn cdp(device: &str, port: &str, dev_id: &str, far: &str) -> (Event, Vec<AlarmUpdate>) {
    let dn = format!("sys/cdp/inst/if-[{port}]/adj-1");
    let attributes = [
        ("devId", dev_id),
        ("portId", far),
        ("platId", "N9K-C93180YC-EX"),
    ];
    dme(device, "cdpAdjEp", &dn, Status::Created, &attributes, 0)
}

/// `device`'s port `port` down (raised) or up (cleared) at `seconds`, as `ethpmPhysIf`.
pub(crate) fn port(device: &str, port: &str, up: bool, seconds: i64) -> (Event, Vec<AlarmUpdate>) {
    let dn = format!("sys/phys-[{port}]/phys");
    let state = if up { "up" } else { "down" };
    dme(
        device,
        "ethpmPhysIf",
        &dn,
        Status::Modified,
        &[("operSt", state)],
        seconds,
    )
}
