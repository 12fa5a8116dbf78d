//! Read-only queries on the store. A [`Reader`] owns its own connection; WAL lets it read a
//! consistent snapshot while the writer commits. Its methods block: call them from
//! `spawn_blocking`.

use std::path::Path;

use anyhow::Context;
use rusqlite::types::Value;
use rusqlite::{Connection, OptionalExtension, params_from_iter};

use super::schema::{self, severity_rank};
use crate::event::{Event, Severity};

/// The number of events [`Reader::events`] returns at most, whatever the query asks.
const MAX_LIMIT: usize = 10_000;

/// A filter over stored events. Every field narrows the result; the default matches everything
/// and returns the 100 newest events.
///
/// Order: with `after_seq` set, events come oldest first (ascending seq), which is how a consumer
/// resumes a feed from the last seq it saw (`Some(0)` starts from the beginning). Without it they
/// come newest first (descending seq), which is what a "latest events" view wants.
#[derive(Debug, Clone, PartialEq)]
pub struct EventQuery {
    /// Only events with a greater seq, in ascending seq order.
    pub after_seq: Option<u64>,
    /// Only events whose time (the device's) is at or after this instant.
    pub since: Option<jiff::Timestamp>,
    /// Only events whose time is before this instant.
    pub until: Option<jiff::Timestamp>,
    pub device: Option<String>,
    /// The CloudEvents `type`.
    pub kind: Option<String>,
    /// Only events at least this severe.
    pub min_severity: Option<Severity>,
    /// At most this many events (capped at 10 000).
    pub limit: usize,
}

impl Default for EventQuery {
    fn default() -> EventQuery {
        EventQuery {
            after_seq: None,
            since: None,
            until: None,
            device: None,
            kind: None,
            min_severity: None,
            limit: 100,
        }
    }
}

/// The current state of one alarm.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlarmRow {
    pub key: String,
    pub raised: bool,
    /// The event that raised it (most recently, if it was cleared and raised again).
    pub first_seq: u64,
    /// The latest event that raised or cleared it.
    pub last_seq: u64,
    /// When the store recorded the latest change.
    pub updated: jiff::Timestamp,
}

/// How many outbox rows of one sink are in each state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OutboxCounts {
    pub pending: u64,
    pub delivered: u64,
    pub dead: u64,
}

/// A read-only connection to the store.
#[derive(Debug)]
pub struct Reader {
    conn: Connection,
}

impl Reader {
    /// Opens a read-only connection on a store file, which another process may be writing.
    pub fn open(path: &Path) -> anyhow::Result<Reader> {
        Ok(Reader {
            conn: schema::open_reader(path)?,
        })
    }

    /// The event with this seq, if it is stored (and not yet pruned).
    pub fn event(&self, seq: u64) -> anyhow::Result<Option<Event>> {
        let row: Option<(i64, String)> = self
            .conn
            .prepare_cached("SELECT seq, body FROM events WHERE seq = ?1")?
            .query_row([seq as i64], |row| Ok((row.get(0)?, row.get(1)?)))
            .optional()
            .with_context(|| format!("cannot read event {seq}"))?;
        row.map(|(seq, body)| parse_event(seq, &body)).transpose()
    }

    /// The event stored under this idempotency key (`sdwan:<uuid>`), if any.
    pub fn event_by_key(&self, key: &str) -> anyhow::Result<Option<Event>> {
        let row: Option<(i64, String)> = self
            .conn
            .prepare_cached("SELECT seq, body FROM events WHERE idempotency_key = ?1")?
            .query_row([key], |row| Ok((row.get(0)?, row.get(1)?)))
            .optional()
            .with_context(|| format!("cannot read the event with key {key}"))?;
        row.map(|(seq, body)| parse_event(seq, &body)).transpose()
    }

