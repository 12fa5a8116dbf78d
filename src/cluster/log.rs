//! The replicated log's wiring: the pipeline's cluster backend, the relay of the spool and the
//! projection, started by the gateway in cluster mode.

use std::sync::Arc;

use async_nats::jetstream;
use tokio_util::sync::CancellationToken;

use super::projection::{self, Lag};
use super::publish::Publisher;
use super::{FenceBook, ProjectionProgress};
use crate::config::ClusterConfig;
use crate::pipeline::Pipeline;
use crate::store::ReaderPool;

/// What the log needs from the node (the lease branch's `cluster::Node` holds the same).
pub struct Parts {
    pub jetstream: jetstream::Context,
    pub node: String,
    pub fences: FenceBook,
    pub progress: ProjectionProgress,
}

/// Makes `pipeline` publish to the stream, starts the relay and the projection.
pub async fn start(
    config: &ClusterConfig,
    parts: Parts,
    pipeline: &Pipeline,
    pool: &ReaderPool,
    shutdown: &CancellationToken,
) -> anyhow::Result<()> {
    let lag = Arc::new(Lag::new(config.max_lag));
    let publisher = Publisher::new(
        parts.jetstream.clone(),
        parts.node,
        parts.fences,
        config.publish_timeout,
        parts.progress.clone(),
        lag.clone(),
    );
    pipeline.set_cluster(publisher.clone());
    tokio::spawn(super::spool::relay(
        publisher,
        pipeline.store().clone(),
        pool.clone(),
        shutdown.clone(),
    ));
    projection::start(
        projection::Context {
            jetstream: parts.jetstream,
            stream: config.stream.name.clone(),
            pipeline: pipeline.clone(),
            pool: pool.clone(),
            progress: parts.progress,
            lag,
        },
        shutdown.clone(),
    )
    .await
}

/// STOPGAP until `cluster::Node` (i22-lease) merges: connects, creates the stream if absent and
/// makes the pieces the log takes. The lead swaps this for the node's fields in one place.
pub async fn connect_parts(config: &ClusterConfig) -> anyhow::Result<Parts> {
    let client = super::connect::connect(config).await?;
    let jetstream = jetstream::new(client);
    // NATS down at startup does not stop the node: webhooks are spooled and the projection
    // waits; the stream is made as soon as NATS answers.
    if let Err(error) = super::connect::ensure_stream(&jetstream, &config.stream).await {
        tracing::warn!(
            error = format!("{error:#}"),
            "the stream is not ready yet; retrying in the background"
        );
        let (jetstream, stream) = (jetstream.clone(), config.stream.clone());
        tokio::spawn(async move {
            let mut backoff = crate::backoff::Backoff::new(
                std::time::Duration::from_millis(500),
                std::time::Duration::from_secs(10),
            );
            while super::connect::ensure_stream(&jetstream, &stream)
                .await
                .is_err()
            {
                tokio::time::sleep(backoff.next_delay()).await;
            }
            tracing::info!(stream = %stream.name, "the stream is ready");
        });
    }
    Ok(Parts {
        jetstream,
        node: config.node(),
        fences: FenceBook::default(),
        progress: ProjectionProgress::default(),
    })
}
