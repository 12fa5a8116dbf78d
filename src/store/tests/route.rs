//! The alerting router's tables: its commit is whole or nothing, what it writes reads back
//! (decisions, memberships, state, cursor, threads), retention takes the rows of the events it
//! deletes, and the log gives each event's alarm updates back.

use std::sync::Arc;
use std::sync::atomic::AtomicUsize;

use super::*;
use crate::route::{Decision, Outcome, StateChange};

fn decision(sink: &str, outcome: Outcome) -> Decision {
    Decision {
        route: "noc".to_owned(),
        sink: sink.to_owned(),
        outcome,
    }
}

/// A notification event for `sink` about `group`, as the router makes it.
fn notification(sink: &str, group: &str, number: u32) -> NewEvent {
    let mut event = Event::new(
        "netpulse",
        crate::route::NOTIFICATION_TYPE,
        jiff::Timestamp::now(),
        json!({"group": group, "number": number, "sink": sink}),
    );
    event.subject = Some(format!("{group}/{number}"));
    NewEvent {
        sinks: vec![sink.to_owned()],
        ..NewEvent::new(event)
    }
}

fn state(key: &str, value: Option<&str>) -> StateChange {
    StateChange {
        key: key.to_owned(),
        value: value.map(str::to_owned),
    }
}

