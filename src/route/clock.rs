//! What the clock makes due: mutes that start or end (announced as operator events), time
//! intervals that change, flapping alarms that become stable, and the groups whose flush time
//! has come (unless a time interval mutes their route: then the flush waits for its end).

use super::engine::{Decision, Due, Engine, Outcome};
use super::mute::{Mute, MuteKind};
use super::notification::{LineState, operator_types};
use super::state::{META, MUTE, later};
use crate::event::Event;

/// A flush deferred by an interval that never changes is looked at again after this long.
const RECHECK: std::time::Duration = std::time::Duration::from_secs(24 * 3600);

impl Engine {
    /// Everything due at `now`.
    pub fn due(&mut self, now: jiff::Timestamp) -> Due {
        let mut due = Due {
            decisions: std::mem::take(&mut self.later),
            ..Due::default()
        };
        self.due_mutes(now, &mut due);
        self.due_intervals(now, &mut due);
        for (group, alarm) in self.flaps.settle(now, &mut self.changes) {
            if let Some(group) = self.groups.get_mut(&group)
                && let Some(entry) = group.entries.get_mut(&alarm)
            {
                entry.pending = Some(LineState::Stable);
                group.save_entry(&alarm, &mut self.changes);
                group.changed(now, &mut self.changes);
            }
        }
        let ready: Vec<String> = self
            .groups
            .values()
            .filter(|group| group.meta.next_flush.is_some_and(|at| at <= now))
            .map(|group| group.meta.id.clone())
            .collect();
        for id in ready {
            self.flush(&id, now, &mut due);
        }
        due
    }

    fn flush(&mut self, id: &str, now: jiff::Timestamp, due: &mut Due) {
        let Some(mut group) = self.groups.remove(id) else {
            return;
        };
        let settings = self.policy.route(&group.meta.route).cloned();
        if let Some(settings) = &settings
            && self.policy.muting_interval(settings, now).is_some()
        {
            let at = self.policy.unmuted_at(settings, now);
            group.meta.next_flush = Some(at.unwrap_or_else(|| later(now, RECHECK)));
            group.save_meta(&mut self.changes);
            self.groups.insert(id.to_owned(), group);
            return;
        }
        self.recheck_new(&mut group, now, due);
        let report = self.held_report(&group);
        let roots: Vec<String> = report
            .causes
            .iter()
            .map(|cause| cause.key.clone())
            .collect();
        let before: Vec<String> = group.entries.keys().cloned().collect();
        let flaps = &self.flaps;
        let notification = group.flush(
            now,
            |alarm| flaps.is_flapping(id, alarm),
            report,
            &mut self.changes,
        );
        self.held_reported(id, &roots, notification.is_some());
        for alarm in before
            .iter()
            .filter(|alarm| !group.entries.contains_key(*alarm))
        {
            if let Some(holders) = self.by_alarm.get_mut(alarm) {
                holders.remove(id);
                if holders.is_empty() {
                    self.by_alarm.remove(alarm);
                }
            }
        }
        due.notifications.extend(notification);
        if !group.is_empty() {
            self.groups.insert(id.to_owned(), group);
        }
    }

    /// New raises not yet notified, checked again: a silence made, or an inhibiting alarm
    /// raised, since they arrived keeps them out of the notification (a later decision).
    fn recheck_new(
        &mut self,
        group: &mut super::group::Group,
        now: jiff::Timestamp,
        due: &mut Due,
    ) {
        let mut dropped = Vec::new();
        let mut held = Vec::new();
        for entry in group.entries.values() {
            let Some(event) = entry
                .event
                .as_ref()
                .filter(|_| entry.pending == Some(LineState::New))
            else {
                continue;
            };
            let rules = &self.policy.inhibit_rules;
            let outcome = match self.muted_by(event, now) {
                Some(mute) => Outcome::Silenced { mute },
                None => match self.inhibitor.inhibits(rules, event, &entry.key) {
                    Some((alarm, rule)) => Outcome::Inhibited { alarm, rule },
                    // Raised just before its root cause: held behind it after all.
                    None => match self.holder(event, &entry.key) {
                        Some(root) => {
                            held.push((root.clone(), entry.key.clone(), entry.seq, event.clone()));
                            Outcome::Held { root }
                        }
                        None => continue,
                    },
                },
            };
            for seq in &entry.members {
                let decision = Decision {
                    route: group.meta.route.clone(),
                    sink: group.meta.sink.clone(),
                    outcome: outcome.clone(),
                };
                due.decisions.push((*seq, decision));
            }
            dropped.push(entry.key.clone());
        }
        for (root, alarm, seq, event) in held {
            self.hold(&root, &alarm, seq, &event, now);
        }
        for alarm in dropped {
            // Forgotten, as a raise muted at arrival: its clear will not be notified either.
            group.entries.remove(&alarm);
            group.save_entry(&alarm, &mut self.changes);
            if let Some(holders) = self.by_alarm.get_mut(&alarm) {
                holders.remove(&group.meta.id);
                if holders.is_empty() {
                    self.by_alarm.remove(&alarm);
                }
            }
        }
    }

