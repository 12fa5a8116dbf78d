//! Holding alarms behind their root cause (`topology:`). The engine follows the raised alarms
//! that sit on a port or a device (`place/` rows); one of them is a failure when the graph has
//! its link or device. A new raise behind a failure (the most upstream one that some group
//! reports) is held: it becomes a line of the root's notification instead of its own. When the
//! root clears, what it holds and is still raised is released into its own routes, as a raise
//! observed at that moment.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::engine::{Decision, Engine, Outcome, RoutedEvent, decision};
use super::group::{Group, HeldReport};
use super::notification::{AlarmLine, LineState, RootCause};
use super::state::{HELD, HOLD, PLACE};
use super::topology::{Behind, Place, place_of};
use crate::event::{AlarmUpdate, Event, Severity};

/// A root cause and what became of it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct HoldMeta {
    pub(crate) root: String,
    pub(crate) device: String,
    #[serde(default)]
    pub(crate) port: Option<String>,
    pub(crate) summary: String,
    /// The root cleared; `final_groups` still have to report it once.
    #[serde(default)]
    pub(crate) cleared: bool,
    #[serde(default)]
    pub(crate) final_groups: BTreeSet<String>,
    #[serde(default)]
    pub(crate) released: Vec<String>,
}

/// An alarm held behind a root cause.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Held {
    pub(crate) key: String,
    pub(crate) root: String,
    pub(crate) raised: bool,
    pub(crate) seq: u64,
    pub(crate) severity: Severity,
    pub(crate) device: String,
    pub(crate) summary: String,
    #[serde(default)]
    pub(crate) link: Option<String>,
    pub(crate) time: jiff::Timestamp,
    /// The raising event: observed again in its own routes when released.
    pub(crate) event: Event,
    /// The groups whose notification listed it.
    #[serde(default)]
    pub(crate) reported: BTreeSet<String>,
}

impl Held {
    fn line(&self, group: &str) -> AlarmLine {
        let state = match (self.raised, self.reported.contains(group)) {
            (false, _) => LineState::Cleared,
            (true, false) => LineState::New,
            (true, true) => LineState::StillRaised,
        };
        AlarmLine {
            key: self.key.clone(),
            seq: self.seq,
            state,
            severity: self.severity,
            device: self.device.clone(),
            summary: self.summary.clone(),
            link: self.link.clone(),
            time: self.time,
        }
    }
}

impl Engine {
    /// Folds an adjacency event into the graph (forgetting the links down for too long).
    pub(crate) fn fold_topology(&mut self, event: &Event, now: jiff::Timestamp) {
        let Some(config) = self.policy.topology.as_ref() else {
            return;
        };
        if self.topology.observe(config, event, &mut self.changes) {
            self.topology.prune(config, now, &mut self.changes);
            self.graph.replace(None);
        }
    }

    /// The root cause `alarm` (raised by `event`) is behind: the most upstream raised failure
    /// whose hidden part holds the alarm's place, among those a group reports.
    pub(crate) fn holder(&self, event: &Event, alarm: &str) -> Option<String> {
        let config = self.policy.topology.as_ref()?;
        if self.places.is_empty() {
            return None;
        }
        let graph = self
            .graph
            .borrow_mut()
            .get_or_insert_with(|| Arc::new(self.topology.graph(config)))
            .clone();
        let place = place_of(event);
        let candidates: Vec<(&String, &Place, Behind)> = self
            .places
            .iter()
            .filter(|(key, _)| key.as_str() != alarm && self.by_alarm.contains_key(*key))
            .filter_map(|(key, failure)| {
                let behind = graph.behind(failure)?;
                behind.contains(&place).then_some((key, failure, behind))
            })
            .collect();
        let upstream = candidates.iter().find(|(key, failure, _)| {
            !candidates
                .iter()
                .any(|(other, _, behind)| other != key && behind.contains(failure))
        });
        upstream
            .or(candidates.first())
            .map(|(key, _, _)| (*key).clone())
    }

