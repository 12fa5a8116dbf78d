//! `cluster_spool`: events this node accepted while the stream did not confirm them (NATS down,
//! no quorum, a leader election longer than `cluster.publish_timeout`). A row is written by the
//! group commit like an event, so a webhook answered 2xx after it is durable; the relay
//! (`cluster::spool`) republishes rows oldest first with their original message id and fence, and
//! deletes each once the stream has confirmed it.

use rusqlite::{Connection, params};

/// One message waiting for the stream: what is published again, exactly as first tried.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpoolRow {
    /// The row's id (0 before it is stored); the relay deletes by it.
    pub id: i64,
    pub subject: String,
    /// `Nats-Msg-Id`: the same as the first attempt, so the stream keeps one copy.
    pub msg_id: String,
    /// `Np-Fence`, when the message had one.
    pub fence: Option<String>,
    pub payload: Vec<u8>,
    pub created_ms: i64,
}

pub(super) fn insert(conn: &Connection, rows: &[SpoolRow], now_ms: i64) -> rusqlite::Result<()> {
    let mut statement = conn.prepare_cached(
        "INSERT INTO cluster_spool (subject, msg_id, fence, payload, created_ms)
         VALUES (?1, ?2, ?3, ?4, ?5)",
    )?;
    for row in rows {
        statement.execute(params![
            row.subject,
            row.msg_id,
            row.fence,
            row.payload,
            now_ms
        ])?;
    }
    Ok(())
}

pub(super) fn delete(conn: &Connection, ids: &[i64]) -> rusqlite::Result<()> {
    let mut statement = conn.prepare_cached("DELETE FROM cluster_spool WHERE id = ?1")?;
    for id in ids {
        statement.execute([id])?;
    }
    Ok(())
}

/// The oldest `limit` rows, oldest first.
pub(super) fn oldest(conn: &Connection, limit: usize) -> rusqlite::Result<Vec<SpoolRow>> {
    let mut statement = conn.prepare_cached(
        "SELECT id, subject, msg_id, fence, payload, created_ms FROM cluster_spool
         ORDER BY id LIMIT ?1",
    )?;
    let rows = statement.query_map([limit as i64], |row| {
        Ok(SpoolRow {
            id: row.get(0)?,
            subject: row.get(1)?,
            msg_id: row.get(2)?,
            fence: row.get(3)?,
            payload: row.get(4)?,
            created_ms: row.get(5)?,
        })
    })?;
    rows.collect()
}

pub(super) fn depth(conn: &Connection) -> rusqlite::Result<u64> {
    conn.query_row("SELECT count(*) FROM cluster_spool", [], |row| {
        row.get::<_, i64>(0)
    })
    .map(|count| count as u64)
}
