//! The lifecycle driven by a scripted protocol under paused time: failures and their gaps,
//! backoff, stop, start, restart and removal from outside, a protocol that gives up.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::*;

/// What the test makes the current session do.
enum Script {
    /// Fail with this error; `live` says whether the session had got as far as live.
    Fail { error: &'static str, live: bool },
}

/// What the protocol saw, in order.
#[derive(Debug, Clone, PartialEq)]
enum Seen {
    Baseline,
    Gap { reason: String },
    Stopped,
}

struct Scripted {
    scripts: mpsc::UnboundedReceiver<Script>,
    seen: Arc<Mutex<Vec<Seen>>>,
    next: Arc<Mutex<Next>>,
    /// Connects refused before the sync, one per session, while above zero.
    refusals: Arc<Mutex<u32>>,
}

impl Protocol for Scripted {
    type Error = String;

    async fn session(&mut self, link: &mut Link) -> Ended<String> {
        link.status.set_state(ConnectionState::Connecting);
        {
            let mut refusals = self.refusals.lock().unwrap();
            if *refusals > 0 {
                *refusals -= 1;
                return Ended::Failed {
                    error: "connection refused".into(),
                    healthy_until: None,
                    was_live: false,
                };
            }
        }
        let seen = match link.in_sync() {
            Sync::Baseline => Seen::Baseline,
            Sync::AfterGap(gap) => {
                link.report_gap(&gap, jiff::Timestamp::now(), "test", Default::default())
                    .await;
                Seen::Gap { reason: gap.reason }
            }
        };
        self.seen.lock().unwrap().push(seen);
        link.connected(None);
        let stop = link.stop.clone();
        tokio::select! {
            _ = stop.cancelled() => {
                self.seen.lock().unwrap().push(Seen::Stopped);
                Ended::Stopped
            }
            script = self.scripts.recv() => match script {
                Some(Script::Fail { error, live }) => Ended::Failed {
                    error: error.to_owned(),
                    healthy_until: None,
                    was_live: live,
                },
                None => std::future::pending().await,
            },
        }
    }

    fn record_failure(&self, _link: &Link, _error: &String) {}

    fn after_failure(&mut self, _error: &String) -> Next {
        self.next.lock().unwrap().clone()
    }
}

struct Running {
    scripts: mpsc::UnboundedSender<Script>,
    seen: Arc<Mutex<Vec<Seen>>>,
    next: Arc<Mutex<Next>>,
    refusals: Arc<Mutex<u32>>,
    status: Arc<SourceStatus>,
    control: SessionControl,
    shutdown: CancellationToken,
    task: tokio::task::JoinHandle<()>,
    events: mpsc::Receiver<Event>,
}

fn start() -> Running {
    let (scripts, receiver) = mpsc::unbounded_channel();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let next = Arc::new(Mutex::new(Next::Backoff));
    let refusals = Arc::new(Mutex::new(0));
    let status = Arc::new(SourceStatus::default());
    let (events, event_receiver) = mpsc::channel(16);
    let control = SessionControl::new();
    let shutdown = CancellationToken::new();
    let protocol = Scripted {
        scripts: receiver,
        seen: seen.clone(),
        next: next.clone(),
        refusals: refusals.clone(),
    };
    let backoff = BackoffConfig {
        initial: Duration::from_secs(1),
        max: Duration::from_secs(8),
    };
    let task = tokio::spawn(run(
        protocol,
        Link::new("leaf1", events, status.clone()),
        backoff,
        control.clone(),
        shutdown.clone(),
    ));
    Running {
        scripts,
        seen,
        next,
        refusals,
        status,
        control,
        shutdown,
        task,
        events: event_receiver,
    }
}

impl Running {
    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    fn state(&self) -> ConnectionState {
        self.status.snapshot().state
    }

    /// Lets the lifecycle run until nothing is ready (time is paused: no timer fires by itself).
    async fn settle(&self) {
        for _ in 0..20 {
            tokio::task::yield_now().await;
        }
    }

