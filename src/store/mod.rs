//! The embedded durable store: an SQLite database in WAL mode holding the event log, the current
//! alarm states and the sinks' outbox.
//!
//! Every write goes through one dedicated writer thread (`writer.rs`) that takes whatever requests
//! are queued, runs them in a single transaction and commits once (group commit): a caller's
//! future resolves only after that commit, so a webhook can be acknowledged once its event is
//! durable while many concurrent requests share the cost of one fsync. Reads use their own
//! read-only connections ([`Reader`]), which WAL lets run alongside the writer.
//!
//! The SQL of each table is in its own module: `events.rs` (the log), `keys.rs` (idempotency
//! keys), `outbox.rs` (what each sink still owes), `alarms.rs` (alarm states) and `route.rs` (the
//! alerting router's state, decisions, notification members and threads); `command.rs`
//! runs each command through them in a savepoint, and `writer.rs` only batches and commits.

mod alarms;
mod body;
mod cards;
mod checkpoint;
mod command;
mod committed;
mod controls;
mod events;
mod fences;
mod keys;
mod outbox;
mod pool;
mod project;
mod reader;
mod route;
mod schema;
mod spool;
mod syncer;
mod types;
mod views;
mod writer;

#[cfg(test)]
mod tests;

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use anyhow::Context as _;
use tokio::sync::{mpsc, oneshot};

pub use cards::CardRow;
pub use committed::{Announcements, CommitTap, Committed, with_seq};
pub use events::event_json;
pub use fences::parse as parse_fence;
pub use keys::DedupLimits;
pub use pool::ReaderPool;
pub use project::{ProjectBatch, ProjectOutcome, Projected, ProjectedBody};
pub use reader::{
    AlarmFilter, AlarmRow, AlarmView, DeadLetter, EventFilter, EventQuery, LogScan, Order,
    OutboxCounts, OutboxRow, Reader,
};
pub use route::{LoggedEvent, RouteCommit, TraceRow};
pub use spool::SpoolRow;
pub use types::{Appended, Delivery, Failed, NewEvent, StoreError, StoreStats, WriteState};
pub use views::StoredView;

pub use crate::event::AlarmUpdate;

use command::Command;
use events::Prepared;

/// How many requests may wait for the writer before callers wait to enqueue (backpressure).
const QUEUE: usize = 4096;

/// How many events one call of [`Store::prune_older_than`] deletes per transaction, so that a large
/// purge does not hold up appends for long.
const PRUNE_CHUNK: usize = 5000;
/// Free space that makes a store that failed for a full disk count as writable again: room for
/// many full batches of large events and the WAL they grow.
pub const DEFAULT_MIN_FREE_BYTES: u64 = 16 * 1024 * 1024;

/// See [`StoreConfig::min_commit_interval`]: none by default. Measured with `bench/ingest.sh`
/// (BENCHMARKS.md): 1 ms cut the p99 from ~40 to ~14 ms but also the requests/s by ~15% with 64
/// senders, at the same CPU per request.
pub const DEFAULT_MIN_COMMIT_INTERVAL: std::time::Duration = std::time::Duration::ZERO;

/// Where the store lives and how hard it syncs.
#[derive(Debug, Clone)]
pub struct StoreConfig {
    /// The database file; `-wal` and `-shm` files are created next to it.
    pub path: PathBuf,
    /// `synchronous=FULL` (survives power loss) when true, `NORMAL` (survives a process crash) when
    /// false.
    pub synchronous_full: bool,
    /// The most events (or outbox operations) the writer puts in one transaction.
    pub max_batch: usize,
    /// After a write failed because the disk was full: the free space from which the store
    /// counts as writable again (see [`WriteState::DiskFull`]).
    pub min_free_bytes: u64,
    /// Where committed events are announced (the live feed), if anywhere.
    pub tap: Option<CommitTap>,
    /// How long and how many idempotency keys are remembered to detect redeliveries.
    pub dedup: DedupLimits,
    /// Under load, the writer commits at most this often (the requests arriving meanwhile share
    /// the commit); a request after a quiet spell is committed at once.
    pub min_commit_interval: std::time::Duration,
}

