//! The feed against a real store: resume without gap or duplicate while events keep arriving,
//! filters in both halves, a slow client cut off, and a resume point older than retention.

use serde_json::json;

use super::*;
use crate::event::{Event, Severity};
use crate::store::{NewEvent, Store, StoreConfig};

struct Fixture {
    _dir: tempfile::TempDir,
    store: Store,
    hub: Hub,
    pool: ReaderPool,
}

fn start(buffer: usize) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("netpulse.db");
    let (hub, tap, announcements) = Hub::new(buffer);
    let mut config = StoreConfig::new(&path);
    config.tap = Some(tap);
    let store = Store::open(config).unwrap();
    tokio::spawn(hub.clone().run(announcements));
    Fixture {
        _dir: dir,
        store,
        hub,
        pool: ReaderPool::new(path),
    }
}

fn item(device: &str, n: u64) -> NewEvent {
    let mut event = Event::new(
        "leaf",
        "com.example.test",
        jiff::Timestamp::now(),
        json!({ "n": n }),
    );
    event.device = device.to_owned();
    event.severity = Severity::Minor;
    NewEvent::new(event)
}

async fn append(store: &Store, device: &str, count: u64) {
    for n in 0..count {
        store.append(&[item(device, n)]).await.unwrap();
    }
}

