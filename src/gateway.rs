//! Wires sources to sinks and owns shutdown. Sources send events into one bounded channel; the
//! dispatcher numbers them (`seq`) and hands each sink a shared copy over the sink's own bounded
//! channel. When shutdown is cancelled, sources stop, the dispatcher drains, and every sink
//! flushes before [`Gateway::wait`] returns.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::Config;
use crate::event::Event;
use crate::sink::{self, SharedEvent};
use crate::source::{self, ConnectionState, SourceHandle};

const EVENT_QUEUE: usize = 8192;
const STATUS_LOG_INTERVAL: Duration = Duration::from_secs(30);
const MAX_NAMED_DOWN: usize = 10;

/// A running gateway.
pub struct Gateway {
    sources: Arc<Vec<SourceHandle>>,
    tracker: TaskTracker,
    dispatcher: tokio::task::JoinHandle<()>,
    sinks_finished: Vec<tokio::sync::oneshot::Receiver<()>>,
    dispatched: Arc<AtomicU64>,
}

/// Runs the gateway until `shutdown` is cancelled and every event has been handed to the sinks.
pub async fn run(config: Config, shutdown: CancellationToken) -> anyhow::Result<()> {
    Gateway::start(config, shutdown).await?.wait().await
}

impl Gateway {
    /// Starts every sink, then every source.
    pub async fn start(config: Config, shutdown: CancellationToken) -> anyhow::Result<Gateway> {
        let sinks = config
            .sinks
            .iter()
            .map(sink::spawn)
            .collect::<anyhow::Result<Vec<_>>>()?;
        let (events, receiver) = mpsc::channel(EVENT_QUEUE);
        let tracker = TaskTracker::new();
        let shared = source::dme::SharedClients::default();
        let mut sources = Vec::with_capacity(config.sources.len());
        for source_config in &config.sources {
            sources.push(source::spawn(
                source_config,
                &shared,
                events.clone(),
                shutdown.clone(),
                &tracker,
            )?);
        }
        drop(events);
        tracker.close();
        let dispatched = Arc::new(AtomicU64::new(0));
        let (sink_inputs, sinks_finished) = sinks
            .into_iter()
            .map(|sink| ((sink.name, sink.events), sink.finished))
            .unzip();
        let dispatcher = tokio::spawn(dispatch(receiver, sink_inputs, dispatched.clone()));
        let sources = Arc::new(sources);
        tokio::spawn(log_status(sources.clone(), dispatched.clone(), shutdown));
        tracing::info!(
            sources = config.sources.len(),
            sinks = config.sinks.len(),
            "netpulse started"
        );
        Ok(Gateway {
            sources,
            tracker,
            dispatcher,
            sinks_finished,
            dispatched,
        })
    }

    /// The running sources, with their status.
    pub fn sources(&self) -> &[SourceHandle] {
        &self.sources
    }

    pub fn source(&self, name: &str) -> Option<&SourceHandle> {
        self.sources.iter().find(|source| source.name == name)
    }

    /// Events handed to the sinks so far.
    pub fn dispatched(&self) -> u64 {
        self.dispatched.load(Ordering::Relaxed)
    }

    /// Waits for the sources to stop (after shutdown) and the sinks to flush everything.
    pub async fn wait(self) -> anyhow::Result<()> {
        self.tracker.wait().await;
        self.dispatcher.await?;
        for finished in self.sinks_finished {
            let _ = finished.await;
        }
        tracing::info!(
            events = self.dispatched.load(Ordering::Relaxed),
            "netpulse stopped"
        );
        Ok(())
    }
}

/// Numbers every event and hands it to each sink; ends when every source has stopped, and then
/// drops the sinks' senders so that each sink drains and flushes.
async fn dispatch(
    mut receiver: mpsc::Receiver<Event>,
    sinks: Vec<(String, mpsc::Sender<SharedEvent>)>,
    dispatched: Arc<AtomicU64>,
) {
    let mut sequence = 0u64;
    let mut batch = Vec::with_capacity(256);
    while receiver.recv_many(&mut batch, 256).await > 0 {
        for mut event in batch.drain(..) {
            sequence += 1;
            event.seq = sequence;
            let event = Arc::new(event);
            for (name, sink) in &sinks {
                if sink.send(event.clone()).await.is_err() {
                    tracing::error!(sink = %name, "sink stopped; its events are not delivered");
                }
            }
        }
        dispatched.store(sequence, Ordering::Relaxed);
    }
}

/// Logs one line of overall status at a fixed interval, so an operator sees progress.
async fn log_status(
    sources: Arc<Vec<SourceHandle>>,
    dispatched: Arc<AtomicU64>,
    shutdown: CancellationToken,
) {
    let mut interval = tokio::time::interval(STATUS_LOG_INTERVAL);
    interval.tick().await;
    let mut previous = 0;
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = interval.tick() => {}
        }
        let snapshots: Vec<_> = sources
            .iter()
            .map(|source| source.status.snapshot())
            .collect();
        let connected = snapshots
            .iter()
            .filter(|status| status.state == ConnectionState::Connected)
            .count();
        let gaps: u64 = snapshots.iter().map(|status| status.gaps).sum();
        let total = dispatched.load(Ordering::Relaxed);
        let rate = (total - previous) as f64 / STATUS_LOG_INTERVAL.as_secs_f64();
        previous = total;
        tracing::info!(
            connected,
            sources = sources.len(),
            gaps,
            events = total,
            events_per_s = format!("{rate:.1}"),
            "status"
        );
        // Name a few sources that are down, not thousands.
        let down: Vec<_> = sources
            .iter()
            .zip(&snapshots)
            .filter(|(_, status)| status.state != ConnectionState::Connected)
            .collect();
        for (source, status) in down.iter().take(MAX_NAMED_DOWN) {
            tracing::warn!(source = %source.name, state = ?status.state, last_error = status.last_error.as_deref().unwrap_or("-"), "source not connected");
        }
        if down.len() > MAX_NAMED_DOWN {
            tracing::warn!(
                more = down.len() - MAX_NAMED_DOWN,
                "more sources not connected"
            );
        }
    }
}
