//! The alerting router: reads the store's log after its cursor, feeds each event to the
//! `route::Engine`, and commits what the engine decided (state rows, decisions, notification
//! events with their outbox rows, operator events) in one transaction; then wakes the sinks.
//! Sleeps until new events are committed or the engine's next deadline.
//!
//! Crash safety comes from the one transaction: the cursor moves together with the state the
//! events made and the notifications that state sent, so after `kill -9` the router restores the
//! state of its last commit and reads again from its cursor: no notification is lost or made
//! twice. When a commit fails because the store cannot write, the very same step is offered
//! again (the engine has already applied it in memory); when the store rejects it, the engine is
//! rebuilt from the store's rows and the step done again.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use tokio::sync::{Notify, watch};
use tokio_util::sync::CancellationToken;

use crate::backoff::Backoff;
use crate::pipeline::Pipeline;
use crate::route::{self, Engine, Outcome, Policy, RoutedEvent};
use crate::store::{LogScan, NewEvent, ReaderPool, RouteCommit, StoreError};

/// Events read from the log and applied in one step (one transaction).
const READ_LIMIT: usize = 512;
/// A cursor moved only past events that changed nothing is stored at most this often (and at
/// stop): a step with nothing but the cursor to write would be one more transaction and WAL sync
/// for every batch the pipeline commits. After a crash the router reads those events again,
/// which changes nothing again.
const CURSOR_SAVE_EVERY: std::time::Duration = std::time::Duration::from_secs(5);
/// The longest the router sleeps without looking at the clock: a wall clock that stepped (NTP,
/// a suspended VM) is noticed within this.
const MAX_SLEEP: Duration = Duration::from_secs(60);
/// The shortest sleep until a deadline.
const MIN_SLEEP: Duration = Duration::from_millis(5);
/// Pauses between attempts while the store cannot be read or written.
const RETRY_INITIAL: Duration = Duration::from_millis(200);
const RETRY_MAX: Duration = Duration::from_secs(10);
/// After the gateway asked the router to stop, a store that cannot write is tried this many
/// times before the step is given up (it is done again at the next start: nothing is lost).
const STOP_ATTEMPTS: u32 = 5;

/// What the rest of the gateway holds of the router: a waker for new events and how far the
/// router has applied the log.
#[derive(Clone)]
pub struct RouterHandle {
    /// Notified by the pipeline after each commit of new events.
    pub wake: Arc<Notify>,
    /// The seq of the last event the router has applied and committed.
    pub applied: watch::Receiver<u64>,
}

impl RouterHandle {
    /// Waits until the router has applied the event `seq` (so that what it did is visible), at
    /// most `timeout`; false when it has not by then.
    pub async fn wait_applied(&self, seq: u64, timeout: std::time::Duration) -> bool {
        let mut applied = self.applied.clone();
        tokio::time::timeout(timeout, applied.wait_for(|done| *done >= seq))
            .await
            .is_ok_and(|result| result.is_ok())
    }
}

/// Where the router reads the time. The engine never reads the clock itself: time is a
/// parameter, and this is it.
#[derive(Debug, Clone)]
pub enum Clock {
    /// The system's wall clock (time intervals are wall-clock times).
    Wall,
    /// A time that its holder sets (epoch milliseconds), for tests: after moving it, wake the
    /// router ([`RouterHandle::wake`]) to make it look.
    Manual(Arc<AtomicI64>),
}

impl Clock {
    /// A manual clock reading `start`, and the handle that moves it.
    pub fn manual(start: jiff::Timestamp) -> (Clock, Arc<AtomicI64>) {
        let time = Arc::new(AtomicI64::new(start.as_millisecond()));
        (Clock::Manual(time.clone()), time)
    }

    pub fn now(&self) -> jiff::Timestamp {
        match self {
            Clock::Wall => jiff::Timestamp::now(),
            Clock::Manual(time) => jiff::Timestamp::from_millisecond(time.load(Ordering::SeqCst))
                .unwrap_or(jiff::Timestamp::UNIX_EPOCH),
        }
    }
}

