//! Tests of the webhooks registry and its signed notifications, with a receiver on loopback.

use std::time::Duration;

use axum::body::Bytes;
use axum::http::HeaderMap;
use hmac::{Hmac, Mac};
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::sync::mpsc;

use super::tests_cards::{ALICE, BOB, call, post_as, post_card, start_with_people};
use super::*;

/// A notification as the receiver got it: its signature header and its exact bytes.
pub(super) struct Received {
    pub(super) signature: Option<String>,
    pub(super) body: Bytes,
    pub(super) json: Value,
}

/// A webhook target on loopback: answers 200 and hands every request over.
pub(super) async fn receiver(
    shutdown: &CancellationToken,
) -> (String, mpsc::UnboundedReceiver<Received>) {
    let (sender, received) = mpsc::unbounded_channel();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: HeaderMap, body: Bytes| {
            let sender = sender.clone();
            async move {
                let signature = headers
                    .get("x-spark-signature")
                    .map(|value| value.to_str().unwrap().to_owned());
                let json = serde_json::from_slice(&body).unwrap();
                let _ = sender.send(Received {
                    signature,
                    body,
                    json,
                });
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let shutdown = shutdown.clone();
    tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(shutdown.cancelled_owned())
            .await
    });
    (url, received)
}

pub(super) async fn next(received: &mut mpsc::UnboundedReceiver<Received>) -> Received {
    tokio::time::timeout(Duration::from_secs(10), received.recv())
        .await
        .expect("a notification in time")
        .expect("the receiver runs")
}

