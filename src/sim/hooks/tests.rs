use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::{HeaderMap, Method, Uri};
use base64::Engine as _;
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use super::*;
use crate::config::{BasicAuth, HeaderToken, SecretValue, StandardWebhooksAuth};
use crate::config::{Secret, WebhookAuth};
use crate::source::webhook::verify::{Signed, Verifier};

const WHSEC: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
const OTHER_WHSEC: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

fn options() -> PayloadOptions {
    PayloadOptions {
        meraki_shared_secret: "body-secret".to_owned(),
        cloudevents_mode: CloudEventsMode::Binary,
        cloudevents_source: "/netpulse-sim/test".to_owned(),
    }
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(key, _)| key.eq_ignore_ascii_case(name))
        .map(|(_, value)| value.as_str())
}

// ---- signers -------------------------------------------------------------------------------

#[test]
fn the_standard_webhooks_signer_reproduces_the_specification_vector() {
    let body = include_bytes!(
        "../../../tests/data/generic/standard-webhooks-test-vector-body-exact-bytes.json"
    );
    let key = sign::standard_webhooks_key(WHSEC).unwrap();
    assert_eq!(
        sign::standard_webhooks_signature(
            &key,
            "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk",
            "1649367553",
            body
        ),
        "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw="
    );
    assert!(sign::standard_webhooks_key("whsec_").is_err());
    assert!(sign::standard_webhooks_key("whsec_not base64!").is_err());
}

fn standard_webhooks_verifier(secret: &str) -> Verifier {
    Verifier::new(Some(&WebhookAuth {
        standard_webhooks: Some(StandardWebhooksAuth {
            secrets: vec![Secret::new(secret)],
            tolerance: Duration::from_secs(300),
        }),
        ..WebhookAuth::default()
    }))
}

