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
//! - `policy.rs` — [`Policy`]: the tree, the intervals and the inhibition rules compiled and
//!   checked.
//! - `engine.rs` — [`Engine`]: groups and their timers, every rule applied, the state it keeps
//!   as rows to persist, [`Decision`]s for the trace; `observe.rs` (events in) and `clock.rs`
//!   (time in) are its two halves, `group.rs` a group and its notification, `state.rs` the
//!   rows.
//! - `topology.rs` — the LLDP/CDP graph folded from adjacency events, failures and what is
//!   behind them (`adjacency.rs` reads the events and names); `hold.rs` the alarms held behind a root cause and their release;
//!   `topology_view.rs` the graph and holds as `GET /api/v1/topology` shows them.

mod adjacency;
mod clock;
mod engine;
mod flap;
mod group;
mod hold;
mod inhibit;
mod interval;
mod matcher;
mod mute;
mod notification;
mod observe;
mod policy;
mod state;
mod topology;
mod topology_view;
mod tree;

#[cfg(test)]
mod engine_tests;
#[cfg(test)]
mod hold_tests;
#[cfg(test)]
mod inhibit_tests;
#[cfg(test)]
mod mute_tests;
#[cfg(test)]
mod testkit;
#[cfg(test)]
mod topology_tests;
#[cfg(test)]
mod tree_tests;

pub use engine::{Decision, Due, Engine, Outcome, Policy, RoutedEvent, StateChange};
pub use hold::replay;
pub use interval::TimeInterval;
pub use matcher::{ATTRIBUTES, Matcher, Routes, attribute, check_attribute, matches};
pub use mute::{Mute, MuteKind};
pub use notification::{
    AlarmLine, Counts, LineState, NOTIFICATION_TYPE, Notification, NotificationReason,
    OPERATOR_TYPE_PREFIX, OWN_SOURCE, RootCause, SeverityCounts, is_notification,
    is_operator_event, is_own, operator_types,
};
pub use topology_view::{EdgeView, HoldView, NodeView, TopologyView, topology_view};
pub use tree::{EACH_ALARM, GroupKey, RouteMatch, RouteSettings, RouteTree, group_key};

/// The events of a document as `netpulse route test` takes it: one netpulse event (as the API,
/// the feed or a file sink gives it), an array of them, or an API page (`{"events": [...]}`).
pub fn events_of_document(text: &str) -> Result<Vec<crate::event::Event>, serde_json::Error> {
    #[derive(serde::Deserialize)]
    #[serde(untagged)]
    enum Document {
        One(Box<crate::event::Event>),
        Many(Vec<crate::event::Event>),
        Page { events: Vec<crate::event::Event> },
    }
    Ok(match serde_json::from_str(text)? {
        Document::One(event) => vec![*event],
        Document::Many(events) | Document::Page { events } => events,
    })
}
