//! Tests of cards in messages, attachment actions (the API, the control click) and edits.

use base64::Engine as _;
use reqwest::StatusCode;
use serde_json::{Value, json};

use super::tests::start;
use super::*;

pub(super) const ALICE: &str = "alice-token";
pub(super) const BOB: &str = "bob-token";

/// A simulator with rooms NOC and Ops, Alice in NOC and Bob in Ops only.
pub(super) async fn start_with_people() -> (WebexSim, CancellationToken) {
    let shutdown = CancellationToken::new();
    let config = WebexSimConfig {
        rooms: vec!["NOC".to_owned(), "Ops".to_owned()],
        people: vec![
            "alice@example.com:alice-token:Alice Example:NOC"
                .parse()
                .unwrap(),
            "bob@example.com:bob-token:Bob Example:Ops".parse().unwrap(),
        ],
        ..WebexSimConfig::default()
    };
    let sim = WebexSim::start(config, shutdown.clone()).await.unwrap();
    (sim, shutdown)
}

pub(super) fn card() -> Value {
    json!([{
        "contentType": "application/vnd.microsoft.card.adaptive",
        "content": {
            "type": "AdaptiveCard",
            "version": "1.3",
            "body": [{"type": "TextBlock", "text": "edge-004 down"}],
            "actions": [{"type": "Action.Submit", "title": "Acknowledge", "data": {"netpulse": "ack"}}],
        },
    }])
}

