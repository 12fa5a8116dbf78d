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
    let text = running.metrics().await;
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
        .alarm("bus:ce:/ops/monitor:core1 eth1")
        .unwrap()
        .unwrap();
    assert!(alarm.raised);
    assert_eq!(stored(&running), 1);
    running.stop().await;
}

fn platforms() -> String {
    "store: { path: netpulse.db }
http: { listen: \"127.0.0.1:0\" }
sources:
  - name: meraki
    type: webhook
    provider: meraki
    path: /hooks/meraki
    auth: { shared_secret: { secret: \"${MERAKI_SECRET}\" } }
  - name: dnac
    type: webhook
    provider: catalyst_center
    path: /hooks/dnac
    base_url: https://dnac.example.com
    auth: { header: { name: X-Auth-Token, secret: \"${DNAC_TOKEN}\" } }
  - name: te
    type: webhook
    provider: thousandeyes
    path: /hooks/te
    auth: { basic: { username: te, password: \"${TE_PASSWORD}\" } }
  - name: intersight
    type: webhook
    provider: intersight
    path: /hooks/intersight
    auth: { http_signature: { secret: \"${INTERSIGHT_SECRET}\" } }
"
    .to_owned()
}

async fn start_platforms() -> Running {
    Running::start(
        &platforms(),
        &[
            ("MERAKI_SECRET", "meraki-shared-secret"),
            ("DNAC_TOKEN", "dnac-token"),
            ("TE_PASSWORD", "te-password"),
            ("INTERSIGHT_SECRET", "intersight-secret"),
        ],
    )
    .await
}

fn fixtures(folder: &str) -> Vec<(String, Vec<u8>)> {
    let path = format!("{}/tests/data/{folder}", env!("CARGO_MANIFEST_DIR"));
    let mut files: Vec<_> = std::fs::read_dir(path)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|path| {
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read(path).unwrap())
        })
        .collect()
}

/// Meraki's default template: the secret goes in the body.
fn with_secret(body: &[u8], secret: &str) -> Vec<u8> {
    let mut document: Value = serde_json::from_slice(body).unwrap();
    document["sharedSecret"] = secret.into();
    serde_json::to_vec(&document).unwrap()
}

/// An Intersight request signed as the platform does (draft-cavage, HMAC-SHA256), computed here.
fn intersight_request(running: &Running, body: &[u8], date: &str) -> reqwest::RequestBuilder {
    use sha2::Digest as _;
    let url = running.url("/hooks/intersight");
    let host = url
        .trim_start_matches("http://")
        .split('/')
        .next()
        .unwrap()
        .to_owned();
    let digest = format!(
        "SHA-256={}",
        base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(body))
    );
    let signing = format!(
        "(request-target): post /hooks/intersight\nhost: {host}\ndate: {date}\ndigest: {digest}\ncontent-type: application/json"
    );
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(b"intersight-secret").unwrap();
    mac.update(signing.as_bytes());
    let signature = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
    reqwest::Client::new()
        .post(url)
        .header("content-type", "application/json")
        .header("date", date)
        .header("digest", digest)
        .header(
            "authorization",
            format!("Signature keyId=\"k\",algorithm=\"hmac-sha256\",headers=\"(request-target) host date digest content-type\",signature=\"{signature}\""),
        )
        .body(body.to_vec())
}

fn http_date(time: jiff::Timestamp) -> String {
    time.to_zoned_datetime(jiff::tz::TimeZone::UTC)
        .strftime("%a, %d %b %Y %H:%M:%S GMT")
        .to_string()
}

/// Every fixture of every platform is accepted once with its platform's credentials, answered
/// `duplicate` the second time, and stored with the fields a user would check.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_platform_fixture_is_accepted_once_and_a_redelivery_is_a_duplicate() {
    let running = start_platforms().await;
    let client = reqwest::Client::new();
    let mut accepted = 0;
    for (folder, path) in [
        ("meraki", "/hooks/meraki"),
        ("catalyst-center", "/hooks/dnac"),
        ("thousandeyes", "/hooks/te"),
        ("intersight", "/hooks/intersight"),
    ] {
        for (name, body) in fixtures(folder) {
            for attempt in ["accepted", "duplicate"] {
                let request = match folder {
                    "meraki" => client
                        .post(running.url(path))
                        .header("content-type", "application/json")
                        .body(with_secret(&body, "meraki-shared-secret")),
                    "catalyst-center" => client
                        .post(running.url(path))
                        .header("content-type", "application/json")
                        .header("x-auth-token", "dnac-token")
                        .body(body.clone()),
                    "thousandeyes" => client
                        .post(running.url(path))
                        .basic_auth("te", Some("te-password"))
                        .header("content-type", "application/json")
                        .body(body.clone()),
                    _ => intersight_request(&running, &body, &http_date(jiff::Timestamp::now())),
                };
                let response = request.send().await.unwrap();
                let status = response.status();
                let answer: Value = response.json().await.unwrap();
                assert_eq!(status, StatusCode::OK, "{folder}/{name}: {answer}");
                assert_eq!(answer["status"], attempt, "{folder}/{name}");
            }
            accepted += 1;
        }
    }
    assert_eq!(stored(&running), accepted);
    let query = netpulse::store::EventQuery {
        after_seq: Some(0),
        limit: 10_000,
        ..Default::default()
    };
    for event in running.reader().events(&query).unwrap() {
        assert!(
            event.data.get("sharedSecret").is_none(),
            "the Meraki secret is never stored"
        );
        if event.kind.starts_with("com.cisco.catalystcenter.") {
            let link = event.link.as_deref().unwrap_or("");
            assert!(link.starts_with("https://"), "{link}");
        }
    }
    running.stop().await;
}

#[tokio::test]
async fn a_wrong_meraki_secret_or_intersight_signature_is_refused_and_stores_nothing() {
    let running = start_platforms().await;
    let body = fixtures("meraki").remove(0).1;
    let post = |body: Vec<u8>| {
        reqwest::Client::new()
            .post(running.url("/hooks/meraki"))
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    assert_eq!(
        post(with_secret(&body, "wrong")).await.unwrap().status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        post(with_secret(&body, "")).await.unwrap().status(),
        StatusCode::UNAUTHORIZED
    );
    // A custom template that puts the secret in a header.
    let response = reqwest::Client::new()
        .post(running.url("/hooks/meraki"))
        .header("content-type", "application/json")
        .header("authorization", "Bearer meraki-shared-secret")
        .body(with_secret(&body, ""))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);

    let alarm = fixtures("intersight").remove(0).1;
    let now = jiff::Timestamp::now();
    let mut tampered = alarm.clone();
    tampered[20] ^= 1;
    let response = intersight_request(&running, &alarm, &http_date(now))
        .body(tampered)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let stale = http_date(now - jiff::SignedDuration::from_secs(3600));
    let response = intersight_request(&running, &alarm, &stale)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let wrong_token = reqwest::Client::new()
        .post(running.url("/hooks/dnac"))
        .header("content-type", "application/json")
        .header("x-auth-token", "nope")
        .body(fixtures("catalyst-center").remove(0).1)
        .send()
        .await
        .unwrap();
    assert_eq!(wrong_token.status(), StatusCode::UNAUTHORIZED);

    assert_eq!(
        stored(&running),
        1,
        "only the request with the right secret is stored"
    );
    assert_eq!(metric(&running, "meraki", "unauthorized").await, 2);
    assert_eq!(metric(&running, "intersight", "bad_signature").await, 1);
    assert_eq!(metric(&running, "intersight", "stale").await, 1);
    assert_eq!(metric(&running, "dnac", "unauthorized").await, 1);
    running.stop().await;
}

/// A Webex webhook signed as Webex signs it: lowercase hex HMAC-SHA1 of the raw body.
fn spark_signature(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<sha1::Sha1>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(body);
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webex_notification_is_verified_and_its_message_fetched_from_the_webex_api() {
    use netpulse::sim::webex::{WebexSim, WebexSimConfig};
    let sim_shutdown = tokio_util::sync::CancellationToken::new();
    let sim = WebexSim::start(
        WebexSimConfig {
            tokens: vec!["bot-token".to_owned()],
            ..WebexSimConfig::default()
        },
        sim_shutdown.clone(),
    )
    .await
    .unwrap();
    let room = sim.room_id("NOC").unwrap();
    // Somebody posts in the room: the message exists in the (simulated) Webex API.
    let posted: Value = crate::support::send_json(
        reqwest::Client::new()
            .post(format!("{}/v1/messages", sim.base_url()))
            .bearer_auth("bot-token")
            .json(&serde_json::json!({"roomId": room, "text": "show alarms for edge-7"})),
    )
    .await;
    let yaml = format!(
        "store: {{ path: netpulse.db }}
http: {{ listen: \"127.0.0.1:0\" }}
sources:
  - name: bot
    type: webhook
    provider: webex
    path: /hooks/webex
    base_url: {}
    token: \"${{BOT_TOKEN}}\"
    auth: {{ hmac: {{ header: X-Spark-Signature, algorithm: sha1, encoding: hex, secret: \"${{HOOK_SECRET}}\" }} }}
",
        sim.base_url()
    );
    let running = Running::start(
        &yaml,
        &[("BOT_TOKEN", "bot-token"), ("HOOK_SECRET", "hook-secret")],
    )
    .await;
    let fixture =
        crate::support::data("webex/webhook-messages-created-doc-example-compact-exact-bytes.json");
    let mut notification: Value = serde_json::from_slice(&fixture).unwrap();
    notification["data"]["id"] = posted["id"].clone();
    notification["data"]["roomId"] = room.clone().into();
    let body = serde_json::to_vec(&notification).unwrap();
    let post = |signature: String, body: Vec<u8>| {
        reqwest::Client::new()
            .post(running.url("/hooks/webex"))
            .header("content-type", "application/json")
            .header("x-spark-signature", signature)
            .body(body)
            .send()
    };
    let refused = post(spark_signature("other-secret", &body), body.clone())
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    let accepted: Value = post(spark_signature("hook-secret", &body), body.clone())
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(accepted["status"], "accepted", "{accepted}");
    let event = running
        .reader()
        .event(accepted["seq"].as_u64().unwrap())
        .unwrap()
        .unwrap();
    assert_eq!(event.kind, "com.cisco.webex.messages.created");
    assert_eq!(
        event.summary,
        "matt@example.com posted a message: show alarms for edge-7"
    );
    assert_eq!(event.data["message"]["text"], "show alarms for edge-7");

    // A message the API does not know: the notification is still stored, with the reason.
    notification["data"]["id"] = "Y2lzY29zcGFyazovL3VzL01FU1NBR0UvbWlzc2luZw".into();
    let body = serde_json::to_vec(&notification).unwrap();
    let answer: Value = post(spark_signature("hook-secret", &body), body)
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let event = running
        .reader()
        .event(answer["seq"].as_u64().unwrap())
        .unwrap()
        .unwrap();
    assert!(
        event.data["fetch_error"].as_str().unwrap().contains("404"),
        "{}",
        event.data
    );
    running.stop().await;
    sim_shutdown.cancel();
}

/// A NOC asks the bot `alarms?` in a room: the Webex webhook brings the message, and the Webex
/// sink answers in that room with the active alarms.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bot_command_in_a_room_is_answered_with_the_active_alarms() {
    use netpulse::sim::webex::{WebexSim, WebexSimConfig};
    let sim_shutdown = tokio_util::sync::CancellationToken::new();
    let sim = WebexSim::start(
        WebexSimConfig {
            tokens: vec!["bot-token".to_owned()],
            ..WebexSimConfig::default()
        },
        sim_shutdown.clone(),
    )
    .await
    .unwrap();
    let room = sim.room_id("NOC").unwrap();
    let yaml = format!(
        "store: {{ path: netpulse.db }}
http: {{ listen: \"127.0.0.1:0\" }}
sources:
  - name: vmanage
    type: webhook
    provider: sdwan
    path: /hooks/sdwan
    auth: {{ none: true }}
  - name: bot
    type: webhook
    provider: webex
    path: /hooks/webex
    base_url: {base}
    token: \"${{BOT_TOKEN}}\"
    auth: {{ hmac: {{ header: X-Spark-Signature, algorithm: sha1, encoding: hex, secret: \"${{HOOK_SECRET}}\" }} }}
sinks:
  - name: bot-answers
    type: webex
    base_url: {base}
    token: \"${{BOT_TOKEN}}\"
    room_id: \"{room}\"
    commands: true
    match: {{ type_prefix: [com.cisco.webex.message] }}
",
        base = sim.base_url()
    );
    let running = Running::start(
        &yaml,
        &[("BOT_TOKEN", "bot-token"), ("HOOK_SECRET", "hook-secret")],
    )
    .await;
    let alarm = crate::support::sdwan_alarm(
        "webhook-interface-state-change-down-2019.json",
        "a1",
        Some("edge-9"),
    );
    let response = reqwest::Client::new()
        .post(running.url("/hooks/sdwan"))
        .header("content-type", "application/json")
        .body(alarm)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);

    // A person asks (the bot never takes its own messages for commands).
    sim.add_person("matt-token", "matt@example.com", "Matt");
    let posted: Value = crate::support::send_json(
        reqwest::Client::new()
            .post(format!("{}/v1/messages", sim.base_url()))
            .bearer_auth("matt-token")
            .json(&serde_json::json!({"roomId": room, "text": "netpulse alarms?"})),
    )
    .await;
    let fixture =
        crate::support::data("webex/webhook-messages-created-doc-example-compact-exact-bytes.json");
    let mut notification: Value = serde_json::from_slice(&fixture).unwrap();
    notification["data"]["id"] = posted["id"].clone();
    notification["data"]["roomId"] = room.clone().into();
    let body = serde_json::to_vec(&notification).unwrap();
    let response = reqwest::Client::new()
        .post(running.url("/hooks/webex"))
        .header("content-type", "application/json")
        .header("x-spark-signature", spark_signature("hook-secret", &body))
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    crate::support::wait_until("the bot answers in the room", || {
        sim.messages().iter().any(|message| {
            message
                .markdown
                .as_deref()
                .is_some_and(|m| m.contains("Active alarms: 1"))
        })
    })
    .await;
    let answer = sim
        .messages()
        .into_iter()
        .find_map(|message| message.markdown.filter(|m| m.contains("Active alarms")))
        .unwrap();
    assert!(answer.contains("edge-9"), "{answer}");
    running.stop().await;
    sim_shutdown.cancel();
}

#[tokio::test]
async fn a_meraki_body_without_the_secret_is_refused_401_before_anything_is_said_about_it() {
    // A source of its own: metrics are per process, and other tests count Meraki's.
    let running = Running::start(
        "store: { path: netpulse.db }
http: { listen: \"127.0.0.1:0\" }
sources:
  - name: meraki_secret_first
    type: webhook
    provider: meraki
    path: /hooks/meraki
    auth: { shared_secret: { secret: \"${MERAKI_SECRET}\" } }
",
        &[("MERAKI_SECRET", "meraki-shared-secret")],
    )
    .await;
    let post = |body: &'static [u8]| {
        reqwest::Client::new()
            .post(running.url("/hooks/meraki"))
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    let mut answers = Vec::new();
    for body in [
        b"not JSON at all".as_slice(),
        b"{\"alertTypeId\": 7}",
        b"[1, 2, 3]",
        b"{\"sharedSecret\": \"wrong\"}",
    ] {
        let response = post(body).await.unwrap();
        let status = response.status();
        let answer: Value = response.json().await.unwrap();
        assert_eq!(
            status,
            StatusCode::UNAUTHORIZED,
            "{}: {answer}",
            String::from_utf8_lossy(body)
        );
        answers.push(answer);
    }
    assert!(
        answers.windows(2).all(|pair| pair[0] == pair[1]),
        "every failed check gets the same answer, whatever the body: {answers:?}"
    );
    assert_eq!(
        metric(&running, "meraki_secret_first", "unauthorized").await,
        4
    );
    assert_eq!(
        metric(&running, "meraki_secret_first", "malformed").await,
        0
    );
    assert_eq!(stored(&running), 0);
    running.stop().await;
}

fn neighbours() -> String {
    "store: { path: netpulse.db }
http: { listen: \"127.0.0.1:0\" }
sources:
  - name: vmanage
    type: webhook
    provider: sdwan
    path: /hooks/sdwan
    auth: { none: true }
  - name: bus
    type: webhook
    provider: cloudevents
    path: /hooks/bus
    auth: { bearer: { secret: \"${BUS_TOKEN}\" } }
  - name: other
    type: webhook
    provider: cloudevents
    path: /hooks/other
    auth: { bearer: { secret: \"${OTHER_TOKEN}\" } }
"
    .to_owned()
}

async fn post_cloudevent(running: &Running, path: &str, token: &str, event: Value) -> Value {
    crate::support::send_json(
        reqwest::Client::new()
            .post(running.url(path))
            .bearer_auth(token)
            .header("content-type", "application/cloudevents+json")
            .body(event.to_string()),
    )
    .await
}

/// One source cannot touch another's alarms: a CloudEvent naming the SD-WAN source's alarm key
/// leaves that alarm raised.
#[tokio::test]
async fn a_source_cannot_clear_another_sources_alarm() {
    let running = Running::start(
        &neighbours(),
        &[("BUS_TOKEN", "bus-token"), ("OTHER_TOKEN", "other-token")],
    )
    .await;
    let down = crate::support::data("sdwan/webhook-interface-state-change-down-2019.json");
    let raised: Value = crate::support::send_json(
        reqwest::Client::new()
            .post(running.url("/hooks/sdwan"))
            .header("content-type", "application/json")
            .body(down),
    )
    .await;
    assert_eq!(raised["status"], "accepted", "{raised}");
    let forged = serde_json::json!({
        "specversion": "1.0", "id": "forged-1", "source": "/attacker", "type": "x",
        "alarmkey": "sdwan:8459e3a0-5bea-4370-ab57-6f45f8022d66", "alarmstate": "cleared",
    });
    let answer = post_cloudevent(&running, "/hooks/bus", "bus-token", forged).await;
    assert_eq!(answer["status"], "accepted", "{answer}");
    let alarms = running
        .reader()
        .alarms(netpulse::store::AlarmFilter::All, 100)
        .unwrap();
    let sdwan = alarms
        .iter()
        .find(|alarm| alarm.row.first_seq == raised["seq"].as_u64().unwrap())
        .expect("the SD-WAN alarm");
    assert!(
        sdwan.row.raised,
        "another source's event cleared {}",
        sdwan.row.key
    );
    running.stop().await;
}

#[tokio::test]
async fn an_id_pre_sent_to_one_source_is_not_a_redelivery_at_another() {
    let running = Running::start(
        &neighbours(),
        &[("BUS_TOKEN", "bus-token"), ("OTHER_TOKEN", "other-token")],
    )
    .await;
    let event = serde_json::json!({
        "specversion": "1.0", "id": "e-1", "source": "/ops/monitor", "type": "x",
    });
    let preempted = post_cloudevent(&running, "/hooks/other", "other-token", event.clone()).await;
    assert_eq!(preempted["status"], "accepted", "{preempted}");
    let real = post_cloudevent(&running, "/hooks/bus", "bus-token", event.clone()).await;
    assert_eq!(
        real["status"], "accepted",
        "the same id at another source is not a redelivery: {real}"
    );
    let again = post_cloudevent(&running, "/hooks/bus", "bus-token", event).await;
    assert_eq!(again["status"], "duplicate", "{again}");
    running.stop().await;
}
