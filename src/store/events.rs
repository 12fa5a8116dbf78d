//! The `events` table: the event log. An event is made ready on the caller's thread
//! ([`Prepared`]) and appended by the writer thread together with its idempotency key
//! (`keys.rs`), its outbox rows (`outbox.rs`) and its alarm updates (`alarms.rs`), in the savepoint
//! of its command.

use rusqlite::{Connection, params};

use super::body::{self, Column};
use super::schema::severity_rank;
use super::writer::Memory;
use super::{
    AlarmUpdate, Appended, Committed, NewEvent, StoreError, alarms, keys, outbox, views, with_seq,
};
use crate::event::{AlarmState, Event, Severity};

/// The JSON an event is stored as: the event, with `raw_data` (see [`NewEvent::raw_data`]) as its
/// `data` when given.
pub fn event_json(event: &Event, raw_data: Option<&[u8]>) -> serde_json::Result<String> {
    // `data` is the last field the event serializes: its `null` is replaced by the raw text.
    const NULL_DATA: &[u8] = b"\"data\":null}";
    let Some(raw) = raw_data.map(<[u8]>::trim_ascii) else {
        return serde_json::to_string(event);
    };
    let mut json = Vec::with_capacity(512 + raw.len());
    serde_json::to_writer(&mut json, event)?;
    if event.data.is_null() && json.ends_with(NULL_DATA) {
        json.truncate(json.len() - b"null}".len());
        json.extend_from_slice(raw);
        json.push(b'}');
        // One UTF-8 check over the whole text covers `raw`; text that fails it (raw bytes that
        // are not UTF-8) takes the slow way below, which reports the error.
        if let Ok(json) = String::from_utf8(json) {
            return Ok(json);
        }
    }
    // Not the shape expected (an event that has its own data): the slow, always correct way.
    let mut event = event.clone();
    event.data = serde_json::from_slice(raw)?;
    serde_json::to_string(&event)
}

/// A [`NewEvent`] made ready for the writer on the caller's thread: the body serialized and the
/// indexed columns extracted, so that the single writer thread does only SQL.
#[derive(Debug)]
pub(super) struct Prepared {
    id: String,
    idempotency_key: Option<String>,
    time_ms: i64,
    /// The source's name, without the `/netpulse/` of the CloudEvents `source`.
    source: String,
    device: String,
    kind: String,
    severity: Severity,
    alarmstate: AlarmState,
    subject: Option<String>,
    /// The event as JSON. Its `seq` is ignored: the stored seq is the row's, set when reading.
    body: String,
    /// `body` compressed, when that is what is stored (`body.rs`).
    packed: Option<Vec<u8>>,
    sinks: Vec<String>,
    alarms: Vec<AlarmUpdate>,
    /// `alarms` as `events.alarms` stores them; `None` (NULL) when there are none, the common
    /// case, which then costs nothing.
    alarms_text: Option<String>,
    /// The operator state this event sets on an alarm (netpulse's own `alarm.acknowledged` /
    /// `alarm.closed`), folded into `alarms.operator` in the same savepoint.
    operator: Option<alarms::OperatorChange>,
    /// What this event does to its source's stored view (a device event), folded in the same
    /// savepoint (`views.rs`).
    view: Option<views::ViewFold>,
}

impl Prepared {
    /// What the feed is told of this event once it is committed under `seq`.
    pub(super) fn committed(&self, seq: u64) -> Committed {
        Committed {
            seq,
            time_ms: self.time_ms,
            source: self.source.clone(),
            device: self.device.clone(),
            kind: self.kind.clone(),
            severity: self.severity,
            alarmstate: self.alarmstate,
            subject: self.subject.clone(),
            json: with_seq(&self.body, seq),
        }
    }

    pub(super) fn new(item: &NewEvent) -> Result<Prepared, StoreError> {
        let event = &item.event;
        let body = event_json(event, item.raw_data.as_deref()).map_err(|err| {
            StoreError::Rejected(format!("the event cannot be serialized: {err}"))
        })?;
        Ok(Prepared {
            time_ms: event.time.as_millisecond(),
            source: event.source_name().to_owned(),
            severity: event.severity,
            alarmstate: event.alarmstate,
            id: event.id.clone(),
            idempotency_key: item.idempotency_key.clone(),
            device: event.device.clone(),
            kind: event.kind.clone(),
            subject: event.subject.clone(),
            packed: body::compress(&body),
            body,
            sinks: item.sinks.clone(),
            alarms_text: super::route::alarms_text(&item.alarms),
            alarms: item.alarms.clone(),
            operator: alarms::operator_change(event),
            view: views::fold_of(event),
        })
    }
}

