//! The one session lifecycle of every session-holding source (DME, pxGrid, Webex events):
//! connect, sync, live, and after a failure the gap and the backoff, then again; stopped and
//! started from outside through a [`SessionControl`].
//!
//! A protocol implements [`Protocol`]: one session from connect to its end, returned as an
//! [`Ended`]. The lifecycle does the rest, the same way for all: it records the failure in the
//! status, remembers since when the source has been blind (the [`Gap`]), waits the jittered
//! backoff (logged, shown as `backoff`, counted in `netpulse_source_reconnects_total`) and starts
//! the next session. The protocol reports the gap through [`Link::in_sync`] and
//! [`Link::report_gap`] once it has resubscribed, so that the gap event precedes what the resync
//! finds. A session ends as [`Ended::Stopped`] when [`Link::stop`] is cancelled: at gateway
//! shutdown, or when its control stops, restarts or removes it.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::backoff::Backoff;
use crate::config::BackoffConfig;
use crate::event::Event;
use crate::source::{ConnectionState, SourceStatus};

mod control;
mod gap;
mod restore;
#[cfg(test)]
mod tests;

pub use control::SessionControl;
pub(crate) use gap::{Gap, gap_event};
pub use restore::{NETPULSE_DOWN, OWNERSHIP_MOVED, Views};

/// One protocol's sessions, as the lifecycle drives them. The protocol keeps what must outlive a
/// session (a DME device's view, pxGrid's reported sessions, a Webex registration).
pub(crate) trait Protocol: Send + 'static {
    /// Why a session failed, in the protocol's terms.
    type Error: std::fmt::Display + Send;

    /// Runs one session from connect to its end. It must end with [`Ended::Stopped`] soon after
    /// `link.stop` is cancelled (logging out on the way, where the protocol can).
    fn session(&mut self, link: &mut Link) -> impl Future<Output = Ended<Self::Error>> + Send;

    /// Logs a failed session and counts what the protocol counts (refused logins...); the
    /// lifecycle records the error in the status itself.
    fn record_failure(&self, link: &Link, error: &Self::Error);

    /// What follows a failure: by default the next backoff delay.
    fn after_failure(&mut self, _error: &Self::Error) -> Next {
        Next::Backoff
    }
}

/// How a session ended.
pub(crate) enum Ended<E> {
    /// `link.stop` was cancelled.
    Stopped,
    Failed {
        error: E,
        /// Until when the source is known to have missed nothing (a subscription's last refresh,
        /// the last message); the failure's time when unknown.
        healthy_until: Option<jiff::Timestamp>,
        /// Whether the session got as far as live: the backoff starts again from its first delay.
        was_live: bool,
    },
}

/// What the lifecycle does after a failed session.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Next {
    /// Wait the next backoff delay.
    Backoff,
    /// Wait the next backoff delay, but at least this long.
    BackoffAtLeast(Duration),
    /// Start the next session at once (not counted as a reconnect).
    Now,
    /// Stop until started again from outside, saying why in the log and the status.
    Stop(String),
}

/// What a session works with: where its events go, its status and metrics, when to stop, and
/// the gap the lifecycle keeps between sessions.
pub(crate) struct Link {
    pub name: String,
    pub events: mpsc::Sender<Event>,
    pub status: Arc<SourceStatus>,
    pub counters: Counters,
    /// Cancelled when the session must end: gateway shutdown, or stopped, restarted or removed
    /// through its control. Each run of sessions gets a fresh one.
    pub stop: CancellationToken,
    gap: Option<Gap>,
    /// False until the first sync: the first snapshot is the baseline, and only later syncs
    /// follow a gap.
    synced_once: bool,
    /// Where the source's view is saved and loaded (none in some unit tests), and what it is a
    /// view of (see [`restore::IDENTITY_KEY`]).
    views: Option<(Views, String)>,
    /// A run has started and its first sync has not yet looked for a stored view.
    restore_pending: bool,
}

/// What a session reaching sync must do about the time before it.
#[derive(Debug)]
pub(crate) enum Sync {
    /// The source's first sync: what it finds is the baseline, no gap to report.
    Baseline,
    /// A sync after a gap: report it (with [`Link::report_gap`]) before what the resync finds.
    AfterGap(Gap),
}

impl Link {
    pub fn new(name: &str, events: mpsc::Sender<Event>, status: Arc<SourceStatus>) -> Link {
        Link {
            name: name.to_owned(),
            events,
            status,
            counters: Counters::new(name),
            stop: CancellationToken::new(),
            gap: None,
            synced_once: false,
            views: None,
            restore_pending: false,
        }
    }

    /// Keeps the source's view in the store from now on (see [`Link::restore_view`]); `identity`
    /// says what it is a view of (a device's address and subscriptions).
    pub fn keep_views(&mut self, views: Views, identity: String) {
        self.views = Some((views, identity));
    }

