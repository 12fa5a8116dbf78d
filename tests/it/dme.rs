//! The DME source end to end against the simulated switch: subscriptions, every kind of gap and
//! its resynchronisation, session and subscription refresh, bad credentials and TLS.

use std::collections::HashSet;

use netpulse::event::{AlarmState, Event, GAP_EVENT_TYPE};
use netpulse::sim::dme::{Change, DmeSimConfig, Fault};
use netpulse::source::ConnectionState;

use crate::support::{Harness, SourceOptions, attrs, small_switch, wait_until};

const PORT1: &str = "sys/intf/phys-[eth1/1]/phys";
const PORT2: &str = "sys/intf/phys-[eth1/2]/phys";

fn link(dn: &str, state: &str) -> Change {
    let quality = if state == "down" {
        "link-failure"
    } else {
        "none"
    };
    Change::Set {
        dn: dn.into(),
        attrs: attrs(&[("operSt", state), ("operStQual", quality)]),
    }
}

fn vlan(id: u32) -> Change {
    let encap = format!("vlan-{id}");
    Change::Create {
        class: "l2BD".into(),
        dn: format!("sys/bd/bd-[{encap}]"),
        attrs: attrs(&[
            ("id", &id.to_string()),
            ("fabEncap", &encap),
            ("name", "test-vlan"),
            ("adminSt", "active"),
        ]),
    }
}

fn about<'a>(events: &'a [Event], dn: &str) -> Vec<&'a Event> {
    events
        .iter()
        .filter(|event| event.subject.as_deref() == Some(dn))
        .collect()
}

