//! Subscription health against the simulated switch: the margin and the refreshes in the status
//! and the metrics, the `at_risk` alarm raised before the device would drop a subscription and
//! cleared when refreshes work again, `lost` when it is gone, cleared on resubscribe.

use std::time::Duration;

use netpulse::event::{AlarmState, Event, GAP_EVENT_TYPE};
use netpulse::sim::dme::{DmeSimConfig, Fault};
use netpulse::source::SubscriptionState;
use netpulse::source::dme::health::{AT_RISK_TYPE, HEALTHY_TYPE, LOST_TYPE};

use crate::support::{Harness, SourceOptions, small_switch, wait_until};

/// A switch that drops a subscription `ttl` after its last refresh.
fn switch(ttl: Duration) -> DmeSimConfig {
    DmeSimConfig {
        subscription_ttl: ttl,
        ..small_switch()
    }
}

fn of_type<'a>(events: &'a [Event], kind: &str) -> Vec<&'a Event> {
    events.iter().filter(|event| event.kind == kind).collect()
}

async fn all_subscribed(harness: &Harness) {
    wait_until("three healthy subscriptions are shown", || {
        let status = harness.status();
        status.subscription_health.len() == 3
            && status
                .subscription_health
                .iter()
                .all(|subscription| subscription.state == SubscriptionState::Healthy)
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_refreshes_raise_at_risk_before_the_device_drops_the_subscription_and_clear_on_recovery()
 {
    let options = SourceOptions {
        extra: "subscription_refresh: 1s\n    subscription_overrides: [{ timeout: 6s }]\n    subscription_alarm_margin: 3s\n    backoff: { initial: 200ms, max: 2s }",
        ..SourceOptions::default()
    };
    let harness = Harness::start_with(switch(Duration::from_secs(6)), options).await;
    harness.wait_connected().await;
    all_subscribed(&harness).await;

    harness
        .device()
        .fault(Fault::RefreshUnavailable { for_ms: 60_000 });
    let events = harness
        .wait_for_event("a subscription is reported at risk", |e| {
            e.kind == AT_RISK_TYPE
        })
        .await;
    let stats = harness.device().stats();
    assert_eq!(
        stats.subscriptions_expired_total, 0,
        "raised before the device dropped anything: {stats:?}"
    );
    let at_risk = of_type(&events, AT_RISK_TYPE)[0];
    assert_eq!(at_risk.alarmstate, AlarmState::Raised);
    let margin_ms = at_risk.data["margin_ms"].as_u64().unwrap();
    assert!(
        margin_ms > 0 && margin_ms <= 3_000,
        "under the alarm margin, above zero: {at_risk:#?}"
    );
    assert!(
        at_risk.data["failing"].as_u64().unwrap() >= 1,
        "{at_risk:#?}"
    );
    let key = at_risk.subject.clone().unwrap();
    assert!(key.starts_with("subscription:/api/"), "{key}");
    assert!(
        at_risk
            .summary
            .contains("left before the device expires it"),
        "{}",
        at_risk.summary
    );
    let status = harness.status();
    assert!(status.refresh_failures >= 1, "{status:?}");
    assert!(
        status
            .subscription_health
            .iter()
            .any(|subscription| subscription.state == SubscriptionState::AtRisk),
        "{status:?}"
    );

    // The device answers again: every raised subscription alarm clears, and nothing was lost.
    harness
        .device()
        .fault(Fault::RefreshUnavailable { for_ms: 0 });
    wait_until("every at-risk subscription is healthy again", || {
        let events = harness.events();
        let raised = of_type(&events, AT_RISK_TYPE).len();
        let status = harness.status();
        of_type(&events, HEALTHY_TYPE).len() == raised
            && status
                .subscription_health
                .iter()
                .all(|subscription| subscription.state == SubscriptionState::Healthy)
    })
    .await;
    let events = harness.events();
    let cleared = of_type(&events, HEALTHY_TYPE);
    assert!(
        cleared.iter().any(|e| e.subject.as_deref() == Some(&key)),
        "the same alarm key is cleared: {cleared:#?}"
    );
    assert!(cleared.iter().all(|e| e.alarmstate == AlarmState::Cleared));
    assert!(of_type(&events, LOST_TYPE).is_empty(), "{events:#?}");
    let status = harness.status();
    assert_eq!(
        (status.connects, status.gaps, status.relogins),
        (1, 0, 0),
        "the session never broke: {status:?}"
    );
    assert_eq!(harness.device().stats().subscriptions_expired_total, 0);
    harness.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscription_not_refreshed_within_its_timeout_is_raised_lost_and_cleared_on_resubscribe()
{
    let options = SourceOptions {
        extra: "subscription_refresh: 1s\n    subscription_overrides: [{ timeout: 3s }]\n    backoff: { initial: 200ms, max: 2s }",
        ..SourceOptions::default()
    };
    let harness = Harness::start_with(switch(Duration::from_secs(3)), options).await;
    harness.wait_connected().await;
    all_subscribed(&harness).await;

    harness
        .device()
        .fault(Fault::RefreshUnavailable { for_ms: 60_000 });
    harness
        .wait_for_event("a subscription is reported lost", |e| e.kind == LOST_TYPE)
        .await;
    harness
        .device()
        .fault(Fault::RefreshUnavailable { for_ms: 0 });
    let events = harness
        .wait_for_event("the lost subscription is cleared", |e| {
            e.kind == HEALTHY_TYPE && e.data["detail"] == "resubscribed"
        })
        .await;
    let lost = of_type(&events, LOST_TYPE)[0];
    assert_eq!(lost.alarmstate, AlarmState::Raised);
    assert!(
        lost.summary.contains("not refreshed within its 3s timeout"),
        "{}",
        lost.summary
    );
    let position = |predicate: &dyn Fn(&Event) -> bool| events.iter().position(predicate).unwrap();
    let at_risk = position(&|e| e.kind == AT_RISK_TYPE && e.subject == lost.subject);
    let lost_at = position(&|e| e.kind == LOST_TYPE);
    let gap = position(&|e| e.kind == GAP_EVENT_TYPE);
    let cleared = position(&|e| {
        e.kind == HEALTHY_TYPE && e.subject == lost.subject && e.data["detail"] == "resubscribed"
    });
    assert!(
        at_risk < lost_at && lost_at < gap && gap < cleared,
        "at risk, lost, the gap, then cleared: {events:#?}"
    );
    wait_until("the source is back and has relogged in", || {
        let status = harness.status();
        status.relogins >= 1 && status.gaps >= 1
    })
    .await;
    harness.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscription_the_device_says_is_gone_is_raised_lost_and_cleared_on_resubscribe() {
    let options = SourceOptions {
        extra: "subscription_refresh: 1s\n    backoff: { initial: 200ms, max: 2s }",
        ..SourceOptions::default()
    };
    let harness = Harness::start_with(small_switch(), options).await;
    harness.wait_connected().await;
    all_subscribed(&harness).await;
    harness.device().fault(Fault::FailRefresh { count: 1 });
    let events = harness
        .wait_for_event("the lost subscription is cleared", |e| {
            e.kind == HEALTHY_TYPE && e.data["detail"] == "resubscribed"
        })
        .await;
    let lost = of_type(&events, LOST_TYPE);
    assert_eq!(lost.len(), 1, "{events:#?}");
    assert!(
        lost[0].summary.contains("does not exist or has expired"),
        "the device's answer: {}",
        lost[0].summary
    );
    assert!(
        of_type(&events, AT_RISK_TYPE).is_empty(),
        "lost at once, never at risk"
    );
    harness.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn late_refreshes_and_per_class_refresh_overrides_show_in_status_and_metrics() {
    let options = SourceOptions {
        extra: "subscription_refresh: 1s\n    subscription_overrides: [{ match: l2BD, refresh: 250ms, timeout: 60s }]\n    backoff: { initial: 200ms, max: 2s }",
        ..SourceOptions::default()
    };
    let harness = Harness::start_with(small_switch(), options).await;
    harness.wait_connected().await;
    all_subscribed(&harness).await;
    harness.device().fault(Fault::DelayRefresh {
        delay_ms: 400,
        count: 2,
    });
    wait_until("late refreshes are counted", || {
        harness.status().late_refreshes >= 1
    })
    .await;
    let by_query = |piece: &str| {
        harness
            .status()
            .subscription_health
            .into_iter()
            .find(|subscription| subscription.query.contains(piece))
            .unwrap()
    };
    wait_until(
        "the l2BD subscription is refreshed on its own, faster schedule",
        || by_query("l2BD").refreshes >= by_query("ethpmPhysIf").refreshes + 4,
    )
    .await;
    let (l2bd, phys) = (by_query("l2BD"), by_query("ethpmPhysIf"));
    assert_eq!((l2bd.refresh_ms, l2bd.timeout_ms), (250, 60_000));
    assert_eq!(
        (phys.refresh_ms, phys.timeout_ms),
        (1_000, 60_000),
        "the NX-OS default"
    );
    assert!(phys.margin_ms.unwrap() > 55_000, "{phys:?}");

    let base = format!("http://{}", harness.gateway().http_addr());
    // The status as `/api/v1/sources/leaf1` shows it (flattened into the source's entry).
    let source = serde_json::to_value(harness.status()).unwrap();
    assert!(
        source["late_refreshes"]
            .as_u64()
            .is_some_and(|late| late >= 1),
        "{source:#}"
    );
    assert_eq!(source["relogins"], 0);
    let shown = &source["subscription_health"];
    assert_eq!(shown.as_array().unwrap().len(), 3, "{source:#}");
    for field in [
        "id",
        "query",
        "state",
        "timeout_ms",
        "refresh_ms",
        "alarm_margin_ms",
        "last_refresh_at",
        "expires_at",
        "margin_ms",
        "refreshes",
        "late_refreshes",
        "refresh_failures",
    ] {
        assert!(shown[0].get(field).is_some(), "{field}: {source:#}");
    }
    assert_eq!(shown[0]["state"], "healthy");

    let metrics = reqwest::get(format!("{base}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let margin = metrics
        .lines()
        .find(|line| {
            line.starts_with("netpulse_dme_subscription_margin_seconds{")
                && line.contains("source=\"leaf1\"")
                && line.contains("l2BD")
        })
        .unwrap_or_else(|| panic!("no margin gauge in {metrics}"));
    let seconds: f64 = margin.rsplit(' ').next().unwrap().parse().unwrap();
    assert!(seconds > 50.0 && seconds <= 60.0, "{margin}");
    assert!(
        metrics.contains("netpulse_dme_subscription_late_refreshes_total{"),
        "{metrics}"
    );
    harness.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refresh_the_device_leaves_unanswered_raises_at_risk_while_it_hangs_then_lost() {
    // The request timeout (10 s by default) is longer than the subscription lives: the alarm
    // must not wait for it.
    let options = SourceOptions {
        extra: "subscription_refresh: 1s\n    subscription_overrides: [{ timeout: 6s }]\n    subscription_alarm_margin: 3s\n    backoff: { initial: 200ms, max: 2s }",
        ..SourceOptions::default()
    };
    let harness = Harness::start_with(switch(Duration::from_secs(6)), options).await;
    harness.wait_connected().await;
    all_subscribed(&harness).await;
    harness.device().fault(Fault::DelayRefresh {
        delay_ms: 30_000,
        count: 1,
    });
    let events = harness
        .wait_for_event("the hanging refresh raises at risk", |e| {
            e.kind == AT_RISK_TYPE
        })
        .await;
    assert_eq!(harness.device().stats().subscriptions_expired_total, 0);
    let at_risk = of_type(&events, AT_RISK_TYPE)[0];
    assert!(
        at_risk.data["detail"]
            .as_str()
            .unwrap()
            .contains("still unanswered"),
        "{at_risk:#?}"
    );
    let events = harness
        .wait_for_event("the subscription is resubscribed", |e| {
            e.kind == HEALTHY_TYPE && e.data["detail"] == "resubscribed"
        })
        .await;
    // The hung call may be any subscription's: the one lost first was raised at risk before.
    let lost = of_type(&events, LOST_TYPE);
    let position = |predicate: &dyn Fn(&Event) -> bool| events.iter().position(predicate).unwrap();
    let lost_at = position(&|e| e.kind == LOST_TYPE);
    let raised_at = position(&|e| e.kind == AT_RISK_TYPE && e.subject == lost[0].subject);
    assert!(raised_at < lost_at, "{events:#?}");
    assert!(
        lost[0]
            .summary
            .contains("no answer before a subscription's timeout")
            || lost[0].summary.contains("not refreshed within"),
        "{}",
        lost[0].summary
    );
    harness.stop().await;
}