/// Three routed events and one step of the router about them: a notification reporting the
/// first two, a decision for each, two state rows, the cursor at the third.
async fn routed_step(store: &Store) -> (Vec<u64>, RouteCommit) {
    let seqs: Vec<u64> = store
        .append(&[
            alarm_event("a", true),
            alarm_event("b", true),
            alarm_event("c", true),
        ])
        .await
        .unwrap()
        .iter()
        .map(|appended| appended.seq)
        .collect();
    let grouped = || Outcome::Grouped {
        group: "noc/webex/1".to_owned(),
    };
    let commit = RouteCommit {
        cursor: seqs[2],
        state: vec![
            state("group/noc/webex/1", Some(r#"{"n":1}"#)),
            state("flap/a", Some("[]")),
        ],
        traces: vec![
            (seqs[0], decision("webex", grouped())),
            (seqs[1], decision("webex", grouped())),
            (
                seqs[2],
                decision(
                    "webex",
                    Outcome::Silenced {
                        mute: "s1".to_owned(),
                    },
                ),
            ),
        ],
        notifications: vec![(notification("webex", "noc/webex/1", 1), seqs[..2].to_vec())],
        operator_events: vec![NewEvent::new(Event::new(
            "netpulse",
            crate::route::operator_types::WINDOW_STARTED,
            jiff::Timestamp::now(),
            json!({"id": "w1", "kind": "window"}),
        ))],
    };
    (seqs, commit)
}

#[tokio::test]
async fn a_route_commit_appends_its_events_with_outbox_rows_and_records_what_it_decided() {
    let dir = tempfile::tempdir().unwrap();
    let listeners = Arc::new(AtomicUsize::new(1));
    let (tap, mut announcements) = CommitTap::new(listeners, 64);
    let mut config = StoreConfig::new(dir.path().join("netpulse.db"));
    config.tap = Some(tap);
    let store = Store::open(config).unwrap();
    let (seqs, commit) = routed_step(&store).await;
    let appended = store.route_commit(commit).await.unwrap();
    assert_eq!(appended.len(), 2);
    let (notified, operator) = (appended[0].seq, appended[1].seq);
    assert_eq!([notified, operator], [seqs[2] + 1, seqs[2] + 2]);

    let reader = store.reader().unwrap();
    assert_eq!(reader.outbox_counts("webex").unwrap().pending, 1);
    let stored = reader.event(notified).unwrap().unwrap();
    assert_eq!(stored.kind, crate::route::NOTIFICATION_TYPE);
    assert_eq!(stored.subject.as_deref(), Some("noc/webex/1/1"));

    let trace = reader.route_trace(seqs[0]).unwrap();
    assert_eq!(trace.len(), 1);
    assert_eq!(
        trace[0].decision.outcome,
        Outcome::Grouped {
            group: "noc/webex/1".to_owned()
        }
    );
    assert_eq!(trace[0].notifications, [notified]);
    let silenced = reader.route_trace(seqs[2]).unwrap();
    assert_eq!(
        silenced[0].decision.outcome,
        Outcome::Silenced {
            mute: "s1".to_owned()
        }
    );
    assert!(silenced[0].notifications.is_empty());
    assert!(reader.route_trace(notified).unwrap().is_empty());

    let (cursor, rows) = reader.route_state().unwrap();
    assert_eq!(cursor, Some(seqs[2]));
    assert_eq!(
        rows,
        [
            ("flap/a".to_owned(), "[]".to_owned()),
            ("group/noc/webex/1".to_owned(), r#"{"n":1}"#.to_owned()),
        ]
    );

    // The live feed hears of the router's events like any other, in seq order.
    let mut heard = Vec::new();
    while heard.len() < 5 {
        announcements.recv_many(&mut heard, 16).await;
    }
    let heard: Vec<u64> = heard.iter().map(|committed| committed.seq).collect();
    assert_eq!(heard, [seqs[0], seqs[1], seqs[2], notified, operator]);
    store.close().await;
}

#[tokio::test]
async fn a_failed_route_commit_leaves_nothing_and_can_be_offered_again() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let (seqs, commit) = routed_step(&store).await;
    // The state rows come after the events, memberships and decisions: refusing them undoes
    // everything before.
    let conn = rusqlite::Connection::open(dir.path().join("netpulse.db")).unwrap();
    conn.busy_timeout(std::time::Duration::from_secs(5))
        .unwrap();
    conn.execute_batch(
        "CREATE TRIGGER refuse BEFORE INSERT ON route_state
         BEGIN SELECT RAISE(ABORT, 'refused for the test'); END;",
    )
    .unwrap();
    let again = RouteCommit {
        cursor: commit.cursor,
        state: commit.state.clone(),
        traces: commit.traces.clone(),
        notifications: commit.notifications.clone(),
        operator_events: commit.operator_events.clone(),
    };
    let failed = store.route_commit(commit).await;
    assert!(matches!(failed, Err(StoreError::Rejected(_))), "{failed:?}");

    let reader = store.reader().unwrap();
    assert_eq!(stored_events(&store), 3);
    assert_eq!(reader.outbox_counts("webex").unwrap().pending, 0);
    assert_eq!(reader.count("SELECT count(*) FROM route_trace"), 0);
    assert_eq!(reader.count("SELECT count(*) FROM notification_members"), 0);
    assert_eq!(reader.route_state().unwrap(), (None, Vec::new()));

    conn.execute_batch("DROP TRIGGER refuse").unwrap();
    let appended = store.route_commit(again).await.unwrap();
    // The seqs the failed commit had taken were handed back.
    assert_eq!(appended[0].seq, seqs[2] + 1);
    assert_eq!(reader.route_state().unwrap().0, Some(seqs[2]));
    assert_eq!(
        reader.route_trace(seqs[0]).unwrap()[0].notifications,
        [appended[0].seq]
    );
    store.close().await;
}

#[tokio::test]
async fn the_cursor_and_state_rows_survive_a_restart_and_deleted_rows_stay_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    assert_eq!(
        store.reader().unwrap().route_state().unwrap(),
        (None, Vec::new())
    );
    let (seqs, commit) = routed_step(&store).await;
    store.route_commit(commit).await.unwrap();
    store
        .route_commit(RouteCommit {
            cursor: seqs[2] + 2,
            state: vec![state("flap/a", None), state("group/noc/webex/1", Some("2"))],
            ..RouteCommit::default()
        })
        .await
        .unwrap();
    store.close().await;

    let store = open(&dir);
    let (cursor, rows) = store.reader().unwrap().route_state().unwrap();
    assert_eq!(cursor, Some(seqs[2] + 2));
    assert_eq!(rows, [("group/noc/webex/1".to_owned(), "2".to_owned())]);
    // The engine's rows never take the cursor's name.
    let clash = store
        .route_commit(RouteCommit {
            cursor: 99,
            state: vec![state("cursor", Some("1"))],
            ..RouteCommit::default()
        })
        .await;
    assert!(matches!(clash, Err(StoreError::Rejected(_))));
    store.close().await;
}

#[tokio::test]
async fn retention_deletes_the_decisions_and_memberships_of_the_events_it_deletes() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let (seqs, commit) = routed_step(&store).await;
    let appended = store.route_commit(commit).await.unwrap();
    let notified = appended[0].seq;
    let reader = store.reader().unwrap();
    assert_eq!(reader.count("SELECT count(*) FROM route_trace"), 3);

    // The notification is still owed to its sink: it and its memberships stay.
    let future = jiff::Timestamp::now() + jiff::SignedDuration::from_hours(1);
    store.prune_older_than(future).await.unwrap();
    assert!(reader.event(seqs[0]).unwrap().is_none());
    assert_eq!(reader.count("SELECT count(*) FROM route_trace"), 0);
    assert_eq!(reader.count("SELECT count(*) FROM notification_members"), 2);

    let claimed = store
        .claim_due("webex", now_ms(), 10, 60_000)
        .await
        .unwrap();
    assert_eq!(claimed[0].seq, notified);
    store.mark_delivered(vec![claimed[0].id]).await.unwrap();
    store.prune_older_than(future).await.unwrap();
    assert!(reader.event(notified).unwrap().is_none());
    assert_eq!(reader.count("SELECT count(*) FROM notification_members"), 0);
    // A later decision about an event retention has deleted is dropped, not an error.
    store
        .route_commit(RouteCommit {
            cursor: notified + 1,
            traces: vec![(
                seqs[0],
                decision(
                    "webex",
                    Outcome::NotNotified {
                        why: "late".to_owned(),
                    },
                ),
            )],
            ..RouteCommit::default()
        })
        .await
        .unwrap();
    assert_eq!(reader.count("SELECT count(*) FROM route_trace"), 0);
    store.close().await;
}

