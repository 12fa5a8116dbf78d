//! A Webex sink with `actions:` through its real worker, against a small stand-in for the Webex
//! API (the messages, people and attachment-action resources it calls): a notification goes out
//! as an Adaptive Card with its Markdown fallback and is recorded in `webex_cards`; clicks that
//! are not netpulse's to act on (another card, another room, a button the card lacks, a person
//! not allowed, an action gone) are refused without acting and without a word in the room; a
//! write command from a person not allowed is answered with why.
//!
//! The click that is acted on goes through the Operator, whose end-to-end test with the Webex
//! simulator comes with it.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine as _;
use netpulse::event::Event;
use netpulse::sink::Outbox;
use netpulse::store::{NewEvent, Reader, Store, StoreConfig};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use crate::support::wait_until;

fn hydra(kind: &str, id: &str) -> String {
    base64::engine::general_purpose::STANDARD_NO_PAD.encode(format!("ciscospark://us/{kind}/{id}"))
}

/// What the stand-in saw.
#[derive(Default)]
struct Seen {
    posted: Vec<Value>,
    people_lookups: Vec<String>,
}

type Shared = Arc<Mutex<Seen>>;

async fn create(State(seen): State<Shared>, Json(body): Json<Value>) -> Json<Value> {
    let mut seen = seen.lock().unwrap();
    seen.posted.push(body.clone());
    let id = hydra("MESSAGE", &format!("m{}", seen.posted.len()));
    Json(json!({"id": id, "roomId": body["roomId"], "markdown": body["markdown"]}))
}

async fn message(Path(id): Path<String>) -> Json<Value> {
    Json(json!({"id": id}))
}

async fn person(State(seen): State<Shared>, Path(id): Path<String>) -> Response {
    seen.lock().unwrap().people_lookups.push(id.clone());
    let email = if id == hydra("PEOPLE", "mallory") {
        "mallory@evil.example.org"
    } else {
        "alice@example.com"
    };
    Json(json!({"id": id, "emails": [email], "displayName": email})).into_response()
}

async fn me() -> Json<Value> {
    Json(json!({"id": hydra("PEOPLE", "bot"), "emails": ["bot@webex.bot"]}))
}

async fn action(Path(_id): Path<String>) -> Response {
    (
        StatusCode::NOT_FOUND,
        Json(json!({"message": "not found", "errors": [], "trackingId": "t"})),
    )
        .into_response()
}

async fn stand_in(seen: Shared) -> String {
    let app = Router::new()
        .route("/v1/messages", post(create))
        .route("/v1/messages/{id}", get(message))
        .route("/v1/people/me", get(me))
        .route("/v1/people/{id}", get(person))
        .route("/v1/attachment/actions/{id}", get(action))
        .with_state(seen);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{address}")
}

fn notification() -> Value {
    json!({
        "route": "noc", "sink": "noc", "group": "noc/noc/1",
        "labels": {"device": "edge-07"}, "number": 1, "reason": "first",
        "counts": {"new": {"major": 1}, "still_raised": {}, "cleared": {}, "flapping": 0},
        "alarms": [{"key": "vmanage:edge-07:bfd", "seq": 1, "state": "new", "severity": "major",
                    "device": "edge-07", "summary": "BFD session down",
                    "time": "2026-12-08T00:00:00Z"}],
        "all_cleared": false, "members": [1],
    })
}

async fn append(store: &Store, event: Event) -> u64 {
    let event = NewEvent {
        sinks: vec!["noc".to_owned()],
        ..NewEvent::new(event)
    };
    store.append(&[event]).await.unwrap()[0].seq
}

fn click(message_id: &str, room: &str, person: &str, inputs: Value) -> Event {
    Event::new(
        "webex",
        "com.cisco.webex.attachment_action.created",
        jiff::Timestamp::now(),
        json!({"activity": {}, "action": {
            "id": hydra("ATTACHMENT_ACTION", "a1"), "type": "submit", "messageId": message_id,
            "roomId": room, "personId": hydra("PEOPLE", person), "inputs": inputs,
            "created": "2026-12-08T00:00:00Z",
        }}),
    )
}

fn counts(store: &Store) -> netpulse::store::OutboxCounts {
    Reader::open(store.path())
        .unwrap()
        .outbox_counts("noc")
        .unwrap()
}

