use serde_json::json;

use super::*;
use crate::source::webhook::testing;

/// The provider's normalizer on a body, as a receiver with `auth: none` runs it.
fn normalize(source_name: &str, body: &[u8]) -> Result<Normalized, Invalid> {
    testing::normalize_unsigned(source_name, body, super::normalize)
}

fn read_fixture(file: &str) -> Vec<u8> {
    testing::fixture("meraki", file)
}

fn normalize_value(document: &Value) -> Normalized {
    normalize("meraki1", &serde_json::to_vec(document).unwrap()).expect("a Meraki alert")
}

fn updates(alert: &Normalized) -> Vec<(String, bool)> {
    testing::alarm_pairs(&alert.alarms)
}

#[test]
fn the_shared_secret_never_reaches_the_event_whatever_its_type() {
    let body = read_fixture("official-example-stopped-reporting.json");
    let alert = normalize("m", &body).unwrap();
    assert!(alert.event.data.get("sharedSecret").is_none());
    let stored = serde_json::to_string(&alert.event).unwrap();
    assert!(!stored.contains("sharedSecret"), "{stored}");
    assert!(!format!("{alert:?}").contains("\"secret\""));

    // The verifier has checked it (or the header that carried it): here it is only dropped.
    let mut document: Value = serde_json::from_slice(&body).unwrap();
    for secret in [json!(""), Value::Null, json!(["secret"]), json!({"a": 1})] {
        document["sharedSecret"] = secret.clone();
        let alert = normalize_value(&document);
        assert!(alert.event.data.get("sharedSecret").is_none(), "{secret}");
    }
}

#[test]
fn the_idempotency_key_is_stable_and_changes_with_occurred_at() {
    let body = read_fixture("official-example-port-disconnected.json");
    let first = normalize("m", &body).unwrap();
    let again = normalize("m", &body).unwrap();
    assert_eq!(first.idempotency_key, again.idempotency_key);
    assert_ne!(first.event.id, again.event.id, "event ids are fresh");

    let mut document: Value = serde_json::from_slice(&body).unwrap();
    document["occurredAt"] = json!("2018-02-11T00:00:01.123450Z");
    let later = normalize_value(&document);
    assert_ne!(first.idempotency_key, later.idempotency_key);
    assert_eq!(
        later.alarms, first.alarms,
        "another occurrence, the same alarm"
    );

    // `sentAt` differs on every delivery and is not part of the key.
    document = serde_json::from_slice(&body).unwrap();
    document["sentAt"] = json!("2030-01-01T00:00:00Z");
    assert_eq!(
        normalize_value(&document).idempotency_key,
        first.idempotency_key
    );
    // Nor is the secret.
    document["sharedSecret"] = json!("another");
    assert_eq!(
        normalize_value(&document).idempotency_key,
        first.idempotency_key
    );
}

#[test]
fn raise_and_clear_pairs_share_the_alarm_key() {
    for (down, up, key) in [
        (
            "official-example-stopped-reporting.json",
            "official-example-started-reporting.json",
            "meraki:N_24329156:Q234-ABCD-5678:reporting",
        ),
        (
            "official-example-port-disconnected.json",
            "official-example-port-connected.json",
            "meraki:N_24329156:Q234-ABCD-5678:port:3",
        ),
    ] {
        let down = normalize("m", &read_fixture(down)).unwrap();
        let up = normalize("m", &read_fixture(up)).unwrap();
        assert_eq!(updates(&down), vec![(key.to_owned(), true)]);
        assert_eq!(updates(&up), vec![(key.to_owned(), false)]);
        assert_eq!(down.event.alarmstate, AlarmState::Raised);
        assert_eq!(up.event.alarmstate, AlarmState::Cleared);
    }
}