#[tokio::test]
async fn the_log_gives_each_event_back_with_the_alarms_it_raised_or_cleared() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let mut sdwan_clear = alarm_event("vmanage:a", false);
    sdwan_clear.alarms.push(AlarmUpdate {
        key: "odd\nkey\\with escapes".to_owned(),
        raised: false,
    });
    let seqs: Vec<u64> = store
        .append(&[
            item(event("leaf1", Severity::Info)),
            alarm_event("vmanage:a", true),
            sdwan_clear.clone(),
        ])
        .await
        .unwrap()
        .iter()
        .map(|appended| appended.seq)
        .collect();
    let reader = store.reader().unwrap();
    assert_eq!(
        reader.count("SELECT count(*) FROM events WHERE alarms IS NULL"),
        1,
        "an event without alarm updates stores NULL"
    );
    let logged = reader.logged_events_after(0, 10).unwrap();
    assert_eq!(
        logged.iter().map(|logged| logged.seq).collect::<Vec<_>>(),
        seqs
    );
    assert!(logged[0].alarms.is_empty());
    assert_eq!(logged[1].alarms, alarm_event("vmanage:a", true).alarms);
    assert_eq!(logged[2].alarms, sdwan_clear.alarms);
    assert_eq!(logged[2].event.seq, seqs[2]);
    assert_eq!(logged[2].event.device, "leaf1");
    let after = reader.logged_events_after(seqs[0], 1).unwrap();
    assert_eq!(after.len(), 1);
    assert_eq!(after[0].seq, seqs[1]);
    store.close().await;
}

#[tokio::test]
async fn an_event_is_found_by_its_id() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let mut items: Vec<NewEvent> = (0..50)
        .map(|index| item(event(&format!("leaf{index}"), Severity::Info)))
        .collect();
    // An id that is not a UUIDv7 (a provider's own) is found by the full scan.
    items[7].event.id = "provider-id-7".to_owned();
    let appended = store.append(&items).await.unwrap();
    let reader = store.reader().unwrap();
    for (item, appended) in items.iter().zip(&appended) {
        assert_eq!(
            reader.seq_of_id(&item.event.id).unwrap(),
            Some(appended.seq),
            "{}",
            item.event.id
        );
    }
    assert_eq!(
        reader.seq_of_id(&crate::event::new_event_id()).unwrap(),
        None
    );
    assert_eq!(reader.seq_of_id("nothing").unwrap(), None);
    store.close().await;
}

#[tokio::test]
async fn an_event_whose_id_was_made_long_before_it_was_stored_is_still_found() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let old = item(event("leaf1", Severity::Info));
    let id = old.event.id.clone();
    append_info(&store, "before").await;
    let stored = append_one(&store, old).await.unwrap();
    append_info(&store, "after").await;
    // As if the event had waited an hour before the store took it.
    store
        .execute_on_writer(&format!(
            "UPDATE events SET received_ms = received_ms + 3600000 WHERE seq >= {}",
            stored.seq
        ))
        .await
        .unwrap();
    assert_eq!(
        store.reader().unwrap().seq_of_id(&id).unwrap(),
        Some(stored.seq)
    );
    store.close().await;
}