impl StoreConfig {
    /// The defaults: FULL sync, batches of up to 512, 16 MiB free to count as writable again.
    pub fn new(path: impl Into<PathBuf>) -> StoreConfig {
        StoreConfig {
            path: path.into(),
            synchronous_full: true,
            max_batch: 512,
            min_free_bytes: DEFAULT_MIN_FREE_BYTES,
            tap: None,
            dedup: DedupLimits::default(),
            min_commit_interval: DEFAULT_MIN_COMMIT_INTERVAL,
        }
    }
}

/// Counts kept by the writer, for tests and diagnostics (the same figures go to `metrics`).
#[derive(Debug, Default)]
struct Stats {
    commits: AtomicU64,
    failed_commits: AtomicU64,
    /// The latest batch was rolled back because the store could not write.
    failing: AtomicBool,
    /// ... and the reason was a full disk.
    out_of_space: AtomicBool,
    /// While the store cannot write, every batch fails: one log line per interval.
    rollback_log: crate::throttle::Throttle,
}

/// A handle on the store; clones are cheap and share one writer thread.
#[derive(Debug, Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    commands: mpsc::Sender<Command>,
    path: PathBuf,
    min_free_bytes: u64,
    stats: Arc<Stats>,
    /// Taken by the first [`Store::close`]; later calls find it empty.
    stopped: Mutex<Option<oneshot::Receiver<()>>>,
    /// The last seq of the log when the store was opened: what this process found, not what it
    /// appended (the alerting router's first start skips the history, never a new event).
    last_seq_at_open: u64,
}

impl Store {
    /// Opens (creating if needed) and migrates the database, then starts the writer thread. It
    /// does blocking file IO: call it at startup or from `spawn_blocking`.
    pub fn open(config: StoreConfig) -> anyhow::Result<Store> {
        // With FULL, commits are synced by the syncer thread (see `syncer.rs`), not inside them.
        let conn = schema::open_writer(&config.path, false)?;
        let now_ms = jiff::Timestamp::now().as_millisecond();
        let dedup = keys::Dedup::load(&conn, config.dedup, now_ms).with_context(|| {
            format!(
                "cannot read the idempotency keys of {}",
                config.path.display()
            )
        })?;
        let alarms = alarms::AlarmIndex::load(&conn)
            .with_context(|| format!("cannot read the alarm keys of {}", config.path.display()))?;
        tracing::debug!(alarms = alarms.len(), "alarm keys loaded");
        let last_seq = events::last_seq(&conn)
            .with_context(|| format!("cannot read the last seq of {}", config.path.display()))?;
        let checkpointer = checkpoint::Checkpointer::start(&config.path, config.synchronous_full)?;
        let (commands, receiver) = mpsc::channel(QUEUE);
        let (stopped_tx, stopped) = oneshot::channel();
        let stats = Arc::new(Stats::default());
        writer::spawn(
            conn,
            writer::Memory::new(dedup, alarms, last_seq),
            checkpointer,
            receiver,
            writer::Options {
                max_batch: config.max_batch.max(1),
                tap: config.tap,
                min_commit_interval: config.min_commit_interval,
                completion: if config.synchronous_full {
                    syncer::Completion::synced(&config.path, stats.clone(), commands.downgrade())?
                } else {
                    syncer::Completion::Inline
                },
            },
            stats.clone(),
            stopped_tx,
        )?;
        let inner = Inner {
            commands,
            path: config.path,
            min_free_bytes: config.min_free_bytes,
            stats,
            stopped: Mutex::new(Some(stopped)),
            last_seq_at_open: u64::try_from(last_seq).unwrap_or(0),
        };
        Ok(Store {
            inner: Arc::new(inner),
        })
    }

    /// Appends events durably: resolves only after the transaction holding them has committed
    /// (shared with other callers' requests). Results are in the order of `items`.
    ///
    /// An event whose idempotency key is already stored (earlier, or earlier in `items`) is not
    /// stored again, as long as the key is within the [`DedupLimits`]: its existing seq comes back
    /// with `duplicate: true` and its sinks and alarm are ignored. Otherwise the event gets the next seq, one outbox row per sink and its alarm
    /// updates, all in the same transaction. The items are only read, so a caller can retry the
    /// same ones after `Unavailable`.
    pub async fn append(&self, items: &[NewEvent]) -> Result<Vec<Appended>, StoreError> {
        if items.is_empty() {
            return Ok(Vec::new());
        }
        let items = items
            .iter()
            .map(Prepared::new)
            .collect::<Result<Vec<_>, _>>()?;
        self.request(|reply| Command::Append { items, reply }).await
    }

