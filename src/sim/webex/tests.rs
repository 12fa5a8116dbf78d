use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use super::*;

/// A simulator on loopback with the default configuration (shared with `mercury::tests`).
pub(super) async fn start() -> (WebexSim, CancellationToken) {
    let shutdown = CancellationToken::new();
    let sim = WebexSim::start(WebexSimConfig::default(), shutdown.clone())
        .await
        .unwrap();
    (sim, shutdown)
}

/// `GET url` with the simulator's default bot token, answered as JSON.
pub(super) async fn get_json(url: String) -> Value {
    reqwest::Client::new()
        .get(url)
        .bearer_auth("sim-bot-token")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// `POST /v1/messages` with the simulator's default bot token.
async fn post_as_bot(sim: &WebexSim, body: Value) -> reqwest::Response {
    post(sim, Some("sim-bot-token"), body).await
}

async fn post(sim: &WebexSim, token: Option<&str>, body: Value) -> reqwest::Response {
    let mut request = reqwest::Client::new()
        .post(format!("{}/v1/messages", sim.base_url()))
        .json(&body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.unwrap()
}

#[tokio::test]
async fn a_bearer_token_is_required_and_errors_have_the_webex_shape() {
    let (sim, _shutdown) = start().await;
    let room = sim.room_id("NOC").unwrap();
    for token in [None, Some("wrong")] {
        let response = post(&sim, token, json!({"roomId": room, "text": "hi"})).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert!(response.headers().contains_key("trackingid"));
        let body: Value = response.json().await.unwrap();
        assert!(body["message"].as_str().unwrap().contains("access token"));
        assert_eq!(body["errors"][0]["description"], body["message"]);
        assert!(
            body["trackingId"]
                .as_str()
                .unwrap()
                .starts_with("NETPULSE_SIM_")
        );
    }
    assert!(sim.messages().is_empty());
}

#[tokio::test]
async fn messages_are_created_and_listed_newest_first() {
    let (sim, _shutdown) = start().await;
    let room = sim.room_id("NOC").unwrap();
    for text in ["first", "second"] {
        let response = post_as_bot(&sim, json!({"roomId": room, "markdown": text})).await;
        assert_eq!(response.status(), StatusCode::OK);
        let created: Value = response.json().await.unwrap();
        assert_eq!(created["markdown"], text);
        assert_eq!(created["roomType"], "group");
        let id = created["id"].as_str().unwrap();
        let decoded = base64::engine::general_purpose::STANDARD_NO_PAD
            .decode(id)
            .unwrap();
        assert!(
            String::from_utf8(decoded)
                .unwrap()
                .starts_with("ciscospark://us/MESSAGE/")
        );
    }
    let listed = get_json(format!(
        "{}/v1/messages?roomId={room}&max=10",
        sim.base_url()
    ))
    .await;
    let texts: Vec<&str> = listed["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| item["markdown"].as_str().unwrap())
        .collect();
    assert_eq!(texts, ["second", "first"]);
    let recorded: Vec<_> = sim
        .messages()
        .into_iter()
        .map(|message| message.markdown.unwrap())
        .collect();
    assert_eq!(recorded, ["first", "second"]);
}

#[tokio::test]
async fn the_limit_is_7439_bytes_and_one_target_is_required() {
    let (sim, _shutdown) = start().await;
    let room = sim.room_id("NOC").unwrap();
    // "é" is two bytes: 3719 of them and one ASCII byte make exactly 7439 bytes.
    let fits = format!("x{}", "é".repeat(3719));
    assert_eq!(fits.len(), 7439);
    let response = post_as_bot(&sim, json!({"roomId": room, "markdown": fits})).await;
    assert_eq!(response.status(), StatusCode::OK);
    let too_long = format!("xy{}", "é".repeat(3719));
    let response = post_as_bot(&sim, json!({"roomId": room, "markdown": too_long})).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let two_targets = json!({"roomId": room, "toPersonEmail": "a@example.com", "text": "x"});
    assert_eq!(
        post_as_bot(&sim, two_targets).await.status(),
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        post_as_bot(&sim, json!({"text": "x"})).await.status(),
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        post_as_bot(&sim, json!({"roomId": room})).await.status(),
        StatusCode::BAD_REQUEST
    );
    let unknown_room = json!({"roomId": "Y2lzY29zcGFyazovL3VzL1JPT00vbm9uZQ", "text": "x"});
    assert_eq!(
        post_as_bot(&sim, unknown_room).await.status(),
        StatusCode::NOT_FOUND
    );
    let direct = post_as_bot(
        &sim,
        json!({"toPersonEmail": "noc@example.com", "text": "x"}),
    )
    .await;
    assert_eq!(direct.status(), StatusCode::OK);
    assert_eq!(sim.messages().len(), 2);
}

#[tokio::test]
async fn injected_faults_answer_exactly_count_requests_and_are_recorded() {
    let (sim, _shutdown) = start().await;
    let room = sim.room_id("NOC").unwrap();
    sim.fault(Fault::RateLimit {
        count: 2,
        retry_after_secs: 7,
    });
    let message = json!({"roomId": room, "text": "x"});
    for _ in 0..2 {
        let response = post_as_bot(&sim, message.clone()).await;
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(response.headers()["retry-after"], "7");
    }
    // Through the control API, as a script would.
    let control = reqwest::Client::new()
        .post(format!("{}/_sim/fault", sim.base_url()))
        .json(&json!({"kind": "server_error", "count": 1, "status": 503}))
        .send()
        .await
        .unwrap();
    assert_eq!(control.status(), StatusCode::OK);
    assert_eq!(
        post_as_bot(&sim, message.clone()).await.status(),
        StatusCode::SERVICE_UNAVAILABLE
    );
    assert_eq!(
        post_as_bot(&sim, message.clone()).await.status(),
        StatusCode::OK
    );
    let statuses: Vec<u16> = sim
        .requests()
        .iter()
        .map(|request| request.status)
        .collect();
    assert_eq!(statuses, [429, 429, 503, 200]);
    assert_eq!(sim.requests()[0].retry_after, Some(7));
    assert_eq!(sim.messages().len(), 1, "failed requests create no message");

    sim.fault(Fault::Latency { millis: 300 });
    let started = std::time::Instant::now();
    assert_eq!(post_as_bot(&sim, message).await.status(), StatusCode::OK);
    assert!(started.elapsed() >= Duration::from_millis(300));
}

#[tokio::test]
async fn it_goes_down_refusing_connections_and_comes_back_with_its_messages() {
    let (sim, _shutdown) = start().await;
    let room = sim.room_id("NOC").unwrap();
    let message = json!({"roomId": room, "markdown": "before"});
    // A kept-alive connection from before the outage must not survive it.
    let client = reqwest::Client::new();
    let url = format!("{}/v1/messages", sim.base_url());
    let send = |body: Value| {
        client
            .post(&url)
            .bearer_auth("sim-bot-token")
            .json(&body)
            .send()
    };
    assert_eq!(send(message).await.unwrap().status(), StatusCode::OK);

    sim.go_down().await;
    let refused = send(json!({"roomId": room, "markdown": "during"}))
        .await
        .unwrap_err();
    assert!(refused.is_connect(), "{refused:?}");
    assert!(tokio::net::TcpStream::connect(sim.addr()).await.is_err());

    sim.come_back().await.unwrap();
    let response = send(json!({"roomId": room, "markdown": "after"}))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let texts: Vec<Option<String>> = sim.messages().into_iter().map(|m| m.markdown).collect();
    assert_eq!(texts, [Some("before".to_owned()), Some("after".to_owned())]);
    assert_eq!(sim.requests().len(), 2);
}

#[tokio::test]
async fn a_reply_names_its_parent_and_threads_are_one_level_deep_within_one_room() {
    let shutdown = CancellationToken::new();
    let config = WebexSimConfig {
        rooms: vec!["NOC".to_owned(), "Other".to_owned()],
        ..WebexSimConfig::default()
    };
    let sim = WebexSim::start(config, shutdown.clone()).await.unwrap();
    let room = sim.room_id("NOC").unwrap();
    let other = sim.room_id("Other").unwrap();
    let created = |response: reqwest::Response| async move {
        assert_eq!(response.status(), StatusCode::OK);
        response.json::<Value>().await.unwrap()
    };
    let parent =
        created(post_as_bot(&sim, json!({"roomId": room, "markdown": "first"})).await).await;
    let parent_id = parent["id"].as_str().unwrap().to_owned();
    assert!(parent.get("parentId").is_none(), "{parent}");
    let reply = created(
        post_as_bot(
            &sim,
            json!({"roomId": room, "markdown": "second", "parentId": parent_id}),
        )
        .await,
    )
    .await;
    assert_eq!(reply["parentId"], parent_id.as_str());
    let reply_id = reply["id"].as_str().unwrap().to_owned();

    // Refused: a reply to a reply, a parent in another room, a parent that does not exist.
    for (target, parent, why) in [
        (&room, reply_id.as_str(), "a reply"),
        (&other, parent_id.as_str(), "another room"),
        (&room, "Y2lzY29zcGFyazovL3VzL01FU1NBR0UvMA", "unknown"),
    ] {
        let response = post_as_bot(
            &sim,
            json!({"roomId": target, "markdown": "x", "parentId": parent}),
        )
        .await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{why}");
        let body: Value = response.json().await.unwrap();
        assert!(
            body["message"].as_str().unwrap().contains("parent"),
            "{why}: {body}"
        );
    }
    assert_eq!(sim.messages().len(), 2, "refused replies create nothing");
    assert_eq!(
        sim.messages()[1].parent_id.as_deref(),
        Some(parent_id.as_str())
    );

    // GET shows the parent; a list can ask for one thread's replies.
    let fetched = get_json(format!("{}/v1/messages/{reply_id}", sim.base_url())).await;
    assert_eq!(fetched["parentId"], parent_id.as_str());
    let list = |query: &[(&str, &str)]| {
        let url = format!("{}/v1/messages", sim.base_url());
        get_json(
            reqwest::Url::parse_with_params(&url, query)
                .unwrap()
                .to_string(),
        )
    };
    let all = list(&[("roomId", &room)]).await;
    assert_eq!(all["items"].as_array().unwrap().len(), 2, "{all}");
    let thread = list(&[("roomId", &room), ("parentId", &parent_id)]).await;
    let items = thread["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{thread}");
    assert_eq!(items[0]["id"], reply_id.as_str());
    shutdown.cancel();
}