    /// Holds `alarm` behind `root`; the root's groups have news.
    pub(crate) fn hold(
        &mut self,
        root: &str,
        alarm: &str,
        seq: u64,
        event: &Event,
        now: jiff::Timestamp,
    ) {
        // Raised again before its last report after a clear: a new episode of the same hold
        // (what it held then and cleared is still listed; nothing raised is dropped with it).
        if let Some(meta) = self.holds.get_mut(root)
            && meta.cleared
        {
            meta.cleared = false;
            meta.final_groups.clear();
            meta.released.clear();
            let meta = meta.clone();
            self.changes.put(format!("{HOLD}{root}"), &meta);
        }
        if !self.holds.contains_key(root) {
            let place = self.places.get(root);
            let meta = HoldMeta {
                root: root.to_owned(),
                device: place.map(|p| p.device.clone()).unwrap_or_default(),
                port: place.and_then(|p| p.port.clone()),
                summary: place.map(|p| p.summary.clone()).unwrap_or_default(),
                cleared: false,
                final_groups: BTreeSet::new(),
                released: Vec::new(),
            };
            self.changes.put(format!("{HOLD}{root}"), &meta);
            self.holds.insert(root.to_owned(), meta);
        }
        let reported = self
            .held
            .get(alarm)
            .filter(|held| held.root == root)
            .map(|held| held.reported.clone())
            .unwrap_or_default();
        let held = Held {
            key: alarm.to_owned(),
            root: root.to_owned(),
            raised: true,
            seq,
            severity: event.severity,
            device: event.device.clone(),
            summary: event.summary.clone(),
            link: event.link.clone(),
            time: event.time,
            event: event.clone(),
            reported,
        };
        let news = held.reported.is_empty();
        self.changes.put(format!("{HELD}{alarm}"), &held);
        self.held.insert(alarm.to_owned(), held);
        if news {
            for id in self.by_alarm.get(root).cloned().unwrap_or_default() {
                if let Some(group) = self.groups.get_mut(&id) {
                    group.changed(now, &mut self.changes);
                }
            }
        }
        self.move_holds(alarm, root, now);
    }

    /// `alarm`, itself held now, held others (raised before the more upstream `root`, e.g. the
    /// far end of a link whose near end reported a moment later): what it holds and is still
    /// raised moves behind `root`, so that the root's notification lists everything behind it.
    fn move_holds(&mut self, alarm: &str, root: &str, now: jiff::Timestamp) {
        if alarm == root || self.holds.get(alarm).is_none_or(|meta| meta.cleared) {
            return;
        }
        let moved: Vec<Held> = self
            .held
            .values()
            .filter(|held| held.root == alarm && held.raised && held.key != root)
            .cloned()
            .collect();
        for held in moved {
            self.hold(root, &held.key, held.seq, &held.event, now);
        }
        if !self.held.values().any(|held| held.root == alarm) {
            self.holds.remove(alarm);
            self.changes.delete(format!("{HOLD}{alarm}"));
        }
    }

    /// A raise of an alarm already held: still held (its line updated).
    pub(crate) fn held_again(
        &mut self,
        alarm: &str,
        routed: RoutedEvent<'_>,
        now: jiff::Timestamp,
    ) -> Option<Outcome> {
        let root = self.held.get(alarm)?.root.clone();
        self.hold(&root, alarm, routed.seq, routed.event, now);
        Some(Outcome::Held { root })
    }

    /// The clear of a held alarm: listed as cleared by its root's next report.
    pub(crate) fn clear_held(&mut self, alarm: &str, routed: RoutedEvent<'_>) -> Option<String> {
        let held = self.held.get_mut(alarm)?;
        held.raised = false;
        held.seq = routed.seq;
        held.time = routed.event.time;
        self.changes.put(format!("{HELD}{alarm}"), &*held);
        Some(held.root.clone())
    }

