//! Shared sink deliveries in cluster mode: a Webex sink has one deliverer, the node holding its
//! lease `sink.<name>`, and that deliverer records every delivery in the stream
//! (`Control::Delivery`: `Inflight` before each request and confirmed by the stream before it
//! leaves, then `Delivered`, `Retry` or `Dead`), fenced with the lease's revision. Every node
//! folds the records into its own outbox rows (`store::outbox::apply_delivery`), so the next
//! deliverer knows what was delivered and what may have been posted without a confirmation
//! (`uncertain`: it looks in the room before posting again). `file` and `stdout` sinks stay
//! node-local: each node writes its own copy, and their recorder is [`DeliveryRecorder::local`].

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::Context;
use async_nats::jetstream;
use tokio::sync::watch;

use super::ProjectionProgress;
use super::wire::{self, Control, DeliveryOutcome, LeaseKey};
use crate::config::SinkConfig;

/// What a node's shared sinks publish with: the stream, who this node is, and how far its
/// projection has folded the stream (a new deliverer waits for it to catch up).
#[derive(Clone)]
pub struct ClusterDeliveries {
    pub jetstream: jetstream::Context,
    /// The stream's name (`cluster.stream.name`).
    pub stream: String,
    pub node: String,
    pub progress: ProjectionProgress,
    /// How long a record waits for the stream's acknowledgement (`cluster.publish_timeout`).
    pub publish_timeout: Duration,
}

/// The lease watch of one key: the held acquisition revision, or `None` while this node does not
/// hold it (see [`revisions`] to make one from the lease manager's watch).
pub type LeaseWatch = watch::Receiver<Option<u64>>;

type LeaseSource = Arc<dyn Fn(&LeaseKey) -> LeaseWatch + Send + Sync>;
type GateSource = Arc<dyn Fn(&LeaseKey) -> Arc<tokio::sync::Notify> + Send + Sync>;

/// The sinks' recorders of one node: which sinks share their deliveries and how to reach the
/// stream. [`DeliveryRecorders::local`] (single-node mode) gives every sink the no-op recorder.
#[derive(Clone, Default)]
pub struct DeliveryRecorders {
    cluster: Option<(Arc<ClusterDeliveries>, LeaseSource)>,
    /// Where a sink that lost its lease says that no delivery of its own is in flight any more
    /// (the lease manager's `stopped_gate`): a planned handover frees the key only then.
    gate: Option<GateSource>,
}

impl DeliveryRecorders {
    /// Single-node mode: nothing is recorded anywhere but in the store.
    pub fn local() -> DeliveryRecorders {
        DeliveryRecorders::default()
    }

    /// Cluster mode: each Webex sink delivers while `lease(sink.<name>)` says this node holds
    /// its lease.
    pub fn cluster(
        deliveries: ClusterDeliveries,
        lease: impl Fn(&LeaseKey) -> LeaseWatch + Send + Sync + 'static,
    ) -> DeliveryRecorders {
        DeliveryRecorders {
            cluster: Some((Arc::new(deliveries), Arc::new(lease))),
            gate: None,
        }
    }

    /// A planned handover of a sink's lease waits until the post this node has in flight is
    /// done (its outcome recorded), so that the next deliverer never looks in the room for a
    /// message still on its way: `gate(key)` is notified then.
    pub fn with_handover_gate(
        mut self,
        gate: impl Fn(&LeaseKey) -> Arc<tokio::sync::Notify> + Send + Sync + 'static,
    ) -> DeliveryRecorders {
        self.gate = Some(Arc::new(gate));
        self
    }

    /// Whether this sink's deliveries are shared: a Webex sink in cluster mode.
    pub fn is_shared(&self, config: &SinkConfig) -> bool {
        self.cluster.is_some() && matches!(config, SinkConfig::Webex(_))
    }

    /// The recorder of one sink: shared for a Webex sink in cluster mode, local otherwise.
    pub fn for_sink(&self, config: &SinkConfig) -> DeliveryRecorder {
        match (&self.cluster, config) {
            (Some((deliveries, lease)), SinkConfig::Webex(webex)) => {
                let key = LeaseKey::Sink(webex.name.clone());
                let shared = Arc::new(Shared {
                    deliveries: deliveries.clone(),
                    sink: webex.name.clone(),
                    fence_key: key.as_key(),
                    lease: lease(&key),
                    fence: AtomicU64::new(0),
                    delivering: Arc::new(tokio::sync::Mutex::new(())),
                });
                if let Some(gate) = &self.gate {
                    tokio::spawn(open_gate_when_idle(Arc::downgrade(&shared), gate(&key)));
                }
                DeliveryRecorder {
                    shared: Some(shared),
                }
            }
            _ => DeliveryRecorder::local(),
        }
    }