/// Hands a reloaded policy to the running router.
#[derive(Clone)]
pub struct PolicyUpdates {
    sender: Arc<watch::Sender<Policy>>,
    pipeline: Pipeline,
}

impl PolicyUpdates {
    /// From now on the router applies `policy` (groups of routes that remain keep their state),
    /// and the sinks it names take no event through their own `match:`.
    pub fn set(&self, policy: Policy) {
        self.pipeline.set_routed_sinks(policy.routed_sinks());
        self.sender.send_replace(policy);
    }
}

/// The running router task.
pub struct Router {
    pub handle: RouterHandle,
    pub policy: PolicyUpdates,
    stop: CancellationToken,
    task: tokio::task::JoinHandle<()>,
    /// A router dropped without [`Router::stop`] (a gateway that failed to start) ends too.
    _stop_when_dropped: tokio_util::sync::DropGuard,
}

impl Router {
    /// Applies what the log holds now, commits it, and ends. Called at shutdown once no event
    /// can arrive any more (the dispatcher and the webhooks have stopped), before the sinks
    /// drain, so that they deliver what this last step made due.
    pub async fn stop(self) {
        self.stop.cancel();
        if let Err(error) = self.task.await {
            tracing::error!(%error, "the alerting router failed");
        }
    }
}

/// Starts the router on the pipeline's store with `policy`, reading the time from `clock`:
/// it restores the state of its last commit (at the first start its cursor is the store's last
/// seq: the history is not notified), then runs until [`Router::stop`].
pub fn spawn(pipeline: Pipeline, pool: ReaderPool, policy: Policy, clock: Clock) -> Router {
    pipeline.set_routed_sinks(policy.routed_sinks());
    let wake = pipeline.router_waker();
    let (applied_tx, applied) = watch::channel(0);
    let (policy_tx, policy_rx) = watch::channel(policy.clone());
    let stop = CancellationToken::new();
    let task = Task {
        engine: Engine::new(policy),
        pipeline: pipeline.clone(),
        pool,
        cursor: 0,
        applied: applied_tx,
        wake: wake.clone(),
        policy: policy_rx,
        stop: stop.clone(),
        clock,
        backoff: Backoff::new(RETRY_INITIAL, RETRY_MAX),
        failures: 0,
        unsaved_cursor: false,
        cursor_ahead_since: None,
        last_read: 0,
    };
    Router {
        handle: RouterHandle { wake, applied },
        policy: PolicyUpdates {
            sender: Arc::new(policy_tx),
            pipeline,
        },
        _stop_when_dropped: stop.clone().drop_guard(),
        stop,
        task: tokio::spawn(task.run()),
    }
}

/// A router that applies nothing (cluster mode, issue 22: the router is not started there
/// yet): its handle never moves and its policy updates only set the routed sinks, which a
/// cluster's configuration check leaves empty.
pub fn idle(pipeline: Pipeline) -> Router {
    let (policy_tx, _) = watch::channel(Policy::default());
    let stop = CancellationToken::new();
    Router {
        handle: RouterHandle {
            wake: pipeline.router_waker(),
            applied: watch::channel(0).1,
        },
        policy: PolicyUpdates {
            sender: Arc::new(policy_tx),
            pipeline,
        },
        _stop_when_dropped: stop.clone().drop_guard(),
        stop,
        task: tokio::spawn(async {}),
    }
}

struct Task {
    engine: Engine,
    pipeline: Pipeline,
    pool: ReaderPool,
    /// Every event up to this seq has been applied (and committed, or changed nothing).
    cursor: u64,
    applied: watch::Sender<u64>,
    wake: Arc<Notify>,
    policy: watch::Receiver<Policy>,
    stop: CancellationToken,
    clock: Clock,
    backoff: Backoff,
    /// Failed attempts in a row.
    failures: u32,
    /// The cursor is not stored yet (a first start): the first step stores it even when it has
    /// nothing else, so that events stored after this start are never taken for history.
    unsaved_cursor: bool,
    /// Since when `cursor` is ahead of the stored one (past events that changed nothing).
    cursor_ahead_since: Option<std::time::Instant>,
    /// How many events the last `build` read (a full read means more may be waiting).
    last_read: usize,
}

