//! The writer thread: owns the only read-write connection, drains queued commands into one
//! transaction, commits once, and only then answers every caller (group commit).

use std::sync::Arc;
use std::sync::atomic::Ordering;

use anyhow::Context;
use rusqlite::{Connection, ErrorCode, Transaction, TransactionBehavior, params};
use tokio::sync::{mpsc, oneshot};

use super::alarm_index::{self, AlarmIndex};
use super::checkpoint::Checkpointer;
use super::dedup::Dedup;
use super::ops::{append_one, claim, prune, retry_dead};
use super::syncer::Completion;
use super::{Appended, CommitTap, Committed, Delivery, Failed, Prepared, Stats, StoreError};

type Reply<T> = oneshot::Sender<Result<T, StoreError>>;

/// What callers ask of the writer. Each command runs in a savepoint of the batch's transaction, so
/// one command's own failure does not undo the others.
pub(super) enum Command {
    Append {
        items: Vec<Prepared>,
        reply: Reply<Vec<Appended>>,
    },
    Claim {
        sink: String,
        now_ms: i64,
        limit: usize,
        lease_ms: i64,
        reply: Reply<Vec<Delivery>>,
    },
    MarkDelivered {
        ids: Vec<i64>,
        reply: Reply<()>,
    },
    MarkFailed {
        id: i64,
        error: String,
        next_attempt_ms: i64,
        failed: Failed,
        reply: Reply<()>,
    },
    /// Deletes old events and old cleared alarms: answers how many of each.
    Prune {
        cutoff_ms: i64,
        limit: usize,
        reply: Reply<(u64, u64)>,
    },
    /// Startup: leases left by a previous process are dropped and their rows marked uncertain.
    RecoverLeases {
        sink: String,
        reply: Reply<u64>,
    },
    /// Hands claimed rows back without an attempt (a sink that pauses before sending them).
    Release {
        ids: Vec<i64>,
        reply: Reply<()>,
    },
    /// An operator asks for a dead letter to be tried again.
    RetryDead {
        sink: String,
        id: i64,
        reply: Reply<bool>,
    },
    /// Commit what came before, then stop.
    Close,
    /// From the syncer: it has answered every batch, so the open transaction should commit now.
    /// Ignored when none is open.
    Wake,
    #[cfg(test)]
    Exec {
        sql: String,
        reply: Reply<()>,
    },
}

impl Command {
    /// The command's weight against `max_batch`: its events for an append, else one.
    fn weight(&self) -> usize {
        match self {
            Command::Append { items, .. } => items.len(),
            Command::MarkDelivered { ids, .. } | Command::Release { ids, .. } => ids.len(),
            _ => 1,
        }
    }
}

/// The writer's in-memory indexes of stored keys, whose changes are undone with the savepoint or
/// transaction that made them.
pub(super) struct Memory {
    /// Idempotency keys of recent events.
    pub dedup: Dedup,
    /// Every alarm key and its row.
    pub alarms: AlarmIndex,
    /// The highest seq assigned, in the open transaction included: the next event gets the one
    /// after it, so a seq is never handed out twice (`schema.rs`, version 6).
    pub last_seq: i64,
    /// `last_seq` as of the last commit, what a rolled-back transaction returns to.
    committed_last_seq: i64,
}

/// A point of the open transaction to roll [`Memory`] back to; the default is its start.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Mark {
    dedup: usize,
    alarms: usize,
    last_seq: Option<i64>,
}

impl Memory {
    pub(super) fn new(dedup: Dedup, alarms: AlarmIndex, last_seq: i64) -> Memory {
        Memory {
            dedup,
            alarms,
            last_seq,
            committed_last_seq: last_seq,
        }
    }

    fn mark(&self) -> Mark {
        Mark {
            dedup: self.dedup.mark(),
            alarms: self.alarms.mark(),
            last_seq: Some(self.last_seq),
        }
    }

