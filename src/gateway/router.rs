//! The alerting router: reads the store's log after its cursor, feeds each event to the
//! `route::Engine`, and commits what the engine decided (state rows, decisions, notification
//! events with their outbox rows, operator events) in one transaction; then wakes the sinks.
//! Sleeps until new events are committed or the engine's next deadline.

use std::sync::Arc;

use tokio::sync::{Notify, watch};

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
