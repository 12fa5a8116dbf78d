//! The routing tree as `netpulse route test` shows it: nesting, `continue`, inheritance, ids,
//! the explanation, and the configuration errors with their places.

use std::time::Duration;

use super::engine::Policy;
use super::testkit::{Run, at, config, edge_alarm, info, policy};
use crate::event::Severity;

const TREE: &str = "routes:
  - name: sdwan
    match: { source: [vmanage] }
    sinks: [noc]
    group_wait: 30s
    routes:
      - match: { min_severity: critical }
        group_by: [device]
        sinks: [ops]
        continue: true
      - match: { type_prefix: [com.cisco.sdwan.alarm.] }
        repeat_interval: 0s
  - match: { source: [catc] }
    sinks: [ops]
    notify_clears: false
";

const INTERFACE: &str = "rest-alarm-interface-state-change-active-20.x.json";
const BFD: &str = "rest-alarm-bfd-tloc-down-active-20.x.json";

fn routes_of(policy: &Policy, event: &crate::event::Event) -> Vec<String> {
    policy
        .tree()
        .resolve(event)
        .into_iter()
        .map(|matched| matched.route)
        .collect()
}

#[test]
fn continue_nesting_and_inheritance_decide_the_routes_and_their_settings() {
    let policy = policy(TREE);
    let (critical, _) = edge_alarm(INTERFACE, "Edge5", "u1", true);
    let matched = policy.tree().resolve(&critical);
    let ids: Vec<&str> = matched.iter().map(|m| m.route.as_str()).collect();
    assert_eq!(
        ids,
        ["route-1.1", "route-1.2"],
        "continue: the next sibling too"
    );
    let first = &matched[0].settings;
    assert_eq!(first.sinks, ["ops"]);
    assert_eq!(first.group_by, ["device"]);
    assert_eq!(
        first.group_wait,
        Duration::from_secs(30),
        "inherited from sdwan"
    );
    assert_eq!(
        first.group_interval,
        Duration::from_secs(300),
        "the root's default"
    );
    let second = &matched[1].settings;
    assert_eq!(second.sinks, ["noc"], "inherited from sdwan");
    assert_eq!(second.group_by, ["source"], "the root's default");
    assert_eq!(second.repeat_interval, Duration::ZERO);
    let (group_sink, group) = &matched[0].groups[0];
    assert_eq!(group_sink, "ops");
    assert!(group.id.starts_with("route-1.1/ops/"), "{}", group.id);
    assert_eq!(group.labels["device"], "Edge5");

    let (major, _) = edge_alarm(BFD, "Edge2", "u2", true);
    assert_eq!(routes_of(&policy, &major), ["route-1.2"]);
    let information = info("Edge2", Severity::Info);
    assert_eq!(
        routes_of(&policy, &information),
        ["sdwan"],
        "children all miss: the parent"
    );
    let mut other = info("Edge2", Severity::Critical);
    other.source = "/netpulse/catc".to_owned();
    let matched = policy.tree().resolve(&other);
    assert_eq!(matched[0].route, "route-2");
    assert!(!matched[0].settings.notify_clears);
    other.source = "/netpulse/meraki".to_owned();
    assert!(policy.tree().resolve(&other).is_empty(), "matched no route");
    assert_eq!(policy.routed_sinks(), ["noc", "ops"]);
    assert!(!policy.is_empty());
}

#[test]
fn explain_says_which_routes_matched_why_not_and_where_the_event_goes() {
    let policy = policy(TREE);
    let (critical, _) = edge_alarm(INTERFACE, "Edge5", "u1", true);
    let lines = policy.explain(&critical);
    assert_eq!(lines[0], "sdwan: matched");
    assert!(
        lines[1].starts_with("  route-1.1: matched; continue"),
        "{lines:#?}"
    );
    assert!(
        lines[2].starts_with("    => route-1.1 notifies sink ops in group route-1.1/ops/"),
        "{lines:#?}"
    );
    assert!(lines[2].ends_with("(device=\"Edge5\")"), "{lines:#?}");
    assert_eq!(lines[3], "  route-1.2: matched");
    assert!(
        lines[4].starts_with("    => route-1.2 notifies sink noc"),
        "{lines:#?}"
    );
    assert_eq!(
        lines.len(),
        5,
        "sdwan does not continue: route-2 is not tried\n{lines:#?}"
    );

    let (major, _) = edge_alarm(BFD, "Edge2", "u2", true);
    let lines = policy.explain(&major);
    assert!(
        lines[1].starts_with("  route-1.1: no match: "),
        "{lines:#?}"
    );

    let mut other = info("Edge2", Severity::Info);
    other.source = "/netpulse/meraki".to_owned();
    let lines = policy.explain(&other);
    assert!(lines[0].starts_with("sdwan: no match: "), "{lines:#?}");
    assert!(lines[1].starts_with("route-2: no match: "), "{lines:#?}");
    assert_eq!(lines[2], "matched no route: no notification");
}

#[test]
fn an_event_in_two_routes_is_grouped_in_each() {
    let mut run = Run::new(policy(TREE));
    let (_, decisions) = run.send(&edge_alarm(INTERFACE, "Edge5", "u1", true), at(0));
    let routes: Vec<(&str, &str)> = decisions
        .iter()
        .map(|d| (d.route.as_str(), d.sink.as_str()))
        .collect();
    assert_eq!(routes, [("route-1.1", "ops"), ("route-1.2", "noc")]);
    let notifications = run.tick(at(30));
    assert_eq!(
        notifications.len(),
        2,
        "one per group, after the inherited group_wait"
    );
}

