//! The engine's behaviour a NOC would check, with explicit times: a storm grouped, the timers,
//! informational events, a restart anywhere in a scenario, stable group ids.

use std::collections::BTreeMap;

use super::engine::{Outcome, RoutedEvent};
use super::mute::MuteKind;
use super::notification::{LineState, Notification, NotificationReason, operator_types};
use super::testkit::{Run, at, edge_alarm, info, mute, operator, policy, states, uuid};
use crate::event::{Event, Severity};

const INTERFACE: &str = "rest-alarm-interface-state-change-active-20.x.json";
const BFD: &str = "rest-alarm-bfd-tloc-down-active-20.x.json";
#[test]
fn a_storm_of_600_alarms_makes_one_notification_and_their_clears_one_update() {
    let mut run = Run::new(policy(
        "routes:\n  - { name: sdwan, match: { source: [vmanage] }, sinks: [noc], group_by: [source] }\n",
    ));
    let mut seqs = Vec::new();
    for device in 0..50 {
        for alarm in 0..12 {
            let event = edge_alarm(
                INTERFACE,
                &format!("Edge{device}"),
                &uuid(device, alarm),
                true,
            );
            let (seq, decisions) = run.send(&event, at(0));
            assert!(
                matches!(decisions[..], [ref d] if matches!(d.outcome, Outcome::Grouped { .. }))
            );
            seqs.push(seq);
        }
    }
    assert_eq!(
        run.engine.next_deadline(),
        Some(at(10)),
        "group_wait 10s by default"
    );
    assert!(run.tick(at(9)).is_empty());
    let first = run.tick(at(10));
    assert_eq!(first.len(), 1, "one notification for the whole storm");
    let first = &first[0];
    assert_eq!((first.number, first.reason), (1, NotificationReason::First));
    assert_eq!(
        first.counts.new.0,
        BTreeMap::from([(Severity::Critical, 600)])
    );
    assert_eq!(first.alarms.len(), 600);
    assert_eq!(first.members, seqs);
    assert_eq!(
        first.labels,
        BTreeMap::from([("source".to_owned(), "vmanage".to_owned())])
    );
    assert_eq!(first.to_event(at(10)).summary, "sdwan: 600 new");
    for device in 0..50 {
        for alarm in 0..12 {
            let event = edge_alarm(
                INTERFACE,
                &format!("Edge{device}"),
                &uuid(device, alarm),
                false,
            );
            run.send(&event, at(20));
        }
    }
    assert_eq!(
        run.engine.next_deadline(),
        Some(at(310)),
        "group_interval 5m after the first"
    );
    assert!(run.tick(at(309)).is_empty());
    let update = run.tick(at(310));
    assert_eq!(update.len(), 1);
    let update = &update[0];
    assert_eq!(
        (update.number, update.reason),
        (2, NotificationReason::Update)
    );
    assert_eq!(
        update.counts.cleared.0,
        BTreeMap::from([(Severity::Critical, 600)])
    );
    assert_eq!(
        update.counts.new.total() + update.counts.still_raised.total(),
        0
    );
    assert!(update.all_cleared, "the group says every alarm cleared");
    assert_eq!(
        update.group, first.group,
        "the update belongs to the first's thread"
    );
    assert!(
        run.rows
            .keys()
            .all(|key| !key.starts_with("group/") && !key.starts_with("alarm/"))
    );
}

#[test]
fn group_wait_group_interval_and_repeat_interval_time_the_notifications() {
    let mut run = Run::new(policy(
        "routes:\n  - { match: { source: [vmanage] }, sinks: [noc], group_wait: 30s, group_interval: 2m, repeat_interval: 1h }\n",
    ));
    run.send(&edge_alarm(BFD, "Edge1", &uuid(1, 1), true), at(0));
    run.send(&edge_alarm(INTERFACE, "Edge1", &uuid(1, 2), true), at(10));
    assert_eq!(
        run.engine.next_deadline(),
        Some(at(30)),
        "a second alarm does not push the wait"
    );
    let first = run.tick(at(30)).remove(0);
    assert_eq!(first.route, "route-1");
    let expected = vec![
        (LineState::New, Severity::Critical),
        (LineState::New, Severity::Major),
    ];
    assert_eq!(states(&first), expected, "most severe first");
    run.send(&edge_alarm(BFD, "Edge2", &uuid(2, 1), true), at(40));
    assert_eq!(
        run.engine.next_deadline(),
        Some(at(150)),
        "group_interval after the last"
    );
    assert!(run.tick(at(149)).is_empty());
    let update = run.tick(at(150)).remove(0);
    assert_eq!(update.reason, NotificationReason::Update);
    let expected = vec![
        (LineState::New, Severity::Major),
        (LineState::StillRaised, Severity::Critical),
        (LineState::StillRaised, Severity::Major),
    ];
    assert_eq!(states(&update), expected, "new first, then still raised");
    assert_eq!(update.members, [3]);
    assert_eq!(
        run.engine.next_deadline(),
        Some(at(3750)),
        "nothing changed: repeat_interval"
    );
    let repeat = run.tick(at(3750)).remove(0);
    assert_eq!(
        (repeat.number, repeat.reason),
        (3, NotificationReason::Repeat)
    );
    assert_eq!(repeat.counts.still_raised.total(), 3);
    assert!(
        repeat.members.is_empty(),
        "a repeat reports no event for the first time"
    );
    let (clear_seq, _) = run.send(
        &edge_alarm(INTERFACE, "Edge1", &uuid(1, 2), false),
        at(3800),
    );
    let update = run.tick(at(3870)).remove(0);
    assert_eq!(update.alarms[0].state, LineState::Cleared);
    assert_eq!(update.alarms[0].seq, clear_seq);
    assert_eq!(
        update.counts.cleared.0,
        BTreeMap::from([(Severity::Critical, 1)]),
        "the raise's severity"
    );
    assert!(!update.all_cleared);
}

