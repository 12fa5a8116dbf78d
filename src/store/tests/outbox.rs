//! The outbox: claims by due time and lease, leases across a restart, and the leases of a stopped
//! process.

use super::*;

#[tokio::test]
async fn outbox_claims_respect_due_time_and_lease() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let new_event = for_sinks(&["webex", "file"], Severity::Major);
    let seq = append_one(&store, new_event).await.unwrap().seq;
    let reader = store.reader().unwrap();
    assert_eq!(reader.count("SELECT count(*) FROM outbox"), 2);

    let now = now_ms();
    let claimed = claim_webex(&store, now, 1000).await;
    assert_eq!(claimed.len(), 1);
    assert_eq!((claimed[0].seq, claimed[0].attempts), (seq, 0));
    assert_eq!(claimed[0].event.seq, seq);
    let id = claimed[0].id;
    assert!(claim_webex(&store, now + 999, 1000).await.is_empty());
    assert_eq!(claim_webex(&store, now + 1000, 1000).await.len(), 1);

    store
        .mark_failed(id, "timeout".to_owned(), now + 5000, Failed::Retry)
        .await
        .unwrap();
    assert!(claim_webex(&store, now + 4999, 1000).await.is_empty());
    let retry = claim_webex(&store, now + 5000, 1000).await;
    assert_eq!(retry[0].attempts, 1);
    // Being asked to wait (429) is not an attempt.
    store
        .mark_failed(id, "429".to_owned(), now + 6000, Failed::Deferred)
        .await
        .unwrap();
    let deferred = claim_webex(&store, now + 6000, 1000).await;
    assert_eq!(deferred[0].attempts, 1);
    store
        .mark_failed(id, "gone".to_owned(), 0, Failed::Dead)
        .await
        .unwrap();
    assert!(claim_webex(&store, i64::MAX, 0).await.is_empty());

    let file = store.claim_due("file", now, 10, 1000).await.unwrap();
    store.mark_delivered(vec![file[0].id]).await.unwrap();
    let counts = |sink| reader.outbox_counts(sink).unwrap();
    let webex = OutboxCounts {
        dead: 1,
        ..OutboxCounts::default()
    };
    let delivered = OutboxCounts {
        delivered: 1,
        ..OutboxCounts::default()
    };
    assert_eq!((counts("webex"), counts("file")), (webex, delivered));
    let error =
        reader.count("SELECT count(*) FROM outbox WHERE last_error = 'gone' AND attempts = 2");
    assert_eq!(error, 1);
    store.close().await;
}

// A crash-restart: what was committed is there after reopening, and a lease taken before the
// restart still holds, so the row is neither lost nor sent twice.
#[tokio::test]
async fn data_and_leases_survive_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let new_event = for_sinks(&["webex"], Severity::Minor);
    let seq = append_one(&store, new_event).await.unwrap().seq;
    let now = now_ms();
    assert_eq!(claim_webex(&store, now, 60_000).await.len(), 1);
    drop(store);

    let store = open(&dir);
    assert!(store.reader().unwrap().event(seq).unwrap().is_some());
    assert!(claim_webex(&store, now, 60_000).await.is_empty());
    let reclaimed = claim_webex(&store, now + 60_000, 60_000).await;
    assert_eq!(reclaimed[0].seq, seq);
    // Seqs keep growing after a restart.
    let next = append_one(&store, item(event("leaf1", Severity::Info)))
        .await
        .unwrap();
    assert!(next.seq > seq);
    store.close().await;
}

#[tokio::test]
async fn leases_of_a_stopped_process_come_back_uncertain_and_released_rows_do_not() {
    let dir = tempfile::tempdir().unwrap();
    let now = now_ms();
    {
        let store = open(&dir);
        for _ in 0..3 {
            let new_event = for_sinks(&["webex"], Severity::Major);
            append_one(&store, new_event).await.unwrap();
        }
        let claimed = store.claim_due("webex", now, 2, 60_000).await.unwrap();
        assert_eq!(claimed.len(), 2);
        assert!(claimed.iter().all(|delivery| !delivery.uncertain));
        // The second row is handed back unattempted; the first stays leased, as if its request
        // was in flight when the process died.
        store.release(vec![claimed[1].id]).await.unwrap();
        store.close().await;
    }
    let store = open(&dir);
    assert_eq!(store.recover_leases("webex").await.unwrap(), 1);
    let claimed = claim_webex(&store, now, 60_000).await;
    let uncertain: Vec<bool> = claimed.iter().map(|delivery| delivery.uncertain).collect();
    assert_eq!(uncertain, [true, false, false]);
    store
        .mark_failed(claimed[0].id, "503".to_owned(), 0, Failed::Retry)
        .await
        .unwrap();
    let again = claim_webex(&store, now, 60_000).await;
    assert_eq!(again.len(), 1);
    assert!(!again[0].uncertain, "a recorded failure settles the doubt");
}

