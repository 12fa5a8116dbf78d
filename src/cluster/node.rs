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

impl Node {
    /// Connects to NATS and starts the lease manager, which makes sure the stream and the
    /// buckets exist. Neither waits for NATS: while it is down the client retries in the
    /// background and this node holds no lease.
    pub async fn start(config: &ClusterConfig) -> anyhow::Result<Node> {
        let id = config.node();
        let client = nats::connect(config, &id).await?;
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
