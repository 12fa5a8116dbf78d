//! `cluster_fences`: per lease key, the newest acquisition revision the projection has folded
//! (from `Control::Lease`). A message fenced with an older revision of the key comes from a
//! writer that lost its lease (paused past it, or cut off) and is not projected.

use rusqlite::{Connection, OptionalExtension, params};

/// Records a lease acquisition, unless a newer one of the key is already recorded.
pub(super) fn record(
    conn: &Connection,
    key: &str,
    revision: u64,
    node: &str,
    seq: u64,
) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "INSERT INTO cluster_fences (key, revision, node, seq) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (key) DO UPDATE SET revision = excluded.revision, node = excluded.node,
             seq = excluded.seq
         WHERE excluded.revision > cluster_fences.revision",
    )?
    .execute(params![key, revision as i64, node, seq as i64])?;
    Ok(())
}

/// The newest revision recorded for `key`.
pub(super) fn revision(conn: &Connection, key: &str) -> rusqlite::Result<Option<u64>> {
    conn.prepare_cached("SELECT revision FROM cluster_fences WHERE key = ?1")?
        .query_row([key], |row| row.get::<_, i64>(0))
        .optional()
        .map(|revision| revision.map(|revision| revision as u64))
}

/// True when a message fenced `<key> <revision>` is older than the key's newest lease.
pub(super) fn is_stale(conn: &Connection, key: &str, revision: u64) -> rusqlite::Result<bool> {
    Ok(self::revision(conn, key)?.is_some_and(|newest| revision < newest))
}

/// Parses an `Np-Fence` header value: `<lease key> <revision>`.
pub fn parse(fence: &str) -> Option<(&str, u64)> {
    let (key, revision) = fence.rsplit_once(' ')?;
    Some((key, revision.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_older_revision_is_stale_and_a_newer_lease_replaces_an_older_one_only() {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(
            "CREATE TABLE cluster_fences (key TEXT PRIMARY KEY, revision INTEGER NOT NULL,
                 node TEXT NOT NULL, seq INTEGER NOT NULL);",
        )
        .unwrap();
        assert!(!is_stale(&conn, "dev.sw1", 1).unwrap());
        record(&conn, "dev.sw1", 7, "a", 10).unwrap();
        record(&conn, "dev.sw1", 5, "b", 11).unwrap();
        assert_eq!(revision(&conn, "dev.sw1").unwrap(), Some(7));
        assert!(is_stale(&conn, "dev.sw1", 6).unwrap());
        assert!(!is_stale(&conn, "dev.sw1", 7).unwrap());
        assert!(!is_stale(&conn, "dev.sw2", 1).unwrap());
        assert_eq!(parse("dev.sw=2E1 42"), Some(("dev.sw=2E1", 42)));
        assert_eq!(parse("dev.sw1"), None);
    }
}
