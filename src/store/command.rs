//! The commands callers send the writer thread, and how each runs: inside a savepoint of the
//! batch's open transaction, through the module of the table it writes, with the answer it gets
//! once the batch's commit succeeded or failed.

use rusqlite::{Connection, ErrorCode, Transaction};
use tokio::sync::oneshot;

use super::events::{self, Prepared};
use super::route::{self, PreparedCommit};
use super::writer::{Finish, Memory};
use super::{Appended, CommitTap, Committed, Delivery, Failed, StoreError, alarms, outbox};

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
        /// People talking to a bot (card clicks, messages) before the rest: see
        /// [`super::Store::claim_due_interactions_first`].
        interactions_first: bool,
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
    /// A shared sink's delivery record folded outside the projection (see
    /// [`super::Store::apply_delivery`]).
    ApplyDelivery {
        sink: String,
        seq: u64,
        outcome: crate::cluster::wire::DeliveryOutcome,
        reply: Reply<()>,
    },
    /// One step of the alerting router, whole or not at all (`route.rs`).
    RouteCommit {
        commit: PreparedCommit,
        reply: Reply<Vec<Appended>>,
    },
    /// The message that starts a group's thread in a sink.
    SetThread {
        sink: String,
        group: String,
        message_id: String,
        reply: Reply<()>,
    },
    /// A card a Webex sink posted (`cards.rs`).
    RecordCard {
        card: super::CardRow,
        created_ms: i64,
        reply: Reply<()>,
    },
    /// A session's first snapshot, stored as its source's view (`views.rs`).
    SaveView {
        source: String,
        objects: Vec<crate::cluster::wire::ViewObject>,
        reply: Reply<()>,
    },
    /// A source's session ended cleanly at shutdown: it was listening until `now_ms`.
    TouchView {
        source: String,
        now_ms: i64,
        reply: Reply<()>,
    },
    /// Startup: the views of sources no longer configured are deleted; answers how many.
    RetainViews {
        keep: Vec<String>,
        reply: Reply<u64>,
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
    pub(super) fn weight(&self) -> usize {
        match self {
            Command::Append { items, .. } => items.len(),
            Command::MarkDelivered { ids, .. } | Command::Release { ids, .. } => ids.len(),
            Command::RouteCommit { commit, .. } => commit.weight(),
            _ => 1,
        }
    }
}

/// Runs one command in its own savepoint. Returns how to answer it and, when the error means the
/// store cannot write at all, that error: the batch must then be abandoned.
pub(super) fn execute(
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
            interactions_first,
            reply,
        } => in_savepoint(tx, reply, "claim", |conn| {
            outbox::claim(conn, &sink, now_ms, limit, lease_ms, interactions_first)
        }),
        Command::MarkDelivered { ids, reply } => {
            in_savepoint(tx, reply, "mark_delivered", |conn| {
                outbox::mark_delivered(conn, &ids)
            })
        }
        Command::MarkFailed {
            id,
            error,
            next_attempt_ms,
            failed,
            reply,
        } => in_savepoint(tx, reply, "mark_failed", |conn| {
            outbox::mark_failed(conn, id, &error, next_attempt_ms, failed)
        }),
        Command::Prune {
            cutoff_ms,
            limit,
            reply,
        } => {
            let mark = memory.mark();
            let result = run_in_savepoint(tx, |conn| {
                let events = events::prune(conn, cutoff_ms, limit)?;
                let alarms = alarms::prune(conn, &mut memory.alarms, cutoff_ms, limit)?;
                Ok((events, alarms))
            });
            if result.is_err() {
                memory.rollback_to(mark);
            }
            settle(reply, "prune", result)
        }
        Command::RecoverLeases { sink, reply } => {
            in_savepoint(tx, reply, "recover_leases", |conn| {
                outbox::recover_leases(conn, &sink)
            })
        }
        Command::Release { ids, reply } => {
            in_savepoint(tx, reply, "release", |conn| outbox::release(conn, &ids))
        }
        Command::RetryDead { sink, id, reply } => in_savepoint(tx, reply, "retry_dead", |conn| {
            outbox::retry_dead(conn, &sink, id)
        }),
        Command::ApplyDelivery {
            sink,
            seq,
            outcome,
            reply,
        } => in_savepoint(tx, reply, "apply_delivery", |conn| {
            outbox::apply_delivery(conn, &sink, seq, &outcome)
        }),
        Command::RouteCommit { commit, reply } => {
            let mark = memory.mark();
            let result = run_in_savepoint(tx, |conn| route::commit(conn, memory, &commit, now_ms));
            // Its events reach the live feed like any appended event, in seq order.
            let committed = match &result {
                Ok(appended) => {
                    metrics::counter!("netpulse_store_events_appended_total")
                        .increment(appended.iter().filter(|a| !a.duplicate).count() as u64);
                    announcement(tap, &commit.items, appended)
                }
                Err(_) => {
                    memory.rollback_to(mark);
                    Vec::new()
                }
            };
            let (finish, error) = settle(reply, "route_commit", result);
            (announce_then(tap, committed, finish), error)
        }
        Command::SetThread {
            sink,
            group,
            message_id,
            reply,
        } => in_savepoint(tx, reply, "set_thread", |conn| {
            route::set_thread(conn, &sink, &group, &message_id)
        }),
        Command::RecordCard {
            card,
            created_ms,
            reply,
        } => in_savepoint(tx, reply, "record_card", |conn| {
            super::cards::insert(conn, &card, created_ms)
        }),
        Command::SaveView {
            source,
            objects,
            reply,
        } => {
            let seq = memory.last_seq.max(0) as u64;
            in_savepoint(tx, reply, "save_view", |conn| {
                super::views::apply_baseline(conn, &source, &objects, seq)
            })
        }
        Command::TouchView {
            source,
            now_ms,
            reply,
        } => in_savepoint(tx, reply, "touch_view", |conn| {
            super::views::touch(conn, &source, now_ms)
        }),
        Command::RetainViews { keep, reply } => in_savepoint(tx, reply, "retain_views", |conn| {
            super::views::retain(conn, &keep)
        }),
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
pub(super) fn append_group(
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
                .map(|item| events::append(&savepoint, memory, item, now_ms))
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
            .map(|item| events::append(conn, memory, item, now_ms))
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
pub(super) fn unanswered(command: Command) -> Finish {
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
        Command::ApplyDelivery { reply, .. } => answer(reply, never_ran()),
        Command::RouteCommit { reply, .. } => answer(reply, never_ran()),
        Command::SetThread { reply, .. } => answer(reply, never_ran()),
        Command::RecordCard { reply, .. } => answer(reply, never_ran()),
        Command::SaveView { reply, .. } => answer(reply, never_ran()),
        Command::RetainViews { reply, .. } => answer(reply, never_ran()),
        Command::TouchView { reply, .. } => answer(reply, never_ran()),
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

pub(super) fn unavailable(err: &rusqlite::Error) -> StoreError {
    if err.sqlite_error_code() == Some(ErrorCode::DiskFull) {
        StoreError::Full(err.to_string())
    } else {
        StoreError::Unavailable(err.to_string())
    }
}
