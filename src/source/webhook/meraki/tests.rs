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

/// What one fixture must normalize to.
struct Expected {
    file: &'static str,
    /// The part of the CloudEvents `type` after `com.cisco.meraki.alert.`.
    type_id: &'static str,
    severity: Severity,
    device: &'static str,
    state: AlarmState,
    summary: &'static str,
    /// `(key after "meraki:N_24329156:Q234-ABCD-5678:" unless it starts with "meraki:", raised)`.
    updates: &'static [(&'static str, bool)],
    /// The hex SHA-256 after `meraki:`, computed outside Rust with
    /// `printf '%s' '<alertId>|<alertTypeId>|<occurredAt>|<networkId>|<deviceSerial>' | sha256sum`.
    key: &'static str,
}

#[allow(clippy::too_many_arguments)]
const fn row(
    file: &'static str,
    type_id: &'static str,
    severity: Severity,
    device: &'static str,
    state: AlarmState,
    summary: &'static str,
    updates: &'static [(&'static str, bool)],
    key: &'static str,
) -> Expected {
    Expected {
        file,
        type_id,
        severity,
        device,
        state,
        summary,
        updates,
        key,
    }
}

use AlarmState::{Cleared, Info as Plain, Raised};
use Severity::{Critical, Info, Warning};
const R: bool = true;
const C: bool = false;

/// One row per file in `tests/data/meraki/`.
#[rustfmt::skip]
const FIXTURES: &[Expected] = &[
    // 2019 payload: no alertTypeId (derived from alertType), no alertLevel (warning, INFER).
    row("docs-node-red-settings-changed-2019.json", "settings_changed", Warning, "Device Foo Bar", Plain,
        "Settings changed on Device Foo Bar (Main Office): name=Routing and DHCP",
        &[], "ae3063a3261fa10ea95cfc85e91396a17c1506cb6919682e88e93c9b26c5a93c"),
    row("official-example-amp-malware-blocked.json", "amp_malware_blocked", Warning, "My appliance", Plain,
        "Malware download blocked on My appliance (Main Office)",
        &[], "ed4beac042c2fca442c638f43017abc24194a50bd1f84e2173bbd91a05332654"),
    row("official-example-client-connectivity.json", "client_connectivity", Warning, "My appliance", Plain,
        "Client connectivity changed on My appliance (Main Office): clientName=Cisco Meraki valued client, ip=192.168.1.2, connected=true",
        &[], "7df9d1af1ead77cfe36abfe175c25a13e7724ce60c16f5d077e82ee8f9027ab7"),
    // `{"uplink": "0"}` says neither down nor up: information.
    row("official-example-failover-event.json", "failover_event", Warning, "My switch", Plain,
        "Uplink status changed on My switch (Main Office): uplink=0",
        &[], "6a7c23eef6a2f1d5731c3d085bf8417c98f431355a64e57ae6555f452af29f08"),
    row("official-example-motion-alert.json", "motion_alert", Info, "My camera", Plain,
        "Motion detected on My camera (Main Office)",
        &[], "be2be32a45d10cc2e9812647c11804455886ba4142e929430953fb5744eda596"),
    // Critical with no clearing type: raises an alarm keyed by its type.
    row("official-example-node-hardware-failure.json", "node_hardware_failure", Critical, "My camera", Raised,
        "Camera may have critical hardware failure on My camera (Main Office)",
        &[("node_hardware_failure", R)], "03420489f45f92eeafc52388d0168b6503179c52bdc0a2b9ec4ca0f8ffb1dc5c"),
    row("official-example-port-connected.json", "port_connected", Info, "My switch", Cleared,
        "Switch port connected on My switch (Main Office): portNum=3, portDesc=Corp Access, status=10 Gbps",
        &[("port:3", C)], "5a5d2da851b6e8378a16623fc534f4f3cbdb630b0ba5e213f7a20e67b5a61736"),
    row("official-example-port-disconnected.json", "port_disconnected", Warning, "My switch", Raised,
        "Switch port disconnected on My switch (Main Office): portNum=3, portDesc=Corp Access, status=down",
        &[("port:3", R)], "b894fb134d61f3681138ca2d8162210c50c639104c90a5f14868a7acfb847caa"),
    row("official-example-power-supply-down.json", "power_supply_down", Critical, "My switch", Raised,
        "Power supply went down on My switch (Main Office): num=2",
        &[("power_supply", R)], "f43844549e54441081693ec643d9be7047dedddd119a291094122a2247f70577"),
    // Network-level: empty device fields, so the network is the device and there is no subject.
    row("official-example-settings-changed.json", "settings_changed", Info, "Main Office", Plain,
        "Settings changed on Main Office: name=Routing and DHCP",
        &[], "2a91788ffab364e3a3fc240726bdd81bf18926f5511d9bf8cfa2938686ca3f64"),
    row("official-example-started-reporting.json", "started_reporting", Info, "My access point", Cleared,
        "APs came up on My access point (Main Office)",
        &[("reporting", C)], "9a89b285903049e83821b42f671513e6539f386710a77bddc6e628c7478e7cf6"),
    row("official-example-stopped-reporting.json", "stopped_reporting", Critical, "My access point", Raised,
        "APs went down on My access point (Main Office)",
        &[("reporting", R)], "a6eee49359ed0f79da0538496fb85ecfdaa56196fcfaa65e57e07bc91f54c8af"),
    row("official-example-usage-alert.json", "usage_alert", Info, "Main Office", Plain,
        "Network usage alert on Main Office: kbTotal=115892215, usageThreshold=104857600",
        &[], "cbf229d75da3013d2444e65a261a5f1ed68732b18c7f0e52e7a658df748a66b4"),
    // `connectivity: "true"`: the tunnel to the peer network is up again.
    row("official-example-vpn-connectivity-change.json", "vpn_connectivity_change", Warning, "My appliance", Cleared,
        "VPN connectivity changed on My appliance (Main Office): peerNetworkName=Corp Access, connectivity=true",
        &[("vpn:N_24329156", C)], "c8ca85e26110c9cd976ab2669ee296ebdc71ff6a9ebd8f41f057128db6ae20ae"),
];

