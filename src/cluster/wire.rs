//! What netpulse puts in NATS, in one place: every node of a cluster, whatever its version within
//! a release, reads what the others wrote.
//!
//! **The stream** (`cluster.stream.name`, default `NP_EVENTS`; replicated; `Nats-Msg-Id`
//! duplicate window) holds two kinds of subjects, in one total order that every node folds the
//! same way:
//!
//! - `np.ev.<source>`: one event ([`WireEvent`], JSON). Header `Nats-Msg-Id` = [`natural_id`];
//!   header [`NODE`] = the publishing node; a device session's event also carries [`FENCE`] =
//!   `<lease key> <acquisition revision>`.
//! - `np.ctl.<kind>.<key>`: a control message ([`Control`], JSON), folded by every node's
//!   projection into its store in stream order: a lease acquisition (the fencing record), a
//!   sink's delivery outcome, a Webex card or thread.
//!
//! The stream sequence of a message is the `seq` of the event it carries, on every node.
//!
//! **Key-value buckets**: [`LEASES_BUCKET`] (keys from [`LeaseKey`], values [`LeaseValue`],
//! `max_age` = `cluster.lease.ttl`, history 1) and [`MEMBERS_BUCKET`] (key = node id, value
//! [`MemberValue`], `max_age` = `cluster.lease.member_ttl`).

use serde::{Deserialize, Serialize};

use crate::event::Event;

/// The lease bucket.
pub const LEASES_BUCKET: &str = "np_leases";
/// The members bucket: one heartbeat key per live node.
pub const MEMBERS_BUCKET: &str = "np_members";
/// Subject prefix of events.
pub const EVENTS_PREFIX: &str = "np.ev";
/// Subject prefix of control messages.
pub const CONTROL_PREFIX: &str = "np.ctl";
/// Header: the node that published the message.
pub const NODE: &str = "Np-Node";
/// Header: `<lease key> <acquisition revision>` of the session (or sink deliverer) that produced
/// the message. The projection drops a message whose revision is older than the last
/// [`Control::Lease`] it folded for that key: the writer was paused past its lease and woke up.
pub const FENCE: &str = "Np-Fence";
/// The standard JetStream de-duplication header.
pub const MSG_ID: &str = "Nats-Msg-Id";

/// An event as published: the event (its `seq` is ignored; the stream sequence replaces it), its
/// idempotency key and the alarm states it sets. A receiver's raw body is published as the
/// event's `data`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WireEvent {
    pub event: Event,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idempotency_key: Option<String>,
    /// `+key` raises, `-key` clears (the store's `events.alarms` notation).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub alarms: Vec<String>,
}

/// A control message; the subject is `np.ctl.<kind>.<encoded key>` with `kind` from
/// [`Control::kind`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Control {
    /// A node acquired a lease (published, and confirmed by the stream, before the session or
    /// the deliverer starts): from here on, messages fenced with an older revision of this key
    /// are stale.
    Lease {
        key: String,
        node: String,
        revision: u64,
        acquired_ms: i64,
    },
    /// A sink's delivery of one event changed state (published by the sink's deliverer, fenced
    /// by the sink's lease).
    Delivery {
        sink: String,
        seq: u64,
        outcome: DeliveryOutcome,
    },
    /// A Webex sink posted a card (the `webex_cards` row), so a click reaching any node is
    /// checked against it.
    Card {
        message_id: String,
        sink: String,
        room: String,
        seq: u64,
        created_ms: i64,
    },
    /// A Webex sink started a group's thread (the `sink_threads` row).
    Thread {
        sink: String,
        group: String,
        message_id: String,
    },
    /// A device session's first snapshot (no stored view yet): the objects it reported no event
    /// for, so that whichever node owns the device next resynchronises against them (fenced by
    /// the device's lease). Later changes reach the view through the events themselves.
    Baseline {
        source: String,
        objects: Vec<ViewObject>,
    },
}

/// One object of a device's view: a DME managed object (`key` = its dn, `class`, its attributes)
/// or a pxGrid session (`key` = its session id).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ViewObject {
    pub key: String,
    pub class: String,
    pub attributes: std::collections::BTreeMap<String, String>,
}

/// What happened to one outbox row (sink, seq).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum DeliveryOutcome {
    /// About to send (recorded before the request, so the next deliverer knows the outcome is
    /// uncertain if no other outcome follows).
    Inflight {
        node: String,
    },
    Delivered,
    /// Failed; tried again at `next_attempt_ms`.
    Retry {
        attempts: u32,
        next_attempt_ms: i64,
        error: String,
    },
    Dead {
        attempts: u32,
        error: String,
    },
    /// A dead letter put back in the queue (`POST /api/v1/sinks/{name}/dead/{id}/retry`).
    Requeued,
}

