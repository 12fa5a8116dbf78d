//! The syncer: makes commits durable on its own thread, so that the writer thread inserts the next
//! batch while the previous one's fsync is under way (pipelined group commit).
//!
//! With `synchronous: full` the writer's connection runs at `synchronous=NORMAL`: a commit writes
//! its WAL frames and returns without an fsync. The writer then hands the batch's answers to this
//! thread, which `fdatasync`s the WAL file once for every batch committed since its last sync, and
//! only then answers them. A caller is therefore still answered only once its commit is on disk,
//! as `synchronous=FULL` does, and SQLite's own recovery rules are unchanged: a crash before the
//! sync loses only commits nobody was told about, and NORMAL still syncs the WAL and the database
//! around every checkpoint, before the WAL is reused. Answers leave in commit order.

use std::fs::File;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::thread::JoinHandle;

use anyhow::Context;

use super::command::Command;
use super::writer::Finish;
use super::{Stats, StoreError};
use tokio::sync::mpsc::WeakSender;

/// One batch's answers and how its commit went.
pub(super) struct Batch {
    finishes: Vec<Finish>,
    outcome: Result<(), StoreError>,
}

/// Where the writer sends each batch's answers: answered at once, or after the WAL is synced.
pub(super) enum Completion {
    /// `synchronous: normal`, or tests: the commit is as durable as it will get.
    Inline,
    Synced {
        batches: mpsc::Sender<Batch>,
        thread: JoinHandle<()>,
        idle: Arc<Idle>,
    },
}

/// Whether the syncer has batches in hand, and how it tells a waiting writer that it has none.
///
/// While a sync is under way, a commit gains nothing: its callers are answered only after the
/// *next* sync. So the writer keeps its transaction open and goes on adding requests to it, and
/// commits when the syncer runs out of work: one commit per sync, and each commit writes the
/// pages it dirtied (the tails of the table and of every index) once for many more events.
pub(super) struct Idle {
    /// Batches handed to the syncer and not yet answered.
    outstanding: AtomicUsize,
    /// The writer waits for a wake-up, sent through its own command queue.
    waiting: AtomicBool,
    wake: WeakSender<Command>,
}

impl Idle {
    /// The syncer answered a batch: wakes the writer if that was the last one and it waits.
    fn answered(&self) {
        if self.outstanding.fetch_sub(1, Ordering::SeqCst) == 1
            && self.waiting.swap(false, Ordering::SeqCst)
            && let Some(wake) = self.wake.upgrade()
        {
            // A full queue wakes the writer anyway.
            let _ = wake.try_send(Command::Wake);
        }
    }
}

impl Completion {
    /// Starts the syncer for the database at `path` (its WAL is `<path>-wal`).
    /// `wake` is the writer's command queue, through which the syncer tells a waiting writer
    /// that it has answered everything (see [`Idle`]).
    pub(super) fn synced(
        path: &Path,
        stats: Arc<Stats>,
        wake: WeakSender<Command>,
    ) -> anyhow::Result<Completion> {
        let mut wal = Wal::open(wal_path(path))?;
        let (batches, received) = mpsc::channel::<Batch>();
        let idle = Arc::new(Idle {
            outstanding: AtomicUsize::new(0),
            waiting: AtomicBool::new(false),
            wake,
        });
        let syncer_idle = idle.clone();
        let thread = std::thread::Builder::new()
            .name("store-syncer".to_owned())
            .spawn(move || {
                while let Ok(first) = received.recv() {
                    let mut pending = vec![first];
                    pending.extend(received.try_iter());
                    let synced = if pending.iter().any(|batch| batch.outcome.is_ok()) {
                        wal.sync()
                    } else {
                        Ok(())
                    };
                    if let Err(err) = &synced {
                        stats.failing.store(true, Ordering::Relaxed);
                        metrics::counter!("netpulse_store_sync_failures_total").increment(1);
                        tracing::error!(error = %err, batches = pending.len(), "cannot sync the store's WAL: the commits are not acknowledged");
                    }
                    for batch in pending {
                        let outcome = match (&synced, batch.outcome) {
                            (Ok(()), outcome) => outcome,
                            (Err(err), Ok(())) => Err(StoreError::Unavailable(format!(
                                "the commit could not be synced to disk: {err}"
                            ))),
                            (Err(_), failed) => failed,
                        };
                        for finish in batch.finishes {
                            finish(outcome.clone());
                        }
                        syncer_idle.answered();
                    }
                }
            })
            .context("cannot start the store syncer thread")?;
        Ok(Completion::Synced {
            batches,
            thread,
            idle,
        })
    }

