//! Tests of `route::matcher`.

use super::*;
use crate::event::{AlarmState, Severity};
use serde_json::json;

fn event(source: &str, kind: &str, severity: Severity) -> Event {
    let mut event = Event::new(source, kind, jiff::Timestamp::now(), json!({}));
    event.severity = severity;
    event
}

fn sinks() -> Vec<SinkConfig> {
    let stdout = |value| SinkConfig::Stdout(serde_json::from_value(value).unwrap());
    vec![
        stdout(json!({"name": "all"})),
        stdout(json!({
            "name": "noc",
            "match": {"source": ["vmanage"], "type_prefix": ["com.cisco.sdwan."], "min_severity": "major"}
        })),
    ]
}

fn matcher(value: serde_json::Value) -> Matcher {
    Matcher::new(&serde_json::from_value(value).unwrap()).unwrap()
}

fn compile_error(value: serde_json::Value) -> String {
    Matcher::new(&serde_json::from_value(value).unwrap()).unwrap_err()
}

/// The SD-WAN BFD alarm of the fixture `rest-alarm-bfd-tloc-down-active-20.x.json`, as
/// normalized.
fn bfd_alarm() -> Event {
    let mut event = Event::new(
        "vmanage",
        "com.cisco.sdwan.alarm.raised",
        jiff::Timestamp::now(),
        json!({
            "component": "BFD",
            "rulename": "tloc_down",
            "site_id": "2",
            "severity_number": 2,
            "active": true,
            "values": [{"color": "private1", "host-name": "Edge2", "system-ip": "10.0.0.2"}],
        }),
    );
    event.device = "Edge2".to_owned();
    event.severity = Severity::Major;
    event.alarmstate = AlarmState::Raised;
    event.subject = Some("BFD_TLOC_Down/Edge2".to_owned());
    event.objectclass = Some("tloc_down".to_owned());
    event
}

#[test]
fn events_are_routed_by_source_type_prefix_and_severity() {
    let routes = Routes::new(&sinks());
    let major = event("vmanage", "com.cisco.sdwan.alarm.raised", Severity::Major);
    assert_eq!(routes.sinks_for(&major), ["all", "noc"]);
    let critical = event(
        "vmanage",
        "com.cisco.sdwan.alarm.raised",
        Severity::Critical,
    );
    assert_eq!(routes.sinks_for(&critical), ["all", "noc"]);
    let minor = event("vmanage", "com.cisco.sdwan.alarm.raised", Severity::Minor);
    assert_eq!(routes.sinks_for(&minor), ["all"]);
    let other_source = event("leaf1", "com.cisco.sdwan.alarm.raised", Severity::Critical);
    assert_eq!(routes.sinks_for(&other_source), ["all"]);
    let other_type = event("vmanage", "com.cisco.dme.modified", Severity::Critical);
    assert_eq!(routes.sinks_for(&other_type), ["all"]);
}

#[test]
fn a_routed_sink_takes_nothing_through_its_own_match() {
    let routes = Routes::with_routed(&sinks(), &["all".to_owned()]);
    let major = event("vmanage", "com.cisco.sdwan.alarm.raised", Severity::Major);
    assert_eq!(routes.sinks_for(&major), ["noc"]);
}

#[test]
fn a_sink_whose_filter_does_not_compile_takes_nothing() {
    let broken = SinkConfig::Stdout(
        serde_json::from_value(json!({
            "name": "broken",
            "match": {"data": [{"pointer": "/x", "regex": "("}]}
        }))
        .unwrap(),
    );
    let routes = Routes::new(&[broken]);
    assert!(
        routes
            .sinks_for(&event("a", "x", Severity::Critical))
            .is_empty()
    );
}