    /// At the first sync of a run (the process started, or the source was stopped and started
    /// again: in a cluster, the device may have been owned by another node meanwhile), the view
    /// the store holds, which replaces the source's memory. The sync then follows a gap: the one
    /// already open (a stop, a reload) unless the stored view changed after it began (another
    /// node reported the device meanwhile), else one since the stored view last changed, for the
    /// views' reason (`netpulse_down`, `ownership_moved`). `None` when the store holds no view for the source (its
    /// first sync is then the baseline), when the stored view is of another device (the entry
    /// changed), or when it was already looked for in this run.
    pub async fn restore_view(&mut self) -> Option<crate::store::StoredView> {
        if !std::mem::take(&mut self.restore_pending) {
            return None;
        }
        let (views, identity) = self.views.as_ref()?;
        let stored = views.load(&self.name, identity).await?;
        match &mut self.gap {
            None => {
                self.gap = Some(Gap {
                    since: stored.updated,
                    reason: views.reason().to_owned(),
                })
            }
            // Someone else reported the device after this source stopped (in a cluster, the
            // node that held it meanwhile): the gap is since that node's last report, for the
            // views' reason, not since this source's own stop.
            Some(gap) if stored.updated > gap.since => {
                gap.since = stored.updated;
                gap.reason = views.reason().to_owned();
            }
            Some(_) => {}
        }
        self.synced_once = true;
        tracing::info!(source = %self.name, objects = stored.objects.len(), seq = stored.seq, "resuming from the stored view");
        Some(stored)
    }

    /// Saves the source's first snapshot (the baseline) as its stored view.
    pub async fn save_baseline(&self, objects: Vec<crate::cluster::wire::ViewObject>) {
        if let Some((views, identity)) = &self.views {
            views.save(&self.name, identity, objects).await;
        }
    }

    /// Continues where another run of the same source stopped: its first sync follows a gap
    /// that starts now, for `reason`.
    pub fn resume(&mut self, reason: &str) {
        self.synced_once = true;
        self.gap = Some(Gap {
            since: jiff::Timestamp::now(),
            reason: reason.to_owned(),
        });
    }

    /// The gap being recovered from, if any: since when the source has been blind.
    pub fn pending_gap(&self) -> Option<&Gap> {
        self.gap.as_ref()
    }

    /// Whether the source has synced before: a new sync then follows a gap.
    pub fn synced_once(&self) -> bool {
        self.synced_once
    }

    /// Called by a session that has (re)subscribed: takes the gap to report.
    pub fn in_sync(&mut self) -> Sync {
        let gap = self.gap.take();
        if !std::mem::replace(&mut self.synced_once, true) {
            return Sync::Baseline;
        }
        Sync::AfterGap(gap.unwrap_or_else(|| Gap {
            since: jiff::Timestamp::now(),
            reason: "resubscribed".into(),
        }))
    }

    /// Emits the gap event (see [`gap_event`]) and counts the gap; returns its length in ms.
    pub async fn report_gap(
        &self,
        gap: &Gap,
        until: jiff::Timestamp,
        outcome: &str,
        data: serde_json::Map<String, serde_json::Value>,
    ) -> u64 {
        let event = gap_event(&self.name, gap, until, outcome, data);
        let duration_ms = gap.duration_ms(until);
        self.emit(event).await;
        self.counters.gaps.increment(1);
        self.status.update(|status| {
            status.gaps += 1;
            status.last_gap_ms = Some(duration_ms);
        });
        duration_ms
    }

    /// The session is live: shows it in the status.
    pub fn connected(&self, subscriptions: Option<usize>) {
        self.status.update(|status| {
            status.state = ConnectionState::Connected;
            if let Some(subscriptions) = subscriptions {
                status.subscriptions = subscriptions;
            }
            status.connected_since = Some(jiff::Timestamp::now());
            status.connects += 1;
        });
    }

    /// Hands an event to the gateway, awaiting the bounded channel: backpressure, never a drop.
    pub async fn emit(&self, event: Event) {
        self.counters.events.increment(1);
        let now = jiff::Timestamp::now();
        self.status.update(|status| {
            status.events += 1;
            status.last_event_at = Some(now);
        });
        // A closed channel means the gateway is shutting down; nothing is left to deliver to.
        let _ = self.events.send(event).await;
    }

    /// Counts pushes that changed nothing.
    pub fn duplicates(&self, count: u64) {
        if count > 0 {
            self.counters.duplicates.increment(count);
            self.status
                .update(|status| status.duplicates_suppressed += count);
        }
    }

    /// Remembers since when the source is blind, unless a gap is already open (a failed
    /// reconnect does not move its start) or nothing was ever synced (nothing to miss yet).
    fn open_gap(&mut self, since: jiff::Timestamp, reason: String) {
        if self.synced_once && self.gap.is_none() {
            self.gap = Some(Gap { since, reason });
        }
    }
}

