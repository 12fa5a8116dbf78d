//! Cluster mode's reads: the projection's cursor, the spool (for the relay and the depth gauge)
//! and the fences.

use anyhow::Context;

use super::Reader;
use crate::store::{SpoolRow, fences, project, spool};

impl Reader {
    /// The last stream sequence this store has projected (0 before the first).
    pub fn projection_cursor(&self) -> anyhow::Result<u64> {
        project::cursor(&self.conn).context("cannot read the projection's cursor")
    }

    /// The oldest `limit` spooled messages, oldest first.
    pub fn spooled(&self, limit: usize) -> anyhow::Result<Vec<SpoolRow>> {
        spool::oldest(&self.conn, limit).context("cannot read the spool")
    }

    /// How many messages wait in the spool.
    pub fn spool_depth(&self) -> anyhow::Result<u64> {
        spool::depth(&self.conn).context("cannot count the spool")
    }

    /// The newest lease revision projected for `key` (a lease key as the bucket spells it).
    pub fn fence(&self, key: &str) -> anyhow::Result<Option<u64>> {
        fences::revision(&self.conn, key).context("cannot read the fences")
    }
}
