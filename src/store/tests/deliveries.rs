//! Folding a shared sink's delivery records (`Control::Delivery`, cluster mode) into the outbox:
//! what each outcome does to the row, that folding a record twice changes nothing, and that a
//! row left `Inflight` is offered as uncertain.

use super::*;
use crate::cluster::wire::DeliveryOutcome;

/// One outbox row as a reader of another node would check it.
#[derive(Debug, PartialEq)]
struct Row {
    status: String,
    attempts: u32,
    next_attempt_ms: i64,
    last_error: Option<String>,
    uncertain: bool,
}

fn row(store: &Store, sink: &str, seq: u64) -> Row {
    let conn = rusqlite::Connection::open(store.path()).unwrap();
    conn.query_row(
        "SELECT status, attempts, next_attempt_ms, last_error, uncertain FROM outbox
         WHERE sink = ?1 AND seq = ?2",
        rusqlite::params![sink, seq as i64],
        |row| {
            Ok(Row {
                status: row.get(0)?,
                attempts: row.get(1)?,
                next_attempt_ms: row.get(2)?,
                last_error: row.get(3)?,
                uncertain: row.get(4)?,
            })
        },
    )
    .unwrap()
}

fn inflight() -> DeliveryOutcome {
    DeliveryOutcome::Inflight {
        node: "g1".to_owned(),
    }
}

/// Folds `outcome` twice, checking that the second time changes nothing; the row after.
async fn apply_twice(store: &Store, seq: u64, outcome: DeliveryOutcome) -> Row {
    store
        .apply_delivery("webex", seq, outcome.clone())
        .await
        .unwrap();
    let once = row(store, "webex", seq);
    store.apply_delivery("webex", seq, outcome).await.unwrap();
    assert_eq!(
        row(store, "webex", seq),
        once,
        "folding a record again changed the row"
    );
    once
}

#[tokio::test]
async fn each_record_sets_the_rows_state_and_folding_it_again_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let seq = append_one(&store, for_sinks(&["webex", "file"], Severity::Major))
        .await
        .unwrap()
        .seq;

    let after = apply_twice(&store, seq, inflight()).await;
    assert_eq!((after.status.as_str(), after.uncertain), ("pending", true));

    let retry = DeliveryOutcome::Retry {
        attempts: 1,
        next_attempt_ms: 1_000,
        error: "503 from Webex".to_owned(),
    };
    let after = apply_twice(&store, seq, retry).await;
    assert_eq!(
        after,
        Row {
            status: "pending".to_owned(),
            attempts: 1,
            next_attempt_ms: 1_000,
            last_error: Some("503 from Webex".to_owned()),
            uncertain: false,
        }
    );

    apply_twice(&store, seq, inflight()).await;
    let dead = DeliveryOutcome::Dead {
        attempts: 2,
        error: "400 from Webex".to_owned(),
    };
    let after = apply_twice(&store, seq, dead).await;
    assert_eq!(
        (after.status.as_str(), after.attempts, after.uncertain),
        ("dead", 2, false)
    );
    let dead_letters = store.reader().unwrap().dead_letters("webex", 10).unwrap();
    assert_eq!(dead_letters.len(), 1, "every node lists the dead letter");

    let after = apply_twice(&store, seq, DeliveryOutcome::Requeued).await;
    assert_eq!(
        (after.status.as_str(), after.attempts, after.next_attempt_ms),
        ("pending", 0, 0),
        "requeued: pending again, due now"
    );

    apply_twice(&store, seq, inflight()).await;
    let after = apply_twice(&store, seq, DeliveryOutcome::Delivered).await;
    assert_eq!(
        (after.status.as_str(), after.uncertain),
        ("delivered", false)
    );
    // A late Inflight (the deliverer's own record folded after it marked the row) leaves a
    // delivered row alone.
    let after = apply_twice(&store, seq, inflight()).await;
    assert_eq!(
        (after.status.as_str(), after.uncertain),
        ("delivered", false)
    );

    // The node-local sink's row of the same event was never touched.
    let file = row(&store, "file", seq);
    assert_eq!((file.status.as_str(), file.uncertain), ("pending", false));
}

#[tokio::test]
async fn a_record_for_a_row_this_node_does_not_have_is_ignored() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let seq = append_one(&store, for_sinks(&["webex"], Severity::Major))
        .await
        .unwrap()
        .seq;
    for outcome in [
        inflight(),
        DeliveryOutcome::Delivered,
        DeliveryOutcome::Requeued,
    ] {
        store
            .apply_delivery("webex", seq + 100, outcome.clone())
            .await
            .unwrap();
        store.apply_delivery("other", seq, outcome).await.unwrap();
    }
    let reader = store.reader().unwrap();
    assert_eq!(reader.count("SELECT count(*) FROM outbox"), 1);
    assert_eq!(row(&store, "webex", seq).status, "pending");
}

#[tokio::test]
async fn a_row_left_inflight_is_claimed_as_uncertain_and_a_delivered_one_not_at_all() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let mut seqs = Vec::new();
    for _ in 0..3 {
        let item = for_sinks(&["webex"], Severity::Major);
        seqs.push(append_one(&store, item).await.unwrap().seq);
    }
    // The previous deliverer posted the first (Inflight, Delivered), then the second
    // (Inflight, and it stopped before it knew the outcome).
    store
        .apply_delivery("webex", seqs[0], inflight())
        .await
        .unwrap();
    store
        .apply_delivery("webex", seqs[0], DeliveryOutcome::Delivered)
        .await
        .unwrap();
    store
        .apply_delivery("webex", seqs[1], inflight())
        .await
        .unwrap();
    let claimed = store
        .claim_due("webex", now_ms(), 10, 60_000)
        .await
        .unwrap();
    let claimed: Vec<(u64, bool)> = claimed
        .iter()
        .map(|delivery| (delivery.seq, delivery.uncertain))
        .collect();
    assert_eq!(claimed, [(seqs[1], true), (seqs[2], false)]);
}
