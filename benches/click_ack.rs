//! Click to acknowledgement: N SD-WAN alarms become N Adaptive Cards in a Webex room (the
//! simulator), then a person clicks **Acknowledge** on each card, one click at a time, and the
//! benchmark measures, per click, the time from the click (the simulator's attachment action
//! being created) to
//!
//! - the acknowledgement being visible in `GET /api/v1/alarms` (the alarm's `operator` state
//!   acknowledged by the person), polled every 2 ms, and
//! - the thread reply ("✅ Acknowledged by …", `parentId` = the card) being in the room (the
//!   simulator's `created` time of that message).
//!
//! Both through the two ways a click comes back: a `provider: webex` webhook source registered at
//! the simulator's `/v1/webhooks` with a secret (signed notification, then netpulse fetches the
//! action), and a `webex_events` source (the Mercury real-time socket). Each path runs its own
//! release gateway (the `netpulse` binary cargo builds for benches) on its own store and room.
//!
//! The clicks are spaced by two intervals of the sink's rate limiter (100 ms at 20/s), so that
//! a click does not wait for the limiter after the previous reply: the figures are those of a
//! click on its own.
//!
//! Run: `bench/click-ack.sh` (about 30 s; `--clicks 50 --rate-limit 20`).

#[path = "support/mod.rs"]
mod support;

use std::time::{Duration, Instant};

use netpulse::sim::webex::{WebexSim, WebexSimConfig};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

const API_TOKEN: &str = "click-bench-api-token";
const BOT_TOKEN: &str = "sim-bot-token";
const HOOK_SECRET: &str = "click-bench-hook-secret";
const ALICE: &str = "alice@noc.example.com";
const DOWN: &str =
    include_str!("../tests/data/sdwan/webhook-interface-state-change-down-2019.json");
/// The longest one click may take to be acknowledged and answered before the run gives up.
const PATIENCE: Duration = Duration::from_secs(30);

struct Options {
    clicks: usize,
    /// The Webex sink's `rate_limit` (messages/s): the default (2/s) would spend 25 s posting
    /// the cards before the first click; a reply waits for the limiter only if a message was
    /// posted just before it.
    rate_limit: f64,
}

impl Options {
    fn from_args() -> Options {
        let args: Vec<String> = std::env::args().skip(1).collect();
        let mut options = Options {
            clicks: 50,
            rate_limit: 20.0,
        };
        let mut args = args.iter().filter(|arg| *arg != "--bench");
        while let Some(arg) = args.next() {
            let mut value = || args.next().expect("a value after the flag").as_str();
            match arg.as_str() {
                "--clicks" => options.clicks = value().parse().unwrap(),
                "--rate-limit" => options.rate_limit = value().parse().unwrap(),
                other => panic!("unknown argument {other:?} (--clicks N, --rate-limit R)"),
            }
        }
        options
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Path {
    Webhook,
    Realtime,
}

impl Path {
    fn name(self) -> &'static str {
        match self {
            Path::Webhook => "webhook",
            Path::Realtime => "real-time",
        }
    }

    fn room(self) -> &'static str {
        match self {
            Path::Webhook => "NOC-webhook",
            Path::Realtime => "NOC-realtime",
        }
    }
}

fn main() {
    let options = Options::from_args();
    let runtime = support::runtime();
    runtime.block_on(async {
        let shutdown = CancellationToken::new();
        let webex = WebexSim::start(
            WebexSimConfig {
                tokens: vec![BOT_TOKEN.to_owned()],
                rooms: vec![Path::Webhook.room().to_owned(), Path::Realtime.room().to_owned()],
                ..WebexSimConfig::default()
            },
            shutdown.clone(),
        )
        .await
        .unwrap();
        webex.add_person("alice-token", ALICE, "Alice");
        println!(
            "click to acknowledgement: {} alarms, one card each, one click at a time; sink rate_limit {}/s; release gateway",
            options.clicks, options.rate_limit
        );
        println!(
            "{:<10} {:>22} {:>22} {:>22}",
            "path", "api median/p95/max", "thread median/p95/max", "cards posted in"
        );
        for path in [Path::Webhook, Path::Realtime] {
            let figures = run(path, &webex, &options).await;
            println!(
                "{:<10} {:>22} {:>22} {:>21.1}s",
                path.name(),
                summary(&figures.api),
                summary(&figures.thread),
                figures.cards.as_secs_f64(),
            );
        }
        shutdown.cancel();
    });
}

