//! Alarm states: raise and clear by key, across the version 5 upgrade, and their retention.

use super::*;

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

#[tokio::test]
async fn alarms_stored_before_version_5_are_cleared_by_key_after_the_upgrade() {
    let dir = tempfile::tempdir().unwrap();
    old_database(
        &dir,
        4,
        "INSERT INTO events (id, received_ms, time_ms, device, kind, severity, body)
             VALUES ('e1', 1, 0, 'edge1', 'k', 3, '{}');
         INSERT INTO alarms (key, raised, first_seq, last_seq, updated_ms, events)
             VALUES ('sdwan:old', 1, 1, 1, 1, 1);",
    );
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