    /// Claims up to `limit` pending outbox rows of `sink` that are due (`next_attempt_ms <= now`)
    /// and not leased, oldest first, and leases them until `now_ms + lease_ms`: another worker, or
    /// this one after a restart, will not get them again before the lease ends.
    pub async fn claim_due(
        &self,
        sink: &str,
        now_ms: i64,
        limit: usize,
        lease_ms: i64,
    ) -> Result<Vec<Delivery>, StoreError> {
        self.claim(sink, now_ms, limit, lease_ms, false).await
    }

    /// [`Store::claim_due`], but the rows of people talking to a Webex bot (card clicks and
    /// messages, [`crate::pipeline::is_bot_interaction`]) among the next
    /// [`outbox::INTERACTION_LOOKAHEAD`] due rows come first, in their order, then the others in
    /// theirs: a click or a command is not kept waiting behind a backlog of the sink's
    /// notifications, which go out at the sink's rate (an Acknowledge during a storm).
    pub async fn claim_due_interactions_first(
        &self,
        sink: &str,
        now_ms: i64,
        limit: usize,
        lease_ms: i64,
    ) -> Result<Vec<Delivery>, StoreError> {
        self.claim(sink, now_ms, limit, lease_ms, true).await
    }

    /// [`Store::claim_due`], or [`Store::claim_due_interactions_first`] when
    /// `interactions_first`.
    pub(crate) async fn claim(
        &self,
        sink: &str,
        now_ms: i64,
        limit: usize,
        lease_ms: i64,
        interactions_first: bool,
    ) -> Result<Vec<Delivery>, StoreError> {
        let sink = sink.to_owned();
        self.request(|reply| Command::Claim {
            sink,
            now_ms,
            limit,
            lease_ms,
            interactions_first,
            reply,
        })
        .await
    }

    /// Marks outbox rows delivered; unknown ids are ignored.
    pub async fn mark_delivered(&self, ids: Vec<i64>) -> Result<(), StoreError> {
        if ids.is_empty() {
            return Ok(());
        }
        self.request(|reply| Command::MarkDelivered { ids, reply })
            .await
    }

    /// Records a delivery that did not happen: `last_error`, and what comes next (see
    /// [`Failed`]); a retry is not claimed before `next_attempt_ms`.
    pub async fn mark_failed(
        &self,
        id: i64,
        error: String,
        next_attempt_ms: i64,
        failed: Failed,
    ) -> Result<(), StoreError> {
        self.request(|reply| Command::MarkFailed {
            id,
            error,
            next_attempt_ms,
            failed,
            reply,
        })
        .await
    }

    /// At startup, before a sink claims anything: rows that a previous process had leased and not
    /// finished are made claimable at once and marked [`Delivery::uncertain`]. Returns how many.
    pub async fn recover_leases(&self, sink: &str) -> Result<u64, StoreError> {
        let sink = sink.to_owned();
        self.request(|reply| Command::RecoverLeases { sink, reply })
            .await
    }

    /// Hands claimed rows back unattempted, claimable again at once.
    pub async fn release(&self, ids: Vec<i64>) -> Result<(), StoreError> {
        if ids.is_empty() {
            return Ok(());
        }
        self.request(|reply| Command::Release { ids, reply }).await
    }

    /// Makes the dead letter `id` of `sink` pending again, due at once with its attempts reset.
    /// Returns false when `sink` has no dead letter `id`.
    pub async fn retry_dead(&self, sink: &str, id: i64) -> Result<bool, StoreError> {
        let sink = sink.to_owned();
        self.request(|reply| Command::RetryDead { sink, id, reply })
            .await
    }