#[test]
fn vpn_connectivity_false_raises_what_true_clears() {
    let body = read_fixture("official-example-vpn-connectivity-change.json");
    let mut document: Value = serde_json::from_slice(&body).unwrap();
    let key = "meraki:N_24329156:Q234-ABCD-5678:vpn:N_24329156".to_owned();
    for (connectivity, expected) in [
        (json!("false"), vec![(key.clone(), true)]),
        (json!(false), vec![(key.clone(), true)]),
        (json!("down"), vec![(key.clone(), true)]),
        (json!(true), vec![(key.clone(), false)]),
        (json!("maybe"), vec![]),
        (Value::Null, vec![]),
    ] {
        document["alertData"]["connectivity"] = connectivity.clone();
        let alert = normalize_value(&document);
        assert_eq!(updates(&alert), expected, "{connectivity}");
    }
}

#[test]
fn failover_raises_or_clears_only_when_the_data_says_down_or_up() {
    let body = read_fixture("official-example-failover-event.json");
    let mut document: Value = serde_json::from_slice(&body).unwrap();
    document["alertLevel"] = json!("critical");
    assert!(
        normalize_value(&document).alarms.is_empty(),
        "a paired type that says neither way stays information, even when critical"
    );
    document["alertData"]["status"] = json!("down");
    let down = normalize_value(&document);
    assert_eq!(
        updates(&down),
        vec![("meraki:N_24329156:Q234-ABCD-5678:uplink:0".to_owned(), true)]
    );
    document["alertData"]["status"] = json!("up");
    let up = normalize_value(&document);
    assert_eq!(
        updates(&up),
        vec![(
            "meraki:N_24329156:Q234-ABCD-5678:uplink:0".to_owned(),
            false
        )]
    );
}

#[test]
fn older_payloads_derive_the_type_id_and_still_pair() {
    let body = read_fixture("official-example-stopped-reporting.json");
    let mut document: Value = serde_json::from_slice(&body).unwrap();
    let object = document.as_object_mut().unwrap();
    for field in [
        "alertTypeId",
        "alertLevel",
        "deviceModel",
        "deviceTags",
        "networkTags",
    ] {
        object.remove(field);
    }
    let alert = normalize_value(&document);
    let event = &alert.event;
    assert_eq!(event.kind, "com.cisco.meraki.alert.aps_went_down");
    assert_eq!(
        event.severity,
        Severity::Warning,
        "no alertLevel: INFER warning"
    );
    assert_eq!(
        updates(&alert),
        vec![(
            "meraki:N_24329156:Q234-ABCD-5678:reporting".to_owned(),
            true
        )],
        "the legacy name still pairs with started_reporting"
    );
    assert_eq!(snake_case("APs went down"), "aps_went_down");
    assert_eq!(
        snake_case("  VPN -- connectivity changed! "),
        "vpn_connectivity_changed"
    );
    assert_eq!(snake_case("Ünïcode"), "n_code");
    assert_eq!(snake_case("!!!"), "");
}

#[test]
fn a_network_level_critical_alert_uses_network_in_its_key() {
    let body = read_fixture("official-example-usage-alert.json");
    let mut document: Value = serde_json::from_slice(&body).unwrap();
    document["alertLevel"] = json!("Critical");
    let alert = normalize_value(&document);
    assert_eq!(
        updates(&alert),
        vec![("meraki:N_24329156:network:usage_alert".to_owned(), true)]
    );
    assert_eq!(alert.event.subject, None);
    assert_eq!(
        alert.event.link.as_deref(),
        Some("https://n1.meraki.com//n//manage/nodes/list")
    );
}

#[test]
fn time_falls_back_to_sent_at_and_nulls_read_as_absent() {
    let document = json!({
        "alertId": 42, "alertType": "Something new", "alertTypeId": null, "alertLevel": null,
        "sentAt": "2021-10-01T09:27:29.615483Z", "occurredAt": null,
        "networkId": "L_1", "networkName": null, "deviceSerial": null, "deviceName": 7,
        "deviceUrl": "javascript:alert(1)", "networkUrl": null, "alertData": "not an object",
    });
    let alert = normalize_value(&document);
    let event = &alert.event;
    assert_eq!(event.time.to_string(), "2021-10-01T09:27:29.615483Z");
    assert_eq!(event.kind, "com.cisco.meraki.alert.something_new");
    assert_eq!(event.device, "7", "a number reads as its text");
    assert_eq!(event.summary, "Something new on 7");
    assert_eq!(event.link, None, "only http(s) links are kept");

    // An unparseable occurredAt falls back to sentAt; an offset-less time is read as UTC.
    let mut document = document;
    document["occurredAt"] = json!("yesterday");
    assert_eq!(
        normalize_value(&document).event.time.to_string(),
        "2021-10-01T09:27:29.615483Z"
    );
    document["occurredAt"] = json!("2021-10-01T09:00:00");
    assert_eq!(
        normalize_value(&document).event.time.to_string(),
        "2021-10-01T09:00:00Z"
    );
}

