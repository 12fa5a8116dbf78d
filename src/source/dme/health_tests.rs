//! The margin arithmetic, the schedule and the alarm events of one subscription.

use std::time::Duration;

use tokio::time::Instant;

use super::*;

const fn ms(millis: u64) -> Duration {
    Duration::from_millis(millis)
}

/// A 60 s subscription refreshed every 30 s, alarmed under 15 s, subscribed at `start`.
fn tracked(start: Instant) -> Tracked {
    let plan = SubscriptionPlan {
        timeout: ms(60_000),
        refresh: ms(30_000),
        alarm_margin: ms(15_000),
    };
    let wall: jiff::Timestamp = "2026-01-02T03:04:05Z".parse().unwrap();
    Tracked::new(
        "leaf1",
        "7".into(),
        "/api/class/l1PhysIf.json",
        plan,
        start,
        wall,
    )
}

#[test]
fn the_margin_is_the_timeout_less_the_time_since_the_last_refresh_was_sent() {
    let start = Instant::now();
    let mut subscription = tracked(start);
    assert_eq!(subscription.margin(start + ms(10_000)), ms(50_000));
    assert_eq!(subscription.expires_at(), start + ms(60_000));
    // Sent at 30 s, answered at 31 s: the device restarted its timeout somewhere in between, so
    // netpulse counts from the send, never promising more margin than the device gives.
    let sent = start + ms(30_000);
    let wall: jiff::Timestamp = "2026-01-02T03:04:35Z".parse().unwrap();
    assert!(!subscription.refreshed(sent, sent + ms(1_000), wall));
    assert_eq!(subscription.margin(sent + ms(1_000)), ms(59_000));
    assert_eq!(
        subscription.margin(sent + ms(90_000)),
        Duration::ZERO,
        "never negative"
    );
    assert_eq!(
        subscription.status.expires_at,
        Some("2026-01-02T03:05:35Z".parse().unwrap())
    );
    assert_eq!(subscription.status.last_refresh_took_ms, Some(1_000));
}

#[test]
fn the_first_refresh_is_planned_from_this_subscription_not_from_the_last_one_of_the_session() {
    let start = Instant::now();
    // Subscribing the others took 20 s: this one's clock started when it was requested.
    let subscription = tracked(start);
    assert_eq!(subscription.next_wake(), start + ms(30_000));
    assert!(!subscription.is_due(start + ms(29_999)));
    assert!(subscription.is_due(start + ms(30_000)));
}

#[test]
fn a_refresh_is_late_when_it_succeeds_more_than_a_tenth_of_the_period_after_its_plan() {
    let start = Instant::now();
    let mut subscription = tracked(start);
    let planned = start + ms(30_000);
    let wall = jiff::Timestamp::now();
    assert!(
        !subscription.refreshed(planned, planned + ms(3_000), wall),
        "3 s on a 30 s period is on time"
    );
    let planned = planned + ms(30_000);
    assert!(subscription.refreshed(planned, planned + ms(3_001), wall));
    assert_eq!(subscription.status.late_refreshes, 1);
    assert_eq!(subscription.status.refreshes, 2);
}

#[test]
fn failed_refreshes_are_retried_soon_and_the_margin_falls_to_at_risk_then_expired() {
    let start = Instant::now();
    let mut subscription = tracked(start);
    let mut now = start + ms(30_000);
    assert_eq!(subscription.health(now), Health::Healthy);
    subscription.failed(now, "HTTP 503");
    assert_eq!(
        subscription.next_wake(),
        now + ms(7_500),
        "a quarter of the period"
    );
    now += ms(7_500);
    subscription.failed(now, "HTTP 503");
    assert_eq!(subscription.failing(), 2);
    // 45 s after the refresh that worked only 15 s are left: the alarm margin, where the session
    // wakes even without a refresh due.
    assert_eq!(subscription.next_wake(), start + ms(45_000));
    assert_eq!(subscription.health(start + ms(44_999)), Health::Healthy);
    assert_eq!(subscription.health(start + ms(45_001)), Health::AtRisk);
    assert_eq!(subscription.health(start + ms(60_000)), Health::Expired);
    subscription.status.state = SubscriptionState::AtRisk;
    assert_eq!(
        subscription.next_wake(),
        now + ms(7_500),
        "once at risk the next wake is the retry (or the expiry)"
    );
    // A refresh that finally works restores the whole timeout.
    let sent = start + ms(50_000);
    assert!(
        subscription.refreshed(sent, sent + ms(100), jiff::Timestamp::now()),
        "late"
    );
    assert_eq!(subscription.health(sent + ms(100)), Health::Healthy);
    assert_eq!(subscription.failing(), 0);
    assert_eq!(subscription.status.refresh_failures, 2);
    assert_eq!(subscription.status.last_error.as_deref(), Some("HTTP 503"));
}

#[test]
fn the_alarm_events_raise_and_clear_the_subscription_key() {
    let start = Instant::now();
    let mut subscription = tracked(start);
    subscription.failed(start + ms(30_000), "HTTP 503: busy");
    let at_risk = alarm_event(
        "leaf1",
        SubscriptionState::AtRisk,
        &subscription,
        start + ms(48_000),
        "HTTP 503: busy",
    );
    assert_eq!(at_risk.kind, AT_RISK_TYPE);
    assert_eq!(
        (at_risk.severity, at_risk.alarmstate),
        (Severity::Major, AlarmState::Raised)
    );
    let alarm = at_risk.device_alarm().unwrap();
    assert_eq!(alarm.key, "leaf1:subscription:/api/class/l1PhysIf.json");
    assert_eq!(
        at_risk.summary,
        "subscription /api/class/l1PhysIf.json at risk: 12.0 s left before the device expires it (1 refreshes failed: HTTP 503: busy)"
    );
    assert_eq!(at_risk.data["margin_ms"], 12_000);
    assert_eq!(at_risk.data["subscription"], "7");
    let lost = alarm_event(
        "leaf1",
        SubscriptionState::Lost,
        &subscription,
        start,
        "gone",
    );
    assert_eq!(
        (lost.kind.as_str(), lost.severity),
        (LOST_TYPE, Severity::Critical)
    );
    assert_eq!(lost.device_alarm().unwrap().key, alarm.key);
    let healthy = alarm_event(
        "leaf1",
        SubscriptionState::Healthy,
        &subscription,
        start,
        "refreshed",
    );
    assert_eq!(healthy.kind, HEALTHY_TYPE);
    assert_eq!(
        healthy.device_alarm(),
        Some(crate::event::AlarmUpdate {
            key: alarm.key,
            raised: false
        })
    );
}
