//! What the engine does with one event of the log: an operator event changes the mutes; a raise,
//! a clear or an informational event goes into the groups of the routes that take it, unless a
//! silence, a time interval, an inhibition or flapping keeps it quiet.

use std::collections::BTreeMap;

use super::engine::{Decision, Engine, MuteState, Outcome, RoutedEvent, decision};
use super::flap::FlapStep;
use super::group::{Entry, Group, GroupMeta, Timing};
use super::matcher::Matcher;
use super::mute::Mute;
use super::notification::{LineState, operator_types};
use super::state::{Changes, MUTE};
use super::tree::{RouteMatch, group_key};
use crate::event::Event;

impl Engine {
    /// Silences and windows come and go with operator events.
    pub(crate) fn apply_operator(&mut self, event: &Event) {
        match event.kind.as_str() {
            operator_types::SILENCE_CREATED | operator_types::WINDOW_CREATED => {
                let Ok(mute) = serde_json::from_value::<Mute>(event.data.clone()) else {
                    return;
                };
                let state = MuteState {
                    matcher: Matcher::new(&mute.matcher).ok(),
                    mute,
                    started: false,
                };
                self.changes.put(format!("{MUTE}{}", state.mute.id), &state);
                self.mutes.insert(state.mute.id.clone(), state);
            }
            operator_types::SILENCE_EXPIRED | operator_types::WINDOW_DELETED => {
                let id = event.data.get("id").and_then(|id| id.as_str());
                if let Some(id) = id
                    && self.mutes.remove(id).is_some()
                {
                    self.changes.delete(format!("{MUTE}{id}"));
                }
            }
            operator_types::ALARM_ACKNOWLEDGED | operator_types::ALARM_CLOSED => {
                let Some(key) = event.data.get("key").and_then(|key| key.as_str()) else {
                    return;
                };
                for id in self.by_alarm.get(key).cloned().unwrap_or_default() {
                    let Some(group) = self.groups.get_mut(&id) else {
                        continue;
                    };
                    if let Some(entry) = group.entries.get_mut(key)
                        && entry.raised
                        && !entry.acknowledged
                    {
                        entry.acknowledged = true;
                        group.save_entry(key, &mut self.changes);
                    }
                }
            }
            // Started and ended are the engine's own announcements: nothing to apply.
            _ => {}
        }
    }

    /// The silence or window that mutes `event` at `now`.
    pub(crate) fn muted_by(&self, event: &Event, now: jiff::Timestamp) -> Option<String> {
        self.mutes
            .values()
            .find(|state| {
                state.mute.is_active(now)
                    && state.matcher.as_ref().is_some_and(|m| m.matches(event))
            })
            .map(|state| state.mute.id.clone())
    }

    /// Why a new raise (of `alarm`) or an informational event is not to be notified at `now`.
    fn suppressed(
        &self,
        matched: &RouteMatch,
        event: &Event,
        alarm: Option<&str>,
        now: jiff::Timestamp,
    ) -> Option<Outcome> {
        if let Some(mute) = self.muted_by(event, now) {
            return Some(Outcome::Silenced { mute });
        }
        if let Some(interval) = self.policy.muting_interval(&matched.settings, now) {
            return Some(Outcome::Muted { interval });
        }
        let rules = &self.policy.inhibit_rules;
        let (alarm, rule) = self.inhibitor.inhibits(rules, event, alarm?)?;
        Some(Outcome::Inhibited { alarm, rule })
    }

    pub(crate) fn info(
        &mut self,
        matched: &RouteMatch,
        sink: &str,
        routed: RoutedEvent<'_>,
        now: jiff::Timestamp,
    ) -> Outcome {
        let event = routed.event;
        if let Some(outcome) = self.suppressed(matched, event, None, now) {
            return outcome;
        }
        let group = group_of(
            &mut self.groups,
            &mut self.changes,
            matched,
            sink,
            event,
            &event.id,
        );
        let mut entry = Entry::new(&group.meta.id, &event.id, routed.seq, event);
        entry.update(routed.seq, event, false, true);
        entry.pending = Some(LineState::Info);
        group.entries.insert(event.id.clone(), entry);
        group.save_entry(&event.id, &mut self.changes);
        group.changed(now, &mut self.changes);
        Outcome::Grouped {
            group: group.meta.id.clone(),
        }
    }

