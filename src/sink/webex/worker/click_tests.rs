//! The worker applying a click through the operator (a fake here: the real one has its own
//! tests): the reply in the card's thread, nothing posted for a second click, a silence for the
//! button's duration, the thread of a card that is itself a reply.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Path, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine as _;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use crate::event::Event;
use crate::sink::Outbox;
use crate::sink::webex::actions::tests::FakeOperator;
use crate::sink::webex::actions::{Acting, Button, silence_id};
use crate::store::{NewEvent, Reader, Store, StoreConfig};

fn hydra(kind: &str, id: &str) -> String {
    base64::engine::general_purpose::STANDARD_NO_PAD.encode(format!("ciscospark://us/{kind}/{id}"))
}

type Posted = Arc<Mutex<Vec<Value>>>;

async fn create(State(posted): State<Posted>, Json(body): Json<Value>) -> Json<Value> {
    let mut posted = posted.lock().unwrap();
    posted.push(body.clone());
    Json(json!({"id": hydra("MESSAGE", &format!("m{}", posted.len())), "roomId": body["roomId"]}))
}

async fn message(State(posted): State<Posted>, Path(id): Path<String>) -> Json<Value> {
    let posted = posted.lock().unwrap();
    let index = (1..=posted.len()).find(|n| hydra("MESSAGE", &format!("m{n}")) == id);
    let parent = index.and_then(|n| posted[n - 1]["parentId"].as_str().map(str::to_owned));
    Json(json!({"id": id, "parentId": parent}))
}

async fn person(Path(id): Path<String>) -> Json<Value> {
    Json(json!({"id": id, "emails": ["alice@example.com"]}))
}

async fn stand_in(posted: Posted) -> String {
    let app = Router::new()
        .route("/v1/messages", post(create))
        .route("/v1/messages/{id}", get(message))
        .route("/v1/people/{id}", get(person))
        .with_state(posted);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{address}")
}

fn notification(number: u32) -> Event {
    let notification: crate::route::Notification = serde_json::from_value(json!({
        "route": "noc", "sink": "noc", "group": "noc/noc/1",
        "labels": {"device": "edge-07"}, "number": number,
        "reason": if number == 1 { "first" } else { "update" },
        "counts": {"new": {"major": 1}, "still_raised": {}, "cleared": {}, "flapping": 0},
        "alarms": [{"key": "vmanage:edge-07:bfd", "seq": 1, "state": "new", "severity": "major",
                    "device": "edge-07", "summary": "BFD session down",
                    "time": "2026-12-08T00:00:00Z"}],
        "all_cleared": false, "members": [1],
    }))
    .unwrap();
    notification.to_event(jiff::Timestamp::now())
}

fn click(card: &str, room: &str, inputs: Value) -> Event {
    Event::new(
        "webex",
        "com.cisco.webex.attachmentActions.created",
        jiff::Timestamp::now(),
        json!({"resource": "attachmentActions", "data": {"id": hydra("ATTACHMENT_ACTION", "a")},
               "action": {"id": hydra("ATTACHMENT_ACTION", "a"), "type": "submit",
                          "messageId": card, "roomId": room, "personId": hydra("PEOPLE", "alice"),
                          "inputs": inputs}}),
    )
}

async fn append(store: &Store, event: Event) {
    let event = NewEvent {
        sinks: vec!["noc".to_owned()],
        ..NewEvent::new(event)
    };
    store.append(&[event]).await.unwrap();
}