fn header_map(headers: &[(String, String)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in headers {
        map.insert(
            axum::http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
            value.parse().unwrap(),
        );
    }
    map
}

#[test]
fn a_standard_webhooks_request_verifies_with_the_gateway_and_the_same_secret_only() {
    let mut generator = payloads(Provider::StandardWebhooks, options(), 3, 5);
    let payload = generator.next_payload();
    let url = reqwest::Url::parse("http://127.0.0.1:5001/hooks/sw").unwrap();
    let now = jiff::Timestamp::now();
    let auth = Auth::StandardWebhooks {
        key: sign::standard_webhooks_key(WHSEC).unwrap(),
    };
    let headers = header_map(&auth.headers(&sign::Outgoing {
        method: "POST",
        url: &url,
        body: &payload.body,
        content_type: payload.content_type,
        message_id: &payload.notification,
        now,
    }));
    assert!(payload.notification.starts_with("msg_"));
    assert_eq!(headers["webhook-id"], payload.notification.as_str());
    let signed = |body: &[u8], now| {
        let request = Signed {
            method: "POST",
            path_and_query: "/hooks/sw",
            headers: &headers,
            body,
            now,
        };
        (
            standard_webhooks_verifier(WHSEC).check_body(&request),
            standard_webhooks_verifier(OTHER_WHSEC).check_body(&request),
        )
    };
    let (same, other) = signed(&payload.body, now);
    assert_eq!(same, Ok(()));
    assert_eq!(other.unwrap_err().outcome, "bad_signature");
    let mut tampered = payload.body.clone();
    tampered.push(b' ');
    assert_eq!(
        signed(&tampered, now).0.unwrap_err().outcome,
        "bad_signature"
    );
    let later = now + jiff::SignedDuration::from_secs(600);
    assert_eq!(signed(&payload.body, later).0.unwrap_err().outcome, "stale");
}

#[test]
fn the_hmac_sha1_helper_reproduces_the_webex_vector() {
    let body = include_bytes!(
        "../../../tests/data/webex/webhook-messages-created-doc-example-compact-exact-bytes.json"
    );
    assert_eq!(
        sign::hmac_sha1_hex(b"webhook-secret-from-post-v1-webhooks", body),
        "4a7d8a9f8adc87192c16b10d8e4345022c74f2ab"
    );
}

#[test]
fn the_intersight_digest_of_the_fixture_is_the_published_one() {
    let body = include_bytes!(
        "../../../tests/data/intersight/webhookresult-cond-alarm-modified-trimmed.json"
    );
    assert_eq!(body.len(), 1337);
    assert_eq!(
        sign::digest_header(body),
        "SHA-256=1GedoBzBG6j5ay5T1NeaCJQE0sfcq6Jhh+JMbNCIwoo="
    );
}

#[test]
fn the_http_date_is_imf_fixdate_in_gmt() {
    let time: jiff::Timestamp = "1994-11-06T08:49:37Z".parse().unwrap();
    assert_eq!(sign::http_date(time), "Sun, 06 Nov 1994 08:49:37 GMT");
    let url = reqwest::Url::parse("https://example.net/hooks/i?x=1").unwrap();
    assert_eq!(sign::host_header(&url), "example.net");
    assert_eq!(sign::request_target(&url), "/hooks/i?x=1");
    let url = reqwest::Url::parse("http://127.0.0.1:8080/h").unwrap();
    assert_eq!(sign::host_header(&url), "127.0.0.1:8080");
}

/// The Authorization header's `name="value"` parameters.
fn signature_parameters(authorization: &str) -> HashMap<String, String> {
    let parameters = authorization
        .strip_prefix("Signature ")
        .expect("Authorization: Signature ...");
    parameters
        .split("\",")
        .map(|part| {
            let (name, value) = part.split_once("=\"").expect("name=\"value\"");
            (name.to_owned(), value.trim_end_matches('"').to_owned())
        })
        .collect()
}

/// An Intersight request as received, checked twice: by a recomputation written here from the
/// request as it arrived (not from the signer's inputs), and by the gateway's verifier.
fn check_intersight_request(
    method: &str,
    path_and_query: &str,
    headers: &HeaderMap,
    body: &[u8],
    secret: &[u8],
) {
    let text = |name: &str| headers[name].to_str().unwrap().to_owned();
    let parameters = signature_parameters(&text("authorization"));
    assert_eq!(parameters["keyId"], "netpulse-sim");
    assert_eq!(parameters["algorithm"], "hmac-sha256");
    assert_eq!(
        parameters["headers"],
        "(request-target) host date digest content-type content-length"
    );
    let digest = sha2::Digest::finalize(sha2::Digest::chain_update(
        <sha2::Sha256 as sha2::Digest>::new(),
        body,
    ));
    assert_eq!(
        text("digest"),
        format!(
            "SHA-256={}",
            base64::engine::general_purpose::STANDARD.encode(digest)
        )
    );
    let signing = parameters["headers"]
        .split(' ')
        .map(|name| match name {
            "(request-target)" => format!(
                "(request-target): {} {path_and_query}",
                method.to_lowercase()
            ),
            name => format!("{name}: {}", text(name)),
        })
        .collect::<Vec<_>>()
        .join("\n");
    let mac = <hmac::Hmac<sha2::Sha256> as hmac::Mac>::new_from_slice(secret).unwrap();
    let expected = base64::engine::general_purpose::STANDARD
        .encode(hmac::Mac::finalize(hmac::Mac::chain_update(mac, signing.as_bytes())).into_bytes());
    assert_eq!(
        parameters["signature"], expected,
        "signing string:\n{signing}"
    );
    let date = jiff::fmt::rfc2822::parse(&text("date"))
        .unwrap()
        .timestamp();
    assert!((jiff::Timestamp::now() - date).as_secs().abs() < 60);
    assert_eq!(text("content-length"), body.len().to_string());
    crate::source::webhook::intersight::verify_signature(
        method,
        path_and_query,
        headers,
        body,
        secret,
        jiff::Timestamp::now(),
        Duration::from_secs(300),
    )
    .expect("the gateway verifies the simulator's signature");
    assert!(
        crate::source::webhook::intersight::verify_signature(
            method,
            path_and_query,
            headers,
            body,
            b"another secret",
            jiff::Timestamp::now(),
            Duration::from_secs(300),
        )
        .is_err(),
        "another secret does not verify"
    );
}

#[test]
fn an_intersight_signature_verifies_and_names_exactly_the_published_signing_string() {
    let body = br#"{"ClassId":"mo.WebhookResult"}"#;
    let url = reqwest::Url::parse("http://127.0.0.1:8443/hooks/intersight?x=1").unwrap();
    let now: jiff::Timestamp = "2024-05-01T10:00:00Z".parse().unwrap();
    let headers = Auth::HttpSignature {
        key_id: "netpulse-sim".to_owned(),
        secret: b"s3cret".to_vec(),
    }
    .headers(&sign::Outgoing {
        method: "POST",
        url: &url,
        body,
        content_type: "application/json",
        message_id: "",
        now,
    });
    assert_eq!(header(&headers, "host"), Some("127.0.0.1:8443"));
    assert_eq!(
        header(&headers, "date"),
        Some("Wed, 01 May 2024 10:00:00 GMT")
    );
    let signing = "(request-target): post /hooks/intersight?x=1\nhost: 127.0.0.1:8443\ndate: Wed, 01 May 2024 10:00:00 GMT\ndigest: ".to_owned()
        + &sign::digest_header(body)
        + "\ncontent-type: application/json\ncontent-length: 30";
    let expected = base64::engine::general_purpose::STANDARD
        .encode(sign::hmac_sha256(b"s3cret", signing.as_bytes()));
    let authorization = header(&headers, "authorization").unwrap();
    assert_eq!(signature_parameters(authorization)["signature"], expected);
    assert_eq!(
        authorization,
        format!(
            "Signature keyId=\"netpulse-sim\",algorithm=\"hmac-sha256\",headers=\"(request-target) host date digest content-type content-length\",signature=\"{expected}\""
        )
    );
}

// ---- payloads ------------------------------------------------------------------------------

/// Every provider: bodies are JSON, notification ids are fresh, and every clear follows a raise
/// of the same alarm that is still open (and each raise is cleared at most once).
#[test]
fn every_provider_sends_json_in_raise_clear_pairs_with_fresh_notification_ids() {
    for provider in [
        Provider::Meraki,
        Provider::CatalystCenter,
        Provider::Thousandeyes,
        Provider::Intersight,
        Provider::StandardWebhooks,
        Provider::Cloudevents,
    ] {
        let mut open = HashSet::new();
        let mut notifications = HashSet::new();
        let (mut raises, mut clears) = (0, 0);
        for payload in payloads(provider, options(), 11, 7).take(400) {
            let document: Value = serde_json::from_slice(&payload.body)
                .unwrap_or_else(|error| panic!("{provider:?}: not JSON: {error}"));
            assert!(document.is_object());
            assert!(
                notifications.insert(payload.notification.clone()),
                "{provider:?}: notification id {} repeated",
                payload.notification
            );
            if payload.raised {
                raises += 1;
                // Meraki's single alerts may repeat on a device; paired alarms are fresh.
                let fresh = open.insert(payload.alarm.clone());
                assert!(
                    fresh || provider == Provider::Meraki,
                    "{provider:?}: {}",
                    payload.alarm
                );
            } else {
                clears += 1;
                assert!(
                    open.remove(&payload.alarm),
                    "{provider:?}: a clear of {} that is not open",
                    payload.alarm
                );
            }
        }
        // Meraki also sends alerts that nothing clears (9 kinds beside the 2 pairs).
        let least = if provider == Provider::Meraki { 30 } else { 80 };
        assert!(
            clears > least && raises >= clears,
            "{provider:?}: {raises} raises, {clears} clears"
        );
    }
}

#[test]
fn meraki_alerts_are_fresh_spread_over_devices_and_pair_down_with_up() {
    let mut pending: HashMap<String, Value> = HashMap::new();
    let mut devices = HashSet::new();
    let mut pairs = HashSet::new();
    let now = jiff::Timestamp::now();
    for payload in payloads(Provider::Meraki, options(), 5, 4).take(300) {
        let alert: Value = serde_json::from_slice(&payload.body).unwrap();
        let alert_id = alert["alertId"].as_str().unwrap();
        assert_eq!(alert_id.len(), 16, "{alert_id}");
        assert!(alert_id.bytes().all(|byte| byte.is_ascii_digit()));
        assert_eq!(alert["sharedSecret"], "body-secret");
        for key in ["occurredAt", "sentAt"] {
            let text = alert[key].as_str().unwrap();
            let (_, fraction) = text.trim_end_matches('Z').split_once('.').unwrap();
            assert_eq!(fraction.len(), 6, "{text}: microseconds");
            let time: jiff::Timestamp = text.parse().unwrap();
            assert!((time - now).as_secs().abs() < 60, "{text}");
        }
        let name = alert["deviceName"].as_str().unwrap();
        if !name.is_empty() {
            devices.insert(name.to_owned());
        }
        let kind = alert["alertTypeId"].as_str().unwrap().to_owned();
        match kind.as_str() {
            "stopped_reporting" | "port_disconnected" => {
                pending.insert(payload.alarm.clone(), alert);
            }
            "started_reporting" | "port_connected" => {
                let raise = pending
                    .remove(&payload.alarm)
                    .expect("a raise before its clear");
                let expected = if kind == "started_reporting" {
                    "stopped_reporting"
                } else {
                    "port_disconnected"
                };
                assert_eq!(raise["alertTypeId"], expected);
                for key in ["deviceSerial", "deviceName", "deviceMac"] {
                    assert_eq!(raise[key], alert[key], "{key}");
                }
                assert_eq!(raise["alertData"]["portNum"], alert["alertData"]["portNum"]);
                assert_ne!(raise["alertId"], alert["alertId"]);
                pairs.insert(kind);
            }
            _ => {}
        }
    }
    assert_eq!(pairs.len(), 2, "both pairs were cleared: {pairs:?}");
    assert!(devices.len() > 4, "{devices:?}");
    assert!(devices.iter().all(|name| name.ends_with("-001")
        || name.ends_with("-002")
        || name.ends_with("-003")
        || name.ends_with("-004")));
}

#[test]
fn catalyst_center_issues_go_active_then_resolved_with_the_same_instance_id() {
    let mut active: HashMap<String, Value> = HashMap::new();
    let mut ef_ids = HashSet::new();
    let mut resolved = 0;
    let now = jiff::Timestamp::now().as_millisecond();
    for payload in payloads(Provider::CatalystCenter, options(), 9, 3).take(200) {
        let issue: Value = serde_json::from_slice(&payload.body).unwrap();
        let instance = issue["instanceId"].as_str().unwrap().to_owned();
        assert_eq!(instance, payload.alarm);
        assert!((issue["timestamp"].as_i64().unwrap() - now).abs() < 60_000);
        if let Some(ef) = issue.get("efInstanceId") {
            assert!(
                ef_ids.insert(ef.as_str().unwrap().to_owned()),
                "efInstanceId is fresh"
            );
            assert_ne!(ef.as_str().unwrap(), instance);
        }
        let link = issue["ciscoDnaEventLink"].as_str().unwrap();
        assert!(link.ends_with(&format!("issueId={instance}")), "{link}");
        match issue["details"]["Assurance Issue Status"].as_str().unwrap() {
            "active" => {
                assert!(
                    active.insert(instance, issue).is_none(),
                    "a fresh instanceId per issue"
                );
            }
            "resolved" => {
                let raised = active.remove(&instance).expect("resolved after active");
                assert_eq!(raised["eventId"], issue["eventId"]);
                assert_eq!(raised["details"]["Device"], issue["details"]["Device"]);
                resolved += 1;
            }
            other => panic!("status {other}"),
        }
    }
    assert!(resolved > 40);
    assert!(ef_ids.len() > 20);
}

#[test]
fn thousandeyes_alerts_trigger_then_clear_with_the_same_alert_id_and_new_event_ids() {
    let mut triggered: HashSet<String> = HashSet::new();
    let mut cleared = 0;
    for payload in payloads(Provider::Thousandeyes, options(), 2, 3).take(200) {
        let notification: Value = serde_json::from_slice(&payload.body).unwrap();
        let alert_id = notification["alert"]["alertId"].to_string();
        let event_id = notification["eventId"].as_str().unwrap();
        assert!(event_id.ends_with(&format!("-{alert_id}")), "{event_id}");
        let normalized = crate::source::webhook::thousandeyes::normalize("te", &payload.body)
            .expect("the gateway reads the notification");
        match notification["eventType"].as_str().unwrap() {
            "ALERT_NOTIFICATION_TRIGGER" => {
                assert_eq!(notification["alert"]["active"], 1);
                assert!(triggered.insert(alert_id));
                assert!(normalized.alarms.iter().all(|update| update.raised));
            }
            "ALERT_NOTIFICATION_CLEAR" => {
                assert_eq!(notification["alert"]["active"], 2);
                assert!(triggered.remove(&alert_id), "a clear of a triggered alert");
                assert!(notification["alert"]["dateEnd"].is_string());
                assert!(!normalized.alarms.is_empty());
                assert!(normalized.alarms.iter().all(|update| !update.raised));
                cleared += 1;
            }
            other => panic!("eventType {other}"),
        }
    }
    assert!(cleared > 40);
}

#[test]
fn intersight_alarms_are_raised_critical_then_cleared_with_the_same_moid() {
    let mut raised: HashMap<String, Value> = HashMap::new();
    let mut cleared = 0;
    for payload in payloads(Provider::Intersight, options(), 4, 3).take(200) {
        let result: Value = serde_json::from_slice(&payload.body).unwrap();
        assert_eq!(result["EventObjectType"], "cond.Alarm");
        let event = &result["Event"];
        let moid = event["Moid"].as_str().unwrap().to_owned();
        assert_eq!(moid.len(), 24);
        assert!(moid.bytes().all(|byte| byte.is_ascii_hexdigit()));
        let modified: jiff::Timestamp = event["ModTime"].as_str().unwrap().parse().unwrap();
        assert!((jiff::Timestamp::now() - modified).as_secs().abs() < 60);
        assert_eq!(event["LastTransitionTime"], event["ModTime"]);
        let normalized = crate::source::webhook::intersight::normalize("is", &payload.body)
            .expect("the gateway reads the alarm");
        match event["Severity"].as_str().unwrap() {
            "Critical" => {
                assert!(raised.insert(moid, result.clone()).is_none());
                assert!(normalized.alarms.iter().all(|update| update.raised));
            }
            "Cleared" => {
                let raise = raised.remove(&moid).expect("cleared after raised");
                assert_eq!(raise["Event"]["CreationTime"], event["CreationTime"]);
                assert_eq!(event["OrigSeverity"], "Critical");
                assert!(!normalized.alarms.is_empty());
                assert!(normalized.alarms.iter().all(|update| !update.raised));
                cleared += 1;
            }
            other => panic!("Severity {other}"),
        }
    }
    assert!(cleared > 40);
}

#[test]
fn cloudevents_in_both_modes_are_read_by_the_gateway_as_raise_then_clear_of_one_alarm() {
    for mode in [CloudEventsMode::Binary, CloudEventsMode::Structured] {
        let options = PayloadOptions {
            cloudevents_mode: mode,
            ..options()
        };
        let mut open = HashSet::new();
        let mut cleared = 0;
        for payload in payloads(Provider::Cloudevents, options, 8, 3).take(100) {
            let mut headers = payload.headers.clone();
            headers.push(("content-type".into(), payload.content_type.into()));
            if mode == CloudEventsMode::Binary {
                for name in [
                    "specversion",
                    "id",
                    "source",
                    "type",
                    "time",
                    "subject",
                    "device",
                    "severity",
                    "alarmstate",
                ] {
                    assert!(
                        header(&headers, &format!("ce-{name}")).is_some(),
                        "ce-{name}"
                    );
                }
                assert_eq!(header(&headers, "ce-specversion"), Some("1.0"));
                assert_eq!(header(&headers, "ce-source"), Some("/netpulse-sim/test"));
            } else {
                assert!(payload.headers.is_empty());
                assert!(
                    payload
                        .content_type
                        .starts_with("application/cloudevents+json")
                );
            }
            let normalized = crate::source::webhook::generic::cloudevent(
                "ce",
                &header_map(&headers),
                &payload.body,
                jiff::Timestamp::now(),
            )
            .expect("the gateway reads the event");
            assert_eq!(normalized.event.device, payload.device);
            let [update] = normalized.alarms.as_slice() else {
                panic!("one alarm update: {:?}", normalized.alarms);
            };
            assert_eq!(update.raised, payload.raised);
            if update.raised {
                assert!(open.insert(update.key.clone()));
            } else {
                assert!(open.remove(&update.key), "cleared the alarm it raised");
                cleared += 1;
            }
        }
        assert!(cleared > 20, "{mode:?}");
    }
}

// ---- end to end ----------------------------------------------------------------------------

#[derive(Debug, Clone)]
struct Received {
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Vec<u8>,
}

/// A receiver on 127.0.0.1:0 that answers 200 and keeps every request.
async fn recorder() -> (String, Arc<Mutex<Vec<Received>>>) {
    let received = Arc::new(Mutex::new(Vec::new()));
    let store = received.clone();
    let router = axum::Router::new().fallback(
        move |method: Method, uri: Uri, headers: HeaderMap, body: axum::body::Bytes| {
            let store = store.clone();
            async move {
                store.lock().unwrap().push(Received {
                    method,
                    uri,
                    headers,
                    body: body.to_vec(),
                });
                axum::http::StatusCode::OK
            }
        },
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await });
    (format!("http://{address}"), received)
}

