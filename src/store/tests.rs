//! Tests of the store against real SQLite files in temporary directories.

use serde_json::json;

use super::*;
use crate::event::{AlarmState, Severity};

fn open(dir: &tempfile::TempDir) -> Store {
    Store::open(StoreConfig::new(dir.path().join("netpulse.db"))).unwrap()
}

fn event(device: &str, severity: Severity) -> Event {
    let time: jiff::Timestamp = "2026-01-02T03:04:05.678Z".parse().unwrap();
    let mut event = Event::new(device, "com.cisco.dme.modified", time, json!({"n": 1}));
    event.subject = Some("sys/intf/phys-[eth1/1]".to_owned());
    event.severity = severity;
    event.summary = "eth1/1 down".to_owned();
    event
}

fn item(event: Event) -> NewEvent {
    NewEvent {
        raw_data: None,
        event,
        idempotency_key: None,
        sinks: Vec::new(),
        alarms: Vec::new(),
    }
}

async fn append_one(store: &Store, item: NewEvent) -> Result<Appended, StoreError> {
    Ok(store.append(&[item]).await?[0])
}

fn now_ms() -> i64 {
    jiff::Timestamp::now().as_millisecond()
}

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

// A current-thread runtime enqueues all 200 requests within a few milliseconds. Commits no longer
// wait for the fsync (the syncer does it), so without a commit interval the writer may commit
// every few requests on a fast disk; with 20 ms between commits under load they share a handful.
#[tokio::test]
async fn concurrent_appends_share_commits() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = StoreConfig::new(dir.path().join("netpulse.db"));
    config.min_commit_interval = std::time::Duration::from_millis(20);
    let store = Store::open(config).unwrap();
    let tasks: Vec<_> = (0..200)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(
                async move { append_one(&store, item(event("leaf1", Severity::Info))).await },
            )
        })
        .collect();
    let mut seqs = Vec::new();
    for task in tasks {
        seqs.push(task.await.unwrap().unwrap().seq);
    }
    seqs.sort_unstable();
    seqs.dedup();
    assert_eq!(seqs.len(), 200);
    let stats = store.stats();
    assert!(stats.commits < 20, "{stats:?}");
    assert_eq!(
        store.reader().unwrap().count("SELECT count(*) FROM events"),
        200
    );
    store.close().await;
}

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

/// Makes SQLite refuse every event of `device` inside the append, as it refuses a row that breaks
/// a constraint: a real error in the writer's savepoint, to test what a rejection undoes.
fn refuse_device(dir: &tempfile::TempDir, device: &str) {
    let conn = rusqlite::Connection::open(dir.path().join("netpulse.db")).unwrap();
    conn.busy_timeout(std::time::Duration::from_secs(5))
        .unwrap();
    conn.execute_batch(&format!(
        "CREATE TRIGGER refuse BEFORE INSERT ON events WHEN NEW.device = '{device}'
         BEGIN SELECT RAISE(ABORT, 'refused for the test'); END;"
    ))
    .unwrap();
}

