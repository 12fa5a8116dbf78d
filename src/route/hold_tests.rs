//! Root causes a NOC would check: a spine link down with 40 leaf ports behind it makes one
//! notification that names the cause and lists the 40; a held alarm arriving later is an update
//! in the root's thread; the root's clear releases what is still raised; acknowledged groups
//! make no reminder; a restart at any step changes nothing.

use super::engine::{Decision, Outcome};
use super::notification::{LineState, Notification, NotificationReason, operator_types};
use super::testkit::{Run, at, lldp, operator, policy, port};
use crate::event::{AlarmUpdate, Event};

type Step = (Event, Vec<AlarmUpdate>);

const POLICY: &str = "routes:\n  - { name: fabric, match: { type_prefix: [com.cisco.dme.], min_severity: minor }, sinks: [noc], group_by: [device], group_wait: 10s, group_interval: 1m, repeat_interval: 30m }\n\
     topology:\n  roots: [spine-*]\n";

const ROOT: &str = "spine-1:sys/phys-[eth1/1]/phys";

/// spine-1 eth1/1 — leaf-1 eth1/49 is leaf-1's only uplink; leaf-2 hangs on spine-2.
fn adjacencies() -> Vec<Step> {
    vec![
        lldp("spine-1", "eth1/1", "leaf-1", "Ethernet1/49", true),
        lldp("leaf-1", "eth1/49", "spine-1", "Ethernet1/1", true),
        lldp("spine-2", "eth1/1", "leaf-2", "Ethernet1/49", true),
        lldp("leaf-2", "eth1/49", "spine-2", "Ethernet1/1", true),
    ]
}

fn leaf_port(index: usize) -> String {
    format!("eth1/{index}")
}

fn run_with_adjacencies() -> Run {
    let mut run = Run::new(policy(POLICY));
    for step in adjacencies() {
        run.send(&step, at(0));
    }
    run
}

fn outcomes(decisions: &[Decision]) -> Vec<Outcome> {
    decisions.iter().map(|d| d.outcome.clone()).collect()
}

fn held(root: &str) -> Outcome {
    Outcome::Held {
        root: root.to_owned(),
    }
}

#[test]
fn a_spine_link_down_with_40_leaf_ports_behind_it_makes_one_notification_naming_the_cause() {
    let mut run = run_with_adjacencies();
    // The leaf ports report first (their group starts waiting), the spine link just after.
    for index in 1..=40 {
        let (_, decisions) = run.send(&port("leaf-1", &leaf_port(index), false, 100), at(100));
        assert!(matches!(
            outcomes(&decisions)[..],
            [Outcome::Grouped { .. }]
        ));
    }
    let (_, decisions) = run.send(&port("spine-1", "eth1/1", false, 101), at(101));
    assert!(matches!(
        outcomes(&decisions)[..],
        [Outcome::Grouped { .. }]
    ));
    run.send(&lldp("spine-1", "eth1/1", "", "", false), at(101));
    run.send(&lldp("leaf-1", "eth1/49", "", "", false), at(101));
    let mut notifications = Vec::new();
    for second in 100..=200 {
        notifications.extend(run.tick(at(second)));
    }
    assert_eq!(notifications.len(), 1, "{notifications:#?}");
    let notification = &notifications[0];
    assert_eq!(notification.labels["device"], "spine-1");
    assert_eq!(notification.alarms.len(), 1);
    assert_eq!(notification.alarms[0].key, ROOT);
    let cause = &notification.root_causes[0];
    assert_eq!(cause.key, ROOT);
    assert_eq!(
        cause.headline(),
        "spine-1 eth1/1 down — holding 40 alarms behind it"
    );
    assert_eq!(cause.held.len(), 40);
    assert!(cause.held.iter().all(|line| line.state == LineState::New));
    assert!(
        notification
            .summary()
            .contains("40 held behind a root cause")
    );
    // The 40 were taken back from their group at its flush: decided held, each once.
    let held_decisions = run
        .decisions
        .iter()
        .filter(|(_, decision)| decision.outcome == held(ROOT))
        .count();
    assert_eq!(held_decisions, 40);
}