#[test]
fn any_listed_source_or_prefix_is_enough() {
    let filter = SinkMatch {
        source: vec!["a".to_owned(), "b".to_owned()],
        type_prefix: vec!["x.".to_owned(), "y.".to_owned()],
        min_severity: None,
        ..SinkMatch::default()
    };
    assert!(matches(&filter, &event("b", "y.down", Severity::Info)));
    assert!(!matches(&filter, &event("c", "y.down", Severity::Info)));
    assert!(!matches(&filter, &event("a", "z.down", Severity::Info)));
    assert!(matches(
        &SinkMatch::default(),
        &event("c", "z", Severity::Info)
    ));
}

#[test]
fn every_field_is_applied_and_the_first_that_fails_is_named() {
    let alarm = bfd_alarm();
    let all = json!({
        "source": ["vmanage"],
        "device": ["Edge2", "Edge3"],
        "type": ["com.cisco.sdwan.alarm.raised"],
        "type_prefix": ["com.cisco.sdwan."],
        "min_severity": "major",
        "alarmstate": ["raised"],
        "subject_prefix": ["BFD_"],
        "data": [
            {"pointer": "/component", "equals": "BFD"},
            {"pointer": "/values/0/system-ip", "regex": "10\\.0\\.0\\.[0-9]+"}
        ]
    });
    let full = matcher(all.clone());
    assert!(full.matches(&alarm));
    assert_eq!(full.mismatch(&alarm), None);

    let cases = [
        (
            "source",
            json!(["meraki"]),
            "source \"vmanage\" is not one of [\"meraki\"]",
        ),
        (
            "device",
            json!(["edge-1"]),
            "device \"Edge2\" is not one of [\"edge-1\"]",
        ),
        (
            "type",
            json!(["com.cisco.sdwan.alarm.cleared"]),
            "type \"com.cisco.sdwan.alarm.raised\" is not one of [\"com.cisco.sdwan.alarm.cleared\"]",
        ),
        (
            "type_prefix",
            json!(["com.cisco.dme."]),
            "type \"com.cisco.sdwan.alarm.raised\" does not start with any of [\"com.cisco.dme.\"]",
        ),
        (
            "min_severity",
            json!("critical"),
            "severity major is below critical",
        ),
        (
            "alarmstate",
            json!(["cleared", "info"]),
            "alarmstate raised is not one of [cleared, info]",
        ),
        (
            "subject_prefix",
            json!(["Control_"]),
            "subject \"BFD_TLOC_Down/Edge2\" does not start with any of [\"Control_\"]",
        ),
        (
            "data",
            json!([{"pointer": "/component", "equals": "Control"}]),
            "data /component = \"BFD\" does not equal \"Control\"",
        ),
        (
            "data",
            json!([{"pointer": "/values/0/system-ip", "regex": "10\\.0\\.0"}]),
            "data /values/0/system-ip = \"10.0.0.2\" does not match /10\\.0\\.0/",
        ),
        (
            "data",
            json!([{"pointer": "/siteId", "equals": "2"}]),
            "data /siteId is missing",
        ),
    ];
    for (field, value, expected) in cases {
        let mut changed = all.clone();
        changed[field] = value;
        let matcher = matcher(changed);
        assert!(!matcher.matches(&alarm), "{field}");
        assert_eq!(
            matcher.mismatch(&alarm).as_deref(),
            Some(expected),
            "{field}"
        );
    }
}

#[test]
fn an_event_without_a_subject_fails_a_subject_prefix() {
    let mut alarm = bfd_alarm();
    alarm.subject = None;
    let matcher = matcher(json!({"subject_prefix": ["BFD_"]}));
    assert!(!matcher.matches(&alarm));
    assert!(matcher.mismatch(&alarm).unwrap().contains("no subject"));
}

#[test]
fn regular_expressions_are_anchored_at_both_ends() {
    let alarm = bfd_alarm();
    let regex = |pattern: &str| {
        matcher(json!({"data": [{"pointer": "/values/0/host-name", "regex": pattern}]}))
    };
    assert!(regex("Edge[0-9]").matches(&alarm));
    assert!(
        !regex("Edge").matches(&alarm),
        "a prefix alone is not a match"
    );
    assert!(
        !regex("dge2").matches(&alarm),
        "a suffix alone is not a match"
    );
    // An alternation stays inside the anchors: `a|Edge` must not match `Edge2` by `a`.
    assert!(!regex("E|Edge").matches(&alarm));
    assert!(regex("E.*|x").matches(&alarm));
}