/// One step, built and not yet committed.
struct Step {
    commit: RouteCommit,
    /// How many events of the log it applied.
    read: usize,
    /// The sinks that get outbox rows (to wake after the commit).
    sinks: Vec<String>,
}

impl Step {
    /// The same step again, for another attempt (a commit consumes its `RouteCommit`).
    fn commit(&self) -> RouteCommit {
        let commit = &self.commit;
        RouteCommit {
            cursor: commit.cursor,
            state: commit.state.clone(),
            traces: commit.traces.clone(),
            notifications: commit.notifications.clone(),
            operator_events: commit.operator_events.clone(),
        }
    }
}

/// Why a step did not happen.
enum Failure {
    /// The store cannot write now: offer the same step again.
    Unavailable(StoreError),
    /// The store refuses the step: rebuild the engine from the store and do it again.
    Rejected(StoreError),
}

impl Task {
    async fn run(mut self) {
        while let Err(error) = self.load().await {
            if !self.failed("load", &error).await {
                return;
            }
        }
        let mut pending: Option<Step> = None;
        loop {
            let stopping = self.stop.is_cancelled();
            if self.policy.has_changed().unwrap_or(false) {
                let policy = self.policy.borrow_and_update().clone();
                self.engine.set_policy(policy);
            }
            let step = match pending.take() {
                Some(step) => Some(step),
                None => match self.build().await {
                    Ok(step) => step,
                    Err(error) => {
                        if !self.failed("read", &format!("{error:#}")).await {
                            return;
                        }
                        continue;
                    }
                },
            };
            // A full read that changed nothing: more may be waiting.
            let mut more = step.is_none() && self.last_read >= READ_LIMIT;
            if let Some(step) = step {
                match self.commit(&step).await {
                    Ok(appended) => {
                        self.failures = 0;
                        self.backoff.reset();
                        // A full read may have left more; events it appended are read back
                        // (operator events change the engine's mutes).
                        more = step.read >= READ_LIMIT || appended > 0;
                    }
                    Err(Failure::Unavailable(error)) => {
                        pending = Some(step);
                        if !self.failed("commit", &error.to_string()).await {
                            return;
                        }
                        continue;
                    }
                    Err(Failure::Rejected(error)) => {
                        tracing::error!(%error, cursor = self.cursor, "the store refused the router's step: its state is restored from the store and the step done again");
                        if !self.failed("commit", &error.to_string()).await {
                            return;
                        }
                        while let Err(error) = self.load().await {
                            if !self.failed("load", &error).await {
                                return;
                            }
                        }
                        continue;
                    }
                }
            }
            if more {
                continue;
            }
            if stopping {
                return;
            }
            self.sleep().await;
        }
    }

    /// Restores the engine from the store: its state rows and cursor (at the first start, the
    /// store's last seq).
    async fn load(&mut self) -> Result<(), String> {
        // At the first start the history is what the store held when it was opened: an event
        // appended since (an operator's silence right after the start) is routed, even if it
        // was committed before this task got to run.
        let last = self.pipeline.store().last_seq_at_open();
        let (cursor, rows) = self
            .pool
            .read(|reader| reader.route_state())
            .await
            .map_err(|error| format!("cannot read the router's state: {error:#}"))?;
        let policy = self.policy.borrow_and_update().clone();
        self.engine = Engine::new(policy);
        let restored = rows.len();
        if let Err(error) = self.engine.restore(rows) {
            // What could be restored is kept: better groups that lost some state than no
            // routing at all.
            metrics::counter!("netpulse_router_errors_total", "step" => "restore").increment(1);
            tracing::error!(%error, "some of the router's state cannot be restored");
        }
        // Restoring made no change to persist.
        let _ = self.engine.take_changes();
        self.cursor = cursor.unwrap_or(last);
        self.unsaved_cursor = cursor.is_none();
        self.cursor_ahead_since = None;
        self.applied.send_replace(self.cursor);
        tracing::info!(
            cursor = self.cursor,
            state_rows = restored,
            first_start = cursor.is_none(),
            "alerting router started"
        );
        Ok(())
    }