    /// Folds one delivery record of a shared sink (`Control::Delivery`) into the outbox row
    /// `(sink, seq)`, as the cluster projection does inside its batch (see
    /// `outbox::apply_delivery`): for tools and tests that fold records themselves.
    pub async fn apply_delivery(
        &self,
        sink: &str,
        seq: u64,
        outcome: crate::cluster::wire::DeliveryOutcome,
    ) -> Result<(), StoreError> {
        let sink = sink.to_owned();
        self.request(|reply| Command::ApplyDelivery {
            sink,
            seq,
            outcome,
            reply,
        })
        .await
    }

    /// Commits one step of the alerting router (see [`RouteCommit`]): the notification events
    /// and operator events appended (with their outbox rows), the state rows written, the
    /// decisions and memberships recorded, the cursor moved. The `Appended` of each appended
    /// event, notifications first, in order.
    ///
    /// It runs in its own savepoint of a group commit, and resolves after the COMMIT (and its
    /// sync): when it fails, nothing of it is stored and the cursor has not moved, so the router
    /// can offer the same step again. Its new events are announced to the live feed like
    /// appended ones.
    pub async fn route_commit(&self, commit: RouteCommit) -> Result<Vec<Appended>, StoreError> {
        let commit = route::PreparedCommit::new(commit)?;
        self.request(|reply| Command::RouteCommit { commit, reply })
            .await
    }

    /// Remembers the message that starts `group`'s thread in `sink` (a Webex message id).
    pub async fn set_thread(
        &self,
        sink: &str,
        group: &str,
        message_id: &str,
    ) -> Result<(), StoreError> {
        let (sink, group, message_id) = (sink.to_owned(), group.to_owned(), message_id.to_owned());
        self.request(|reply| Command::SetThread {
            sink,
            group,
            message_id,
            reply,
        })
        .await
    }

    /// Remembers a card (a message with buttons) a Webex sink posted: see `cards.rs`.
    pub async fn record_card(&self, card: CardRow) -> Result<(), StoreError> {
        let created_ms = jiff::Timestamp::now().as_millisecond();
        self.request(|reply| Command::RecordCard {
            card,
            created_ms,
            reply,
        })
        .await
    }

    /// Cluster mode: keeps `rows` (events the stream did not confirm) durably for the relay;
    /// resolves after the commit, like an append.
    pub async fn spool(&self, rows: Vec<SpoolRow>) -> Result<(), StoreError> {
        if rows.is_empty() {
            return Ok(());
        }
        self.request(|reply| Command::Spool { rows, reply }).await
    }

    /// Cluster mode: deletes spooled rows the stream has confirmed.
    pub async fn unspool(&self, ids: Vec<i64>) -> Result<(), StoreError> {
        if ids.is_empty() {
            return Ok(());
        }
        self.request(|reply| Command::Unspool { ids, reply }).await
    }

    /// Cluster mode: folds a batch of the stream into the store, cursor included, in one
    /// savepoint of the group commit (see `project.rs`); its new events are announced to the live
    /// feed like appended ones.
    pub async fn project(&self, batch: ProjectBatch) -> Result<ProjectOutcome, StoreError> {
        let batch = project::PreparedBatch::new(batch)?;
        self.request(|reply| Command::Project { batch, reply })
            .await
    }

    /// Stores `objects`, a session's first snapshot, as `source`'s view: from now on the source's
    /// events fold into it (see `views.rs`).
    pub async fn save_view(
        &self,
        source: &str,
        objects: Vec<crate::cluster::wire::ViewObject>,
    ) -> Result<(), StoreError> {
        let source = source.to_owned();
        self.request(|reply| Command::SaveView {
            source,
            objects,
            reply,
        })
        .await
    }

    /// Records that `source`'s session was listening until now (it ended cleanly at shutdown), so
    /// that the next start's gap begins there.
    pub async fn touch_view(&self, source: &str) -> Result<(), StoreError> {
        let source = source.to_owned();
        let now_ms = jiff::Timestamp::now().as_millisecond();
        self.request(|reply| Command::TouchView {
            source,
            now_ms,
            reply,
        })
        .await
    }

