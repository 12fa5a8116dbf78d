//! Webhook providers beyond SD-WAN, over real HTTP: signatures computed here independently of the
//! verifier, tampering, wrong secrets, stale timestamps and replays, each with its status and
//! metric, and nothing stored for a refused request.

use base64::Engine as _;
use hmac::{Hmac, Mac};
use reqwest::StatusCode;
use serde_json::Value;

use crate::support::Running;

const SECRET: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";

fn config() -> String {
    "store: { path: netpulse.db }
http: { listen: \"127.0.0.1:0\" }
sources:
  - name: app
    type: webhook
    provider: standard_webhooks
    path: /hooks/app
    auth: { standard_webhooks: { secrets: [\"${SW_SECRET}\"] } }
  - name: bus
    type: webhook
    provider: cloudevents
    path: /hooks/bus
    auth: { bearer: { secret: \"${BUS_TOKEN}\" } }
"
    .to_owned()
}

async fn start() -> Running {
    Running::start(
        &config(),
        &[("SW_SECRET", SECRET), ("BUS_TOKEN", "bus-token-1")],
    )
    .await
}

/// A Standard Webhooks signature, computed as the specification describes.
fn sign(id: &str, timestamp: i64, body: &[u8]) -> String {
    let key = base64::engine::general_purpose::STANDARD
        .decode(SECRET.trim_start_matches("whsec_"))
        .unwrap();
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(&key).unwrap();
    mac.update(format!("{id}.{timestamp}.").as_bytes());
    mac.update(body);
    let signature = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
    format!("v1,{signature}")
}

async fn post_signed(
    running: &Running,
    id: &str,
    timestamp: i64,
    signature: &str,
    body: &[u8],
) -> (StatusCode, Value) {
    let response = reqwest::Client::new()
        .post(running.url("/hooks/app"))
        .header("content-type", "application/json")
        .header("webhook-id", id)
        .header("webhook-timestamp", timestamp.to_string())
        .header("webhook-signature", signature)
        .body(body.to_vec())
        .send()
        .await
        .unwrap();
    let status = response.status();
    (status, response.json().await.unwrap())
}

fn stored(running: &Running) -> usize {
    let query = netpulse::store::EventQuery {
        after_seq: Some(0),
        limit: 10_000,
        ..Default::default()
    };
    running.reader().events(&query).unwrap().len()
}

async fn metric(running: &Running, source: &str, outcome: &str) -> u64 {
    let text = reqwest::get(running.url("/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let prefix =
        format!("netpulse_webhook_requests_total{{source=\"{source}\",outcome=\"{outcome}\"}} ");
    text.lines()
        .find_map(|line| line.strip_prefix(&prefix))
        .map_or(0, |value| value.parse().unwrap())
}

#[tokio::test]
async fn standard_webhooks_are_verified_and_a_replay_tamper_wrong_key_or_stale_time_stores_nothing_new()
 {
    let running = start().await;
    let body =
        br#"{"type":"contact.created","timestamp":"2026-11-28T10:00:00Z","data":{"id":"c1"}}"#;
    let now = jiff::Timestamp::now().as_second();
    let (status, answer) =
        post_signed(&running, "msg_1", now, &sign("msg_1", now, body), body).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["status"], "accepted");
    assert_eq!(stored(&running), 1);

    // The sender retries the same message (same id, a new attempt time and signature).
    let (status, answer) = post_signed(
        &running,
        "msg_1",
        now + 5,
        &sign("msg_1", now + 5, body),
        body,
    )
    .await;
    assert_eq!(
        (status, answer["status"].as_str()),
        (StatusCode::OK, Some("duplicate"))
    );

    let mut tampered = body.to_vec();
    tampered[10] ^= 1;
    let (status, _) =
        post_signed(&running, "msg_2", now, &sign("msg_2", now, body), &tampered).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = post_signed(&running, "msg_3", now, "v1,AAAA", body).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let old = now - 600;
    let (status, answer) =
        post_signed(&running, "msg_4", old, &sign("msg_4", old, body), body).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(
        answer["error"]
            .as_str()
            .unwrap()
            .contains("webhook-timestamp"),
        "{answer}"
    );

    assert_eq!(stored(&running), 1, "nothing refused was stored");
    assert_eq!(metric(&running, "app", "accepted").await, 1);
    assert_eq!(metric(&running, "app", "duplicate").await, 1);
    assert_eq!(metric(&running, "app", "bad_signature").await, 2);
    assert_eq!(metric(&running, "app", "stale").await, 1);
    running.stop().await;
}

#[tokio::test]
async fn cloudevents_in_binary_mode_raise_an_alarm_behind_a_bearer_token() {
    let running = start().await;
    let post = |token: &'static str, id: &'static str| {
        reqwest::Client::new()
            .post(running.url("/hooks/bus"))
            .bearer_auth(token)
            .header("content-type", "application/json")
            .header("ce-specversion", "1.0")
            .header("ce-id", id)
            .header("ce-source", "/ops/monitor")
            .header("ce-type", "com.example.link.down")
            .header("ce-subject", "core1 eth1")
            .header("ce-severity", "major")
            .header("ce-alarmstate", "raised")
            .body(r#"{"port":"eth1"}"#)
            .send()
    };
    assert_eq!(
        post("wrong-token", "1").await.unwrap().status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        post("bus-token-1", "1").await.unwrap().status(),
        StatusCode::OK
    );
    let again: Value = post("bus-token-1", "1")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(again["status"], "duplicate");
    let alarm = running
        .reader()
        .alarm("ce:/ops/monitor:core1 eth1")
        .unwrap()
        .unwrap();
    assert!(alarm.raised);
    assert_eq!(stored(&running), 1);
    running.stop().await;
}