fn keyed(key: &str, device: &str) -> NewEvent {
    NewEvent {
        idempotency_key: Some(key.to_owned()),
        ..item(event(device, Severity::Major))
    }
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

/// A store file as an older netpulse left it: migrated to `version` and no further.
fn database_at_version(dir: &tempfile::TempDir, version: usize) -> rusqlite::Connection {
    let conn = rusqlite::Connection::open(dir.path().join("netpulse.db")).unwrap();
    for migration in &schema::MIGRATIONS[..version] {
        conn.execute_batch(migration).unwrap();
    }
    conn.pragma_update(None, "user_version", version as i64)
        .unwrap();
    conn
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

#[tokio::test]
async fn a_rejected_request_stores_none_of_its_events() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    append_one(&store, item(event("leaf1", Severity::Info)))
        .await
        .unwrap();
    refuse_device(&dir, "refused");
    let result = store
        .append(&[
            item(event("leaf2", Severity::Info)),
            item(event("refused", Severity::Info)),
        ])
        .await;
    assert!(matches!(result, Err(StoreError::Rejected(_))), "{result:?}");
    assert_eq!(
        store.reader().unwrap().count("SELECT count(*) FROM events"),
        1
    );
    // The store is still writable afterwards.
    append_one(&store, item(event("leaf3", Severity::Info)))
        .await
        .unwrap();
    assert_eq!(store.write_state(), WriteState::Writing);
    store.close().await;
}

#[tokio::test]
async fn outbox_claims_respect_due_time_and_lease() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let new_event = NewEvent {
        raw_data: None,
        sinks: vec!["webex".to_owned(), "file".to_owned()],
        ..item(event("leaf1", Severity::Major))
    };
    let seq = append_one(&store, new_event).await.unwrap().seq;
    let reader = store.reader().unwrap();
    assert_eq!(reader.count("SELECT count(*) FROM outbox"), 2);

    let now = now_ms();
    let claimed = store.claim_due("webex", now, 10, 1000).await.unwrap();
    assert_eq!(claimed.len(), 1);
    assert_eq!((claimed[0].seq, claimed[0].attempts), (seq, 0));
    assert_eq!(claimed[0].event.seq, seq);
    let id = claimed[0].id;
    assert!(
        store
            .claim_due("webex", now + 999, 10, 1000)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        store
            .claim_due("webex", now + 1000, 10, 1000)
            .await
            .unwrap()
            .len(),
        1
    );

    store
        .mark_failed(id, "timeout".to_owned(), now + 5000, Failed::Retry)
        .await
        .unwrap();
    assert!(
        store
            .claim_due("webex", now + 4999, 10, 1000)
            .await
            .unwrap()
            .is_empty()
    );
    let retry = store
        .claim_due("webex", now + 5000, 10, 1000)
        .await
        .unwrap();
    assert_eq!(retry[0].attempts, 1);
    // Being asked to wait (429) is not an attempt.
    store
        .mark_failed(id, "429".to_owned(), now + 6000, Failed::Deferred)
        .await
        .unwrap();
    let deferred = store
        .claim_due("webex", now + 6000, 10, 1000)
        .await
        .unwrap();
    assert_eq!(deferred[0].attempts, 1);
    store
        .mark_failed(id, "gone".to_owned(), 0, Failed::Dead)
        .await
        .unwrap();
    assert!(
        store
            .claim_due("webex", i64::MAX, 10, 0)
            .await
            .unwrap()
            .is_empty()
    );

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

#[tokio::test]
async fn alarm_state_follows_raise_and_clear() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let mut seqs = Vec::new();
    for raised in [true, true, false, true] {
        let mut alarm_event = event("leaf1", Severity::Major);
        alarm_event.alarmstate = if raised {
            AlarmState::Raised
        } else {
            AlarmState::Cleared
        };
        let new_event = NewEvent {
            raw_data: None,
            alarms: vec![AlarmUpdate {
                key: "leaf1/eth1/1/down".to_owned(),
                raised,
            }],
            ..item(alarm_event)
        };
        seqs.push(append_one(&store, new_event).await.unwrap().seq);
        let alarm = store
            .reader()
            .unwrap()
            .alarm("leaf1/eth1/1/down")
            .unwrap()
            .unwrap();
        let expected_first = if seqs.len() == 4 { seqs[3] } else { seqs[0] };
        assert_eq!(
            (alarm.raised, alarm.first_seq, alarm.last_seq),
            (raised, expected_first, *seqs.last().unwrap())
        );
    }
    assert!(store.reader().unwrap().alarm("other").unwrap().is_none());
    store.close().await;
}

fn alarm_event(key: &str, raised: bool) -> NewEvent {
    let mut alarm_event = event("leaf1", Severity::Major);
    alarm_event.alarmstate = if raised {
        AlarmState::Raised
    } else {
        AlarmState::Cleared
    };
    NewEvent {
        raw_data: None,
        alarms: vec![AlarmUpdate {
            key: key.to_owned(),
            raised,
        }],
        ..item(alarm_event)
    }
}

#[tokio::test]
async fn alarms_stored_before_version_5_are_cleared_by_key_after_the_upgrade() {
    let dir = tempfile::tempdir().unwrap();
    {
        let conn = database_at_version(&dir, 4);
        conn.execute_batch(
            "INSERT INTO events (id, received_ms, time_ms, device, kind, severity, body)
                 VALUES ('e1', 1, 0, 'edge1', 'k', 3, '{}');
             INSERT INTO alarms (key, raised, first_seq, last_seq, updated_ms, events)
                 VALUES ('sdwan:old', 1, 1, 1, 1, 1);",
        )
        .unwrap();
    }
    let store = open(&dir);
    let clear = append_one(&store, alarm_event("sdwan:old", false))
        .await
        .unwrap();
    let reader = store.reader().unwrap();
    let alarm = reader.alarm("sdwan:old").unwrap().expect("migrated alarm");
    assert_eq!(
        (alarm.raised, alarm.first_seq, alarm.last_seq),
        (false, 1, clear.seq)
    );
    assert_eq!(reader.count("SELECT count(*) FROM alarms"), 1);
    store.close().await;
}

