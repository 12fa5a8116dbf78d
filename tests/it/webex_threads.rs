//! Group notifications through the real Webex worker to the simulator: a group's later
//! notifications reply in the thread of its first message (`parentId`), and a group whose first
//! notification never reached the room gets a thread from its next one.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use netpulse::event::Severity;
use netpulse::route::{AlarmLine, Counts, LineState, Notification, NotificationReason};
use netpulse::sim::webex::{WebexSim, WebexSimConfig};
use netpulse::sink::Outbox;
use netpulse::sink::webex::group::GroupTemplates;
use netpulse::store::{NewEvent, Store, StoreConfig};
use tokio_util::sync::CancellationToken;

use crate::support::wait_until;

fn notification(group: &str, number: u32, state: LineState) -> Notification {
    let line = AlarmLine {
        key: format!("{group}:bfd"),
        seq: u64::from(number),
        state,
        severity: Severity::Major,
        device: "edge-07".to_owned(),
        summary: "BFD session down".to_owned(),
        link: None,
        time: jiff::Timestamp::now(),
    };
    let mut counts = Counts::default();
    match state {
        LineState::Cleared => counts.cleared.add(Severity::Major),
        _ => counts.new.add(Severity::Major),
    }
    Notification {
        route: "noc".to_owned(),
        sink: "noc".to_owned(),
        group: group.to_owned(),
        labels: BTreeMap::from([("device".to_owned(), "edge-07".to_owned())]),
        number,
        reason: if number == 1 {
            NotificationReason::First
        } else {
            NotificationReason::Update
        },
        counts,
        alarms: vec![line],
        all_cleared: state == LineState::Cleared,
        members: vec![u64::from(number)],
        root_causes: Vec::new(),
    }
}

/// Appends `notification` as the router does: an event with one outbox row for its sink.
async fn append(store: &Store, notification: &Notification) -> u64 {
    let event = NewEvent {
        sinks: vec![notification.sink.clone()],
        ..NewEvent::new(notification.to_event(jiff::Timestamp::now()))
    };
    store.append(&[event]).await.unwrap()[0].seq
}

/// The Webex sink `noc` posting to the simulator's room, and its worker.
struct Sink {
    drain: CancellationToken,
    worker: tokio::task::JoinHandle<()>,
}

