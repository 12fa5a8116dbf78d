//! The room as a console, end to end: the real gateway and the Webex simulator. An SD-WAN alarm
//! is routed to a Webex sink with `actions:`; its card is posted in the room; a person clicks
//! Acknowledge through the simulator; the click comes back through a signed `attachmentActions`
//! webhook (or the `webex_events` real-time source), netpulse fetches and checks the action,
//! acknowledges the alarm as the person's email and says so in the card's thread. A second click
//! and a click by someone not allowed change nothing. The bot's write commands (`silence`,
//! `silences?`, `unsilence`) act from the sink's room and are never answered in another room.

use netpulse::sim::webex::{SimMessage, WebexSim, WebexSimConfig};
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use crate::support::{Running, sdwan_alarm, send_json, wait_until};

mod group;
mod room;

const BOT_TOKEN: &str = "bot-token";
const HOOK_SECRET: &str = "hook-secret";
const READ_TOKEN: &str = "read-token-0123456789";
const ALICE: &str = "alice@noc.example.com";
const MALLORY: &str = "mallory@example.org";
const DOWN: &str = "webhook-interface-state-change-down-2019.json";

/// How the clicks and messages reach the gateway.
#[derive(Clone, Copy, PartialEq)]
enum Path {
    /// A `provider: webex` webhook source, registered at the simulator's `/v1/webhooks`.
    Webhook,
    /// A `webex_events` source: the Mercury real-time socket.
    Realtime,
}

struct Console {
    sim: WebexSim,
    sim_shutdown: CancellationToken,
    running: Running,
    room: String,
    other_room: String,
    /// The gateway's configuration, for a restart on the same store.
    yaml: String,
}

const ENV: [(&str, &str); 3] = [
    ("BOT_TOKEN", BOT_TOKEN),
    ("HOOK_SECRET", HOOK_SECRET),
    ("READ_TOKEN", READ_TOKEN),
];

/// Every alarm its own group, so its own card.
async fn start(path: Path) -> Console {
    start_grouped(path, "group_by: [\"...\"], group_wait: 100ms").await
}