struct Figures {
    api: Vec<Duration>,
    thread: Vec<Duration>,
    cards: Duration,
}

async fn run(path: Path, webex: &WebexSim, options: &Options) -> Figures {
    let room = webex.room_id(path.room()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let port = support::free_port();
    let config_path = dir.path().join("netpulse.yaml");
    std::fs::write(&config_path, config(path, port, webex, &room, options)).unwrap();
    let mut gateway = support::Gateway(support::spawn_gateway(&config_path, API_TOKEN));
    support::wait_ready(port, &mut gateway.0).await;
    let client = reqwest::Client::new();
    match path {
        Path::Webhook => register_webhook(&client, webex, port, &room).await,
        Path::Realtime => wait_connected(webex).await,
    }

    // The alarms, one card each.
    let started = Instant::now();
    let hosts: Vec<String> = (0..options.clicks)
        .map(|index| format!("{}-edge-{index:03}", path.room()))
        .collect();
    let (before, after) = support::split_at_uuid(DOWN);
    for (index, host) in hosts.iter().enumerate() {
        let mut alarm: Value =
            serde_json::from_str(&format!("{before}{}-{index}{after}", path.room())).unwrap();
        for list in ["values", "values_short_display"] {
            for entry in alarm[list].as_array_mut().into_iter().flatten() {
                if entry.get("host-name").is_some() {
                    entry["host-name"] = host.as_str().into();
                }
            }
        }
        client
            .post(format!("http://127.0.0.1:{port}/hooks/sdwan"))
            .json(&alarm)
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .unwrap();
    }
    let cards = wait_for(
        "every card",
        || {
            let messages = webex.messages();
            let cards: Vec<(String, String)> = hosts
                .iter()
                .filter_map(|host| {
                    messages
                        .iter()
                        .find(|message| {
                            message.room_id.as_deref() == Some(room.as_str())
                                && !message.attachments.is_empty()
                                && message
                                    .markdown
                                    .as_deref()
                                    .is_some_and(|md| md.contains(host.as_str()))
                        })
                        .map(|message| (host.clone(), message.id.clone()))
                })
                .collect();
            (cards.len() == hosts.len()).then_some(cards)
        },
        Duration::from_secs(120),
    )
    .await;
    let cards_posted = started.elapsed();

    let mut figures = Figures {
        api: Vec::new(),
        thread: Vec::new(),
        cards: cards_posted,
    };
    // The sink sends at most `rate_limit` messages a second, clicks' replies included: a click
    // right after a reply would wait for the limiter. Each click comes two intervals after the
    // previous reply, so the figures are those of a click on its own.
    let gap = Duration::from_secs_f64(2.0 / options.rate_limit);
    for (host, card) in &cards {
        tokio::time::sleep(gap).await;
        let clicked = Instant::now();
        // Both figures count from the action's creation at the simulator (the click), on the
        // same clock: the simulator runs in this process.
        let action = webex
            .click(card, ALICE, json!({"netpulse": "ack"}))
            .unwrap();
        let clicked_at = action.created;
        let mut api = None;
        let mut thread = None;
        while api.is_none() || thread.is_none() {
            assert!(
                clicked.elapsed() < PATIENCE,
                "the click on {host}'s card was not done with"
            );
            if api.is_none() && acknowledged(&client, port, host).await {
                let since = jiff::Timestamp::now().duration_since(clicked_at);
                api = Some(Duration::try_from(since).unwrap_or_default());
            }
            if thread.is_none()
                && let Some(reply) = webex
                    .messages()
                    .into_iter()
                    .find(|message| message.parent_id.as_deref() == Some(card.as_str()))
            {
                let since = reply.created.duration_since(clicked_at);
                thread = Some(Duration::try_from(since).unwrap_or_default());
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        figures.api.push(api.unwrap());
        figures.thread.push(thread.unwrap());
    }
    drop(gateway);
    figures
}

/// Whether `GET /api/v1/alarms` shows the alarm of `host` acknowledged by Alice.
async fn acknowledged(client: &reqwest::Client, port: u16, host: &str) -> bool {
    let body: Value = client
        .get(format!(
            "http://127.0.0.1:{port}/api/v1/alarms?state=acknowledged"
        ))
        .bearer_auth(API_TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    body["alarms"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|alarm| {
            alarm["device"] == host
                && alarm["operator"]["state"] == "acknowledged"
                && alarm["operator"]["by"] == ALICE
        })
}

/// The bot's webhook on attachment actions in this room, signed with a secret, to this gateway.
async fn register_webhook(client: &reqwest::Client, webex: &WebexSim, port: u16, room: &str) {
    client
        .post(format!("{}/v1/webhooks", webex.base_url()))
        .bearer_auth(BOT_TOKEN)
        .json(&json!({
            "name": "netpulse clicks",
            "targetUrl": format!("http://127.0.0.1:{port}/hooks/webex"),
            "resource": "attachmentActions",
            "event": "created",
            "filter": format!("roomId={room}"),
            "secret": HOOK_SECRET,
        }))
        .send()
        .await
        .and_then(reqwest::Response::error_for_status)
        .unwrap();
}

async fn wait_connected(webex: &WebexSim) {
    wait_for(
        "the real-time socket",
        || (webex.mercury_stats().connected > 0).then_some(()),
        Duration::from_secs(60),
    )
    .await;
}

async fn wait_for<T>(what: &str, probe: impl Fn() -> Option<T>, patience: Duration) -> T {
    let deadline = Instant::now() + patience;
    loop {
        if let Some(value) = probe() {
            return value;
        }
        assert!(Instant::now() < deadline, "{what}: not within {patience:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn config(path: Path, port: u16, webex: &WebexSim, room: &str, options: &Options) -> String {
    let bot = match path {
        Path::Webhook => format!(
            "  - name: bot
    type: webhook
    provider: webex
    path: /hooks/webex
    base_url: {base}
    token: ${{WEBEX_TOKEN}}
    auth: {{ hmac: {{ header: X-Spark-Signature, algorithm: sha1, encoding: hex, secret: \"{HOOK_SECRET}\" }} }}
",
            base = webex.base_url()
        ),
        Path::Realtime => format!(
            "  - name: bot
    type: webex_events
    token: ${{WEBEX_TOKEN}}
    base_url: {base}
    wdm_url: {wdm}
",
            base = webex.base_url(),
            wdm = webex.wdm_url()
        ),
    };
    format!(
        "store: {{ path: netpulse.db }}
http: {{ listen: \"127.0.0.1:{port}\" }}
api:
  auth:
    tokens:
      - {{ name: bench, token: \"${{API_TOKEN}}\" }}
sources:
  - {{ name: vmanage, type: webhook, provider: sdwan, path: /hooks/sdwan, auth: {{ none: true }} }}
{bot}sinks:
  - name: noc
    type: webex
    base_url: {base}
    token: ${{WEBEX_TOKEN}}
    room_id: \"{room}\"
    rate_limit: {rate}
    actions:
      allow: {{ emails: [\"{ALICE}\"] }}
routes:
  - {{ name: sdwan, match: {{ source: [vmanage] }}, sinks: [noc], group_by: [\"...\"], group_wait: 100ms }}
",
        base = webex.base_url(),
        rate = options.rate_limit,
    )
}

/// `median / p95 / max` in milliseconds.
fn summary(samples: &[Duration]) -> String {
    let mut sorted: Vec<Duration> = samples.to_vec();
    sorted.sort();
    let at = |quantile: f64| {
        let index = ((sorted.len() as f64 * quantile).ceil() as usize).clamp(1, sorted.len()) - 1;
        sorted[index].as_secs_f64() * 1000.0
    };
    format!("{:.0} / {:.0} / {:.0} ms", at(0.5), at(0.95), at(1.0))
}
