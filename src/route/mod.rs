//! The alerting policy: pure functions over events, alarm state, operator state and the clock;
//! decisions out. No IO, no tokio, no store: `gateway::router` feeds it from the store's log and
//! commits what it decides.
//!
//! - `matcher.rs` — [`Matcher`], a compiled [`crate::config::EventMatcher`]; [`attribute`], an
//!   event's value of a `group_by`/`equal` attribute; [`Routes`], every sink's `match:` (the
//!   one-message-per-event shorthand of sinks no route names).
//! - `tree.rs` — [`RouteTree`]: the routing tree compiled, which routes, sinks and groups an
//!   event reaches, and why (`netpulse route test`).
//! - `interval.rs` — [`TimeInterval`]: recurring time intervals (Alertmanager's semantics).
//! - `inhibit.rs` — inhibition rules and the raised alarms that inhibit.
//! - `flap.rs` — flap detection per alarm.
//! - `mute.rs` — [`Mute`]: a silence or a one-off maintenance window made through the API.
//! - `notification.rs` — [`Notification`]: what a group says, as the `data` of an
//!   `io.netpulse.notification` event; the operator events' types.
//! - `engine.rs` — [`Engine`]: groups and their timers, every rule applied, the state it keeps
//!   as rows to persist, [`Decision`]s for the trace.

mod engine;
mod interval;
mod matcher;
mod mute;
mod notification;

pub use engine::{Decision, Due, Engine, Outcome, Policy, RoutedEvent, StateChange};
pub use interval::TimeInterval;
pub use matcher::{ATTRIBUTES, Matcher, Routes, attribute, check_attribute, matches};
pub use mute::{Mute, MuteKind};
pub use notification::{
    AlarmLine, Counts, LineState, NOTIFICATION_TYPE, Notification, NotificationReason,
    OPERATOR_TYPE_PREFIX, SeverityCounts, operator_types,
};
