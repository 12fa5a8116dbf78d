//! Cluster mode (`cluster:`): several netpulse nodes on one NATS JetStream cluster.
//!
//! - `wire` — what travels in NATS: the stream's subjects and headers, the payload of an event
//!   and of each control message, the lease keys (the contract every other part follows).
//! - `sinks` — shared sink deliveries: a Webex sink delivers on the node holding its lease and
//!   records each delivery in the stream (`DeliveryRecorder`).
//! - `local` — `LocalNats`: nats-server processes on loopback for tests, benchmarks and trying a
//!   cluster on one machine.
//!
//! The parts that follow (leases and members, publishing and the spool, the projection into the
//! node's own store, shared sink deliveries) are described in ARCHITECTURE.md, "Cluster mode".

pub mod local;
pub mod sinks;
pub mod wire;

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use tokio::sync::watch;

use self::wire::LeaseKey;

/// The leases this node holds now, by key: the acquisition revision that fences what it
/// publishes. Written by the lease manager, read by the publisher (every device event and
/// delivery record carries its key's revision in [`wire::FENCE`]). A key absent here is not
/// this node's: what it still produces for it is published without a fence and dropped by
/// the projection if a fence exists for the key.
#[derive(Clone, Default)]
pub struct FenceBook {
    held: Arc<RwLock<HashMap<LeaseKey, u64>>>,
}

impl FenceBook {
    pub fn set(&self, key: LeaseKey, revision: u64) {
        self.held.write().expect("fence lock").insert(key, revision);
    }

    pub fn remove(&self, key: &LeaseKey) {
        self.held.write().expect("fence lock").remove(key);
    }

    pub fn get(&self, key: &LeaseKey) -> Option<u64> {
        self.held.read().expect("fence lock").get(key).copied()
    }

    pub fn keys(&self) -> Vec<LeaseKey> {
        self.held
            .read()
            .expect("fence lock")
            .keys()
            .cloned()
            .collect()
    }
}

/// How far this node's projection has folded the stream into its store (the last stream
/// sequence applied). Written by the projection, awaited by a new owner before it starts a
/// session (its view must include everything the previous owner reported).
#[derive(Clone)]
pub struct ProjectionProgress {
    applied: Arc<watch::Sender<u64>>,
}

impl Default for ProjectionProgress {
    fn default() -> ProjectionProgress {
        ProjectionProgress {
            applied: Arc::new(watch::channel(0).0),
        }
    }
}

impl ProjectionProgress {
    pub fn set(&self, seq: u64) {
        self.applied.send_if_modified(|applied| {
            let newer = seq > *applied;
            if newer {
                *applied = seq;
            }
            newer
        });
    }

    pub fn applied(&self) -> u64 {
        *self.applied.borrow()
    }

    /// Resolves once the stream has been applied up to `seq` (at once if it has).
    pub async fn wait_for(&self, seq: u64) {
        let mut receiver = self.applied.subscribe();
        let _ = receiver.wait_for(|applied| *applied >= seq).await;
    }
}