/// Metrics of one session-holding source, registered once so the hot path does not rebuild label
/// sets.
pub(crate) struct Counters {
    pub events: metrics::Counter,
    pub duplicates: metrics::Counter,
    pub reconnects: metrics::Counter,
    pub login_failures: metrics::Counter,
    pub logins_unavailable: metrics::Counter,
    pub gaps: metrics::Counter,
    /// Logins after the source's first (device sessions).
    pub relogins: metrics::Counter,
}

impl Counters {
    pub fn new(name: &str) -> Counters {
        let counter = |metric: &'static str| metrics::counter!(metric, "source" => name.to_owned());
        Counters {
            events: counter("netpulse_source_events_total"),
            duplicates: counter("netpulse_source_duplicates_suppressed_total"),
            reconnects: counter("netpulse_source_reconnects_total"),
            login_failures: counter("netpulse_source_login_failures_total"),
            logins_unavailable: counter("netpulse_source_logins_unavailable_total"),
            gaps: counter("netpulse_source_gaps_total"),
            relogins: counter("netpulse_source_relogins_total"),
        }
    }
}

/// Runs a protocol's sessions until the gateway shuts down or the control removes it: while the
/// control wants it running, session after session with backoff between them; while stopped, no
/// session (state `stopped`) until started again.
pub(crate) async fn run<P: Protocol>(
    mut protocol: P,
    mut link: Link,
    backoff: BackoffConfig,
    control: SessionControl,
    shutdown: CancellationToken,
) {
    let mut backoff = Backoff::new(backoff.initial, backoff.max);
    while let Some(stop) = control.next_run(&shutdown, &link.status).await {
        link.stop = stop;
        link.restore_pending = true;
        backoff.reset();
        let why = match run_sessions(&mut protocol, &mut link, &mut backoff).await {
            Some(gave_up) => {
                control.gave_up();
                gave_up
            }
            None => control.why_stopped().to_owned(),
        };
        if !shutdown.is_cancelled() {
            // Stopped or restarted: the source is blind from now on, until a session syncs.
            link.open_gap(jiff::Timestamp::now(), why);
        } else if link.synced_once && link.gap.is_none() {
            // Listening until this shutdown: the next start's gap begins now, not at the view's
            // last change.
            if let Some((views, _)) = &link.views {
                views.stopped_listening(&link.name).await;
            }
        }
    }
    link.status.set_state(ConnectionState::Stopped);
}

/// Sessions with backoff between them, until `link.stop` is cancelled (`None`) or a failure the
/// protocol does not retry (`Some` with why).
async fn run_sessions<P: Protocol>(
    protocol: &mut P,
    link: &mut Link,
    backoff: &mut Backoff,
) -> Option<String> {
    loop {
        let (error, healthy_until, was_live) = match protocol.session(link).await {
            Ended::Stopped => return None,
            Ended::Failed {
                error,
                healthy_until,
                was_live,
            } => (error, healthy_until, was_live),
        };
        if was_live {
            backoff.reset();
        }
        let reason = error.to_string();
        link.status.set_error(&reason);
        link.open_gap(
            healthy_until.unwrap_or_else(jiff::Timestamp::now),
            reason.clone(),
        );
        let delay = match protocol.after_failure(&error) {
            Next::Backoff => backoff.next_delay(),
            Next::BackoffAtLeast(at_least) => backoff.next_delay().max(at_least),
            Next::Now => {
                protocol.record_failure(link, &error);
                continue;
            }
            Next::Stop(why) => {
                tracing::error!(source = %link.name, "{why}");
                link.status.set_error(&why);
                return Some(why);
            }
        };
        protocol.record_failure(link, &error);
        if !wait_to_reconnect(link, delay).await {
            return None;
        }
    }
}

/// Awaits `work` unless `stop` is cancelled first (`None`): a session's connect, which a stop
/// may cut short at any point (nothing is logged in yet, or the half-made session expires).
pub(crate) async fn unless_stopped<F: Future>(
    stop: CancellationToken,
    work: F,
) -> Option<F::Output> {
    tokio::select! {
        _ = stop.cancelled() => None,
        output = work => Some(output),
    }
}

/// Between two sessions: says so in the log and the source's status, waits `delay`, and counts
/// the reconnect. False when the session is stopped meanwhile (nothing is counted then).
pub(crate) async fn wait_to_reconnect(link: &Link, delay: Duration) -> bool {
    tracing::info!(source = %link.name, delay_ms = delay.as_millis() as u64, "reconnecting after backoff");
    link.status.set_state(ConnectionState::Backoff);
    tokio::select! {
        _ = link.stop.cancelled() => return false,
        _ = tokio::time::sleep(delay) => {}
    }
    link.counters.reconnects.increment(1);
    true
}