#[test]
fn regular_expressions_see_numbers_and_booleans_as_their_json_text() {
    let alarm = bfd_alarm();
    let regex = |pointer: &str, pattern: &str| {
        matcher(json!({"data": [{"pointer": pointer, "regex": pattern}]})).matches(&alarm)
    };
    assert!(regex("/severity_number", "[12]"));
    assert!(!regex("/severity_number", "[34]"));
    assert!(regex("/active", "true"));
    assert!(regex("/values/0", ".*\"color\":\"private1\".*"));
}

#[test]
fn equals_is_json_equality_and_a_scalar_also_matches_its_other_spelling() {
    let alarm = bfd_alarm();
    let equals = |pointer: &str, value: serde_json::Value| {
        matcher(json!({"data": [{"pointer": pointer, "equals": value}]})).matches(&alarm)
    };
    assert!(equals("/site_id", json!("2")));
    // `site_id` is the string "2": a number 2 written in YAML matches it, and the reverse.
    assert!(equals("/site_id", json!(2)));
    assert!(equals("/severity_number", json!("2")));
    assert!(equals("/active", json!("true")));
    assert!(!equals("/site_id", json!(3)));
    assert!(!equals("/component", json!("bfd")), "equality is exact");
    assert!(equals(
        "/values/0",
        json!({"color": "private1", "host-name": "Edge2", "system-ip": "10.0.0.2"})
    ));
    assert!(!equals("/values/0", json!({"color": "private1"})));
}

#[test]
fn pointers_find_what_serde_json_finds_escapes_and_indices_included() {
    let mut alarm = bfd_alarm();
    alarm.data["a/b"] = json!({"~c": [10, 20]});
    alarm.data["details"] = json!({"Assurance Issue Name": "x", "01": "leading zero"});
    for (pointer, expected) in [
        ("/a~1b/~0c/1", Some(json!(20))),
        ("/a~1b/~0c/01", None),
        ("/a~1b/~0c/+1", None),
        ("/a~1b/~0c/2", None),
        ("/details/Assurance Issue Name", Some(json!("x"))),
        ("/details/01", Some(json!("leading zero"))),
        ("/values/0/color", Some(json!("private1"))),
        ("/component/0", None),
    ] {
        assert_eq!(
            lookup(&alarm.data, &Token::parse(pointer)),
            alarm.data.pointer(pointer),
            "{pointer}"
        );
        assert_eq!(
            lookup(&alarm.data, &Token::parse(pointer)).cloned(),
            expected,
            "{pointer}"
        );
    }
}

#[test]
fn compile_errors_name_the_condition_and_the_problem() {
    let error = compile_error(json!({"data": [{"pointer": "/a", "regex": "(unclosed"}]}));
    assert!(
        error.starts_with("data[0]: the regular expression \"(unclosed\""),
        "{error}"
    );
    let error = compile_error(json!({"data": [{"pointer": "a", "equals": 1}]}));
    assert!(error.contains("must start with '/'"), "{error}");
    let error = compile_error(json!({"data": [{"pointer": "/a", "equals": 1, "regex": "1"}]}));
    assert!(error.contains("not both"), "{error}");
    let error = compile_error(json!({"data": [{"pointer": "/a"}, {"pointer": "/b"}]}));
    assert_eq!(
        error,
        "data[0]: set equals or regex; data[1]: set equals or regex"
    );
}

#[test]
fn attributes_are_checked_by_name() {
    assert!(check_attribute("device", false).is_ok());
    assert!(check_attribute("/site_id", false).is_ok());
    assert!(check_attribute("...", true).is_ok());
    assert!(check_attribute("...", false).is_err());
    let error = check_attribute("host", true).unwrap_err();
    assert!(error.contains("unknown attribute \"host\""), "{error}");
}