pub(super) async fn call(
    method: reqwest::Method,
    url: String,
    token: Option<&str>,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut request = reqwest::Client::new().request(method, url);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    let text = response.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

pub(super) async fn post_as(
    sim: &WebexSim,
    token: &str,
    path: &str,
    body: Value,
) -> (StatusCode, Value) {
    let url = format!("{}{path}", sim.base_url());
    call(reqwest::Method::POST, url, Some(token), Some(body)).await
}

async fn get_as(sim: &WebexSim, token: &str, path: &str) -> (StatusCode, Value) {
    let url = format!("{}{path}", sim.base_url());
    call(reqwest::Method::GET, url, Some(token), None).await
}

/// The bot posts the card in `room`; answers the message id.
pub(super) async fn post_card(sim: &WebexSim, room: &str) -> String {
    let body =
        json!({"roomId": sim.room_id(room).unwrap(), "text": "fallback", "attachments": card()});
    let (status, created) = post_as(sim, "sim-bot-token", "/v1/messages", body).await;
    assert_eq!(status, StatusCode::OK, "{created}");
    created["id"].as_str().unwrap().to_owned()
}

fn assert_webex_error(status: StatusCode, body: &Value, expected: StatusCode) {
    assert_eq!(status, expected, "{body}");
    assert!(body["message"].is_string(), "{body}");
    assert_eq!(body["errors"][0]["description"], body["message"]);
    assert!(body["trackingId"].is_string());
}

#[tokio::test]
async fn a_card_is_validated_like_webex_and_kept_on_the_message() {
    let (sim, _shutdown) = start().await;
    let room = sim.room_id("NOC").unwrap();
    let valid = card();
    let mut two = valid.clone();
    two.as_array_mut().unwrap().push(valid[0].clone());
    let mut wrong_type = valid.clone();
    wrong_type[0]["contentType"] = "application/json".into();
    let mut not_adaptive = valid.clone();
    not_adaptive[0]["content"]["type"] = "HeroCard".into();
    let mut no_version = valid.clone();
    no_version[0]["content"]
        .as_object_mut()
        .unwrap()
        .remove("version");
    let mut untyped_action = valid.clone();
    untyped_action[0]["content"]["actions"] = json!([{"title": "no type"}]);
    let mut six_buttons = valid.clone();
    let button = json!({"type": "Action.Submit", "title": "b"});
    six_buttons[0]["content"]["actions"] = Value::from(vec![button.clone(); 6]);
    let mut five_buttons = valid.clone();
    five_buttons[0]["content"]["actions"] = Value::from(vec![button; 5]);
    let invalid = [
        six_buttons,
        json!({}),
        json!([]),
        two,
        wrong_type,
        not_adaptive,
        no_version,
        untyped_action,
    ];
    for attachments in invalid {
        let body = json!({"roomId": room, "text": "fallback", "attachments": attachments});
        let (status, answer) = post_as(&sim, "sim-bot-token", "/v1/messages", body).await;
        assert_webex_error(status, &answer, StatusCode::BAD_REQUEST);
    }
    assert!(sim.messages().is_empty(), "no invalid card was stored");
    let body = json!({"roomId": room, "text": "five", "attachments": five_buttons});
    let (status, _) = post_as(&sim, "sim-bot-token", "/v1/messages", body).await;
    assert_eq!(status, StatusCode::OK, "five buttons are allowed");
    let id = post_card(&sim, "NOC").await;
    let (status, fetched) = get_as(&sim, "sim-bot-token", &format!("/v1/messages/{id}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(fetched["attachments"], card());
    assert_eq!(fetched["text"], "fallback");
    assert_eq!(
        sim.messages()[1].attachments,
        card().as_array().unwrap().clone()
    );
}

#[tokio::test]
async fn a_member_clicks_a_card_and_the_action_is_read_by_id_with_its_inputs() {
    let (sim, _shutdown) = start_with_people().await;
    let message = post_card(&sim, "NOC").await;
    let click = json!({"type": "submit", "messageId": message, "inputs": {"netpulse": "ack"}});
    let (status, action) = post_as(&sim, ALICE, "/v1/attachment/actions", click).await;
    assert_eq!(status, StatusCode::OK, "{action}");
    assert_eq!(action["type"], "submit");
    assert_eq!(action["messageId"], message.as_str());
    assert_eq!(action["inputs"], json!({"netpulse": "ack"}));
    assert_eq!(action["roomId"], sim.room_id("NOC").unwrap().as_str());
    assert_eq!(
        action["personId"],
        sim.person_id("alice@example.com").unwrap().as_str()
    );
    assert!(action["created"].as_str().unwrap().ends_with('Z'));
    let id = action["id"].as_str().unwrap();
    let uri = base64::engine::general_purpose::STANDARD_NO_PAD
        .decode(id)
        .unwrap();
    assert!(
        String::from_utf8(uri)
            .unwrap()
            .starts_with("ciscospark://us/ATTACHMENT_ACTION/")
    );
    let (status, fetched) = get_as(
        &sim,
        "sim-bot-token",
        &format!("/v1/attachment/actions/{id}"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(fetched, action);
    assert_eq!(sim.actions().len(), 1);
    assert_eq!(sim.actions()[0].person_email, "alice@example.com");
}

#[tokio::test]
async fn clicks_are_refused_outside_the_room_without_a_card_and_with_bad_bodies() {
    let (sim, _shutdown) = start_with_people().await;
    let message = post_card(&sim, "NOC").await;
    let plain = {
        let body = json!({"roomId": sim.room_id("NOC").unwrap(), "text": "no card"});
        post_as(&sim, "sim-bot-token", "/v1/messages", body).await.1["id"].clone()
    };
    let unknown = webex_id("MESSAGE", "00000000-0000-0000-0000-000000000000");
    let cases = [
        // Bob is not a member of NOC: the card is not his to see.
        (
            BOB,
            json!({"type": "submit", "messageId": message, "inputs": {}}),
            StatusCode::NOT_FOUND,
        ),
        (
            ALICE,
            json!({"type": "submit", "messageId": plain, "inputs": {}}),
            StatusCode::BAD_REQUEST,
        ),
        (
            ALICE,
            json!({"type": "submit", "messageId": unknown, "inputs": {}}),
            StatusCode::NOT_FOUND,
        ),
        (
            ALICE,
            json!({"type": "cancel", "messageId": message, "inputs": {}}),
            StatusCode::BAD_REQUEST,
        ),
        (
            ALICE,
            json!({"type": "submit", "inputs": {}}),
            StatusCode::BAD_REQUEST,
        ),
        (
            ALICE,
            json!({"type": "submit", "messageId": message}),
            StatusCode::BAD_REQUEST,
        ),
        (
            ALICE,
            json!({"type": "submit", "messageId": message, "inputs": "ack"}),
            StatusCode::BAD_REQUEST,
        ),
        (
            "not-a-token",
            json!({"type": "submit", "messageId": message, "inputs": {}}),
            StatusCode::UNAUTHORIZED,
        ),
    ];
    for (token, body, expected) in cases {
        let (status, answer) = post_as(&sim, token, "/v1/attachment/actions", body.clone()).await;
        assert_webex_error(status, &answer, expected);
    }
    assert!(sim.actions().is_empty());
    let action = sim.click(&message, "alice@example.com", json!({})).unwrap();
    let path = format!("/v1/attachment/actions/{}", action.id);
    let (status, answer) = get_as(&sim, BOB, &path).await;
    assert_webex_error(status, &answer, StatusCode::NOT_FOUND);
    let unknown = format!(
        "/v1/attachment/actions/{}",
        webex_id("ATTACHMENT_ACTION", "x")
    );
    let (status, answer) = get_as(&sim, ALICE, &unknown).await;
    assert_webex_error(status, &answer, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn the_control_click_acts_as_the_named_person_with_the_same_checks() {
    let (sim, _shutdown) = start_with_people().await;
    let message = post_card(&sim, "NOC").await;
    let click = |person: &str| json!({"messageId": message, "person": person, "inputs": {"netpulse": "silence", "for": "1h"}});
    let url = format!("{}/_sim/click", sim.base_url());
    let (status, action) = call(
        reqwest::Method::POST,
        url.clone(),
        None,
        Some(click("Alice@Example.com")),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{action}");
    assert_eq!(
        action["personId"],
        sim.person_id("alice@example.com").unwrap().as_str()
    );
    assert_eq!(action["inputs"]["for"], "1h");
    let (status, _) = call(
        reqwest::Method::POST,
        url.clone(),
        None,
        Some(click("bob@example.com")),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "Bob is not in NOC");
    let (status, _) = call(
        reqwest::Method::POST,
        url,
        None,
        Some(click("nobody@example.com")),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let listed = super::tests::get_json(format!("{}/_sim/actions", sim.base_url())).await;
    assert_eq!(listed.as_array().unwrap().len(), 1);
    assert!(sim.click(&message, "bob@example.com", json!({})).is_err());
}

#[tokio::test]
async fn the_author_edits_a_message_at_most_ten_times_and_nobody_else_can() {
    let (sim, _shutdown) = start_with_people().await;
    let room = sim.room_id("NOC").unwrap();
    let (_, created) = post_as(
        &sim,
        "sim-bot-token",
        "/v1/messages",
        json!({"roomId": room, "markdown": "**v0**"}),
    )
    .await;
    let url = format!(
        "{}/v1/messages/{}",
        sim.base_url(),
        created["id"].as_str().unwrap()
    );
    let put = |token: &'static str, body: Value| {
        call(reqwest::Method::PUT, url.clone(), Some(token), Some(body))
    };
    let (status, edited) = put(
        "sim-bot-token",
        json!({"roomId": room, "markdown": "**v1**"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{edited}");
    assert_eq!(edited["markdown"], "**v1**");
    assert_eq!(edited["id"], created["id"]);
    assert!(edited["updated"].as_str().unwrap().ends_with('Z'));
    let (_, fetched) = get_as(
        &sim,
        ALICE,
        &format!("/v1/messages/{}", created["id"].as_str().unwrap()),
    )
    .await;
    assert_eq!(fetched["markdown"], "**v1**");
    let (status, answer) = put(ALICE, json!({"roomId": room, "text": "mine now"})).await;
    assert_webex_error(status, &answer, StatusCode::FORBIDDEN);
    let ops = sim.room_id("Ops").unwrap();
    let (status, answer) = put("sim-bot-token", json!({"roomId": ops, "text": "elsewhere"})).await;
    assert_webex_error(status, &answer, StatusCode::NOT_FOUND);
    let (status, answer) = put("sim-bot-token", json!({"text": "no room"})).await;
    assert_webex_error(status, &answer, StatusCode::BAD_REQUEST);
    let (status, answer) = put("sim-bot-token", json!({"roomId": room})).await;
    assert_webex_error(status, &answer, StatusCode::BAD_REQUEST);
    for version in 2..=10 {
        let (status, _) = put(
            "sim-bot-token",
            json!({"roomId": room, "text": format!("v{version}")}),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "edit {version}");
    }
    let (status, answer) = put("sim-bot-token", json!({"roomId": room, "text": "v11"})).await;
    assert_webex_error(status, &answer, StatusCode::BAD_REQUEST);
    assert_eq!(sim.messages()[0].text.as_deref(), Some("v10"));
    assert_eq!(
        sim.messages()[0].markdown,
        None,
        "an edit replaces the content"
    );
}

#[tokio::test]
async fn the_author_deletes_a_message_and_nobody_else_can() {
    let (sim, _shutdown) = start_with_people().await;
    let room = sim.room_id("NOC").unwrap();
    let body = json!({"roomId": room, "text": "to delete"});
    let (_, created) = post_as(&sim, "sim-bot-token", "/v1/messages", body).await;
    let url = format!(
        "{}/v1/messages/{}",
        sim.base_url(),
        created["id"].as_str().unwrap()
    );
    let delete =
        |token: &'static str| call(reqwest::Method::DELETE, url.clone(), Some(token), None);
    let (status, answer) = delete(ALICE).await;
    assert_webex_error(status, &answer, StatusCode::FORBIDDEN);
    let (status, answer) = delete(BOB).await;
    assert_webex_error(status, &answer, StatusCode::NOT_FOUND);
    assert_eq!(delete("sim-bot-token").await.0, StatusCode::NO_CONTENT);
    assert!(sim.messages().is_empty());
    let (status, answer) = delete("sim-bot-token").await;
    assert_webex_error(status, &answer, StatusCode::NOT_FOUND);
}