    /// Asks for a `Command::Wake` once the syncer has answered everything. False when it already
    /// has: then nothing will be sent, and the writer should commit at once.
    pub(super) fn wake_when_idle(&self) -> bool {
        match self {
            Completion::Inline => false,
            // A syncer that died (a panic) will never wake anyone: commit, and be told so.
            Completion::Synced { thread, .. } if thread.is_finished() => false,
            Completion::Synced { idle, .. } => {
                idle.waiting.store(true, Ordering::SeqCst);
                if idle.outstanding.load(Ordering::SeqCst) == 0 {
                    // Unless the syncer took the request meanwhile (a spare wake-up is ignored).
                    idle.waiting.store(false, Ordering::SeqCst);
                    return false;
                }
                true
            }
        }
    }

    /// Answers a batch now, or once its commit is synced.
    pub(super) fn complete(&self, finishes: Vec<Finish>, outcome: Result<(), StoreError>) {
        match self {
            Completion::Inline => {
                for finish in finishes {
                    finish(outcome.clone());
                }
            }
            Completion::Synced { batches, idle, .. } => {
                let batch = Batch { finishes, outcome };
                idle.outstanding.fetch_add(1, Ordering::SeqCst);
                if let Err(mpsc::SendError(batch)) = batches.send(batch) {
                    idle.outstanding.fetch_sub(1, Ordering::SeqCst);
                    // The syncer is gone (it panicked): nothing can be confirmed durable.
                    for finish in batch.finishes {
                        finish(Err(StoreError::Unavailable(
                            "the store's syncer stopped".to_owned(),
                        )));
                    }
                }
            }
        }
    }

    /// Answers everything handed over so far, then stops.
    pub(super) fn stop(self) {
        if let Completion::Synced {
            batches, thread, ..
        } = self
        {
            drop(batches);
            let _ = thread.join();
        }
    }
}

fn wal_path(path: &Path) -> PathBuf {
    let mut wal = path.as_os_str().to_owned();
    wal.push("-wal");
    PathBuf::from(wal)
}

/// The WAL file, reopened if SQLite ever replaced it (a deleted and recreated file is another
/// inode; syncing the old one would confirm nothing).
struct Wal {
    path: PathBuf,
    file: File,
    inode: u64,
}

impl Wal {
    fn open(path: PathBuf) -> anyhow::Result<Wal> {
        // SQLite creates the WAL when the writer's connection first reads in WAL mode, which
        // opening the store (migrations) has done.
        let file = File::open(&path)
            .with_context(|| format!("cannot open the store's WAL {}", path.display()))?;
        let inode = file.metadata()?.ino();
        Ok(Wal { path, file, inode })
    }

