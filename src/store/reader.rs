//! Read-only queries on the store. A [`Reader`] owns its own connection; WAL lets it read a
//! consistent snapshot while the writer commits. Its methods block: call them from
//! `spawn_blocking`.

use std::path::Path;

use anyhow::Context;
use rusqlite::types::Value;
use rusqlite::{Connection, OptionalExtension, params, params_from_iter};

use super::body::Body;
use super::schema::{self, severity_rank};
use super::{Committed, with_seq};
use crate::event::{AlarmState, Event, Severity};

mod alarms;
mod cards;
mod route;

pub use alarms::{AlarmFilter, AlarmRow, AlarmView};

/// The number of events [`Reader::events`] returns at most, whatever the query asks.
const MAX_LIMIT: usize = 10_000;

/// What an event must be to be returned or streamed; the default takes every event. The same
/// filter selects rows in SQL ([`Reader::events`]) and committed events in memory
/// ([`EventFilter::matches`]), so a feed's catch-up and its live part agree.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EventFilter {
    /// The source's name (as configured).
    pub source: Option<String>,
    pub device: Option<String>,
    /// The CloudEvents `type`, exactly.
    pub kind: Option<String>,
    /// The beginning of the CloudEvents `type`, e.g. `com.cisco.sdwan.`.
    pub type_prefix: Option<String>,
    /// Only events at least this severe.
    pub min_severity: Option<Severity>,
    pub alarmstate: Option<AlarmState>,
    /// The beginning of the CloudEvents `subject` (a DME dn, for instance).
    pub subject_prefix: Option<String>,
    /// Only events whose time (the device's) is at or after this instant.
    pub since: Option<jiff::Timestamp>,
    /// Only events whose time is before this instant.
    pub until: Option<jiff::Timestamp>,
}

impl EventFilter {
    /// True when a committed event passes the filter.
    pub fn matches(&self, event: &Committed) -> bool {
        let eq = |want: &Option<String>, have: &str| want.as_deref().is_none_or(|w| w == have);
        eq(&self.source, &event.source)
            && eq(&self.device, &event.device)
            && eq(&self.kind, &event.kind)
            && self
                .type_prefix
                .as_deref()
                .is_none_or(|prefix| event.kind.starts_with(prefix))
            && self.min_severity.is_none_or(|min| event.severity >= min)
            && self
                .alarmstate
                .is_none_or(|state| event.alarmstate == state)
            && self.subject_prefix.as_deref().is_none_or(|prefix| {
                event
                    .subject
                    .as_deref()
                    .is_some_and(|subject| subject.starts_with(prefix))
            })
            && self
                .since
                .is_none_or(|since| event.time_ms >= since.as_millisecond())
            && self
                .until
                .is_none_or(|until| event.time_ms < until.as_millisecond())
    }

    /// The SQL conditions of the filter, with their values appended to `values`.
    fn conditions(&self, values: &mut Vec<Value>) -> Vec<String> {
        let mut conditions = Vec::new();
        // `#` in a condition stands for its value's parameter.
        let mut condition = |sql: &str, value: Value| {
            values.push(value);
            conditions.push(sql.replace('#', &format!("?{}", values.len())));
        };
        let text = |value: &String| Value::Text(value.clone());
        if let Some(source) = &self.source {
            condition("source = #", text(source));
        }
        if let Some(device) = &self.device {
            condition("device = #", text(device));
        }
        if let Some(kind) = &self.kind {
            condition("kind = #", text(kind));
        }
        if let Some(prefix) = &self.type_prefix {
            condition("substr(kind, 1, length(#)) = #", text(prefix));
        }
        if let Some(severity) = self.min_severity {
            condition("severity >= #", Value::Integer(severity_rank(severity)));
        }
        if let Some(state) = self.alarmstate {
            condition("alarmstate = #", Value::Text(state.as_str().to_owned()));
        }
        if let Some(prefix) = &self.subject_prefix {
            condition("substr(subject, 1, length(#)) = #", text(prefix));
        }
        if let Some(since) = self.since {
            condition("time_ms >= #", Value::Integer(since.as_millisecond()));
        }
        if let Some(until) = self.until {
            condition("time_ms < #", Value::Integer(until.as_millisecond()));
        }
        conditions
    }
}