#[tokio::test]
async fn retention_deletes_old_cleared_alarms_and_keeps_raised_ones() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    append_one(&store, alarm_event("cleared", false))
        .await
        .unwrap();
    append_one(&store, alarm_event("raised", true))
        .await
        .unwrap();
    let future = jiff::Timestamp::now() + jiff::SignedDuration::from_secs(60);
    store.prune_older_than(future).await.unwrap();
    let reader = store.reader().unwrap();
    assert!(reader.alarm("cleared").unwrap().is_none());
    assert!(reader.alarm("raised").unwrap().unwrap().raised);
    // The writer forgot the pruned key: raising it again makes a new row, not a lost update.
    let again = append_one(&store, alarm_event("cleared", true))
        .await
        .unwrap();
    let alarm = reader.alarm("cleared").unwrap().expect("raised again");
    assert_eq!((alarm.raised, alarm.first_seq), (true, again.seq));
    store.close().await;
}

// A crash-restart: what was committed is there after reopening, and a lease taken before the
// restart still holds, so the row is neither lost nor sent twice.
#[tokio::test]
async fn data_and_leases_survive_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let new_event = NewEvent {
        raw_data: None,
        sinks: vec!["webex".to_owned()],
        ..item(event("leaf1", Severity::Minor))
    };
    let seq = append_one(&store, new_event).await.unwrap().seq;
    let now = now_ms();
    assert_eq!(
        store
            .claim_due("webex", now, 10, 60_000)
            .await
            .unwrap()
            .len(),
        1
    );
    drop(store);

    let store = open(&dir);
    assert!(store.reader().unwrap().event(seq).unwrap().is_some());
    assert!(
        store
            .claim_due("webex", now, 10, 60_000)
            .await
            .unwrap()
            .is_empty()
    );
    let reclaimed = store
        .claim_due("webex", now + 60_000, 10, 60_000)
        .await
        .unwrap();
    assert_eq!(reclaimed[0].seq, seq);
    // Seqs keep growing after a restart.
    let next = append_one(&store, item(event("leaf1", Severity::Info)))
        .await
        .unwrap();
    assert!(next.seq > seq);
    store.close().await;
}

#[tokio::test]
async fn opening_twice_migrates_once() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    append_one(&store, item(event("leaf1", Severity::Info)))
        .await
        .unwrap();
    store.close().await;
    let store = open(&dir);
    let reader = store.reader().unwrap();
    assert_eq!(reader.user_version(), schema::latest_version());
    assert_eq!(reader.count("SELECT count(*) FROM events"), 1);
    store.close().await;
}

#[tokio::test]
async fn prune_keeps_events_still_to_deliver() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let pending = NewEvent {
        raw_data: None,
        sinks: vec!["webex".to_owned()],
        ..item(event("leaf1", Severity::Info))
    };
    let delivered = NewEvent {
        raw_data: None,
        sinks: vec!["file".to_owned()],
        ..item(event("leaf1", Severity::Info))
    };
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
    {
        let conn = database_at_version(&dir, 5);
        conn.execute_batch(
            "INSERT INTO events (seq, id, idempotency_key, received_ms, time_ms, device, kind,
                 severity, body)
             VALUES (7, 'e7', NULL, 1, 0, 'edge1', 'k', 3, '{\"id\":\"e7\"}'),
                    (9, 'e9', NULL, 1, 0, 'edge1', 'k', 3, '{\"id\":\"e9\"}');
             INSERT INTO outbox (sink, seq, next_attempt_ms) VALUES ('webex', 7, 0);
             INSERT INTO event_keys (seq, key, received_ms) VALUES (9, 'sdwan:nine', 1);
             -- Retention had deleted seqs up to 12 before this version.
             UPDATE sqlite_sequence SET seq = 12 WHERE name = 'events';",
        )
        .unwrap();
    }
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