    /// Deletes the stored views of every source not named in `keep`; answers how many went.
    pub async fn retain_views(&self, keep: Vec<String>) -> Result<u64, StoreError> {
        self.request(|reply| Command::RetainViews { keep, reply })
            .await
    }

    /// The last seq of the log when this store was opened (0 for an empty log).
    pub fn last_seq_at_open(&self) -> u64 {
        self.inner.last_seq_at_open
    }

    pub fn path(&self) -> &std::path::Path {
        &self.inner.path
    }

    /// Retention: deletes events received before `cutoff` that no sink still has to deliver
    /// (their delivered and dead outbox rows go with them), and cleared alarms last changed
    /// before it. Returns how many events were deleted.
    /// Works in chunks so appends interleave with a large purge.
    pub async fn prune_older_than(&self, cutoff: jiff::Timestamp) -> Result<u64, StoreError> {
        let cutoff_ms = cutoff.as_millisecond();
        let mut deleted = 0;
        let mut pruned_alarms = 0;
        loop {
            let chunk = self
                .request(|reply| Command::Prune {
                    cutoff_ms,
                    limit: PRUNE_CHUNK,
                    reply,
                })
                .await?;
            let (events, alarms) = chunk;
            deleted += events;
            pruned_alarms += alarms;
            if events < PRUNE_CHUNK as u64 && alarms < PRUNE_CHUNK as u64 {
                if pruned_alarms > 0 {
                    tracing::info!(
                        alarms = pruned_alarms,
                        "retention deleted cleared alarms that had not changed since the cutoff"
                    );
                }
                return Ok(deleted);
            }
        }
    }

    /// Opens a read-only connection. Its methods block: call them from `spawn_blocking`.
    pub fn reader(&self) -> anyhow::Result<Reader> {
        Reader::open(&self.inner.path)
    }

    /// Whether the latest transaction committed, and if it failed for lack of space, how much
    /// space there is now. Costs one `statvfs` call in that case only.
    pub fn write_state(&self) -> WriteState {
        let stats = &self.inner.stats;
        if !stats.failing.load(Ordering::Relaxed) {
            return WriteState::Writing;
        }
        if !stats.out_of_space.load(Ordering::Relaxed) {
            return WriteState::Failing;
        }
        let folder = match self.inner.path.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent,
            _ => std::path::Path::new("."),
        };
        match rustix::fs::statvfs(folder) {
            Ok(fs) => WriteState::DiskFull {
                available: fs.f_bavail.saturating_mul(fs.f_frsize),
                needed: self.inner.min_free_bytes,
            },
            // Without a measure, only a write that commits can tell.
            Err(_) => WriteState::DiskFull {
                available: 0,
                needed: self.inner.min_free_bytes,
            },
        }
    }

    /// The writer's counters so far.
    pub fn stats(&self) -> StoreStats {
        StoreStats {
            commits: self.inner.stats.commits.load(Ordering::Relaxed),
            failed_commits: self.inner.stats.failed_commits.load(Ordering::Relaxed),
        }
    }

    /// Commits every request queued before this call, then stops the writer and closes the
    /// database. Requests made afterwards through other clones fail with `Unavailable`.
    pub async fn close(self) {
        let _ = self.inner.commands.send(Command::Close).await;
        let stopped = self.inner.stopped.lock().ok().and_then(|mut s| s.take());
        if let Some(stopped) = stopped {
            let _ = stopped.await;
        }
    }

    /// Sends one command to the writer and waits for its answer.
    async fn request<T>(
        &self,
        command: impl FnOnce(oneshot::Sender<Result<T, StoreError>>) -> Command,
    ) -> Result<T, StoreError> {
        let (reply, answer) = oneshot::channel();
        let closed = || StoreError::Unavailable("the store is closed".to_owned());
        self.inner
            .commands
            .send(command(reply))
            .await
            .map_err(|_| closed())?;
        answer.await.map_err(|_| closed())?
    }

    /// Runs raw SQL on the writer's connection, outside any transaction (to simulate failures).
    #[cfg(test)]
    async fn execute_on_writer(&self, sql: &str) -> Result<(), StoreError> {
        let sql = sql.to_owned();
        self.request(|reply| Command::Exec { sql, reply }).await
    }
}