/// The `webex` rows due at `now` (ten at most), leased for `lease_ms`.
async fn claim_webex(store: &Store, now: i64, lease_ms: i64) -> Vec<Delivery> {
    store.claim_due("webex", now, 10, lease_ms).await.unwrap()
}

/// The trace and notification APIs show each event's deliveries as `outbox_rows` reads them.
#[tokio::test]
async fn outbox_rows_show_each_sinks_delivery_of_the_events_asked_for() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let first = append_one(&store, for_sinks(&["webex", "file"], Severity::Major))
        .await
        .unwrap()
        .seq;
    let second = append_one(&store, for_sinks(&["file"], Severity::Minor))
        .await
        .unwrap()
        .seq;
    let untouched = append_one(&store, for_sinks(&["file"], Severity::Minor))
        .await
        .unwrap()
        .seq;
    let now = now_ms();
    let file = store.claim_due("file", now, 10, 1000).await.unwrap();
    let first_file = file.iter().find(|row| row.seq == first).unwrap().id;
    store.mark_delivered(vec![first_file]).await.unwrap();
    let webex = claim_webex(&store, now, 1000).await;
    store
        .mark_failed(
            webex[0].id,
            "HTTP 500".to_owned(),
            now + 5000,
            Failed::Retry,
        )
        .await
        .unwrap();

    let reader = store.reader().unwrap();
    let rows = reader.outbox_rows(&[second, first]).unwrap();
    let view: Vec<_> = rows
        .iter()
        .map(|row| {
            (
                row.seq,
                row.sink.as_str(),
                row.status.as_str(),
                row.attempts,
            )
        })
        .collect();
    assert_eq!(
        view,
        [
            (first, "webex", "pending", 1),
            (first, "file", "delivered", 0),
            (second, "file", "pending", 0),
        ]
    );
    assert_eq!(rows[0].last_error.as_deref(), Some("HTTP 500"));
    assert_eq!(
        rows[0].next_attempt.map(|time| time.as_millisecond()),
        Some(now + 5000)
    );
    assert_eq!(
        rows[1].next_attempt, None,
        "only a pending row has a next attempt"
    );
    assert!(rows.iter().all(|row| row.seq != untouched));
    assert!(reader.outbox_rows(&[]).unwrap().is_empty());
    store.close().await;
}

/// A Webex sink claims the people talking to its bot (clicks, messages) before the notifications
/// queued ahead of them, which keep their order; a plain claim keeps the outbox order.
#[tokio::test]
async fn a_claim_with_interactions_first_puts_clicks_and_messages_ahead_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let kinds = [
        "io.netpulse.notification",
        "com.cisco.webex.attachmentActions.created",
        "io.netpulse.notification",
        "com.cisco.webex.message.created",
        "io.netpulse.notification",
    ];
    let mut seqs = Vec::new();
    for (index, kind) in kinds.iter().enumerate() {
        let mut new_event = for_sinks(&["noc"], Severity::Info);
        new_event.event.kind = (*kind).to_owned();
        new_event.event.id = format!("event-{index}");
        seqs.push(append_one(&store, new_event).await.unwrap().seq);
    }
    let now = now_ms();
    let first = store
        .claim_due_interactions_first("noc", now, 3, 1000)
        .await
        .unwrap();
    let claimed: Vec<u64> = first.iter().map(|delivery| delivery.seq).collect();
    assert_eq!(claimed, [seqs[1], seqs[3], seqs[0]]);
    let rest = store.claim_due("noc", now, 10, 1000).await.unwrap();
    let rest: Vec<u64> = rest.iter().map(|delivery| delivery.seq).collect();
    assert_eq!(rest, [seqs[2], seqs[4]]);
    store.close().await;
}
