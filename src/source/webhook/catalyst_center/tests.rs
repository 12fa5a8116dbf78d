use serde_json::json;

use super::*;
use crate::source::webhook::testing;

/// The provider's normalizer on a body, as a receiver with `auth: none` runs it.
fn normalize(source_name: &str, body: &[u8]) -> Result<Normalized, Invalid> {
    testing::normalize_unsigned(source_name, body, |source, request| {
        super::normalize(source, request, None)
    })
}

fn read_fixture(file: &str) -> Vec<u8> {
    testing::fixture("catalyst-center", file)
}

fn read_document(file: &str) -> Value {
    testing::fixture_json("catalyst-center", file)
}

fn normalize_value(document: &Value) -> Normalized {
    normalize("catc1", &serde_json::to_vec(document).unwrap()).expect("a notification")
}

fn updates(normalized: &Normalized) -> Vec<(String, bool)> {
    testing::alarm_pairs(&normalized.alarms)
}

#[test]
fn an_issue_and_its_resolution_share_the_alarm_key() {
    let active_document = read_document("dnac-2019-interface-down-p1-active.json");
    let mut resolved_document = active_document.clone();
    // What the sender posts when the same issue is resolved (cf. the resolved sample).
    resolved_document["details"]["Assurance Issue Status"] = json!("Resolved");
    resolved_document["namespace"] = json!("");
    resolved_document["source"] = json!("Cisco DNA Assurance");
    resolved_document["timestamp"] = json!(1574458000000_i64);
    let active = normalize_value(&active_document);
    let resolved = normalize_value(&resolved_document);
    let key = "catc:ea6e28c5-b7f2-43a4-9937-def73771c5ef".to_owned();
    assert_eq!(updates(&active), vec![(key.clone(), true)]);
    assert_eq!(updates(&resolved), vec![(key, false)]);
    assert_eq!(resolved.event.kind, CLEARED_EVENT_TYPE);
    assert_eq!(resolved.event.alarmstate, AlarmState::Cleared);
    assert_ne!(
        active.idempotency_key, resolved.idempotency_key,
        "the resolution is not a redelivery of the activation"
    );

    // The resolved sample keys its own issue the same way.
    let sample = normalize(
        "c",
        &read_fixture("dnac-2019-interface-down-p1-resolved.json"),
    )
    .unwrap();
    assert_eq!(
        updates(&sample),
        vec![(
            "catc:4292b3bc-a8a7-4a2e-8349-ddfae1ea8b9e".to_owned(),
            false
        )]
    );
}

#[test]
fn other_statuses_are_information_without_alarm_updates() {
    let mut document = read_document("catc-2024-bgp-down-p1-active.json");
    for status in [json!("ignore"), json!(""), Value::Null, json!(3)] {
        document["details"]["Assurance Issue Status"] = status.clone();
        let normalized = normalize_value(&document);
        assert_eq!(normalized.event.kind, EVENT_TYPE, "{status}");
        assert_eq!(normalized.event.alarmstate, AlarmState::Info, "{status}");
        assert!(normalized.alarms.is_empty(), "{status}");
        assert_eq!(
            normalized.event.severity,
            Severity::Critical,
            "P1 still ranks it"
        );
    }
}

#[test]
fn the_idempotency_key_falls_back_to_instance_status_and_time() {
    let mut document = read_document("catc-2024-bgp-down-p1-active.json");
    let first = normalize_value(&document).idempotency_key;
    assert_eq!(first, normalize_value(&document).idempotency_key);
    for empty in [json!(""), Value::Null] {
        document["efInstanceId"] = empty;
        assert_eq!(
            normalize_value(&document).idempotency_key.as_deref(),
            Some("catc:7fd7fb19-f382-4a8b-95c4-78959d43c9a7:active:1715185019597")
        );
    }
}

#[test]
fn severity_comes_from_the_priority_then_the_number() {
    let base = read_document("dnac-2019-interface-down-p1-active.json");
    let with = |priority: Value, severity: Value, status: &str| {
        let mut document = base.clone();
        document["details"]["Assurance Issue Priority"] = priority;
        document["details"]["Assurance Issue Status"] = json!(status);
        document["severity"] = severity;
        normalize_value(&document).event.severity
    };
    use Severity::*;
    assert_eq!(
        with(json!("P1"), json!(4), "active"),
        Critical,
        "the priority wins"
    );
    assert_eq!(with(json!("p2"), json!(1), "active"), Major);
    assert_eq!(with(json!("P3"), Value::Null, "active"), Minor);
    assert_eq!(with(json!("P4"), Value::Null, "active"), Warning);
    assert_eq!(with(json!("P9"), json!(1), "active"), Critical);
    assert_eq!(with(Value::Null, json!(2), "active"), Major);
    assert_eq!(with(Value::Null, json!("3"), "active"), Minor);
    assert_eq!(with(Value::Null, json!(4), "active"), Warning);
    assert_eq!(with(Value::Null, json!(5), "active"), Info);
    assert_eq!(
        with(Value::Null, json!(9), "active"),
        Warning,
        "an issue is not info"
    );
    assert_eq!(with(Value::Null, Value::Null, "resolved"), Warning);
    assert_eq!(with(Value::Null, Value::Null, "other"), Info);
}

