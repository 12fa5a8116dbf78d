//! Tests of the WDM registrations and the Mercury socket, against a running simulator.

use std::time::Duration;

use base64::Engine as _;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::{self, Message, protocol::CloseFrame};

use crate::sim::webex::WebexSim;
use crate::sim::webex::tests::{get_json, start};

type Client =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Registers with the body the webex_bot Python client sends (`tests/data/webex/`), renamed.
async fn register(sim: &WebexSim, name: &str) -> Value {
    let fixture = std::fs::read(format!(
        "{}/tests/data/webex/wdm-device-registration-request-webex_bot.json",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    let mut body: Value = serde_json::from_slice(&fixture).unwrap();
    body["name"] = name.into();
    let response = reqwest::Client::new()
        .post(format!("{}/devices", sim.wdm_url()))
        .bearer_auth("sim-bot-token")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success());
    response.json().await.unwrap()
}

async fn next_json(socket: &mut Client) -> Value {
    loop {
        let message = tokio::time::timeout(Duration::from_secs(10), socket.next())
            .await
            .expect("a frame in time")
            .expect("socket open")
            .unwrap();
        if let Message::Text(text) = message {
            return serde_json::from_str(text.as_str()).unwrap();
        }
    }
}

async fn connect(device: &Value) -> Client {
    let url = device["webSocketUrl"].as_str().unwrap();
    let (mut socket, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    let auth =
        json!({"id": "a1", "type": "authorization", "data": {"token": "Bearer sim-bot-token"}});
    socket.send(Message::text(auth.to_string())).await.unwrap();
    let ready = next_json(&mut socket).await;
    assert_eq!(ready["data"]["eventType"], "mercury.buffer_state");
    assert!(ready.get("type").is_none());
    socket
}

#[tokio::test]
async fn devices_are_registered_listed_refreshed_and_deleted_with_the_owner_token() {
    let (sim, _shutdown) = start().await;
    let http = reqwest::Client::new();
    let unauthorized = http
        .get(format!("{}/devices", sim.wdm_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(unauthorized.status(), 401);
    let device = register(&sim, "bot-a").await;
    let url = device["url"].as_str().unwrap();
    assert!(
        device["webSocketUrl"]
            .as_str()
            .unwrap()
            .starts_with("ws://")
    );
    let listed = get_json(format!("{}/devices", sim.wdm_url())).await;
    assert_eq!(listed["devices"][0]["name"], "bot-a");
    assert_eq!(listed["devices"][0]["deviceType"], "DESKTOP");
    let refreshed = http
        .put(url)
        .bearer_auth("sim-bot-token")
        .json(&json!({"name": "bot-a"}))
        .send()
        .await
        .unwrap();
    assert!(refreshed.status().is_success());
    let deleted = http
        .delete(url)
        .bearer_auth("sim-bot-token")
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 204);
    let gone = http
        .put(url)
        .bearer_auth("sim-bot-token")
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(gone.status(), 404);
    let refused = tokio_tungstenite::connect_async(device["webSocketUrl"].as_str().unwrap())
        .await
        .unwrap_err();
    assert!(refused.to_string().contains("404"), "{refused}");
}

#[tokio::test]
async fn a_post_reaches_the_socket_as_an_activity_whose_hydra_id_is_the_message() {
    let (sim, _shutdown) = start().await;
    sim.add_person("ann-token", "ann@example.com", "Ann");
    let device = register(&sim, "bot").await;
    let mut socket = connect(&device).await;
    socket
        .send(Message::text(r#"{"id":"p1","type":"ping"}"#))
        .await
        .unwrap();
    assert_eq!(
        next_json(&mut socket).await,
        json!({"type": "pong", "id": "p1"})
    );
    let http = reqwest::Client::new();
    let created: Value = http
        .post(format!("{}/v1/messages", sim.base_url()))
        .bearer_auth("ann-token")
        .json(&json!({"roomId": sim.room_id("NOC").unwrap(), "text": "hello"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let envelope = next_json(&mut socket).await;
    assert_eq!(envelope["sequenceNumber"], 1);
    assert_eq!(envelope["data"]["eventType"], "conversation.activity");
    let activity = &envelope["data"]["activity"];
    assert_eq!(activity["verb"], "post");
    assert_eq!(activity["actor"]["emailAddress"], "ann@example.com");
    assert_eq!(activity["object"]["objectType"], "comment");
    assert_eq!(activity["target"]["objectType"], "conversation");
    let hydra = base64::engine::general_purpose::STANDARD_NO_PAD.encode(format!(
        "ciscospark://us/MESSAGE/{}",
        activity["id"].as_str().unwrap()
    ));
    assert_eq!(created["id"], hydra.as_str());
    let fetched = get_json(format!("{}/v1/messages/{hydra}", sim.base_url())).await;
    assert_eq!(fetched["text"], "hello");
    assert_eq!(fetched["personEmail"], "ann@example.com");
    let ack = json!({"messageId": envelope["id"], "type": "ack"});
    socket.send(Message::text(ack.to_string())).await.unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while sim.mercury_stats().acks.is_empty() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the ack is recorded"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(
        sim.mercury_stats().acks[0],
        envelope["id"].as_str().unwrap()
    );
}

#[tokio::test]
async fn a_second_connection_replaces_the_first_and_late_authorization_is_refused() {
    let (sim, _shutdown) = start().await;
    let device = register(&sim, "bot").await;
    let mut first = connect(&device).await;
    let _second = connect(&device).await;
    let frame = close_frame(&mut first).await;
    assert_eq!(u16::from(frame.code), 4000);
    assert_eq!(frame.reason.as_str(), "replaced");

    sim.set_auth_deadline(Duration::from_millis(100));
    let url = device["webSocketUrl"].as_str().unwrap();
    let (mut silent, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    let frame = close_frame(&mut silent).await;
    assert_eq!(u16::from(frame.code), 1008);
}

/// The close frame the simulator sends on `socket` (within 10 s).
async fn close_frame<S>(socket: &mut S) -> CloseFrame
where
    S: futures_util::Stream<Item = Result<Message, tungstenite::Error>> + Unpin,
{
    let closed = tokio::time::timeout(Duration::from_secs(10), socket.next())
        .await
        .unwrap();
    let Some(Ok(Message::Close(Some(frame)))) = closed else {
        panic!("expected a close frame, got {closed:?}");
    };
    frame
}

#[tokio::test]
async fn a_click_reaches_the_socket_as_a_card_action_whose_hydra_id_is_the_action() {
    let (sim, _shutdown) = start().await;
    sim.add_person("ann-token", "ann@example.com", "Ann");
    let device = register(&sim, "bot").await;
    let mut socket = connect(&device).await;
    let card = json!([{
        "contentType": "application/vnd.microsoft.card.adaptive",
        "content": {"type": "AdaptiveCard", "version": "1.3", "actions": [{"type": "Action.Submit", "title": "Ack"}]},
    }]);
    let created: Value = reqwest::Client::new()
        .post(format!("{}/v1/messages", sim.base_url()))
        .bearer_auth("sim-bot-token")
        .json(&json!({"roomId": sim.room_id("NOC").unwrap(), "text": "card", "attachments": card}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let post = next_json(&mut socket).await;
    assert_eq!(post["data"]["activity"]["verb"], "post");
    let message_id = created["id"].as_str().unwrap();
    let action = sim
        .click(message_id, "ann@example.com", json!({"netpulse": "ack"}))
        .unwrap();
    let envelope = next_json(&mut socket).await;
    assert_eq!(envelope["sequenceNumber"], 2);
    let activity = &envelope["data"]["activity"];
    assert_eq!(activity["verb"], "cardAction");
    assert_eq!(activity["actor"]["emailAddress"], "ann@example.com");
    assert_eq!(activity["actor"]["type"], "PERSON");
    assert_eq!(activity["target"], post["data"]["activity"]["target"]);
    assert_eq!(activity["parent"]["id"], post["data"]["activity"]["id"]);
    let hydra = base64::engine::general_purpose::STANDARD_NO_PAD.encode(format!(
        "ciscospark://us/ATTACHMENT_ACTION/{}",
        activity["id"].as_str().unwrap()
    ));
    assert_eq!(action.id, hydra);
    let fetched = get_json(format!("{}/v1/attachment/actions/{hydra}", sim.base_url())).await;
    assert_eq!(fetched["inputs"], json!({"netpulse": "ack"}));
    assert_eq!(fetched["messageId"], message_id);
}