    fn sync(&mut self) -> std::io::Result<()> {
        let current = std::fs::metadata(&self.path)?.ino();
        if current != self.inode {
            tracing::info!(wal = %self.path.display(), "the store's WAL was recreated; syncing the new file");
            self.file = File::open(&self.path)?;
            self.inode = self.file.metadata()?.ino();
        }
        self.file.sync_data()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A syncer for an empty WAL in `dir`, and the writer's queue it wakes (kept open by the
    /// returned sender).
    fn syncer(
        dir: &tempfile::TempDir,
    ) -> (
        Completion,
        tokio::sync::mpsc::Receiver<Command>,
        tokio::sync::mpsc::Sender<Command>,
    ) {
        let db = dir.path().join("netpulse.db");
        std::fs::write(wal_path(&db), b"").unwrap();
        let (commands, receiver) = tokio::sync::mpsc::channel(4);
        let completion =
            Completion::synced(&db, Arc::new(Stats::default()), commands.downgrade()).unwrap();
        (completion, receiver, commands)
    }

    #[test]
    fn a_recreated_wal_is_reopened_before_it_is_synced() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("netpulse.db-wal");
        std::fs::write(&path, b"old").unwrap();
        let mut wal = Wal::open(path.clone()).unwrap();
        let old_inode = wal.inode;
        wal.sync().unwrap();
        std::fs::remove_file(&path).unwrap();
        // Keep the old inode alive elsewhere so the new file cannot reuse its number.
        std::fs::write(dir.path().join("other"), b"x").unwrap();
        std::fs::write(&path, b"new").unwrap();
        wal.sync().unwrap();
        assert_ne!(wal.inode, old_inode, "still syncing the deleted file");
        assert_eq!(wal.inode, std::fs::metadata(&path).unwrap().ino());
        std::fs::remove_file(&path).unwrap();
        assert!(wal.sync().is_err(), "a missing WAL must fail the sync");
    }

    #[test]
    fn a_writer_waiting_for_the_syncer_is_woken_once_every_batch_is_answered() {
        let dir = tempfile::tempdir().unwrap();
        let (completion, mut receiver, _commands) = syncer(&dir);
        // Nothing handed over: nothing to wait for, and no wake-up will come.
        assert!(!completion.wake_when_idle());
        // A batch whose answer blocks keeps the syncer busy until the test lets it go.
        let (release, released) = std::sync::mpsc::channel::<()>();
        let finish: Finish = Box::new(move |_| released.recv().unwrap());
        completion.complete(vec![finish], Ok(()));
        assert!(
            completion.wake_when_idle(),
            "the syncer has a batch in hand"
        );
        assert!(
            receiver.try_recv().is_err(),
            "woken before the batch was answered"
        );
        release.send(()).unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        let woken = loop {
            match receiver.try_recv() {
                Ok(command) => break command,
                Err(_) if std::time::Instant::now() < deadline => {
                    std::thread::sleep(std::time::Duration::from_millis(1));
                }
                Err(err) => panic!("no wake-up: {err}"),
            }
        };
        assert!(matches!(woken, Command::Wake));
        assert!(!completion.wake_when_idle());
        completion.stop();
        assert!(receiver.try_recv().is_err(), "one wake-up per wait");
    }

    #[test]
    fn answers_leave_in_commit_order_and_an_unsynced_commit_is_not_acknowledged() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("netpulse.db");
        let (completion, _receiver, _commands) = syncer(&dir);
        let (sender, answers) = std::sync::mpsc::channel();
        let send = |n: i32| {
            let sender = sender.clone();
            // Every tenth batch failed to commit: it is answered with its failure.
            let outcome = if n % 10 == 9 {
                Err(StoreError::Unavailable("rolled back".to_owned()))
            } else {
                Ok(())
            };
            let finish: Finish = Box::new(move |result| sender.send((n, result.is_ok())).unwrap());
            completion.complete(vec![finish], outcome);
        };
        (0..25).for_each(send);
        let mut received: Vec<(i32, bool)> = answers.iter().take(25).collect();
        // The WAL disappears: later commits cannot be confirmed durable.
        std::fs::remove_file(wal_path(&db)).unwrap();
        (25..50).for_each(send);
        completion.stop();
        drop(sender);
        received.extend(answers.iter());
        assert_eq!(
            received.iter().map(|(n, _)| *n).collect::<Vec<_>>(),
            (0..50).collect::<Vec<_>>()
        );
        for (n, ok) in received {
            assert_eq!(ok, n < 25 && n % 10 != 9, "batch {n}");
        }
    }
}