/// The deliveries once `count` are recorded (a record follows the target's answer).
async fn deliveries(sim: &WebexSim, count: usize) -> Vec<Delivery> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let deliveries = sim.deliveries();
        if deliveries.len() >= count {
            return deliveries;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{count} deliveries recorded"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

pub(super) async fn register(sim: &WebexSim, token: &str, body: Value) -> (StatusCode, Value) {
    post_as(sim, token, "/v1/webhooks", body).await
}

fn hmac_sha1_hex(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<sha1::Sha1>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(body);
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

#[test]
fn the_signature_is_the_documented_hmac_sha1_of_the_exact_bytes() {
    let body = std::fs::read(format!(
        "{}/tests/data/webex/webhook-messages-created-doc-example-compact-exact-bytes.json",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    assert_eq!(
        webhooks::sign("webhook-secret-from-post-v1-webhooks", &body),
        "4a7d8a9f8adc87192c16b10d8e4345022c74f2ab"
    );
}

#[tokio::test]
async fn webhooks_are_registered_listed_read_and_deleted_by_their_owner_only() {
    let (sim, _shutdown) = start_with_people().await;
    let body = json!({"name": "bot", "targetUrl": "http://127.0.0.1:1/hook", "resource": "messages", "event": "created", "secret": "s3"});
    let (status, created) = register(&sim, "sim-bot-token", body).await;
    assert_eq!(status, StatusCode::OK, "{created}");
    assert_eq!(created["status"], "active");
    assert_eq!(created["ownedBy"], "creator");
    assert_eq!(created["resource"], "messages");
    assert_eq!(
        created["createdBy"],
        sim.person_id(api::BOT_EMAIL).unwrap().as_str()
    );
    let id = created["id"].as_str().unwrap();
    let url = |path: &str| format!("{}{path}", sim.base_url());
    let (_, listed) = call(
        reqwest::Method::GET,
        url("/v1/webhooks"),
        Some("sim-bot-token"),
        None,
    )
    .await;
    assert_eq!(listed["items"][0], created);
    let (_, theirs) = call(reqwest::Method::GET, url("/v1/webhooks"), Some(ALICE), None).await;
    assert_eq!(theirs["items"], json!([]));
    let one = url(&format!("/v1/webhooks/{id}"));
    let (status, _) = call(reqwest::Method::GET, one.clone(), Some(ALICE), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, read) = call(
        reqwest::Method::GET,
        one.clone(),
        Some("sim-bot-token"),
        None,
    )
    .await;
    assert_eq!((status, read), (StatusCode::OK, created.clone()));
    let (status, _) = call(reqwest::Method::DELETE, one.clone(), Some(ALICE), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = call(
        reqwest::Method::DELETE,
        one.clone(),
        Some("sim-bot-token"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = call(reqwest::Method::DELETE, one, Some("sim-bot-token"), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_registration_is_checked_against_the_modelled_resources_events_and_filters() {
    let (sim, _shutdown) = start_with_people().await;
    let base = json!({"name": "n", "targetUrl": "http://127.0.0.1:1/hook", "resource": "messages", "event": "created"});
    let with = |key: &str, value: Value| {
        let mut body = base.clone();
        body[key] = value;
        body
    };
    let refused = [
        with("targetUrl", Value::Null),
        with("targetUrl", "not a url".into()),
        with("name", "".into()),
        with("resource", "meetings".into()),
        with("event", "started".into()),
        json!({"name": "n", "targetUrl": "http://127.0.0.1:1/hook", "resource": "attachmentActions", "event": "deleted"}),
        with("filter", "hasFiles=true".into()),
        with("filter", "roomId=x&bogus=y".into()),
    ];
    for body in refused {
        let (status, answer) = register(&sim, "sim-bot-token", body.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body} → {answer}");
        assert!(answer["trackingId"].is_string());
    }
    let (status, _) = register(
        &sim,
        "sim-bot-token",
        with("filter", "roomId=x&personEmail=a@b".into()),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = register(&sim, "nobody", base).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_card_and_its_click_are_notified_in_order_signed_and_thin() {
    let (sim, shutdown) = start_with_people().await;
    let (target, mut received) = receiver(&shutdown).await;
    for resource in ["messages", "attachmentActions"] {
        let body = json!({"name": resource, "targetUrl": target, "resource": resource, "event": "created", "secret": "topsecret"});
        assert_eq!(
            register(&sim, "sim-bot-token", body).await.0,
            StatusCode::OK
        );
    }
    let message = post_card(&sim, "NOC").await;
    let action = sim
        .click(&message, "alice@example.com", json!({"netpulse": "ack"}))
        .unwrap();
    let first = next(&mut received).await;
    assert_eq!(
        first.signature.as_deref(),
        Some(hmac_sha1_hex("topsecret", &first.body).as_str())
    );
    assert_eq!(
        (&first.json["resource"], &first.json["event"]),
        (&json!("messages"), &json!("created"))
    );
    assert_eq!(first.json["data"]["id"], message.as_str());
    assert_eq!(
        first.json["data"]["roomId"],
        sim.room_id("NOC").unwrap().as_str()
    );
    assert!(first.json["data"].get("text").is_none(), "the data is thin");
    assert!(first.json.get("secret").is_none());
    let second = next(&mut received).await;
    assert_eq!(
        second.signature.as_deref(),
        Some(hmac_sha1_hex("topsecret", &second.body).as_str())
    );
    assert_eq!(second.json["resource"], "attachmentActions");
    assert_eq!(
        second.json["actorId"],
        sim.person_id("alice@example.com").unwrap().as_str()
    );
    let data = &second.json["data"];
    assert_eq!(
        (&data["id"], &data["messageId"], &data["type"]),
        (&json!(action.id), &json!(message), &json!("submit"))
    );
    assert!(data.get("inputs").is_none(), "inputs are fetched, not sent");
    let (status, fetched) = call(
        reqwest::Method::GET,
        format!("{}/v1/attachment/actions/{}", sim.base_url(), action.id),
        Some("sim-bot-token"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(fetched["inputs"], json!({"netpulse": "ack"}));
    let deliveries = deliveries(&sim, 2).await;
    assert_eq!(deliveries.len(), 2);
    assert!(
        deliveries
            .iter()
            .all(|delivery| delivery.status == Some(200))
    );
}

#[tokio::test]
async fn filters_membership_and_events_decide_who_is_notified() {
    let (sim, shutdown) = start_with_people().await;
    let (target, mut received) = receiver(&shutdown).await;
    let (noc, ops) = (sim.room_id("NOC").unwrap(), sim.room_id("Ops").unwrap());
    let hooks = [
        (
            "sim-bot-token",
            "bot-ops-created",
            "created",
            Some(format!("roomId={ops}")),
        ),
        (
            "sim-bot-token",
            "bot-noc-all",
            "all",
            Some(format!("roomId={noc}&personEmail=alice@example.com")),
        ),
        // Bob is not in NOC: nothing from NOC reaches his webhook.
        (BOB, "bob-all", "all", None),
    ];
    for (token, name, event, filter) in hooks {
        let mut body =
            json!({"name": name, "targetUrl": target, "resource": "messages", "event": event});
        if let Some(filter) = filter {
            body["filter"] = filter.into();
        }
        assert_eq!(register(&sim, token, body).await.0, StatusCode::OK);
    }
    let post = |token: &'static str, room: String, text: &'static str| {
        let sim = sim.clone();
        async move {
            post_as(
                &sim,
                token,
                "/v1/messages",
                json!({"roomId": room, "text": text}),
            )
            .await
            .1
        }
    };
    post(
        "sim-bot-token",
        noc.clone(),
        "bot in NOC: no filter admits it",
    )
    .await;
    let alice = post(ALICE, noc.clone(), "alice in NOC").await;
    let url = format!(
        "{}/v1/messages/{}",
        sim.base_url(),
        alice["id"].as_str().unwrap()
    );
    let (status, _) = call(
        reqwest::Method::PUT,
        url,
        Some(ALICE),
        Some(json!({"roomId": noc, "text": "alice edited"})),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    post(BOB, ops.clone(), "bob in Ops").await;
    let mut seen = Vec::new();
    for _ in 0..4 {
        let notification = next(&mut received).await;
        assert!(notification.signature.is_none(), "no secret, no signature");
        let json = notification.json;
        seen.push(format!(
            "{} {} {}",
            json["name"].as_str().unwrap(),
            json["event"].as_str().unwrap(),
            json["data"]["personEmail"].as_str().unwrap()
        ));
    }
    assert_eq!(
        seen,
        [
            "bot-noc-all created alice@example.com",
            "bot-noc-all updated alice@example.com",
            "bot-ops-created created bob@example.com",
            "bob-all created bob@example.com",
        ]
    );
    // Deliveries are sent in order, one at a time: the last one seen means none other is due.
    assert_eq!(deliveries(&sim, 4).await.len(), 4);
}

#[tokio::test]
async fn a_deleted_message_is_notified_to_a_deleted_webhook_only() {
    let (sim, shutdown) = start_with_people().await;
    let (target, mut received) = receiver(&shutdown).await;
    for event in ["deleted", "created"] {
        let body = json!({"name": event, "targetUrl": target, "resource": "messages", "event": event, "filter": "personEmail=alice@example.com"});
        assert_eq!(
            register(&sim, "sim-bot-token", body).await.0,
            StatusCode::OK
        );
    }
    let room = sim.room_id("NOC").unwrap();
    let (_, created) = post_as(
        &sim,
        ALICE,
        "/v1/messages",
        json!({"roomId": room, "text": "oops"}),
    )
    .await;
    let url = format!(
        "{}/v1/messages/{}",
        sim.base_url(),
        created["id"].as_str().unwrap()
    );
    let (status, _) = call(reqwest::Method::DELETE, url, Some(ALICE), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let first = next(&mut received).await.json;
    assert_eq!(
        (&first["name"], &first["event"]),
        (&json!("created"), &json!("created"))
    );
    let second = next(&mut received).await.json;
    assert_eq!(
        (&second["name"], &second["event"]),
        (&json!("deleted"), &json!("deleted"))
    );
    assert_eq!(second["data"]["id"], created["id"]);
}

#[tokio::test]
async fn an_unreachable_target_is_recorded_and_the_next_notifications_still_go() {
    let (sim, shutdown) = start_with_people().await;
    let (target, mut received) = receiver(&shutdown).await;
    // A port nobody listens on: bound, then released.
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let dead = format!("http://{}/hook", closed.local_addr().unwrap());
    drop(closed);
    for (name, url) in [("dead", dead), ("alive", target)] {
        let body =
            json!({"name": name, "targetUrl": url, "resource": "messages", "event": "created"});
        assert_eq!(
            register(&sim, "sim-bot-token", body).await.0,
            StatusCode::OK
        );
    }
    let room = sim.room_id("NOC").unwrap();
    post_as(
        &sim,
        ALICE,
        "/v1/messages",
        json!({"roomId": room, "text": "hi"}),
    )
    .await;
    assert_eq!(next(&mut received).await.json["name"], "alive");
    let recorded = deliveries(&sim, 2).await;
    assert_eq!(recorded[0].status, None);
    assert!(recorded[0].error.is_some());
    assert_eq!(recorded[1].status, Some(200));
}
