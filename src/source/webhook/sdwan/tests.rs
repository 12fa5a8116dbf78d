use serde_json::json;

use super::*;

fn fixture_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/sdwan")
}

fn read_fixture(file: &str) -> Vec<u8> {
    crate::source::webhook::testing::fixture("sdwan", file)
}

fn normalize_body(body: &[u8]) -> Normalized {
    let alarm = parse(body).expect("parses as an alarm");
    let raw: Value = serde_json::from_slice(body).unwrap();
    from_alarm("vmanage1", &alarm, &raw)
}

use crate::source::webhook::testing::alarm_pairs as pairs;

#[test]
fn clearing_alarms_clear_every_uuid_in_cleared_events() {
    let body = read_fixture("webhook-interface-state-change-up-clears-previous-2019.json");
    let mut raw: Value = serde_json::from_slice(&body).unwrap();
    // The 2023 vBond "up" cleared two alarms at once.
    raw["cleared_events"] = json!(["first-uuid", "second-uuid"]);
    let normalized = normalize_body(&serde_json::to_vec(&raw).unwrap());
    assert_eq!(
        pairs(&normalized.alarms),
        vec![
            ("vmanage1:sdwan:first-uuid".to_owned(), false),
            ("vmanage1:sdwan:second-uuid".to_owned(), false)
        ]
    );
    assert_eq!(
        normalized.idempotency_key.as_deref(),
        Some("vmanage1:sdwan:7a514a95-7c24-4348-b7e9-8d6775a3bc36"),
        "the clearing document has an idempotency key of its own"
    );
}

#[test]
fn the_raise_and_its_clear_share_the_alarm_key() {
    let down = normalize_body(&read_fixture(
        "webhook-interface-state-change-down-2019.json",
    ));
    let up = normalize_body(&read_fixture(
        "webhook-interface-state-change-up-clears-previous-2019.json",
    ));
    assert_eq!(down.alarms[0].key, up.alarms[0].key);
    assert_eq!((down.alarms[0].raised, up.alarms[0].raised), (true, false));
}

#[test]
fn malformed_json_is_told_apart_from_json_that_is_not_an_alarm() {
    for body in crate::source::webhook::testing::not_json(b"{\"uuid\": ") {
        assert!(
            matches!(parse(body), Err(SdwanError::Malformed { .. })),
            "{:?}",
            String::from_utf8_lossy(body)
        );
    }
    let error = parse(b"{}").unwrap_err();
    assert!(matches!(error, SdwanError::NotAnAlarm { .. }));
    assert!(
        error.to_string().contains("missing field `uuid`"),
        "{error}"
    );
    let error = parse(b" []").unwrap_err();
    assert_eq!(
        error.to_string(),
        "not an SD-WAN Manager alarm notification: the body is a JSON array, expected an object"
    );
}

#[test]
fn not_an_alarm_names_what_is_missing_or_wrong() {
    let cases = [
        (
            json!({"uuid": "u", "severity": "Major"}),
            "missing field `rule_name_display`",
        ),
        (
            json!({"uuid": "u", "rule_name_display": "X", "entry_time": 1, "active": true}),
            "missing field `severity`",
        ),
        (
            json!({"uuid": "u", "rule_name_display": "X", "severity": "Major", "active": true,
                   "entry_time": "yesterday"}),
            "milliseconds from the Unix epoch",
        ),
        (
            json!({"uuid": " ", "rule_name_display": "X", "severity": "Major", "active": true,
                   "entry_time": 1}),
            "field `uuid` is empty",
        ),
        // A Meraki alert posted to the SD-WAN URL.
        (
            json!({"version": "0.1", "alertId": "0", "alertType": "APs went down"}),
            "missing field",
        ),
    ];
    for (document, reason) in cases {
        let error = parse(&serde_json::to_vec(&document).unwrap()).unwrap_err();
        assert!(matches!(error, SdwanError::NotAnAlarm { .. }), "{error}");
        assert!(
            error.to_string().contains(reason),
            "{error} lacks {reason:?}"
        );
    }
    assert!(matches!(
        parse(br#"["u", "X", "Major", null, 1, true]"#),
        Err(SdwanError::NotAnAlarm { .. })
    ));
}

#[test]
fn a_minimal_alarm_with_nulls_and_unknown_fields_parses() {
    let body = br#"{"uuid": "u1", "rule_name_display": "Memory_Usage", "severity": "Major",
        "entry_time": 1557638802000, "active": true, "values": null, "cleared_events": null,
        "system_ip": "10.0.0.9", "some_future_field": {"x": 1}}"#;
    let alarm = parse(body).unwrap();
    assert!(alarm.values.is_empty() && alarm.cleared_events.is_empty());
    assert_eq!(
        alarm.device(),
        Some("10.0.0.9"),
        "system_ip when there is no host name"
    );
    let normalized = normalize_body(body);
    assert_eq!(normalized.event.summary, "Memory_Usage on 10.0.0.9");
    assert_eq!(normalized.event.time.to_string(), "2019-05-12T05:26:42Z");
}