const SCOPE: &str = "meraki:N_24329156:Q234-ABCD-5678:";

fn fixture_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/meraki")
}

fn read_fixture(file: &str) -> Vec<u8> {
    let path = fixture_dir().join(file);
    std::fs::read(&path).unwrap_or_else(|error| panic!("{}: {error}", path.display()))
}

fn fixture_files() -> Vec<String> {
    let mut files: Vec<String> = std::fs::read_dir(fixture_dir())
        .unwrap()
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .collect();
    files.sort();
    files
}

fn normalize_value(document: &Value) -> Normalized {
    normalize("meraki1", &serde_json::to_vec(document).unwrap()).expect("a Meraki alert")
}

fn updates(alert: &Normalized) -> Vec<(String, bool)> {
    alert
        .alarms
        .iter()
        .map(|update| (update.key.clone(), update.raised))
        .collect()
}

#[test]
fn every_fixture_normalizes_to_its_expected_row() {
    for expected in FIXTURES {
        let context = expected.file;
        let body = read_fixture(expected.file);
        let raw: Value = serde_json::from_slice(&body).unwrap();
        let alert =
            normalize("meraki1", &body).unwrap_or_else(|error| panic!("{context}: {error}"));
        let event = &alert.event;
        let expected_updates: Vec<(String, bool)> = expected
            .updates
            .iter()
            .map(|(key, raised)| {
                let key = if key.starts_with("meraki:") {
                    (*key).to_owned()
                } else {
                    format!("{SCOPE}{key}")
                };
                (key, *raised)
            })
            .collect();
        assert_eq!(
            event.kind,
            format!("com.cisco.meraki.alert.{}", expected.type_id),
            "{context}"
        );
        assert_eq!(event.severity, expected.severity, "{context}");
        assert_eq!(event.device, expected.device, "{context}");
        assert_eq!(event.alarmstate, expected.state, "{context}");
        assert_eq!(event.summary, expected.summary, "{context}");
        assert_eq!(updates(&alert), expected_updates, "{context}");
        assert_eq!(
            alert.idempotency_key.as_deref(),
            Some(format!("meraki:{}", expected.key).as_str()),
            "{context}"
        );
        // The same for every fixture: time, source, subject, link, secret and data.
        let occurred: jiff::Timestamp = raw["occurredAt"].as_str().unwrap().parse().unwrap();
        assert_eq!(event.time, occurred, "{context}");
        assert_eq!(event.source, "/netpulse/meraki1", "{context}");
        assert_eq!(
            event.objectclass.as_deref(),
            Some(expected.type_id),
            "{context}"
        );
        let serial = raw["deviceSerial"]
            .as_str()
            .filter(|serial| !serial.is_empty());
        assert_eq!(event.subject.as_deref(), serial, "{context}");
        let device_url = raw["deviceUrl"].as_str().filter(|url| !url.is_empty());
        let link = device_url.or(raw["networkUrl"].as_str());
        assert_eq!(event.link.as_deref(), link, "{context}");
        let mut without_secret = raw.clone();
        without_secret
            .as_object_mut()
            .unwrap()
            .remove("sharedSecret");
        assert_eq!(
            event.data, without_secret,
            "{context}: data is the document minus sharedSecret"
        );
    }
}

#[test]
fn every_file_in_the_fixture_folder_has_a_row() {
    let mut rows: Vec<String> = FIXTURES.iter().map(|row| row.file.to_owned()).collect();
    rows.sort();
    assert_eq!(fixture_files(), rows);
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
    for body in [
        &b""[..],
        b"   ",
        b"{\"alertId\": ",
        b"[1, 2",
        b"{} trailing",
        b"not json",
    ] {
        let error = normalize("m", body).unwrap_err();
        assert_eq!(
            error.kind,
            "malformed",
            "{:?}: {error}",
            String::from_utf8_lossy(body)
        );
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
        let error = normalize("m", body).unwrap_err();
        assert_eq!(
            error.kind,
            "unrecognized",
            "{:?}: {error}",
            String::from_utf8_lossy(body)
        );
        assert!(error.reason.contains(reason), "{error} lacks {reason:?}");
        assert!(error.reason.starts_with("not a Meraki alert: "), "{error}");
    }
}

#[test]
fn no_prefix_or_byte_flip_of_a_fixture_panics() {
    for file in fixture_files() {
        let body = read_fixture(&file);
        for end in 0..body.len() {
            let _ = normalize("m", &body[..end]);
        }
        for (step, replacement) in [(7, b'"'), (11, b'{'), (13, 0xff), (17, b'0'), (19, b'\\')] {
            let mut flipped = body.clone();
            for index in (0..flipped.len()).step_by(step) {
                flipped[index] = replacement;
                let _ = normalize("m", &flipped);
            }
        }
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