    /// Reads the log after the cursor, applies it, asks what is due: the step to commit, or
    /// `None` when nothing happened.
    async fn build(&mut self) -> anyhow::Result<Option<Step>> {
        let after = self.cursor;
        // With no route, only operator events change anything (silences and windows must
        // still be applied): the others are not even parsed.
        let operators_only = self.engine.policy().is_empty();
        let scan = self
            .pool
            .read(move |reader| {
                if operators_only {
                    reader.logged_events_of_kind_after(
                        after,
                        READ_LIMIT,
                        route::OPERATOR_TYPE_PREFIX,
                    )
                } else {
                    let events = reader.logged_events_after(after, READ_LIMIT)?;
                    Ok(LogScan {
                        scanned: events.len(),
                        last: events.last().map(|logged| logged.seq),
                        events,
                    })
                }
            })
            .await?;
        let logged = scan.events;
        let now = self.clock.now();
        let mut commit = RouteCommit {
            cursor: scan.last.unwrap_or(self.cursor),
            ..RouteCommit::default()
        };
        for logged in &logged {
            // Notifications are the router's own output, never routed again.
            if route::is_notification(&logged.event) {
                continue;
            }
            let routed = RoutedEvent {
                seq: logged.seq,
                event: &logged.event,
                alarms: &logged.alarms,
            };
            let decisions = self.engine.observe(routed, now);
            commit
                .traces
                .extend(decisions.into_iter().map(|decision| (logged.seq, decision)));
        }
        let due = self.engine.due(now);
        commit.traces.extend(due.decisions);
        let mut sinks = Vec::new();
        for notification in due.notifications {
            let members = notification.members.clone();
            sinks.push(notification.sink.clone());
            let item = NewEvent {
                sinks: vec![notification.sink.clone()],
                ..NewEvent::new(notification.to_event(now))
            };
            commit.notifications.push((item, members));
        }
        for event in due.operator_events {
            // The clock's operator events reach the sinks whose own `match:` takes them, like
            // the API's do through the pipeline.
            let item = NewEvent {
                sinks: self.pipeline.sinks_for(&event),
                ..NewEvent::new(event)
            };
            sinks.extend(item.sinks.iter().cloned());
            commit.operator_events.push(item);
        }
        commit.state = self.engine.take_changes();
        self.last_read = scan.scanned;
        let only_cursor = !self.unsaved_cursor
            && commit.traces.is_empty()
            && commit.notifications.is_empty()
            && commit.operator_events.is_empty()
            && commit.state.is_empty();
        if only_cursor {
            if scan.scanned > 0 {
                self.cursor = commit.cursor;
                self.applied.send_replace(self.cursor);
                self.cursor_ahead_since
                    .get_or_insert_with(std::time::Instant::now);
            }
            let save = self.cursor_ahead_since.is_some_and(|since| {
                self.stop.is_cancelled() || since.elapsed() >= CURSOR_SAVE_EVERY
            });
            if !save {
                return Ok(None);
            }
            commit.cursor = self.cursor;
        }
        sinks.sort();
        sinks.dedup();
        Ok(Some(Step {
            commit,
            read: scan.scanned,
            sinks,
        }))
    }

