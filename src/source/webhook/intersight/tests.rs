use serde_json::json;

use super::*;
use crate::source::webhook::testing;

/// The provider's normalizer on a body, as a receiver with `auth: none` runs it.
fn normalize(source_name: &str, body: &[u8]) -> Result<Normalized, Invalid> {
    testing::normalize_unsigned(source_name, body, super::normalize)
}

const ALARM_FIXTURE: &str = "webhookresult-cond-alarm-modified-trimmed.json";
const ALARM_MOID: &str = "62275bf065696e2d33b4ba3c";

fn fixture_value(file: &str) -> Value {
    testing::fixture_json("intersight", file)
}

fn run(document: &Value) -> Result<Normalized, Invalid> {
    normalize("intersight1", &serde_json::to_vec(document).unwrap())
}

use testing::alarm_updates as updates;

#[test]
fn a_cleared_alarm_clears_the_same_key_at_its_original_severity() {
    let raised = run(&fixture_value(ALARM_FIXTURE)).unwrap();
    let mut document = fixture_value(ALARM_FIXTURE);
    document["Event"]["Severity"] = json!("Cleared");
    document["Event"]["ModTime"] = json!("2022-05-10T00:00:00Z");
    let cleared = run(&document).unwrap();
    assert_eq!(cleared.event.kind, ALARM_CLEARED_EVENT_TYPE);
    assert_eq!(cleared.event.alarmstate, AlarmState::Cleared);
    assert_eq!(
        cleared.event.severity,
        Severity::Critical,
        "from OrigSeverity"
    );
    assert_eq!(raised.alarms[0].key, cleared.alarms[0].key);
    assert_eq!(
        (raised.alarms[0].raised, cleared.alarms[0].raised),
        (true, false)
    );
    assert_ne!(raised.idempotency_key, cleared.idempotency_key);

    // A deleted alarm object clears too.
    let mut document = fixture_value(ALARM_FIXTURE);
    document["Operation"] = json!("Deleted");
    let deleted = run(&document).unwrap();
    assert_eq!(
        deleted.alarms,
        updates(&[("intersight:62275bf065696e2d33b4ba3c", false)])
    );
    assert_eq!(
        deleted.idempotency_key.as_deref(),
        Some("intersight:62275bf065696e2d33b4ba3c:Deleted:2022-05-09T05:56:25.01Z")
    );
}

#[test]
fn alarm_severities() {
    let mut document = fixture_value(ALARM_FIXTURE);
    for (severity, orig, expected, state) in [
        (
            json!("Critical"),
            json!("Info"),
            Severity::Critical,
            AlarmState::Raised,
        ),
        (
            json!("warning"),
            json!(null),
            Severity::Warning,
            AlarmState::Raised,
        ),
        (
            json!("Info"),
            json!("Info"),
            Severity::Info,
            AlarmState::Raised,
        ),
        (
            json!("Cleared"),
            json!("Warning"),
            Severity::Warning,
            AlarmState::Cleared,
        ),
        (
            json!("Cleared"),
            json!(null),
            Severity::Warning,
            AlarmState::Cleared,
        ),
        (
            json!("Cleared"),
            json!("Cleared"),
            Severity::Warning,
            AlarmState::Cleared,
        ),
        (
            json!("Dire"),
            json!(null),
            Severity::Warning,
            AlarmState::Raised,
        ),
        (
            json!(null),
            json!("Critical"),
            Severity::Critical,
            AlarmState::Raised,
        ),
    ] {
        document["Event"]["Severity"] = severity.clone();
        document["Event"]["OrigSeverity"] = orig.clone();
        let event = run(&document).unwrap().event;
        assert_eq!(
            (event.severity, event.alarmstate),
            (expected, state),
            "{severity} {orig}"
        );
    }
}

#[test]
fn alarm_fallbacks_for_device_summary_and_time() {
    let mut document = fixture_value(ALARM_FIXTURE);
    let mo = document["Event"].as_object_mut().unwrap();
    mo.remove("AffectedMoDisplayName");
    mo.remove("Description");
    mo.insert("LastTransitionTime".into(), json!("0001-01-01T00:00:00Z"));
    let event = run(&document).unwrap().event;
    assert_eq!(event.device, "60b7211076752d313426fbbc", "AffectedMoId");
    assert_eq!(event.summary, "F1404");
    assert_eq!(
        event.time.to_string(),
        "2022-05-09T05:56:25.01Z",
        "ModTime: the zero time is never"
    );

    let mo = document["Event"].as_object_mut().unwrap();
    for field in [
        "AffectedMoId",
        "Code",
        "Name",
        "ModTime",
        "LastTransitionTime",
    ] {
        mo.remove(field);
    }
    let normalized = run(&document).unwrap();
    assert_eq!(normalized.event.device, "intersight1");
    assert_eq!(
        normalized.event.summary,
        format!("Intersight alarm {ALARM_MOID}")
    );
    assert_eq!(
        normalized.event.time.to_string(),
        "2022-03-08T13:36:48.491Z",
        "CreateTime"
    );
    assert_eq!(
        normalized.idempotency_key.as_deref(),
        Some("intersight:62275bf065696e2d33b4ba3c:Modified:2022-03-08T13:36:48.491Z")
    );

    document["Event"]
        .as_object_mut()
        .unwrap()
        .remove("CreateTime");
    let normalized = run(&document).unwrap();
    assert!(
        normalized.event.time > jiff::Timestamp::UNIX_EPOCH,
        "receipt time, not the epoch"
    );
    assert_eq!(
        normalized.idempotency_key.as_deref(),
        Some("intersight:62275bf065696e2d33b4ba3c:Modified")
    );
}