    fn rollback_to(&mut self, mark: Mark) {
        self.dedup.rollback_to(mark.dedup);
        self.alarms.rollback_to(mark.alarms);
        self.last_seq = mark.last_seq.unwrap_or(self.committed_last_seq);
    }

    fn commit(&mut self, now_ms: i64) {
        self.dedup.commit(now_ms);
        self.alarms.commit();
        self.committed_last_seq = self.last_seq;
    }
}

/// Sends a command's answer once the batch's commit has succeeded or failed.
pub(super) type Finish = Box<dyn FnOnce(Result<(), StoreError>) + Send>;

/// How the writer batches and whom it tells of commits.
pub(super) struct Options {
    pub max_batch: usize,
    pub tap: Option<CommitTap>,
    /// Answers each batch at once, or after the syncer has synced its commit.
    pub completion: Completion,
    /// The shortest time between two commits under load (see `run`).
    pub min_commit_interval: std::time::Duration,
}

pub(super) fn spawn(
    conn: Connection,
    memory: Memory,
    checkpointer: Checkpointer,
    receiver: mpsc::Receiver<Command>,
    options: Options,
    stats: Arc<Stats>,
    stopped: oneshot::Sender<()>,
) -> anyhow::Result<()> {
    std::thread::Builder::new()
        .name("store-writer".to_owned())
        .spawn(move || {
            let conn = run(conn, memory, receiver, &options, &stats);
            // Every batch committed is answered before the connection closes.
            options.completion.stop();
            // The checkpointer goes first, so that the writer's connection is the last one: closing
            // it checkpoints everything into the database file and removes the WAL.
            checkpointer.stop();
            if let Err((_, err)) = conn.close() {
                tracing::error!(error = %err, "cannot close the store cleanly");
            }
            let _ = stopped.send(());
        })
        .context("cannot start the store writer thread")?;
    Ok(())
}

/// The thread's loop: ends on `Close` or when every `Store` handle is gone, after committing
/// everything received before.
fn run(
    mut conn: Connection,
    mut memory: Memory,
    receiver: mpsc::Receiver<Command>,
    options: &Options,
    stats: &Stats,
) -> Connection {
    let mut queue = Queue {
        receiver,
        closing: false,
    };
    // As if the last commit were long past: the first request is not held back.
    let now = std::time::Instant::now();
    let mut last_commit = now.checked_sub(options.min_commit_interval).unwrap_or(now);
    while !queue.closing {
        let Some(first) = queue.receiver.blocking_recv() else {
            break;
        };
        if let Command::Wake = first {
            continue;
        }
        // Under load, commits come at most every `min_commit_interval`: what arrives meanwhile
        // shares the next one. Each commit writes every page it dirtied (the tail of the table
        // and of each index) as a WAL frame, so many small commits cost more than few large
        // ones. A lone request, long after the last commit, is not held back.
        let since = last_commit.elapsed();
        if since < options.min_commit_interval && first.weight() < options.max_batch {
            std::thread::sleep(options.min_commit_interval - since);
        }
        let (batch, weight) = queue.gather(first, options.max_batch);
        if !batch.is_empty() {
            run_batch(
                &mut conn,
                &mut memory,
                batch,
                weight,
                &mut queue,
                options,
                stats,
            );
            last_commit = std::time::Instant::now();
        }
    }
    conn
}

/// The writer's end of the command queue.
struct Queue {
    receiver: mpsc::Receiver<Command>,
    /// `Close` was received, or every sender is gone: commit what came before and stop.
    closing: bool,
}

impl Queue {
    /// `first` and whatever else is queued, up to `room` in weight (at least `first`), with their
    /// weight. Stops at `Close`; drops wake-ups.
    fn gather(&mut self, first: Command, room: usize) -> (Vec<Command>, usize) {
        let mut batch = Vec::new();
        let mut weight = 0;
        let mut next = Some(first);
        while let Some(command) = next.take() {
            match command {
                Command::Close => {
                    self.closing = true;
                    break;
                }
                Command::Wake => {}
                command => {
                    weight += command.weight();
                    batch.push(command);
                }
            }
            if weight < room {
                next = self.receiver.try_recv().ok();
            }
        }
        (batch, weight)
    }
}