impl Sink {
    /// `template`: the sink's own template for per-event messages.
    fn start(sim: &WebexSim, store: &Store, template: Option<&str>) -> Sink {
        let config: netpulse::config::WebexSinkConfig = serde_json::from_value(serde_json::json!({
            "name": "noc", "token": "sim-bot-token",
            "room_id": sim.room_id("NOC").unwrap(), "base_url": sim.base_url(),
            "rate_limit": 50, "public_url": PUBLIC_URL, "template": template,
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
        Sink { drain, worker }
    }

    async fn stop(self) {
        self.drain.cancel();
        self.worker.await.unwrap();
    }
}

const PUBLIC_URL: &str = "https://netpulse.example.com";

#[tokio::test]
async fn a_groups_later_notifications_reply_in_the_thread_of_its_first() {
    let sim_shutdown = CancellationToken::new();
    let sim = WebexSim::start(WebexSimConfig::default(), sim_shutdown.clone())
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(StoreConfig::new(dir.path().join("netpulse.db"))).unwrap();
    // Group a: its first notification, then the clear. Group b: its first notification was lost
    // (say, dead-lettered), so its second starts the thread and its third replies there.
    let sent = [
        notification("noc/noc/aaaa", 1, LineState::New),
        notification("noc/noc/bbbb", 2, LineState::New),
        notification("noc/noc/aaaa", 2, LineState::Cleared),
        notification("noc/noc/bbbb", 3, LineState::Cleared),
    ];
    for item in &sent {
        append(&store, item).await;
    }
    // A sink's own template is for per-event messages: notifications keep theirs.
    let sink = Sink::start(&sim, &store, Some("custom {{ event.summary }}"));
    wait_until("the four notifications reach the room", || {
        sim.messages().len() == 4
    })
    .await;

    let messages = sim.messages();
    for message in &messages {
        let markdown = message.markdown.as_deref().unwrap();
        assert!(markdown.contains("**noc** · device: **"), "{markdown}");
        assert!(!markdown.starts_with("custom"), "{markdown}");
        assert!(
            message.text.as_deref().unwrap().contains("edge-07"),
            "{message:?}"
        );
    }
    let (a1, b2, a2, b3) = (&messages[0], &messages[1], &messages[2], &messages[3]);
    assert_eq!(
        a1.parent_id, None,
        "a group's first notification starts its thread"
    );
    assert_eq!(a2.parent_id.as_deref(), Some(a1.id.as_str()), "{a2:?}");
    assert!(
        a2.markdown
            .as_deref()
            .unwrap()
            .contains("All alarms of this group have cleared"),
        "{a2:?}"
    );
    assert_eq!(b2.parent_id, None, "no thread known: posted unthreaded");
    assert_eq!(b3.parent_id.as_deref(), Some(b2.id.as_str()), "{b3:?}");

    let reader = store.reader().unwrap();
    assert_eq!(
        reader.thread("noc", "noc/noc/aaaa").unwrap().as_deref(),
        Some(a1.id.as_str())
    );
    assert_eq!(
        reader.thread("noc", "noc/noc/bbbb").unwrap().as_deref(),
        Some(b2.id.as_str())
    );
    wait_until("the outbox records the deliveries", || {
        reader.outbox_counts("noc").unwrap().delivered == 4
    })
    .await;
    sink.stop().await;
    sim_shutdown.cancel();
}

#[tokio::test]
async fn every_part_of_a_split_notification_and_every_later_one_reply_in_the_thread() {
    let sim_shutdown = CancellationToken::new();
    let sim = WebexSim::start(WebexSimConfig::default(), sim_shutdown.clone())
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(StoreConfig::new(dir.path().join("netpulse.db"))).unwrap();
    // 120 labels of 80 characters: more than one Webex message can hold.
    let mut first = notification("noc/noc/cccc", 1, LineState::New);
    first.labels = (0..120)
        .map(|index| (format!("/label{index:03}"), "v".repeat(80)))
        .collect();
    append(&store, &first).await;
    append(&store, &notification("noc/noc/cccc", 2, LineState::Cleared)).await;
    let sink = Sink::start(&sim, &store, None);
    wait_until("two parts and the update reach the room", || {
        sim.messages().len() == 3
    })
    .await;
    let messages = sim.messages();
    assert!(
        messages[0]
            .markdown
            .as_deref()
            .unwrap()
            .contains("/label000")
    );
    assert!(
        messages[1]
            .markdown
            .as_deref()
            .unwrap()
            .contains("/label119")
    );
    assert_eq!(messages[0].parent_id, None);
    assert_eq!(
        messages[1].parent_id.as_deref(),
        Some(messages[0].id.as_str())
    );
    assert_eq!(
        messages[2].parent_id.as_deref(),
        Some(messages[0].id.as_str())
    );
    sink.stop().await;
    sim_shutdown.cancel();
}

#[tokio::test]
async fn a_thread_whose_first_message_is_gone_restarts_with_the_next_notification() {
    let sim_shutdown = CancellationToken::new();
    let sim = WebexSim::start(WebexSimConfig::default(), sim_shutdown.clone())
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(StoreConfig::new(dir.path().join("netpulse.db"))).unwrap();
    // The stored thread names a message the room no longer has (deleted by someone).
    let deleted = "Y2lzY29zcGFyazovL3VzL01FU1NBR0UvZGVsZXRlZA";
    store
        .set_thread("noc", "noc/noc/dddd", deleted)
        .await
        .unwrap();
    append(&store, &notification("noc/noc/dddd", 4, LineState::New)).await;
    append(&store, &notification("noc/noc/dddd", 5, LineState::Cleared)).await;
    let sink = Sink::start(&sim, &store, None);
    wait_until("both notifications reach the room", || {
        sim.messages().len() == 2
    })
    .await;
    let messages = sim.messages();
    assert_eq!(messages[0].parent_id, None, "posted unthreaded, not lost");
    assert_eq!(
        messages[1].parent_id.as_deref(),
        Some(messages[0].id.as_str())
    );
    let statuses: Vec<u16> = sim
        .requests()
        .iter()
        .map(|request| request.status)
        .collect();
    assert_eq!(statuses, [400, 200, 200]);
    let reader = store.reader().unwrap();
    assert_eq!(
        reader.thread("noc", "noc/noc/dddd").unwrap().as_deref(),
        Some(messages[0].id.as_str())
    );
    wait_until("nothing is dead-lettered", || {
        let counts = reader.outbox_counts("noc").unwrap();
        (counts.delivered, counts.dead) == (2, 0)
    })
    .await;
    sink.stop().await;
    sim_shutdown.cancel();
}

#[tokio::test]
async fn a_notification_posted_before_a_crash_is_not_posted_again_and_keeps_its_thread() {
    let sim_shutdown = CancellationToken::new();
    let sim = WebexSim::start(WebexSimConfig::default(), sim_shutdown.clone())
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(StoreConfig::new(dir.path().join("netpulse.db"))).unwrap();
    let first = notification("noc/noc/eeee", 1, LineState::New);
    append(&store, &first).await;
    // A process claimed it, posted it, and died before recording either the delivery or the
    // thread: at the next start its row is uncertain.
    let now = jiff::Timestamp::now().as_millisecond();
    assert_eq!(
        store.claim_due("noc", now, 10, 60_000).await.unwrap().len(),
        1
    );
    assert_eq!(store.recover_leases("noc").await.unwrap(), 1);
    let message = GroupTemplates::new(Some(PUBLIC_URL))
        .unwrap()
        .render(&first)
        .unwrap();
    let posted: serde_json::Value = reqwest::Client::new()
        .post(format!("{}/v1/messages", sim.base_url()))
        .bearer_auth("sim-bot-token")
        .json(&serde_json::json!({
            "roomId": sim.room_id("NOC").unwrap(), "markdown": message.markdown,
        }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    append(&store, &notification("noc/noc/eeee", 2, LineState::Cleared)).await;
    let sink = Sink::start(&sim, &store, None);
    wait_until("the update reaches the room", || sim.messages().len() == 2).await;
    let messages = sim.messages();
    assert_eq!(messages[0].id, posted["id"].as_str().unwrap());
    assert_eq!(
        messages[1].parent_id.as_deref(),
        Some(messages[0].id.as_str()),
        "the update replies to the message found in the room"
    );
    wait_until("both rows are delivered", || {
        store
            .reader()
            .unwrap()
            .outbox_counts("noc")
            .unwrap()
            .delivered
            == 2
    })
    .await;
    assert_eq!(sim.messages().len(), 2, "nothing posted twice");
    sink.stop().await;
    sim_shutdown.cancel();
}
