//! The `alarms` table: each alarm key's current state, found without a random-order index. The
//! writer keeps every alarm key in memory (a keyed 64-bit hash of the key → the row of `alarms`),
//! and `alarms` is a plain rowid table appended in the order alarms are first seen.
//!
//! Alarm keys are often random (an SD-WAN raise is keyed by its uuid), and a UNIQUE index on them
//! dirtied one random B-tree page per raised alarm, each a 4 KiB WAL frame at commit. Measured
//! under `bench/ingest.sh`: the alarm upsert took a third of the WAL bytes per event and its page
//! reads, and removing it raised durable ingest by a third (BENCHMARKS.md).
//!
//! A hash hit is confirmed against the stored key (a rowid lookup), so two keys with one hash can
//! never update each other's alarm: the second is filed as shared, and keys of a shared hash are
//! looked up with a scan (about one pair in 10¹¹ at a million alarms). The map holds every row,
//! about 40 bytes each; retention deletes cleared alarms that have not changed within it, so it
//! is bounded by the raised alarms plus those cleared within the retention period.

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};

use rusqlite::{Connection, OptionalExtension, params};
use serde::Deserialize;

use crate::event::Event;
use crate::operator::{AlarmAction, OperatorState, OperatorStateKind};
use crate::route::operator_types;

/// Where the rows of one hash are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Slot {
    One(i64),
    /// Two keys share the hash: look in the table.
    Shared,
}

/// The writer thread's map of alarm keys, with an undo log for the open transaction.
pub(super) struct AlarmIndex {
    hasher: RandomState,
    rows: HashMap<u64, Slot>,
    /// What each change of the open transaction replaced, to undo a rollback.
    journal: Vec<(u64, Option<Slot>)>,
}

impl AlarmIndex {
    /// Reads every key of `alarms`.
    pub(super) fn load(conn: &Connection) -> rusqlite::Result<AlarmIndex> {
        let mut index = AlarmIndex {
            hasher: RandomState::new(),
            rows: HashMap::new(),
            journal: Vec::new(),
        };
        let mut statement = conn.prepare("SELECT id, key FROM alarms")?;
        let mut rows = statement.query([])?;
        while let Some(row) = rows.next()? {
            let key: String = row.get(1)?;
            index.file(&key, row.get(0)?);
        }
        index.journal.clear();
        Ok(index)
    }

    pub(super) fn len(&self) -> usize {
        self.rows.len()
    }

    fn hash(&self, key: &str) -> u64 {
        self.hasher.hash_one(key)
    }

    fn set(&mut self, hash: u64, slot: Option<Slot>) {
        let previous = match slot {
            Some(slot) => self.rows.insert(hash, slot),
            None => self.rows.remove(&hash),
        };
        self.journal.push((hash, previous));
    }

    /// Records the row of a key the table holds once (loading or inserting).
    fn file(&mut self, key: &str, id: i64) {
        let hash = self.hash(key);
        let slot = match self.rows.get(&hash) {
            None => Slot::One(id),
            Some(_) => Slot::Shared,
        };
        self.set(hash, Some(slot));
    }

    /// The row of alarm `key`, if the table has one.
    pub(super) fn find(&self, conn: &Connection, key: &str) -> rusqlite::Result<Option<i64>> {
        match self.rows.get(&self.hash(key)) {
            None => Ok(None),
            Some(Slot::One(id)) => {
                let stored: Option<String> = conn
                    .prepare_cached("SELECT key FROM alarms WHERE id = ?1")?
                    .query_row([id], |row| row.get(0))
                    .optional()?;
                Ok((stored.as_deref() == Some(key)).then_some(*id))
            }
            Some(Slot::Shared) => conn
                .prepare_cached("SELECT id FROM alarms WHERE key = ?1")?
                .query_row([key], |row| row.get(0))
                .optional(),
        }
    }

    /// Remembers a row inserted in the open transaction.
    pub(super) fn insert(&mut self, key: &str, id: i64) {
        self.file(key, id);
    }

    /// Forgets a row deleted in the open transaction. A shared hash stays shared.
    pub(super) fn remove(&mut self, key: &str, id: i64) {
        let hash = self.hash(key);
        if self.rows.get(&hash) == Some(&Slot::One(id)) {
            self.set(hash, None);
        }
    }

    /// A point of the open transaction to roll back to.
    pub(super) fn mark(&self) -> usize {
        self.journal.len()
    }

    /// Undoes the changes since `mark`: their savepoint or transaction was rolled back.
    pub(super) fn rollback_to(&mut self, mark: usize) {
        while self.journal.len() > mark {
            let (hash, previous) = self.journal.pop().expect("journal longer than mark");
            match previous {
                Some(slot) => self.rows.insert(hash, slot),
                None => self.rows.remove(&hash),
            };
        }
    }