    /// Records that an operator put `sink`'s dead letter `seq` back in the queue, when the sink
    /// is shared (`Ok(false)` when it is not: its dead letters are this node's alone). Published
    /// without a fence: any node may take the request.
    pub async fn requeued(&self, config: &SinkConfig, seq: u64) -> anyhow::Result<bool> {
        let (Some((deliveries, _)), SinkConfig::Webex(webex)) = (&self.cluster, config) else {
            return Ok(false);
        };
        let control = Control::Delivery {
            sink: webex.name.clone(),
            seq,
            outcome: DeliveryOutcome::Requeued,
        };
        publish(deliveries, &control, None).await?;
        Ok(true)
    }
}

/// The lease keys of the sinks whose deliveries are shared (the Webex sinks): what the lease
/// manager competes for besides the devices.
pub fn lease_keys(sinks: &[SinkConfig]) -> Vec<LeaseKey> {
    sinks
        .iter()
        .filter_map(|sink| match sink {
            SinkConfig::Webex(webex) => Some(LeaseKey::Sink(webex.name.clone())),
            _ => None,
        })
        .collect()
}

/// A [`LeaseWatch`] that follows any watch of an optional tenure (the lease manager's
/// `Leases::watch(key)`), keeping its revision: `revisions(leases.watch(&key), |t| t.revision)`.
/// The forwarding task ends when either side is dropped.
pub fn revisions<T: Send + Sync + 'static>(
    mut tenure: watch::Receiver<Option<T>>,
    revision: impl Fn(&T) -> u64 + Send + 'static,
) -> LeaseWatch {
    let (sender, receiver) = watch::channel(tenure.borrow_and_update().as_ref().map(&revision));
    tokio::spawn(async move {
        loop {
            tokio::select! {
                changed = tenure.changed() => {
                    if changed.is_err() {
                        // The lease manager is gone: nothing is held any more.
                        sender.send_replace(None);
                        return;
                    }
                }
                () = sender.closed() => return,
            }
            let held = tenure.borrow_and_update().as_ref().map(&revision);
            sender.send_if_modified(|current| {
                let changed = *current != held;
                *current = held;
                changed
            });
        }
    });
    receiver
}

/// Why an `Inflight` record was not made: the request must not leave.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    /// This node does not hold the sink's lease (never had it, or lost it).
    #[error("this node does not hold the sink's lease")]
    NotHeld,
    /// The stream did not confirm the record in time (NATS down, no quorum, election).
    #[error("the stream did not record the delivery: {0:#}")]
    Unavailable(anyhow::Error),
}

/// What a sink's worker tells the cluster about its deliveries. A no-op in single-node mode and
/// for node-local sinks (one `Option` test per call).
#[derive(Clone, Default)]
pub struct DeliveryRecorder {
    shared: Option<Arc<Shared>>,
}

struct Shared {
    deliveries: Arc<ClusterDeliveries>,
    sink: String,
    /// `sink.<name>` as in the lease bucket, for the fence header.
    fence_key: String,
    lease: LeaseWatch,
    /// The lease revision of the latest `Inflight`: the outcome that follows is fenced with it
    /// even when the lease was lost meanwhile (the projection drops it if another node has
    /// taken the lease since; otherwise it is still the truth).
    fence: AtomicU64,
    /// Held by the worker from a row's `Inflight` to its outcome.
    delivering: Arc<tokio::sync::Mutex<()>>,
}

/// Each time the sink's lease is lost, waits until no delivery is in flight (a worker that has
/// lost the lease starts no other: its next `Inflight` is refused), then opens the handover gate.
/// Ends with the recorder (a reload makes a new one) or the lease manager.
async fn open_gate_when_idle(shared: std::sync::Weak<Shared>, gate: Arc<tokio::sync::Notify>) {
    let Some(mut lease) = shared.upgrade().map(|shared| shared.lease.clone()) else {
        return;
    };
    while lease.changed().await.is_ok() {
        if lease.borrow_and_update().is_some() {
            continue;
        }
        let Some(delivering) = shared.upgrade().map(|shared| shared.delivering.clone()) else {
            return;
        };
        let _idle = delivering.lock().await;
        gate.notify_one();
    }
}