    /// The events matching `query`, in the order [`EventQuery`] describes.
    pub fn events(&self, query: &EventQuery) -> anyhow::Result<Vec<Event>> {
        let mut conditions = Vec::new();
        let mut values = Vec::new();
        let mut condition = |sql: &str, value: Value| {
            values.push(value);
            conditions.push(format!("{sql} ?{}", values.len()));
        };
        if let Some(after) = query.after_seq {
            condition("seq >", Value::Integer(after as i64));
        }
        if let Some(since) = query.since {
            condition("time_ms >=", Value::Integer(since.as_millisecond()));
        }
        if let Some(until) = query.until {
            condition("time_ms <", Value::Integer(until.as_millisecond()));
        }
        if let Some(device) = &query.device {
            condition("device =", Value::Text(device.clone()));
        }
        if let Some(kind) = &query.kind {
            condition("kind =", Value::Text(kind.clone()));
        }
        if let Some(severity) = query.min_severity {
            condition("severity >=", Value::Integer(severity_rank(severity)));
        }
        let filter = if conditions.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", conditions.join(" AND "))
        };
        let order = if query.after_seq.is_some() {
            "ASC"
        } else {
            "DESC"
        };
        let limit = query.limit.min(MAX_LIMIT);
        let sql =
            format!("SELECT seq, body FROM events {filter} ORDER BY seq {order} LIMIT {limit}");
        let mut statement = self.conn.prepare_cached(&sql)?;
        let rows = statement
            .query_map(params_from_iter(values), |row| {
                Ok((row.get::<_, i64>(0)?, row.get::<_, String>(1)?))
            })?
            .collect::<rusqlite::Result<Vec<_>>>()
            .context("cannot query events")?;
        rows.iter()
            .map(|(seq, body)| parse_event(*seq, body))
            .collect()
    }

    /// The current state of the alarm `key`, if any event ever raised or cleared it.
    pub fn alarm(&self, key: &str) -> anyhow::Result<Option<AlarmRow>> {
        let row = self
            .conn
            .prepare_cached(
                "SELECT raised, first_seq, last_seq, updated_ms FROM alarms WHERE key = ?1",
            )?
            .query_row([key], |row| {
                Ok((
                    row.get::<_, bool>(0)?,
                    row.get::<_, i64>(1)?,
                    row.get::<_, i64>(2)?,
                    row.get::<_, i64>(3)?,
                ))
            })
            .optional()
            .with_context(|| format!("cannot read alarm {key}"))?;
        let Some((raised, first_seq, last_seq, updated_ms)) = row else {
            return Ok(None);
        };
        Ok(Some(AlarmRow {
            key: key.to_owned(),
            raised,
            first_seq: first_seq as u64,
            last_seq: last_seq as u64,
            updated: jiff::Timestamp::from_millisecond(updated_ms)?,
        }))
    }

    /// How many of `sink`'s outbox rows are pending, delivered and dead.
    pub fn outbox_counts(&self, sink: &str) -> anyhow::Result<OutboxCounts> {
        let mut statement = self.conn.prepare_cached(
            "SELECT status, count(*) FROM outbox WHERE sink = ?1 GROUP BY status",
        )?;
        let mut rows = statement.query([sink])?;
        let mut counts = OutboxCounts::default();
        while let Some(row) = rows.next()? {
            let count = row.get::<_, i64>(1)? as u64;
            match row.get_ref(0)?.as_str()? {
                "pending" => counts.pending = count,
                "delivered" => counts.delivered = count,
                "dead" => counts.dead = count,
                other => anyhow::bail!("unknown outbox status {other:?}"),
            }
        }
        Ok(counts)
    }

    /// Runs one scalar query, for tests that look at the tables directly.
    #[cfg(test)]
    pub(super) fn count(&self, sql: &str) -> i64 {
        self.conn.query_row(sql, [], |row| row.get(0)).unwrap()
    }

    /// The schema version, for tests.
    #[cfg(test)]
    pub(super) fn user_version(&self) -> usize {
        self.conn
            .pragma_query_value(None, "user_version", |row| row.get::<_, i64>(0))
            .unwrap() as usize
    }
}

/// A stored body as an event with its row's seq (bodies are written with seq 0, since the seq is
/// assigned in the same insert).
fn parse_event(seq: i64, body: &str) -> anyhow::Result<Event> {
    let mut event: Event =
        serde_json::from_str(body).context("a stored event body is not a valid event")?;
    event.seq = seq as u64;
    Ok(event)
}
