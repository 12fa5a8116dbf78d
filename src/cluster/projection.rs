//! The projection: every node folds the stream, in order, into its own store. An ordered
//! consumer starts after the store's cursor; what arrives together is one batch and one store
//! command (`store::project`): events at their stream sequence with this node's outbox rows and
//! alarm updates, control messages folded, stale fences dropped, the cursor moved in the same
//! transaction. After each commit: [`ProjectionProgress`] moves, the sinks that got rows are
//! woken, and the live feed has been told of the new events by the writer (as for an append).
//!
//! A lost connection, a NATS outage or a consumer the server dropped ends the consumer; the
//! projection makes a new one from its cursor after a backoff, by itself. A separate task
//! measures the lag (the stream's last sequence − applied) every [`LAG_INTERVAL`]:
//! `netpulse_cluster_projection_lag`, and `/readyz` answers 503 above `cluster.max_lag`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_nats::jetstream::{self, consumer::DeliverPolicy, consumer::pull::OrderedConfig};
use futures_util::StreamExt;
use tokio_util::sync::CancellationToken;

use super::ProjectionProgress;
use super::publish::decode_event;
use super::wire::{self, Control};
use crate::backoff::Backoff;
use crate::pipeline::Pipeline;
use crate::store::{ProjectBatch, Projected, ProjectedBody, ReaderPool};

/// Messages folded in one store command at most.
const BATCH: usize = 512;
pub const LAG_INTERVAL: Duration = Duration::from_secs(1);
/// A consumer that delivers nothing for this long while the stream holds messages this node
/// has not applied is made again.
const STALL: Duration = Duration::from_secs(5);
const MIN_BACKOFF: Duration = Duration::from_millis(200);
const MAX_BACKOFF: Duration = Duration::from_secs(5);

static FENCED_LOG: crate::throttle::Throttle = crate::throttle::Throttle::new();
static CONSUMER_LOG: crate::throttle::Throttle = crate::throttle::Throttle::new();

/// How far behind the stream this node's store is, for `/readyz` and `/api/v1/cluster`.
#[derive(Debug, Default)]
pub struct Lag {
    /// The stream's last sequence when last asked (kept while NATS does not answer).
    pub stream_last: AtomicU64,
    pub max_lag: u64,
}

impl Lag {
    pub fn new(max_lag: u64) -> Lag {
        Lag {
            stream_last: AtomicU64::new(0),
            max_lag,
        }
    }

    /// Stream messages not yet applied.
    pub fn behind(&self, progress: &ProjectionProgress) -> u64 {
        self.stream_last
            .load(Ordering::Relaxed)
            .saturating_sub(progress.applied())
    }
}

/// What the projection needs.
pub struct Context {
    pub jetstream: jetstream::Context,
    pub stream: String,
    pub pipeline: Pipeline,
    pub pool: ReaderPool,
    pub progress: ProjectionProgress,
    pub lag: Arc<Lag>,
}

/// Runs the projection (and its lag gauge) until `shutdown`. Reads the cursor first: a store
/// that cannot be read is an error at startup.
pub async fn start(context: Context, shutdown: CancellationToken) -> anyhow::Result<()> {
    let cursor = context
        .pool
        .read(|reader| reader.projection_cursor())
        .await?;
    context.progress.set(cursor);
    tokio::spawn(measure_lag(
        context.jetstream.clone(),
        context.stream.clone(),
        context.progress.clone(),
        context.lag.clone(),
        shutdown.clone(),
    ));
    tokio::spawn(run(context, cursor, shutdown));
    Ok(())
}

async fn run(context: Context, mut cursor: u64, shutdown: CancellationToken) {
    let mut backoff = Backoff::new(MIN_BACKOFF, MAX_BACKOFF);
    while !shutdown.is_cancelled() {
        let before = cursor;
        match follow(&context, &mut cursor, &shutdown).await {
            Ok(()) => return,
            Err(error) => {
                if let Some(left_out) = CONSUMER_LOG.admit(std::time::Instant::now()) {
                    tracing::warn!(%error, cursor, left_out, "the projection lost the stream; it resumes from its cursor");
                }
            }
        }
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(backoff.next_delay()) => {}
        }
        // A consumer that delivered something before failing earns a quick restart.
        if cursor > before {
            backoff.reset();
        }
    }
}

