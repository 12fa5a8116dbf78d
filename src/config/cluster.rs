//! `cluster:`: several netpulse nodes sharing one NATS JetStream cluster. Without the section
//! nothing changes (one node, the embedded store). With it, every device session is owned by one
//! node through a lease, every node publishes its events to one replicated stream and projects
//! the stream into its own store, and the sinks' deliveries are shared. See ARCHITECTURE.md
//! ("Cluster mode").

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use super::{Problems, Secret};
use crate::duration::serde_duration;

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterConfig {
    /// This node's name, unique in the cluster (`[A-Za-z0-9_-]`, at most 64 characters). The
    /// lease values and `/api/v1/cluster` name nodes by it. Default: the host name.
    #[serde(default)]
    pub node_id: Option<String>,
    /// Where other nodes and operators reach this node's API (shown in `/api/v1/cluster`).
    #[serde(default)]
    pub advertise_url: Option<String>,
    pub nats: NatsConfig,
    #[serde(default)]
    pub lease: LeaseConfig,
    /// How long a webhook waits for the stream to confirm its event before the node keeps it in
    /// its local spool and answers 2xx anyway (providers time out after a few seconds; a NATS
    /// leader election stalls writes for 3 to 8 s on this machine).
    #[serde(default = "default_publish_timeout", with = "serde_duration")]
    pub publish_timeout: Duration,
    #[serde(default)]
    pub stream: StreamConfig,
    /// A node whose projection is more than this many stream messages behind answers
    /// `/readyz` with 503 (a load balancer sends feeds and queries elsewhere).
    #[serde(default = "default_max_lag")]
    pub max_lag: u64,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NatsConfig {
    /// `nats://host:port` or `tls://host:port`, one per server; the client fails over between them.
    pub urls: Vec<String>,
    /// A `.creds` file (JWT and NKey seed) for decentralized auth.
    #[serde(default)]
    pub credentials_file: Option<PathBuf>,
    #[serde(default)]
    pub user: Option<String>,
    #[serde(default)]
    pub password: Option<Secret>,
    #[serde(default)]
    pub token: Option<Secret>,
    #[serde(default)]
    pub tls: Option<NatsTls>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NatsTls {
    /// PEM file with the CA that signed the servers' certificates (default: the system roots).
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// Client certificate and key, for servers that verify clients.
    #[serde(default)]
    pub cert_file: Option<PathBuf>,
    #[serde(default)]
    pub key_file: Option<PathBuf>,
}

/// Lease timing. An owner's renewals must survive a NATS leader election: the writes to the
/// lease bucket stall while the cluster elects a new leader (measured 6.8 to 7.8 s with
/// nats-server 2.15.1, three servers on one loaded machine, killing the bucket's leader:
/// `cargo test --lib cluster::tests::killing -- --nocapture`; 3.4 to 4.4 s unloaded). A stall
/// just after a renewal costs the owner up to `self_fence - renew` (12 s by default) before it
/// fences itself, so the defaults ride out such an election without moving any device; the
/// price is that a crashed node's devices wait up to `ttl + poll` (22 s) for a new owner.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LeaseConfig {
    /// A lease not renewed for this long expires in NATS (the bucket's `max_age`).
    #[serde(default = "default_ttl", with = "serde_duration")]
    pub ttl: Duration,
    /// How often an owner renews (compare-and-set on the lease's revision).
    #[serde(default = "default_renew", with = "serde_duration")]
    pub renew: Duration,
    /// An owner that has not renewed for this long (its monotonic clock, from the send time of
    /// its last successful renewal) stops its sessions: before the TTL, so no other node can hold
    /// the lease while it still runs them.
    #[serde(default = "default_self_fence", with = "serde_duration")]
    pub self_fence: Duration,
    /// How often a node looks for leases it should take (absent or expired keys).
    #[serde(default = "default_poll", with = "serde_duration")]
    pub poll: Duration,
    /// A member that has not sent a heartbeat for this long is no longer live.
    #[serde(default = "default_member_ttl", with = "serde_duration")]
    pub member_ttl: Duration,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StreamConfig {
    /// The events stream's name (subjects `np.ev.>` and `np.ctl.>`).
    #[serde(default = "default_stream_name")]
    pub name: String,
    /// Copies of the stream and of the key-value buckets (3 for a three-server NATS cluster).
    #[serde(default = "default_replicas")]
    pub replicas: usize,
    /// The stream drops a message whose `Nats-Msg-Id` it has seen within this window.
    #[serde(default = "default_duplicate_window", with = "serde_duration")]
    pub duplicate_window: Duration,
    /// How long the stream keeps messages (a node that was away longer rebuilds from its peers'
    /// history only up to this).
    #[serde(default = "default_max_age", with = "serde_duration")]
    pub max_age: Duration,
}

impl Default for LeaseConfig {
    fn default() -> LeaseConfig {
        LeaseConfig {
            ttl: default_ttl(),
            renew: default_renew(),
            self_fence: default_self_fence(),
            poll: default_poll(),
            member_ttl: default_member_ttl(),
        }
    }
}

impl Default for StreamConfig {
    fn default() -> StreamConfig {
        StreamConfig {
            name: default_stream_name(),
            replicas: default_replicas(),
            duplicate_window: default_duplicate_window(),
            max_age: default_max_age(),
        }
    }
}

fn default_publish_timeout() -> Duration {
    Duration::from_secs(1)
}
fn default_max_lag() -> u64 {
    10_000
}
fn default_ttl() -> Duration {
    Duration::from_secs(20)
}
fn default_renew() -> Duration {
    Duration::from_secs(4)
}
fn default_self_fence() -> Duration {
    Duration::from_secs(16)
}
fn default_poll() -> Duration {
    Duration::from_secs(2)
}
fn default_member_ttl() -> Duration {
    Duration::from_secs(20)
}
fn default_stream_name() -> String {
    "NP_EVENTS".to_owned()
}
fn default_replicas() -> usize {
    3
}
fn default_duplicate_window() -> Duration {
    Duration::from_secs(600)
}
fn default_max_age() -> Duration {
    Duration::from_secs(7 * 24 * 3600)
}

impl ClusterConfig {
    /// This node's id: `node_id`, else the host name.
    pub fn node(&self) -> String {
        self.node_id.clone().unwrap_or_else(|| {
            std::fs::read_to_string("/proc/sys/kernel/hostname")
                .map(|name| name.trim().to_owned())
                .unwrap_or_else(|_| "netpulse".to_owned())
        })
    }

    pub(crate) fn validate(&self, problems: &mut Problems) {
        self.nats.validate(problems);
        if let Some(node) = &self.node_id
            && (node.is_empty()
                || node.len() > 64
                || !node
                    .bytes()
                    .all(|byte| byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'_'))
        {
            problems.push("cluster.node_id", "use 1 to 64 letters, digits, '-' or '_'");
        }
        let lease = &self.lease;
        if !(lease.renew < lease.self_fence && lease.self_fence < lease.ttl) {
            problems.push(
                "cluster.lease",
                "renew < self_fence < ttl is required: an owner must stop its sessions before its lease can expire",
            );
        }
        if lease.poll.is_zero() || lease.poll > lease.ttl {
            problems.push(
                "cluster.lease.poll",
                "must be above 0 and at most ttl: a node looks for expired leases this often",
            );
        }
        if lease.member_ttl <= lease.renew {
            problems.push(
                "cluster.lease.member_ttl",
                "must be longer than renew (the heartbeat period), or live members drop out between heartbeats",
            );
        }
        if self.stream.replicas == 0 || self.stream.replicas > 5 {
            problems.push("cluster.stream.replicas", "must be 1 to 5");
        }
    }
}

impl NatsConfig {
    fn validate(&self, problems: &mut Problems) {
        if self.urls.is_empty() {
            problems.push("cluster.nats.urls", "name at least one NATS server");
        }
        for (index, url) in self.urls.iter().enumerate() {
            if url.parse::<async_nats::ServerAddr>().is_err() {
                problems.push(
                    &format!("cluster.nats.urls[{index}]"),
                    format!("{url:?} is not a NATS server address: write nats://host:4222 or tls://host:4222"),
                );
            }
        }
        if self.user.is_some() != self.password.is_some() {
            problems.push(
                "cluster.nats",
                "user and password go together: set both or neither",
            );
        }
        let methods = [
            self.credentials_file.is_some(),
            self.user.is_some() || self.password.is_some(),
            self.token.is_some(),
        ];
        if methods.into_iter().filter(|set| *set).count() > 1 {
            problems.push(
                "cluster.nats",
                "choose one way to authenticate: credentials_file, user and password, or token",
            );
        }
        if let Some(tls) = &self.tls
            && tls.cert_file.is_some() != tls.key_file.is_some()
        {
            problems.push(
                "cluster.nats.tls",
                "cert_file and key_file go together: set both or neither",
            );
        }
    }
}