/// Stores one event, unless its idempotency key is already stored (as far as `memory.dedup`
/// remembers), with its key, its outbox rows and the alarms it raises or clears.
pub(super) fn append(
    conn: &Connection,
    memory: &mut Memory,
    item: &Prepared,
    now_ms: i64,
) -> rusqlite::Result<Appended> {
    let key = item
        .idempotency_key
        .as_deref()
        .map(|key| (key, memory.dedup.hash(key)));
    if let Some((key, hash)) = key
        && let Some(seq) = memory.dedup.find(conn, key, hash)?
    {
        metrics::counter!("netpulse_store_duplicates_total").increment(1);
        return Ok(Appended {
            seq: seq as u64,
            duplicate: true,
        });
    }
    let seq = memory.last_seq + 1;
    insert(conn, item, seq, now_ms)?;
    memory.last_seq = seq;
    if let Some((key, hash)) = key {
        keys::insert(conn, &mut memory.dedup, key, hash, seq, now_ms)?;
    }
    outbox::insert(conn, seq, &item.sinks)?;
    for alarm in &item.alarms {
        alarms::upsert(
            conn,
            &mut memory.alarms,
            &alarm.key,
            alarm.raised,
            seq,
            now_ms,
        )?;
    }
    if let Some(change) = &item.operator {
        alarms::set_operator(conn, &memory.alarms, change)?;
    }
    if let Some(fold) = &item.view {
        views::fold(conn, &item.source, fold, seq, now_ms)?;
    }
    Ok(Appended {
        seq: seq as u64,
        duplicate: false,
    })
}

/// The row of one event.
fn insert(conn: &Connection, item: &Prepared, seq: i64, now_ms: i64) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "INSERT INTO events
             (seq, id, received_ms, time_ms, device, kind, severity, subject, body, source,
              alarmstate, alarms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
    )?
    .execute(params![
        seq,
        item.id,
        now_ms,
        item.time_ms,
        item.device,
        item.kind,
        severity_rank(item.severity),
        item.subject,
        Column {
            json: &item.body,
            packed: item.packed.as_deref(),
        },
        item.source,
        item.alarmstate.as_str(),
        item.alarms_text,
    ])?;
    Ok(())
}

/// The highest seq ever assigned in this store: the newest event's (retention never deletes
/// it), or what `seq_floor` remembers from before version 6, whichever is higher.
pub(super) fn last_seq(conn: &Connection) -> rusqlite::Result<i64> {
    conn.query_row(
        "SELECT max(coalesce((SELECT max(seq) FROM events), 0),
                    coalesce((SELECT max(seq) FROM seq_floor), 0))",
        [],
        |row| row.get(0),
    )
}

/// Deletes up to `limit` events received before the cutoff that no sink still has to deliver,
/// oldest first, and never the newest event, whose seq is the highest ever assigned.
///
/// `received_ms` has no index (one page per commit, for a background task): events are received
/// in seq order, so the old ones are the seqs below the first one received at or after the
/// cutoff, found by walking the seq order from the oldest. A clock that stepped back makes that
/// boundary come early: such events are kept longer, never pruned early.
pub(super) fn prune(conn: &Connection, cutoff_ms: i64, limit: usize) -> rusqlite::Result<u64> {
    let deleted = conn
        .prepare_cached(
            "DELETE FROM events WHERE seq IN (
                 SELECT seq FROM events
                 WHERE seq < coalesce(
                         (SELECT seq FROM events WHERE received_ms >= ?1 ORDER BY seq LIMIT 1),
                         (SELECT max(seq) FROM events))
                     AND NOT EXISTS (
                         SELECT 1 FROM outbox
                         WHERE outbox.seq = events.seq AND outbox.status = 'pending')
                 ORDER BY seq LIMIT ?2)",
        )?
        .execute(params![cutoff_ms, limit as i64])?;
    Ok(deleted as u64)
}
