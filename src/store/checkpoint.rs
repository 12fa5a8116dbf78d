//! The checkpointer: a thread with its own connection that copies committed WAL frames into the
//! database file, so the writer thread spends its time on commits and not on checkpoints (which
//! the writer would otherwise run inside a commit, fsync included, every 1000 pages).

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use anyhow::Context;
use rusqlite::Connection;

/// How often committed frames are copied into the database. Often enough that when the writer's
/// own checkpoint comes due (the WAL at `wal_autocheckpoint` pages, which is what lets the WAL
/// start over), little is left for it to copy inside a commit. Measured under the ingest
/// benchmark: 250 ms left the writer reading 100 MB/s back from the WAL and the p99 at ~44 ms;
/// 20 ms, 58 MB/s and ~22 ms. A run with nothing new to copy costs nothing (no fsync).
const INTERVAL: Duration = Duration::from_millis(20);

/// A running checkpointer; [`Checkpointer::stop`] ends it.
pub(super) struct Checkpointer {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<()>,
}

impl Checkpointer {
    pub(super) fn start(path: &Path, synchronous_full: bool) -> anyhow::Result<Checkpointer> {
        let conn = Connection::open(path)
            .with_context(|| format!("cannot open the store {} for checkpoints", path.display()))?;
        conn.busy_timeout(Duration::from_secs(5))?;
        conn.pragma_update(
            None,
            "synchronous",
            if synchronous_full { "FULL" } else { "NORMAL" },
        )?;
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = stop.clone();
        let thread = std::thread::Builder::new()
            .name("store-checkpoint".to_owned())
            .spawn(move || {
                while !stopping.load(Ordering::Acquire) {
                    std::thread::park_timeout(INTERVAL);
                    // PASSIVE never waits for the writer or readers: it copies what it can.
                    let result = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |row| {
                        row.get::<_, i64>(0)
                    });
                    if let Err(error) = result {
                        tracing::warn!(%error, "store checkpoint failed; retrying");
                    }
                }
            })
            .context("cannot start the store checkpoint thread")?;
        Ok(Checkpointer { stop, thread })
    }

    pub(super) fn stop(self) {
        self.stop.store(true, Ordering::Release);
        self.thread.thread().unpark();
        let _ = self.thread.join();
    }
}
