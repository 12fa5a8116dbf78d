use serde_json::json;

use super::*;

/// The provider's normalizer on a body through the open verifier (`auth: none`).
fn normalize(source_name: &str, body: &[u8]) -> Result<Normalized, Invalid> {
    let body = bytes::Bytes::copy_from_slice(body);
    super::normalize(
        source_name,
        &crate::source::webhook::verify::open_body(&body),
    )
    .map(|normalized| crate::source::webhook::unscoped(source_name, normalized))
}

const R: AlarmState = AlarmState::Raised;
const C: AlarmState = AlarmState::Cleared;

/// What one fixture must normalize to.
struct Row {
    file: &'static str,
    kind: &'static str,
    state: AlarmState,
    severity: Severity,
    device: &'static str,
    summary: &'static str,
    /// `(alarm key, raised)`.
    updates: &'static [(&'static str, bool)],
    idempotency_key: &'static str,
    time: &'static str,
    objectclass: &'static str,
    link: &'static str,
}

#[rustfmt::skip]
const FIXTURES: &[Row] = &[
    Row {
        file: "classic-http-server-clear-active0-string-alertid-2025.json",
        kind: CLEARED_EVENT_TYPE, state: C, severity: Severity::Info,
        device: "https://pdf.ezhil.dev - HTTP Server",
        summary: "PDF Test: https://pdf.ezhil.dev - HTTP Server (Response Code is not OK (2xx))",
        updates: &[("te:5abda706-c065-40fa-aa8c-059c3ac1ea9d", false)],
        idempotency_key: "te:9437a575-4b00-44a2-899a-41d1134eef08--5abda706-c065-40fa-aa8c-059c3ac1ea9d",
        // A clear is timed by the alert's end, `dateEndZoned`.
        time: "2025-03-24T17:21:00Z",
        objectclass: "HTTP Server",
        link: "https://app.thousandeyes.com/alerts/list/?__a=562949953552543&alertId=5abda706-c065-40fa-aa8c-059c3ac1ea9d",
    },
    Row {
        file: "classic-http-server-trigger-2021.json",
        kind: TRIGGERED_EVENT_TYPE, state: R, severity: Severity::Major,
        device: "https://calliope-a.wbx2.com Cloud",
        summary: "Caliope Connect Error: https://calliope-a.wbx2.com Cloud (Error Type is \"Connect\" or Response Code is client error (4xx))",
        updates: &[("te:76947300", true)],
        idempotency_key: "te:205646496-76947300",
        // No `dateStartZoned`: `dateStart` read as UTC.
        time: "2021-05-02T10:15:20Z",
        objectclass: "HTTP Server",
        link: "https://app.thousandeyes.com/alerts/list/?__a=236091&alertId=76947300",
    },
    Row {
        file: "classic-http-server-trigger-custom-payload-text-2022.json",
        kind: TRIGGERED_EVENT_TYPE, state: R, severity: Severity::Major,
        // `"Web Server "`: trimmed.
        device: "Web Server",
        summary: "Webhook Teyes: Web Server (Error is present)",
        updates: &[("te:108381281", true)],
        idempotency_key: "te:366215001-108381281",
        // `2022-02-17 23:43:00 EST`.
        time: "2022-02-18T04:43:00Z",
        objectclass: "HTTP Server",
        link: "https://app.thousandeyes.com/alerts/list/?__a=415786&alertId=108381281",
    },
];

fn fixture_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/thousandeyes")
}

fn read_fixture(file: &str) -> Vec<u8> {
    let path = fixture_dir().join(file);
    std::fs::read(&path).unwrap_or_else(|error| panic!("{}: {error}", path.display()))
}

fn fixture_value(file: &str) -> Value {
    serde_json::from_slice(&read_fixture(file)).unwrap()
}

fn run(document: &Value) -> Result<Normalized, Invalid> {
    normalize("te1", &serde_json::to_vec(document).unwrap())
}

fn updates(pairs: &[(&str, bool)]) -> Vec<AlarmUpdate> {
    pairs
        .iter()
        .map(|(key, raised)| AlarmUpdate {
            key: (*key).to_owned(),
            raised: *raised,
        })
        .collect()
}

#[test]
fn every_fixture_normalizes_to_its_expected_row() {
    for expected in FIXTURES {
        let context = expected.file;
        let body = read_fixture(expected.file);
        let raw: Value = serde_json::from_slice(&body).unwrap();
        let normalized =
            normalize("te1", &body).unwrap_or_else(|error| panic!("{context}: {error}"));
        let event = &normalized.event;
        assert_eq!(event.kind, expected.kind, "{context}");
        assert_eq!(event.alarmstate, expected.state, "{context}");
        assert_eq!(event.severity, expected.severity, "{context}");
        assert_eq!(event.device, expected.device, "{context}");
        assert_eq!(event.summary, expected.summary, "{context}");
        assert_eq!(normalized.alarms, updates(expected.updates), "{context}");
        assert_eq!(
            normalized.idempotency_key.as_deref(),
            Some(expected.idempotency_key),
            "{context}"
        );
        assert_eq!(event.time.to_string(), expected.time, "{context}");
        assert_eq!(
            event.objectclass.as_deref(),
            Some(expected.objectclass),
            "{context}"
        );
        assert_eq!(event.link.as_deref(), Some(expected.link), "{context}");
        assert_eq!(event.source, "/netpulse/te1", "{context}");
        let subject = format!(
            "{}/{}",
            raw["alert"]["ruleName"].as_str().unwrap(),
            expected.device
        );
        assert_eq!(
            event.subject.as_deref(),
            Some(subject.as_str()),
            "{context}"
        );
        assert_eq!(
            event.data, raw,
            "{context}: data is the original document unchanged"
        );
    }
}

#[test]
fn every_file_in_the_fixture_folder_has_a_row() {
    let mut files: Vec<String> = std::fs::read_dir(fixture_dir())
        .unwrap()
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .collect();
    files.sort();
    let mut rows: Vec<String> = FIXTURES.iter().map(|row| row.file.to_owned()).collect();
    rows.sort();
    assert_eq!(files, rows);
}

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

#[test]
fn no_prefix_or_byte_flip_of_a_fixture_panics() {
    for expected in FIXTURES {
        let body = read_fixture(expected.file);
        for end in 0..body.len() {
            let _ = normalize("te1", &body[..end]);
        }
        let mut rng = fastrand::Rng::with_seed(0x7e);
        for _ in 0..2000 {
            let mut flipped = body.clone();
            for _ in 0..rng.usize(1..4) {
                let index = rng.usize(..flipped.len());
                flipped[index] = rng.u8(..);
            }
            let _ = normalize("te1", &flipped);
        }
    }
}
