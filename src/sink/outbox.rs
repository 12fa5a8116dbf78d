//! How a sink takes its work from the store's outbox: wait until rows are due, claim a batch
//! under a lease, and record each outcome. Work survives a crash because it is never held only in
//! memory: an unfinished claim comes back when its lease ends, or at the next start.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::cluster::sinks::DeliveryRecorder;
use crate::cluster::wire::DeliveryOutcome;
use crate::store::{Delivery, Failed, Store};

/// Rows that are not due yet (a retry later on) are looked for at least this often.
const POLL: Duration = Duration::from_secs(1);
/// Pause after the store failed to answer a claim.
const STORE_ERROR_PAUSE: Duration = Duration::from_secs(1);

/// One sink's view of the outbox.
#[derive(Clone)]
pub struct Outbox {
    pub store: Store,
    pub sink: String,
    /// Notified by the pipeline after it commits rows for this sink.
    pub waker: Arc<Notify>,
    /// Cancelled at shutdown once no new event can arrive: [`Outbox::next`] then returns what is
    /// still due and after that `None`.
    pub drain: CancellationToken,
    /// After being woken, wait this long before claiming, so that a sink that writes in batches
    /// (a file) takes a few milliseconds' worth of rows per transaction instead of one each.
    pub linger: Duration,
    /// Where a shared sink (a Webex sink in cluster mode) records its deliveries for the other
    /// nodes; [`DeliveryRecorder::local`] otherwise, and always for `file` and `stdout`.
    pub recorder: DeliveryRecorder,
}

impl Outbox {
    /// Waits for due rows and claims up to `limit` of them, leased for `lease`. `None` once
    /// draining and nothing is due.
    pub async fn next(&self, limit: usize, lease: Duration) -> Option<Vec<Delivery>> {
        self.claim_next(limit, lease, false).await
    }

    /// [`Outbox::next`], with people talking to the bot (card clicks, messages) first among the
    /// due rows ([`Store::claim_due_interactions_first`]): for a Webex sink, whose messages go out
    /// at its rate limit.
    ///
    /// [`Store::claim_due_interactions_first`]: crate::store::Store::claim_due_interactions_first
    pub async fn next_interactions_first(
        &self,
        limit: usize,
        lease: Duration,
    ) -> Option<Vec<Delivery>> {
        self.claim_next(limit, lease, true).await
    }

    async fn claim_next(
        &self,
        limit: usize,
        lease: Duration,
        interactions_first: bool,
    ) -> Option<Vec<Delivery>> {
        loop {
            let now = now_ms();
            let lease_ms = lease.as_millis() as i64;
            let claimed = self
                .store
                .claim(&self.sink, now, limit, lease_ms, interactions_first)
                .await;
            match claimed {
                Ok(rows) if !rows.is_empty() => return Some(rows),
                Ok(_) => {
                    if self.drain.is_cancelled() {
                        return None;
                    }
                    tokio::select! {
                        () = self.waker.notified() => {
                            if !self.linger.is_zero() {
                                tokio::select! {
                                    () = tokio::time::sleep(self.linger) => {}
                                    () = self.drain.cancelled() => {}
                                }
                            }
                        }
                        () = tokio::time::sleep(POLL) => {}
                        () = self.drain.cancelled() => {}
                    }
                }
                Err(error) => {
                    tracing::error!(sink = %self.sink, %error, "cannot claim deliveries from the store");
                    if self.drain.is_cancelled() {
                        return None;
                    }
                    tokio::time::sleep(STORE_ERROR_PAUSE).await;
                }
            }
        }
    }

    /// Records successful deliveries; a failure to record is logged (the rows come back after
    /// their lease and are delivered again: at-least-once).
    pub async fn delivered(&self, ids: Vec<i64>) {
        let count = ids.len();
        if let Err(error) = self.store.mark_delivered(ids).await {
            tracing::error!(sink = %self.sink, %error, count, "cannot record deliveries; they will be retried");
        }
    }

    /// Records one delivery done: in the store, then in the stream when the sink is shared.
    pub async fn delivered_one(&self, delivery: &Delivery) {
        self.delivered(vec![delivery.id]).await;
        self.recorder
            .outcome(delivery.seq, DeliveryOutcome::Delivered)
            .await;
    }

    /// Records a delivery that did not happen, to retry after `retry_in` (see [`Failed`]): in
    /// the store, then in the stream when the sink is shared.
    pub async fn failed(
        &self,
        delivery: &Delivery,
        error: String,
        retry_in: Duration,
        failed: Failed,
    ) {
        let next = now_ms().saturating_add(retry_in.as_millis() as i64);
        let attempts = delivery.attempts + u32::from(failed != Failed::Deferred);
        let outcome = match failed {
            Failed::Dead => DeliveryOutcome::Dead {
                attempts,
                error: error.clone(),
            },
            Failed::Retry | Failed::Deferred => DeliveryOutcome::Retry {
                attempts,
                next_attempt_ms: next,
                error: error.clone(),
            },
        };
        if let Err(store_error) = self
            .store
            .mark_failed(delivery.id, error, next, failed)
            .await
        {
            tracing::error!(sink = %self.sink, error = %store_error, id = delivery.id, "cannot record a failed delivery");
        }
        self.recorder.outcome(delivery.seq, outcome).await;
    }

    /// Hands claimed rows back unattempted.
    pub async fn release(&self, ids: Vec<i64>) {
        if let Err(error) = self.store.release(ids).await {
            tracing::error!(sink = %self.sink, %error, "cannot release deliveries; they come back when their lease ends");
        }
    }
}

pub fn now_ms() -> i64 {
    jiff::Timestamp::now().as_millisecond()
}
