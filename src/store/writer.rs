//! The writer thread: owns the only read-write connection, drains queued commands into one
//! transaction, commits once, and only then answers every caller (group commit).

use std::sync::Arc;
use std::sync::atomic::Ordering;

use anyhow::Context;
use rusqlite::{Connection, Transaction, TransactionBehavior};
use tokio::sync::{mpsc, oneshot};

use super::alarms::AlarmIndex;
use super::checkpoint::Checkpointer;
use super::command::{Command, append_group, execute, unanswered, unavailable};
use super::keys::Dedup;
use super::syncer::Completion;
use super::{CommitTap, Stats, StoreError};

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

    pub(super) fn mark(&self) -> Mark {
        Mark {
            dedup: self.dedup.mark(),
            alarms: self.alarms.mark(),
            last_seq: Some(self.last_seq),
        }
    }

    pub(super) fn rollback_to(&mut self, mark: Mark) {
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
