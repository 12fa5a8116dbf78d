use serde_json::json;

use super::*;
use crate::source::webhook::testing;

/// The provider's normalizer on a body, as a receiver with `auth: none` runs it.
fn normalize(source_name: &str, body: &[u8]) -> Result<Normalized, Invalid> {
    testing::normalize_unsigned(source_name, body, super::normalize)
}

fn fixture_value(file: &str) -> Value {
    testing::fixture_json("thousandeyes", file)
}

fn run(document: &Value) -> Result<Normalized, Invalid> {
    normalize("te1", &serde_json::to_vec(document).unwrap())
}

use testing::alarm_updates as updates;

#[test]
fn a_trigger_and_its_clear_share_the_alarm_key() {
    let trigger_document = fixture_value("classic-http-server-trigger-2021.json");
    let mut clear_document = trigger_document.clone();
    clear_document["eventType"] = json!("ALERT_NOTIFICATION_CLEAR");
    clear_document["eventId"] = json!("205646497-76947300");
    clear_document["alert"]["active"] = json!(2);
    clear_document["alert"]["dateEnd"] = json!("2021-05-02 10:20:20");
    let trigger = run(&trigger_document).unwrap();
    let clear = run(&clear_document).unwrap();
    assert_eq!(trigger.alarms, updates(&[("te:76947300", true)]));
    assert_eq!(clear.alarms, updates(&[("te:76947300", false)]));
    assert_eq!(clear.event.kind, CLEARED_EVENT_TYPE);
    assert_eq!(clear.event.alarmstate, AlarmState::Cleared);
    assert_eq!(
        clear.event.severity,
        Severity::Major,
        "the trigger's level carries over"
    );
    assert_eq!(
        clear.event.time.to_string(),
        "2021-05-02T10:20:20Z",
        "timed by dateEnd"
    );
    assert_ne!(trigger.idempotency_key, clear.idempotency_key);

    // The same with a UUID alertId (2025 platform): build the trigger from the real clear.
    let clear_document =
        fixture_value("classic-http-server-clear-active0-string-alertid-2025.json");
    let mut trigger_document = clear_document.clone();
    trigger_document["eventType"] = json!("ALERT_NOTIFICATION_TRIGGER");
    trigger_document["alert"]["active"] = json!(1);
    let trigger = run(&trigger_document).unwrap();
    let clear = run(&clear_document).unwrap();
    assert_eq!(trigger.alarms[0].key, clear.alarms[0].key);
    assert_eq!(
        (trigger.alarms[0].raised, clear.alarms[0].raised),
        (true, false)
    );
    assert_eq!(
        trigger.event.time.to_string(),
        "2025-03-17T19:43:00Z",
        "timed by dateStartZoned"
    );
}

#[test]
fn integer_and_string_alert_ids_are_both_keys() {
    let mut document = fixture_value("classic-http-server-trigger-2021.json");
    for (alert_id, key) in [
        (json!(76947300), "te:76947300"),
        (json!("76947300"), "te:76947300"),
        (
            json!("5abda706-c065-40fa-aa8c-059c3ac1ea9d"),
            "te:5abda706-c065-40fa-aa8c-059c3ac1ea9d",
        ),
        (json!(-5), "te:-5"),
    ] {
        document["alert"]["alertId"] = alert_id.clone();
        let normalized = run(&document).unwrap();
        assert_eq!(normalized.alarms, updates(&[(key, true)]), "{alert_id}");
    }
    for bad in [json!(1.5), json!(true), json!({"id": 1}), json!([1])] {
        document["alert"]["alertId"] = bad.clone();
        let error = run(&document).unwrap_err();
        assert_eq!(error.kind, "unrecognized", "{bad}");
        assert!(error.reason.contains("`alertId`"), "{error}");
    }
    for missing in [json!(null), json!(""), json!("  ")] {
        document["alert"]["alertId"] = missing;
        let error = run(&document).unwrap_err();
        assert!(
            error.reason.contains("missing field `alert.alertId`"),
            "{error}"
        );
    }
}

