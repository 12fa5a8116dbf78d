//! The engine: every routed event in, decisions out; the clock in, notifications out. It holds
//! the groups with their timers, the raised alarms that inhibit, the flap history, the mutes;
//! each piece of that state is a row (`key`, JSON) the router persists in the same transaction
//! as the notifications it made, so a crash neither loses nor repeats one.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::flap::FlapTracker;
use super::group::{Entry, Group, GroupMeta, Timing};
use super::hold::{Held, HoldMeta};
use super::inhibit::Inhibitor;
use super::matcher::Matcher;
use super::mute::Mute;
use super::notification::Notification;
pub use super::policy::Policy;
use super::state::{ALARM, Changes, FLAP, GROUP, INHIBIT, META, MUTE};
use super::topology::{Place, Topology};
use crate::event::{AlarmUpdate, Event};

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
    /// Held behind a raised upstream alarm (`topology:`): the root cause's notification lists
    /// it; notified on its own if still raised when the root cause clears.
    Held { root: String },
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

/// A mute as the engine keeps it: whether its window was announced as started, and its
/// matcher compiled.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct MuteState {
    pub(crate) mute: Mute,
    #[serde(default)]
    pub(crate) started: bool,
    #[serde(skip)]
    pub(crate) matcher: Option<Matcher>,
}

/// The time intervals' last known state (to announce their changes) and next change.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct Meta {
    pub(crate) intervals: BTreeMap<String, bool>,
    pub(crate) next_change: BTreeMap<String, jiff::Timestamp>,
}

#[derive(Debug)]
pub struct Engine {
    pub(crate) policy: Policy,
    pub(crate) groups: BTreeMap<String, Group>,
    /// Which groups hold each alarm: a clear goes to them whichever route it matches.
    pub(crate) by_alarm: BTreeMap<String, BTreeSet<String>>,
    pub(crate) flaps: FlapTracker,
    pub(crate) inhibitor: Inhibitor,
    pub(crate) mutes: BTreeMap<String, MuteState>,
    pub(crate) meta: Meta,
    pub(crate) changes: Changes,
    /// The adjacencies of `topology:` (`topo/` rows).
    pub(crate) topology: Topology,
    /// Raised alarms on a port or a device, by key: the failures (`place/` rows).
    pub(crate) places: BTreeMap<String, Place>,
    /// Root causes holding alarms (`hold/` rows) and the alarms held (`held/` rows).
    pub(crate) holds: BTreeMap<String, HoldMeta>,
    pub(crate) held: BTreeMap<String, Held>,
    /// Decisions about earlier events made while observing (a release): handed out by `due`.
    pub(crate) later: Vec<(u64, Decision)>,
    /// The graph of `topology`, built when first needed after a change.
    pub(crate) graph: std::cell::RefCell<Option<std::sync::Arc<super::topology::Graph>>>,
}

impl Engine {
    pub fn new(policy: Policy) -> Engine {
        Engine {
            policy,
            groups: BTreeMap::new(),
            by_alarm: BTreeMap::new(),
            flaps: FlapTracker::default(),
            inhibitor: Inhibitor::default(),
            mutes: BTreeMap::new(),
            meta: Meta::default(),
            changes: Changes::default(),
            topology: Topology::default(),
            places: BTreeMap::new(),
            holds: BTreeMap::new(),
            held: BTreeMap::new(),
            later: Vec::new(),
            graph: std::cell::RefCell::new(None),
        }
    }

