//! Subscription health: each subscription's own refresh deadline, the margin left before the
//! device would expire it, late and failed refreshes, and the alarm events netpulse raises about
//! its own subscriptions. Pure: no IO; the session passes the times in.
//!
//! The device restarts a subscription's timeout when it handles a refresh, some time between the
//! request and its answer; netpulse counts from when the request was **sent**, so the margin it
//! shows is never larger than the device's.

use std::time::Duration;

use serde_json::json;
use tokio::time::Instant;

use crate::config::SubscriptionPlan;
use crate::event::{AlarmState, Event, Severity};
use crate::source::{SubscriptionState, SubscriptionStatus};

/// Raised when a subscription has less than its alarm margin left (refreshes fail or are late).
pub const AT_RISK_TYPE: &str = "io.netpulse.subscription.at_risk";
/// Raised when the device dropped a subscription or its timeout passed without a refresh.
pub const LOST_TYPE: &str = "io.netpulse.subscription.lost";
/// Clears either: refreshed in time again, or resubscribed.
pub const HEALTHY_TYPE: &str = "io.netpulse.subscription.healthy";

/// A refresh is late when it succeeds more than this share of its period after it was planned.
const LATE_SHARE: u32 = 10;
/// After a failed refresh call the next try comes after this share of the period (at least
/// [`MIN_RETRY`]): soon enough to try several times before the alarm margin is reached.
const RETRY_SHARE: u32 = 4;
const MIN_RETRY: Duration = Duration::from_millis(100);

/// The alarm subject of a subscription: its key is `<source>:subscription:<query>`.
pub fn alarm_subject(query: &str) -> String {
    format!("subscription:{query}")
}

/// One subscription of a live session and its schedule.
pub(super) struct Tracked {
    pub id: String,
    pub query: String,
    pub plan: SubscriptionPlan,
    /// When the device last restarted its timeout (the send time of the last good refresh).
    refreshed_at: Instant,
    refreshed_wall: jiff::Timestamp,
    /// When the next refresh is tried.
    due: Instant,
    /// Failed refresh calls since the last good one.
    failing: u32,
    pub status: SubscriptionStatus,
    pub metrics: SubscriptionMetrics,
}

/// What the margin of a subscription says now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Health {
    Healthy,
    AtRisk,
    /// The timeout has passed without a refresh: the device has dropped it.
    Expired,
}

impl Tracked {
    /// A subscription requested at `sent` (its timeout runs from there, not from when every
    /// subscription of the session is made: aci-containers#1000).
    pub fn new(
        source_name: &str,
        id: String,
        query: &str,
        plan: SubscriptionPlan,
        sent: Instant,
        sent_wall: jiff::Timestamp,
    ) -> Tracked {
        let mut tracked = Tracked {
            status: SubscriptionStatus {
                id: id.clone(),
                query: query.to_owned(),
                timeout_ms: plan.timeout.as_millis() as u64,
                refresh_ms: plan.refresh.as_millis() as u64,
                alarm_margin_ms: plan.alarm_margin.as_millis() as u64,
                ..SubscriptionStatus::default()
            },
            metrics: SubscriptionMetrics::new(source_name, query),
            id,
            query: query.to_owned(),
            plan,
            refreshed_at: sent,
            refreshed_wall: sent_wall,
            due: sent + plan.refresh,
            failing: 0,
        };
        tracked.show_refresh();
        tracked
    }

    /// When the device would drop it without another refresh.
    pub fn expires_at(&self) -> Instant {
        self.refreshed_at + self.plan.timeout
    }

    /// The time left before the device would drop it (zero once past).
    pub fn margin(&self, now: Instant) -> Duration {
        self.expires_at().saturating_duration_since(now)
    }

    /// Until when nothing was missed: the last time the device restarted its timeout.
    pub fn healthy_until(&self) -> jiff::Timestamp {
        self.refreshed_wall
    }

    pub fn is_due(&self, now: Instant) -> bool {
        self.due <= now
    }

    /// The next moment the session must look at it: its refresh, the alarm margin, the expiry.
    pub fn next_wake(&self) -> Instant {
        let at_risk = self.expires_at() - self.plan.alarm_margin;
        let mut wake = self.due.min(self.expires_at());
        if self.status.state == SubscriptionState::Healthy {
            wake = wake.min(at_risk);
        }
        wake
    }

    pub fn health(&self, now: Instant) -> Health {
        if now >= self.expires_at() {
            Health::Expired
        } else if self.margin(now) <= self.plan.alarm_margin {
            Health::AtRisk
        } else {
            Health::Healthy
        }
    }

