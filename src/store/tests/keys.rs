//! Idempotency keys: a redelivery is stored once, across restarts and schema versions, and a
//! rejected request leaves no key.

use super::*;

#[tokio::test]
async fn idempotency_key_stores_an_event_once() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let keyed = |sinks: Vec<String>| NewEvent {
        raw_data: None,
        idempotency_key: Some("sdwan:7f3c".to_owned()),
        sinks,
        ..item(event("vmanage", Severity::Major))
    };
    let first = append_one(&store, keyed(vec!["webex".to_owned()]))
        .await
        .unwrap();
    let again = store
        .append(&[keyed(vec!["webex".to_owned()]), keyed(Vec::new())])
        .await
        .unwrap();
    let duplicate = Appended {
        seq: first.seq,
        duplicate: true,
    };
    assert_eq!(again, [duplicate, duplicate]);
    let reader = store.reader().unwrap();
    assert_eq!(reader.count("SELECT count(*) FROM events"), 1);
    assert_eq!(reader.outbox_counts("webex").unwrap().pending, 1);
    store.close().await;
}

#[tokio::test]
async fn a_redelivery_is_recognised_after_a_restart_until_its_key_is_forgotten() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let a = append_one(&store, keyed("sdwan:a", "edge1")).await.unwrap();
    let b = append_one(&store, keyed("sdwan:b", "edge2")).await.unwrap();
    store.close().await;
    // The keys are read back from the store at the next start.
    let store = open(&dir);
    let again = store
        .append(&[keyed("sdwan:a", "edge1"), keyed("sdwan:b", "edge2")])
        .await
        .unwrap();
    assert_eq!(
        again,
        [
            Appended {
                seq: a.seq,
                duplicate: true
            },
            Appended {
                seq: b.seq,
                duplicate: true
            }
        ]
    );
    store.close().await;
    // Remembering one key only: the newest (b) is remembered, a is stored again.
    let mut config = StoreConfig::new(dir.path().join("netpulse.db"));
    config.dedup.max_keys = 1;
    let store = Store::open(config).unwrap();
    assert!(
        append_one(&store, keyed("sdwan:b", "edge2"))
            .await
            .unwrap()
            .duplicate
    );
    let a_again = append_one(&store, keyed("sdwan:a", "edge1")).await.unwrap();
    assert!(!a_again.duplicate && a_again.seq > b.seq, "{a_again:?}");
    let reader = store.reader().unwrap();
    assert_eq!(reader.count("SELECT count(*) FROM events"), 3);
    assert_eq!(
        reader.event_by_key("sdwan:a").unwrap().unwrap().seq,
        a_again.seq
    );
    store.close().await;
    // A window of zero forgets every key at once.
    let mut config = StoreConfig::new(dir.path().join("netpulse.db"));
    config.dedup.window_ms = 0;
    let store = Store::open(config).unwrap();
    assert!(
        !append_one(&store, keyed("sdwan:b", "edge2"))
            .await
            .unwrap()
            .duplicate
    );
    store.close().await;
}

#[tokio::test]
async fn keys_stored_before_version_4_still_recognise_redeliveries() {
    let dir = tempfile::tempdir().unwrap();
    {
        let conn = database_at_version(&dir, 3);
        conn.execute(
            "INSERT INTO events (id, idempotency_key, received_ms, time_ms, device, kind, severity, body)
             VALUES ('e1', 'sdwan:old', ?1, 0, 'edge1', 'k', 3, '{}')",
            [now_ms()],
        )
        .unwrap();
    }
    let store = open(&dir);
    let again = append_one(&store, keyed("sdwan:old", "edge1"))
        .await
        .unwrap();
    assert_eq!(
        again,
        Appended {
            seq: 1,
            duplicate: true
        }
    );
    let reader = store.reader().unwrap();
    assert_eq!(
        reader.count("SELECT count(*) FROM event_keys WHERE key = 'sdwan:old'"),
        1
    );
    store.close().await;
}

#[tokio::test]
async fn a_rejected_request_leaves_no_key_behind() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    refuse_device(&dir, "refused");
    // Rejected as a whole (SQLite refuses the second event): its key must not count as stored.
    let result = store
        .append(&[
            keyed("sdwan:k", "edge1"),
            item(event("refused", Severity::Info)),
        ])
        .await;
    assert!(matches!(result, Err(StoreError::Rejected(_))), "{result:?}");
    let stored = append_one(&store, keyed("sdwan:k", "edge1")).await.unwrap();
    assert!(
        !stored.duplicate,
        "the key of a rejected request was remembered"
    );
    assert!(
        append_one(&store, keyed("sdwan:k", "edge1"))
            .await
            .unwrap()
            .duplicate
    );
    store.close().await;
}