    fn fail(&self, error: &'static str, live: bool) {
        self.scripts.send(Script::Fail { error, live }).unwrap();
    }
}

fn gap(reason: &str) -> Seen {
    Seen::Gap {
        reason: reason.to_owned(),
    }
}

#[tokio::test(start_paused = true)]
async fn a_failure_waits_the_backoff_then_reports_its_gap_once_in_sync() {
    let mut running = start();
    running.settle().await;
    assert_eq!(running.seen(), [Seen::Baseline]);
    assert_eq!(running.state(), ConnectionState::Connected);

    running.fail("socket closed", true);
    running.settle().await;
    assert_eq!(running.state(), ConnectionState::Backoff);
    assert_eq!(
        running.status.snapshot().last_error.as_deref(),
        Some("socket closed")
    );
    // The first delay is at most `initial`.
    tokio::time::sleep(Duration::from_secs(1)).await;
    running.settle().await;
    assert_eq!(running.seen(), [Seen::Baseline, gap("socket closed")]);
    let event = running.events.try_recv().expect("the gap event");
    assert_eq!(event.kind, crate::event::GAP_EVENT_TYPE);
    assert!(
        event.summary.contains("(socket closed); test"),
        "{}",
        event.summary
    );
    assert_eq!(running.status.snapshot().gaps, 1);
}

#[tokio::test(start_paused = true)]
async fn failed_reconnects_keep_the_first_gap_and_lengthen_the_backoff() {
    let running = start();
    running.settle().await;
    // Three reconnects refused: the delays double (at most 1 s, 2 s, 4 s, then 8 s).
    *running.refusals.lock().unwrap() = 3;
    let failed = tokio::time::Instant::now();
    running.fail("socket closed", true);
    while running.seen().len() < 2 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        running.settle().await;
    }
    let waited = failed.elapsed();
    assert!(
        waited >= Duration::from_millis(500 + 1000 + 2000 + 4000)
            && waited <= Duration::from_millis(1000 + 2000 + 4000 + 8000 + 100),
        "{waited:?}"
    );
    assert_eq!(running.status.snapshot().state, ConnectionState::Connected);
    // The gap is the first failure's, not the last refusal's.
    assert_eq!(running.seen(), [Seen::Baseline, gap("socket closed")]);
}

#[tokio::test(start_paused = true)]
async fn a_session_stopped_from_outside_stays_stopped_until_started_then_resyncs() {
    let running = start();
    running.settle().await;
    running.control.stop();
    running.settle().await;
    assert_eq!(running.seen(), [Seen::Baseline, Seen::Stopped]);
    assert_eq!(running.state(), ConnectionState::Stopped);
    assert!(running.control.is_stopped());

    tokio::time::sleep(Duration::from_secs(3600)).await;
    running.settle().await;
    assert_eq!(running.seen().len(), 2, "no session while stopped");

    assert!(running.control.start());
    assert!(!running.control.start(), "starting twice does nothing");
    running.settle().await;
    assert_eq!(
        running.seen(),
        [Seen::Baseline, Seen::Stopped, gap("session stopped")]
    );
    assert_eq!(running.state(), ConnectionState::Connected);
}

#[tokio::test(start_paused = true)]
async fn a_restart_ends_the_session_and_starts_the_next_at_once() {
    let running = start();
    running.settle().await;
    running.control.restart();
    running.settle().await;
    assert_eq!(
        running.seen(),
        [Seen::Baseline, Seen::Stopped, gap("session restarted")]
    );
    // A stop during the backoff ends the wait at once.
    running.fail("socket closed", true);
    running.settle().await;
    assert_eq!(running.state(), ConnectionState::Backoff);
    running.control.stop();
    running.settle().await;
    assert_eq!(running.state(), ConnectionState::Stopped);
}

#[tokio::test(start_paused = true)]
async fn a_protocol_that_gives_up_leaves_the_source_stopped_until_started() {
    let running = start();
    running.settle().await;
    *running.next.lock().unwrap() = Next::Stop("replaced by another connection".into());
    running.fail("closed 4000", true);
    running.settle().await;
    assert_eq!(running.state(), ConnectionState::Stopped);
    assert_eq!(
        running.status.snapshot().last_error.as_deref(),
        Some("replaced by another connection")
    );
    tokio::time::sleep(Duration::from_secs(3600)).await;
    running.settle().await;
    assert_eq!(running.seen().len(), 1);

    *running.next.lock().unwrap() = Next::Backoff;
    assert!(running.control.start());
    running.settle().await;
    assert_eq!(running.seen(), [Seen::Baseline, gap("closed 4000")]);
}

#[tokio::test(start_paused = true)]
async fn next_now_reconnects_without_waiting() {
    let running = start();
    running.settle().await;
    *running.next.lock().unwrap() = Next::Now;
    running.fail("registration gone", true);
    running.settle().await;
    assert_eq!(running.seen(), [Seen::Baseline, gap("registration gone")]);
}

#[tokio::test(start_paused = true)]
async fn removal_and_shutdown_end_the_task_in_any_state() {
    let running = start();
    running.settle().await;
    running.control.remove();
    running.settle().await;
    assert!(running.task.is_finished(), "removed while live");
    assert_eq!(running.state(), ConnectionState::Stopped);

    let running = start();
    running.settle().await;
    running.control.stop();
    running.settle().await;
    running.shutdown.cancel();
    running.settle().await;
    assert!(running.task.is_finished(), "shut down while stopped");

    let running = start();
    running.settle().await;
    running.fail("socket closed", true);
    running.settle().await;
    running.shutdown.cancel();
    running.settle().await;
    assert!(running.task.is_finished(), "shut down during the backoff");
    assert_eq!(running.state(), ConnectionState::Stopped);
}
