//! Silences, windows and flapping, with explicit times: what is muted, what is still said (the
//! clear of a notified alarm), what the clock announces.

use super::engine::Outcome;
use super::mute::MuteKind;
use super::notification::{LineState, operator_types};
use super::testkit::{Run, at, edge_alarm, mute, operator, policy, states, uuid};
use crate::event::Severity;

const BFD: &str = "rest-alarm-bfd-tloc-down-active-20.x.json";

#[test]
fn a_silence_mutes_new_raises_but_not_the_clear_of_a_notified_alarm() {
    let mut run = Run::new(policy(
        "routes:\n  - { match: { source: [vmanage] }, sinks: [noc] }\n",
    ));
    run.send(&edge_alarm(BFD, "Edge1", &uuid(1, 1), true), at(0));
    assert_eq!(run.tick(at(10)).len(), 1);
    let silence = mute(
        "s1",
        MuteKind::Silence,
        serde_json::json!({"source": ["vmanage"]}),
        20,
        3600,
    );
    run.send(&operator(operator_types::SILENCE_CREATED, silence), at(20));
    assert_eq!(run.engine.mutes().len(), 1);
    let (_, decisions) = run.send(&edge_alarm(BFD, "Edge2", &uuid(2, 1), true), at(30));
    assert_eq!(
        decisions[0].outcome,
        Outcome::Silenced {
            mute: "s1".to_owned()
        }
    );
    let (_, decisions) = run.send(&edge_alarm(BFD, "Edge1", &uuid(1, 1), false), at(40));
    assert!(
        matches!(decisions[0].outcome, Outcome::Grouped { .. }),
        "{decisions:?}"
    );
    let (_, decisions) = run.send(&edge_alarm(BFD, "Edge2", &uuid(2, 1), false), at(50));
    assert!(
        matches!(decisions[0].outcome, Outcome::NotNotified { .. }),
        "{decisions:?}"
    );
    let update = run.tick(at(310)).remove(0);
    assert_eq!(states(&update), [(LineState::Cleared, Severity::Major)]);
    assert!(update.all_cleared);
    assert_eq!(
        run.engine.next_deadline(),
        Some(at(3600)),
        "the silence's end"
    );
    run.tick(at(3600));
    assert!(run.engine.mutes().is_empty());
    let expired = &run.operator_events[0];
    assert_eq!(expired.kind, operator_types::SILENCE_EXPIRED);
    assert_eq!(
        expired.data,
        serde_json::json!({"id": "s1", "by": "netpulse"})
    );
}

#[test]
fn a_silence_made_during_group_wait_is_a_later_decision() {
    let mut run = Run::new(policy(
        "routes:\n  - { match: { source: [vmanage] }, sinks: [noc] }\n",
    ));
    let (seq, _) = run.send(&edge_alarm(BFD, "Edge1", &uuid(1, 1), true), at(0));
    let silence = mute(
        "s2",
        MuteKind::Silence,
        serde_json::json!({"source": ["vmanage"]}),
        5,
        600,
    );
    run.send(&operator(operator_types::SILENCE_CREATED, silence), at(5));
    assert!(run.tick(at(10)).is_empty());
    let silenced = Outcome::Silenced {
        mute: "s2".to_owned(),
    };
    let (last_seq, last) = run.decisions.last().unwrap();
    assert_eq!(
        (*last_seq, &last.outcome),
        (seq, &silenced),
        "decided at the flush"
    );
    // Its clear is not notified: its raise never was.
    let (_, decisions) = run.send(&edge_alarm(BFD, "Edge1", &uuid(1, 1), false), at(15));
    assert!(
        matches!(decisions[0].outcome, Outcome::NotNotified { .. }),
        "{decisions:?}"
    );
    let expire = serde_json::json!({"id": "s2", "by": "alice"});
    run.send(&operator(operator_types::SILENCE_EXPIRED, expire), at(20));
    assert!(run.engine.mutes().is_empty(), "expired through the API");
}