    /// The transaction committed: its changes stay.
    pub(super) fn commit(&mut self) {
        self.journal.clear();
    }
}

/// Sets alarm `key` as raised or cleared by event `seq`: a new row the first time the key is
/// seen, else an update of its row. `first_seq` is the event that raised the alarm: kept while it
/// stays raised, moved when a cleared alarm is raised again.
pub(super) fn upsert(
    conn: &Connection,
    index: &mut AlarmIndex,
    key: &str,
    raised: bool,
    seq: i64,
    now_ms: i64,
) -> rusqlite::Result<()> {
    match index.find(conn, key)? {
        Some(id) => {
            // A raise after a clear is a new occurrence: what operators did to the last one (an
            // acknowledgement, a close) does not carry over.
            conn.prepare_cached(
                "UPDATE alarms SET
                     first_seq = CASE WHEN ?2 AND NOT raised THEN ?3 ELSE first_seq END,
                     operator = CASE WHEN ?2 AND NOT raised THEN NULL ELSE operator END,
                     raised = ?2, last_seq = ?3, updated_ms = ?4, events = events + 1
                 WHERE id = ?1",
            )?
            .execute(params![id, raised, seq, now_ms])?;
        }
        None => {
            conn.prepare_cached(
                "INSERT INTO alarms (key, raised, first_seq, last_seq, updated_ms)
                 VALUES (?1, ?2, ?3, ?3, ?4)",
            )?
            .execute(params![key, raised, seq, now_ms])?;
            index.insert(key, conn.last_insert_rowid());
        }
    }
    Ok(())
}

/// What an operator event sets: the alarm key and its new operator state.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct OperatorChange {
    key: String,
    state: OperatorStateKind,
    /// The [`OperatorState`] as `alarms.operator` stores it.
    json: String,
}

/// The operator state that `event` sets, if it is one of netpulse's own `alarm.acknowledged` or
/// `alarm.closed` events (the same type from any other source is an ordinary event: no webhook
/// sender can acknowledge an alarm). Computed on the caller's thread, with the event's JSON.
pub(super) fn operator_change(event: &Event) -> Option<OperatorChange> {
    let state = match event.kind.as_str() {
        operator_types::ALARM_ACKNOWLEDGED => OperatorStateKind::Acknowledged,
        operator_types::ALARM_CLOSED => OperatorStateKind::Closed,
        _ => return None,
    };
    if !crate::route::is_own(event) {
        return None;
    }
    let action = match AlarmAction::deserialize(&event.data) {
        Ok(action) => action,
        Err(error) => {
            tracing::warn!(id = %event.id, %error, "an operator alarm event without a valid action: ignored");
            return None;
        }
    };
    let operator = OperatorState {
        state,
        by: action.by,
        at: event.time,
        note: action.note,
        via: action.via,
    };
    let json = serde_json::to_string(&operator).ok()?;
    Some(OperatorChange {
        key: action.key,
        state,
        json,
    })
}

/// Folds an operator event into its alarm's row: a close always sets the state (the latest
/// close wins), an acknowledgement only an alarm without one (the first acknowledger stays, and
/// a closed alarm stays closed). An alarm the table does not hold (never seen, or pruned) is
/// left alone: the event stays in the log as what was asked.
pub(super) fn set_operator(
    conn: &Connection,
    index: &AlarmIndex,
    change: &OperatorChange,
) -> rusqlite::Result<()> {
    let Some(id) = index.find(conn, &change.key)? else {
        return Ok(());
    };
    let closing = change.state == OperatorStateKind::Closed;
    conn.prepare_cached(
        "UPDATE alarms SET operator = ?2 WHERE id = ?1 AND (?3 OR operator IS NULL)",
    )?
    .execute(params![id, change.json, closing])?;
    Ok(())
}

