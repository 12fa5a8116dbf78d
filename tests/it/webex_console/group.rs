//! A group notification's card: one click acts on every alarm it reports, and the card still
//! works after the gateway restarts.

use std::str::FromStr as _;

use serde_json::json;

use super::{ALICE, Path, api, futures_lite_block, start_grouped};
use crate::support::{sdwan_alarm, wait_until};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_card_acknowledges_all_its_alarms_and_still_silences_after_a_restart() {
    let console = start_grouped(Path::Realtime, "group_by: [source], group_wait: 1s").await;
    let hosts = ["edge-101", "edge-102", "edge-103"];
    for (index, host) in hosts.iter().enumerate() {
        let response = reqwest::Client::new()
            .post(console.running.url("/hooks/sdwan"))
            .header("content-type", "application/json")
            .body(sdwan_alarm(super::DOWN, &format!("g{index}"), Some(host)))
            .send()
            .await
            .unwrap();
        assert!(response.status().is_success());
    }
    let card_of = |console: &super::Console| {
        console.sim.messages().into_iter().find(|message| {
            !message.attachments.is_empty()
                && hosts.iter().all(|host| {
                    message
                        .markdown
                        .as_deref()
                        .is_some_and(|markdown| markdown.contains(host))
                })
        })
    };
    wait_until("one card for the three alarms", || {
        card_of(&console).is_some()
    })
    .await;
    let card = card_of(&console).unwrap();

    console
        .sim
        .click(&card.id, ALICE, json!({"netpulse": "ack"}))
        .unwrap();
    wait_until("every alarm of the card is acknowledged", || {
        let body = futures_lite_block(api(&console.running, "/api/v1/alarms?state=acknowledged"));
        let alarms = body["alarms"].as_array().cloned().unwrap_or_default();
        hosts.iter().all(|host| {
            alarms
                .iter()
                .any(|alarm| alarm["device"] == *host && alarm["operator"]["by"] == ALICE)
        })
    })
    .await;
    wait_until("the thread says so", || {
        !console.replies_to(&card.id).is_empty()
    })
    .await;
    let reply = console.replies_to(&card.id)[0]
        .markdown
        .clone()
        .unwrap_or_default();
    assert!(
        reply.contains("Acknowledged by") && reply.contains("3 alarms"),
        "{reply}"
    );

    // After a restart, the recorded card still says what a click acts on.
    let console = console.restart().await;
    console
        .sim
        .click(
            &card.id,
            ALICE,
            json!({"netpulse": "silence", "for": "24h"}),
        )
        .unwrap();
    let silences = || {
        let body = futures_lite_block(api(&console.running, "/api/v1/silences"));
        body["silences"].as_array().cloned().unwrap_or_default()
    };
    wait_until("the silence exists", || silences().len() == 1).await;
    let silence = silences().remove(0);
    assert_eq!(silence["created_by"], ALICE, "{silence}");
    assert_eq!(
        silence["matcher"]["source"],
        json!(["vmanage"]),
        "{silence}"
    );
    let starts = jiff::Timestamp::from_str(silence["starts_at"].as_str().unwrap()).unwrap();
    let ends = jiff::Timestamp::from_str(silence["ends_at"].as_str().unwrap()).unwrap();
    assert_eq!(
        ends.duration_since(starts).as_secs(),
        24 * 3600,
        "{silence}"
    );
    wait_until("the thread says so again", || {
        console.replies_to(&card.id).len() == 2
    })
    .await;
    console.stop().await;
}

/// A click is not kept waiting behind the sink's backlog: with eleven cards queued behind a slow
/// Webex, the Acknowledge on the first card is applied and answered while most of them are still
/// waiting to be posted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_click_is_acted_on_before_the_backlog_of_notifications_queued_ahead_of_it() {
    let console = start_grouped(Path::Webhook, "group_by: [\"...\"], group_wait: 100ms").await;
    let first = console.alarm_card("b0", "edge-200").await;
    // Every post now takes half a second: the next cards queue in the sink's outbox.
    console
        .sim
        .fault(netpulse::sim::webex::Fault::Latency { millis: 500 });
    for index in 1..12 {
        let response = reqwest::Client::new()
            .post(console.running.url("/hooks/sdwan"))
            .header("content-type", "application/json")
            .body(sdwan_alarm(
                super::DOWN,
                &format!("b{index}"),
                Some(&format!("edge-2{index:02}")),
            ))
            .send()
            .await
            .unwrap();
        assert!(response.status().is_success());
    }
    let cards = || {
        console
            .sim
            .messages()
            .iter()
            .filter(|message| !message.attachments.is_empty())
            .count()
    };
    wait_until("the backlog has started", || cards() >= 2).await;
    console
        .sim
        .click(&first.id, ALICE, json!({"netpulse": "ack"}))
        .unwrap();
    wait_until("the first card's alarm is acknowledged", || {
        let body = futures_lite_block(api(&console.running, "/api/v1/alarms?state=acknowledged"));
        body["alarms"]
            .as_array()
            .is_some_and(|alarms| alarms.iter().any(|alarm| alarm["device"] == "edge-200"))
    })
    .await;
    let posted = cards();
    assert!(
        posted < 12,
        "the click waited for the whole backlog: {posted} cards were posted before it"
    );
    wait_until("the thread reply", || {
        !console.replies_to(&first.id).is_empty()
    })
    .await;
    console.stop().await;
}