/// Every event carries a distinct id and a strictly increasing sequence number.
fn assert_well_formed(events: &[Event]) {
    let ids: HashSet<_> = events.iter().map(|event| &event.id).collect();
    assert_eq!(ids.len(), events.len(), "event ids are unique");
    assert!(
        events.windows(2).all(|pair| pair[0].seq < pair[1].seq),
        "sequence numbers increase"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscribes_and_receives_created_modified_and_deleted() {
    let harness = Harness::start(small_switch()).await;
    harness.wait_connected().await;
    harness.wait_in_sync().await;
    assert!(
        harness.events().is_empty(),
        "the first snapshot is the baseline, not news"
    );

    harness.device().apply(link(PORT1, "down")).unwrap();
    harness.device().apply(vlan(300)).unwrap();
    harness
        .device()
        .apply(Change::Delete {
            dn: "sys/bd/bd-[vlan-101]".into(),
        })
        .unwrap();
    let events = harness
        .wait_for_event("vlan-101 is reported deleted", |e| {
            e.kind == "com.cisco.dme.deleted"
        })
        .await;

    let down = about(&events, PORT1);
    assert_eq!(down.len(), 1, "{down:#?}");
    assert_eq!(
        (down[0].kind.as_str(), down[0].alarmstate),
        ("com.cisco.dme.modified", AlarmState::Raised)
    );
    assert_eq!(down[0].summary, "eth1/1 link down (link-failure)");
    assert_eq!(down[0].data["ethpmPhysIf"]["attributes"]["operSt"], "down");
    let created = about(&events, "sys/bd/bd-[vlan-300]");
    assert_eq!(created.len(), 1);
    assert_eq!(created[0].kind, "com.cisco.dme.created");
    assert_eq!(
        created[0].data["l2BD"]["attributes"]["name"], "test-vlan",
        "data keeps the object the device sent"
    );
    assert!(
        !events.iter().any(|event| event.resync),
        "nothing was missed, so nothing is resynchronised"
    );
    harness.wait_in_sync().await;
    let events = harness.stop().await;
    assert_well_formed(&events);
}

/// Breaks the session with `fault`, changes the device while netpulse is blind, and checks that
/// the gap is reported, that exactly the missed changes come back, and that the views agree.
async fn gap_is_resynchronised(fault: Fault, extra: &'static str) {
    let options = SourceOptions {
        extra,
        ..SourceOptions::default()
    };
    let harness = Harness::start_with(small_switch(), options).await;
    harness.wait_connected().await;
    harness.wait_in_sync().await;
    harness.device().apply(link(PORT2, "down")).unwrap();
    harness
        .wait_for_event("the live change arrives", |e| {
            e.subject.as_deref() == Some(PORT2)
        })
        .await;

    harness.device().fault(fault.clone());
    harness.device().apply(link(PORT1, "down")).unwrap();
    harness.device().apply(vlan(301)).unwrap();
    harness
        .device()
        .apply(Change::Delete {
            dn: "sys/bd/bd-[vlan-102]".into(),
        })
        .unwrap();

    let events = harness
        .wait_for_event("the gap is reported", |e| e.kind == GAP_EVENT_TYPE)
        .await;
    harness.wait_in_sync().await;
    let status = harness.status();
    assert_eq!(status.gaps, 1, "{fault:?}: {status:?}");
    let sessions = harness.device().stats().sessions_active;
    assert_eq!(
        sessions, 1,
        "{fault:?}: the broken session was logged out, not left to time out"
    );
    let gap = events.iter().find(|e| e.kind == GAP_EVENT_TYPE).unwrap();
    assert_eq!(
        (
            gap.data["modified"].as_u64(),
            gap.data["created"].as_u64(),
            gap.data["deleted"].as_u64()
        ),
        (Some(1), Some(1), Some(1)),
        "{fault:?}: {gap:#?}"
    );
    assert!(gap.data["duration_ms"].as_u64().is_some());

    let events = harness.stop().await;
    assert_well_formed(&events);
    let missed: Vec<_> = events
        .iter()
        .filter(|e| e.resync)
        .map(|e| (e.kind.as_str(), e.subject.clone().unwrap()))
        .collect();
    assert_eq!(
        missed,
        [
            ("com.cisco.dme.modified", PORT1.to_owned()),
            ("com.cisco.dme.created", "sys/bd/bd-[vlan-301]".to_owned()),
            ("com.cisco.dme.deleted", "sys/bd/bd-[vlan-102]".to_owned()),
        ],
        "{fault:?}: exactly the changes made during the gap, once each"
    );
    assert_eq!(
        about(&events, PORT2).len(),
        1,
        "{fault:?}: a change seen before the gap is not reported again"
    );
    let position = |predicate: &dyn Fn(&Event) -> bool| events.iter().position(predicate).unwrap();
    assert!(
        position(&|e| e.kind == GAP_EVENT_TYPE) < position(&|e| e.resync),
        "the gap marker comes first"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resynchronises_after_the_socket_drops() {
    gap_is_resynchronised(Fault::DropSockets, "backoff: { initial: 300ms, max: 2s }").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resynchronises_after_the_token_expires() {
    gap_is_resynchronised(
        Fault::ExpireSessions,
        "backoff: { initial: 300ms, max: 2s }",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resynchronises_after_the_device_loses_the_subscriptions() {
    gap_is_resynchronised(
        Fault::LoseSubscriptions,
        "subscription_refresh: 1s\n    backoff: { initial: 300ms, max: 2s }",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resynchronises_after_the_device_restarts() {
    gap_is_resynchronised(
        Fault::Restart { down_for_ms: 1000 },
        "backoff: { initial: 300ms, max: 2s }",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refreshes_keep_session_and_subscriptions_alive_without_gaps() {
    let sim = DmeSimConfig {
        refresh_timeout: std::time::Duration::from_secs(2),
        subscription_ttl: std::time::Duration::from_secs(2),
        ..small_switch()
    };
    let options = SourceOptions {
        extra: "subscription_refresh: 1s",
        ..SourceOptions::default()
    };
    let harness = Harness::start_with(sim, options).await;
    harness.wait_connected().await;
    // Several session lifetimes and subscription timeouts must pass for this to mean anything.
    wait_until("the session has been refreshed 4 times", || {
        harness.device().stats().session_refreshes >= 4
    })
    .await;
    harness.device().apply(link(PORT1, "down")).unwrap();
    harness
        .wait_for_event("a change arrives on the refreshed session", |e| {
            e.subject.as_deref() == Some(PORT1)
        })
        .await;
    let stats = harness.device().stats();
    assert_eq!(stats.subscriptions_expired_total, 0, "{stats:?}");
    assert!(stats.subscription_refreshes >= 9, "{stats:?}");
    assert!(stats.worst_refresh_margin_ms.unwrap() > 0, "{stats:?}");
    let status = harness.status();
    assert_eq!(
        (status.connects, status.gaps),
        (1, 0),
        "the token rotated on every refresh yet the session never broke: {status:?}"
    );
    harness.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_credentials_give_a_clear_error_and_back_off() {
    let options = SourceOptions {
        password: "wrong",
        extra: "backoff: { initial: 200ms, max: 5s }",
        ..SourceOptions::default()
    };
    let started = std::time::Instant::now();
    let harness = Harness::start_with(small_switch(), options).await;
    wait_until("four logins were refused", || {
        harness.status().login_failures >= 4
    })
    .await;
    let elapsed = started.elapsed();
    let status = harness.status();
    assert!(
        status
            .last_error
            .as_deref()
            .unwrap()
            .contains("Username or password is incorrect"),
        "{status:?}"
    );
    assert_ne!(status.state, ConnectionState::Connected);
    // Delays of at least 100, 200 and 400 ms (half of each exponential step) come between the
    // four attempts: a tight loop would be far faster.
    assert!(
        elapsed >= std::time::Duration::from_millis(700),
        "four attempts in {elapsed:?}"
    );
    assert!(harness.device().stats().logins_failed <= 5);
    harness.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logins_the_device_turns_away_for_now_are_shown_apart_from_wrong_credentials() {
    let options = SourceOptions {
        extra: "backoff: { initial: 100ms, max: 500ms }",
        ..SourceOptions::default()
    };
    let harness = Harness::start_with(small_switch(), options).await;
    harness.wait_connected().await;
    harness.device().fault(Fault::RefuseLogins { for_ms: 1500 });
    harness.device().fault(Fault::DropSockets);
    wait_until("a login was turned away with 503", || {
        harness.status().logins_unavailable >= 1
    })
    .await;
    let status = harness.status();
    assert!(
        status
            .last_error
            .as_deref()
            .unwrap_or_default()
            .contains("HTTP 503"),
        "{status:?}"
    );
    assert_eq!(status.login_failures, 0, "not a credentials problem");
    wait_until("the session is back once the device takes logins", || {
        harness.status().state == ConnectionState::Connected && harness.status().connects >= 2
    })
    .await;
    harness.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_untrusted_certificate_is_refused_unless_verification_is_switched_off() {
    let options = SourceOptions {
        tls: "{}".into(),
        ..SourceOptions::default()
    };
    let harness = Harness::start_with(small_switch(), options).await;
    wait_until("the connection failed", || {
        harness.status().last_error.is_some()
    })
    .await;
    let error = harness.status().last_error.unwrap();
    // Said in words, with what to configure and the certificate the device presented.
    assert!(
        error.contains("not issued by a CA in the system's root certificates"),
        "{error}"
    );
    let fingerprint = harness.sim.fingerprint_sha256().unwrap();
    assert!(
        error.contains(&format!("tls.fingerprint_sha256: \"{fingerprint}\"")),
        "{error}"
    );
    assert_eq!(harness.device().stats().logins_ok, 0);
    harness.stop().await;

    let options = SourceOptions {
        tls: "{ insecure_skip_verify: true }".into(),
        ..SourceOptions::default()
    };
    let harness = Harness::start_with(small_switch(), options).await;
    harness.wait_connected().await;
    harness.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pinned_fingerprint_is_trusted_and_any_other_certificate_refused() {
    let options = SourceOptions {
        tls: "pin".into(),
        ..SourceOptions::default()
    };
    let harness = Harness::start_with(small_switch(), options).await;
    harness.wait_connected().await;
    harness.stop().await;

    let options = SourceOptions {
        tls: "wrong-pin".into(),
        ..SourceOptions::default()
    };
    let harness = Harness::start_with(small_switch(), options).await;
    wait_until("the connection failed", || {
        harness.status().last_error.is_some()
    })
    .await;
    let error = harness.status().last_error.unwrap();
    assert!(
        error.contains("certificate fingerprint mismatch: the device presented"),
        "{error}"
    );
    assert_eq!(harness.device().stats().logins_ok, 0);
    harness.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_steady_stream_of_changes_and_faults_ends_with_equal_views() {
    let sim = DmeSimConfig {
        change_rate: 10.0,
        ports: 8,
        vlans: 4,
        seed: 7,
        ..small_switch()
    };
    let options = SourceOptions {
        extra: "subscription_refresh: 1s\n    backoff: { initial: 100ms, max: 1s }",
        ..SourceOptions::default()
    };
    let harness = Harness::start_with(sim, options).await;
    harness.wait_connected().await;
    for fault in [
        Fault::DropSockets,
        Fault::ExpireSessions,
        Fault::LoseSubscriptions,
        Fault::Restart { down_for_ms: 300 },
    ] {
        let gaps = harness.status().gaps;
        let live = || {
            harness
                .events()
                .iter()
                .filter(|e| !e.resync && e.kind != GAP_EVENT_TYPE)
                .count()
        };
        let live_before = live();
        wait_until("a live change arrives", || live() > live_before).await;
        harness.device().fault(fault);
        wait_until("the gap is resynchronised", || {
            harness.status().gaps > gaps && harness.status().state == ConnectionState::Connected
        })
        .await;
    }
    // Changes keep coming, 100 ms apart on average: between two of them the views must meet.
    harness.wait_in_sync().await;
    let events = harness.stop().await;
    assert_well_formed(&events);
    assert_eq!(
        events.iter().filter(|e| e.kind == GAP_EVENT_TYPE).count(),
        4,
        "one gap event per fault"
    );
    assert!(
        events
            .iter()
            .filter(|e| !e.resync && e.kind != GAP_EVENT_TYPE)
            .count()
            >= 4,
        "live changes flowed between the faults"
    );
}