#[test]
fn behind_a_raised_root_a_raise_is_held_at_once_and_a_late_one_is_a_thread_update() {
    let mut run = run_with_adjacencies();
    run.send(&port("spine-1", "eth1/1", false, 100), at(100));
    for index in 1..=3 {
        let (_, decisions) = run.send(&port("leaf-1", &leaf_port(index), false, 100), at(100));
        assert_eq!(outcomes(&decisions), vec![held(ROOT)]);
    }
    // leaf-2 is not behind spine-1: its own notification.
    let (_, decisions) = run.send(&port("leaf-2", "eth1/7", false, 100), at(100));
    assert!(matches!(
        outcomes(&decisions)[..],
        [Outcome::Grouped { .. }]
    ));
    let first = run.tick(at(110));
    assert_eq!(first.len(), 2);
    let spine = first
        .iter()
        .find(|n| n.labels["device"] == "spine-1")
        .unwrap();
    assert_eq!(spine.root_causes[0].holding, 3);
    // The far end of the failed link comes later: the root's next update, in its thread.
    let (_, decisions) = run.send(&port("leaf-1", "eth1/49", false, 130), at(130));
    assert_eq!(outcomes(&decisions), vec![held(ROOT)]);
    assert!(run.tick(at(169)).is_empty(), "group_interval 1m");
    let update = run.tick(at(170));
    assert_eq!(update.len(), 1);
    let update = &update[0];
    assert_eq!(
        (update.number, update.reason),
        (2, NotificationReason::Update)
    );
    assert_eq!(update.group, spine.group);
    let cause = &update.root_causes[0];
    assert_eq!(cause.holding, 4);
    let new: Vec<&str> = cause
        .held
        .iter()
        .filter(|line| line.state == LineState::New)
        .map(|line| line.key.as_str())
        .collect();
    assert_eq!(new, vec!["leaf-1:sys/phys-[eth1/49]/phys"]);
}

#[test]
fn when_the_root_clears_what_it_held_and_is_still_raised_is_notified_on_its_own() {
    let mut run = run_with_adjacencies();
    run.send(&port("spine-1", "eth1/1", false, 100), at(100));
    let mut seqs = Vec::new();
    for index in 1..=5 {
        seqs.push(
            run.send(&port("leaf-1", &leaf_port(index), false, 100), at(100))
                .0,
        );
    }
    assert_eq!(run.tick(at(110)).len(), 1);
    // Two held ports come back while held: nothing said then.
    for index in 1..=2 {
        let (_, decisions) = run.send(&port("leaf-1", &leaf_port(index), true, 200), at(200));
        // The clear matches no route (info severity): nothing grouped.
        assert!(
            outcomes(&decisions)
                .iter()
                .all(|outcome| matches!(outcome, Outcome::NotNotified { .. }))
        );
    }
    assert!(run.tick(at(260)).is_empty());
    let (_, decisions) = run.send(&port("spine-1", "eth1/1", true, 300), at(300));
    assert!(matches!(
        outcomes(&decisions)[..],
        [Outcome::Grouped { .. }]
    ));
    let released: Vec<u64> = run
        .decisions
        .iter()
        .filter(|(seq, decision)| {
            seqs[2..].contains(seq) && matches!(decision.outcome, Outcome::Grouped { .. })
        })
        .map(|(seq, _)| *seq)
        .collect();
    assert_eq!(
        released,
        seqs[2..].to_vec(),
        "released into their own route"
    );
    let mut notifications: Vec<Notification> = Vec::new();
    for second in 300..=400 {
        notifications.extend(run.tick(at(second)));
    }
    assert_eq!(notifications.len(), 2, "{notifications:#?}");
    let spine = notifications
        .iter()
        .find(|n| n.labels["device"] == "spine-1")
        .unwrap();
    assert!(spine.all_cleared);
    let cause = &spine.root_causes[0];
    assert!(cause.cleared);
    assert_eq!(cause.released.len(), 3);
    assert_eq!(cause.held_cleared, 2);
    let leaf = notifications
        .iter()
        .find(|n| n.labels["device"] == "leaf-1")
        .unwrap();
    assert_eq!(leaf.number, 1);
    assert_eq!(leaf.counts.new.total(), 3);
    assert_eq!(leaf.members, seqs[2..].to_vec());
    assert!(run.engine.holds().is_empty());
    assert!(
        !run.rows
            .keys()
            .any(|key| key.starts_with("held/") || key.starts_with("hold/"))
    );
}

