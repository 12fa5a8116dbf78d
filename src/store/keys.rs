//! The `event_keys` table, and redelivery detection without a random-order index: the writer
//! keeps the idempotency keys of recent events in memory (a keyed 64-bit hash of each key → its
//! event's seq), and the keys themselves in the `event_keys` table, appended in seq order.
//!
//! A UNIQUE index on provider ids (random uuids) dirtied one random B-tree page per event, and
//! every dirty page is a 4 KiB WAL frame at commit: measured, 42% of the WAL bytes written per
//! event. Appending to `event_keys` in seq order dirties about one page per commit instead.
//!
//! A hash hit is confirmed against the stored key (a primary-key lookup, which only redeliveries
//! pay for), so a collision can never drop an event. What is remembered is bounded: keys of
//! events received within `window`, at most `max_keys` of them (the oldest are forgotten first);
//! a redelivery of an older event is stored again. Both are settings (`store.dedup_window`,
//! `store.dedup_max_keys`), and the memory is about 60 bytes per key (hash table and arrival
//! order, with their spare capacity): 30 MB at the default 500,000.

use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasher, RandomState};

use rusqlite::{Connection, OptionalExtension};

/// How long and how many keys are remembered.
#[derive(Debug, Clone, Copy)]
pub struct DedupLimits {
    pub window_ms: i64,
    pub max_keys: usize,
}

impl Default for DedupLimits {
    /// Four days, half a million keys. The window outlasts the Standard Webhooks example retry
    /// schedule (the last attempt about 75 h after the first); the other providers' schedules are
    /// UNKNOWN (`protocols-webhooks.md`), hence the settings.
    fn default() -> DedupLimits {
        DedupLimits {
            window_ms: 4 * 86_400_000,
            max_keys: 500_000,
        }
    }
}

/// One remembered key: its hash, its event and when that was received.
#[derive(Debug, Clone, Copy)]
struct Entry {
    hash: u64,
    seq: i64,
    received_ms: i64,
}

/// The writer thread's memory of recent keys, with an undo log for the open transaction.
pub(super) struct Dedup {
    hasher: RandomState,
    seqs: HashMap<u64, i64>,
    /// Every key added, oldest first: what is forgotten first.
    order: VecDeque<Entry>,
    /// What each insertion of the open transaction replaced, to undo a rollback.
    journal: Vec<Option<i64>>,
    limits: DedupLimits,
}

impl Dedup {
    pub(super) fn new(limits: DedupLimits) -> Dedup {
        Dedup {
            hasher: RandomState::new(),
            seqs: HashMap::new(),
            order: VecDeque::new(),
            journal: Vec::new(),
            limits,
        }
    }

    /// Remembers the keys of the events received within the window, newest first until the
    /// window or the limit is reached (`event_keys` is in seq order, which is arrival order).
    pub(super) fn load(
        conn: &Connection,
        limits: DedupLimits,
        now_ms: i64,
    ) -> rusqlite::Result<Dedup> {
        let mut dedup = Dedup::new(limits);
        let from_ms = now_ms.saturating_sub(limits.window_ms);
        let mut statement =
            conn.prepare("SELECT seq, key, received_ms FROM event_keys ORDER BY seq DESC")?;
        let mut rows = statement.query([])?;
        let mut newest_first = Vec::new();
        while let Some(row) = rows.next()? {
            let received_ms: i64 = row.get(2)?;
            if received_ms < from_ms || newest_first.len() >= limits.max_keys {
                break;
            }
            let key: String = row.get(1)?;
            newest_first.push(Entry {
                hash: dedup.hash(&key),
                seq: row.get(0)?,
                received_ms,
            });
        }
        for entry in newest_first.into_iter().rev() {
            dedup.seqs.insert(entry.hash, entry.seq);
            dedup.order.push_back(entry);
        }
        Ok(dedup)
    }

    pub(super) fn hash(&self, key: &str) -> u64 {
        self.hasher.hash_one(key)
    }

    /// The stored event with this key, if it is remembered. Confirmed against `event_keys`: a
    /// hash collision, or an event pruned since, answers `None`.
    pub(super) fn find(
        &self,
        conn: &Connection,
        key: &str,
        hash: u64,
    ) -> rusqlite::Result<Option<i64>> {
        let Some(&seq) = self.seqs.get(&hash) else {
            return Ok(None);
        };
        let stored: Option<String> = conn
            .prepare_cached("SELECT key FROM event_keys WHERE seq = ?1")?
            .query_row([seq], |row| row.get(0))
            .optional()?;
        Ok((stored.as_deref() == Some(key)).then_some(seq))
    }

    /// Remembers a key stored in the open transaction.
    pub(super) fn insert(&mut self, hash: u64, seq: i64, received_ms: i64) {
        self.journal.push(self.seqs.insert(hash, seq));
        self.order.push_back(Entry {
            hash,
            seq,
            received_ms,
        });
    }

    /// A point of the open transaction to roll back to.
    pub(super) fn mark(&self) -> usize {
        self.journal.len()
    }

    /// Forgets the keys inserted since `mark`: their savepoint or transaction was rolled back.
    pub(super) fn rollback_to(&mut self, mark: usize) {
        while self.journal.len() > mark {
            let replaced = self.journal.pop().expect("journal longer than mark");
            let entry = self
                .order
                .pop_back()
                .expect("one order entry per insertion");
            match replaced {
                Some(seq) => self.seqs.insert(entry.hash, seq),
                None => self.seqs.remove(&entry.hash),
            };
        }
    }

    /// The transaction committed: its keys stay, and keys beyond the window or the limit go.
    pub(super) fn commit(&mut self, now_ms: i64) {
        self.journal.clear();
        let from_ms = now_ms.saturating_sub(self.limits.window_ms);
        while let Some(oldest) = self.order.front().copied() {
            if oldest.received_ms >= from_ms && self.order.len() <= self.limits.max_keys {
                break;
            }
            self.order.pop_front();
            // A newer event with the same hash took over the entry: leave it.
            if self.seqs.get(&oldest.hash) == Some(&oldest.seq) {
                self.seqs.remove(&oldest.hash);
            }
        }
    }
}

/// Stores the idempotency key of event `seq`, appended in seq order, and remembers it.
pub(super) fn insert(
    conn: &Connection,
    dedup: &mut Dedup,
    key: &str,
    hash: u64,
    seq: i64,
    now_ms: i64,
) -> rusqlite::Result<()> {
    conn.prepare_cached("INSERT INTO event_keys (seq, key, received_ms) VALUES (?1, ?2, ?3)")?
        .execute(rusqlite::params![seq, key, now_ms])?;
    dedup.insert(hash, seq, now_ms);
    Ok(())
}