/// Runs `batch` in one transaction and answers every command after the commit. If the store
/// cannot write, the whole transaction is rolled back and every command gets `Unavailable`.
///
/// While the syncer is busy, the transaction stays open and takes in what arrives (see
/// [`super::syncer::Idle`]), up to `max_batch` in weight.
fn run_batch(
    conn: &mut Connection,
    memory: &mut Memory,
    batch: Vec<Command>,
    weight: usize,
    queue: &mut Queue,
    options: &Options,
    stats: &Stats,
) {
    let tap = options.tap.as_ref();
    let mut n_commands = batch.len();
    let mut finishes = Vec::with_capacity(n_commands);
    let mut now_ms = jiff::Timestamp::now().as_millisecond();
    let outcome = match conn.transaction_with_behavior(TransactionBehavior::Immediate) {
        Ok(mut tx) => {
            let mut fatal = None;
            let (mut batch, mut weight) = (batch, weight);
            loop {
                execute_all(
                    &mut tx,
                    memory,
                    batch,
                    now_ms,
                    tap,
                    &mut finishes,
                    &mut fatal,
                );
                let full = weight >= options.max_batch;
                if fatal.is_some() || queue.closing || full || !options.completion.wake_when_idle()
                {
                    break;
                }
                match queue.receiver.blocking_recv() {
                    None => {
                        queue.closing = true;
                        break;
                    }
                    Some(Command::Wake) => break,
                    Some(command) => {
                        let (more, more_weight) = queue.gather(command, options.max_batch - weight);
                        if more.is_empty() {
                            break;
                        }
                        n_commands += more.len();
                        (batch, weight) = (more, weight + more_weight);
                        now_ms = jiff::Timestamp::now().as_millisecond();
                    }
                }
            }
            match fatal {
                None => tx.commit().map_err(|err| unavailable(&err)),
                // Dropping the transaction rolls it back.
                Some(err) => Err(err),
            }
        }
        Err(err) => {
            finishes.extend(batch.into_iter().map(unanswered));
            Err(unavailable(&err))
        }
    };
    match &outcome {
        Ok(()) => memory.commit(now_ms),
        // Nothing of the batch was kept: neither are its keys.
        Err(_) => memory.rollback_to(Mark::default()),
    }
    match &outcome {
        Ok(()) => {
            stats.commits.fetch_add(1, Ordering::Relaxed);
            stats.failing.store(false, Ordering::Relaxed);
            stats.out_of_space.store(false, Ordering::Relaxed);
            metrics::counter!("netpulse_store_commits_total").increment(1);
        }
        Err(err) => {
            stats.failed_commits.fetch_add(1, Ordering::Relaxed);
            stats.failing.store(true, Ordering::Relaxed);
            let full = matches!(err, StoreError::Full(_));
            stats.out_of_space.store(full, Ordering::Relaxed);
            metrics::counter!("netpulse_store_commit_failures_total").increment(1);
            if let Some(left_out) = stats.rollback_log.admit(std::time::Instant::now()) {
                tracing::error!(error = %err, commands = n_commands, rolled_back_since_last_line = left_out, "store batch rolled back");
            }
        }
    }
    options.completion.complete(finishes, outcome);
}