/// Posts `--count 4` with `config` and returns what the receiver saw.
async fn post_four(mut config: HookSimConfig) -> Vec<Received> {
    let (base, received) = recorder().await;
    config.target = format!("{base}{}", config.target);
    config.count = Some(4);
    config.concurrency = 2;
    config.record_accepted = true;
    let report = run(config, CancellationToken::new()).await.unwrap();
    assert_eq!(report.sent, 4);
    assert_eq!(report.by_status.get(&200), Some(&4), "{report:?}");
    assert_eq!(report.accepted_ids.len(), 4);
    let received = received.lock().unwrap().clone();
    assert_eq!(received.len(), 4);
    for request in &received {
        serde_json::from_slice::<Value>(&request.body).expect("a JSON body");
    }
    received
}

fn secret_value(secret: &str) -> SecretValue {
    SecretValue {
        secret: Some(Secret::new(secret)),
        secret_file: None,
    }
}

#[tokio::test]
async fn meraki_posts_the_secret_in_the_body_or_as_a_bearer_token() {
    let verifier = Verifier::new(Some(&WebhookAuth {
        shared_secret: Some(secret_value("s3cret")),
        ..WebhookAuth::default()
    }));
    let mut config = HookSimConfig::new(Provider::Meraki, "/hooks/meraki", Auth::None);
    config.options.meraki_shared_secret = "s3cret".to_owned();
    for request in post_four(config).await {
        assert_eq!(request.method, Method::POST);
        assert_eq!(request.uri.path(), "/hooks/meraki");
        assert_eq!(request.headers["content-type"], "application/json");
        assert!(request.headers.get("authorization").is_none());
        let alert: Value = serde_json::from_slice(&request.body).unwrap();
        assert!(verifier.shared_secret_matches(&request.headers, alert["sharedSecret"].as_str()));
    }
    let config = HookSimConfig::new(
        Provider::Meraki,
        "/hooks/meraki",
        Auth::Bearer("s3cret".to_owned()),
    );
    for request in post_four(config).await {
        assert_eq!(request.headers["authorization"], "Bearer s3cret");
        let alert: Value = serde_json::from_slice(&request.body).unwrap();
        assert_eq!(alert["sharedSecret"], "");
        assert!(!verifier.shared_secret_matches(&HeaderMap::new(), alert["sharedSecret"].as_str()));
        assert!(verifier.shared_secret_matches(&request.headers, alert["sharedSecret"].as_str()));
    }
}

