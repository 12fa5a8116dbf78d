//! The operator fold: `alarm.acknowledged` / `alarm.closed` events of netpulse's own source set
//! `alarms.operator` in the transaction that appends them; a new raise after a clear starts over.

use super::*;
use crate::operator::{AlarmAction, OperatorStateKind, Via};
use crate::route::{OWN_SOURCE, operator_types};
use crate::store::AlarmFilter;

/// An operator event on alarm `key` by `by`, from `source`.
fn action(source: &str, kind: &str, key: &str, by: &str) -> NewEvent {
    let action = AlarmAction {
        key: key.to_owned(),
        by: by.to_owned(),
        note: format!("note of {by}"),
        via: Via::Api {
            token: by.to_owned(),
        },
    };
    let time: jiff::Timestamp = "2026-03-04T05:06:07Z".parse().unwrap();
    let data = serde_json::to_value(&action).unwrap();
    item(Event::new(source, kind, time, data))
}

fn ack(key: &str, by: &str) -> NewEvent {
    action(OWN_SOURCE, operator_types::ALARM_ACKNOWLEDGED, key, by)
}

fn close(key: &str, by: &str) -> NewEvent {
    action(OWN_SOURCE, operator_types::ALARM_CLOSED, key, by)
}

/// The operator state of `key`: its kind and who.
fn state(store: &Store, key: &str) -> Option<(OperatorStateKind, String)> {
    let view = store.reader().unwrap().alarm_view(key).unwrap()?;
    view.operator.map(|operator| (operator.state, operator.by))
}

fn listed(store: &Store, which: AlarmFilter) -> Vec<String> {
    let reader = store.reader().unwrap();
    let alarms = reader.alarms(which, 100).unwrap();
    alarms.into_iter().map(|alarm| alarm.row.key).collect()
}

#[tokio::test]
async fn an_acknowledgement_is_folded_into_the_alarm_and_the_first_one_stays() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    append_one(&store, alarm_event("leaf1:eth1/1", true))
        .await
        .unwrap();
    assert_eq!(state(&store, "leaf1:eth1/1"), None);
    append_one(&store, ack("leaf1:eth1/1", "alice"))
        .await
        .unwrap();
    let view = store
        .reader()
        .unwrap()
        .alarm_view("leaf1:eth1/1")
        .unwrap()
        .unwrap();
    let operator = view.operator.expect("acknowledged");
    assert_eq!(operator.state, OperatorStateKind::Acknowledged);
    assert_eq!(
        (operator.by.as_str(), operator.note.as_str()),
        ("alice", "note of alice")
    );
    assert_eq!(operator.at, "2026-03-04T05:06:07Z".parse().unwrap());
    // A second acknowledgement in the log (another node, a race) leaves the first acknowledger.
    append_one(&store, ack("leaf1:eth1/1", "bob"))
        .await
        .unwrap();
    assert_eq!(
        state(&store, "leaf1:eth1/1"),
        Some((OperatorStateKind::Acknowledged, "alice".to_owned()))
    );
    assert_eq!(listed(&store, AlarmFilter::Active), ["leaf1:eth1/1"]);
    assert_eq!(listed(&store, AlarmFilter::Acknowledged), ["leaf1:eth1/1"]);
    store.close().await;
}

#[tokio::test]
async fn a_closed_alarm_leaves_the_active_list_until_it_is_raised_again() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    for key in ["a", "b"] {
        append_one(&store, alarm_event(key, true)).await.unwrap();
    }
    append_one(&store, ack("a", "alice")).await.unwrap();
    append_one(&store, close("a", "bob")).await.unwrap();
    assert_eq!(
        state(&store, "a"),
        Some((OperatorStateKind::Closed, "bob".to_owned()))
    );
    // An acknowledgement does not reopen a closed alarm.
    append_one(&store, ack("a", "carol")).await.unwrap();
    assert_eq!(
        state(&store, "a"),
        Some((OperatorStateKind::Closed, "bob".to_owned()))
    );
    assert_eq!(listed(&store, AlarmFilter::Active), ["b"]);
    assert_eq!(listed(&store, AlarmFilter::Closed), ["a"]);
    assert!(listed(&store, AlarmFilter::Acknowledged).is_empty());
    // The device repeats the raise: still the same occurrence, still closed.
    append_one(&store, alarm_event("a", true)).await.unwrap();
    assert_eq!(
        state(&store, "a"),
        Some((OperatorStateKind::Closed, "bob".to_owned()))
    );
    // Cleared, then raised again: a new occurrence, with no operator state, active again.
    append_one(&store, alarm_event("a", false)).await.unwrap();
    assert_eq!(
        state(&store, "a"),
        Some((OperatorStateKind::Closed, "bob".to_owned()))
    );
    append_one(&store, alarm_event("a", true)).await.unwrap();
    assert_eq!(state(&store, "a"), None);
    let mut active = listed(&store, AlarmFilter::Active);
    active.sort();
    assert_eq!(active, ["a", "b"]);
    store.close().await;
}

#[tokio::test]
async fn the_operator_state_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    append_one(&store, alarm_event("k", true)).await.unwrap();
    append_one(&store, close("k", "alice")).await.unwrap();
    store.close().await;
    let store = open(&dir);
    assert_eq!(
        state(&store, "k"),
        Some((OperatorStateKind::Closed, "alice".to_owned()))
    );
    assert!(listed(&store, AlarmFilter::Active).is_empty());
    // The reopened writer still finds the row to reset it.
    append_one(&store, alarm_event("k", false)).await.unwrap();
    append_one(&store, alarm_event("k", true)).await.unwrap();
    assert_eq!(state(&store, "k"), None);
    store.close().await;
}

#[tokio::test]
async fn only_netpulse_itself_can_acknowledge_and_unknown_keys_get_no_row() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    append_one(&store, alarm_event("k", true)).await.unwrap();
    // The same type from a webhook source is an ordinary event.
    let forged = action("hooks", operator_types::ALARM_CLOSED, "k", "mallory");
    append_one(&store, forged).await.unwrap();
    assert_eq!(state(&store, "k"), None);
    // An action on a key the table does not hold is logged, and makes no alarm.
    append_one(&store, ack("nope", "alice")).await.unwrap();
    assert!(
        store
            .reader()
            .unwrap()
            .alarm_view("nope")
            .unwrap()
            .is_none()
    );
    assert_eq!(listed(&store, AlarmFilter::All), ["k"]);
    store.close().await;
}