/// Runs `commands` in the open transaction, collecting how to answer each. After a fatal error
/// the transaction is lost: the rest is only answered.
fn execute_all(
    tx: &mut Transaction,
    memory: &mut Memory,
    commands: Vec<Command>,
    now_ms: i64,
    tap: Option<&CommitTap>,
    finishes: &mut Vec<Finish>,
    fatal: &mut Option<StoreError>,
) {
    let mut commands = commands.into_iter().peekable();
    while let Some(command) = commands.next() {
        if fatal.is_some() {
            finishes.push(unanswered(command));
            continue;
        }
        let Command::Append { items, reply } = command else {
            let (finish, error) = execute(tx, memory, command, now_ms, tap);
            finishes.push(finish);
            *fatal = error;
            continue;
        };
        // Consecutive appends (concurrent webhooks) share one savepoint.
        let mut group = vec![(items, reply)];
        while let Some(Command::Append { .. }) = commands.peek() {
            if let Some(Command::Append { items, reply }) = commands.next() {
                group.push((items, reply));
            }
        }
        for (finish, error) in append_group(tx, memory, group, now_ms, tap) {
            finishes.push(finish);
            *fatal = fatal.take().or(error);
        }
    }
}

/// Runs one command in its own savepoint. Returns how to answer it and, when the error means the
/// store cannot write at all, that error: the batch must then be abandoned.
fn execute(
    tx: &mut Transaction,
    memory: &mut Memory,
    command: Command,
    now_ms: i64,
    tap: Option<&CommitTap>,
) -> (Finish, Option<StoreError>) {
    match command {
        Command::Append { items, reply } => {
            append_group(tx, memory, vec![(items, reply)], now_ms, tap)
                .pop()
                .expect("one outcome per command")
        }
        Command::Claim {
            sink,
            now_ms,
            limit,
            lease_ms,
            reply,
        } => in_savepoint(tx, reply, "claim", |conn| {
            claim(conn, &sink, now_ms, limit, lease_ms)
        }),
        Command::MarkDelivered { ids, reply } => {
            in_savepoint(tx, reply, "mark_delivered", |conn| {
                let mut statement = conn.prepare_cached(
                    "UPDATE outbox SET status = 'delivered', lease_until_ms = 0
                 WHERE id = ?1 AND status = 'pending'",
                )?;
                for id in ids {
                    statement.execute([id])?;
                }
                Ok(())
            })
        }
        Command::MarkFailed {
            id,
            error,
            next_attempt_ms,
            failed,
            reply,
        } => in_savepoint(tx, reply, "mark_failed", |conn| {
            let dead = failed == Failed::Dead;
            let counted = i64::from(failed != Failed::Deferred);
            conn.prepare_cached(
                "UPDATE outbox SET attempts = attempts + ?5, last_error = ?2, next_attempt_ms = ?3,
                     lease_until_ms = 0, uncertain = 0, status = CASE WHEN ?4 THEN 'dead' ELSE 'pending' END
                 WHERE id = ?1 AND status = 'pending'",
            )?
            .execute(params![id, error, next_attempt_ms, dead, counted])?;
            Ok(())
        }),
        Command::Prune {
            cutoff_ms,
            limit,
            reply,
        } => {
            let mark = memory.mark();
            let result = run_in_savepoint(tx, |conn| {
                let events = prune(conn, cutoff_ms, limit)?;
                let alarms = alarm_index::prune(conn, &mut memory.alarms, cutoff_ms, limit)?;
                Ok((events, alarms))
            });
            if result.is_err() {
                memory.rollback_to(mark);
            }
            settle(reply, "prune", result)
        }
        Command::RecoverLeases { sink, reply } => {
            in_savepoint(tx, reply, "recover_leases", |conn| {
                let recovered = conn
                    .prepare_cached(
                        "UPDATE outbox SET lease_until_ms = 0, uncertain = 1
                     WHERE sink = ?1 AND status = 'pending' AND lease_until_ms > 0",
                    )?
                    .execute([sink])?;
                Ok(recovered as u64)
            })
        }
        Command::Release { ids, reply } => in_savepoint(tx, reply, "release", |conn| {
            let mut statement = conn.prepare_cached(
                "UPDATE outbox SET lease_until_ms = 0 WHERE id = ?1 AND status = 'pending'",
            )?;
            for id in ids {
                statement.execute([id])?;
            }
            Ok(())
        }),
        Command::RetryDead { sink, id, reply } => {
            in_savepoint(tx, reply, "retry_dead", |conn| retry_dead(conn, &sink, id))
        }
        Command::Close | Command::Wake => (Box::new(|_| {}), None),
        #[cfg(test)]
        Command::Exec { sql, reply } => {
            in_savepoint(tx, reply, "exec", |conn| conn.execute_batch(&sql))
        }
    }
}