    /// A reloaded configuration: groups of routes that remain keep their state and take the
    /// route's new timing; groups of routes gone run out with the timing they had.
    pub fn set_policy(&mut self, policy: Policy) {
        self.policy = policy;
        self.graph.replace(None);
        for group in self.groups.values_mut() {
            if let Some(settings) = self.policy.route(&group.meta.route) {
                let timing = Timing::of(settings);
                if group.meta.timing != timing {
                    group.meta.timing = timing;
                    group.save_meta(&mut self.changes);
                }
            }
        }
    }

    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// Loads the state rows a previous run persisted. A row that cannot be read is skipped and
    /// reported; the others are loaded.
    pub fn restore(&mut self, rows: Vec<(String, String)>) -> Result<(), String> {
        let mut problems = Vec::new();
        let mut entries = Vec::new();
        for (key, value) in rows {
            if let Some(loaded) = self.restore_topology(&key, &value) {
                if let Err(error) = loaded {
                    problems.push(format!("state row {key}: {error}"));
                }
                continue;
            }
            let loaded = if key.starts_with(GROUP) {
                serde_json::from_str::<GroupMeta>(&value)
                    .map(|meta| {
                        let group = Group {
                            meta,
                            entries: BTreeMap::new(),
                        };
                        self.groups.insert(group.meta.id.clone(), group);
                    })
                    .map_err(|error| error.to_string())
            } else if key.starts_with(ALARM) {
                serde_json::from_str::<Entry>(&value)
                    .map(|entry| entries.push(entry))
                    .map_err(|error| error.to_string())
            } else if key.starts_with(FLAP) {
                self.flaps.restore(&value)
            } else if key.starts_with(INHIBIT) {
                self.inhibitor.restore(&value)
            } else if key.starts_with(MUTE) {
                serde_json::from_str::<MuteState>(&value)
                    .map(|mut state| {
                        state.matcher = Matcher::new(&state.mute.matcher).ok();
                        self.mutes.insert(state.mute.id.clone(), state);
                    })
                    .map_err(|error| error.to_string())
            } else if key == META {
                serde_json::from_str::<Meta>(&value)
                    .map(|meta| self.meta = meta)
                    .map_err(|error| error.to_string())
            } else {
                Ok(())
            };
            if let Err(error) = loaded {
                problems.push(format!("state row {key}: {error}"));
            }
        }
        for entry in entries {
            match self.groups.get_mut(&entry.group) {
                Some(group) => {
                    self.by_alarm
                        .entry(entry.key.clone())
                        .or_default()
                        .insert(entry.group.clone());
                    group.entries.insert(entry.key.clone(), entry);
                }
                None => problems.push(format!(
                    "alarm {} of a missing group {}",
                    entry.key, entry.group
                )),
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems.join("; "))
        }
    }

    /// The rows changed since the last call.
    pub fn take_changes(&mut self) -> Vec<StateChange> {
        self.changes.take()
    }

    /// Applies one event of the log (an operator event changes the mutes; any other is routed):
    /// what became of it for each route and sink; empty when no route took it.
    pub fn observe(&mut self, routed: RoutedEvent<'_>, now: jiff::Timestamp) -> Vec<Decision> {
        let event = routed.event;
        if super::notification::is_notification(event) {
            return Vec::new();
        }
        if super::notification::is_operator_event(event) {
            self.apply_operator(event);
            return Vec::new();
        }
        self.fold_topology(event, now);
        let matches = self.policy.tree().resolve(event);
        let mut decisions = Vec::new();
        if routed.alarms.is_empty() {
            for matched in &matches {
                for (sink, _) in &matched.groups {
                    let outcome = self.info(matched, sink, routed, now);
                    decisions.push(decision(&matched.route, sink, outcome));
                }
            }
        }
        for update in routed.alarms {
            if update.raised {
                for matched in &matches {
                    for (sink, _) in &matched.groups {
                        let outcome = self.raise(matched, sink, &update.key, routed, now);
                        decisions.push(decision(&matched.route, sink, outcome));
                    }
                }
            } else {
                self.clear(&matches, &update.key, routed, now, &mut decisions);
            }
        }
        let rules = &self.policy.inhibit_rules;
        self.inhibitor
            .observe(rules, event, routed.alarms, &mut self.changes);
        self.track_places(event, routed.alarms, now);
        let mut seen = BTreeSet::new();
        decisions
            .retain(|decision| seen.insert(serde_json::to_string(decision).unwrap_or_default()));
        decisions
    }
}

pub(crate) fn decision(route: &str, sink: &str, outcome: Outcome) -> Decision {
    Decision {
        route: route.to_owned(),
        sink: sink.to_owned(),
        outcome,
    }
}