#[test]
fn repeat_interval_zero_never_repeats() {
    let mut run = Run::new(policy(
        "routes:\n  - { match: { source: [vmanage] }, sinks: [noc], repeat_interval: 0s }\n",
    ));
    run.send(&edge_alarm(BFD, "Edge1", &uuid(1, 1), true), at(0));
    assert_eq!(run.tick(at(10)).len(), 1);
    assert_eq!(run.engine.next_deadline(), None);
    assert!(run.tick(at(1_000_000)).is_empty());
}

#[test]
fn an_informational_event_is_reported_once_then_forgotten() {
    let mut run = Run::new(policy(
        "routes:\n  - { match: { source: [vmanage] }, sinks: [noc] }\n",
    ));
    let event = info("Edge7", Severity::Warning);
    run.send(&(event.clone(), Vec::new()), at(0));
    let notification = run.tick(at(10)).remove(0);
    assert_eq!(
        states(&notification),
        [(LineState::Info, Severity::Warning)]
    );
    assert_eq!(notification.alarms[0].key, event.id);
    assert!(!notification.all_cleared, "no alarm was notified");
    assert_eq!(run.engine.next_deadline(), None);
    assert!(
        run.rows.is_empty(),
        "nothing is kept: {:?}",
        run.rows.keys()
    );
}

#[test]
fn a_raise_and_clear_before_the_first_notification_say_nothing() {
    let mut run = Run::new(policy(
        "routes:\n  - { match: { source: [vmanage] }, sinks: [noc] }\n",
    ));
    run.send(&edge_alarm(BFD, "Edge1", &uuid(1, 1), true), at(0));
    let (_, decisions) = run.send(&edge_alarm(BFD, "Edge1", &uuid(1, 1), false), at(5));
    assert!(
        matches!(decisions[0].outcome, Outcome::NotNotified { .. }),
        "{decisions:?}"
    );
    assert!(run.tick(at(10)).is_empty());
    assert!(run.engine.next_deadline().is_none());
}

/// Raises, a silence, clears, an informational event, a flapping alarm: `(time, step)`.
fn scenario() -> Vec<(i64, Step)> {
    let mut steps = Vec::new();
    for device in 0..5 {
        for alarm in 0..3 {
            steps.push((
                device,
                step(edge_alarm(
                    INTERFACE,
                    &format!("Edge{device}"),
                    &uuid(device as usize, alarm),
                    true,
                )),
            ));
        }
    }
    let silence = mute(
        "s",
        MuteKind::Silence,
        serde_json::json!({"source": ["vmanage"], "min_severity": "critical"}),
        40,
        100,
    );
    steps.push((40, step(operator(operator_types::SILENCE_CREATED, silence))));
    steps.push((50, step(edge_alarm(INTERFACE, "Edge9", &uuid(9, 0), true))));
    steps.push((60, step((info("Edge3", Severity::Minor), Vec::new()))));
    for time in [70, 80, 90, 100, 110, 120] {
        steps.push((
            time,
            step(edge_alarm(BFD, "Edge8", &uuid(8, 0), time % 20 == 10)),
        ));
    }
    for device in 0..5 {
        steps.push((
            400,
            step(edge_alarm(
                INTERFACE,
                &format!("Edge{device}"),
                &uuid(device as usize, 0),
                false,
            )),
        ));
    }
    for time in (0..5000).step_by(5) {
        steps.push((time, Step::Tick));
    }
    steps.sort_by_key(|(time, _)| *time);
    steps
}

fn step(event: (Event, Vec<crate::event::AlarmUpdate>)) -> Step {
    Step::Event(Box::new(event))
}

#[derive(Clone)]
enum Step {
    Event(Box<(Event, Vec<crate::event::AlarmUpdate>)>),
    Tick,
}