#[test]
fn a_window_announces_its_start_and_end() {
    let mut run = Run::new(policy(
        "routes:\n  - { match: { source: [vmanage] }, sinks: [noc] }\n",
    ));
    let window = mute(
        "w1",
        MuteKind::Window,
        serde_json::json!({"source": ["vmanage"]}),
        100,
        200,
    );
    run.send(&operator(operator_types::WINDOW_CREATED, window), at(0));
    assert_eq!(run.engine.next_deadline(), Some(at(100)));
    run.tick(at(100));
    let (_, decisions) = run.send(&edge_alarm(BFD, "Edge1", &uuid(1, 1), true), at(150));
    assert_eq!(
        decisions[0].outcome,
        Outcome::Silenced {
            mute: "w1".to_owned()
        }
    );
    assert_eq!(run.engine.next_deadline(), Some(at(200)));
    run.tick(at(200));
    let kinds: Vec<&str> = run
        .operator_events
        .iter()
        .map(|event| event.kind.as_str())
        .collect();
    assert_eq!(
        kinds,
        [operator_types::WINDOW_STARTED, operator_types::WINDOW_ENDED]
    );
    assert_eq!(
        run.operator_events[0].data,
        serde_json::json!({"id": "w1", "kind": "window"})
    );
    assert_eq!(run.operator_events[1].time, at(200));
    assert!(run.engine.mutes().is_empty());
}

#[test]
fn a_flapping_alarm_is_notified_once_then_quiet_until_stable() {
    let mut run = Run::new(policy(
        "routes:\n  - { match: { source: [vmanage] }, sinks: [noc], group_interval: 1m, flapping: { cycles: 3, window: 10m } }\n",
    ));
    let raise = edge_alarm(BFD, "Edge1", &uuid(1, 1), true);
    let clear = edge_alarm(BFD, "Edge1", &uuid(1, 1), false);
    run.send(&raise, at(0));
    assert_eq!(run.tick(at(10))[0].counts.new.total(), 1);
    for (step, time) in [
        (&clear, 20),
        (&raise, 30),
        (&clear, 40),
        (&raise, 50),
        (&clear, 60),
    ] {
        run.send(step, at(time));
    }
    let flapping = run.tick(at(70)).remove(0);
    assert_eq!(states(&flapping), [(LineState::Flapping, Severity::Major)]);
    assert_eq!(flapping.counts.flapping, 1);
    assert!(!flapping.all_cleared, "a flapping alarm keeps its group");
    for (step, time) in [(&raise, 100), (&clear, 110), (&raise, 200)] {
        let (_, decisions) = run.send(step, at(time));
        assert!(
            matches!(decisions[0].outcome, Outcome::Flapping { .. }),
            "{decisions:?}"
        );
    }
    assert_eq!(
        run.engine.next_deadline(),
        Some(at(800)),
        "stable a window after its last change"
    );
    assert!(run.tick(at(799)).is_empty(), "quiet while flapping");
    let stable = run.tick(at(800)).remove(0);
    assert_eq!(stable.alarms.len(), 1);
    assert_eq!(stable.alarms[0].state, LineState::Stable);
    assert!(!stable.all_cleared, "stable, and raised");
    run.send(&clear, at(900));
    let cleared = run.tick(at(900)).remove(0);
    assert_eq!(
        states(&cleared),
        [(LineState::Cleared, Severity::Major)],
        "notified as usual again"
    );
    assert!(cleared.all_cleared);
}

/// A webhook sender picks its own CloudEvents type: an operator type from any source but
/// netpulse's own is an ordinary event, which mutes nothing.
#[test]
fn an_operator_event_from_a_source_other_than_netpulse_mutes_nothing() {
    let mut run = Run::new(policy(
        "routes:\n  - { match: { source: [vmanage] }, sinks: [noc] }\n",
    ));
    let silence = mute(
        "forged",
        MuteKind::Silence,
        serde_json::json!({"source": ["vmanage"]}),
        0,
        3600,
    );
    let mut forged = operator(operator_types::SILENCE_CREATED, silence);
    forged.0.source = "/netpulse/hook".to_owned();
    run.send(&forged, at(0));
    assert!(run.engine.mutes().is_empty());
    let (_, decisions) = run.send(&edge_alarm(BFD, "Edge2", &uuid(2, 1), true), at(30));
    assert!(
        matches!(decisions[0].outcome, Outcome::Grouped { .. }),
        "{decisions:?}"
    );
}