#[test]
fn a_group_whose_raised_alarms_are_all_acknowledged_makes_no_reminder() {
    for acknowledge in [false, true] {
        let mut run = run_with_adjacencies();
        run.send(&port("leaf-2", "eth1/7", false, 0), at(0));
        run.send(&port("leaf-2", "eth1/8", false, 0), at(0));
        assert_eq!(run.tick(at(10)).len(), 1);
        if acknowledge {
            for port in ["eth1/7", "eth1/8"] {
                // The operator event's `data` exactly as `Operator::acknowledge` writes it.
                let action = crate::operator::AlarmAction {
                    key: format!("leaf-2:sys/phys-[{port}]/phys"),
                    by: "alice@example.com".to_owned(),
                    note: "on it".to_owned(),
                    via: crate::operator::Via::Webex {
                        sink: "noc-room".to_owned(),
                        room: "Y2lzY29zcGFyazovL3VzL1JPT00vbm9j".to_owned(),
                        message: None,
                    },
                };
                let data = serde_json::to_value(action).unwrap();
                run.send(&operator(operator_types::ALARM_ACKNOWLEDGED, data), at(20));
            }
        }
        let reminders = run.tick(at(10 + 30 * 60));
        if acknowledge {
            assert!(reminders.is_empty(), "{reminders:#?}");
        } else {
            assert_eq!(reminders.len(), 1);
            assert_eq!(reminders[0].reason, NotificationReason::Repeat);
        }
    }
}

#[test]
fn an_acknowledgement_ends_with_a_new_raise() {
    let mut run = run_with_adjacencies();
    run.send(&port("leaf-2", "eth1/7", false, 0), at(0));
    assert_eq!(run.tick(at(10)).len(), 1);
    let data = serde_json::json!({"key": "leaf-2:sys/phys-[eth1/7]/phys", "by": "alice"});
    run.send(&operator(operator_types::ALARM_ACKNOWLEDGED, data), at(20));
    run.send(&port("leaf-2", "eth1/8", false, 30), at(30));
    // eth1/8 is new and unacknowledged: its update, then reminders again.
    assert_eq!(run.tick(at(70)).len(), 1);
    assert_eq!(run.tick(at(70 + 30 * 60)).len(), 1);
}

/// The storm, a late held alarm, clears while held, the root's clear: at every step a restart
/// from the persisted rows, the same notifications and decisions.
fn scenario() -> Vec<(i64, Option<Step>)> {
    let mut steps: Vec<(i64, Option<Step>)> =
        adjacencies().into_iter().map(|s| (0, Some(s))).collect();
    for index in 1..=4 {
        steps.push((100, Some(port("leaf-1", &leaf_port(index), false, 100))));
    }
    steps.push((101, Some(port("spine-1", "eth1/1", false, 101))));
    steps.push((101, Some(lldp("spine-1", "eth1/1", "", "", false))));
    steps.push((110, None));
    steps.push((111, None));
    steps.push((130, Some(port("leaf-1", "eth1/49", false, 130))));
    steps.push((171, None));
    steps.push((200, Some(port("leaf-1", &leaf_port(1), true, 200))));
    steps.push((300, Some(port("spine-1", "eth1/1", true, 300))));
    steps.push((310, None));
    steps.push((400, None));
    steps.push((2400, None));
    steps
}

fn play(
    steps: &[(i64, Option<Step>)],
    restart_at: Option<usize>,
) -> (Vec<Notification>, Vec<(u64, Decision)>) {
    let mut run = Run::new(policy(POLICY));
    for (index, (time, step)) in steps.iter().enumerate() {
        if Some(index) == restart_at {
            run.restart();
        }
        match step {
            Some(step) => {
                run.send(step, at(*time));
            }
            None => {
                run.tick(at(*time));
            }
        }
    }
    (run.notifications, run.decisions)
}

#[test]
fn a_restart_at_every_step_of_a_hold_changes_nothing() {
    let steps = scenario();
    let (notifications, decisions) = play(&steps, None);
    assert!(notifications.iter().any(|n| !n.root_causes.is_empty()));
    assert!(
        notifications
            .iter()
            .any(|n| n.root_causes.iter().any(|c| c.cleared))
    );
    assert!(
        decisions
            .iter()
            .any(|(_, d)| matches!(d.outcome, Outcome::Held { .. }))
    );
    for restart in 0..steps.len() {
        let (again, decided) = play(&steps, Some(restart));
        assert_eq!(again, notifications, "restart before step {restart}");
        assert_eq!(decided, decisions, "restart before step {restart}");
    }
}

