//! Standard Webhooks and CloudEvents bodies, in both CloudEvents modes.

use axum::http::HeaderValue;

use super::*;

fn standard_webhook(
    source_name: &str,
    headers: &HeaderMap,
    body: &[u8],
    now: jiff::Timestamp,
) -> Result<Normalized, Invalid> {
    super::super::testing::normalize_for_test(
        source_name,
        headers,
        body,
        now,
        super::standard_webhook,
    )
}

fn cloudevent(
    source_name: &str,
    headers: &HeaderMap,
    body: &[u8],
    now: jiff::Timestamp,
) -> Result<Normalized, Invalid> {
    super::super::testing::normalize_for_test(source_name, headers, body, now, super::cloudevent)
}

use crate::source::webhook::testing::{data, header_map as headers};

fn now() -> jiff::Timestamp {
    "2026-11-28T10:00:00Z".parse().unwrap()
}

#[test]
fn a_standard_webhook_takes_its_type_and_time_from_the_body_and_its_key_from_webhook_id() {
    let body = data("generic/standard-webhooks-spec-example-payload.json");
    let headers = headers(&[("webhook-id", "msg_1"), ("webhook-timestamp", "1649367553")]);
    let normalized = standard_webhook("app", &headers, &body, now()).unwrap();
    let document: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(normalized.event.kind, document["type"].as_str().unwrap());
    assert_eq!(
        normalized.event.time,
        document["timestamp"]
            .as_str()
            .unwrap()
            .parse::<jiff::Timestamp>()
            .unwrap()
    );
    assert_eq!(normalized.event.data, document);
    assert_eq!(normalized.idempotency_key.as_deref(), Some("sw:msg_1"));

    // The test-vector body has no type nor timestamp: the header's time and a generic type.
    let bare = data("generic/standard-webhooks-test-vector-body-exact-bytes.json");
    let normalized = standard_webhook("app", &headers, &bare, now()).unwrap();
    assert_eq!(normalized.event.kind, "io.standardwebhooks.message");
    assert_eq!(normalized.event.time.as_second(), 1_649_367_553);
    let missing = standard_webhook("app", &HeaderMap::new(), &bare, now()).unwrap_err();
    assert_eq!(missing.kind, "unrecognized");
}

#[test]
fn a_structured_cloudevent_keeps_its_attributes_and_data() {
    let body = data("generic/cloudevents-json-spec-example-binary-data.json");
    let headers = headers(&[(
        "content-type",
        "application/cloudevents+json; charset=utf-8",
    )]);
    let document: Value = serde_json::from_slice(&body).unwrap();
    let normalized = cloudevent("bus", &headers, &body, now()).unwrap();
    assert_eq!(normalized.event.kind, document["type"].as_str().unwrap());
    assert_eq!(
        normalized.idempotency_key,
        Some(format!(
            "ce:{}:{}",
            document["source"].as_str().unwrap(),
            document["id"].as_str().unwrap()
        ))
    );
    let data = document
        .get("data")
        .or(document.get("data_base64"))
        .unwrap();
    assert_eq!(&normalized.event.data, data);
    assert_eq!(normalized.event.alarmstate, AlarmState::Info);
}

#[test]
fn a_binary_cloudevent_with_netpulse_extensions_raises_and_clears_an_alarm() {
    let raise = headers(&[
        ("content-type", "application/json"),
        ("ce-specversion", "1.0"),
        ("ce-id", "42"),
        ("ce-source", "/ops/monitor"),
        ("ce-type", "com.example.link.down"),
        ("ce-subject", "core1%20eth1"),
        ("ce-time", "2026-11-28T09:59:00Z"),
        ("ce-severity", "major"),
        ("ce-alarmstate", "raised"),
        ("ce-device", "core1"),
    ]);
    let raised = cloudevent("bus", &raise, br#"{"port":"eth1"}"#, now()).unwrap();
    assert_eq!(raised.event.subject.as_deref(), Some("core1 eth1"));
    assert_eq!(raised.event.device, "core1");
    assert_eq!(raised.event.severity, Severity::Major);
    assert_eq!(
        raised.event.time,
        "2026-11-28T09:59:00Z".parse::<jiff::Timestamp>().unwrap()
    );
    assert_eq!(
        raised.alarms,
        [AlarmUpdate {
            key: "ce:/ops/monitor:core1 eth1".into(),
            raised: true
        }]
    );
    let mut clear = raise.clone();
    clear.insert("ce-id", HeaderValue::from_static("43"));
    clear.insert("ce-alarmstate", HeaderValue::from_static("cleared"));
    let cleared = cloudevent("bus", &clear, b"", now()).unwrap();
    assert_eq!(
        cleared.alarms,
        [AlarmUpdate {
            key: "ce:/ops/monitor:core1 eth1".into(),
            raised: false
        }]
    );
    assert_eq!(cleared.event.time, raised.event.time);
}

#[test]
fn what_is_not_a_cloudevent_is_refused_with_the_reason() {
    let json = headers(&[("content-type", "application/json")]);
    assert_eq!(
        cloudevent("bus", &json, b"{}", now()).unwrap_err().kind,
        "unrecognized"
    );
    let structured = headers(&[("content-type", "application/cloudevents+json")]);
    for body in [
        &b"{}"[..],
        br#"{"specversion":"0.3","id":"1","source":"s","type":"t"}"#,
        br#"{"specversion":"1.0","source":"s","type":"t"}"#,
        b"[1]",
    ] {
        assert_eq!(
            cloudevent("bus", &structured, body, now())
                .unwrap_err()
                .kind,
            "unrecognized",
            "{}",
            String::from_utf8_lossy(body)
        );
    }
    assert_eq!(
        cloudevent("bus", &structured, b"{", now())
            .unwrap_err()
            .kind,
        "malformed"
    );
    let batch = headers(&[("content-type", "application/cloudevents-batch+json")]);
    assert!(cloudevent("bus", &batch, b"[]", now()).is_err());
}