/// Runs a group of append commands in one savepoint. If any of them fails, that savepoint is
/// rolled back and each command runs again in its own, so that one request's problem does not
/// undo the others'; the common case pays for one savepoint instead of one per request.
fn append_group(
    tx: &mut Transaction,
    memory: &mut Memory,
    group: Vec<(Vec<Prepared>, Reply<Vec<Appended>>)>,
    now_ms: i64,
    tap: Option<&CommitTap>,
) -> Vec<(Finish, Option<StoreError>)> {
    let mark = memory.mark();
    let together = tx.savepoint().and_then(|savepoint| {
        let mut outcomes = Vec::with_capacity(group.len());
        for (items, _) in &group {
            let appended = items
                .iter()
                .map(|item| append_one(&savepoint, memory, item, now_ms))
                .collect::<rusqlite::Result<Vec<_>>>()?;
            outcomes.push(appended);
        }
        savepoint.commit()?;
        Ok(outcomes)
    });
    match together {
        Ok(outcomes) => {
            let appended: usize = outcomes.iter().map(Vec::len).sum();
            metrics::counter!("netpulse_store_events_appended_total").increment(appended as u64);
            group
                .into_iter()
                .zip(outcomes)
                .map(|((items, reply), appended)| {
                    let committed = announcement(tap, &items, &appended);
                    let finish = answer(reply, Ok(appended));
                    (announce_then(tap, committed, finish), None)
                })
                .collect()
        }
        Err(_) => {
            memory.rollback_to(mark);
            group
                .into_iter()
                .map(|(items, reply)| append_alone(tx, memory, items, reply, now_ms, tap))
                .collect()
        }
    }
}

/// One append command in its own savepoint, after its group's savepoint failed.
fn append_alone(
    tx: &mut Transaction,
    memory: &mut Memory,
    items: Vec<Prepared>,
    reply: Reply<Vec<Appended>>,
    now_ms: i64,
    tap: Option<&CommitTap>,
) -> (Finish, Option<StoreError>) {
    let mark = memory.mark();
    let result = run_in_savepoint(tx, |conn| {
        items
            .iter()
            .map(|item| append_one(conn, memory, item, now_ms))
            .collect::<rusqlite::Result<Vec<_>>>()
    });
    // A command whose savepoint was rolled back has nothing to announce, and its keys go.
    let committed = match &result {
        Ok(appended) => announcement(tap, &items, appended),
        Err(_) => {
            memory.rollback_to(mark);
            Vec::new()
        }
    };
    let (finish, error) = settle(reply, "append", result);
    (announce_then(tap, committed, finish), error)
}

/// What the feed is to be told of `items` once committed: the new ones, in seq order. Empty when
/// nobody listens.
fn announcement(
    tap: Option<&CommitTap>,
    items: &[Prepared],
    appended: &[Appended],
) -> Vec<Committed> {
    if !tap.is_some_and(CommitTap::active) {
        return Vec::new();
    }
    items
        .iter()
        .zip(appended)
        .filter(|(_, appended)| !appended.duplicate)
        .map(|(item, appended)| item.committed(appended.seq))
        .collect()
}

/// `finish`, preceded by announcing `committed` when the commit succeeded. Finishes run in batch
/// order, so announcements leave in seq order.
fn announce_then(tap: Option<&CommitTap>, committed: Vec<Committed>, finish: Finish) -> Finish {
    match tap {
        Some(tap) if !committed.is_empty() => {
            let tap = tap.clone();
            Box::new(move |commit: Result<(), StoreError>| {
                if commit.is_ok() {
                    committed.into_iter().for_each(|event| tap.announce(event));
                }
                finish(commit);
            })
        }
        _ => finish,
    }
}