    /// Commits `step`; then publishes the new cursor, counts, and wakes the sinks. Returns how
    /// many events it appended.
    async fn commit(&mut self, step: &Step) -> Result<usize, Failure> {
        let store = self.pipeline.store().clone();
        let appended = match store.route_commit(step.commit()).await {
            Ok(appended) => appended,
            Err(error @ StoreError::Rejected(_)) => return Err(Failure::Rejected(error)),
            Err(error) => return Err(Failure::Unavailable(error)),
        };
        self.cursor = step.commit.cursor;
        self.unsaved_cursor = false;
        self.cursor_ahead_since = None;
        self.applied.send_replace(self.cursor);
        for (item, _) in &step.commit.notifications {
            let reason = item
                .event
                .data
                .get("reason")
                .and_then(|reason| reason.as_str())
                .unwrap_or("unknown")
                .to_owned();
            let sink = item.sinks.first().cloned().unwrap_or_default();
            metrics::counter!("netpulse_notifications_total", "sink" => sink, "reason" => reason)
                .increment(1);
        }
        for (_, decision) in &step.commit.traces {
            metrics::counter!("netpulse_route_decisions_total", "outcome" => outcome_name(&decision.outcome))
                .increment(1);
        }
        self.pipeline.wake(&step.sinks);
        Ok(appended
            .iter()
            .filter(|appended| !appended.duplicate)
            .count())
    }

    /// Logs and counts a failure, then waits before the next attempt. False when the router
    /// is to end instead (asked to stop, and the store still fails).
    async fn failed(&mut self, step: &'static str, error: &str) -> bool {
        self.failures += 1;
        metrics::counter!("netpulse_router_errors_total", "step" => step).increment(1);
        tracing::error!(
            step,
            error,
            cursor = self.cursor,
            attempts = self.failures,
            "the alerting router cannot go on; retrying"
        );
        if self.stop.is_cancelled() && self.failures >= STOP_ATTEMPTS {
            tracing::error!(
                cursor = self.cursor,
                "the alerting router stops with events not applied: the next start applies them"
            );
            return false;
        }
        let delay = self.backoff.next_delay();
        tokio::select! {
            () = tokio::time::sleep(delay) => {}
            // Asked to stop: the last attempts come without the long pauses.
            () = self.stop.cancelled(), if !self.stop.is_cancelled() => {}
        }
        true
    }

    /// Waits for new events, the engine's next deadline, a new policy or the stop.
    async fn sleep(&mut self) {
        let wait = match self.engine.next_deadline() {
            Some(deadline) => {
                let left = deadline.duration_since(self.clock.now());
                // A deadline already past that `due` did not clear would otherwise spin.
                Duration::try_from(left)
                    .unwrap_or(Duration::ZERO)
                    .clamp(MIN_SLEEP, MAX_SLEEP)
            }
            None => MAX_SLEEP,
        };
        let policy = &mut self.policy;
        let changed = async {
            if policy.changed().await.is_err() {
                // The sender is gone: no policy will come.
                std::future::pending::<()>().await;
            }
        };
        let policy_changed = tokio::select! {
            () = self.wake.notified() => false,
            () = tokio::time::sleep(wait) => false,
            () = self.stop.cancelled() => false,
            () = changed => true,
        };
        // `changed` marked the new policy seen: apply it here, or the loop's `has_changed`
        // would never see it (found by the reload test: a route added by a reload routed
        // nothing).
        if policy_changed {
            let policy = self.policy.borrow_and_update().clone();
            self.engine.set_policy(policy);
        }
    }
}

/// The `outcome` label of a decision.
fn outcome_name(outcome: &Outcome) -> &'static str {
    match outcome {
        Outcome::Grouped { .. } => "grouped",
        Outcome::Silenced { .. } => "silenced",
        Outcome::Inhibited { .. } => "inhibited",
        Outcome::Held { .. } => "held",
        Outcome::Muted { .. } => "muted",
        Outcome::Flapping { .. } => "flapping",
        Outcome::NotNotified { .. } => "not_notified",
    }
}

#[cfg(test)]
mod tests;
