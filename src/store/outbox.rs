//! The `outbox` table: one row per event and sink that must deliver it, from the commit that
//! stored the event until the sink marks the row delivered or dead. Run by the writer thread,
//! each command inside its own savepoint.

use rusqlite::{Connection, params};

use super::body::Body;
use super::{Delivery, Failed};
use crate::cluster::wire::DeliveryOutcome;
use crate::event::Event;

/// Owes event `seq` to each of `sinks`. New rows are due at once, whatever clock the sink
/// workers use.
pub(super) fn insert(conn: &Connection, seq: i64, sinks: &[String]) -> rusqlite::Result<()> {
    let mut insert =
        conn.prepare_cached("INSERT INTO outbox (sink, seq, next_attempt_ms) VALUES (?1, ?2, 0)")?;
    for sink in sinks {
        insert.execute(params![sink, seq])?;
    }
    Ok(())
}

/// How many due rows ahead a claim with `interactions_first` looks for people talking to the
/// bot: a bound on the work of one claim whatever the backlog (a click behind more rows than
/// this waits until the backlog is within reach).
pub(super) const INTERACTION_LOOKAHEAD: i64 = 2048;

/// Selects the due, unleased rows of `sink` in outbox order and leases them; with
/// `interactions_first`, the bot interactions among the next [`INTERACTION_LOOKAHEAD`] due rows
/// come first (`events.kind` as in [`crate::pipeline::is_bot_interaction`]).
pub(super) fn claim(
    conn: &Connection,
    sink: &str,
    now_ms: i64,
    limit: usize,
    lease_ms: i64,
    interactions_first: bool,
) -> rusqlite::Result<Vec<Delivery>> {
    let mut select = if interactions_first {
        conn.prepare_cached(
            "SELECT id, seq, attempts, uncertain, body FROM (
                 SELECT outbox.id, outbox.seq, outbox.attempts, outbox.uncertain, events.body,
                     (events.kind LIKE 'com.cisco.webex.message%'
                      OR events.kind LIKE 'com.cisco.webex.attachment%') AS interaction
                 FROM outbox JOIN events ON events.seq = outbox.seq
                 WHERE outbox.sink = ?1 AND outbox.status = 'pending'
                     AND outbox.next_attempt_ms <= ?2 AND outbox.lease_until_ms <= ?2
                 ORDER BY outbox.id LIMIT ?4)
             ORDER BY interaction DESC, id LIMIT ?3",
        )?
    } else {
        conn.prepare_cached(
            "SELECT outbox.id, outbox.seq, outbox.attempts, outbox.uncertain, events.body
             FROM outbox JOIN events ON events.seq = outbox.seq
             WHERE outbox.sink = ?1 AND outbox.status = 'pending'
                 AND outbox.next_attempt_ms <= ?2 AND outbox.lease_until_ms <= ?2
             ORDER BY outbox.id LIMIT ?3",
        )?
    };
    let to_delivery = |row: &rusqlite::Row<'_>| {
        let Body(body) = row.get(4)?;
        let mut event: Event = serde_json::from_str(&body).map_err(|err| {
            rusqlite::Error::FromSqlConversionFailure(4, rusqlite::types::Type::Text, Box::new(err))
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
    };
    let deliveries = if interactions_first {
        let bound = params![sink, now_ms, limit as i64, INTERACTION_LOOKAHEAD];
        select
            .query_map(bound, to_delivery)?
            .collect::<rusqlite::Result<Vec<_>>>()?
    } else {
        let bound = params![sink, now_ms, limit as i64];
        select
            .query_map(bound, to_delivery)?
            .collect::<rusqlite::Result<Vec<_>>>()?
    };
    let mut lease = conn.prepare_cached("UPDATE outbox SET lease_until_ms = ?2 WHERE id = ?1")?;
    for delivery in &deliveries {
        lease.execute(params![delivery.id, now_ms.saturating_add(lease_ms)])?;
    }
    Ok(deliveries)
}

/// Marks pending rows delivered; unknown ids and rows no longer pending are left alone.
pub(super) fn mark_delivered(conn: &Connection, ids: &[i64]) -> rusqlite::Result<()> {
    let mut statement = conn.prepare_cached(
        "UPDATE outbox SET status = 'delivered', lease_until_ms = 0
         WHERE id = ?1 AND status = 'pending'",
    )?;
    for id in ids {
        statement.execute([id])?;
    }
    Ok(())
}