#[test]
fn device_and_summary_fall_back() {
    let mut document = read_document("catc-2024-bgp-down-p1-active.json");
    document["details"]["Device"] = Value::Null;
    document["details"]["Assurance Issue Name"] = json!("");
    document["description"] = json!("BGP down");
    let normalized = normalize_value(&document);
    assert_eq!(
        normalized.event.device, "01f7cdf2-2298-42c7-bb74-dc68e3c3a051",
        "network.deviceId"
    );
    assert_eq!(
        normalized.event.summary,
        "BGP down on 01f7cdf2-2298-42c7-bb74-dc68e3c3a051"
    );

    document["details"] = Value::Null;
    document["network"] = json!("not an object");
    document["description"] = Value::Null;
    let normalized = normalize_value(&document);
    assert_eq!(normalized.event.device, "catalyst-center");
    assert_eq!(
        normalized.event.summary,
        "NETWORK-NETWORKS-2-272 on catalyst-center"
    );
    assert_eq!(normalized.event.kind, EVENT_TYPE);
    assert_eq!(normalized.event.subject, None);
    assert_eq!(
        normalized.event.severity,
        Severity::Critical,
        "numeric severity 1"
    );
}

#[test]
fn event_links_in_all_documented_forms() {
    let issue = "dna/assurance/issueDetails?issueId=ea6e28c5-b7f2-43a4-9937-def73771c5ef";
    let absolute = format!("https://10.93.141.35/{issue}");
    let expected = format!("https://dnac.example.com/{issue}");
    // Absolute: as is, with or without a base.
    assert_eq!(event_link(&absolute, None), Some(absolute.clone()));
    assert_eq!(
        event_link(&absolute, Some("https://dnac.example.com")),
        Some(absolute.clone())
    );
    // Relative: joined to the base, with exactly one slash.
    assert_eq!(event_link(issue, None), None);
    assert_eq!(
        event_link(issue, Some("https://dnac.example.com")),
        Some(expected.clone())
    );
    assert_eq!(
        event_link(&format!("/{issue}"), Some("https://dnac.example.com/")),
        Some(expected.clone())
    );
    // HTML-escaped placeholder host: unescaped and replaced by the base.
    let placeholder = format!("https://&lt;DNAC_IP_ADDRESS&gt;/{issue}");
    assert_eq!(event_link(&placeholder, None), None);
    assert_eq!(
        event_link(&placeholder, Some("https://dnac.example.com")),
        Some(expected.clone())
    );
    assert_eq!(
        event_link(
            &format!("https://<ip-address>/{issue}"),
            Some("https://dnac.example.com")
        ),
        Some(expected.clone())
    );
    // Entities elsewhere are unescaped too.
    assert_eq!(
        event_link("https://dnac/x?a=1&amp;b=2", None).as_deref(),
        Some("https://dnac/x?a=1&b=2")
    );
    // No link from nothing, from whitespace inside, or with a base that is not absolute.
    assert_eq!(event_link("", Some("https://dnac.example.com")), None);
    assert_eq!(event_link("https://dnac/a b", None), None);
    assert_eq!(event_link(issue, Some("dnac.example.com")), None);
    assert_eq!(event_link(issue, Some("https://")), None);

    // normalize keeps only what is absolute without a base.
    let mut document = read_document("dnac-2019-interface-down-p1-active.json");
    document["ciscoDnaEventLink"] = json!(issue);
    assert_eq!(normalize_value(&document).event.link, None);
    document["ciscoDnaEventLink"] = json!(placeholder);
    assert_eq!(normalize_value(&document).event.link, None);
    document["ciscoDnaEventLink"] = Value::Null;
    assert_eq!(normalize_value(&document).event.link, None);
}

#[test]
fn bad_input_is_malformed_or_unrecognized() {
    for body in testing::not_json(b"{\"instanceId\": ") {
        testing::refusal(normalize("c", body), "malformed", body);
    }
    let cases: &[(&[u8], &str)] = &[
        (b"[]", "JSON array, expected an object"),
        (b"\"x\"", "JSON string, expected an object"),
        (b"true", "JSON boolean, expected an object"),
        (b"{}", "missing or empty field `instanceId`"),
        (br#"{"instanceId": "i", "timestamp": 1}"#, "missing or empty field `eventId`"),
        (br#"{"instanceId": "i", "eventId": "E"}"#, "missing field `timestamp`"),
        (br#"{"instanceId": "i", "eventId": "E", "timestamp": "soon"}"#, "missing field `timestamp`"),
        (
            br#"{"instanceId": "i", "eventId": "E", "timestamp": 9000000000000000}"#,
            "out of range",
        ),
        // A Meraki alert posted to the Catalyst Center URL.
        (
            br#"{"alertId": "0", "alertTypeId": "x", "occurredAt": "2021-10-01T09:27:29Z", "networkId": "N"}"#,
            "`instanceId`",
        ),
    ];
    for (body, reason) in cases {
        let error = testing::refusal(normalize("c", body), "unrecognized", body);
        assert!(error.reason.contains(reason), "{error} lacks {reason:?}");
        assert!(
            error
                .reason
                .starts_with("not a Catalyst Center notification: "),
            "{error}"
        );
    }
    // Numbers where strings are documented are read leniently.
    let normalized = normalize(
        "c",
        br#"{"instanceId": 7, "eventId": "E", "timestamp": "1000"}"#,
    )
    .unwrap();
    assert_eq!(normalized.alarms, vec![]);
    assert_eq!(normalized.idempotency_key.as_deref(), Some("catc:7::1000"));
    assert_eq!(normalized.event.time.as_millisecond(), 1000);
}

#[test]
fn fields_with_spaces_parse_and_plain_strings_borrow() {
    let document = read_document("dnac-2019-interface-flapping-p3-warn-nulls.json");
    let notification = Notification::deserialize(&document).unwrap();
    let details = notification.details.as_ref().unwrap();
    assert!(matches!(details.priority, Some(Cow::Borrowed("P3"))));
    assert_eq!(notification.status(), IssueStatus::Active);
    assert_eq!(notification.name, None, "null reads as absent");
    assert_eq!(notification.severity, Some(3));
}