// `max_page_count` makes SQLite answer SQLITE_FULL exactly as a full disk would, even as root.
#[tokio::test]
async fn a_full_database_makes_appends_unavailable_and_rolls_back() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = StoreConfig::new(dir.path().join("netpulse.db"));
    // More than any disk has: the free-space check below must say "not yet".
    config.min_free_bytes = u64::MAX;
    let store = Store::open(config).unwrap();
    append_one(&store, item(event("leaf1", Severity::Info)))
        .await
        .unwrap();
    let reader = store.reader().unwrap();
    let pages = reader.count("PRAGMA page_count");
    store
        .execute_on_writer(&format!("PRAGMA max_page_count = {pages}"))
        .await
        .unwrap();

    let mut big = event("leaf1", Severity::Info);
    // Incompressible, so that it needs new pages even compressed (`body.rs`).
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    let padding: String = (0..256 * 1024)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            char::from(b'!' + (state % 90) as u8)
        })
        .collect();
    big.data = json!({ "padding": padding });
    let items = vec![item(event("leaf2", Severity::Info)), item(big)];
    let result = store.append(&items).await;
    assert!(matches!(result, Err(StoreError::Full(_))), "{result:?}");
    assert_eq!(reader.count("SELECT count(*) FROM events"), 1);
    assert_eq!(store.stats().failed_commits, 1);
    // /readyz measures the free space of the store's filesystem while the disk is full.
    let state = store.write_state();
    assert!(
        matches!(state, WriteState::DiskFull { available, needed: u64::MAX } if available > 0),
        "{state:?}"
    );
    assert!(!state.ready());

    // Once space is back, writes work again.
    store
        .execute_on_writer("PRAGMA max_page_count = 1073741823")
        .await
        .unwrap();
    append_one(&store, item(event("leaf3", Severity::Info)))
        .await
        .unwrap();
    store.close().await;
}

#[cfg(unix)]
#[tokio::test]
async fn a_read_only_file_makes_appends_unavailable() {
    use std::os::unix::fs::PermissionsExt;

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("netpulse.db");
    open(&dir).close().await;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o444)).unwrap();
    if std::fs::OpenOptions::new().write(true).open(&path).is_ok() {
        eprintln!("skipped: the file is still writable (running as root?), chmod proves nothing");
        return;
    }
    // Failing to open is as good an answer as failing to append: nothing gets acknowledged.
    let Ok(store) = Store::open(StoreConfig::new(&path)) else {
        return;
    };
    let result = append_one(&store, item(event("leaf1", Severity::Info))).await;
    assert!(
        matches!(result, Err(StoreError::Unavailable(_))),
        "{result:?}"
    );
    store.close().await;
}

#[tokio::test]
async fn requests_after_close_are_unavailable() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let other = store.clone();
    store.close().await;
    let result = append_one(&other, item(event("leaf1", Severity::Info))).await;
    assert!(
        matches!(result, Err(StoreError::Unavailable(_))),
        "{result:?}"
    );
}

#[tokio::test]
async fn leases_of_a_stopped_process_come_back_uncertain_and_released_rows_do_not() {
    let dir = tempfile::tempdir().unwrap();
    let now = now_ms();
    {
        let store = open(&dir);
        for _ in 0..3 {
            let new_event = NewEvent {
                raw_data: None,
                sinks: vec!["webex".to_owned()],
                ..item(event("leaf1", Severity::Major))
            };
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
    let claimed = store.claim_due("webex", now, 10, 60_000).await.unwrap();
    let uncertain: Vec<bool> = claimed.iter().map(|delivery| delivery.uncertain).collect();
    assert_eq!(uncertain, [true, false, false]);
    store
        .mark_failed(claimed[0].id, "503".to_owned(), 0, Failed::Retry)
        .await
        .unwrap();
    let again = store.claim_due("webex", now, 10, 60_000).await.unwrap();
    assert_eq!(again.len(), 1);
    assert!(!again[0].uncertain, "a recorded failure settles the doubt");
}

#[tokio::test]
async fn a_rejected_request_among_concurrent_ones_does_not_undo_the_others() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    append_one(&store, item(event("leaf1", Severity::Info)))
        .await
        .unwrap();
    refuse_device(&dir, "refused");
    // Sent together, these requests are committed in the same batch and first tried under one
    // savepoint; the bad one must fail alone.
    let requests = (0..20).map(|index| {
        let store = store.clone();
        let event = if index == 7 {
            event("refused", Severity::Info)
        } else {
            event("leaf2", Severity::Info)
        };
        async move { append_one(&store, item(event)).await }
    });
    let results = futures_util::future::join_all(requests).await;
    let rejected: Vec<usize> = results
        .iter()
        .enumerate()
        .filter(|(_, result)| matches!(result, Err(StoreError::Rejected(_))))
        .map(|(index, _)| index)
        .collect();
    assert_eq!(rejected, [7]);
    assert!(
        results
            .iter()
            .enumerate()
            .all(|(index, result)| index == 7 || result.is_ok())
    );
    assert_eq!(
        store.reader().unwrap().count("SELECT count(*) FROM events"),
        20
    );
    store.close().await;
}