    fn due_mutes(&mut self, now: jiff::Timestamp, due: &mut Due) {
        let ids: Vec<String> = self.mutes.keys().cloned().collect();
        for id in ids {
            let state = self.mutes.get_mut(&id).expect("a key of the map");
            let kind = state.mute.kind;
            if kind == MuteKind::Window && !state.started && state.mute.is_active(now) {
                state.started = true;
                self.changes.put(format!("{MUTE}{id}"), state);
                let data = serde_json::json!({"id": id, "kind": "window"});
                let start = state.mute.starts_at;
                due.operator_events.push(Event::new(
                    super::notification::OWN_SOURCE,
                    operator_types::WINDOW_STARTED,
                    start,
                    data,
                ));
            }
            if state.mute.ends_at <= now {
                let end = state.mute.ends_at;
                let (kind_type, data) = match kind {
                    MuteKind::Window => (
                        operator_types::WINDOW_ENDED,
                        serde_json::json!({"id": id, "kind": "window"}),
                    ),
                    MuteKind::Silence => (
                        operator_types::SILENCE_EXPIRED,
                        serde_json::json!({"id": id, "by": "netpulse"}),
                    ),
                };
                due.operator_events.push(Event::new(
                    super::notification::OWN_SOURCE,
                    kind_type,
                    end,
                    data,
                ));
                self.mutes.remove(&id);
                self.changes.delete(format!("{MUTE}{id}"));
            }
        }
    }

    /// Every configured time interval's change is announced (`window.started`/`ended` with
    /// `kind: time_interval`); the first look only records the state.
    fn due_intervals(&mut self, now: jiff::Timestamp, due: &mut Due) {
        let before = self.meta.clone();
        for (name, interval) in &self.policy.intervals {
            let holds = interval.contains(now);
            let known = self.meta.intervals.insert(name.clone(), holds);
            if known.is_some_and(|was| was != holds) {
                let kind = if holds {
                    operator_types::WINDOW_STARTED
                } else {
                    operator_types::WINDOW_ENDED
                };
                let data = serde_json::json!({"id": name, "kind": "time_interval"});
                due.operator_events.push(Event::new(
                    super::notification::OWN_SOURCE,
                    kind,
                    now,
                    data,
                ));
            }
            match interval.next_change(now) {
                Some(at) => self.meta.next_change.insert(name.clone(), at),
                None => self.meta.next_change.remove(name),
            };
        }
        let policy = &self.policy;
        self.meta
            .intervals
            .retain(|name, _| policy.intervals.contains_key(name));
        self.meta
            .next_change
            .retain(|name, _| policy.intervals.contains_key(name));
        if self.meta != before {
            self.changes.put(META.to_owned(), &self.meta);
        }
    }

    /// When `due` has something next, if ever.
    pub fn next_deadline(&self) -> Option<jiff::Timestamp> {
        let groups = self
            .groups
            .values()
            .filter_map(|group| group.meta.next_flush);
        let mutes = self.mutes.values().flat_map(|state| {
            let start = (state.mute.kind == MuteKind::Window && !state.started)
                .then_some(state.mute.starts_at);
            start.into_iter().chain([state.mute.ends_at])
        });
        let intervals = self.meta.next_change.values().copied();
        groups
            .chain(mutes)
            .chain(intervals)
            .chain(self.flaps.next_deadline())
            .min()
    }

    /// The mutes not yet ended, soonest first.
    pub fn mutes(&self) -> Vec<Mute> {
        let mut mutes: Vec<Mute> = self
            .mutes
            .values()
            .map(|state| state.mute.clone())
            .collect();
        mutes.sort_by(|a, b| (a.starts_at, a.ends_at, &a.id).cmp(&(b.starts_at, b.ends_at, &b.id)));
        mutes
    }
}
