//! Starting and stopping one sink: each runs with its own drain token (a child of the gateway's),
//! so that a reload can stop one sink while the others keep delivering.

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::cluster::sinks::DeliveryRecorders;
use crate::config::SinkConfig;
use crate::operator::Operator;
use crate::pipeline::Pipeline;
use crate::sink::{self, Outbox, SinkHandle};

/// How long a reload waits for a stopped sink to write what is due and end.
const STOP_TIMEOUT: Duration = Duration::from_secs(10);

/// A sink as the gateway runs it.
pub(super) struct RunningSink {
    pub config: SinkConfig,
    pub handle: SinkHandle,
    drain: CancellationToken,
}

/// Starts a sink on its outbox: deliveries a previous run had claimed are offered again first.
/// `operator` (built from the gateway's pipeline and router) is what a Webex sink's room acts
/// through; `recorders` says whether its deliveries are shared with the cluster's other nodes.
pub(super) async fn start(
    config: &SinkConfig,
    pipeline: &Pipeline,
    operator: &Operator,
    recorders: &DeliveryRecorders,
    drain: &CancellationToken,
) -> anyhow::Result<RunningSink> {
    let name = config.name();
    let store = pipeline.store();
    let recovered = store.recover_leases(name).await?;
    if recovered > 0 {
        tracing::warn!(
            sink = name,
            deliveries = recovered,
            "deliveries in flight when netpulse last stopped are retried"
        );
    }
    let drain = drain.child_token();
    let outbox = Outbox {
        store: store.clone(),
        sink: name.to_owned(),
        waker: pipeline.waker(name),
        drain: drain.clone(),
        linger: sink::linger(config),
        recorder: recorders.for_sink(config),
    };
    Ok(RunningSink {
        config: config.clone(),
        handle: sink::spawn(config, outbox, Some(operator.clone()))?,
        drain,
    })
}

impl RunningSink {
    /// Lets the sink write what is due and end (its undelivered rows stay in the outbox).
    pub async fn stop(self) {
        self.drain.cancel();
        let name = self.handle.name;
        match tokio::time::timeout(STOP_TIMEOUT, self.handle.task).await {
            Ok(Ok(())) => {}
            Ok(Err(error)) => tracing::error!(sink = %name, %error, "sink task failed"),
            Err(_) => {
                tracing::warn!(sink = %name, "the stopped sink did not end in time; it ends in the background")
            }
        }
    }

    /// Waits for the sink to end after the gateway's drain.
    pub async fn wait(self) {
        if let Err(error) = self.handle.task.await {
            tracing::error!(sink = %self.handle.name, %error, "sink task failed");
        }
    }
}