/// Which end of the log comes first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    /// Ascending seq: how a consumer reads forward or resumes.
    Oldest,
    /// Descending seq: a "latest events" view.
    Newest,
}

/// A page of stored events: a filter, a position and a size.
///
/// Order: `order` when set; otherwise oldest first when `after_seq` is set (how a consumer
/// resumes from the last seq it saw; `Some(0)` starts from the beginning) and newest first
/// without it. `after_seq` and `before_seq` bound the seq on either side, whatever the order.
#[derive(Debug, Clone, PartialEq)]
pub struct EventQuery {
    pub filter: EventFilter,
    /// Only events with a greater seq.
    pub after_seq: Option<u64>,
    /// Only events with a smaller seq.
    pub before_seq: Option<u64>,
    pub order: Option<Order>,
    /// At most this many events (capped at 10 000).
    pub limit: usize,
}

impl Default for EventQuery {
    fn default() -> EventQuery {
        EventQuery {
            filter: EventFilter::default(),
            after_seq: None,
            before_seq: None,
            order: None,
            limit: 100,
        }
    }
}

impl EventQuery {
    fn order(&self) -> Order {
        self.order.unwrap_or(if self.after_seq.is_some() {
            Order::Oldest
        } else {
            Order::Newest
        })
    }
}

/// The engine's state rows: `(key, JSON)`.
pub type StateRows = Vec<(String, String)>;

/// What [`Reader::logged_events_of_kind_after`] found.
#[derive(Debug, Clone)]
pub struct LogScan {
    /// The events of the kind asked for.
    pub events: Vec<super::LoggedEvent>,
    /// How many events were looked at (all kinds).
    pub scanned: usize,
    /// The seq of the last event looked at, if any.
    pub last: Option<u64>,
}

/// One dead letter: a delivery its sink gave up on, with why.
#[derive(Debug, Clone, PartialEq)]
pub struct DeadLetter {
    /// The outbox row: what `POST /api/v1/sinks/{name}/dead/{id}/retry` takes.
    pub id: i64,
    pub seq: u64,
    pub attempts: u32,
    pub last_error: Option<String>,
    /// The event's JSON (`seq` included), or None when retention has pruned it.
    pub event_json: Option<String>,
}

/// How many outbox rows of one sink are in each state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OutboxCounts {
    pub pending: u64,
    pub delivered: u64,
    pub dead: u64,
}