#[tokio::test]
async fn catalyst_center_posts_with_basic_auth_or_a_token_header() {
    let basic = Verifier::new(Some(&WebhookAuth {
        basic: Some(BasicAuth {
            username: "dnac".to_owned(),
            password: Some(Secret::new("pw")),
            password_file: None,
        }),
        ..WebhookAuth::default()
    }));
    let config = HookSimConfig::new(
        Provider::CatalystCenter,
        "/hooks/catc",
        Auth::Basic {
            username: "dnac".to_owned(),
            password: "pw".to_owned(),
        },
    );
    for request in post_four(config).await {
        assert_eq!(request.headers["authorization"], "Basic ZG5hYzpwdw==");
        basic.check_headers(&request.headers).unwrap();
    }
    let token = Verifier::new(Some(&WebhookAuth {
        header: Some(HeaderToken {
            name: "X-Auth-Token".to_owned(),
            secret: Some(Secret::new("tok")),
            secret_file: None,
        }),
        ..WebhookAuth::default()
    }));
    let mut config = HookSimConfig::new(
        Provider::CatalystCenter,
        "/hooks/catc",
        Auth::Header {
            name: "X-Auth-Token".to_owned(),
            value: "tok".to_owned(),
        },
    );
    config.method = reqwest::Method::PUT;
    for request in post_four(config).await {
        assert_eq!(request.method, Method::PUT);
        assert_eq!(request.headers["x-auth-token"], "tok");
        token.check_headers(&request.headers).unwrap();
        assert!(basic.check_headers(&request.headers).is_err());
        let issue: Value = serde_json::from_slice(&request.body).unwrap();
        assert!(issue["instanceId"].is_string());
    }
}

