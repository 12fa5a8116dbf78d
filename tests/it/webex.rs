//! SD-WAN alarms delivered to a (simulated) Webex room through the outbox: outages, rate limits,
//! dead letters and untrusted text.

use std::time::Duration;

use netpulse::sim::webex::{Fault, WebexSim, WebexSimConfig};
use reqwest::StatusCode;
use tokio_util::sync::CancellationToken;

use crate::support::{Running, sdwan_alarm, wait_until};

const TOKEN: &str = "sim-bot-token";
const DOWN: &str = "webhook-interface-state-change-down-2019.json";

async fn webex() -> (WebexSim, CancellationToken) {
    let shutdown = CancellationToken::new();
    let sim = WebexSim::start(WebexSimConfig::default(), shutdown.clone())
        .await
        .unwrap();
    (sim, shutdown)
}

fn config(sim: &WebexSim, room: &str) -> String {
    format!(
        "store: {{ path: netpulse.db }}
http: {{ listen: \"127.0.0.1:0\" }}
sources:
  - name: vmanage
    type: webhook
    provider: sdwan
    path: /hooks/sdwan
    auth: {{ none: true }}
    vmanage_url: https://vmanage.example.com
sinks:
  - name: noc
    type: webex
    base_url: {base}
    token: ${{WEBEX_TOKEN}}
    room_id: \"{room}\"
    timezone: America/Los_Angeles
    rate_limit: 50
    retry: {{ initial: 500ms, max: 2s, max_attempts: 5 }}
",
        base = sim.base_url()
    )
}

async fn post(running: &Running, body: Vec<u8>) {
    let response = reqwest::Client::new()
        .post(running.url("/hooks/sdwan"))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn an_outage_then_a_rate_limit_delay_delivery_and_lose_nothing() {
    let (sim, sim_shutdown) = webex().await;
    let room = sim.room_id("NOC").unwrap();
    sim.fault(Fault::ServerError {
        count: 2,
        status: 500,
    });
    let running = Running::start(&config(&sim, &room), &[("WEBEX_TOKEN", TOKEN)]).await;
    post(&running, sdwan_alarm(DOWN, "a1", None)).await;
    post(&running, sdwan_alarm(DOWN, "a2", None)).await;
    // The outage is followed by a rate limit: the next answer will be a 429 asking for 2 s. The
    // backoff after the second 500 is at least 500 ms, time enough to set it.
    wait_until("two 500s", || sim.requests().len() == 2).await;
    sim.fault(Fault::RateLimit {
        count: 1,
        retry_after_secs: 2,
    });
    wait_until("both alarms reach the room", || sim.messages().len() == 2).await;

    let requests = sim.requests();
    let statuses: Vec<u16> = requests.iter().map(|request| request.status).collect();
    let limited = statuses
        .iter()
        .position(|status| *status == 429)
        .expect("a 429");
    assert_eq!(&statuses[..2], [500, 500], "{statuses:?}");
    assert_eq!(
        statuses.iter().filter(|status| **status == 200).count(),
        2,
        "{statuses:?}"
    );
    let waited = requests[limited + 1].instant - requests[limited].instant;
    assert!(
        waited >= Duration::from_secs(2),
        "the next request came {waited:?} after a 429 with Retry-After: 2"
    );
    // Order is kept: the raise posted first is delivered first.
    let messages = sim.messages();
    assert!(
        messages[0]
            .markdown
            .as_deref()
            .unwrap()
            .contains("/details/a1"),
        "{messages:?}"
    );
    assert!(
        messages[1]
            .markdown
            .as_deref()
            .unwrap()
            .contains("/details/a2"),
        "{messages:?}"
    );
    // The room has the message a moment before the outbox records its delivery.
    wait_until("the outbox records the deliveries", || {
        running.reader().outbox_counts("noc").unwrap().delivered == 2
    })
    .await;
    let counts = running.reader().outbox_counts("noc").unwrap();
    assert_eq!((counts.pending, counts.delivered, counts.dead), (0, 2, 0));
    running.stop().await;
    sim_shutdown.cancel();
}

/// A 429 is not a failed attempt: a storm longer than `max_attempts` (5) followed by one 500
/// neither dead-letters the message nor stretches the backoff of the 500.
#[tokio::test]
async fn a_rate_limit_storm_longer_than_max_attempts_loses_nothing() {
    let (sim, sim_shutdown) = webex().await;
    let room = sim.room_id("NOC").unwrap();
    sim.fault(Fault::RateLimit {
        count: 6,
        retry_after_secs: 1,
    });
    let running = Running::start(&config(&sim, &room), &[("WEBEX_TOKEN", TOKEN)]).await;
    post(&running, sdwan_alarm(DOWN, "storm", None)).await;
    wait_until("six 429s", || sim.requests().len() == 6).await;
    sim.fault(Fault::ServerError {
        count: 1,
        status: 500,
    });
    wait_until("the alarm reaches the room", || sim.messages().len() == 1).await;

    let requests = sim.requests();
    let statuses: Vec<u16> = requests.iter().map(|request| request.status).collect();
    assert_eq!(statuses, [429, 429, 429, 429, 429, 429, 500, 200]);
    // The first retry after a 500 waits `initial` (500 ms) with jitter, as for a first failure.
    let after_500 = requests[7].instant - requests[6].instant;
    assert!(
        after_500 < Duration::from_millis(1500),
        "the retry after the 500 came {after_500:?} later"
    );
    // The room has the message a moment before the outbox records its delivery.
    wait_until("the outbox records the deliveries", || {
        running.reader().outbox_counts("noc").unwrap().delivered == 1
    })
    .await;
    let counts = running.reader().outbox_counts("noc").unwrap();
    assert_eq!((counts.pending, counts.delivered, counts.dead), (0, 1, 0));
    running.stop().await;
    sim_shutdown.cancel();
}

#[tokio::test]
async fn a_rejected_message_is_dead_lettered_with_the_error_and_the_next_ones_go_on() {
    let (sim, sim_shutdown) = webex().await;
    // A room id Webex does not know: 404 for every message, retrying cannot help.
    let running = Running::start(
        &config(&sim, "Y2lzY29zcGFyazovL3VzL1JPT00vbm9uZQ"),
        &[("WEBEX_TOKEN", TOKEN)],
    )
    .await;
    post(&running, sdwan_alarm(DOWN, "d1", None)).await;
    post(&running, sdwan_alarm(DOWN, "d2", None)).await;
    wait_until("both deliveries are dead", || {
        running.reader().outbox_counts("noc").unwrap().dead == 2
    })
    .await;
    let statuses: Vec<u16> = sim
        .requests()
        .iter()
        .map(|request| request.status)
        .collect();
    assert_eq!(statuses, [404, 404], "one attempt each, no retries");
    running.stop().await;
    sim_shutdown.cancel();
}

#[tokio::test]
async fn a_markdown_injection_in_a_host_name_is_escaped() {
    let (sim, sim_shutdown) = webex().await;
    let room = sim.room_id("NOC").unwrap();
    let running = Running::start(&config(&sim, &room), &[("WEBEX_TOKEN", TOKEN)]).await;
    let host = "edge1](https://evil.example/login) **urgent**\n# Click";
    post(&running, sdwan_alarm(DOWN, "i1", Some(host))).await;
    wait_until("the message arrives", || sim.messages().len() == 1).await;
    let message = sim.messages()[0].clone();
    let markdown = message.markdown.unwrap();
    assert!(!markdown.contains("\n# Click"), "{markdown}");
    assert!(
        markdown.contains(r"**edge1\](https://evil.example/login) \*\*urgent\*\* # Click**"),
        "the text is kept, escaped only where it would act: {markdown}"
    );
    assert!(
        markdown.contains(
            "[Open in SD-WAN Manager](https://vmanage.example.com/#/app/monitor/alarms/details/i1)"
        ),
        "{markdown}"
    );
    // The plain text beside it shows the host name as it was sent (its line break as a space).
    let text = message
        .text
        .expect("the plain text is sent with the Markdown");
    assert!(
        text.contains("on edge1](https://evil.example/login) **urgent** # Click\n"),
        "{text}"
    );
    assert!(
        text.ends_with(
            "Open in SD-WAN Manager (https://vmanage.example.com/#/app/monitor/alarms/details/i1)"
        ),
        "{text}"
    );
    running.stop().await;
    sim_shutdown.cancel();
}

/// The window a crash can hit: the message was posted but netpulse died before recording it. At
/// the next start the delivery is uncertain; the sink finds the message in the room and does not
/// post it again.
#[tokio::test]
async fn a_delivery_posted_just_before_a_crash_is_not_posted_again() {
    let (sim, sim_shutdown) = webex().await;
    let room = sim.room_id("NOC").unwrap();
    let yaml = config(&sim, &room);
    let running = Running::start(&yaml, &[("WEBEX_TOKEN", TOKEN)]).await;
    post(&running, sdwan_alarm(DOWN, "u1", None)).await;
    wait_until("the message arrives", || sim.messages().len() == 1).await;
    let dir = running.stop().await;
    // Put the row back as a crash would have left it: pending and leased.
    let database = rusqlite::Connection::open(dir.path().join("netpulse.db")).unwrap();
    database
        .execute_batch("UPDATE outbox SET status = 'pending', lease_until_ms = 1")
        .unwrap();
    drop(database);

    let running = Running::start_in(dir, &yaml, &[("WEBEX_TOKEN", TOKEN)]).await;
    wait_until("the delivery is settled", || {
        running.reader().outbox_counts("noc").unwrap().delivered == 1
    })
    .await;
    assert_eq!(sim.messages().len(), 1, "not posted twice");
    assert_eq!(sim.requests().len(), 1);
    running.stop().await;
    sim_shutdown.cancel();
}

/// A 1 MiB field does not become a hundred and more messages: the value is cut (marked `…`) and
/// the event takes at most two messages, the last one linking to the alarm.
#[tokio::test]
async fn a_one_mebibyte_field_is_cut_to_at_most_two_messages_with_the_link() {
    let (sim, sim_shutdown) = webex().await;
    let room = sim.room_id("NOC").unwrap();
    let yaml = config(&sim, &room).replace(
        "http: { listen: \"127.0.0.1:0\" }",
        "http: { listen: \"127.0.0.1:0\", max_body_bytes: 4194304 }",
    );
    let running = Running::start(&yaml, &[("WEBEX_TOKEN", TOKEN)]).await;
    let mut alarm: serde_json::Value =
        serde_json::from_slice(&sdwan_alarm(DOWN, "big", None)).unwrap();
    alarm["message"] = "interface flap ".repeat(1024 * 1024 / 15).into();
    alarm["values_short_display"][0]["if-name"] = "Gi".repeat(300_000).into();
    post(&running, serde_json::to_vec(&alarm).unwrap()).await;
    wait_until("the alarm is delivered", || {
        running.reader().outbox_counts("noc").unwrap().delivered == 1
    })
    .await;
    for message in sim.messages() {
        let text = message.text.expect("every part has its plain text");
        assert!(text.len() <= 7439, "{} bytes of text", text.len());
        assert!(!text.is_empty());
    }
    let messages: Vec<String> = sim
        .messages()
        .into_iter()
        .filter_map(|message| message.markdown)
        .collect();
    assert!(
        (1..=2).contains(&messages.len()),
        "{} messages",
        messages.len()
    );
    let all = messages.join("\n");
    assert!(all.contains("…"), "the cut is visible");
    assert!(all.len() < 2 * 7439, "{} bytes", all.len());
    assert!(
        messages
            .last()
            .unwrap()
            .contains("(https://vmanage.example.com/#/app/monitor/alarms/details/big)"),
        "{}",
        messages.last().unwrap()
    );

    // Many values, each under the value cap: the event still takes two messages at most, the
    // second cut and linking to the alarm.
    let mut alarm: serde_json::Value =
        serde_json::from_slice(&sdwan_alarm(DOWN, "many", None)).unwrap();
    alarm["values_short_display"] = (0..300)
        .map(|index| serde_json::json!({ format!("key-{index}"): "v".repeat(900) }))
        .collect();
    post(&running, serde_json::to_vec(&alarm).unwrap()).await;
    wait_until("the second alarm is delivered", || {
        running.reader().outbox_counts("noc").unwrap().delivered == 2
    })
    .await;
    let messages: Vec<String> = sim
        .messages()
        .into_iter()
        .filter_map(|message| message.markdown)
        .skip(messages.len())
        .collect();
    assert_eq!(messages.len(), 2);
    let texts: Vec<String> = sim
        .messages()
        .into_iter()
        .filter_map(|message| message.text)
        .skip(sim.messages().len() - 2)
        .collect();
    assert!(
        texts[1].ends_with(
            "… cut: too long for Webex · Full event (https://vmanage.example.com/#/app/monitor/alarms/details/many)"
        ),
        "the plain text of the cut part says so too: {}",
        texts[1]
    );
    assert!(
        messages[1].ends_with(
            "… *cut: too long for Webex* · [Full event](https://vmanage.example.com/#/app/monitor/alarms/details/many)"
        ),
        "{}",
        messages[1]
    );
    running.stop().await;
    sim_shutdown.cancel();
}

/// Each message in the room has its Markdown and its plain text; addresses, names and URLs read
/// as they were sent in both, and the marker says the severity.
#[tokio::test]
async fn a_message_reaches_the_room_as_markdown_and_plain_text() {
    let (sim, sim_shutdown) = webex().await;
    let room = sim.room_id("NOC").unwrap();
    let running = Running::start(&config(&sim, &room), &[("WEBEX_TOKEN", TOKEN)]).await;
    post(
        &running,
        sdwan_alarm(DOWN, "p1", Some("core_sw-01.example.net")),
    )
    .await;
    wait_until("the message arrives", || sim.messages().len() == 1).await;
    let message = sim.messages()[0].clone();
    let markdown = message.markdown.expect("markdown");
    let text = message.text.expect("text");
    assert!(
        markdown.starts_with(
            "🔴 CRITICAL · SD-WAN alarm **Interface_State_Change** on **core_sw-01.example.net**"
        ),
        "{markdown}"
    );
    assert!(markdown.contains("- **system-ip:** 1.1.1.6"), "{markdown}");
    assert!(
        text.starts_with(
            "🔴 CRITICAL · SD-WAN alarm Interface_State_Change on core_sw-01.example.net\n"
        ),
        "{text}"
    );
    assert!(text.contains("\n- system-ip: 1.1.1.6\n"), "{text}");
    assert!(!text.contains("**"), "{text}");
    assert!(
        text.ends_with(
            "Open in SD-WAN Manager (https://vmanage.example.com/#/app/monitor/alarms/details/p1)"
        ),
        "{text}"
    );
    running.stop().await;
    sim_shutdown.cancel();
}
