//! Cluster membership: each node puts its heartbeat ([`MemberValue`]) under its id in the
//! members bucket every `lease.renew`; the bucket's `max_age` (`lease.member_ttl`) drops a node
//! that stopped. The live members are the keys present.

use std::collections::HashMap;
use std::time::Duration;

use anyhow::Context as _;
use async_nats::jetstream::kv;
use futures_util::StreamExt as _;
use tokio::time::Instant;

use super::wire::MemberValue;

/// This node's view of the members bucket.
pub struct Members {
    bucket: kv::Store,
    node: String,
    value: MemberValue,
    /// When this node first saw each live member (monotonic): a preferred member takes keys
    /// over by planned handover only once it has been live for a while.
    first_seen: HashMap<String, Instant>,
    live: Vec<MemberValue>,
}

impl Members {
    pub fn new(bucket: kv::Store, node: &str, api_url: Option<String>) -> Members {
        Members {
            bucket,
            node: node.to_owned(),
            value: MemberValue {
                node: node.to_owned(),
                api_url,
                version: env!("CARGO_PKG_VERSION").to_owned(),
                started_ms: jiff::Timestamp::now().as_millisecond(),
                leases: 0,
            },
            first_seen: HashMap::new(),
            live: Vec::new(),
        }
    }

    /// Puts this node's heartbeat, with the number of leases it holds.
    pub async fn heartbeat(&mut self, leases: u32) -> anyhow::Result<()> {
        self.value.leases = leases;
        let value = serde_json::to_vec(&self.value)?;
        self.bucket
            .put(&self.node, value.into())
            .await
            .context("cannot put the member heartbeat")?;
        Ok(())
    }

    /// Reads the live members again (keys present in the bucket, with their heartbeats).
    pub async fn refresh(&mut self) -> anyhow::Result<()> {
        let mut keys = self
            .bucket
            .keys()
            .await
            .context("cannot list the members")?;
        let mut live = Vec::new();
        while let Some(key) = keys.next().await {
            let key = key.context("cannot list the members")?;
            let Some(entry) = self.bucket.entry(key.clone()).await? else {
                continue;
            };
            if entry.operation != kv::Operation::Put {
                continue;
            }
            match serde_json::from_slice::<MemberValue>(&entry.value) {
                Ok(value) => live.push(value),
                Err(error) => tracing::warn!(member = %key, %error, "unreadable member heartbeat"),
            }
        }
        live.sort_by(|a, b| a.node.cmp(&b.node));
        let now = Instant::now();
        self.first_seen
            .retain(|node, _| live.iter().any(|member| &member.node == node));
        for member in &live {
            self.first_seen.entry(member.node.clone()).or_insert(now);
        }
        metrics::gauge!("netpulse_cluster_members").set(live.len() as f64);
        self.live = live;
        Ok(())
    }

    /// The live members' node ids, this node always among them (its own heartbeat may not be
    /// visible yet, and a node that ranks keys must rank itself).
    pub fn live_nodes(&self) -> Vec<&str> {
        let mut nodes: Vec<&str> = self
            .live
            .iter()
            .map(|member| member.node.as_str())
            .collect();
        if !nodes.contains(&self.node.as_str()) {
            nodes.push(&self.node);
        }
        nodes
    }

    /// Whether `node` has been seen live for at least `age`.
    pub fn settled(&self, node: &str, age: Duration) -> bool {
        self.first_seen
            .get(node)
            .is_some_and(|seen| seen.elapsed() >= age)
    }

    /// The last heartbeats read.
    pub fn heartbeats(&self) -> &[MemberValue] {
        &self.live
    }

    /// Removes this node's heartbeat (a clean stop: the others need not wait for its expiry).
    pub async fn leave(&self) {
        if let Err(error) = self.bucket.delete(&self.node).await {
            tracing::warn!(%error, "cannot remove the member heartbeat");
        }
    }
}