fn play(
    steps: &[(i64, Step)],
    restart_at: Option<usize>,
) -> (Vec<Notification>, Vec<(u64, super::engine::Decision)>) {
    let mut run = Run::new(policy(
        "routes:\n  - { match: { source: [vmanage] }, sinks: [noc, ops], group_by: [device], group_interval: 1m, repeat_interval: 30m, flapping: { cycles: 2, window: 5m } }\n",
    ));
    for (index, (time, step)) in steps.iter().cloned().enumerate() {
        if Some(index) == restart_at {
            run.restart();
        }
        match step {
            Step::Event(event) => {
                run.send(&event, at(time));
            }
            Step::Tick => {
                run.tick(at(time));
            }
        }
    }
    (run.notifications, run.decisions)
}

#[test]
fn a_restart_from_the_persisted_rows_changes_nothing() {
    // Built once: an informational event's id is fresh each time one is made.
    let steps = scenario();
    let (notifications, decisions) = play(&steps, None);
    assert!(notifications.len() >= 10, "{}", notifications.len());
    let reasons: Vec<NotificationReason> = notifications.iter().map(|n| n.reason).collect();
    assert!(reasons.contains(&NotificationReason::Repeat));
    let has = |state| {
        notifications
            .iter()
            .any(|n| n.alarms.iter().any(|l| l.state == state))
    };
    assert!(has(LineState::Flapping) && has(LineState::Stable) && has(LineState::Info));
    assert!(has(LineState::Cleared));
    assert!(
        decisions
            .iter()
            .any(|(_, d)| matches!(d.outcome, Outcome::Silenced { .. }))
    );
    for restart_at in [
        1,
        17,
        20,
        25,
        steps.len() / 3,
        steps.len() / 2,
        steps.len() - 1,
    ] {
        let (again, decided) = play(&steps, Some(restart_at));
        let differs = again.iter().zip(&notifications).position(|(a, b)| a != b);
        assert_eq!(differs, None, "restarted before step {restart_at}");
        assert_eq!(
            again.len(),
            notifications.len(),
            "restarted before step {restart_at}"
        );
        assert!(decided == decisions, "restarted before step {restart_at}");
    }
}

#[test]
fn group_ids_are_stable_across_engines_and_processes() {
    let policy = policy(
        "routes:\n  - { name: sdwan, match: { source: [vmanage] }, sinks: [noc], group_by: [source, device] }\n",
    );
    let (event, _) = edge_alarm(BFD, "Edge1", &uuid(1, 1), true);
    let matched = policy.tree().resolve(&event);
    // Written out once: a change of hash would orphan every persisted group and thread.
    assert_eq!(matched[0].groups[0].1.id, "sdwan/noc/02a2f0234a6505ff");
    let mut engines = [
        super::engine::Engine::new(policy.clone()),
        super::engine::Engine::new(policy),
    ];
    for engine in &mut engines {
        let decisions = engine.observe(
            RoutedEvent {
                seq: 1,
                event: &event,
                alarms: &[],
            },
            at(0),
        );
        assert_eq!(
            decisions[0].outcome,
            Outcome::Grouped {
                group: "sdwan/noc/02a2f0234a6505ff".to_owned()
            }
        );
    }
}

#[test]
fn a_reload_keeps_the_groups_of_the_routes_that_remain() {
    let route = "routes:\n  - { name: sdwan, match: { source: [vmanage] }, sinks: [noc] }\n";
    let mut run = Run::new(policy(route));
    run.send(&edge_alarm(BFD, "Edge1", &uuid(1, 1), true), at(0));
    let first = run.tick(at(10)).remove(0);
    let reloaded = policy(&route.replace("sinks: [noc]", "sinks: [noc], group_interval: 1m"));
    run.engine.set_policy(reloaded.clone());
    run.policy = reloaded;
    run.send(&edge_alarm(BFD, "Edge2", &uuid(2, 1), true), at(20));
    assert_eq!(
        run.engine.next_deadline(),
        Some(at(70)),
        "the new group_interval"
    );
    let update = run.tick(at(70)).remove(0);
    assert_eq!(
        (update.group.as_str(), update.number),
        (first.group.as_str(), 2)
    );
    run.restart();
    assert_eq!(
        run.engine.next_deadline(),
        Some(at(70 + 4 * 3600)),
        "persisted: repeat"
    );
}

#[test]
fn notifications_and_operator_events_are_never_routed() {
    let mut run = Run::new(policy("routes:\n  - { sinks: [noc] }\n"));
    run.send(&edge_alarm(BFD, "Edge1", &uuid(1, 1), true), at(0));
    let notification = run.tick(at(10)).remove(0);
    let (_, decisions) = run.send(&(notification.to_event(at(10)), Vec::new()), at(10));
    assert!(decisions.is_empty(), "{decisions:?}");
    let window = mute("w", MuteKind::Window, serde_json::json!({}), 100, 200);
    let (_, decisions) = run.send(&operator(operator_types::WINDOW_CREATED, window), at(11));
    assert!(decisions.is_empty(), "{decisions:?}");
    assert_eq!(run.engine.mutes()[0].id, "w");
    assert_eq!(
        run.engine.next_deadline(),
        Some(at(100)),
        "the window's start"
    );
}