/// Follows the stream from `cursor + 1` until shutdown (`Ok`) or a failure (`Err`).
async fn follow(
    context: &Context,
    cursor: &mut u64,
    shutdown: &CancellationToken,
) -> anyhow::Result<()> {
    let deliver_policy = match *cursor {
        0 => DeliverPolicy::All,
        applied => DeliverPolicy::ByStartSequence {
            start_sequence: applied + 1,
        },
    };
    let consumer = context
        .jetstream
        .create_consumer_on_stream(
            OrderedConfig {
                deliver_policy,
                ..OrderedConfig::default()
            },
            &context.stream,
        )
        .await?;
    let mut messages = consumer.messages().await?.ready_chunks(BATCH);
    loop {
        let chunk = tokio::select! {
            () = shutdown.cancelled() => return Ok(()),
            chunk = tokio::time::timeout(STALL, messages.next()) => match chunk {
                Ok(chunk) => chunk,
                // Quiet is fine while nothing is published; quiet while the stream is ahead
                // means the consumer stalled (seen when the NATS server it was on was killed:
                // nothing came for 40 s and no error either), so it is made again.
                Err(_) if context.lag.behind(&context.progress) > 0 => {
                    anyhow::bail!("no message for {STALL:?} while the stream is ahead: the consumer stalled");
                }
                Err(_) => continue,
            },
        };
        let Some(chunk) = chunk else {
            anyhow::bail!("the consumer ended");
        };
        let mut batch = ProjectBatch {
            messages: Vec::with_capacity(chunk.len()),
            last_seq: *cursor,
        };
        let mut failure = None;
        for message in chunk {
            match message {
                Ok(message) => {
                    if let Some(projected) = decode(context, &message, &mut batch.last_seq)
                        && projected.seq > *cursor
                    {
                        batch.messages.push(projected);
                    }
                }
                Err(error) => {
                    failure = Some(error);
                    break;
                }
            }
        }
        if batch.last_seq > *cursor {
            apply(context, batch).await?;
            *cursor = context.progress.applied().max(*cursor);
        }
        if let Some(error) = failure {
            return Err(error.into());
        }
    }
}

/// One message as the store command takes it; `None` for one that cannot be read (logged,
/// passed over: the cursor still moves past it). `last_seq` is raised to its sequence.
fn decode(
    context: &Context,
    message: &jetstream::Message,
    last_seq: &mut u64,
) -> Option<Projected> {
    let seq = message.info().ok()?.stream_sequence;
    *last_seq = (*last_seq).max(seq);
    let header = |name: &str| {
        message
            .headers
            .as_ref()
            .and_then(|headers| headers.get(name))
            .map(|value| value.as_str().to_owned())
    };
    let fence = header(wire::FENCE);
    let subject = message.subject.as_str();
    let body = if subject.starts_with(wire::EVENTS_PREFIX) {
        decode_event(&message.payload, header(wire::MSG_ID).as_deref()).map(|mut item| {
            item.sinks = context.pipeline.sinks_for(&item.event);
            ProjectedBody::Event(Box::new(item))
        })
    } else {
        serde_json::from_slice::<Control>(&message.payload)
            .map(ProjectedBody::Control)
            .map_err(anyhow::Error::from)
    };
    match body {
        Ok(body) => Some(Projected { seq, fence, body }),
        Err(error) => {
            tracing::warn!(seq, subject, %error, "a stream message cannot be read; passed over");
            metrics::counter!("netpulse_cluster_unreadable_total").increment(1);
            None
        }
    }
}

/// Stores one batch, then tells whoever waits.
async fn apply(context: &Context, batch: ProjectBatch) -> anyhow::Result<()> {
    let last_seq = batch.last_seq;
    let outcome = context.pipeline.store().project(batch).await?;
    context.progress.set(last_seq);
    context.pipeline.wake(&outcome.sinks);
    metrics::counter!("netpulse_cluster_projected_total").increment(outcome.stored.len() as u64);
    if !outcome.fenced.is_empty() {
        metrics::counter!("netpulse_cluster_fenced_total").increment(outcome.fenced.len() as u64);
        if let Some(left_out) = FENCED_LOG.admit(std::time::Instant::now()) {
            let (seq, fence) = &outcome.fenced[0];
            tracing::warn!(seq, %fence, count = outcome.fenced.len(), left_out, "messages from a writer whose lease had moved on were dropped (stale fence)");
        }
    }
    let behind = context.lag.behind(&context.progress);
    metrics::gauge!("netpulse_cluster_projection_lag").set(behind as f64);
    Ok(())
}

/// Asks the stream for its last sequence every [`LAG_INTERVAL`].
async fn measure_lag(
    jetstream: jetstream::Context,
    stream: String,
    progress: ProjectionProgress,
    lag: Arc<Lag>,
    shutdown: CancellationToken,
) {
    let mut interval = tokio::time::interval(LAG_INTERVAL);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            _ = interval.tick() => {}
        }
        let asked = tokio::time::timeout(LAG_INTERVAL, jetstream.get_stream(&stream)).await;
        if let Ok(Ok(mut handle)) = asked
            && let Ok(info) = handle.info().await
        {
            lag.stream_last
                .fetch_max(info.state.last_sequence, Ordering::Relaxed);
        }
        metrics::gauge!("netpulse_cluster_projection_lag").set(lag.behind(&progress) as f64);
        metrics::gauge!("netpulse_cluster_projection_applied").set(progress.applied() as f64);
    }
}
