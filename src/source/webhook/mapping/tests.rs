//! The generic mapping on a ThousandEyes custom-webhook body (the variables of reference §4.2).

use super::*;

/// The mapping on a body through the open verifier (`auth: none`).
trait NormalizeBody {
    fn normalize_body(
        &self,
        source_name: &str,
        body: &[u8],
        now: jiff::Timestamp,
    ) -> Result<Normalized, Invalid>;
}

impl NormalizeBody for Mapping {
    fn normalize_body(
        &self,
        source_name: &str,
        body: &[u8],
        now: jiff::Timestamp,
    ) -> Result<Normalized, Invalid> {
        super::super::testing::normalize_at(source_name, body, now, |source, request| {
            self.normalize(source, request)
        })
    }
}

/// A custom webhook body as an operator's Handlebars template would render it.
const TE_CUSTOM: &str = r#"{
  "id": "notif-123",
  "type": {"id": 2},
  "alert": {
    "id": "a1b2",
    "severity": {"id": "MAJOR"},
    "firstSeen": {"epochMilli": 1764324000000},
    "rule": {"name": "HTTP availability < 100%"},
    "test": {"name": "www.example.com"}
  }
}"#;

fn mapping() -> Mapping {
    let config = GenericMapping {
        id: Some("/id".into()),
        time: Some("/alert/firstSeen/epochMilli".into()),
        device: Some("/alert/test/name".into()),
        kind: Some("com.thousandeyes.custom.alert".into()),
        severity: Some("{{ alert.severity.id | lower }}".into()),
        summary: Some("{{ alert.rule.name }} on {{ alert.test.name }}".into()),
        alarm_key: Some("/alert/id".into()),
        alarm_state: Some("/type/id".into()),
        // "Clear (1) or Trigger (2)", as ThousandEyes documents it.
        alarm_state_map: [
            ("2".to_owned(), AlarmState::Raised),
            ("1".to_owned(), AlarmState::Cleared),
        ]
        .into_iter()
        .collect(),
        ..GenericMapping::default()
    };
    Mapping::new("te-custom", &config).unwrap()
}

#[test]
fn pointers_templates_and_constants_make_the_event() {
    let normalized = mapping()
        .normalize_body(
            "te-custom",
            TE_CUSTOM.as_bytes(),
            jiff::Timestamp::UNIX_EPOCH,
        )
        .unwrap();
    let event = &normalized.event;
    assert_eq!(event.kind, "com.thousandeyes.custom.alert");
    assert_eq!(event.device, "www.example.com");
    assert_eq!(event.summary, "HTTP availability < 100% on www.example.com");
    assert_eq!(event.severity, Severity::Major);
    assert_eq!(event.alarmstate, AlarmState::Raised);
    assert_eq!(event.time.as_millisecond(), 1_764_324_000_000);
    assert_eq!(
        normalized.idempotency_key.as_deref(),
        Some("generic:notif-123")
    );
    assert_eq!(
        normalized.alarms,
        [AlarmUpdate {
            key: "generic:a1b2".into(),
            raised: true
        }]
    );
    let clear = TE_CUSTOM.replace(r#""type": {"id": 2}"#, r#""type": {"id": 1}"#);
    let cleared = mapping()
        .normalize_body("te-custom", clear.as_bytes(), jiff::Timestamp::UNIX_EPOCH)
        .unwrap();
    assert_eq!(
        cleared.alarms,
        [AlarmUpdate {
            key: "generic:a1b2".into(),
            raised: false
        }]
    );
}

#[test]
fn a_document_the_mapping_does_not_fit_is_refused_with_the_field() {
    let missing = mapping()
        .normalize_body("x", br#"{"alert": {}}"#, jiff::Timestamp::UNIX_EPOCH)
        .unwrap_err();
    assert_eq!(missing.kind, "unrecognized");
    assert!(missing.reason.contains("device"), "{}", missing.reason);
    let odd = TE_CUSTOM.replace("MAJOR", "SEVERE");
    let error = mapping()
        .normalize_body("x", odd.as_bytes(), jiff::Timestamp::UNIX_EPOCH)
        .unwrap_err();
    assert!(error.reason.contains("severe"), "{}", error.reason);
    assert_eq!(
        mapping()
            .normalize_body("x", b"[1]", jiff::Timestamp::UNIX_EPOCH)
            .unwrap_err()
            .kind,
        "unrecognized"
    );
    assert_eq!(
        mapping()
            .normalize_body("x", b"{", jiff::Timestamp::UNIX_EPOCH)
            .unwrap_err()
            .kind,
        "malformed"
    );
}

#[test]
fn a_mapping_is_checked_when_the_configuration_is_loaded() {
    let broken = GenericMapping {
        device: Some("/host".into()),
        summary: Some("{{ unclosed".into()),
        ..GenericMapping::default()
    };
    assert!(Mapping::new("x", &broken).unwrap_err().contains("summary"));
    let partial = GenericMapping {
        device: Some("/host".into()),
        ..GenericMapping::default()
    };
    assert!(Mapping::new("x", &partial).is_err());
    let unpaired = GenericMapping {
        device: Some("/host".into()),
        summary: Some("/msg".into()),
        alarm_key: Some("/id".into()),
        ..GenericMapping::default()
    };
    assert!(Mapping::new("x", &unpaired).is_err());
}

#[test]
fn times_are_rfc3339_or_unix_seconds_or_milliseconds() {
    assert_eq!(
        parse_time("2025-11-28T10:00:00Z").unwrap().as_second(),
        1_764_324_000
    );
    assert_eq!(parse_time("1764324000").unwrap().as_second(), 1_764_324_000);
    assert_eq!(
        parse_time("1764324000000").unwrap().as_second(),
        1_764_324_000
    );
    assert!(parse_time("yesterday").is_none());
    assert!(parse_time("-5").is_none());
}