/// Records a failed attempt on a pending row: its error, when it is due again, and whether it is
/// now dead (see [`Failed`]).
pub(super) fn mark_failed(
    conn: &Connection,
    id: i64,
    error: &str,
    next_attempt_ms: i64,
    failed: Failed,
) -> rusqlite::Result<()> {
    let dead = failed == Failed::Dead;
    let counted = i64::from(failed != Failed::Deferred);
    conn.prepare_cached(
        "UPDATE outbox SET attempts = attempts + ?5, last_error = ?2, next_attempt_ms = ?3,
             lease_until_ms = 0, uncertain = 0, status = CASE WHEN ?4 THEN 'dead' ELSE 'pending' END
         WHERE id = ?1 AND status = 'pending'",
    )?
    .execute(params![id, error, next_attempt_ms, dead, counted])?;
    Ok(())
}

/// Makes the rows of `sink` that a previous process had leased claimable at once, marked
/// uncertain; returns how many.
pub(super) fn recover_leases(conn: &Connection, sink: &str) -> rusqlite::Result<u64> {
    let recovered = conn
        .prepare_cached(
            "UPDATE outbox SET lease_until_ms = 0, uncertain = 1
             WHERE sink = ?1 AND status = 'pending' AND lease_until_ms > 0",
        )?
        .execute([sink])?;
    Ok(recovered as u64)
}

/// Hands leased rows back, claimable again at once, without counting an attempt.
pub(super) fn release(conn: &Connection, ids: &[i64]) -> rusqlite::Result<()> {
    let mut statement = conn.prepare_cached(
        "UPDATE outbox SET lease_until_ms = 0 WHERE id = ?1 AND status = 'pending'",
    )?;
    for id in ids {
        statement.execute([id])?;
    }
    Ok(())
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

/// Folds a sink deliverer's record of one delivery (a cluster control message) into this node's
/// outbox row `(sink, seq)`, so that whichever node delivers the sink next knows what was
/// delivered, what is dead, what is scheduled and what may have been sent (`uncertain`).
///
/// Every outcome sets absolute values, so folding the same record twice changes nothing; a record
/// for a row this node does not have (not projected yet, or pruned) changes nothing either. The
/// deliverer marks its own row before its record comes back through the projection, which then
/// finds the row already in that state: `Inflight` marks only a pending row, `Retry` and `Dead`
/// only a pending one, `Requeued` only a dead one.
pub(crate) fn apply_delivery(
    conn: &Connection,
    sink: &str,
    seq: u64,
    outcome: &DeliveryOutcome,
) -> rusqlite::Result<()> {
    let seq = seq as i64;
    match outcome {
        DeliveryOutcome::Inflight { .. } => conn
            .prepare_cached(
                "UPDATE outbox SET uncertain = 1
                 WHERE sink = ?1 AND seq = ?2 AND status = 'pending'",
            )?
            .execute(params![sink, seq])?,
        DeliveryOutcome::Delivered => conn
            .prepare_cached(
                "UPDATE outbox SET status = 'delivered', lease_until_ms = 0, uncertain = 0
                 WHERE sink = ?1 AND seq = ?2 AND status != 'delivered'",
            )?
            .execute(params![sink, seq])?,
        DeliveryOutcome::Retry {
            attempts,
            next_attempt_ms,
            error,
        } => conn
            .prepare_cached(
                "UPDATE outbox SET attempts = ?3, next_attempt_ms = ?4, last_error = ?5,
                     uncertain = 0
                 WHERE sink = ?1 AND seq = ?2 AND status = 'pending'",
            )?
            .execute(params![sink, seq, attempts, next_attempt_ms, error])?,
        DeliveryOutcome::Dead { attempts, error } => conn
            .prepare_cached(
                "UPDATE outbox SET status = 'dead', attempts = ?3, last_error = ?4,
                     lease_until_ms = 0, uncertain = 0
                 WHERE sink = ?1 AND seq = ?2 AND status = 'pending'",
            )?
            .execute(params![sink, seq, attempts, error])?,
        DeliveryOutcome::Requeued => conn
            .prepare_cached(
                "UPDATE outbox SET status = 'pending', attempts = 0, next_attempt_ms = 0,
                     lease_until_ms = 0, uncertain = 0
                 WHERE sink = ?1 AND seq = ?2 AND status = 'dead'",
            )?
            .execute(params![sink, seq])?,
    };
    Ok(())
}
