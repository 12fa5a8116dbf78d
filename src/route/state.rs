//! The engine's state as rows: every change is written here as the row's new JSON (or its
//! deletion) the moment it happens, so `Engine::take_changes` hands the router exactly the rows
//! to persist in the transaction that also holds the notifications they explain.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;

use super::engine::StateChange;

/// Row key prefixes: one per kind of state, so `restore` knows what each row is.
pub(crate) const GROUP: &str = "group/";
pub(crate) const ALARM: &str = "alarm/";
pub(crate) const FLAP: &str = "flap/";
pub(crate) const INHIBIT: &str = "inhibit/";
pub(crate) const MUTE: &str = "mute/";
pub(crate) const META: &str = "meta";
/// An adjacency of the topology graph (`topology.rs`).
pub(crate) const TOPO: &str = "topo/";
/// A raised alarm on a port or a device: a failure when the graph has it (`hold.rs`).
pub(crate) const PLACE: &str = "place/";
/// A root cause holding alarms behind it.
pub(crate) const HOLD: &str = "hold/";
/// An alarm held behind a root cause.
pub(crate) const HELD: &str = "held/";

/// The rows changed since the last `take`; a row written twice keeps its last value.
#[derive(Debug, Default)]
pub(crate) struct Changes {
    rows: BTreeMap<String, Option<String>>,
}

impl Changes {
    pub(crate) fn put(&mut self, key: String, value: &impl Serialize) {
        let text = serde_json::to_string(value).expect("engine state is plain data");
        self.rows.insert(key, Some(text));
    }

    pub(crate) fn delete(&mut self, key: String) {
        self.rows.insert(key, None);
    }

    pub(crate) fn take(&mut self) -> Vec<StateChange> {
        std::mem::take(&mut self.rows)
            .into_iter()
            .map(|(key, value)| StateChange { key, value })
            .collect()
    }
}

/// The row key of an alarm of a group (and of its flap history): the group id, a separator no
/// route or sink name is expected to hold, the alarm key.
pub(crate) fn member_key(prefix: &str, group: &str, alarm: &str) -> String {
    format!("{prefix}{group}#{alarm}")
}

/// `at + duration`, saturating at the end of jiff's range (a huge configured duration means
/// "never", not a panic).
pub(crate) fn later(at: jiff::Timestamp, duration: Duration) -> jiff::Timestamp {
    jiff::SignedDuration::try_from(duration)
        .ok()
        .and_then(|span| at.checked_add(span).ok())
        .unwrap_or(jiff::Timestamp::MAX)
}

/// `at - duration`, saturating at the start of jiff's range.
pub(crate) fn earlier(at: jiff::Timestamp, duration: Duration) -> jiff::Timestamp {
    jiff::SignedDuration::try_from(duration)
        .ok()
        .and_then(|span| at.checked_sub(span).ok())
        .unwrap_or(jiff::Timestamp::MIN)
}

/// FNV-1a, 64 bits: a hash that is the same in every process and every version of Rust, so a
/// group's id survives a restart (std's `RandomState` is seeded per process).
pub(crate) fn fnv1a(parts: &[&str]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for part in parts {
        // Each part ends with a byte no UTF-8 text holds, so ("ab", "c") and ("a", "bc") differ.
        for byte in part.bytes().chain([0xff]) {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    hash
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_group_hash_is_fixed_and_separates_parts() {
        // The FNV-1a offset basis after hashing nothing but the separator: fixed forever.
        assert_eq!(fnv1a(&[]), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(&["vmanage"]), fnv1a(&["vmanage"]));
        assert_ne!(fnv1a(&["ab", "c"]), fnv1a(&["a", "bc"]));
    }

    #[test]
    fn a_row_written_twice_keeps_its_last_value() {
        let mut changes = Changes::default();
        changes.put("a".into(), &1);
        changes.put("a".into(), &2);
        changes.delete("b".into());
        let rows = changes.take();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].value.as_deref(), Some("2"));
        assert_eq!(rows[1].value, None);
        assert!(changes.take().is_empty());
    }
}