#[tokio::test]
async fn thousandeyes_posts_with_optional_basic_auth() {
    let config = HookSimConfig::new(Provider::Thousandeyes, "/hooks/te", Auth::None);
    for request in post_four(config).await {
        assert!(request.headers.get("authorization").is_none());
        assert_eq!(request.headers["content-type"], "application/json");
    }
    let config = HookSimConfig::new(
        Provider::Thousandeyes,
        "/hooks/te",
        Auth::Basic {
            username: "te".to_owned(),
            password: "pw".to_owned(),
        },
    );
    let received = post_four(config).await;
    for request in &received {
        assert_eq!(request.headers["authorization"], "Basic dGU6cHc=");
    }
    let kinds: HashSet<String> = received
        .iter()
        .map(|request| {
            let notification: Value = serde_json::from_slice(&request.body).unwrap();
            notification["eventType"].as_str().unwrap().to_owned()
        })
        .collect();
    assert!(kinds.contains("ALERT_NOTIFICATION_TRIGGER"), "{kinds:?}");
}

#[tokio::test]
async fn intersight_requests_carry_a_signature_the_gateway_verifies() {
    let config = HookSimConfig::new(
        Provider::Intersight,
        "/hooks/intersight?tenant=lab",
        Auth::HttpSignature {
            key_id: sign::DEFAULT_KEY_ID.to_owned(),
            secret: b"intersight-secret".to_vec(),
        },
    );
    for request in post_four(config).await {
        assert_eq!(request.headers.get_all("host").iter().count(), 1);
        assert!(
            request.headers["host"]
                .to_str()
                .unwrap()
                .starts_with("127.0.0.1:")
        );
        check_intersight_request(
            request.method.as_str(),
            request.uri.path_and_query().unwrap().as_str(),
            &request.headers,
            &request.body,
            b"intersight-secret",
        );
    }
}