    /// A refresh sent at `sent` succeeded at `done`; true when it was late (it succeeded more
    /// than a tenth of the period after it was planned).
    pub fn refreshed(&mut self, sent: Instant, done: Instant, sent_wall: jiff::Timestamp) -> bool {
        let planned = self.refreshed_at + self.plan.refresh;
        let late = done > planned + self.plan.refresh / LATE_SHARE;
        self.refreshed_at = sent;
        self.refreshed_wall = sent_wall;
        self.due = sent + self.plan.refresh;
        self.failing = 0;
        self.status.refreshes += 1;
        self.status.last_refresh_took_ms =
            Some(done.saturating_duration_since(sent).as_millis() as u64);
        if late {
            self.status.late_refreshes += 1;
        }
        self.show_refresh();
        late
    }

    /// A refresh call failed without the device saying the subscription is gone: try again
    /// soon; the margin keeps shrinking until a refresh succeeds.
    pub fn failed(&mut self, now: Instant, error: &str) {
        self.failing += 1;
        self.status.refresh_failures += 1;
        self.status.last_error = Some(error.to_owned());
        let retry = (self.plan.refresh / RETRY_SHARE).max(MIN_RETRY);
        self.due = now + retry;
    }

    /// Failed refresh calls since the last good one.
    pub fn failing(&self) -> u32 {
        self.failing
    }

    fn show_refresh(&mut self) {
        self.status.last_refresh_at = Some(self.refreshed_wall);
        self.status.expires_at = self.refreshed_wall.checked_add(self.plan.timeout).ok();
    }
}

/// The alarm events: `at_risk` and `lost` raise `<source>:subscription:<query>`, `healthy`
/// clears it. `detail` says why (the last error, or what recovered).
pub(super) fn alarm_event(
    source_name: &str,
    state: SubscriptionState,
    tracked: &Tracked,
    now: Instant,
    detail: &str,
) -> Event {
    let margin = tracked.margin(now);
    let (kind, severity, alarmstate) = match state {
        SubscriptionState::AtRisk => (AT_RISK_TYPE, Severity::Major, AlarmState::Raised),
        SubscriptionState::Lost => (LOST_TYPE, Severity::Critical, AlarmState::Raised),
        SubscriptionState::Healthy | SubscriptionState::Closed => {
            (HEALTHY_TYPE, Severity::Info, AlarmState::Cleared)
        }
    };
    let query = &tracked.query;
    let summary = match state {
        SubscriptionState::AtRisk => format!(
            "subscription {query} at risk: {:.1} s left before the device expires it ({} refreshes failed: {detail})",
            margin.as_secs_f64(),
            tracked.failing,
        ),
        SubscriptionState::Lost => format!("subscription {query} lost ({detail}); resubscribing"),
        _ => format!("subscription {query} healthy again ({detail})"),
    };
    let data = json!({
        "query": query,
        "subscription": tracked.id,
        "margin_ms": margin.as_millis() as u64,
        "timeout_ms": tracked.plan.timeout.as_millis() as u64,
        "refresh_ms": tracked.plan.refresh.as_millis() as u64,
        "alarm_margin_ms": tracked.plan.alarm_margin.as_millis() as u64,
        "last_refresh_at": tracked.refreshed_wall,
        "failing": tracked.failing,
        "refresh_failures": tracked.status.refresh_failures,
        "late_refreshes": tracked.status.late_refreshes,
        "detail": detail,
    });
    let mut event = Event::new(source_name, kind, jiff::Timestamp::now(), data);
    event.subject = Some(alarm_subject(query));
    event.severity = severity;
    event.alarmstate = alarmstate;
    event.summary = summary;
    event
}

/// Prometheus handles of one subscription, registered once per session.
pub(super) struct SubscriptionMetrics {
    pub late: metrics::Counter,
    pub failures: metrics::Counter,
}

impl SubscriptionMetrics {
    pub fn new(source_name: &str, query: &str) -> SubscriptionMetrics {
        let labels = [
            ("source", source_name.to_owned()),
            ("subscription", query.to_owned()),
        ];
        SubscriptionMetrics {
            late: metrics::counter!("netpulse_dme_subscription_late_refreshes_total", &labels),
            failures: metrics::counter!(
                "netpulse_dme_subscription_refresh_failures_total",
                &labels
            ),
        }
    }
}

/// Sets `netpulse_dme_subscription_margin_seconds{source,subscription}` from each source's
/// status, at scrape time (the margin shrinks between refreshes); 0 for a closed subscription.
pub fn publish_margins(sources: &crate::source::Registry) {
    for source in sources.list().iter() {
        let status = source.status.snapshot();
        for subscription in &status.subscription_health {
            let margin_ms = match subscription.state {
                SubscriptionState::Closed => 0,
                _ => subscription.margin_ms.unwrap_or(0).max(0),
            };
            metrics::gauge!(
                "netpulse_dme_subscription_margin_seconds",
                "source" => source.name.clone(),
                "subscription" => subscription.query.clone()
            )
            .set(margin_ms as f64 / 1000.0);
        }
    }
}

#[cfg(test)]
#[path = "health_tests.rs"]
mod tests;