#[tokio::test]
async fn a_card_is_posted_and_recorded_and_clicks_not_ours_to_act_on_are_refused_silently() {
    let seen = Shared::default();
    let base_url = stand_in(seen.clone()).await;
    let room = hydra("ROOM", "noc");
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(StoreConfig::new(dir.path().join("netpulse.db"))).unwrap();
    let config: netpulse::config::WebexSinkConfig = serde_json::from_value(json!({
        "name": "noc", "token": "bot-token", "room_id": room, "base_url": base_url,
        "rate_limit": 100, "public_url": "https://netpulse.example.com",
        "actions": {"allow": {"emails": ["alice@example.com"]}},
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
    let worker = netpulse::sink::webex::spawn(&config, outbox, None).unwrap();

    let notification: netpulse::route::Notification =
        serde_json::from_value(notification()).unwrap();
    let seq = append(&store, notification.to_event(jiff::Timestamp::now())).await;
    wait_until("the card is posted", || {
        seen.lock().unwrap().posted.len() == 1
    })
    .await;
    let posted = seen.lock().unwrap().posted[0].clone();
    assert!(
        posted["markdown"].as_str().unwrap().contains("edge-07"),
        "{posted}"
    );
    assert!(
        posted["text"].as_str().unwrap().contains("edge-07"),
        "{posted}"
    );
    let attachments = posted["attachments"].as_array().unwrap();
    assert_eq!(attachments.len(), 1, "one card per message");
    assert_eq!(
        attachments[0]["contentType"],
        "application/vnd.microsoft.card.adaptive"
    );
    let card = &attachments[0]["content"];
    assert_eq!(card["type"], "AdaptiveCard");
    assert_eq!(card["version"], "1.3");
    let titles: Vec<&str> = card["actions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|action| action["title"].as_str().unwrap())
        .collect();
    assert_eq!(
        titles,
        [
            "Acknowledge",
            "Silence 1 h",
            "Silence 24 h",
            "Open in netpulse"
        ]
    );
    let card_id = hydra("MESSAGE", "m1");
    wait_until("the card is recorded", || {
        Reader::open(store.path())
            .unwrap()
            .card(&card_id)
            .unwrap()
            .is_some()
    })
    .await;
    let recorded = Reader::open(store.path())
        .unwrap()
        .card(&card_id)
        .unwrap()
        .unwrap();
    assert_eq!(
        (recorded.sink.as_str(), recorded.room.as_str(), recorded.seq),
        ("noc", room.as_str(), seq)
    );

    // Each refused before acting: another bot's card, the card in another room, a button the
    // card does not have, a person not allowed, an action Webex no longer has.
    let ack = json!({"netpulse": "ack"});
    append(
        &store,
        click(&hydra("MESSAGE", "other"), &room, "alice", ack.clone()),
    )
    .await;
    append(
        &store,
        click(&card_id, &hydra("ROOM", "elsewhere"), "alice", ack.clone()),
    )
    .await;
    append(
        &store,
        click(
            &card_id,
            &room,
            "alice",
            json!({"netpulse": "silence", "for": "365d"}),
        ),
    )
    .await;
    append(&store, click(&card_id, &room, "mallory", ack.clone())).await;
    let mut gone = click(&card_id, &room, "alice", ack);
    gone.kind = "com.cisco.webex.attachmentActions.created".into();
    gone.data = json!({"resource": "attachmentActions", "event": "created",
                       "data": {"id": hydra("ATTACHMENT_ACTION", "gone")},
                       "fetch_error": "the Webex API answered 502"});
    append(&store, gone).await;
    wait_until("every click is done with", || counts(&store).delivered == 6).await;
    assert_eq!(counts(&store).dead, 0);
    {
        let seen = seen.lock().unwrap();
        assert_eq!(seen.posted.len(), 1, "a refused click posts nothing");
        // Only the click that passed the card, room and button checks looked the person up.
        assert_eq!(seen.people_lookups, [hydra("PEOPLE", "mallory")]);
    }

    // A write command from a person not allowed is answered with why; help lists the commands.
    let command = |text: &str, email: &str, id: &str| {
        Event::new(
            "webex",
            "com.cisco.webex.message.created",
            jiff::Timestamp::now(),
            json!({"message": {"id": hydra("MESSAGE", id), "roomId": room, "roomType": "group",
                               "text": text, "personEmail": email,
                               "personId": hydra("PEOPLE", "someone")}}),
        )
    };
    append(
        &store,
        command(
            "netpulse ack vmanage:edge-07:bfd",
            "mallory@evil.example.org",
            "c1",
        ),
    )
    .await;
    append(
        &store,
        command("netpulse help", "mallory@evil.example.org", "c2"),
    )
    .await;
    wait_until("both commands are answered", || {
        seen.lock().unwrap().posted.len() == 3
    })
    .await;
    let posted = seen.lock().unwrap().posted.clone();
    assert_eq!(posted[1]["roomId"], room.as_str());
    assert!(
        posted[1]["markdown"]
            .as_str()
            .unwrap()
            .contains("may not act on alarms here"),
        "{}",
        posted[1]
    );
    assert!(
        posted[2]["markdown"]
            .as_str()
            .unwrap()
            .contains("**silence** device=edge-004 2h")
    );
    drain.cancel();
    worker.await.unwrap();
}
