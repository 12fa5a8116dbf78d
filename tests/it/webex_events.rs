//! The `webex_events` source against the Webex simulator: WDM registration, the Mercury socket,
//! messages posted by a person arriving as events, reconnects with a gap event, and a replaced
//! connection stopping the source.

use netpulse::event::Event;
use netpulse::sim::webex::{Fault, WebexSim, WebexSimConfig};
use netpulse::source::{ConnectionState, StatusSnapshot};
use serde_json::json;
use tokio_util::sync::CancellationToken;

use crate::support::{Running, wait_until};

const BOT_TOKEN: &str = "bot-token";
const PERSON_TOKEN: &str = "ann-token";

async fn start() -> (WebexSim, CancellationToken, Running) {
    let shutdown = CancellationToken::new();
    let sim = WebexSim::start(
        WebexSimConfig {
            tokens: vec![BOT_TOKEN.to_owned()],
            ..WebexSimConfig::default()
        },
        shutdown.clone(),
    )
    .await
    .unwrap();
    sim.add_person(PERSON_TOKEN, "ann@example.com", "Ann");
    let yaml = format!(
        "store: {{ path: netpulse.db }}
http: {{ listen: \"127.0.0.1:0\" }}
sources:
  - name: bot
    type: webex_events
    token: ${{BOT_TOKEN}}
    base_url: {base}
    wdm_url: {wdm}
    ping_interval: 200ms
    pong_timeout: 1s
    backoff: {{ initial: 100ms, max: 1s }}
sinks:
  - {{ name: archive, type: file, path: events.jsonl }}
",
        base = sim.base_url(),
        wdm = sim.wdm_url(),
    );
    let running = Running::start(&yaml, &[("BOT_TOKEN", BOT_TOKEN)]).await;
    (sim, shutdown, running)
}

fn status(running: &Running) -> StatusSnapshot {
    running.gateway().source("bot").unwrap().status.snapshot()
}

fn events(running: &Running) -> Vec<Event> {
    let text = std::fs::read_to_string(running.dir.path().join("events.jsonl")).unwrap_or_default();
    text.lines()
        .filter(|line| !line.is_empty())
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

async fn post_as_person(sim: &WebexSim, text: &str) -> String {
    let response = reqwest::Client::new()
        .post(format!("{}/v1/messages", sim.base_url()))
        .bearer_auth(PERSON_TOKEN)
        .json(&json!({"roomId": sim.room_id("NOC").unwrap(), "text": text}))
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success());
    let body: serde_json::Value = response.json().await.unwrap();
    body["id"].as_str().unwrap().to_owned()
}

async fn wait_for_text(running: &Running, text: &str) -> Event {
    let summary = format!("ann@example.com: {text}");
    wait_until(&format!("{text:?} arrives"), || {
        events(running).iter().any(|event| event.summary == summary)
    })
    .await;
    events(running)
        .into_iter()
        .find(|event| event.summary == summary)
        .unwrap()
}

async fn wait_connected(running: &Running, connects: u64) {
    wait_until(&format!("connect number {connects}"), || {
        let status = status(running);
        status.state == ConnectionState::Connected && status.connects >= connects
    })
    .await;
}

#[tokio::test]
async fn a_message_posted_in_a_room_arrives_as_an_event_with_its_text() {
    let (sim, sim_shutdown, running) = start().await;
    wait_connected(&running, 1).await;
    let message_id = post_as_person(&sim, "is core1 down?").await;
    let event = wait_for_text(&running, "is core1 down?").await;
    assert_eq!(event.kind, "com.cisco.webex.message.created");
    assert_eq!(event.device, sim.room_id("NOC").unwrap());
    assert_eq!(event.subject.as_deref(), Some(message_id.as_str()));
    assert_eq!(event.data["message"]["text"], "is core1 down?");
    assert_eq!(event.data["activity"]["verb"], "post");
    // The bot's own messages are not fed back.
    reqwest::Client::new()
        .post(format!("{}/v1/messages", sim.base_url()))
        .bearer_auth(BOT_TOKEN)
        .json(&json!({"roomId": sim.room_id("NOC").unwrap(), "text": "from the bot"}))
        .send()
        .await
        .unwrap();
    post_as_person(&sim, "after the bot").await;
    wait_for_text(&running, "after the bot").await;
    assert!(
        events(&running)
            .iter()
            .all(|event| !event.summary.contains("from the bot"))
    );
    let stats = sim.mercury_stats();
    assert_eq!(stats.registrations, 1);
    assert!(!stats.acks.is_empty(), "frames are acknowledged");
    wait_until("pings are sent", || sim.mercury_stats().pings > 0).await;
    running.stop().await;
    sim_shutdown.cancel();
}

#[tokio::test]
async fn after_a_dropped_socket_the_source_reconnects_with_a_gap_event() {
    let (sim, sim_shutdown, running) = start().await;
    wait_connected(&running, 1).await;
    post_as_person(&sim, "before").await;
    wait_for_text(&running, "before").await;
    sim.fault(Fault::DropSockets);
    wait_connected(&running, 2).await;
    wait_until("a gap event", || {
        events(&running)
            .iter()
            .any(|event| event.kind == netpulse::event::GAP_EVENT_TYPE)
    })
    .await;
    post_as_person(&sim, "after").await;
    wait_for_text(&running, "after").await;
    // A forgotten registration: the next connect is refused with 404 and the source registers
    // again.
    sim.fault(Fault::ForgetRegistrations);
    sim.fault(Fault::CloseSockets {
        code: 1011,
        reason: "server error".into(),
    });
    wait_connected(&running, 3).await;
    post_as_person(&sim, "re-registered").await;
    wait_for_text(&running, "re-registered").await;
    assert!(sim.mercury_stats().unknown_registrations >= 1);
    assert_eq!(sim.mercury_stats().registrations, 1);
    assert!(status(&running).gaps >= 2);
    // Counted like the other session-holding sources' reconnects.
    let metrics = running.metrics().await;
    let reconnects = metrics
        .lines()
        .find_map(|line| line.strip_prefix("netpulse_source_reconnects_total{source=\"bot\"} "))
        .unwrap_or_else(|| panic!("no reconnects of source bot in\n{metrics}"));
    assert!(reconnects.parse::<u64>().unwrap() >= 2, "{reconnects}");
    running.stop().await;
    sim_shutdown.cancel();
}

#[tokio::test]
async fn a_replaced_connection_stops_the_source_with_a_clear_status() {
    let (sim, sim_shutdown, running) = start().await;
    wait_connected(&running, 1).await;
    sim.fault(Fault::CloseSockets {
        code: 4000,
        reason: "replaced".into(),
    });
    wait_until("the source stops", || {
        status(&running).state == ConnectionState::Stopped
    })
    .await;
    let error = status(&running).last_error.unwrap();
    assert!(
        error.contains("4000") && error.contains("not reconnecting"),
        "{error}"
    );
    assert_eq!(status(&running).connects, 1);
    running.stop().await;
    sim_shutdown.cancel();
}

#[tokio::test]
async fn a_missing_pong_ends_the_session_and_the_source_reconnects() {
    let (sim, sim_shutdown, running) = start().await;
    wait_connected(&running, 1).await;
    sim.fault(Fault::IgnorePings { ignore: true });
    wait_until("the pong timeout is reported", || {
        status(&running)
            .last_error
            .is_some_and(|error| error.contains("pong not received"))
    })
    .await;
    sim.fault(Fault::Clear);
    wait_connected(&running, 2).await;
    post_as_person(&sim, "still here").await;
    wait_for_text(&running, "still here").await;
    running.stop().await;
    sim_shutdown.cancel();
}

/// A NOC asks `alarms?` in the room; the bot, with no public URL, hears it over the real-time
/// socket and answers in the room through a Webex sink with commands, without hearing itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bot_without_a_public_url_answers_alarms_in_the_room() {
    let shutdown = CancellationToken::new();
    let sim = WebexSim::start(
        WebexSimConfig {
            tokens: vec![BOT_TOKEN.to_owned()],
            ..WebexSimConfig::default()
        },
        shutdown.clone(),
    )
    .await
    .unwrap();
    sim.add_person(PERSON_TOKEN, "ann@example.com", "Ann");
    let yaml = format!(
        "store: {{ path: netpulse.db }}
http: {{ listen: \"127.0.0.1:0\" }}
sources:
  - name: bot
    type: webex_events
    token: ${{BOT_TOKEN}}
    base_url: {base}
    wdm_url: {wdm}
sinks:
  - name: answers
    type: webex
    base_url: {base}
    token: ${{BOT_TOKEN}}
    room_id: \"{room}\"
    commands: true
    match: {{ type_prefix: [com.cisco.webex.message] }}
",
        base = sim.base_url(),
        wdm = sim.wdm_url(),
        room = sim.room_id("NOC").unwrap(),
    );
    let running = Running::start(&yaml, &[("BOT_TOKEN", BOT_TOKEN)]).await;
    wait_until("the bot's socket is up", || {
        status(&running).state == ConnectionState::Connected
    })
    .await;
    post_as_person(&sim, "alarms?").await;
    wait_until("the bot answers", || {
        sim.messages().iter().any(|message| {
            message
                .markdown
                .as_deref()
                .is_some_and(|markdown| markdown.contains("No active alarm"))
        })
    })
    .await;
    // The answer reaches the bot's own socket too: it is not taken for a question.
    post_as_person(&sim, "help").await;
    wait_until("the second answer", || {
        sim.messages().iter().any(|message| {
            message
                .markdown
                .as_deref()
                .is_some_and(|m| m.contains("I understand"))
        })
    })
    .await;
    let answers = sim
        .messages()
        .iter()
        .filter(|m| m.markdown.is_some())
        .count();
    assert_eq!(answers, 2, "one answer per question, none to itself");
    running.stop().await;
    shutdown.cancel();
}

async fn post_in_room(sim: &WebexSim, room: &str, text: &str) {
    let response = reqwest::Client::new()
        .post(format!("{}/v1/messages", sim.base_url()))
        .bearer_auth(PERSON_TOKEN)
        .json(&json!({"roomId": room, "text": text}))
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success());
}

/// The bot answers only in the sink's room and the rooms its configuration lists: anyone who can
/// reach the bot elsewhere (another room, a direct message) gets nothing, and a room that asks
/// too often is answered at the configured rate at most.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bot_commands_are_answered_only_in_configured_rooms_and_at_a_bounded_rate() {
    let shutdown = CancellationToken::new();
    let sim = WebexSim::start(
        WebexSimConfig {
            tokens: vec![BOT_TOKEN.to_owned()],
            rooms: vec!["NOC".to_owned(), "Lobby".to_owned(), "Other".to_owned()],
            ..WebexSimConfig::default()
        },
        shutdown.clone(),
    )
    .await
    .unwrap();
    sim.add_person(PERSON_TOKEN, "ann@example.com", "Ann");
    let (noc, lobby, other) = (
        sim.room_id("NOC").unwrap(),
        sim.room_id("Lobby").unwrap(),
        sim.room_id("Other").unwrap(),
    );
    let yaml = format!(
        "store: {{ path: netpulse.db }}
http: {{ listen: \"127.0.0.1:0\" }}
sources:
  - name: bot
    type: webex_events
    token: ${{BOT_TOKEN}}
    base_url: {base}
    wdm_url: {wdm}
sinks:
  - name: answers
    type: webex
    base_url: {base}
    token: ${{BOT_TOKEN}}
    room_id: \"{noc}\"
    rate_limit: 100
    commands: {{ rooms: [\"{lobby}\"], per_minute: 2 }}
    match: {{ type_prefix: [com.cisco.webex.message] }}
",
        base = sim.base_url(),
        wdm = sim.wdm_url(),
    );
    let running = Running::start(&yaml, &[("BOT_TOKEN", BOT_TOKEN)]).await;
    wait_until("the bot's socket is up", || {
        status(&running).state == ConnectionState::Connected
    })
    .await;
    let answers_in = |room: &str| {
        sim.messages()
            .iter()
            .filter(|message| {
                message.markdown.is_some() && message.room_id.as_deref() == Some(room)
            })
            .count()
    };
    post_in_room(&sim, &other, "alarms?").await;
    post_in_room(&sim, &lobby, "alarms?").await;
    post_in_room(&sim, &noc, "help").await;
    // Deliveries go in order: once the sink's room has its answer, the others were decided.
    wait_until("the answer in the sink's room", || answers_in(&noc) == 1).await;
    assert_eq!(answers_in(&lobby), 1, "a listed room is answered");
    assert_eq!(answers_in(&other), 0, "an unlisted room is not");
    // Two answers per minute per room: the third question in a minute gets none.
    post_in_room(&sim, &noc, "help").await;
    post_in_room(&sim, &noc, "help").await;
    post_in_room(&sim, &lobby, "help").await;
    wait_until("the next answer in the listed room", || {
        answers_in(&lobby) == 2
    })
    .await;
    assert_eq!(
        answers_in(&noc),
        2,
        "the third question within a minute is not answered"
    );
    running.stop().await;
    shutdown.cancel();
}