/// The route's grouping is `grouping` (YAML flow mapping entries).
async fn start_grouped(path: Path, grouping: &str) -> Console {
    let sim_shutdown = CancellationToken::new();
    let sim = WebexSim::start(
        WebexSimConfig {
            tokens: vec![BOT_TOKEN.to_owned()],
            rooms: vec!["NOC".to_owned(), "Lobby".to_owned()],
            ..WebexSimConfig::default()
        },
        sim_shutdown.clone(),
    )
    .await
    .unwrap();
    sim.add_person("alice-token", ALICE, "Alice");
    sim.add_person("mallory-token", MALLORY, "Mallory");
    let room = sim.room_id("NOC").unwrap();
    let other_room = sim.room_id("Lobby").unwrap();
    let bot_source = match path {
        Path::Webhook => "  - name: bot
    type: webhook
    provider: webex
    path: /hooks/webex
    base_url: {base}
    token: \"${BOT_TOKEN}\"
    auth: { hmac: { header: X-Spark-Signature, algorithm: sha1, encoding: hex, secret: \"${HOOK_SECRET}\" } }
",
        Path::Realtime => "  - name: bot
    type: webex_events
    token: \"${BOT_TOKEN}\"
    base_url: {base}
    wdm_url: {wdm}
    ping_interval: 1s
    backoff: { initial: 100ms, max: 1s }
",
    };
    let base = sim.base_url();
    let yaml = format!(
        "store: {{ path: netpulse.db }}
http: {{ listen: \"127.0.0.1:0\" }}
api: {{ auth: {{ tokens: [{{ name: screen, token: \"${{READ_TOKEN}}\" }}] }} }}
sources:
  - {{ name: vmanage, type: webhook, provider: sdwan, path: /hooks/sdwan, auth: {{ none: true }} }}
{bot_source}sinks:
  - name: noc
    type: webex
    base_url: {base}
    token: \"${{BOT_TOKEN}}\"
    room_id: \"{room}\"
    rate_limit: 100
    actions:
      allow: {{ domains: [noc.example.com] }}
routes:
  - {{ name: sdwan, match: {{ source: [vmanage] }}, sinks: [noc], {grouping} }}
"
    )
    .replace("{base}", &sim.base_url())
    .replace("{wdm}", &sim.wdm_url());
    let running = Running::start(&yaml, &ENV).await;
    match path {
        Path::Webhook => {
            for resource in ["attachmentActions", "messages"] {
                register_webhook(&sim, &running, resource).await;
            }
        }
        Path::Realtime => wait_connected(&running).await,
    }
    Console {
        sim,
        sim_shutdown,
        running,
        room,
        other_room,
        yaml,
    }
}

async fn wait_connected(running: &Running) {
    wait_until("the real-time source is connected", || {
        running
            .gateway()
            .source("bot")
            .unwrap()
            .status
            .snapshot()
            .state
            == netpulse::source::ConnectionState::Connected
    })
    .await;
}

/// Registers the bot's webhook on `resource` at the simulator, with a secret, pointing at the
/// gateway's webhook source.
async fn register_webhook(sim: &WebexSim, running: &Running, resource: &str) {
    let response = reqwest::Client::new()
        .post(format!("{}/v1/webhooks", sim.base_url()))
        .bearer_auth(BOT_TOKEN)
        .json(&json!({
            "name": format!("netpulse {resource}"),
            "targetUrl": running.url("/hooks/webex"),
            "resource": resource,
            "event": "created",
            "secret": HOOK_SECRET,
        }))
        .send()
        .await
        .unwrap();
    assert!(
        response.status().is_success(),
        "{}",
        response.text().await.unwrap()
    );
}

impl Console {
    /// Stops the gateway and starts it again on the same store (real-time path: the webhook's
    /// target would change with the port).
    async fn restart(mut self) -> Console {
        let dir = self.running.stop().await;
        self.running = Running::start_in(dir, &self.yaml, &ENV).await;
        wait_connected(&self.running).await;
        self
    }

    async fn stop(self) {
        self.running.stop().await;
        self.sim_shutdown.cancel();
    }

    /// Posts an SD-WAN alarm for `host` and waits for its card in the room; returns the card.
    async fn alarm_card(&self, uuid: &str, host: &str) -> SimMessage {
        let response = reqwest::Client::new()
            .post(self.running.url("/hooks/sdwan"))
            .header("content-type", "application/json")
            .body(sdwan_alarm(DOWN, uuid, Some(host)))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let card_of = |sim: &WebexSim| {
            sim.messages().into_iter().find(|message| {
                !message.attachments.is_empty()
                    && message
                        .markdown
                        .as_deref()
                        .is_some_and(|md| md.contains(host))
            })
        };
        wait_until(&format!("the card for {host} is posted"), || {
            card_of(&self.sim).is_some()
        })
        .await;
        card_of(&self.sim).unwrap()
    }

    async fn alarms(&self) -> Vec<Value> {
        let body = api(&self.running, "/api/v1/alarms").await;
        body["alarms"]
            .as_array()
            .or_else(|| body.as_array())
            .unwrap_or_else(|| panic!("no alarms in {body}"))
            .clone()
    }

    async fn alarm_of(&self, host: &str) -> Value {
        self.alarms()
            .await
            .into_iter()
            .find(|alarm| alarm["device"] == host)
            .unwrap_or_else(|| panic!("no alarm of {host}"))
    }

    fn replies_to(&self, card: &str) -> Vec<SimMessage> {
        self.sim
            .messages()
            .into_iter()
            .filter(|message| message.parent_id.as_deref() == Some(card))
            .collect()
    }

    /// The operator events appended so far (acknowledged or closed).
    fn operator_events(&self) -> usize {
        let reader = self.running.reader();
        (1..=reader.seq_range().unwrap().1)
            .filter_map(|seq| reader.event(seq).unwrap())
            .filter(|event| event.kind.starts_with("io.netpulse.operator.alarm."))
            .count()
    }

    /// Posts `text` in `room` as the person with `token`; returns the message's id.
    async fn say(&self, token: &str, room: &str, text: &str) -> String {
        let posted = send_json(
            reqwest::Client::new()
                .post(format!("{}/v1/messages", self.sim.base_url()))
                .bearer_auth(token)
                .json(&json!({"roomId": room, "text": text})),
        )
        .await;
        posted["id"]
            .as_str()
            .unwrap_or_else(|| panic!("{posted}"))
            .to_owned()
    }

    /// Waits for the bot's message number `count_before` in `room` (its answer to what was just
    /// said there) and returns its Markdown.
    async fn answer_after(&self, count_before: usize, room: &str) -> String {
        let bot_messages = |sim: &WebexSim| -> Vec<SimMessage> {
            sim.messages()
                .into_iter()
                .filter(|message| by_the_bot(message) && message.room_id.as_deref() == Some(room))
                .collect()
        };
        wait_until("the bot answers", || {
            bot_messages(&self.sim).len() > count_before
        })
        .await;
        let messages = bot_messages(&self.sim);
        messages[count_before].markdown.clone().unwrap_or_default()
    }

    fn bot_messages_in(&self, room: &str) -> usize {
        self.sim
            .messages()
            .iter()
            .filter(|message| by_the_bot(message) && message.room_id.as_deref() == Some(room))
            .count()
    }
}

/// Whether the simulated bot (the token netpulse uses) wrote it.
fn by_the_bot(message: &SimMessage) -> bool {
    message.person_email.ends_with("@webex.bot")
}

/// A click on Acknowledge: acknowledged by the person's email in the API, one reply in the card's
/// thread; a second click changes nothing; a person not allowed changes nothing.
async fn acknowledge_from_the_card(path: Path) {
    let console = start(path).await;
    let card = console.alarm_card("a1", "edge-004").await;
    let other = console.alarm_card("a2", "edge-005").await;
    let alarm = console.alarm_of("edge-004").await;
    assert!(alarm["operator"].is_null(), "{alarm}");

    console
        .sim
        .click(&card.id, ALICE, json!({"netpulse": "ack"}))
        .unwrap();
    wait_until("the alarm is acknowledged in the API", || {
        let alarm = futures_lite_block(console.alarm_of("edge-004"));
        alarm["operator"]["state"] == "acknowledged" && alarm["operator"]["by"] == ALICE
    })
    .await;
    wait_until("the thread reply is in the room", || {
        !console.replies_to(&card.id).is_empty()
    })
    .await;
    let reply = &console.replies_to(&card.id)[0];
    assert_eq!(reply.room_id.as_deref(), Some(console.room.as_str()));
    let text = reply.markdown.as_deref().unwrap_or_default();
    assert!(
        text.contains("Acknowledged by") && text.contains(ALICE),
        "{text}"
    );
    assert_eq!(console.operator_events(), 1);

    // The same button again, and Mallory (not in the allowed domain) on the other card.
    let again = console
        .sim
        .click(&card.id, ALICE, json!({"netpulse": "ack"}))
        .unwrap();
    let refused = console
        .sim
        .click(&other.id, MALLORY, json!({"netpulse": "ack"}))
        .unwrap();
    wait_until("both clicks are done with", || {
        let metrics = futures_lite_block(console.running.metrics());
        outcome(&metrics, "unchanged") >= 1 && outcome(&metrics, "not_allowed") >= 1
    })
    .await;
    assert_ne!(again.id, refused.id);
    assert_eq!(console.replies_to(&card.id).len(), 1, "no second reply");
    assert!(
        console.replies_to(&other.id).is_empty(),
        "no reply to a refused click"
    );
    assert_eq!(console.operator_events(), 1, "no second operator event");
    let other_alarm = console.alarm_of("edge-005").await;
    assert!(other_alarm["operator"].is_null(), "{other_alarm}");
    console.stop().await;
}

/// GETs an API path with the read token.
async fn api(running: &Running, path: &str) -> Value {
    send_json(
        reqwest::Client::new()
            .get(running.url(path))
            .bearer_auth(READ_TOKEN),
    )
    .await
}

/// `netpulse_webex_actions_total{…,outcome="…"}` summed over sinks.
fn outcome(metrics: &str, outcome: &str) -> u64 {
    metrics
        .lines()
        .filter(|line| {
            line.starts_with("netpulse_webex_actions_total{")
                && line.contains(&format!("outcome=\"{outcome}\""))
        })
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum::<f64>() as u64
}

/// Runs a future to completion from a synchronous condition (the tests run on a multi-thread
/// runtime, so blocking one worker for a local HTTP call is fine).
fn futures_lite_block<F: std::future::Future>(future: F) -> F::Output {
    tokio::task::block_in_place(|| tokio::runtime::Handle::current().block_on(future))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_click_on_acknowledge_through_the_signed_webhook_acknowledges_and_replies_once() {
    acknowledge_from_the_card(Path::Webhook).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_click_on_acknowledge_through_the_realtime_source_acknowledges_and_replies_once() {
    acknowledge_from_the_card(Path::Realtime).await;
}