#[test]
fn the_alarm_link_encodes_the_moid() {
    assert_eq!(
        alarm_link("a&b=c d"),
        "https://www.intersight.com/an/cond/alarms/active/?Moid=a%26b%3Dc%20d"
    );
}

#[test]
fn other_objects_are_information() {
    let mut document = fixture_value("webhookresult-workflow-created-trimmed.json");
    document["Operation"] = json!("Modified");
    document["Event"]["Status"] = json!("FAILED");
    document["Event"]["ModTime"] = json!("2022-05-10T00:09:40Z");
    let normalized = run(&document).unwrap();
    assert_eq!(
        normalized.event.kind,
        "com.cisco.intersight.workflow.workflowinfo.modified"
    );
    assert_eq!(
        normalized.event.summary,
        "RemoveKubernetesClusterProfileResources FAILED"
    );
    assert_eq!(normalized.event.time.to_string(), "2022-05-10T00:09:40Z");
    assert_eq!(
        normalized.idempotency_key.as_deref(),
        Some("intersight:6279acb3696f6e2d31c5fcdd:Modified:2022-05-10T00:09:40Z")
    );
    assert!(normalized.alarms.is_empty());

    // No EventObjectType: the object's own ObjectType. No Name or Status: type, Moid, operation.
    let document =
        json!({"Operation": "Deleted", "Event": {"Moid": "m1", "ObjectType": "compute.Blade"}});
    let normalized = run(&document).unwrap();
    assert_eq!(
        normalized.event.kind,
        "com.cisco.intersight.compute.blade.deleted"
    );
    assert_eq!(normalized.event.summary, "compute.Blade m1 Deleted");
    assert_eq!(normalized.event.device, "intersight1");
}

#[test]
fn bad_input_is_told_apart() {
    for (body, kind) in [
        (&b""[..], "malformed"),
        (b"not json", "malformed"),
        (b"{\"ClassId\": \"mo.Webhook", "malformed"),
        (b"{} x", "malformed"),
        (b"[]", "unrecognized"),
        (b"\"x\"", "unrecognized"),
        (b"null", "unrecognized"),
        (b"{}", "unrecognized"),
    ] {
        let error = normalize("intersight1", body).unwrap_err();
        assert_eq!(
            error.kind,
            kind,
            "{:?}: {error}",
            String::from_utf8_lossy(body)
        );
    }
    let base = fixture_value(ALARM_FIXTURE);
    type Change = Box<dyn Fn(&mut Value)>;
    let cases: Vec<(Change, &str)> = vec![
        (
            Box::new(|d| drop(d.as_object_mut().unwrap().remove("Event"))),
            "missing field `Event`",
        ),
        (
            Box::new(|d| d["Event"] = json!([1])),
            "field `Event` is a JSON array",
        ),
        (
            Box::new(|d| drop(d["Event"].as_object_mut().unwrap().remove("Moid"))),
            "missing field `Event.Moid`",
        ),
        (
            Box::new(|d| d["Event"]["Moid"] = json!(7)),
            "field `Moid` is a JSON number",
        ),
        (
            Box::new(|d| drop(d.as_object_mut().unwrap().remove("Operation"))),
            "missing field `Operation`",
        ),
        (
            Box::new(|d| d["Operation"] = json!(true)),
            "field `Operation` is a JSON boolean",
        ),
        (
            Box::new(|d| d["ClassId"] = json!("cond.Alarm")),
            "`ClassId` is \"cond.Alarm\"",
        ),
        (
            Box::new(|d| {
                d.as_object_mut().unwrap().remove("EventObjectType");
                let mo = d["Event"].as_object_mut().unwrap();
                mo.remove("ObjectType");
                mo.remove("ClassId");
            }),
            "missing field `EventObjectType`",
        ),
    ];
    for (change, reason) in cases {
        let mut document = base.clone();
        change(&mut document);
        let error = run(&document).unwrap_err();
        assert_eq!(error.kind, "unrecognized", "{error}");
        assert!(error.reason.contains(reason), "{error} lacks {reason:?}");
    }
}