/// Runs `work` in a savepoint of `tx`: kept on success, rolled back on failure.
fn in_savepoint<T: Send + 'static>(
    tx: &mut Transaction,
    reply: Reply<T>,
    command: &'static str,
    work: impl FnOnce(&Connection) -> rusqlite::Result<T>,
) -> (Finish, Option<StoreError>) {
    settle(reply, command, run_in_savepoint(tx, work))
}

/// Runs `work` in a savepoint of `tx`: kept when it succeeds (and the savepoint is released).
fn run_in_savepoint<T>(
    tx: &mut Transaction,
    work: impl FnOnce(&Connection) -> rusqlite::Result<T>,
) -> rusqlite::Result<T> {
    tx.savepoint().and_then(|savepoint| {
        let value = work(&savepoint)?;
        savepoint.commit()?;
        Ok(value)
    })
}

/// How to answer a command that ran in a savepoint, and the error that ends the batch, if any.
fn settle<T: Send + 'static>(
    reply: Reply<T>,
    command: &'static str,
    result: rusqlite::Result<T>,
) -> (Finish, Option<StoreError>) {
    match result {
        Ok(value) => (answer(reply, Ok(value)), None),
        Err(err) if cannot_write(&err) => {
            let err = unavailable(&err);
            (answer(reply, Err(err.clone())), Some(err))
        }
        Err(err) => {
            tracing::warn!(command, error = %err, "store rejected a request");
            metrics::counter!("netpulse_store_rejected_total").increment(1);
            (
                answer(reply, Err(StoreError::Rejected(err.to_string()))),
                None,
            )
        }
    }
}

fn answer<T: Send + 'static>(reply: Reply<T>, result: Result<T, StoreError>) -> Finish {
    Box::new(move |commit| {
        // The caller may have given up waiting; nothing to do then.
        let _ = reply.send(commit.and(result));
    })
}

/// The answer of a command that never ran because the batch had already failed: the commit
/// outcome it receives is always that failure.
fn unanswered(command: Command) -> Finish {
    fn never_ran<T>() -> Result<T, StoreError> {
        Err(StoreError::Unavailable("batch abandoned".to_owned()))
    }
    match command {
        Command::Append { reply, .. } => answer(reply, never_ran()),
        Command::Claim { reply, .. } => answer(reply, never_ran()),
        Command::MarkDelivered { reply, .. } | Command::MarkFailed { reply, .. } => {
            answer(reply, never_ran())
        }
        Command::Prune { reply, .. } => answer(reply, never_ran()),
        Command::RecoverLeases { reply, .. } => answer(reply, never_ran()),
        Command::Release { reply, .. } => answer(reply, never_ran()),
        Command::RetryDead { reply, .. } => answer(reply, never_ran()),
        Command::Close | Command::Wake => Box::new(|_| {}),
        #[cfg(test)]
        Command::Exec { reply, .. } => answer(reply, never_ran()),
    }
}

/// Errors that say the database cannot take writes at all, as opposed to one request's problem.
fn cannot_write(err: &rusqlite::Error) -> bool {
    matches!(
        err.sqlite_error_code(),
        Some(
            ErrorCode::DiskFull
                | ErrorCode::ReadOnly
                | ErrorCode::SystemIoFailure
                | ErrorCode::CannotOpen
                | ErrorCode::PermissionDenied
                | ErrorCode::DatabaseBusy
                | ErrorCode::DatabaseLocked
                | ErrorCode::DatabaseCorrupt
                | ErrorCode::NotADatabase
                | ErrorCode::OutOfMemory
                | ErrorCode::FileLockingProtocolFailed
        )
    )
}

fn unavailable(err: &rusqlite::Error) -> StoreError {
    if err.sqlite_error_code() == Some(ErrorCode::DiskFull) {
        StoreError::Full(err.to_string())
    } else {
        StoreError::Unavailable(err.to_string())
    }
}