fn errors(tail: &str, edit: impl FnOnce(&mut crate::config::Config)) -> Vec<String> {
    let mut config = config(tail);
    edit(&mut config);
    Policy::compile(&config).expect_err("an invalid policy")
}

#[test]
fn the_policy_errors_say_where_they_are() {
    let found = errors("", |config| {
        config.routes = serde_json::from_value(serde_json::json!([
            {"match": {"source": ["vmanage"]}, "group_by": ["host"], "routes": [
                {"sinks": ["noc"], "mute_time_intervals": ["weekends"]},
                {"match": {"source": ["catc"]}}
            ]},
            {"sinks": ["pager"], "active_time_intervals": ["office"]}
        ]))
        .unwrap();
        config.inhibit_rules = serde_json::from_value(serde_json::json!([
            {"source": {}, "target": {}, "equal": ["hostname"]}
        ]))
        .unwrap();
    });
    let expected = [
        "routes[0].group_by: unknown attribute \"host\"",
        "routes[0].routes[0].group_by: unknown attribute \"host\"",
        "routes[0].routes[1].group_by: unknown attribute \"host\"",
        "routes[0].routes[1]: no sinks on this route nor on any route above it",
        "routes[0].routes[0].mute_time_intervals: no time interval named \"weekends\"",
        "routes[1].sinks: no sink named \"pager\"",
        "routes[1].active_time_intervals: no time interval named \"office\"",
        "inhibit_rules[0].equal: unknown attribute \"hostname\"",
    ];
    for error in expected {
        assert!(
            found.iter().any(|found| found == error),
            "{error:?} not in {found:#?}"
        );
    }
}

#[test]
fn a_route_names_time_intervals_by_their_configured_name() {
    let tail = "time_intervals:
  - name: weekends
    time_intervals: [{ weekdays: [saturday, sunday] }]
routes:
  - { sinks: [noc], mute_time_intervals: [weekends] }
";
    let policy = policy(tail);
    assert_eq!(
        policy.route("route-1").unwrap().mute_time_intervals,
        ["weekends"]
    );
    assert!(policy.intervals.contains_key("weekends"));
    let found = errors(tail, |config| {
        config.time_intervals[0].name = "weekend".to_owned()
    });
    assert_eq!(
        found,
        ["routes[0].mute_time_intervals: no time interval named \"weekends\""]
    );
}

#[test]
fn each_alarm_its_own_group_and_clears_not_notified_when_the_route_says_so() {
    let route = "routes:\n  - { sinks: [noc], group_by: [\"...\"], notify_clears: false }\n";
    let mut run = Run::new(policy(route));
    run.send(&edge_alarm(BFD, "Edge1", "u1", true), at(0));
    run.send(&edge_alarm(BFD, "Edge1", "u2", true), at(0));
    let notifications = run.tick(at(10));
    assert_eq!(notifications.len(), 2, "one group per alarm");
    assert_ne!(notifications[0].group, notifications[1].group);
    assert_eq!(notifications[0].labels["..."], "sdwan:u1");
    let (_, decisions) = run.send(&edge_alarm(BFD, "Edge1", "u1", false), at(20));
    let not_notified = matches!(
        decisions[0].outcome,
        super::engine::Outcome::NotNotified { .. }
    );
    assert!(not_notified, "{decisions:?}");
    assert!(
        run.tick(at(310)).is_empty(),
        "the group ends without a word"
    );
    let groups = run
        .rows
        .keys()
        .filter(|key| key.starts_with("group/"))
        .count();
    assert_eq!(groups, 1, "only u2's group is left: {:?}", run.rows.keys());
}

/// `netpulse route test` takes one event, an array, or an API page; and says when a time
/// interval mutes the route.
#[test]
fn route_test_reads_every_document_shape_and_names_the_muting_interval() {
    let event = serde_json::json!({
        "specversion": "1.0", "id": "0193a1b2-0000-7000-8000-000000000001",
        "source": "/netpulse/vmanage", "type": "com.cisco.sdwan.alarm.raised",
        "time": "2026-12-07T10:00:00Z", "datacontenttype": "application/json", "seq": 12,
        "device": "Edge1", "severity": "major", "alarmstate": "raised", "summary": "BFD down",
        "data": {}
    });
    for document in [
        event.clone(),
        serde_json::json!([event.clone(), event.clone()]),
        serde_json::json!({"events": [event.clone()]}),
    ] {
        let events = crate::route::events_of_document(&document.to_string()).unwrap();
        assert!(!events.is_empty() && events.iter().all(|e| e.device == "Edge1"));
    }
    assert!(crate::route::events_of_document("{\"nope\": 1}").is_err());
    let policy = policy(
        "time_intervals:\n  - { name: always, time_intervals: [{ times: [{ start_time: \"00:00\", end_time: \"24:00\" }] }] }\nroutes:\n  - { name: noc, sinks: [noc], mute_time_intervals: [always] }\n",
    );
    let events = crate::route::events_of_document(&event.to_string()).unwrap();
    let report = policy.test_report(&events[0], "2026-12-07T10:00:00Z".parse().unwrap());
    assert!(
        report
            .iter()
            .any(|line| line.contains("route noc is muted now") && line.contains("always")),
        "{report:?}"
    );
}
