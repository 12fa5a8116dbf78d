//! [`Node`]: this gateway as a member of a cluster, built once at start when `cluster:` is set
//! and handed to the parts that need it (ownership of sessions, publishing, the projection,
//! shared sinks).

use std::sync::Arc;

use async_nats::jetstream;

use super::lease::{LeaseContext, Leases};
use super::members::Members;
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
    /// Connects to NATS (retrying in the background while it is down), makes sure the stream
    /// and the buckets exist and starts the lease manager.
    pub async fn start(config: &ClusterConfig) -> anyhow::Result<Node> {
        let id = config.node();
        let client = nats::connect(config, &id).await?;
        Node::start_with(config, id, client).await
    }

    /// As [`start`](Self::start) with a client made elsewhere (tests cut one node's link).
    pub async fn start_with(
        config: &ClusterConfig,
        id: String,
        client: async_nats::Client,
    ) -> anyhow::Result<Node> {
        let jetstream = jetstream::new(client.clone());
        // While NATS is down (the client retries in the background), keep trying: a node must
        // come up without NATS and take its part once NATS is back.
        let (bucket, members) = loop {
            let setup = async {
                nats::ensure_stream(&jetstream, config).await?;
                let leases = nats::lease_bucket(&jetstream, config).await?;
                let members = nats::members_bucket(&jetstream, config).await?;
                anyhow::Ok((leases, members))
            };
            match setup.await {
                Ok(buckets) => break buckets,
                Err(error) => {
                    tracing::warn!(error = %format!("{error:#}"), "NATS JetStream not ready; trying again");
                    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                }
            }
        };
        let fences = FenceBook::default();
        let leases = Leases::start(LeaseContext {
            node: id.clone(),
            config: config.lease.clone(),
            jetstream: jetstream.clone(),
            bucket,
            members: Members::new(members, &id, config.advertise_url.clone()),
            fences: fences.clone(),
        });
        tracing::info!(node = %id, "cluster node started");
        Ok(Node {
            id,
            client,
            jetstream,
            leases,
            fences,
            projection: ProjectionProgress::default(),
            config: Arc::new(config.clone()),
        })
    }
}
