//! Tests of the store against real SQLite files in temporary directories, one file per table
//! (`events`, `keys`, `outbox`, `alarms`, `route`) and one for the writer's batching and failures. The
//! helpers here are shared by all of them.

mod alarms;
mod deliveries;
mod events;
mod keys;
mod operator;
mod outbox;
mod project;
mod route;
mod writer;

use serde_json::json;

use super::*;
use crate::event::{AlarmState, Event, Severity};

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
    NewEvent::new(event)
}

/// A `leaf1` event at `severity` for `sinks` to deliver.
fn for_sinks(sinks: &[&str], severity: Severity) -> NewEvent {
    NewEvent {
        sinks: sinks.iter().map(|sink| (*sink).to_owned()).collect(),
        ..item(event("leaf1", severity))
    }
}

/// Appends an info event of `device`, which must be stored.
async fn append_info(store: &Store, device: &str) -> Appended {
    append_one(store, item(event(device, Severity::Info)))
        .await
        .unwrap()
}

/// How many events the store holds.
fn stored_events(store: &Store) -> i64 {
    store.reader().unwrap().count("SELECT count(*) FROM events")
}

async fn append_one(store: &Store, item: NewEvent) -> Result<Appended, StoreError> {
    Ok(store.append(&[item]).await?[0])
}

fn now_ms() -> i64 {
    jiff::Timestamp::now().as_millisecond()
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

/// A store file as an older netpulse at `version` left it, holding the rows `sql` inserts.
fn old_database(dir: &tempfile::TempDir, version: usize, sql: &str) {
    database_at_version(dir, version)
        .execute_batch(sql)
        .unwrap();
}

fn alarm_event(key: &str, raised: bool) -> NewEvent {
    let mut alarm_event = event("leaf1", Severity::Major);
    alarm_event.alarmstate = if raised {
        AlarmState::Raised
    } else {
        AlarmState::Cleared
    };
    NewEvent {
        alarms: vec![AlarmUpdate {
            key: key.to_owned(),
            raised,
        }],
        ..item(alarm_event)
    }
}