    /// Follows the raised alarms on ports and devices; a root that clears releases its holds.
    pub(crate) fn track_places(
        &mut self,
        event: &Event,
        alarms: &[AlarmUpdate],
        now: jiff::Timestamp,
    ) {
        if self.policy.topology.is_none() {
            return;
        }
        for update in alarms {
            let row = format!("{PLACE}{}", update.key);
            let place = place_of(event);
            if update.raised && (place.port.is_some() || place.device_failure) {
                if self.places.get(&update.key) != Some(&place) {
                    self.changes.put(row, &place);
                    self.places.insert(update.key.clone(), place);
                }
            } else if self.places.remove(&update.key).is_some() {
                self.changes.delete(row);
            }
            if !update.raised
                && self
                    .holds
                    .get(&update.key)
                    .is_some_and(|hold| !hold.cleared)
            {
                self.release(&update.key, now);
            }
        }
    }

    /// The root `root` cleared: what it holds and is still raised is observed again in its own
    /// routes now; what cleared meanwhile waits for the root's groups' last report.
    fn release(&mut self, root: &str, now: jiff::Timestamp) {
        let keys: Vec<String> = self
            .held
            .values()
            .filter(|held| held.root == root)
            .map(|held| held.key.clone())
            .collect();
        let mut released = Vec::new();
        for key in keys {
            if !self.held[&key].raised {
                continue;
            }
            let held = self.held.remove(&key).expect("a key of the map");
            self.changes.delete(format!("{HELD}{key}"));
            released.push(key.clone());
            let alarms = [AlarmUpdate {
                key: key.clone(),
                raised: true,
            }];
            let routed = RoutedEvent {
                seq: held.seq,
                event: &held.event,
                alarms: &alarms,
            };
            for matched in self.policy.tree().resolve(&held.event) {
                for (sink, _) in &matched.groups {
                    let outcome = self.raise(&matched, sink, &key, routed, now);
                    let made: Decision = decision(&matched.route, sink, outcome);
                    self.later.push((held.seq, made));
                }
            }
        }
        let groups = self.by_alarm.get(root).cloned().unwrap_or_default();
        let Some(meta) = self.holds.get_mut(root) else {
            return;
        };
        meta.cleared = true;
        meta.released = released;
        meta.final_groups = groups;
        if meta.final_groups.is_empty() {
            self.drop_hold(root);
        } else {
            let meta = meta.clone();
            self.changes.put(format!("{HOLD}{root}"), &meta);
        }
    }

    fn drop_hold(&mut self, root: &str) {
        self.holds.remove(root);
        self.changes.delete(format!("{HOLD}{root}"));
        let keys: Vec<String> = self
            .held
            .values()
            .filter(|held| held.root == root)
            .map(|held| held.key.clone())
            .collect();
        for key in keys {
            self.held.remove(&key);
            self.changes.delete(format!("{HELD}{key}"));
        }
    }

    /// The root causes `group` reports at its flush.
    pub(crate) fn held_report(&self, group: &Group) -> HeldReport {
        let id = &group.meta.id;
        let mut report = HeldReport::default();
        for (root, meta) in &self.holds {
            let reports = if meta.cleared {
                meta.final_groups.contains(id)
            } else {
                group.entries.get(root).is_some_and(|entry| entry.raised)
            };
            if !reports {
                continue;
            }
            let mut lines: Vec<AlarmLine> = self
                .held
                .values()
                .filter(|held| &held.root == root)
                .map(|held| held.line(id))
                .collect();
            lines.sort_by(|a, b| {
                (
                    a.state != LineState::New,
                    std::cmp::Reverse(a.severity),
                    a.time,
                    &a.key,
                )
                    .cmp(&(
                        b.state != LineState::New,
                        std::cmp::Reverse(b.severity),
                        b.time,
                        &b.key,
                    ))
            });
            let new: Vec<u64> = lines
                .iter()
                .filter(|line| line.state == LineState::New)
                .map(|line| line.seq)
                .collect();
            report.news |= !new.is_empty();
            report.members.extend(new);
            let holding = lines
                .iter()
                .filter(|line| line.state != LineState::Cleared)
                .count();
            let held_cleared = lines.len() - holding;
            let summary = match group.entries.get(root) {
                Some(entry) => entry.summary.clone(),
                None => meta.summary.clone(),
            };
            report.causes.push(RootCause {
                key: root.clone(),
                device: meta.device.clone(),
                port: meta.port.clone(),
                summary,
                cleared: meta.cleared,
                held: lines,
                holding: holding as u32,
                held_cleared: held_cleared as u32,
                released: meta.released.clone(),
            });
        }
        report
    }

