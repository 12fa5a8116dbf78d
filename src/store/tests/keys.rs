//! Idempotency keys: a redelivery is stored once, across restarts and schema versions, and a
//! rejected request leaves no key.

use super::*;

#[tokio::test]
async fn idempotency_key_stores_an_event_once() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let keyed = |sinks: Vec<String>| NewEvent {
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
    old_database(
        &dir,
        3,
        &format!(
            "INSERT INTO events (id, idempotency_key, received_ms, time_ms, device, kind, severity, body)
             VALUES ('e1', 'sdwan:old', {}, 0, 'edge1', 'k', 3, '{{}}')",
            now_ms()
        ),
    );
    let store = open(&dir);
    assert_redelivery_of_the_first(&store, keyed("sdwan:old", "edge1")).await;
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

/// A version 6 store as the previous netpulse left it: webhook keys as `<provider>:<id>`, with
/// the source of each event in `events.source`.
fn store_with_unscoped_keys(dir: &tempfile::TempDir) {
    let conn = database_at_version(dir, 6);
    conn.execute_batch(&format!(
        "INSERT INTO events (seq, id, received_ms, time_ms, device, kind, severity, body, source)
         VALUES
             (1, 'e1', {now}, 0, 'edge1', 'com.cisco.sdwan.alarm.raised', 3, '{{}}', 'vmanage'),
             (2, 'e2', {now}, 0, 'leaf1', 'com.cisco.dme.modified', 3, '{{}}', 'te'),
             (3, 'e3', {now}, 0, 'app', 'io.netpulse.webhook.hooks', 3, '{{}}', 'hooks'),
             (4, 'e4', {now}, 0, 'app', 'com.example.down', 3, '{{}}', 'events'),
             (5, 'e5', {now}, 0, 'edge2', 'com.cisco.sdwan.alarm.raised', 3, '{{}}', 'vmanage'),
             (6, 'e6', {now}, 0, 'edge3', 'com.cisco.sdwan.alarm.raised', 3, '{{}}', 'sdwan'),
             (7, 'e7', {now}, 0, 'app', 'com.example.up', 3, '{{}}', 'events');
         INSERT INTO event_keys (seq, key, received_ms) VALUES
             (1, 'sdwan:u1', {now}),
             (3, 'generic:hooks:7', {now}),
             (4, 'ce:/app:41', {now}),
             (5, 'vmanage:sdwan:u2', {now}),
             (6, 'sdwan:u3', {now}),
             (7, 'ce:/app:42', {now});
         INSERT INTO alarms (key, raised, first_seq, last_seq, updated_ms) VALUES
             ('sdwan:u1', 1, 1, 1, 1),
             ('te:sys/intf/phys-[eth1/1]', 1, 2, 2, 1),
             ('generic:hooks:db', 1, 3, 3, 1),
             ('app-down', 1, 4, 4, 1),
             ('vmanage:sdwan:u2', 1, 5, 5, 1),
             ('sdwan:u3', 1, 6, 6, 1),
             ('sdwan:u4', 0, 5, 7, 1),
             ('sdwan:u5', 1, 99, 1, 1),
             ('sdwan:u6', 1, 98, 99, 1);",
        now = now_ms()
    ))
    .unwrap();
}

#[tokio::test]
async fn webhook_keys_stored_before_version_7_are_scoped_by_their_source() {
    let dir = tempfile::tempdir().unwrap();
    store_with_unscoped_keys(&dir);
    let store = open(&dir);
    // A redelivery of the event stored before the upgrade, keyed as the new code keys it.
    assert_redelivery_of_the_first(&store, keyed("vmanage:sdwan:u1", "edge1")).await;
    // A clear keyed as the new code keys it clears the alarm raised before the upgrade.
    let clear = append_one(&store, alarm_event("vmanage:sdwan:u1", false))
        .await
        .unwrap();
    let reader = store.reader().unwrap();
    let alarm = reader.alarm("vmanage:sdwan:u1").unwrap().expect("alarm");
    assert_eq!(
        (alarm.raised, alarm.first_seq, alarm.last_seq),
        (false, 1, clear.seq)
    );
    let keys = |table: &str| -> Vec<String> {
        let conn = rusqlite::Connection::open(dir.path().join("netpulse.db")).unwrap();
        conn.prepare(&format!("SELECT key FROM {table} ORDER BY rowid"))
            .unwrap()
            .query_map([], |row| row.get(0))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap()
    };
    // A generic mapping's keys move the source first; a CloudEvent's alarm key as sent gets its
    // source; a device alarm key of a source named like a provider, and keys already scoped, stay.
    // An alarm takes the source of the event that raised it (another source's CloudEvent may have
    // cleared it, keys being shared), else of its last event, else it stays as it is.
    assert_eq!(
        keys("event_keys"),
        [
            "vmanage:sdwan:u1",
            "hooks:generic:7",
            "events:ce:/app:41",
            "vmanage:sdwan:u2",
            "sdwan:sdwan:u3",
            "events:ce:/app:42",
        ]
    );
    assert_eq!(
        keys("alarms"),
        [
            "vmanage:sdwan:u1",
            "te:sys/intf/phys-[eth1/1]",
            "hooks:generic:db",
            "events:app-down",
            "vmanage:sdwan:u2",
            "sdwan:sdwan:u3",
            "vmanage:sdwan:u4",
            "vmanage:sdwan:u5",
            "sdwan:u6",
        ]
    );
    store.close().await;
}

/// Appends `item` and checks that the store answers it as a redelivery of the first event stored.
async fn assert_redelivery_of_the_first(store: &Store, item: NewEvent) {
    let again = append_one(store, item).await.unwrap();
    assert_eq!(
        again,
        Appended {
            seq: 1,
            duplicate: true
        }
    );
}