/// Deletes up to `limit` cleared alarms last changed before the cutoff.
pub(super) fn prune(
    conn: &Connection,
    index: &mut AlarmIndex,
    cutoff_ms: i64,
    limit: usize,
) -> rusqlite::Result<u64> {
    let mut statement = conn.prepare_cached(
        "DELETE FROM alarms WHERE id IN (
             SELECT id FROM alarms WHERE raised = 0 AND updated_ms < ?1 LIMIT ?2)
         RETURNING id, key",
    )?;
    let deleted = statement
        .query_map(params![cutoff_ms, limit as i64], |row| {
            Ok((row.get::<_, i64>(0)?, row.get::<_, String>(1)?))
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    for (id, key) in &deleted {
        index.remove(key, *id);
    }
    Ok(deleted.len() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> Connection {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(
            "CREATE TABLE alarms (id INTEGER PRIMARY KEY, key TEXT NOT NULL, raised INTEGER NOT NULL,
                 first_seq INTEGER NOT NULL, last_seq INTEGER NOT NULL, updated_ms INTEGER NOT NULL,
                 events INTEGER NOT NULL DEFAULT 1, operator TEXT)",
        )
        .unwrap();
        conn
    }

    /// An empty `alarms` table and the writer's index of it.
    fn empty() -> (Connection, AlarmIndex) {
        let conn = table();
        let index = AlarmIndex::load(&conn).unwrap();
        (conn, index)
    }

    fn row(conn: &Connection, key: &str) -> Vec<(bool, i64, i64, i64)> {
        conn.prepare("SELECT raised, first_seq, last_seq, events FROM alarms WHERE key = ?1")
            .unwrap()
            .query_map([key], |row| {
                Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?))
            })
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap()
    }

    #[test]
    fn a_key_keeps_one_row_through_raise_clear_and_raise_again() {
        let (conn, mut index) = empty();
        upsert(&conn, &mut index, "sw1:eth1", true, 1, 10).unwrap();
        upsert(&conn, &mut index, "sw1:eth1", true, 2, 11).unwrap();
        assert_eq!(row(&conn, "sw1:eth1"), [(true, 1, 2, 2)]);
        upsert(&conn, &mut index, "sw1:eth1", false, 3, 12).unwrap();
        assert_eq!(row(&conn, "sw1:eth1"), [(false, 1, 3, 3)]);
        upsert(&conn, &mut index, "sw1:eth1", true, 4, 13).unwrap();
        assert_eq!(row(&conn, "sw1:eth1"), [(true, 4, 4, 4)]);
        // A new index over the same table (a restart) finds the row again.
        let mut reloaded = AlarmIndex::load(&conn).unwrap();
        upsert(&conn, &mut reloaded, "sw1:eth1", false, 5, 14).unwrap();
        assert_eq!(row(&conn, "sw1:eth1"), [(false, 4, 5, 5)]);
        assert_eq!(reloaded.len(), 1);
    }

    #[test]
    fn keys_that_share_a_hash_keep_their_own_rows() {
        let (conn, mut index) = empty();
        upsert(&conn, &mut index, "a", true, 1, 10).unwrap();
        let a_id = index.find(&conn, "a").unwrap().expect("a is stored");
        // A hash that points at another key's row is no match: "c" is not stored.
        let hash_c = index.hash("c");
        index.rows.insert(hash_c, Slot::One(a_id));
        assert_eq!(index.find(&conn, "c").unwrap(), None);
        // So "c" gets its own row, and the hash is filed as shared by both.
        upsert(&conn, &mut index, "c", true, 2, 10).unwrap();
        assert_eq!(index.rows[&hash_c], Slot::Shared);
        // Under a shared hash, each key still finds its own row.
        index.rows.insert(index.hash("a"), Slot::Shared);
        upsert(&conn, &mut index, "a", false, 3, 11).unwrap();
        upsert(&conn, &mut index, "c", true, 4, 11).unwrap();
        assert_eq!(row(&conn, "a"), [(false, 1, 3, 2)]);
        assert_eq!(row(&conn, "c"), [(true, 2, 4, 2)]);
    }

    #[test]
    fn a_rolled_back_insert_is_forgotten() {
        let (conn, mut index) = empty();
        conn.execute_batch("BEGIN").unwrap();
        let mark = index.mark();
        upsert(&conn, &mut index, "x", true, 1, 10).unwrap();
        conn.execute_batch("ROLLBACK").unwrap();
        index.rollback_to(mark);
        assert_eq!(index.len(), 0);
        // Were "x" still in the map, the raise would update a row that does not exist.
        upsert(&conn, &mut index, "x", true, 2, 11).unwrap();
        assert_eq!(row(&conn, "x"), [(true, 2, 2, 1)]);
    }

    #[test]
    fn pruning_deletes_old_cleared_alarms_only_and_forgets_them() {
        let (conn, mut index) = empty();
        upsert(&conn, &mut index, "old-cleared", false, 1, 10).unwrap();
        upsert(&conn, &mut index, "old-raised", true, 2, 10).unwrap();
        upsert(&conn, &mut index, "new-cleared", false, 3, 50).unwrap();
        assert_eq!(prune(&conn, &mut index, 20, 100).unwrap(), 1);
        assert_eq!(index.len(), 2);
        assert!(row(&conn, "old-cleared").is_empty());
        assert_eq!(row(&conn, "old-raised").len(), 1);
        // Seen again, the pruned key starts a new row.
        upsert(&conn, &mut index, "old-cleared", true, 4, 60).unwrap();
        assert_eq!(row(&conn, "old-cleared"), [(true, 4, 4, 1)]);
    }
}