#[test]
fn the_summary_lists_every_entity_and_skips_those_with_only_the_device() {
    let body = br#"{"uuid": "u-1", "rule_name_display": "BFD_Node_Down", "severity": "Major",
        "entry_time": 1557638802000, "active": true,
        "values": [{"host-name": "Edge1", "system-ip": "10.0.0.1"}],
        "values_short_display": [
            {"host-name": "Edge1", "color": "mpls", "site-id": 100},
            {"host-name": "Edge1", "system-ip": "10.0.0.1"},
            {"remote-color": "biz-internet", "remote-system-ip": "10.0.0.2"}]}"#;
    assert_eq!(
        normalize_body(body).event.summary,
        "BFD_Node_Down on Edge1: color=mpls, site-id=100; remote-color=biz-internet, \
         remote-system-ip=10.0.0.2"
    );
}

#[test]
fn without_any_device_field_the_source_name_is_the_device() {
    let body = br#"{"uuid": "u1", "rule_name_display": "X", "severity": "Minor",
        "entry_time": 0, "active": true}"#;
    assert_eq!(normalize_body(body).event.device, "vmanage1");
}

#[test]
fn quirks_site_id_as_integer_and_eventname_rulename() {
    let reboot = read_fixture("webhook-system-reboot-issued-medium-cleared-2019-test.json");
    assert_eq!(parse(&reboot).unwrap().site_id().as_deref(), Some("200"));
    let bfd = read_fixture("rest-alarm-bfd-node-down-inactive-20.x.json");
    let alarm = parse(&bfd).unwrap();
    assert_eq!(alarm.eventname.as_deref(), Some("rulename"));
    assert_eq!(alarm.event_name(), Some("node_down"));
    assert_eq!(alarm.site_id().as_deref(), Some("1"));
    let interface = normalize_body(&read_fixture(
        "webhook-interface-state-change-down-2019.json",
    ));
    assert_eq!(
        interface.event.objectclass.as_deref(),
        Some("interface-state-change")
    );
}

#[test]
fn unknown_severity_words_fall_back_to_the_number_then_to_warning() {
    let with = |severity: &str, number: Value| {
        let document = json!({"uuid": "u", "rule_name_display": "X", "severity": severity,
                              "severity_number": number, "entry_time": 0, "active": true});
        normalize_body(&serde_json::to_vec(&document).unwrap())
            .event
            .severity
    };
    assert_eq!(with("MAJOR", json!(null)), Severity::Major);
    assert_eq!(with("Medium", json!(1)), Severity::Minor, "the word wins");
    assert_eq!(with("Severe", json!(1)), Severity::Critical);
    assert_eq!(with("Severe", json!(null)), Severity::Warning);
}

#[test]
fn markdown_in_a_host_name_is_carried_verbatim() {
    // Escaping is the Webex sink's job; the normalized event keeps what the manager sent.
    let evil = "*evil*[x](http://a)";
    let body = read_fixture("webhook-interface-state-change-down-2019.json");
    let mut raw: Value = serde_json::from_slice(&body).unwrap();
    raw["values"][0]["host-name"] = json!(evil);
    raw["values_short_display"][0]["host-name"] = json!(evil);
    let normalized = normalize_body(&serde_json::to_vec(&raw).unwrap());
    assert_eq!(normalized.event.device, evil);
    assert_eq!(
        normalized.event.summary,
        "Interface_State_Change on *evil*[x](http://a): if-name=GigabitEthernet4, new-state=down"
    );
}

