//! The replicated log's wiring: the pipeline's cluster backend, the relay of the spool and the
//! projection, started by the gateway in cluster mode.

use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use super::Node;
use super::projection::{self, Lag};
use super::publish::Publisher;
use crate::pipeline::Pipeline;
use crate::store::ReaderPool;

/// Makes `pipeline` publish to the stream, starts the relay and the projection.
pub async fn start(
    node: &Node,
    pipeline: &Pipeline,
    pool: &ReaderPool,
    shutdown: &CancellationToken,
) -> anyhow::Result<()> {
    let config = &node.config;
    let lag = Arc::new(Lag::new(config.max_lag));
    let publisher = Publisher::new(
        node.jetstream.clone(),
        node.id.clone(),
        node.fences.clone(),
        config.publish_timeout,
        node.projection.clone(),
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
            jetstream: node.jetstream.clone(),
            stream: config.stream.name.clone(),
            pipeline: pipeline.clone(),
            pool: pool.clone(),
            progress: node.projection.clone(),
            lag,
        },
        shutdown.clone(),
    )
    .await
}
