//! Tests of mentions: `mentionedPeople`, its webhook filter and list parameter, and the bot rule.

use reqwest::StatusCode;
use serde_json::{Value, json};

use super::tests_cards::{ALICE, call, post_as};
use super::tests_webhooks::{next, receiver, register};
use super::*;

async fn start(bot_mentions_only: bool) -> (WebexSim, CancellationToken) {
    let shutdown = CancellationToken::new();
    let config = WebexSimConfig {
        people: vec![
            "alice@example.com:alice-token:Alice Example"
                .parse()
                .unwrap(),
        ],
        bot_mentions_only,
        ..WebexSimConfig::default()
    };
    (
        WebexSim::start(config, shutdown.clone()).await.unwrap(),
        shutdown,
    )
}

async fn say(sim: &WebexSim, markdown: &str) -> Value {
    let body = json!({"roomId": sim.room_id("NOC").unwrap(), "markdown": markdown});
    let (status, created) = post_as(sim, ALICE, "/v1/messages", body).await;
    assert_eq!(status, StatusCode::OK, "{created}");
    created
}

#[tokio::test]
async fn mentions_in_markdown_become_mentioned_people_and_filter_webhooks() {
    let (sim, shutdown) = start(false).await;
    let bot = sim.person_id(api::BOT_EMAIL).unwrap();
    let alice = sim.person_id("alice@example.com").unwrap();
    let (target, mut received) = receiver(&shutdown).await;
    let body = json!({"name": "me", "targetUrl": target, "resource": "messages", "event": "created", "filter": "mentionedPeople=me"});
    assert_eq!(
        register(&sim, "sim-bot-token", body).await.0,
        StatusCode::OK
    );
    let plain = say(&sim, "no mention").await;
    assert!(plain.get("mentionedPeople").is_none());
    let text = format!(
        "<@personEmail:{}|bot> ack <@personId:{alice}|me> <@personEmail:x@y.z>",
        api::BOT_EMAIL
    );
    let mentioning = say(&sim, &text).await;
    assert_eq!(mentioning["mentionedPeople"], json!([bot, alice]));
    let notification = next(&mut received).await.json;
    assert_eq!(
        notification["data"]["id"], mentioning["id"],
        "only the mention is notified"
    );
    assert_eq!(notification["data"]["mentionedPeople"], json!([bot, alice]));
    let room = sim.room_id("NOC").unwrap();
    let (status, listed) = call(
        reqwest::Method::GET,
        format!(
            "{}/v1/messages?roomId={room}&mentionedPeople=me",
            sim.base_url()
        ),
        Some("sim-bot-token"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(listed["items"].as_array().unwrap().len(), 1);
    let (status, _) = call(
        reqwest::Method::GET,
        format!(
            "{}/v1/messages?roomId={room}&mentionedPeople={alice}",
            sim.base_url()
        ),
        Some("sim-bot-token"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "only me");
}

#[tokio::test]
async fn with_the_bot_rule_a_bot_sees_only_what_mentions_it_and_its_own() {
    let (sim, shutdown) = start(true).await;
    let (target, mut received) = receiver(&shutdown).await;
    let body =
        json!({"name": "all", "targetUrl": target, "resource": "messages", "event": "created"});
    assert_eq!(
        register(&sim, "sim-bot-token", body).await.0,
        StatusCode::OK
    );
    let plain = say(&sim, "chatter").await;
    let text = format!("<@personEmail:{}|bot> alarms?", api::BOT_EMAIL);
    let mentioning = say(&sim, &text).await;
    let first = next(&mut received).await.json;
    assert_eq!(
        first["data"]["id"], mentioning["id"],
        "the chatter is not notified"
    );
    let get = |token: &'static str, id: &Value| {
        let url = format!("{}/v1/messages/{}", sim.base_url(), id.as_str().unwrap());
        call(reqwest::Method::GET, url, Some(token), None)
    };
    assert_eq!(
        get("sim-bot-token", &plain["id"]).await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        get("sim-bot-token", &mentioning["id"]).await.0,
        StatusCode::OK
    );
    assert_eq!(
        get(ALICE, &plain["id"]).await.0,
        StatusCode::OK,
        "people see all"
    );
    let room = sim.room_id("NOC").unwrap();
    let list = |query: &'static str| {
        let url = format!("{}/v1/messages?roomId={room}{query}", sim.base_url());
        call(reqwest::Method::GET, url, Some("sim-bot-token"), None)
    };
    assert_eq!(list("").await.0, StatusCode::FORBIDDEN);
    assert_eq!(
        list("&mentionedPeople=me").await.1["items"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let (_, own) = post_as(
        &sim,
        "sim-bot-token",
        "/v1/messages",
        json!({"roomId": room, "text": "answer"}),
    )
    .await;
    let second = next(&mut received).await.json;
    assert_eq!(
        second["data"]["id"], own["id"],
        "a bot is notified of its own messages"
    );
}