async fn wait_for(what: &str, condition: impl Fn() -> bool) {
    tokio::time::timeout(Duration::from_secs(10), async {
        while !condition() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("timed out waiting until {what}"));
}

fn delivered(store: &Store) -> u64 {
    Reader::open(store.path())
        .unwrap()
        .outbox_counts("noc")
        .unwrap()
        .delivered
}

#[tokio::test]
async fn a_click_is_applied_once_and_answered_in_the_cards_thread() {
    let posted = Posted::default();
    let base_url = stand_in(posted.clone()).await;
    let room = hydra("ROOM", "noc");
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(StoreConfig::new(dir.path().join("netpulse.db"))).unwrap();
    let config: crate::config::WebexSinkConfig = serde_json::from_value(json!({
        "name": "noc", "token": "t", "room_id": room, "base_url": base_url, "rate_limit": 100,
        "actions": {},
    }))
    .unwrap();
    let outbox = Outbox {
        store: store.clone(),
        sink: "noc".to_owned(),
        waker: Arc::new(tokio::sync::Notify::new()),
        drain: CancellationToken::new(),
        linger: Duration::ZERO,
        recorder: Default::default(),
    };
    let drain = outbox.drain.clone();
    let operator = Arc::new(FakeOperator {
        known: vec!["vmanage:edge-07:bfd".into()],
        ..FakeOperator::default()
    });
    let worker =
        super::spawn_acting(&config, outbox, Some(Acting::Fake(operator.clone()))).unwrap();
    let count = || posted.lock().unwrap().len();

    append(&store, notification(1)).await;
    wait_for("the card is posted", || count() == 1).await;
    let card = hydra("MESSAGE", "m1");
    wait_for("the card is recorded", || {
        Reader::open(store.path())
            .unwrap()
            .card(&card)
            .unwrap()
            .is_some()
    })
    .await;

    append(&store, click(&card, &room, json!({"netpulse": "ack"}))).await;
    wait_for("the reply is posted", || count() == 2).await;
    let reply = posted.lock().unwrap()[1].clone();
    assert_eq!(reply["markdown"], "✅ Acknowledged by alice@example.com");
    assert_eq!(reply["parentId"], card.as_str(), "in the card's thread");
    assert_eq!(reply["roomId"], room.as_str());
    assert_eq!(
        operator
            .acknowledged
            .lock()
            .unwrap()
            .get("vmanage:edge-07:bfd")
            .map(String::as_str),
        Some("alice@example.com")
    );

    // The same button again: done with, nothing posted.
    append(&store, click(&card, &room, json!({"netpulse": "ack"}))).await;
    wait_for("the second click is done with", || delivered(&store) == 3).await;
    assert_eq!(count(), 2, "a second click posts nothing");

    append(
        &store,
        click(&card, &room, json!({"netpulse": "silence", "for": "1h"})),
    )
    .await;
    wait_for("the silence is answered", || count() == 3).await;
    let reply = posted.lock().unwrap()[2].clone();
    let text = reply["markdown"].as_str().unwrap();
    assert!(
        text.starts_with("🔕 Silenced for 1 h by alice@example.com (until "),
        "{text}"
    );
    assert!(text.ends_with("device=edge-07"), "{text}");
    {
        let mutes = operator.mutes.lock().unwrap();
        assert_eq!(mutes.len(), 1);
        assert_eq!(
            mutes[0].id,
            silence_id(&card, Button::Silence(Duration::from_secs(3600)))
        );
        assert_eq!(mutes[0].matcher.device, ["edge-07"]);
        assert_eq!(
            mutes[0]
                .ends_at
                .duration_since(mutes[0].starts_at)
                .as_secs(),
            3600
        );
    }

    // The group's next notification is a card in the thread: its reply goes to the thread's
    // first message (Webex threads are one level deep).
    append(&store, notification(2)).await;
    wait_for("the update is posted", || count() == 4).await;
    let update = posted.lock().unwrap()[3].clone();
    assert_eq!(update["parentId"], card.as_str());
    assert!(update["attachments"].is_array());
    let second_card = hydra("MESSAGE", "m4");
    wait_for("the second card is recorded", || {
        Reader::open(store.path())
            .unwrap()
            .card(&second_card)
            .unwrap()
            .is_some()
    })
    .await;
    append(
        &store,
        click(
            &second_card,
            &room,
            json!({"netpulse": "silence", "for": "24h"}),
        ),
    )
    .await;
    wait_for("the second card's silence is answered", || count() == 5).await;
    let reply = posted.lock().unwrap()[4].clone();
    assert_eq!(reply["parentId"], card.as_str(), "{reply}");
    drain.cancel();
    worker.await.unwrap();
}
