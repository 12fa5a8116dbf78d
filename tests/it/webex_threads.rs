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
    }
}

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
        let event = NewEvent {
            sinks: vec!["noc".to_owned()],
            ..NewEvent::new(item.to_event(jiff::Timestamp::now()))
        };
        store.append(&[event]).await.unwrap();
    }
    let config: netpulse::config::WebexSinkConfig = serde_json::from_value(serde_json::json!({
        "name": "noc", "token": "sim-bot-token",
        "room_id": sim.room_id("NOC").unwrap(), "base_url": sim.base_url(),
        "rate_limit": 50, "public_url": "https://netpulse.example.com",
        // A sink's own template is for per-event messages: notifications keep theirs.
        "template": "custom {{ event.summary }}",
    }))
    .unwrap();
    let outbox = Outbox {
        store: store.clone(),
        sink: "noc".to_owned(),
        waker: Arc::new(tokio::sync::Notify::new()),
        drain: CancellationToken::new(),
        linger: Duration::ZERO,
    };
    let drain = outbox.drain.clone();
    let worker = netpulse::sink::webex::spawn(&config, outbox).unwrap();
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
    drain.cancel();
    worker.await.unwrap();
    sim_shutdown.cancel();
}