    pub(crate) fn raise(
        &mut self,
        matched: &RouteMatch,
        sink: &str,
        alarm: &str,
        routed: RoutedEvent<'_>,
        now: jiff::Timestamp,
    ) -> Outcome {
        let event = routed.event;
        if let Some(outcome) = self.suppressed(matched, event, Some(alarm), now) {
            return outcome;
        }
        if let Some(outcome) = self.held_again(alarm, routed, now) {
            return outcome;
        }
        let raised_here = self.by_alarm.get(alarm).is_some_and(|ids| {
            ids.iter().any(|id| {
                self.groups
                    .get(id)
                    .and_then(|group| group.entries.get(alarm))
                    .is_some_and(|entry| entry.raised)
            })
        });
        // A raise behind a failure is held, unless the alarm was raised before it (its group
        // already has it; the flush checks the ones not yet notified).
        if !raised_here && let Some(root) = self.holder(event, alarm) {
            self.hold(&root, alarm, routed.seq, event, now);
            return Outcome::Held { root };
        }
        let changes = &mut self.changes;
        let group = group_of(&mut self.groups, changes, matched, sink, event, alarm);
        let id = group.meta.id.clone();
        self.by_alarm
            .entry(alarm.to_owned())
            .or_default()
            .insert(id.clone());
        let config = &group.meta.timing.flapping;
        let step = self.flaps.record(config, &id, alarm, true, now, changes);
        let entry = group
            .entries
            .entry(alarm.to_owned())
            .or_insert_with(|| Entry::new(&id, alarm, routed.seq, event));
        entry.update(routed.seq, event, true, step != FlapStep::Quiet);
        if !entry.raised {
            entry.acknowledged = false;
        }
        entry.raised = true;
        let outcome = if step == FlapStep::Quiet {
            Outcome::Flapping { group: id.clone() }
        } else {
            entry.pending = match (entry.pending, entry.notified) {
                (None, false) | (Some(LineState::New), _) => Some(LineState::New),
                // Raised again before its clear was notified: still raised, nothing to say.
                (Some(LineState::Cleared), _) => None,
                (pending, _) => pending,
            };
            if entry.pending == Some(LineState::New) {
                entry.event = Some(event.clone());
            }
            Outcome::Grouped { group: id.clone() }
        };
        let is_new = entry.pending == Some(LineState::New);
        group.save_entry(alarm, changes);
        if is_new {
            group.changed(now, changes);
        }
        outcome
    }

    /// A clear goes to the groups that hold its alarm, whichever route the clearing event
    /// matches (a clear is often less severe than its raise); the routes that take it but hold
    /// no such alarm are told why nothing is said.
    pub(crate) fn clear(
        &mut self,
        matches: &[RouteMatch],
        alarm: &str,
        routed: RoutedEvent<'_>,
        now: jiff::Timestamp,
        decisions: &mut Vec<Decision>,
    ) {
        if let Some(root) = self.clear_held(alarm, routed) {
            for matched in matches {
                for (sink, _) in &matched.groups {
                    let why = format!("cleared while held behind {root}");
                    decisions.push(decision(&matched.route, sink, Outcome::NotNotified { why }));
                }
            }
            return;
        }
        let holders = self.by_alarm.get(alarm).cloned().unwrap_or_default();
        for id in &holders {
            let Some(group) = self.groups.get_mut(id) else {
                continue;
            };
            let outcome = clear_in(
                group,
                &mut self.flaps,
                &mut self.changes,
                alarm,
                routed,
                now,
            );
            decisions.push(decision(&group.meta.route, &group.meta.sink, outcome));
        }
        for matched in matches {
            for (sink, _) in &matched.groups {
                let decided = decisions
                    .iter()
                    .any(|done| done.route == matched.route && done.sink == *sink);
                if !decided {
                    let why = "a clear of an alarm whose raise was not notified".to_owned();
                    decisions.push(decision(&matched.route, sink, Outcome::NotNotified { why }));
                }
            }
        }
    }
}

/// The clear of `alarm` in `group`.
fn clear_in(
    group: &mut Group,
    flaps: &mut super::flap::FlapTracker,
    changes: &mut Changes,
    alarm: &str,
    routed: RoutedEvent<'_>,
    now: jiff::Timestamp,
) -> Outcome {
    let id = group.meta.id.clone();
    let config = group.meta.timing.flapping.clone();
    let notify_clears = group.meta.timing.notify_clears;
    let step = flaps.record(&config, &id, alarm, false, now, changes);
    let Some(entry) = group.entries.get_mut(alarm) else {
        let why = "the alarm is no longer in the group".to_owned();
        return Outcome::NotNotified { why };
    };
    entry.update(routed.seq, routed.event, false, step != FlapStep::Quiet);
    entry.raised = false;
    let (outcome, changed) = match step {
        FlapStep::Quiet => (Outcome::Flapping { group: id.clone() }, false),
        FlapStep::Started => {
            entry.pending = Some(LineState::Flapping);
            (Outcome::Grouped { group: id.clone() }, true)
        }
        FlapStep::Steady if !entry.notified => {
            // Raised and cleared before any notification: nothing to say about it.
            entry.members.clear();
            entry.pending = None;
            let why = "cleared before its raise was notified".to_owned();
            (Outcome::NotNotified { why }, true)
        }
        FlapStep::Steady if notify_clears => {
            entry.pending = Some(LineState::Cleared);
            (Outcome::Grouped { group: id.clone() }, true)
        }
        FlapStep::Steady => {
            entry.members.clear();
            entry.pending = None;
            let why = "clears are not notified on this route".to_owned();
            (Outcome::NotNotified { why }, true)
        }
    };
    group.save_entry(alarm, changes);
    if changed {
        group.changed(now, changes);
    }
    outcome
}

/// The group of `matched`'s sink for `event` (or its alarm `alarm`, with `group_by: [...]`),
/// made if new.
fn group_of<'a>(
    groups: &'a mut BTreeMap<String, Group>,
    changes: &mut Changes,
    matched: &RouteMatch,
    sink: &str,
    event: &Event,
    alarm: &str,
) -> &'a mut Group {
    let key = group_key(
        &matched.route,
        sink,
        &matched.settings.group_by,
        event,
        alarm,
    );
    groups.entry(key.id.clone()).or_insert_with(|| {
        let group = Group {
            meta: GroupMeta {
                id: key.id,
                route: matched.route.clone(),
                sink: sink.to_owned(),
                labels: key.labels,
                timing: Timing::of(&matched.settings),
                number: 0,
                last_notified: None,
                next_flush: None,
            },
            entries: BTreeMap::new(),
        };
        group.save_meta(changes);
        group
    })
}
