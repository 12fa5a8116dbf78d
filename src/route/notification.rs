//! A group's notification: what happened at a glance (counts of new, still-raised and cleared
//! alarms per severity, the alarms' lines) and where it belongs (its group, its number in the
//! group: 1 starts a thread, later ones reply in it). It travels as the `data` of an event of
//! type [`NOTIFICATION_TYPE`], appended to the store's log with one outbox row for its sink.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::event::{Event, Severity};

/// The source name of netpulse's own events (notifications and operator events). No configured
/// source may take it, so that no webhook sender can forge a notification or a silence: a
/// notification or operator type from any other source is an ordinary event.
pub const OWN_SOURCE: &str = "netpulse";

/// Whether `event` is one of netpulse's own (made by the router or the API).
pub fn is_own(event: &Event) -> bool {
    event.source_name() == OWN_SOURCE
}

/// Whether `event` is a notification netpulse made.
pub fn is_notification(event: &Event) -> bool {
    event.kind == NOTIFICATION_TYPE && is_own(event)
}

/// Whether `event` is an operator event netpulse made (through the API or its clock).
pub fn is_operator_event(event: &Event) -> bool {
    event.kind.starts_with(OPERATOR_TYPE_PREFIX) && is_own(event)
}

/// The CloudEvents type of a notification event.
pub const NOTIFICATION_TYPE: &str = "io.netpulse.notification";
/// Every operator event's type starts with this.
pub const OPERATOR_TYPE_PREFIX: &str = "io.netpulse.operator.";

/// The types of operator events: what an operator (or the clock, for windows) did.
pub mod operator_types {
    pub const SILENCE_CREATED: &str = "io.netpulse.operator.silence.created";
    pub const SILENCE_EXPIRED: &str = "io.netpulse.operator.silence.expired";
    pub const WINDOW_CREATED: &str = "io.netpulse.operator.window.created";
    pub const WINDOW_DELETED: &str = "io.netpulse.operator.window.deleted";
    pub const WINDOW_STARTED: &str = "io.netpulse.operator.window.started";
    pub const WINDOW_ENDED: &str = "io.netpulse.operator.window.ended";
    /// An operator acknowledged an alarm (`data`: [`crate::operator::AlarmAction`]).
    pub const ALARM_ACKNOWLEDGED: &str = "io.netpulse.operator.alarm.acknowledged";
    /// An operator closed an alarm: it leaves the active list until raised again.
    pub const ALARM_CLOSED: &str = "io.netpulse.operator.alarm.closed";
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Notification {
    /// The route that made the group (its name or path, as in the trace).
    pub route: String,
    pub sink: String,
    /// The group's id: stable for the group's life, unique across groups.
    pub group: String,
    /// The `group_by` attributes and their values.
    pub labels: BTreeMap<String, String>,
    /// 1 for the group's first notification (the thread's parent), then 2, 3…
    pub number: u32,
    pub reason: NotificationReason,
    pub counts: Counts,
    /// Every alarm the notification is about: new first, then cleared, then still raised; most
    /// severe first within each.
    pub alarms: Vec<AlarmLine>,
    /// True when every alarm of the group has cleared: the group ends with this notification.
    pub all_cleared: bool,
    /// The seqs of the events this notification reports for the first time.
    pub members: Vec<u64>,
    /// The root causes among the group's alarms (`topology:`), each with what it holds.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub root_causes: Vec<RootCause>,
}

/// A raised failure (a link or a device) and the alarms held behind it: reported with the
/// root's group instead of on their own.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RootCause {
    /// The root cause's alarm key.
    pub key: String,
    pub device: String,
    /// The port of a link failure; none for a device failure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<String>,
    pub summary: String,
    /// The root cause has cleared: what it held and is still raised was released to its own
    /// routes (`released`); this is the last report of the hold.
    #[serde(default)]
    pub cleared: bool,
    /// Held alarms still raised (new since the group's last notification: state `new`).
    pub held: Vec<AlarmLine>,
    /// How many alarms it holds (raised), and how many held alarms cleared meanwhile.
    pub holding: u32,
    #[serde(default)]
    pub held_cleared: u32,
    /// The alarms released when it cleared (still raised: notified on their own).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub released: Vec<String>,
}

impl RootCause {
    /// `spine-1 eth1/49 down — holding 40 alarms behind it`.
    pub fn headline(&self) -> String {
        let place = match &self.port {
            Some(port) => format!("{} {port}", self.device),
            None => self.device.clone(),
        };
        if self.cleared {
            return format!(
                "{place} cleared — released {} alarm(s), {} cleared while held",
                self.released.len(),
                self.held_cleared
            );
        }
        let what = if self.port.is_some() {
            "down"
        } else {
            "unreachable"
        };
        let alarms = if self.holding == 1 { "alarm" } else { "alarms" };
        format!(
            "{place} {what} — holding {} {alarms} behind it",
            self.holding
        )
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NotificationReason {
    /// The group's first notification, after `group_wait`.
    First,
    /// Something changed since the last one, after `group_interval`.
    Update,
    /// Nothing changed, alarms still raised, after `repeat_interval`.
    Repeat,
}

/// Alarms counted by severity.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeverityCounts(pub BTreeMap<Severity, u32>);

impl SeverityCounts {
    pub fn add(&mut self, severity: Severity) {
        *self.0.entry(severity).or_default() += 1;
    }

    pub fn total(&self) -> u32 {
        self.0.values().sum()
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    pub new: SeverityCounts,
    pub still_raised: SeverityCounts,
    pub cleared: SeverityCounts,
    pub flapping: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlarmLine {
    /// The alarm key (or, for an informational event, its event id).
    pub key: String,
    /// The latest event of the alarm.
    pub seq: u64,
    pub state: LineState,
    pub severity: Severity,
    pub device: String,
    pub summary: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link: Option<String>,
    pub time: jiff::Timestamp,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LineState {
    New,
    StillRaised,
    Cleared,
    /// Raised and cleared too often: reported once, then quiet until stable.
    Flapping,
    /// Stable again after flapping (raised or cleared: see the alarm).
    Stable,
    /// An informational event (no alarm).
    Info,
}

impl Notification {
    /// The notification as an event of the log: type [`NOTIFICATION_TYPE`], from the source
    /// `netpulse`, the most severe new alarm's severity, a one-line summary.
    pub fn to_event(&self, time: jiff::Timestamp) -> Event {
        let mut event = Event::new(
            OWN_SOURCE,
            NOTIFICATION_TYPE,
            time,
            serde_json::to_value(self).expect("a notification is plain data"),
        );
        event.subject = Some(format!("{}/{}", self.group, self.number));
        event.severity = self
            .alarms
            .iter()
            .filter(|line| line.state == LineState::New)
            .map(|line| line.severity)
            .max()
            .unwrap_or(Severity::Info);
        event.summary = self.summary();
        event
    }

    /// `noc: 12 new, 2 cleared, 3 still raised`.
    pub fn summary(&self) -> String {
        let mut parts = Vec::new();
        for (count, what) in [
            (self.counts.new.total(), "new"),
            (self.counts.cleared.total(), "cleared"),
            (self.counts.still_raised.total(), "still raised"),
            (self.counts.flapping, "flapping"),
        ] {
            if count > 0 {
                parts.push(format!("{count} {what}"));
            }
        }
        let held: u32 = self.root_causes.iter().map(|cause| cause.holding).sum();
        if held > 0 {
            parts.push(format!("{held} held behind a root cause"));
        }
        if self.all_cleared {
            parts.push("all cleared".to_owned());
        }
        format!("{}: {}", self.route, parts.join(", "))
    }
}
