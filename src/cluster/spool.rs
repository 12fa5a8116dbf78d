//! The relay: publishes what this node spooled (events the stream did not confirm in time) again,
//! oldest first, with the same `Nats-Msg-Id` and fence, and deletes each row once the stream has
//! confirmed it. A late acknowledgement of the first attempt and the relay's copy are one
//! message in the stream (its duplicate window); beyond the window the projection drops the
//! second copy by its key. While NATS does not confirm, the relay backs off (up to
//! [`MAX_BACKOFF`]); a spool write wakes it.
//!
//! Metrics: `netpulse_cluster_spool_depth` (rows waiting), `netpulse_cluster_relayed_total`.

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::publish::{Outgoing, Publisher};
use crate::backoff::Backoff;
use crate::store::{ReaderPool, Store};

/// Rows published together.
const CHUNK: usize = 256;
/// How often the spool is looked at without a wake-up (rows left by a previous process).
const IDLE_CHECK: Duration = Duration::from_secs(5);
const MIN_BACKOFF: Duration = Duration::from_millis(200);
pub const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// Runs the relay until `shutdown`.
pub async fn relay(
    publisher: Publisher,
    store: Store,
    pool: ReaderPool,
    shutdown: CancellationToken,
) {
    let waker = publisher.relay_waker();
    let mut backoff = Backoff::new(MIN_BACKOFF, MAX_BACKOFF);
    loop {
        let pause = match relay_once(&publisher, &store, &pool).await {
            Ok(Relayed::Emptied) => None,
            Ok(Relayed::More) => {
                backoff.reset();
                continue;
            }
            Err(reason) => {
                tracing::debug!(%reason, "the relay waits for the stream");
                Some(backoff.next_delay())
            }
        };
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = waker.notified(), if pause.is_none() => {}
            () = tokio::time::sleep(pause.unwrap_or(IDLE_CHECK)) => {}
        }
    }
}

enum Relayed {
    /// The spool is empty.
    Emptied,
    /// A whole chunk went out: look again at once.
    More,
}

/// Publishes the oldest chunk of the spool and deletes what the stream confirmed.
async fn relay_once(
    publisher: &Publisher,
    store: &Store,
    pool: &ReaderPool,
) -> anyhow::Result<Relayed> {
    let rows = pool.read(|reader| reader.spooled(CHUNK)).await?;
    if rows.is_empty() {
        metrics::gauge!("netpulse_cluster_spool_depth").set(0.0);
        return Ok(Relayed::Emptied);
    }
    let outgoing: Vec<Outgoing> = rows.iter().map(Outgoing::from_spool_row).collect();
    let acks = publisher.publish_all(&outgoing).await;
    let confirmed: Vec<i64> = rows
        .iter()
        .zip(&acks)
        .filter(|(_, ack)| ack.is_some())
        .map(|(row, _)| row.id)
        .collect();
    let all = confirmed.len() == rows.len();
    let count = confirmed.len() as u64;
    store.unspool(confirmed).await?;
    metrics::counter!("netpulse_cluster_relayed_total").increment(count);
    if count > 0 {
        tracing::info!(relayed = count, "spooled events published to the stream");
    }
    let depth = pool.read(|reader| reader.spool_depth()).await?;
    metrics::gauge!("netpulse_cluster_spool_depth").set(depth as f64);
    match (all, rows.len() == CHUNK) {
        (true, true) => Ok(Relayed::More),
        (true, false) if depth == 0 => Ok(Relayed::Emptied),
        (true, false) => Ok(Relayed::More),
        (false, _) => anyhow::bail!(
            "{} of {} spooled events not confirmed by the stream",
            rows.len() - count as usize,
            rows.len()
        ),
    }
}