impl Control {
    pub fn kind(&self) -> &'static str {
        match self {
            Control::Lease { .. } => "lease",
            Control::Delivery { .. } => "delivery",
            Control::Card { .. } => "card",
            Control::Thread { .. } => "thread",
            Control::Baseline { .. } => "baseline",
        }
    }

    /// The message's subject.
    pub fn subject(&self) -> String {
        let key = match self {
            Control::Lease { key, .. } => key.as_str(),
            Control::Baseline { source, .. } => source.as_str(),
            Control::Delivery { sink, .. }
            | Control::Card { sink, .. }
            | Control::Thread { sink, .. } => sink.as_str(),
        };
        format!("{CONTROL_PREFIX}.{}.{}", self.kind(), encode_token(key))
    }
}

/// The subject of an event from `source`.
pub fn event_subject(source: &str) -> String {
    format!("{EVENTS_PREFIX}.{}", encode_token(source))
}

/// A lease key: one device session (a session-holding source) or one sink's deliverer.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum LeaseKey {
    /// `dev.<source>`: a DME, pxGrid or Webex-events source's session.
    Device(String),
    /// `sink.<sink>`: the one node that delivers a sink's outbox.
    Sink(String),
}

impl LeaseKey {
    /// The key in the lease bucket (valid NATS KV key characters only).
    pub fn as_key(&self) -> String {
        match self {
            LeaseKey::Device(source) => format!("dev.{}", encode_token(source)),
            LeaseKey::Sink(sink) => format!("sink.{}", encode_token(sink)),
        }
    }

    /// The key read back from the bucket.
    pub fn parse(key: &str) -> Option<LeaseKey> {
        if let Some(source) = key.strip_prefix("dev.") {
            decode_token(source).map(LeaseKey::Device)
        } else if let Some(sink) = key.strip_prefix("sink.") {
            decode_token(sink).map(LeaseKey::Sink)
        } else {
            None
        }
    }
}

/// A lease's value: who holds it and since when (wall clock, for people; nothing is decided on it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LeaseValue {
    pub node: String,
    pub acquired_ms: i64,
}

/// A member's heartbeat value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MemberValue {
    pub node: String,
    #[serde(default)]
    pub api_url: Option<String>,
    pub version: String,
    pub started_ms: i64,
    /// Leases held at the last heartbeat.
    #[serde(default)]
    pub leases: u32,
}

/// A name as one NATS subject token and KV key segment: ASCII letters, digits, `-` and `_` as
/// they are; every other byte as `=` and two upper-case hex digits (so `.` cannot split a token
/// and the mapping is reversible).
pub fn encode_token(name: &str) -> String {
    let mut encoded = String::with_capacity(name.len());
    for byte in name.bytes() {
        if byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'_' {
            encoded.push(byte as char);
        } else {
            encoded.push('=');
            encoded.push_str(&format!("{byte:02X}"));
        }
    }
    encoded
}

/// The inverse of [`encode_token`]; `None` for text it cannot have made.
pub fn decode_token(token: &str) -> Option<String> {
    let bytes = token.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        if bytes[index] == b'=' {
            let hex = token.get(index + 1..index + 3)?;
            decoded.push(u8::from_str_radix(hex, 16).ok()?);
            index += 3;
        } else {
            decoded.push(bytes[index]);
            index += 1;
        }
    }
    String::from_utf8(decoded).ok()
}

/// The `Nats-Msg-Id` of an event: the same change published twice (a provider's redelivery to
/// another node, a relay from the spool, two sessions overlapping during a handover) gets the
/// same id, so the stream keeps one.
///
/// - an event with an idempotency key (a webhook's provider id): that key;
/// - any other event: its own `id` (a device change seen by two sessions has two ids; fencing at
///   the projection drops the stale session's copy).
pub fn natural_id(event: &Event, idempotency_key: Option<&str>) -> String {
    match idempotency_key {
        Some(key) => key.to_owned(),
        None => event.id.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_and_never_split_a_subject() {
        for name in ["leaf-101", "a.b c", "süd:1", "x=y", ""] {
            let token = encode_token(name);
            assert!(!token.contains('.') && !token.contains(' ') && !token.contains('*'));
            assert_eq!(decode_token(&token).as_deref(), Some(name));
        }
        assert_eq!(encode_token("a.b"), "a=2Eb");
        assert_eq!(decode_token("=4"), None);
    }

    #[test]
    fn lease_keys_read_back() {
        for key in [
            LeaseKey::Device("sw.1".into()),
            LeaseKey::Sink("noc room".into()),
        ] {
            assert_eq!(LeaseKey::parse(&key.as_key()), Some(key));
        }
        assert_eq!(LeaseKey::parse("other.x"), None);
    }

    #[test]
    fn control_subjects_name_kind_and_key() {
        let lease = Control::Lease {
            key: "dev.sw1".into(),
            node: "g1".into(),
            revision: 7,
            acquired_ms: 0,
        };
        assert_eq!(lease.subject(), "np.ctl.lease.dev=2Esw1");
        let text = serde_json::to_string(&lease).unwrap();
        assert_eq!(serde_json::from_str::<Control>(&text).unwrap(), lease);
    }
}
