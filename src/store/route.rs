//! The alerting engine's tables: its state rows (`route_state`, the log cursor among them), the
//! decisions of each event (`route_trace`), which notifications reported which events
//! (`notification_members`) and the thread each sink's group lives in (`sink_threads`). Its
//! commit appends the notifications and operator events it made in the same transaction as the
//! state that made them.

use crate::event::{AlarmUpdate, Event};
use crate::route::{Decision, StateChange};

use super::NewEvent;

/// One step of the router, committed whole or not at all.
#[derive(Debug, Default)]
pub struct RouteCommit {
    /// Every event up to this seq has been observed.
    pub cursor: u64,
    pub state: Vec<StateChange>,
    /// Decisions by event seq.
    pub traces: Vec<(u64, Decision)>,
    /// Notification events (each with its sink in `sinks`) and the seqs each reports.
    pub notifications: Vec<(NewEvent, Vec<u64>)>,
    /// Operator events the clock made (a window started or ended).
    pub operator_events: Vec<NewEvent>,
}

/// One event of the log with the alarms it raised or cleared.
#[derive(Debug, Clone)]
pub struct LoggedEvent {
    pub seq: u64,
    pub event: Event,
    pub alarms: Vec<AlarmUpdate>,
}

/// One decision about an event, as stored, with the notifications that reported it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct TraceRow {
    #[serde(flatten)]
    pub decision: Decision,
    /// The seqs of the notification events that reported this event (for `grouped`).
    pub notifications: Vec<u64>,
}