async fn next_event(cursor: &mut Cursor) -> (u64, serde_json::Value) {
    let item = tokio::time::timeout(std::time::Duration::from_secs(10), cursor.next())
        .await
        .expect("an item within 10 s")
        .unwrap();
    match item {
        FeedItem::Event { seq, json } => (seq, serde_json::from_str(&json).unwrap()),
        other => panic!("expected an event, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resumed_cursor_sees_every_seq_once_in_order_while_ingest_goes_on() {
    let fixture = start(64);
    append(&fixture.store, "leaf1", 1200).await;
    // Appends go on while the cursor catches up from seq 100 through more than two store pages.
    let writer = {
        let store = fixture.store.clone();
        tokio::spawn(async move { append(&store, "leaf1", 800).await })
    };
    let mut cursor = Cursor::open(
        &fixture.hub,
        &fixture.pool,
        EventFilter::default(),
        Some(100),
    )
    .await
    .unwrap();
    let mut seen = Vec::new();
    while seen.len() < 1900 {
        let (seq, json) = next_event(&mut cursor).await;
        assert_eq!(json["seq"], seq, "the JSON carries the seq");
        seen.push(seq);
    }
    writer.await.unwrap();
    let expected: Vec<u64> = (101..=2000).collect();
    assert_eq!(seen, expected);
    fixture.store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_filter_applies_to_stored_and_live_events() {
    let fixture = start(64);
    append(&fixture.store, "leaf1", 3).await;
    append(&fixture.store, "leaf2", 3).await;
    let filter = EventFilter {
        device: Some("leaf2".to_owned()),
        ..EventFilter::default()
    };
    let mut cursor = Cursor::open(&fixture.hub, &fixture.pool, filter, Some(0))
        .await
        .unwrap();
    append(&fixture.store, "leaf1", 3).await;
    append(&fixture.store, "leaf2", 2).await;
    let mut devices = Vec::new();
    for _ in 0..5 {
        let (_, json) = next_event(&mut cursor).await;
        devices.push(json["device"].as_str().unwrap().to_owned());
    }
    assert_eq!(devices, ["leaf2"; 5]);
    fixture.store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_does_not_read_is_cut_off_and_can_resume_where_it_was() {
    let fixture = start(4);
    let mut cursor = Cursor::open(&fixture.hub, &fixture.pool, EventFilter::default(), None)
        .await
        .unwrap();
    assert_eq!(fixture.hub.clients(), 1);
    // Twenty events while the client reads none: its queue holds four.
    append(&fixture.store, "leaf1", 20).await;
    let mut seqs = Vec::new();
    let last = loop {
        match cursor.next().await.unwrap() {
            FeedItem::Event { seq, .. } => seqs.push(seq),
            FeedItem::Lagged { last_seq, message } => {
                assert!(message.contains("resume after seq"), "{message}");
                break last_seq;
            }
            other => panic!("unexpected {other:?}"),
        }
    };
    assert_eq!(seqs, [1, 2, 3, 4]);
    assert_eq!(last, 4);
    drop(cursor);
    assert_eq!(fixture.hub.clients(), 0);

    let mut resumed = Cursor::open(
        &fixture.hub,
        &fixture.pool,
        EventFilter::default(),
        Some(last),
    )
    .await
    .unwrap();
    for expected in 5..=20 {
        assert_eq!(next_event(&mut resumed).await.0, expected);
    }
    fixture.store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resume_point_older_than_retention_is_told_and_starts_at_the_oldest_kept() {
    let fixture = start(64);
    append(&fixture.store, "leaf1", 5).await;
    let pruned = fixture
        .store
        .prune_older_than(jiff::Timestamp::now() + jiff::SignedDuration::from_secs(60))
        .await
        .unwrap();
    // Retention keeps the newest event (seq 5), the highest seq assigned.
    assert_eq!(pruned, 4);
    append(&fixture.store, "leaf1", 2).await;
    let mut cursor = Cursor::open(&fixture.hub, &fixture.pool, EventFilter::default(), Some(2))
        .await
        .unwrap();
    match cursor.next().await.unwrap() {
        FeedItem::Notice { code, message } => {
            assert_eq!(code, "retention");
            assert!(message.contains("events 3 to 4"), "{message}");
        }
        other => panic!("expected a notice, got {other:?}"),
    }
    assert_eq!(next_event(&mut cursor).await.0, 5);
    assert_eq!(next_event(&mut cursor).await.0, 6);
    assert_eq!(next_event(&mut cursor).await.0, 7);
    fixture.store.close().await;
}

/// The writer's announcements wait for the hub in a bounded queue: a stalled hub (a starved
/// runtime) costs a bounded amount of memory, and a client is never silently skipped past the
/// announcements that did not fit: it is told to resume, and resuming from the store loses none.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_hub_holds_a_bounded_queue_and_its_clients_resume_without_loss() {
    const BOUND: usize = HUB_QUEUE;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("netpulse.db");
    // A client queue larger than the burst: only the hub's queue can overflow.
    let (hub, tap, announcements) = Hub::new(100_000);
    let mut config = StoreConfig::new(&path);
    config.tap = Some(tap);
    let store = Store::open(config).unwrap();
    let pool = ReaderPool::new(path);
    let mut cursor = Cursor::open(&hub, &pool, EventFilter::default(), None)
        .await
        .unwrap();
    // The hub's task is not running yet: a burst of commits while it is stalled.
    let total = BOUND as u64 + 1000;
    for first in (0..total).step_by(200) {
        let items: Vec<NewEvent> = (first..(first + 200).min(total))
            .map(|n| item("leaf1", n))
            .collect();
        store.append(&items).await.unwrap();
    }
    assert!(
        announcements.len() <= BOUND,
        "{} announcements wait for the hub",
        announcements.len()
    );
    tokio::spawn(hub.clone().run(announcements));
    let mut seen = Vec::new();
    let mut resumed = 0;
    while seen.len() < total as usize {
        let item = tokio::time::timeout(std::time::Duration::from_secs(10), cursor.next())
            .await
            .expect("an item within 10 s")
            .unwrap();
        match item {
            FeedItem::Event { seq, .. } => seen.push(seq),
            FeedItem::Lagged { last_seq, .. } => {
                resumed += 1;
                cursor = Cursor::open(&hub, &pool, EventFilter::default(), Some(last_seq))
                    .await
                    .unwrap();
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    let expected: Vec<u64> = (1..=total).collect();
    assert_eq!(seen, expected, "every seq once, in order");
    assert!(resumed <= 1, "resumed {resumed} times");
    store.close().await;
}