#[test]
fn without_any_device_or_network_name_the_source_name_is_the_device() {
    let document = json!({"alertId": "1", "alertTypeId": "x", "occurredAt": "2021-10-01T09:27:29Z",
                          "networkId": "N_1"});
    let alert = normalize_value(&document);
    assert_eq!(alert.event.device, "meraki1");
    assert_eq!(alert.event.summary, "x on meraki1");
    assert_eq!(alert.event.severity, Severity::Warning);
    assert!(alert.alarms.is_empty());
}

#[test]
fn bad_input_is_malformed_or_unrecognized() {
    for body in testing::not_json(b"{\"alertId\": ") {
        testing::refusal(normalize("m", body), "malformed", body);
    }
    let cases: &[(&[u8], &str)] = &[
        (b"[]", "JSON array, expected an object"),
        (b"\"x\"", "JSON string, expected an object"),
        (b"null", "JSON null, expected an object"),
        (b"42", "JSON number, expected an object"),
        (b"{}", "missing or empty field `alertId`"),
        (
            br#"{"alertId": "0", "occurredAt": "2021-10-01T09:27:29Z", "networkId": "N_1"}"#,
            "`alertTypeId` and `alertType`",
        ),
        (
            br#"{"alertId": "0", "alertTypeId": "x", "networkId": "N_1"}"#,
            "`occurredAt` and `sentAt`",
        ),
        (
            br#"{"alertId": "0", "alertTypeId": "x", "occurredAt": "soon", "networkId": "N_1"}"#,
            "no RFC 3339 time",
        ),
        (
            br#"{"alertId": "0", "alertTypeId": "x", "occurredAt": "2021-10-01T09:27:29Z"}"#,
            "missing or empty field `networkId`",
        ),
        (
            br#"{"alertId": "", "alertTypeId": "x", "occurredAt": "2021-10-01T09:27:29Z", "networkId": "N_1"}"#,
            "`alertId`",
        ),
        // A Meraki callback (Live Tools / Action Batches) on the same receiver.
        (
            br#"{"callbackId": "cb_123", "organization": {"id": "1", "name": "Org"},
                 "message": {"status": "completed"}, "sharedSecret": "s"}"#,
            "callbacks are not alerts",
        ),
        // An SD-WAN alarm posted to the Meraki URL.
        (
            br#"{"uuid": "u", "rule_name_display": "X", "severity": "Major", "entry_time": 1,
                 "active": true}"#,
            "`alertId`",
        ),
    ];
    for (body, reason) in cases {
        let error = testing::refusal(normalize("m", body), "unrecognized", body);
        assert!(error.reason.contains(reason), "{error} lacks {reason:?}");
        assert!(error.reason.starts_with("not a Meraki alert: "), "{error}");
    }
}

#[test]
fn escaped_strings_parse_and_plain_ones_borrow() {
    let document: Value = serde_json::from_str(
        r#"{"alertId": "1", "alertTypeId": "x", "alertType": "A\u0042", "networkId": "N_1"}"#,
    )
    .unwrap();
    let alert = Alert::deserialize(&document).unwrap();
    assert_eq!(alert.alert_type.as_deref(), Some("AB"));
    assert!(matches!(alert.alert_type_id, Some(Cow::Borrowed("x"))));
    assert!(matches!(alert.alert_type, Some(Cow::Borrowed(_))));
}