#[test]
fn without_event_type_active_decides_and_0_and_2_both_clear() {
    let mut document = fixture_value("classic-http-server-trigger-2021.json");
    document.as_object_mut().unwrap().remove("eventType");
    document.as_object_mut().unwrap().remove("eventId");
    for (active, state, raised) in [
        (json!(1), AlarmState::Raised, true),
        (json!(0), AlarmState::Cleared, false),
        (json!(2), AlarmState::Cleared, false),
    ] {
        document["alert"]["active"] = active.clone();
        let normalized = run(&document).unwrap();
        assert_eq!(normalized.event.alarmstate, state, "{active}");
        assert_eq!(
            normalized.alarms,
            updates(&[("te:76947300", raised)]),
            "{active}"
        );
        // No eventId: the fallback key.
        let event_type = if raised { TRIGGER } else { CLEAR };
        assert_eq!(
            normalized.idempotency_key,
            Some(format!("te:76947300:{event_type}:2021-05-02 10:15:20"))
        );
    }
    document["alert"]["active"] = json!(3);
    assert!(
        run(&document)
            .unwrap_err()
            .reason
            .contains("`alert.active` is 3")
    );
    document["alert"].as_object_mut().unwrap().remove("active");
    assert_eq!(run(&document).unwrap_err().kind, "unrecognized");

    // With an event type, `active` does not matter: the 2025 clear has `active: 0`, a trigger
    // with `active: 0` still raises.
    let mut document = fixture_value("classic-http-server-trigger-2021.json");
    document["alert"]["active"] = json!(0);
    assert_eq!(run(&document).unwrap().event.alarmstate, AlarmState::Raised);
}

#[test]
fn test_and_unknown_event_types_are_information_only() {
    let mut document = fixture_value("classic-http-server-trigger-2021.json");
    document["eventType"] = json!("WEBHOOK_TEST");
    let normalized = run(&document).unwrap();
    assert_eq!(
        normalized.event.kind,
        "com.thousandeyes.webhook.webhook_test"
    );
    assert_eq!(normalized.event.alarmstate, AlarmState::Info);
    assert_eq!(normalized.event.severity, Severity::Info);
    assert!(normalized.alarms.is_empty());
    assert_eq!(
        normalized.idempotency_key.as_deref(),
        Some("te:205646496-76947300")
    );

    // A bare test event: no alert, no ids, no time.
    let normalized = run(&json!({"eventType": "Webhook Test!"})).unwrap();
    assert_eq!(
        normalized.event.kind,
        "com.thousandeyes.webhook.webhook_test_"
    );
    assert_eq!(normalized.event.device, "te1");
    assert_eq!(normalized.event.summary, "ThousandEyes Webhook Test!");
    assert_eq!(normalized.idempotency_key, None);
    assert!(normalized.alarms.is_empty());
    assert!(
        normalized.event.time > jiff::Timestamp::UNIX_EPOCH,
        "no date in the body: the receipt time, not the epoch"
    );
}

#[test]
fn agent_alerts_name_the_agent_and_may_come_only_under_agent_alert() {
    let alert = json!({"alertId": 42, "active": 1, "type": "Agent", "agentName": "branch-agent",
        "hostname": "ba.example", "ruleName": "Default Agent Offline Notification",
        "ruleExpression": "Last Contact ≥ 6 minutes ago", "dateStart": "2024-01-02 03:04:05"});
    for document in [
        json!({"eventId": "1-42", "eventType": TRIGGER, "alert": alert, "agentAlert": alert}),
        json!({"eventId": "1-42", "eventType": TRIGGER, "agentAlert": alert}),
    ] {
        let normalized = run(&document).unwrap();
        assert_eq!(normalized.event.device, "branch-agent");
        assert_eq!(
            normalized.event.summary,
            "Default Agent Offline Notification: branch-agent (Last Contact ≥ 6 minutes ago)"
        );
        assert_eq!(normalized.event.objectclass.as_deref(), Some("Agent"));
        assert_eq!(normalized.alarms, updates(&[("te:42", true)]));
    }
    let mut hostname_only = alert.clone();
    hostname_only.as_object_mut().unwrap().remove("agentName");
    let normalized = run(&json!({"eventType": TRIGGER, "alert": hostname_only})).unwrap();
    assert_eq!(normalized.event.device, "ba.example");
}