#[test]
fn escaped_strings_parse_as_owned_and_plain_ones_borrow() {
    let body = br#"{"uuid": "u\u0031", "rule_name_display": "X", "severity": "Minor",
        "entry_time": 0, "active": true}"#;
    let alarm = parse(body).unwrap();
    assert_eq!(alarm.uuid, "u1");
    assert!(matches!(alarm.uuid, Cow::Owned(_)));
    assert!(matches!(alarm.rule_name_display, Cow::Borrowed("X")));
}

#[test]
fn details_link_points_at_the_alarm_page() {
    let uuid = "8459e3a0-5bea-4370-ab57-6f45f8022d66";
    let expected = format!("https://vmanage.example/#/app/monitor/alarms/details/{uuid}");
    assert_eq!(details_link("https://vmanage.example/", uuid), expected);
    assert_eq!(details_link("https://vmanage.example", uuid), expected);
    assert_eq!(
        details_link("https://vmanage.example", "a) [b](c"),
        "https://vmanage.example/#/app/monitor/alarms/details/a%29%20%5Bb%5D%28c"
    );
}

#[test]
fn normalizing_a_request_gives_what_parse_and_from_alarm_give() {
    let ingest = |body: &[u8]| {
        let body = bytes::Bytes::copy_from_slice(body);
        normalize(
            "vmanage",
            &crate::source::webhook::verify::open_body(&body),
            None,
        )
    };
    let mut files: Vec<_> = std::fs::read_dir(fixture_dir())
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
        .collect();
    files.sort();
    for path in files {
        let (name, body) = (path.display(), std::fs::read(&path).unwrap());
        let alarm = parse(&body).unwrap();
        let raw: Value = serde_json::from_slice(&body).unwrap();
        let mut expected = from_alarm("vmanage", &alarm, &raw);
        let mut ingested = ingest(&body).unwrap();
        // The body is kept as the data, unchanged: that is the event a reader gets.
        assert!(ingested.event.data.is_null(), "{name}");
        assert_eq!(
            ingested.raw_data.take().as_deref(),
            Some(body.as_slice()),
            "{name}"
        );
        let stored = crate::store::event_json(&ingested.event, Some(&body)).unwrap();
        ingested.event = serde_json::from_str(&stored).unwrap();
        // Ids are fresh per event; everything else must match.
        expected.event.id = ingested.event.id.clone();
        assert_eq!(ingested, expected, "{name}");
    }
    assert_eq!(ingest(b"{\"uuid\":").unwrap_err().kind, "malformed");
    assert_eq!(ingest(b"[1, 2]").unwrap_err().kind, "not_an_alarm");
    assert_eq!(
        ingest(b"{\"uuid\": \"x\"}").unwrap_err().kind,
        "not_an_alarm"
    );
}

#[test]
fn entity_fields_and_texts_borrow_from_the_body_unless_escaped() {
    let body =
        br#"{"uuid": "u-2", "rule_name_display": "Interface_State_Change", "severity": "Major",
        "entry_time": 1557638802000, "active": true, "rulename": "interface-state-change",
        "message": "line \"one\"",
        "values": [{"host-name": "BR1", "if-name": "Gi\/1", "site-id": 7, "new-state": "up",
                    "new-state": "down", "extra": {"nested": [1, null]}}]}"#;
    let alarm = parse(body).unwrap();
    assert!(matches!(
        alarm.rulename,
        Some(Cow::Borrowed("interface-state-change"))
    ));
    assert_eq!(
        alarm.message.as_deref(),
        Some(r#"line "one""#),
        "escapes are decoded"
    );
    let fields = &alarm.values[0];
    let keys: Vec<&str> = fields.iter().map(|(key, _)| key).collect();
    assert_eq!(
        keys,
        ["extra", "host-name", "if-name", "new-state", "site-id"],
        "key order, each key once"
    );
    assert!(matches!(
        fields.get("host-name"),
        Some(Field::Text(Cow::Borrowed("BR1")))
    ));
    assert!(matches!(fields.get("if-name"), Some(Field::Text(Cow::Owned(text))) if text == "Gi/1"));
    assert_eq!(
        fields.get("new-state"),
        Some(&Field::Text("down".into())),
        "the last of a repeated key wins, as in a JSON object"
    );
    assert_eq!(
        fields.get("extra"),
        Some(&Field::Other(json!({"nested": [1, null]})))
    );
    assert_eq!(alarm.site_id().as_deref(), Some("7"));
    assert_eq!(fields.get("missing"), None);
}
