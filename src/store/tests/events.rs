//! The event log: what is appended reads back, queries, retention and the seq it never hands out
//! twice.

use super::*;

#[tokio::test]
async fn appended_event_reads_back_identical_with_its_seq() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let original = event("leaf1", Severity::Major);
    let appended = append_one(&store, item(original.clone())).await.unwrap();
    assert!(!appended.duplicate);

    let stored = store
        .reader()
        .unwrap()
        .event(appended.seq)
        .unwrap()
        .unwrap();
    let mut expected = original;
    expected.seq = appended.seq;
    assert_eq!(stored, expected);
    store.close().await;
}

#[tokio::test]
async fn queries_filter_and_order() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let items = vec![
        item(event("leaf1", Severity::Info)),
        item(event("leaf2", Severity::Critical)),
        item(event("leaf1", Severity::Major)),
    ];
    let seqs: Vec<u64> = store
        .append(&items)
        .await
        .unwrap()
        .iter()
        .map(|a| a.seq)
        .collect();
    let reader = store.reader().unwrap();
    let found = |query: EventQuery| -> Vec<u64> {
        reader
            .events(&query)
            .unwrap()
            .iter()
            .map(|e| e.seq)
            .collect()
    };

    assert_eq!(found(EventQuery::default()), [seqs[2], seqs[1], seqs[0]]);
    let resume = EventQuery {
        after_seq: Some(seqs[0]),
        ..EventQuery::default()
    };
    assert_eq!(found(resume), [seqs[1], seqs[2]]);
    let leaf1 = EventQuery {
        filter: EventFilter {
            device: Some("leaf1".to_owned()),
            min_severity: Some(Severity::Minor),
            ..EventFilter::default()
        },
        ..EventQuery::default()
    };
    assert_eq!(found(leaf1), [seqs[2]]);
    let time = event("x", Severity::Info).time;
    let window = EventQuery {
        filter: EventFilter {
            since: Some(time),
            until: Some(time + jiff::SignedDuration::from_millis(1)),
            kind: Some("com.cisco.dme.modified".to_owned()),
            ..EventFilter::default()
        },
        limit: 2,
        ..EventQuery::default()
    };
    assert_eq!(found(window), [seqs[2], seqs[1]]);
    let before = EventQuery {
        filter: EventFilter {
            until: Some(time),
            ..EventFilter::default()
        },
        ..EventQuery::default()
    };
    assert!(found(before).is_empty());
    store.close().await;
}

#[tokio::test]
async fn prune_keeps_events_still_to_deliver() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let pending = for_sinks(&["webex"], Severity::Info);
    let delivered = for_sinks(&["file"], Severity::Info);
    let plain = item(event("leaf1", Severity::Info));
    let newest = item(event("leaf1", Severity::Info));
    let seqs = store
        .append(&[pending, delivered, plain, newest])
        .await
        .unwrap();
    let file = store.claim_due("file", now_ms(), 10, 1000).await.unwrap();
    store.mark_delivered(vec![file[0].id]).await.unwrap();

    let past = jiff::Timestamp::now() - jiff::SignedDuration::from_secs(3600);
    assert_eq!(store.prune_older_than(past).await.unwrap(), 0);
    let future = jiff::Timestamp::now() + jiff::SignedDuration::from_secs(1);
    // The delivered one and the plain one; the newest stays, as the highest seq assigned.
    assert_eq!(store.prune_older_than(future).await.unwrap(), 2);
    let reader = store.reader().unwrap();
    assert!(reader.event(seqs[0].seq).unwrap().is_some());
    assert!(reader.event(seqs[1].seq).unwrap().is_none());
    assert!(reader.event(seqs[3].seq).unwrap().is_some());
    assert_eq!(reader.count("SELECT count(*) FROM outbox"), 1);
    store.close().await;
}

#[tokio::test]
async fn a_seq_is_never_handed_out_twice_after_retention_and_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let items: Vec<NewEvent> = (0..5)
        .map(|_| item(event("leaf1", Severity::Info)))
        .collect();
    let appended = store.append(&items).await.unwrap();
    let highest = appended.last().unwrap().seq;
    let future = jiff::Timestamp::now() + jiff::SignedDuration::from_secs(1);
    assert_eq!(store.prune_older_than(future).await.unwrap(), 4);
    store.close().await;

    let store = open(&dir);
    assert_eq!(
        store.reader().unwrap().seq_range().unwrap(),
        (highest, highest)
    );
    let next = append_one(&store, item(event("leaf1", Severity::Info)))
        .await
        .unwrap();
    assert_eq!(next.seq, highest + 1);
    store.close().await;
}

#[tokio::test]
async fn version_6_keeps_seqs_outbox_rows_and_the_highest_seq_assigned() {
    let dir = tempfile::tempdir().unwrap();
    old_database(
        &dir,
        5,
        "INSERT INTO events (seq, id, idempotency_key, received_ms, time_ms, device, kind,
             severity, body)
         VALUES (7, 'e7', NULL, 1, 0, 'edge1', 'k', 3, '{\"id\":\"e7\"}'),
                (9, 'e9', NULL, 1, 0, 'edge1', 'k', 3, '{\"id\":\"e9\"}');
         INSERT INTO outbox (sink, seq, next_attempt_ms) VALUES ('webex', 7, 0);
         INSERT INTO event_keys (seq, key, received_ms) VALUES (9, 'sdwan:nine', 1);
         -- Retention had deleted seqs up to 12 before this version.
         UPDATE sqlite_sequence SET seq = 12 WHERE name = 'events';",
    );
    let store = open(&dir);
    let reader = store.reader().unwrap();
    assert_eq!(reader.count("SELECT count(*) FROM outbox WHERE seq = 7"), 1);
    assert_eq!(
        reader.count(
            "SELECT count(*) FROM event_keys JOIN events USING (seq) WHERE key = 'sdwan:nine'"
        ),
        1
    );
    assert_eq!(reader.seq_range().unwrap(), (7, 12));
    let indexes = reader
        .count("SELECT count(*) FROM sqlite_master WHERE type = 'index' AND tbl_name = 'events'");
    assert_eq!(indexes, 4, "time, device and time, type, severity");
    let next = append_one(&store, item(event("leaf1", Severity::Info)))
        .await
        .unwrap();
    assert_eq!(next.seq, 13);
    store.close().await;
}
