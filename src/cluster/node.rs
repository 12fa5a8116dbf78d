//! [`Node`]: this gateway as a member of a cluster, built once at start when `cluster:` is set
//! and handed to the parts that need it (ownership of sessions, publishing, the projection,
//! shared sinks).

use std::sync::Arc;

use async_nats::jetstream;

use super::lease::{LeaseContext, Leases};
use super::{FenceBook, ProjectionProgress, nats};
use crate::config::ClusterConfig;

/// One node of the cluster. Cheap to clone.
#[derive(Clone)]
pub struct Node {
    /// This node's id (`cluster.node_id`, else the host name).
    pub id: String,
    pub client: async_nats::Client,
    pub jetstream: jetstream::Context,
    pub leases: Leases,
    pub fences: FenceBook,
    pub projection: ProjectionProgress,
    pub config: Arc<ClusterConfig>,
}

/// How long a node's start waits for the stream to be made.
const STREAM_AT_START: std::time::Duration = std::time::Duration::from_secs(5);

impl Node {
    /// Connects to NATS and starts the lease manager, which makes sure the stream and the
    /// buckets exist. Neither waits for NATS: while it is down the client retries in the
    /// background and this node holds no lease.
    pub async fn start(config: &ClusterConfig) -> anyhow::Result<Node> {
        let id = config.node();
        let client = nats::connect(config, &id).await?;
        // Make the stream before the first webhook, when NATS answers (otherwise the first
        // events all go through the spool), and before the lease manager, which would make it
        // at the same moment (two creations at once both wait ~10 s for an answer). NATS down
        // at startup does not stop the node: the manager makes the stream once NATS answers,
        // and events are spooled meanwhile.
        let jetstream = jetstream::new(client.clone());
        match tokio::time::timeout(STREAM_AT_START, nats::ensure_stream(&jetstream, config)).await {
            Ok(Ok(())) => {}
            Ok(Err(error)) => tracing::warn!(
                error = format!("{error:#}"),
                "the stream is not ready yet; events are spooled until it is"
            ),
            Err(_) => tracing::warn!(
                after = ?STREAM_AT_START,
                "NATS did not answer; events are spooled until the stream is ready"
            ),
        }
        Ok(Node::start_with(config, id, client))
    }

    /// As [`start`](Self::start) with a client made elsewhere (tests cut one node's link).
    pub fn start_with(config: &ClusterConfig, id: String, client: async_nats::Client) -> Node {
        let jetstream = jetstream::new(client.clone());
        let config = Arc::new(config.clone());
        let fences = FenceBook::default();
        let leases = Leases::start(LeaseContext {
            node: id.clone(),
            config: config.clone(),
            jetstream: jetstream.clone(),
            fences: fences.clone(),
        });
        tracing::info!(node = %id, "cluster node started");
        Node {
            id,
            client,
            jetstream,
            leases,
            fences,
            projection: ProjectionProgress::default(),
            config,
        }
    }
}