impl DeliveryRecorder {
    /// Taken by the worker from a row's `Inflight` until its outcome is recorded (`None` when
    /// the deliveries are not shared): a planned handover of the lease waits for it.
    pub async fn delivering(&self) -> Option<tokio::sync::OwnedMutexGuard<()>> {
        match &self.shared {
            Some(shared) => Some(shared.delivering.clone().lock_owned().await),
            None => None,
        }
    }

    /// Records nothing: the sink's outbox rows are this node's alone.
    pub fn local() -> DeliveryRecorder {
        DeliveryRecorder::default()
    }

    /// The sink's lease watch when its deliveries are shared: its worker delivers only while it
    /// says held.
    pub fn lease(&self) -> Option<LeaseWatch> {
        self.shared.as_ref().map(|shared| shared.lease.clone())
    }

    /// True unless the deliveries are shared and this node does not hold the lease now.
    pub fn holds(&self) -> bool {
        self.shared
            .as_ref()
            .is_none_or(|shared| shared.lease.borrow().is_some())
    }

    /// Before a request for outbox row `seq` leaves: records it as in flight and waits for the
    /// stream to confirm, so that if this node stops before the outcome is recorded, the next
    /// deliverer knows the message may be in the room. `tenure` is the lease revision the worker
    /// took the sink over with: a lease lost, or lost and taken again since, refuses.
    pub async fn inflight(&self, seq: u64, tenure: Option<u64>) -> Result<(), RecordError> {
        let Some(shared) = &self.shared else {
            return Ok(());
        };
        let held = *shared.lease.borrow();
        let Some(revision) = held.filter(|_| held == tenure) else {
            return Err(RecordError::NotHeld);
        };
        shared.fence.store(revision, Ordering::Relaxed);
        let outcome = DeliveryOutcome::Inflight {
            node: shared.deliveries.node.clone(),
        };
        shared
            .publish(outcome, seq, Some(revision))
            .await
            .map(|_| ())
            .map_err(RecordError::Unavailable)
    }

    /// After the request: what became of row `seq`. A record that fails is logged; the row stays
    /// `uncertain` on the other nodes (the next deliverer looks in the room).
    pub async fn outcome(&self, seq: u64, outcome: DeliveryOutcome) {
        if let Some(shared) = &self.shared {
            let revision = shared.fence.load(Ordering::Relaxed);
            if let Err(error) = shared.publish(outcome, seq, Some(revision)).await {
                tracing::warn!(sink = %shared.sink, seq, error = %format!("{error:#}"), "cannot record a delivery's outcome in the stream: the next deliverer will look for it in the room");
            }
        }
    }

    /// A card the sink posted (the `webex_cards` row), so that a click reaching any node, and
    /// the next deliverer, recognize it.
    pub async fn card(&self, message_id: &str, room: &str, seq: u64) {
        if let Some(shared) = &self.shared {
            let control = Control::Card {
                message_id: message_id.to_owned(),
                sink: shared.sink.clone(),
                room: room.to_owned(),
                seq,
                created_ms: jiff::Timestamp::now().as_millisecond(),
            };
            shared.publish_logged(control).await;
        }
    }

    /// A group's thread the sink started (the `sink_threads` row), so that the next deliverer
    /// replies in it.
    pub async fn thread(&self, group: &str, message_id: &str) {
        if let Some(shared) = &self.shared {
            let control = Control::Thread {
                sink: shared.sink.clone(),
                group: group.to_owned(),
                message_id: message_id.to_owned(),
            };
            shared.publish_logged(control).await;
        }
    }

    /// A new deliverer's first step: waits until this node's projection has folded everything
    /// the stream held when the lease was taken (the previous deliverer's records included), so
    /// it claims nothing the previous one delivered and sees what it left uncertain.
    pub async fn caught_up(&self) -> anyhow::Result<()> {
        let Some(shared) = &self.shared else {
            return Ok(());
        };
        let deliveries = &shared.deliveries;
        let info = tokio::time::timeout(deliveries.publish_timeout, async {
            deliveries
                .jetstream
                .get_stream(&deliveries.stream)
                .await?
                .get_info()
                .await
                .map_err(anyhow::Error::from)
        })
        .await
        .context("the stream did not answer in time")??;
        deliveries.progress.wait_for(info.state.last_sequence).await;
        Ok(())
    }
}

