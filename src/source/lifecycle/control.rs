//! [`SessionControl`]: starting, stopping and restarting a source's sessions from outside while
//! the gateway runs (configuration reload today, moving device ownership in a cluster later).

use std::sync::{Arc, Mutex};

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::source::{ConnectionState, SourceStatus};

/// The outside's say over one source's sessions. Cheap to clone; every clone controls the same
/// source. A stop ends the current session as a shutdown would (a DME device is logged out) and
/// shows the source as `stopped`; the next start resynchronises after a gap, as after any other
/// interruption.
#[derive(Clone)]
pub struct SessionControl {
    shared: Arc<Shared>,
}

struct Shared {
    state: Mutex<State>,
    changed: Notify,
}

struct State {
    wanted: Wanted,
    /// The current run's stop token; cancelled when the run must end.
    run: CancellationToken,
    /// What the last command was, for the gap that follows it.
    why: &'static str,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Wanted {
    Running,
    Stopped,
    /// The source left the configuration: its task ends.
    Removed,
}

impl SessionControl {
    /// A control that wants the source running.
    pub(crate) fn new() -> SessionControl {
        let run = CancellationToken::new();
        // A cancelled token makes the first run start with a fresh one.
        run.cancel();
        SessionControl {
            shared: Arc::new(Shared {
                state: Mutex::new(State {
                    wanted: Wanted::Running,
                    run,
                    why: "started",
                }),
                changed: Notify::new(),
            }),
        }
    }

    /// A control that wants the source stopped until [`start`](Self::start): in cluster mode a
    /// session starts only on the node holding its device's lease.
    pub(crate) fn new_stopped() -> SessionControl {
        let control = SessionControl::new();
        {
            let mut state = control.shared.state.lock().expect("control lock");
            state.wanted = Wanted::Stopped;
            state.why = "waiting for the device's lease";
        }
        control
    }

    /// Starts the sessions again after [`stop`](Self::stop); false if they were not stopped.
    pub fn start(&self) -> bool {
        self.command(|state| {
            let stopped = state.wanted == Wanted::Stopped;
            if stopped {
                state.wanted = Wanted::Running;
            }
            stopped
        })
    }

    /// Ends the current session (or backoff) and starts no other until [`start`](Self::start).
    pub fn stop(&self) {
        self.stop_because("session stopped");
    }

    /// As [`stop`](Self::stop), with the reason the gap that follows gives (a cluster node that
    /// lost the device's lease).
    pub fn stop_because(&self, why: &'static str) {
        self.command(|state| {
            if state.wanted == Wanted::Running {
                state.wanted = Wanted::Stopped;
                state.why = why;
                state.run.cancel();
            }
        });
    }

    /// Ends the current session and starts a new one at once (a stopped source starts).
    pub fn restart(&self) {
        self.command(|state| {
            if state.wanted != Wanted::Removed {
                state.wanted = Wanted::Running;
                state.why = "session restarted";
                state.run.cancel();
            }
        });
    }

    /// Ends the sessions for good: the source's task ends.
    pub(crate) fn remove(&self) {
        self.command(|state| {
            state.wanted = Wanted::Removed;
            state.run.cancel();
        });
    }

    /// Whether the outside wants the source stopped.
    pub fn is_stopped(&self) -> bool {
        self.shared.state.lock().expect("control lock").wanted != Wanted::Running
    }

    fn command<T>(&self, change: impl FnOnce(&mut State) -> T) -> T {
        let answer = change(&mut self.shared.state.lock().expect("control lock"));
        // One stored permit: a command given while the lifecycle is busy is seen when it looks.
        self.shared.changed.notify_one();
        answer
    }

    /// The lifecycle's side: waits until the source is wanted running and returns the stop token
    /// of the new run; `None` once the gateway shuts down or the source is removed. While it
    /// waits, the source shows as `stopped`.
    pub(crate) async fn next_run(
        &self,
        shutdown: &CancellationToken,
        status: &SourceStatus,
    ) -> Option<CancellationToken> {
        loop {
            {
                let mut state = self.shared.state.lock().expect("control lock");
                if shutdown.is_cancelled() || state.wanted == Wanted::Removed {
                    return None;
                }
                if state.wanted == Wanted::Running {
                    if state.run.is_cancelled() {
                        state.run = shutdown.child_token();
                    }
                    return Some(state.run.clone());
                }
            }
            status.set_state(ConnectionState::Stopped);
            tokio::select! {
                _ = shutdown.cancelled() => return None,
                _ = self.shared.changed.notified() => {}
            }
        }
    }

    /// The lifecycle's side: the protocol gave up (a failure it does not retry); the source stays
    /// stopped until started from outside, unless a command came meanwhile.
    pub(crate) fn gave_up(&self) {
        let mut state = self.shared.state.lock().expect("control lock");
        if state.wanted == Wanted::Running && !state.run.is_cancelled() {
            state.wanted = Wanted::Stopped;
            state.why = "session stopped";
            state.run.cancel();
        }
    }

    /// Why the last run ended, for its gap.
    pub(crate) fn why_stopped(&self) -> &'static str {
        self.shared.state.lock().expect("control lock").why
    }
}