/// One outbox row: a sink's delivery of one event and where it stands.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct OutboxRow {
    pub id: i64,
    pub seq: u64,
    pub sink: String,
    /// `pending`, `delivered` or `dead`.
    pub status: String,
    /// Failed attempts so far.
    pub attempts: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// When a pending row is next tried.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_attempt: Option<jiff::Timestamp>,
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
        let row: Option<(i64, Body)> = self
            .conn
            .prepare_cached("SELECT seq, body FROM events WHERE seq = ?1")?
            .query_row([seq as i64], |row| Ok((row.get(0)?, row.get(1)?)))
            .optional()
            .with_context(|| format!("cannot read event {seq}"))?;
        row.map(|(seq, Body(body))| parse_event(seq, &body))
            .transpose()
    }

    /// The event stored under this idempotency key (`sdwan:<uuid>`), if any. Keys are not
    /// indexed (see `dedup.rs`): this scans them, for tests and tools, not for a hot path.
    pub fn event_by_key(&self, key: &str) -> anyhow::Result<Option<Event>> {
        let row: Option<(i64, Body)> = self
            .conn
            .prepare_cached(
                "SELECT events.seq, events.body FROM event_keys JOIN events USING (seq)
                 WHERE event_keys.key = ?1 ORDER BY seq DESC LIMIT 1",
            )?
            .query_row([key], |row| Ok((row.get(0)?, row.get(1)?)))
            .optional()
            .with_context(|| format!("cannot read the event with key {key}"))?;
        row.map(|(seq, Body(body))| parse_event(seq, &body))
            .transpose()
    }

    /// The events matching `query`, in the order [`EventQuery`] describes.
    pub fn events(&self, query: &EventQuery) -> anyhow::Result<Vec<Event>> {
        self.event_rows(query)?
            .iter()
            .map(|(seq, body)| parse_event(*seq as i64, body))
            .collect()
    }

    /// Like [`Reader::events`], as `(seq, JSON)` with the JSON ready to send (no parsing).
    pub fn event_json(&self, query: &EventQuery) -> anyhow::Result<Vec<(u64, String)>> {
        Ok(self
            .event_rows(query)?
            .into_iter()
            .map(|(seq, body)| (seq, with_seq(&body, seq)))
            .collect())
    }

    /// The rows of [`Reader::events`]: seq and stored body.
    fn event_rows(&self, query: &EventQuery) -> anyhow::Result<Vec<(u64, String)>> {
        let mut values = Vec::new();
        let mut conditions = query.filter.conditions(&mut values);
        if let Some(after) = query.after_seq {
            values.push(Value::Integer(after.min(i64::MAX as u64) as i64));
            conditions.push(format!("seq > ?{}", values.len()));
        }
        if let Some(before) = query.before_seq {
            values.push(Value::Integer(before.min(i64::MAX as u64) as i64));
            conditions.push(format!("seq < ?{}", values.len()));
        }
        let filter = if conditions.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", conditions.join(" AND "))
        };
        let order = match query.order() {
            Order::Oldest => "ASC",
            Order::Newest => "DESC",
        };
        let limit = query.limit.min(MAX_LIMIT);
        let sql =
            format!("SELECT seq, body FROM events {filter} ORDER BY seq {order} LIMIT {limit}");
        let mut statement = self.conn.prepare_cached(&sql)?;
        let rows = statement
            .query_map(params_from_iter(values), |row| {
                Ok((row.get::<_, i64>(0)? as u64, row.get::<_, Body>(1)?.0))
            })?
            .collect::<rusqlite::Result<Vec<_>>>()
            .context("cannot query events")?;
        Ok(rows)
    }

    /// The oldest seq still stored and the latest seq ever assigned (0, 0 for a new store). A
    /// consumer that last saw a seq below `oldest - 1` has missed events that retention pruned.
    pub fn seq_range(&self) -> anyhow::Result<(u64, u64)> {
        let oldest: Option<i64> = self
            .conn
            .query_row("SELECT min(seq) FROM events", [], |row| row.get(0))
            .context("cannot read the seq range")?;
        let newest =
            super::events::last_seq(&self.conn).context("cannot read the seq range")? as u64;
        let oldest = oldest.map_or(newest + 1, |seq| seq as u64);
        Ok((oldest, newest))
    }

    /// The event seq of `sink`'s dead letter `id`; `None` when it has no such dead letter.
    pub fn dead_letter_seq(&self, sink: &str, id: i64) -> anyhow::Result<Option<u64>> {
        self.conn
            .prepare_cached(
                "SELECT seq FROM outbox WHERE id = ?1 AND sink = ?2 AND status = 'dead'",
            )?
            .query_row(params![id, sink], |row| row.get::<_, i64>(0))
            .optional()
            .map(|seq| seq.map(|seq| seq as u64))
            .context("cannot read a dead letter")
    }

    /// The dead letters of `sink`, newest first.
    pub fn dead_letters(&self, sink: &str, limit: usize) -> anyhow::Result<Vec<DeadLetter>> {
        let mut statement = self.conn.prepare_cached(
            "SELECT outbox.id, outbox.seq, outbox.attempts, outbox.last_error, events.body
             FROM outbox LEFT JOIN events ON events.seq = outbox.seq
             WHERE outbox.sink = ?1 AND outbox.status = 'dead'
             ORDER BY outbox.id DESC LIMIT ?2",
        )?;
        let rows = statement
            .query_map(params![sink, limit.min(MAX_LIMIT) as i64], |row| {
                let seq = row.get::<_, i64>(1)? as u64;
                Ok(DeadLetter {
                    id: row.get(0)?,
                    seq,
                    attempts: row.get(2)?,
                    last_error: row.get(3)?,
                    event_json: row
                        .get::<_, Option<Body>>(4)?
                        .map(|Body(body)| with_seq(&body, seq)),
                })
            })?
            .collect::<rusqlite::Result<Vec<_>>>()
            .context("cannot list dead letters")?;
        Ok(rows)
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

    /// The outbox rows (one per sink that owes or owed the event) of the events `seqs`, by seq
    /// then row: what the trace and notification APIs show as each event's delivery state.
    pub fn outbox_rows(&self, seqs: &[u64]) -> anyhow::Result<Vec<OutboxRow>> {
        let mut rows = Vec::new();
        // Bounded chunks: SQLite limits the parameters of one statement.
        for chunk in seqs.chunks(500) {
            let places = vec!["?"; chunk.len()].join(", ");
            let sql = format!(
                "SELECT id, seq, sink, status, attempts, last_error,
                     CASE WHEN status = 'pending' THEN next_attempt_ms END FROM outbox
                 WHERE seq IN ({places}) ORDER BY seq, id"
            );
            let mut statement = self.conn.prepare_cached(&sql)?;
            let found = statement
                .query_map(
                    params_from_iter(chunk.iter().map(|seq| (*seq).min(i64::MAX as u64) as i64)),
                    |row| {
                        Ok(OutboxRow {
                            id: row.get(0)?,
                            seq: row.get::<_, i64>(1)? as u64,
                            sink: row.get(2)?,
                            status: row.get(3)?,
                            attempts: row.get(4)?,
                            last_error: row.get(5)?,
                            next_attempt: row
                                .get::<_, Option<i64>>(6)?
                                .and_then(|ms| jiff::Timestamp::from_millisecond(ms).ok()),
                        })
                    },
                )?
                .collect::<rusqlite::Result<Vec<_>>>()
                .context("cannot read outbox rows")?;
            rows.extend(found);
        }
        rows.sort_by_key(|row| (row.seq, row.id));
        Ok(rows)
    }

    /// Runs one scalar query, for tests that look at the tables directly.
    #[cfg(test)]
    pub(super) fn count(&self, sql: &str) -> i64 {
        self.conn.query_row(sql, [], |row| row.get(0)).unwrap()
    }

    /// `source`'s stored view (its last reported objects), if its baseline was ever saved.
    pub fn view(&self, source: &str) -> anyhow::Result<Option<super::StoredView>> {
        super::views::load(&self.conn, source)
            .with_context(|| format!("cannot read the stored view of {source}"))
    }

    /// The schema version, for tests.
    #[cfg(test)]
    pub(super) fn user_version(&self) -> usize {
        self.conn
            .pragma_query_value(None, "user_version", |row| row.get::<_, i64>(0))
            .unwrap() as usize
    }
}

/// The `summary` of a stored event, if it has one.
fn summary_of(body: &str) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Summary {
        summary: Option<String>,
    }
    serde_json::from_str::<Summary>(body).ok()?.summary
}

/// A stored body as an event with its row's seq (bodies are written with seq 0, since the seq is
/// assigned in the same insert).
fn parse_event(seq: i64, body: &str) -> anyhow::Result<Event> {
    let mut event: Event =
        serde_json::from_str(body).context("a stored event body is not a valid event")?;
    event.seq = seq as u64;
    Ok(event)
}