#[test]
fn the_window_search_finds_the_first_event_received_at_or_after_an_instant() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("netpulse.db");
    {
        let conn = database_at_version(&dir, schema::latest_version());
        // Seqs with gaps (retention, a failed batch), received every 10 ms.
        for seq in [3, 4, 5, 9, 10, 20, 21, 22, 40, 41] {
            conn.execute(
                "INSERT INTO events (seq, id, received_ms, time_ms, device, kind, severity, body)
                 VALUES (?1, ?2, ?3, 0, 'd', 'k', 0, '{}')",
                rusqlite::params![seq, format!("id{seq}"), seq * 10],
            )
            .unwrap();
        }
    }
    let reader = Reader::open(&path).unwrap();
    for (at, expected) in [
        (0, Some(3)),
        (30, Some(3)),
        (31, Some(4)),
        (60, Some(9)),
        (95, Some(10)),
        (101, Some(20)),
        (300, Some(40)),
        (410, Some(41)),
        (411, None),
    ] {
        assert_eq!(reader.first_received_at(at).unwrap(), expected, "at {at}");
    }
}

#[tokio::test]
async fn a_group_thread_is_remembered_per_sink_and_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    store.set_thread("noc", "g1", "m1").await.unwrap();
    store.set_thread("ops", "g1", "m2").await.unwrap();
    store.set_thread("noc", "g1", "m3").await.unwrap();
    let reader = store.reader().unwrap();
    assert_eq!(reader.thread("noc", "g1").unwrap().as_deref(), Some("m3"));
    assert_eq!(reader.thread("ops", "g1").unwrap().as_deref(), Some("m2"));
    assert_eq!(reader.thread("noc", "g2").unwrap(), None);
    store.close().await;
}

#[tokio::test]
async fn a_scan_of_the_log_for_one_kind_returns_only_those_and_says_how_far_it_looked() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let silence = Event::new(
        "netpulse",
        crate::route::operator_types::SILENCE_CREATED,
        jiff::Timestamp::now(),
        json!({"id": "s1"}),
    );
    let seqs: Vec<u64> = store
        .append(&[
            alarm_event("a", true),
            item(silence),
            alarm_event("b", true),
        ])
        .await
        .unwrap()
        .iter()
        .map(|appended| appended.seq)
        .collect();
    let reader = store.reader().unwrap();
    let scan = reader
        .logged_events_of_kind_after(0, 10, crate::route::OPERATOR_TYPE_PREFIX)
        .unwrap();
    assert_eq!(scan.scanned, 3);
    assert_eq!(scan.last, Some(seqs[2]));
    assert_eq!(scan.events.len(), 1);
    assert_eq!(scan.events[0].seq, seqs[1]);
    assert_eq!(scan.events[0].event.data["id"], "s1");
    let partial = reader
        .logged_events_of_kind_after(seqs[1], 1, crate::route::OPERATOR_TYPE_PREFIX)
        .unwrap();
    assert_eq!(
        (partial.scanned, partial.last, partial.events.len()),
        (1, Some(seqs[2]), 0)
    );
    let done = reader
        .logged_events_of_kind_after(seqs[2], 10, crate::route::OPERATOR_TYPE_PREFIX)
        .unwrap();
    assert_eq!((done.scanned, done.last), (0, None));
    store.close().await;
}

#[tokio::test]
async fn a_store_of_version_7_gains_the_router_tables_and_its_events_read_with_no_alarms() {
    let dir = tempfile::tempdir().unwrap();
    let stored = event("edge1", Severity::Major);
    old_database(
        &dir,
        7,
        &format!(
            "INSERT INTO events (seq, id, received_ms, time_ms, device, kind, severity, body)
             VALUES (4, '{}', 1, 0, 'edge1', 'k', 3, '{}');",
            stored.id,
            serde_json::to_string(&stored).unwrap().replace('\'', "''")
        ),
    );
    let store = open(&dir);
    let reader = store.reader().unwrap();
    assert_eq!(reader.user_version(), 10);
    let logged = reader.logged_events_after(0, 10).unwrap();
    assert_eq!(logged.len(), 1);
    assert_eq!(logged[0].seq, 4);
    assert!(logged[0].alarms.is_empty());
    assert_eq!(reader.route_state().unwrap(), (None, Vec::new()));
    assert_eq!(reader.seq_of_id(&stored.id).unwrap(), Some(4));
    // The next event gets the next seq, with its alarms recorded.
    let appended = append_one(&store, alarm_event("k1", true)).await.unwrap();
    assert_eq!(appended.seq, 5);
    assert_eq!(
        reader.logged_events_after(4, 10).unwrap()[0].alarms,
        alarm_event("k1", true).alarms
    );
    store.close().await;
}