#[tokio::test]
async fn standard_webhooks_requests_verify_with_the_gateway() {
    let config = HookSimConfig::new(
        Provider::StandardWebhooks,
        "/hooks/sw",
        Auth::StandardWebhooks {
            key: sign::standard_webhooks_key(WHSEC).unwrap(),
        },
    );
    let received = post_four(config).await;
    let ids: HashSet<&str> = received
        .iter()
        .map(|request| request.headers["webhook-id"].to_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 4);
    for request in &received {
        let body: Value = serde_json::from_slice(&request.body).unwrap();
        assert!(body["type"].as_str().unwrap().starts_with("network.alarm."));
        assert!(
            body["timestamp"]
                .as_str()
                .unwrap()
                .parse::<jiff::Timestamp>()
                .is_ok()
        );
        assert!(body["data"].is_object());
        let signed = Signed {
            method: request.method.as_str(),
            path_and_query: request.uri.path(),
            headers: &request.headers,
            body: &request.body,
            now: jiff::Timestamp::now(),
        };
        standard_webhooks_verifier(WHSEC)
            .check_body(&signed)
            .unwrap();
        assert!(
            standard_webhooks_verifier(OTHER_WHSEC)
                .check_body(&signed)
                .is_err()
        );
    }
}

#[tokio::test]
async fn cloudevents_are_posted_in_binary_and_structured_mode_with_a_bearer_token() {
    let bearer = Verifier::new(Some(&WebhookAuth {
        bearer: Some(secret_value("ce-token")),
        ..WebhookAuth::default()
    }));
    let config = HookSimConfig::new(
        Provider::Cloudevents,
        "/hooks/ce",
        Auth::Bearer("ce-token".to_owned()),
    );
    for request in post_four(config).await {
        bearer.check_headers(&request.headers).unwrap();
        assert_eq!(request.headers["ce-specversion"], "1.0");
        assert!(
            request.headers["ce-source"]
                .to_str()
                .unwrap()
                .starts_with("/netpulse-sim/")
        );
        for name in [
            "ce-id",
            "ce-type",
            "ce-time",
            "ce-subject",
            "ce-device",
            "ce-severity",
        ] {
            assert!(request.headers.contains_key(name), "{name}");
        }
        let state = request.headers["ce-alarmstate"].to_str().unwrap();
        assert!(state == "raised" || state == "cleared", "{state}");
        assert_eq!(request.headers["content-type"], "application/json");
    }
    let mut config = HookSimConfig::new(Provider::Cloudevents, "/hooks/ce", Auth::None);
    config.options.cloudevents_mode = CloudEventsMode::Structured;
    for request in post_four(config).await {
        assert!(request.headers.get("authorization").is_none());
        assert!(request.headers.get("ce-id").is_none());
        assert_eq!(
            request.headers["content-type"],
            "application/cloudevents+json; charset=utf-8"
        );
        let event: Value = serde_json::from_slice(&request.body).unwrap();
        assert_eq!(event["specversion"], "1.0");
        assert!(event["data"].is_object());
        crate::source::webhook::generic::cloudevent(
            "ce",
            &request.headers,
            &request.body,
            jiff::Timestamp::now(),
        )
        .expect("the gateway reads it");
    }
}

