//! The engine: every routed event in, decisions out; the clock in, notifications out. It holds
//! the groups with their timers, the raised alarms that inhibit, the flap history, the mutes;
//! each piece of that state is a row (`key`, JSON) the router persists in the same transaction
//! as the notifications it made, so a crash neither loses nor repeats one.

use serde::{Deserialize, Serialize};

use super::mute::Mute;
use super::notification::Notification;
use crate::config::Config;
use crate::event::{AlarmUpdate, Event};

/// The alerting policy of a configuration, compiled: the routing tree, the time intervals, the
/// inhibition rules.
#[derive(Debug, Clone)]
pub struct Policy {}

impl Policy {
    /// Compiles the configuration's `routes`, `time_intervals` and `inhibit_rules`; every
    /// problem in words, with its place.
    pub fn compile(config: &Config) -> Result<Policy, Vec<String>> {
        let _ = config;
        Ok(Policy {})
    }

    /// True when there is no route: nothing is grouped, only operator events matter.
    pub fn is_empty(&self) -> bool {
        true
    }

    /// The sinks some route names (they take no event through their own `match:`).
    pub fn routed_sinks(&self) -> Vec<String> {
        Vec::new()
    }
}

/// One event of the log as the engine sees it.
#[derive(Debug, Clone, Copy)]
pub struct RoutedEvent<'a> {
    pub seq: u64,
    pub event: &'a Event,
    /// The alarms it raises or clears (as the store recorded them).
    pub alarms: &'a [AlarmUpdate],
}

/// What became of an event for one route and sink.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Decision {
    pub route: String,
    pub sink: String,
    #[serde(flatten)]
    pub outcome: Outcome,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Outcome {
    /// Taken into a group; the notification that reports it says so (`members`).
    Grouped { group: String },
    /// Muted by a silence or a one-off window.
    Silenced { mute: String },
    /// Inhibited by this raised alarm, through this rule.
    Inhibited { alarm: String, rule: String },
    /// The route's `mute_time_intervals` (or outside its `active_time_intervals`).
    Muted { interval: String },
    /// The alarm is flapping: quiet until stable.
    Flapping { group: String },
    /// Taken by the route but not to be notified (a clear with `notify_clears: false`, a clear
    /// of an alarm never notified).
    NotNotified { why: String },
}

/// A row of the engine's state to write (`Some`) or delete (`None`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateChange {
    pub key: String,
    pub value: Option<String>,
}

/// What the clock made due.
#[derive(Debug, Clone, Default)]
pub struct Due {
    pub notifications: Vec<Notification>,
    /// Window started or ended, silence expired: appended to the log like any event.
    pub operator_events: Vec<Event>,
    /// Later decisions about events already observed (a silence made before their group's
    /// first notification), by seq.
    pub decisions: Vec<(u64, Decision)>,
}

#[derive(Debug)]
pub struct Engine {
    policy: Policy,
}

impl Engine {
    pub fn new(policy: Policy) -> Engine {
        Engine { policy }
    }

    /// A reloaded configuration: groups of routes that remain keep their state.
    pub fn set_policy(&mut self, policy: Policy) {
        self.policy = policy;
    }

    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// Loads the state rows a previous run persisted.
    pub fn restore(&mut self, rows: Vec<(String, String)>) -> Result<(), String> {
        let _ = rows;
        Ok(())
    }

    /// The rows changed since the last call.
    pub fn take_changes(&mut self) -> Vec<StateChange> {
        Vec::new()
    }

    /// Applies one event of the log (an operator event changes the mutes; any other is routed):
    /// what became of it for each route and sink; empty when no route took it.
    pub fn observe(&mut self, routed: RoutedEvent<'_>, now: jiff::Timestamp) -> Vec<Decision> {
        let _ = (routed, now);
        Vec::new()
    }

    /// Everything due at `now`.
    pub fn due(&mut self, now: jiff::Timestamp) -> Due {
        let _ = now;
        Due::default()
    }

    /// When `due` has something next, if ever.
    pub fn next_deadline(&self) -> Option<jiff::Timestamp> {
        None
    }

    /// The mutes not yet ended, soonest first.
    pub fn mutes(&self) -> Vec<Mute> {
        Vec::new()
    }
}
