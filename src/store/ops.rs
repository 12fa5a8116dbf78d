//! The SQL of each write command, run by the writer thread inside a command's savepoint.

use rusqlite::{Connection, params};

use super::alarm_index;
use super::body::{self, Body};
use super::schema::severity_rank;
use super::writer::Memory;
use super::{Appended, Delivery, Prepared};
use crate::event::Event;

/// Stores one event, unless its idempotency key is already stored (as far as `memory.dedup`
/// remembers), and sets the alarms it raises or clears.
pub(super) fn append_one(
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
    conn.prepare_cached(
        "INSERT INTO events
             (seq, id, received_ms, time_ms, device, kind, severity, subject, body, source,
              alarmstate)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
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
        body::Column {
            json: &item.body,
            packed: item.packed.as_deref(),
        },
        item.source,
        item.alarmstate.as_str(),
    ])?;
    memory.last_seq = seq;
    if let Some((key, hash)) = key {
        conn.prepare_cached("INSERT INTO event_keys (seq, key, received_ms) VALUES (?1, ?2, ?3)")?
            .execute(params![seq, key, now_ms])?;
        memory.dedup.insert(hash, seq, now_ms);
    }
    // New outbox rows are due at once, whatever clock the sink workers use.
    let mut outbox =
        conn.prepare_cached("INSERT INTO outbox (sink, seq, next_attempt_ms) VALUES (?1, ?2, 0)")?;
    for sink in &item.sinks {
        outbox.execute(params![sink, seq])?;
    }
    for alarm in &item.alarms {
        alarm_index::upsert(
            conn,
            &mut memory.alarms,
            &alarm.key,
            alarm.raised,
            seq,
            now_ms,
        )?;
    }
    Ok(Appended {
        seq: seq as u64,
        duplicate: false,
    })
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

/// Selects the due, unleased rows of `sink` in outbox order and leases them.
pub(super) fn claim(
    conn: &Connection,
    sink: &str,
    now_ms: i64,
    limit: usize,
    lease_ms: i64,
) -> rusqlite::Result<Vec<Delivery>> {
    let mut select = conn.prepare_cached(
        "SELECT outbox.id, outbox.seq, outbox.attempts, outbox.uncertain, events.body
         FROM outbox JOIN events ON events.seq = outbox.seq
         WHERE outbox.sink = ?1 AND outbox.status = 'pending'
             AND outbox.next_attempt_ms <= ?2 AND outbox.lease_until_ms <= ?2
         ORDER BY outbox.id LIMIT ?3",
    )?;
    let deliveries = select
        .query_map(params![sink, now_ms, limit as i64], |row| {
            let Body(body) = row.get(4)?;
            let mut event: Event = serde_json::from_str(&body).map_err(|err| {
                rusqlite::Error::FromSqlConversionFailure(
                    4,
                    rusqlite::types::Type::Text,
                    Box::new(err),
                )
            })?;
            let seq = row.get::<_, i64>(1)? as u64;
            event.seq = seq;
            Ok(Delivery {
                id: row.get(0)?,
                sink: sink.to_owned(),
                seq,
                attempts: row.get(2)?,
                uncertain: row.get(3)?,
                event,
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let mut lease = conn.prepare_cached("UPDATE outbox SET lease_until_ms = ?2 WHERE id = ?1")?;
    for delivery in &deliveries {
        lease.execute(params![delivery.id, now_ms.saturating_add(lease_ms)])?;
    }
    Ok(deliveries)
}

/// Makes a dead letter of `sink` pending again, due at once; false when there is none `id`.
pub(super) fn retry_dead(conn: &Connection, sink: &str, id: i64) -> rusqlite::Result<bool> {
    let changed = conn
        .prepare_cached(
            "UPDATE outbox SET status = 'pending', attempts = 0, next_attempt_ms = 0,
                 lease_until_ms = 0, uncertain = 0
             WHERE id = ?1 AND sink = ?2 AND status = 'dead'",
        )?
        .execute(params![id, sink])?;
    Ok(changed == 1)
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
