//! What callers hand the store and what it answers: the events to append, the outcome of each,
//! the outbox rows a sink works on, how a delivery failed, why a write did not happen, and whether
//! the store takes writes.

use crate::event::{AlarmUpdate, Event};

/// An event to append, with what goes with it in the same transaction.
#[derive(Debug, Clone)]
pub struct NewEvent {
    /// The event; its `seq` is ignored and replaced by the one the store assigns.
    pub event: Event,
    /// The provider's natural id (`"sdwan:<uuid>"`): an event whose key is already stored is not
    /// stored again.
    pub idempotency_key: Option<String>,
    /// The sinks that must deliver this event: one outbox row each.
    pub sinks: Vec<String>,
    /// The alarm states this event sets: the alarm it raises, or the alarms it clears (an SD-WAN
    /// clearing document may name several).
    pub alarms: Vec<AlarmUpdate>,
    /// The event's `data` as the JSON text it arrived in, when the receiver kept it that way: the
    /// event's own `data` is then `null` and this text is stored in its place, unchanged, so the
    /// hot path never builds (and drops) a `serde_json::Value` of the document. The text must be
    /// one valid JSON value (the receiver has parsed it).
    pub raw_data: Option<bytes::Bytes>,
}

impl NewEvent {
    /// `event` alone: no idempotency key, no sink to deliver to, no alarm state, `data` as the
    /// event holds it.
    pub fn new(event: Event) -> NewEvent {
        NewEvent {
            event,
            idempotency_key: None,
            sinks: Vec::new(),
            alarms: Vec::new(),
            raw_data: None,
        }
    }
}

/// The outcome of one appended event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Appended {
    /// The event's sequence number: new, or the stored one for a duplicate.
    pub seq: u64,
    /// True when the idempotency key was already stored, so nothing was written.
    pub duplicate: bool,
}

/// An outbox row handed to a sink worker.
#[derive(Debug, Clone, PartialEq)]
pub struct Delivery {
    /// The outbox row, for [`super::Store::mark_delivered`] and [`super::Store::mark_failed`].
    pub id: i64,
    pub sink: String,
    pub seq: u64,
    /// Failed attempts so far.
    pub attempts: u32,
    /// True when an earlier netpulse process had claimed this row and stopped (crash, kill -9)
    /// before recording an outcome: it may already have been delivered. A sink that can check its
    /// target (the Webex sink looks for the message in the room) does so before sending again.
    pub uncertain: bool,
    pub event: Event,
}

/// Why a write did not happen. The HTTP layer branches on it.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    /// The store cannot write right now (disk full, read-only file, I/O error, writer stopped):
    /// nothing of the request was stored and it may be retried later. Answer 503.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// Like `Unavailable`, because the filesystem holding the store is full (SQLITE_FULL).
    #[error("store unavailable, its disk is full: {0}")]
    Full(String),
    /// This request cannot be stored for a reason of its own (for example its event id is already
    /// stored under another idempotency key); retrying will not help. Other requests of the same
    /// batch are not affected.
    #[error("store rejected the request: {0}")]
    Rejected(String),
}

/// How a delivery failed, for [`super::Store::mark_failed`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failed {
    /// An attempt that failed and will be retried: `attempts += 1`.
    Retry,
    /// The target asked to wait (429 with Retry-After): retried, and not counted as an attempt,
    /// so a long rate-limit storm never turns into a dead letter or a longer backoff.
    Deferred,
    /// No more retries: the row becomes a dead letter (`attempts += 1`).
    Dead,
}

/// Whether the store takes writes, as `/readyz` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteState {
    /// The latest transaction committed.
    Writing,
    /// The latest transaction failed for lack of space, and the store's filesystem now has
    /// `available` bytes free; the store counts as writable again from `needed` bytes on (a
    /// successful write is the only proof, but without traffic none would come).
    DiskFull { available: u64, needed: u64 },
    /// The latest transaction failed for another reason (read-only file, I/O error...): only a
    /// write that commits clears it.
    Failing,
}

impl WriteState {
    /// True when the store should be offered writes.
    pub fn ready(self) -> bool {
        match self {
            WriteState::Writing => true,
            WriteState::DiskFull { available, needed } => available >= needed,
            WriteState::Failing => false,
        }
    }
}

/// A snapshot of the writer's counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoreStats {
    /// Transactions committed (one per batch).
    pub commits: u64,
    /// Batches rolled back because the store was unavailable.
    pub failed_commits: u64,
}