#[test]
fn the_topology_view_shows_the_graph_the_failure_and_the_hold_from_the_state_rows() {
    let mut run = run_with_adjacencies();
    run.send(&port("spine-1", "eth1/1", false, 100), at(100));
    run.send(&lldp("spine-1", "eth1/1", "", "", false), at(100));
    run.send(&port("leaf-1", "eth1/3", false, 100), at(100));
    let rows: Vec<(String, String)> = run.rows.clone().into_iter().collect();
    let view = super::topology_view(run.policy.topology().unwrap(), &rows);
    assert_eq!(view.roots, vec!["spine-1", "spine-2"]);
    assert!(!view.roots_inferred);
    let node = |name: &str| view.nodes.iter().find(|n| n.device == name).unwrap();
    assert!(node("spine-1").is_root && node("spine-1").reachable);
    assert!(!node("leaf-1").reachable);
    assert!(node("leaf-2").reachable);
    assert_eq!(node("leaf-1").alarms, vec!["leaf-1:sys/phys-[eth1/3]/phys"]);
    let edge = view.edges.iter().find(|e| e.b == "spine-1").unwrap();
    assert_eq!(
        (edge.a.as_str(), edge.a_port.as_str(), edge.b_port.as_str()),
        ("leaf-1", "eth1/49", "eth1/1")
    );
    assert_eq!(edge.alarms, vec![ROOT]);
    assert_eq!(view.holds.len(), 1);
    assert_eq!(view.holds[0].root, ROOT);
    assert_eq!(view.holds[0].summary, "eth1/1 link down");
    assert_eq!(view.holds[0].held, vec!["leaf-1:sys/phys-[eth1/3]/phys"]);
}

#[test]
fn route_test_replays_a_file_in_order_and_shows_held_with_its_root() {
    let mut events: Vec<Event> = adjacencies().into_iter().map(|(event, _)| event).collect();
    events.push(port("spine-1", "eth1/1", false, 100).0);
    events.push(port("leaf-1", "eth1/5", false, 100).0);
    let decided = super::replay(&policy(POLICY), &events, at(100));
    assert!(matches!(
        outcomes(&decided[4])[..],
        [Outcome::Grouped { .. }]
    ));
    assert_eq!(outcomes(&decided[5]), vec![held(ROOT)]);
}

/// 600 port alarms on 20 leaves, one of whose uplinks failed: only that leaf's 30 are held.
#[test]
fn in_a_storm_of_600_only_the_alarms_behind_the_failure_are_held() {
    let mut run = Run::new(policy(POLICY));
    for leaf in 0..20 {
        let name = format!("leaf-{leaf}");
        let far = format!("Ethernet1/{leaf}");
        run.send(
            &lldp(
                "spine-1",
                &format!("eth1/{leaf}"),
                &name,
                "Ethernet1/49",
                true,
            ),
            at(0),
        );
        run.send(&lldp(&name, "eth1/49", "spine-1", &far, true), at(0));
    }
    run.send(&port("spine-1", "eth1/0", false, 100), at(100));
    for leaf in 0..20 {
        for index in 1..=30 {
            let event = port(&format!("leaf-{leaf}"), &leaf_port(index), false, 100);
            run.send(&event, at(100));
        }
    }
    let notifications = run.tick(at(200));
    assert_eq!(notifications.len(), 20, "the spine's and 19 leaves' own");
    let spine = notifications
        .iter()
        .find(|n| n.labels["device"] == "spine-1")
        .unwrap();
    assert_eq!(spine.root_causes[0].holding, 30);
    assert!(
        spine.root_causes[0]
            .held
            .iter()
            .all(|line| line.device == "leaf-0")
    );
    assert!(!notifications.iter().any(|n| n.labels["device"] == "leaf-0"));
}

#[test]
fn a_root_raised_again_before_its_last_report_loses_nothing_it_holds_anew() {
    let mut run = run_with_adjacencies();
    run.send(&port("spine-1", "eth1/1", false, 100), at(100));
    run.send(&port("leaf-1", "eth1/1", false, 100), at(100));
    assert_eq!(run.tick(at(110)).len(), 1);
    // Cleared, and down again before the group's next flush.
    run.send(&port("spine-1", "eth1/1", true, 120), at(120));
    run.send(&port("spine-1", "eth1/1", false, 125), at(125));
    let (_, decisions) = run.send(&port("leaf-1", "eth1/2", false, 126), at(126));
    assert_eq!(outcomes(&decisions), vec![held(ROOT)]);
    for second in 126..=400 {
        run.tick(at(second));
    }
    // eth1/1, released at the clear, was not notified yet when the root went down again: its
    // group's flush held it again, with eth1/2.
    assert_eq!(
        run.engine.holds().get(ROOT).cloned().unwrap_or_default(),
        vec![
            "leaf-1:sys/phys-[eth1/1]/phys".to_owned(),
            "leaf-1:sys/phys-[eth1/2]/phys".to_owned()
        ]
    );
}