impl Shared {
    async fn publish(
        &self,
        outcome: DeliveryOutcome,
        seq: u64,
        fence: Option<u64>,
    ) -> anyhow::Result<u64> {
        let state = outcome_name(&outcome);
        let control = Control::Delivery {
            sink: self.sink.clone(),
            seq,
            outcome,
        };
        let result = self.publish_control(&control, fence).await;
        let result_label = if result.is_ok() { "ok" } else { "failed" };
        metrics::counter!("netpulse_cluster_delivery_records_total", "sink" => self.sink.clone(), "state" => state, "result" => result_label).increment(1);
        result
    }

    async fn publish_logged(&self, control: Control) {
        let fence = Some(self.fence.load(Ordering::Relaxed));
        if let Err(error) = self.publish_control(&control, fence).await {
            tracing::warn!(sink = %self.sink, kind = control.kind(), error = %format!("{error:#}"), "cannot record in the stream what the sink posted: other nodes will not know it");
        }
    }

    async fn publish_control(&self, control: &Control, fence: Option<u64>) -> anyhow::Result<u64> {
        let fence = fence.map(|revision| format!("{} {revision}", self.fence_key));
        publish(&self.deliveries, control, fence).await
    }
}

/// Publishes `control` (with `fence` as its [`wire::FENCE`] header) and waits for the stream's
/// acknowledgement; its stream sequence.
async fn publish(
    deliveries: &ClusterDeliveries,
    control: &Control,
    fence: Option<String>,
) -> anyhow::Result<u64> {
    let mut headers = async_nats::HeaderMap::new();
    headers.insert(wire::NODE, deliveries.node.as_str());
    if let Some(fence) = fence {
        headers.insert(wire::FENCE, fence.as_str());
    }
    let payload = serde_json::to_vec(control).context("cannot encode a control message")?;
    let ack = tokio::time::timeout(deliveries.publish_timeout, async {
        deliveries
            .jetstream
            .publish_with_headers(control.subject(), headers, payload.into())
            .await?
            .await
            .map_err(anyhow::Error::from)
    })
    .await
    .with_context(|| {
        format!(
            "no acknowledgement from the stream within {:?}",
            deliveries.publish_timeout
        )
    })??;
    Ok(ack.sequence)
}

fn outcome_name(outcome: &DeliveryOutcome) -> &'static str {
    match outcome {
        DeliveryOutcome::Inflight { .. } => "inflight",
        DeliveryOutcome::Delivered => "delivered",
        DeliveryOutcome::Retry { .. } => "retry",
        DeliveryOutcome::Dead { .. } => "dead",
        DeliveryOutcome::Requeued => "requeued",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What the lease manager's watch carries (its `Tenure`), reduced to what matters here.
    #[derive(Clone)]
    struct Tenure {
        revision: u64,
    }

    #[tokio::test]
    async fn revisions_follow_the_tenure_and_end_as_not_held() {
        let (tenure, watch) = watch::channel(Some(Tenure { revision: 4 }));
        let mut held = revisions(watch, |tenure| tenure.revision);
        assert_eq!(*held.borrow_and_update(), Some(4));
        tenure.send_replace(None);
        held.changed().await.unwrap();
        assert_eq!(*held.borrow_and_update(), None);
        tenure.send_replace(Some(Tenure { revision: 9 }));
        held.changed().await.unwrap();
        assert_eq!(*held.borrow_and_update(), Some(9));
        drop(tenure);
        held.changed().await.unwrap();
        assert_eq!(*held.borrow(), None, "no lease manager, no lease");
    }

    #[tokio::test]
    async fn single_node_records_nothing_and_always_delivers() {
        let recorder = DeliveryRecorder::local();
        assert!(recorder.lease().is_none());
        assert!(recorder.holds());
        recorder.inflight(1, None).await.unwrap();
        recorder.outcome(1, DeliveryOutcome::Delivered).await;
        recorder.caught_up().await.unwrap();
    }

    #[test]
    fn only_webex_sinks_take_a_lease() {
        let sinks: Vec<SinkConfig> = serde_json::from_value(serde_json::json!([
            {"type": "webex", "name": "noc", "token": "t", "room_id": "r"},
            {"type": "stdout", "name": "out"},
        ]))
        .unwrap();
        assert_eq!(lease_keys(&sinks), [LeaseKey::Sink("noc".to_owned())]);
        let local = DeliveryRecorders::local();
        assert!(!local.is_shared(&sinks[0]));
    }
}
