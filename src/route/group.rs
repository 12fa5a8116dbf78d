//! A group: the alarms of one route, sink and set of `group_by` values, with its timers and
//! what it has told its sink so far. `flush` turns what changed into a [`Notification`].
//! The group is one row and each of its alarms another, so a storm of 600 alarms writes 600
//! small rows, not one growing row 600 times.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::flap::FlapConfig;
use super::notification::{AlarmLine, Counts, LineState, Notification, NotificationReason};
use super::state::{ALARM, Changes, GROUP, later, member_key};
use super::tree::RouteSettings;
use crate::event::{Event, Severity};

/// The settings a group lives by, taken from its route (and refreshed on reload).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Timing {
    pub(crate) group_wait: std::time::Duration,
    pub(crate) group_interval: std::time::Duration,
    pub(crate) repeat_interval: std::time::Duration,
    pub(crate) notify_clears: bool,
    pub(crate) flapping: FlapConfig,
}

impl Timing {
    pub(crate) fn of(settings: &RouteSettings) -> Timing {
        Timing {
            group_wait: settings.group_wait,
            group_interval: settings.group_interval,
            repeat_interval: settings.repeat_interval,
            notify_clears: settings.notify_clears,
            flapping: FlapConfig::from(&settings.flapping),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct GroupMeta {
    pub(crate) id: String,
    pub(crate) route: String,
    pub(crate) sink: String,
    pub(crate) labels: BTreeMap<String, String>,
    pub(crate) timing: Timing,
    /// Notifications sent so far.
    pub(crate) number: u32,
    pub(crate) last_notified: Option<jiff::Timestamp>,
    pub(crate) next_flush: Option<jiff::Timestamp>,
}

/// One alarm (or informational event) of a group.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Entry {
    pub(crate) group: String,
    pub(crate) key: String,
    pub(crate) raised: bool,
    /// Its raise was notified: its clear will be.
    pub(crate) notified: bool,
    /// What the next notification says of it; `None`: still raised (or nothing).
    pub(crate) pending: Option<LineState>,
    pub(crate) seq: u64,
    pub(crate) severity: Severity,
    pub(crate) device: String,
    pub(crate) summary: String,
    pub(crate) link: Option<String>,
    pub(crate) time: jiff::Timestamp,
    /// The seqs this entry's next notification reports for the first time.
    pub(crate) members: Vec<u64>,
    /// The raising event while its raise is not yet notified: a silence or inhibition that
    /// starts meanwhile is checked against it at the flush.
    pub(crate) event: Option<Event>,
    /// An operator acknowledged it (`alarm.acknowledged`, or closed it) since its last raise:
    /// a group whose raised alarms are all acknowledged makes no reminder.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub(crate) acknowledged: bool,
}

/// What the topology adds to a group's flush: the root causes among its alarms, and whether
/// something new is held behind them (a change to notify).
#[derive(Debug, Default)]
pub(crate) struct HeldReport {
    pub(crate) causes: Vec<super::notification::RootCause>,
    pub(crate) news: bool,
    /// The seqs of held alarms reported for the first time (the notification's members too,
    /// so that their trace names it).
    pub(crate) members: Vec<u64>,
}

impl Entry {
    pub(crate) fn new(group: &str, key: &str, seq: u64, event: &Event) -> Entry {
        Entry {
            group: group.to_owned(),
            key: key.to_owned(),
            raised: false,
            notified: false,
            pending: None,
            seq,
            severity: event.severity,
            device: event.device.clone(),
            summary: event.summary.clone(),
            link: event.link.clone(),
            time: event.time,
            members: Vec::new(),
            event: None,
            acknowledged: false,
        }
    }

    /// The latest event of the alarm; a clear keeps the raise's severity (what was cleared).
    /// `member`: whether the event is to be reported (not when the alarm flaps quietly).
    pub(crate) fn update(&mut self, seq: u64, event: &Event, raised: bool, member: bool) {
        self.seq = seq;
        if raised {
            self.severity = event.severity;
        }
        self.device = event.device.clone();
        self.summary = event.summary.clone();
        self.link = event.link.clone();
        self.time = event.time;
        if member && !self.members.contains(&seq) {
            self.members.push(seq);
        }
    }

    fn line(&self, state: LineState) -> AlarmLine {
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

#[derive(Debug, Clone)]
pub(crate) struct Group {
    pub(crate) meta: GroupMeta,
    pub(crate) entries: BTreeMap<String, Entry>,
}

/// Where a line goes in a notification: new first, then cleared, then still raised.
fn rank(state: LineState) -> u8 {
    match state {
        LineState::New => 0,
        LineState::Info => 1,
        LineState::Flapping => 2,
        LineState::Cleared => 3,
        LineState::Stable => 4,
        LineState::StillRaised => 5,
    }
}

impl Group {
    pub(crate) fn row(&self) -> String {
        format!("{GROUP}{}", self.meta.id)
    }

    pub(crate) fn save_meta(&self, changes: &mut Changes) {
        changes.put(self.row(), &self.meta);
    }

    pub(crate) fn save_entry(&self, key: &str, changes: &mut Changes) {
        let row = member_key(ALARM, &self.meta.id, key);
        match self.entries.get(key) {
            Some(entry) => changes.put(row, entry),
            None => changes.delete(row),
        }
    }

    /// Something to notify arrived at `now`: the first flush waits `group_wait` from the
    /// group's start, later ones `group_interval` from the last notification.
    pub(crate) fn changed(&mut self, now: jiff::Timestamp, changes: &mut Changes) {
        let due = match self.meta.last_notified {
            None => match self.meta.next_flush {
                Some(due) => due,
                None => later(now, self.meta.timing.group_wait),
            },
            Some(last) => later(last, self.meta.timing.group_interval).max(now),
        };
        let next = self.meta.next_flush.map_or(due, |current| current.min(due));
        if self.meta.next_flush != Some(next) {
            self.meta.next_flush = Some(next);
            self.save_meta(changes);
        }
    }

    /// Whether nothing remains: no alarm raised, flapping or waiting to be reported.
    pub(crate) fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The notification due at `now`, if any, with the entries and timers updated after it.
    /// Entries cleared, reported info and cleared stable alarms leave; `flapping` says which
    /// alarms must stay although cleared.
    pub(crate) fn flush(
        &mut self,
        now: jiff::Timestamp,
        flapping: impl Fn(&str) -> bool,
        held: HeldReport,
        changes: &mut Changes,
    ) -> Option<Notification> {
        let mut lines = Vec::new();
        let mut counts = Counts::default();
        let mut members = Vec::new();
        let mut changed = false;
        for entry in self.entries.values() {
            let state = match entry.pending {
                Some(state) => state,
                None if entry.raised && entry.notified => LineState::StillRaised,
                None => continue,
            };
            changed |= state != LineState::StillRaised;
            match state {
                LineState::New => counts.new.add(entry.severity),
                LineState::StillRaised => counts.still_raised.add(entry.severity),
                LineState::Cleared => counts.cleared.add(entry.severity),
                LineState::Flapping => counts.flapping += 1,
                LineState::Stable | LineState::Info => {}
            }
            members.extend(entry.members.iter().copied());
            lines.push(entry.line(state));
        }
        changed |= held.news;
        members.extend(held.members.iter().copied());
        let repeat = self.meta.timing.repeat_interval;
        // Every raised alarm acknowledged: the operators know, no reminder.
        let unacknowledged = self
            .entries
            .values()
            .any(|entry| entry.raised && entry.notified && !entry.acknowledged);
        let repeat_due = !repeat.is_zero()
            && unacknowledged
            && self
                .meta
                .last_notified
                .is_some_and(|last| later(last, repeat) <= now);
        let reason = if changed {
            if self.meta.number == 0 {
                NotificationReason::First
            } else {
                NotificationReason::Update
            }
        } else if repeat_due && !lines.is_empty() {
            NotificationReason::Repeat
        } else {
            lines.clear();
            members.clear();
            NotificationReason::Repeat
        };
        let had_notified = self.entries.values().any(|entry| entry.notified);
        let keys: Vec<String> = self.entries.keys().cloned().collect();
        for key in keys {
            let entry = self.entries.get_mut(&key).expect("a key of the map");
            let touched = entry.pending.is_some() || !entry.members.is_empty();
            if !lines.is_empty() {
                entry.members.clear();
                if entry.pending.take().is_some() && entry.raised {
                    entry.notified = true;
                    entry.event = None;
                }
            }
            if !entry.raised && entry.pending.is_none() && !flapping(&key) {
                self.entries.remove(&key);
                self.save_entry(&key, changes);
            } else if touched && !lines.is_empty() {
                self.save_entry(&key, changes);
            }
        }
        let notification = (!lines.is_empty()).then(|| {
            lines.sort_by(|a, b| {
                (rank(a.state), std::cmp::Reverse(a.severity), a.time, &a.key).cmp(&(
                    rank(b.state),
                    std::cmp::Reverse(b.severity),
                    b.time,
                    &b.key,
                ))
            });
            members.sort_unstable();
            members.dedup();
            self.meta.number += 1;
            self.meta.last_notified = Some(now);
            Notification {
                route: self.meta.route.clone(),
                sink: self.meta.sink.clone(),
                group: self.meta.id.clone(),
                labels: self.meta.labels.clone(),
                number: self.meta.number,
                reason,
                counts,
                alarms: lines,
                all_cleared: self.entries.is_empty() && had_notified,
                members,
                root_causes: held.causes,
            }
        });
        let raised = self
            .entries
            .values()
            .any(|entry| entry.raised && entry.notified);
        self.meta.next_flush = match self.meta.last_notified {
            Some(last) if raised && !repeat.is_zero() => Some(later(last, repeat)),
            _ => None,
        };
        if self.entries.is_empty() {
            changes.delete(self.row());
        } else {
            self.save_meta(changes);
        }
        notification
    }
}