// ---- command line --------------------------------------------------------------------------

#[derive(clap::Parser, Debug)]
enum Sim {
    Meraki(MerakiSimArgs),
    CatalystCenter(CatalystCenterSimArgs),
    Thousandeyes(ThousandeyesSimArgs),
    Intersight(IntersightSimArgs),
    StandardWebhooks(StandardWebhooksSimArgs),
    Cloudevents(CloudeventsSimArgs),
}

fn parse_sim(line: &str) -> Result<Sim, clap::Error> {
    <Sim as clap::Parser>::try_parse_from(
        std::iter::once("sim").chain(line.split_ascii_whitespace()),
    )
}

fn config_of(line: &str) -> HookSimConfig {
    match parse_sim(line).unwrap_or_else(|error| panic!("{line}: {error}")) {
        Sim::Meraki(args) => args.into_config(),
        Sim::CatalystCenter(args) => args.into_config(),
        Sim::Thousandeyes(args) => args.into_config(),
        Sim::Intersight(args) => args.into_config(),
        Sim::StandardWebhooks(args) => args.into_config(),
        Sim::Cloudevents(args) => args.into_config(),
    }
    .unwrap_or_else(|error| panic!("{line}: {error}"))
}

/// The README's examples parse; with literal secrets they become the documented schemes.
#[test]
fn the_command_lines_parse_into_the_documented_schemes() {
    for line in [
        "meraki --target https://127.0.0.1:5001/hooks/meraki --ca-file /tmp/ca.pem --secret-env MERAKI_SHARED_SECRET --devices 20 --rate 5 --count 200",
        "meraki --target http://127.0.0.1:5001/hooks/meraki --secret-env MERAKI_SHARED_SECRET --secret-in authorization --count 200",
        "catalyst-center --target http://127.0.0.1:5001/hooks/catalyst-center --username dnac --password-env CATC_HOOK_PASSWORD --rate 2 --count 100",
        "catalyst-center --target http://127.0.0.1:5001/hooks/catalyst-center --token-header X-Auth-Token --token-env CATC_HOOK_TOKEN --method put --count 100",
        "thousandeyes --target http://127.0.0.1:5001/hooks/thousandeyes --username te --password-env TE_HOOK_PASSWORD --rate 2 --count 100",
        "intersight --target http://127.0.0.1:5001/hooks/intersight --secret-env INTERSIGHT_WEBHOOK_SECRET --rate 2 --count 100",
        "standard-webhooks --target http://127.0.0.1:5001/hooks/standard --secret-env STANDARD_WEBHOOKS_SECRET --rate 2 --count 100",
        "cloudevents --target http://127.0.0.1:5001/hooks/cloudevents --mode structured --token-env CE_HOOK_TOKEN --concurrency 4 --count 100",
    ] {
        parse_sim(line).unwrap_or_else(|error| panic!("{line}: {error}"));
    }
    assert!(
        parse_sim("catalyst-center --target http://x/ --username u --token-header X-Auth-Token")
            .is_err()
    );
    assert!(parse_sim("meraki --target http://x/ --ca-file /tmp/ca.pem --insecure").is_err());

    let config = config_of("meraki --target http://x/h --secret s");
    assert!(matches!(config.auth, Auth::None));
    assert_eq!(config.options.meraki_shared_secret, "s");
    let config = config_of("meraki --target http://x/h --secret s --secret-in authorization");
    assert!(matches!(&config.auth, Auth::Bearer(token) if token == "s"));
    assert_eq!(config.options.meraki_shared_secret, "");
    let config =
        config_of("catalyst-center --target http://x/h --username u --password p --method put");
    assert!(
        matches!(&config.auth, Auth::Basic { username, password } if username == "u" && password == "p")
    );
    assert_eq!(config.method, reqwest::Method::PUT);
    let config =
        config_of("catalyst-center --target http://x/h --token-header X-Auth-Token --token t");
    assert!(
        matches!(&config.auth, Auth::Header { name, value } if name == "X-Auth-Token" && value == "t")
    );
    assert!(matches!(
        config_of("thousandeyes --target http://x/h").auth,
        Auth::None
    ));
    let config =
        config_of("intersight --target http://x/h --secret s --devices 3 --seed 9 --count 7");
    assert!(
        matches!(&config.auth, Auth::HttpSignature { key_id, secret } if key_id == "netpulse-sim" && secret == b"s")
    );
    assert_eq!((config.devices, config.seed, config.count), (3, 9, Some(7)));
    let config = config_of(&format!(
        "standard-webhooks --target http://x/h --secret {WHSEC}"
    ));
    assert!(matches!(&config.auth, Auth::StandardWebhooks { key } if key.len() == 24));
    let config = config_of("cloudevents --target http://x/h --source /lab/a");
    assert!(matches!(config.auth, Auth::None));
    assert_eq!(config.options.cloudevents_mode, CloudEventsMode::Binary);
    assert_eq!(config.options.cloudevents_source, "/lab/a");
    // Missing secrets are named.
    let error = match parse_sim("intersight --target http://x/h").unwrap() {
        Sim::Intersight(args) => args.into_config().err().unwrap().to_string(),
        other => panic!("{other:?}"),
    };
    assert!(error.contains("--secret-env"), "{error}");
}