#[test]
fn severity_words_are_read_case_insensitively() {
    let mut document = fixture_value("classic-http-server-trigger-2021.json");
    for (word, severity) in [
        (json!("CRITICAL"), Severity::Critical),
        (json!("minor"), Severity::Minor),
        (json!("Info"), Severity::Info),
        (json!("Major"), Severity::Major),
        (json!("Unknown"), Severity::Major),
        (json!(3), Severity::Major),
    ] {
        document["alert"]["severity"] = word.clone();
        assert_eq!(run(&document).unwrap().event.severity, severity, "{word}");
    }
}

#[test]
fn dates_zones_and_fallbacks() {
    for (text, expected) in [
        ("2021-06-30 21:46:00 UTC", Some("2021-06-30T21:46:00Z")),
        ("2021-06-30 21:46:00", Some("2021-06-30T21:46:00Z")),
        ("2021-06-30 21:46:00 PDT", Some("2021-07-01T04:46:00Z")),
        ("2021-06-30 21:46:00 CEST", Some("2021-06-30T19:46:00Z")),
        ("2021-06-30 21:46:00 +05:30", Some("2021-06-30T16:16:00Z")),
        ("2021-06-30 21:46:00 UTC-0300", Some("2021-07-01T00:46:00Z")),
        ("2021-06-30 21:46:00 Mars/Olympus", None),
        ("2021-06-30 21:46:00 +99", None),
        ("2021-13-30 21:46:00 UTC", None),
        ("yesterday", None),
        ("", None),
        ("2021-06-30 21:46:0é", None),
    ] {
        assert_eq!(
            parse_date(text).map(|time| time.to_string()).as_deref(),
            expected,
            "{text}"
        );
    }
    // An unknown zone falls back to the plain field, read as UTC.
    let mut document = fixture_value("classic-http-server-trigger-custom-payload-text-2022.json");
    document["alert"]["dateStartZoned"] = json!("2022-02-17 23:43:00 XYZ");
    assert_eq!(
        run(&document).unwrap().event.time.to_string(),
        "2022-02-17T23:43:00Z"
    );
}

#[test]
fn only_web_permalinks_become_links() {
    let mut document = fixture_value("classic-http-server-trigger-2021.json");
    document["alert"]["permalink"] = json!("javascript:alert(1)");
    assert_eq!(run(&document).unwrap().event.link, None);
    document["alert"]["permalink"] = json!(" HTTPS://app.thousandeyes.com/x ");
    assert_eq!(
        run(&document).unwrap().event.link.as_deref(),
        Some("HTTPS://app.thousandeyes.com/x")
    );
}

#[test]
fn bad_input_is_told_apart() {
    for (body, kind) in [
        (&b""[..], "malformed"),
        (b"   ", "malformed"),
        (b"not json", "malformed"),
        (b"{\"eventType\": \"ALERT_NOTIF", "malformed"),
        (b"{} trailing", "malformed"),
        (b"[]", "unrecognized"),
        (b"\"x\"", "unrecognized"),
        (b"null", "unrecognized"),
        (b"42", "unrecognized"),
        (b"{}", "unrecognized"),
        (b"{\"eventType\": 5}", "unrecognized"),
        (b"{\"eventType\": \"\"}", "unrecognized"),
        (
            b"{\"eventType\": \"ALERT_NOTIFICATION_TRIGGER\"}",
            "unrecognized",
        ),
        (
            b"{\"eventType\": \"ALERT_NOTIFICATION_TRIGGER\", \"alert\": []}",
            "unrecognized",
        ),
        (
            b"{\"eventId\": [1], \"eventType\": \"WEBHOOK_TEST\"}",
            "unrecognized",
        ),
    ] {
        let error = normalize("te1", body).unwrap_err();
        assert_eq!(
            error.kind,
            kind,
            "{:?}: {error}",
            String::from_utf8_lossy(body)
        );
    }
    assert_eq!(
        normalize("te1", b"[]").unwrap_err().reason,
        "not a ThousandEyes classic webhook: the body is a JSON array, expected an object"
    );
    assert!(
        normalize("te1", b"{}")
            .unwrap_err()
            .reason
            .contains("missing field `eventType`")
    );
    assert!(
        normalize("te1", b"{\"eventType\": 5}")
            .unwrap_err()
            .reason
            .contains("field `eventType` is a JSON number")
    );
    // A Meraki alert posted to the ThousandEyes URL.
    let meraki = json!({"version": "0.1", "alertId": "0", "alertType": "APs went down"});
    assert_eq!(run(&meraki).unwrap_err().kind, "unrecognized");
}