    /// After `group`'s flush: what its notification listed is reported there; a cleared
    /// root's last report is done.
    pub(crate) fn held_reported(&mut self, group: &str, roots: &[String], notified: bool) {
        if notified {
            for held in self.held.values_mut() {
                if roots.contains(&held.root)
                    && held.raised
                    && held.reported.insert(group.to_owned())
                {
                    self.changes.put(format!("{HELD}{}", held.key), &*held);
                }
            }
        }
        let mut finished = Vec::new();
        for meta in self.holds.values_mut() {
            if meta.cleared && meta.final_groups.remove(group) {
                finished.push(meta.root.clone());
            }
        }
        for root in finished {
            if self.holds[&root].final_groups.is_empty() {
                self.drop_hold(&root);
            } else {
                let meta = self.holds[&root].clone();
                self.changes.put(format!("{HOLD}{root}"), &meta);
            }
        }
    }

    /// Loads a topology row (adjacency, place, hold, held).
    pub(crate) fn restore_topology(
        &mut self,
        key: &str,
        value: &str,
    ) -> Option<Result<(), String>> {
        let result = if key.starts_with(super::state::TOPO) {
            self.graph.replace(None);
            self.topology.restore(value)
        } else if key.starts_with(PLACE) {
            serde_json::from_str::<Place>(value)
                .map(|place| {
                    self.places.insert(key[PLACE.len()..].to_owned(), place);
                })
                .map_err(|error| error.to_string())
        } else if key.starts_with(HOLD) {
            serde_json::from_str::<HoldMeta>(value)
                .map(|meta| {
                    self.holds.insert(meta.root.clone(), meta);
                })
                .map_err(|error| error.to_string())
        } else if key.starts_with(HELD) {
            serde_json::from_str::<Held>(value)
                .map(|held| {
                    self.held.insert(held.key.clone(), held);
                })
                .map_err(|error| error.to_string())
        } else {
            return None;
        };
        Some(result)
    }

    /// The current holds: root → held alarms still raised.
    pub fn holds(&self) -> BTreeMap<String, Vec<String>> {
        let mut holds: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for held in self.held.values().filter(|held| held.raised) {
            holds
                .entry(held.root.clone())
                .or_default()
                .push(held.key.clone());
        }
        holds
    }
}

/// `netpulse route test` over a file of several events: a fresh engine observes them in order,
/// at `now`, each with the alarm its device policy names ([`Event::device_alarm`]: DME, pxGrid,
/// Webex events; a webhook provider's own alarm keys are not rebuilt here), so that adjacencies
/// then a link down then the ports behind it show `held`. The decisions per event.
pub fn replay(
    policy: &super::Policy,
    events: &[Event],
    now: jiff::Timestamp,
) -> Vec<Vec<Decision>> {
    let mut engine = Engine::new(policy.clone());
    events
        .iter()
        .enumerate()
        .map(|(index, event)| {
            let alarms: Vec<AlarmUpdate> = event.device_alarm().into_iter().collect();
            let routed = RoutedEvent {
                seq: index as u64 + 1,
                event,
                alarms: &alarms,
            };
            engine.observe(routed, now)
        })
        .collect()
}
