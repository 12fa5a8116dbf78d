//! [`Leases`]: the lease manager, one task per node. It holds the `dev.*` and `sink.*` keys of
//! the lease bucket this node should hold (rendezvous placement over the live members):
//! acquires an absent key with `create` (its revision is the fencing token), announces it with
//! [`Control::Lease`] confirmed by the stream, renews by compare-and-set, hands a key over to
//! its preferred member, and stops using a key it could not renew for `lease.self_fence` (a
//! watchdog on the monotonic clock, independent of NATS calls that hang).

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use std::time::Duration;

use async_nats::jetstream::{self, kv};
use serde::Serialize;
use tokio::sync::watch;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

mod manager;

use self::manager::Manager;
use super::FenceBook;
use super::members::Members;
use super::wire::{LeaseKey, MemberValue};
use crate::config::{ClusterConfig, LeaseConfig};

/// A tenure: this node holds a key from the acquisition revision on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tenure {
    /// The revision `create` returned: the fencing token of everything published under it.
    pub revision: u64,
    /// The stream sequence of the [`Control::Lease`] that announced it: a session starts once
    /// the node's projection has applied it (and so everything the previous owner published).
    pub control_seq: u64,
    pub acquired_ms: i64,
}

/// One lease as this node last read it (`GET /api/v1/cluster`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LeaseRecord {
    pub key: String,
    /// The holding node; `None` while nobody holds it.
    pub owner: Option<String>,
    pub revision: Option<u64>,
    /// When the holder acquired it (RFC 3339).
    pub since: Option<String>,
}

/// What the manager last saw: members and every wanted lease.
#[derive(Debug, Clone, Default, Serialize)]
pub struct View {
    pub members: Vec<MemberValue>,
    pub leases: Vec<LeaseRecord>,
}

struct Held {
    /// The key's latest revision (compare-and-set of the next renewal).
    revision: u64,
    tenure: Tenure,
    /// Send time of the last renewal that succeeded (or of the `create`).
    renewed: Instant,
}

struct Shared {
    node: String,
    config: LeaseConfig,
    fences: FenceBook,
    held: Mutex<HashMap<LeaseKey, Held>>,
    tenures: Mutex<HashMap<LeaseKey, watch::Sender<Option<Tenure>>>>,
    /// Keys whose holder runs something that must end before the key is handed over: their
    /// follower signals here once it has (see [`Leases::stopped_gate`]).
    gates: Mutex<HashMap<LeaseKey, Arc<tokio::sync::Notify>>>,
    wanted: watch::Sender<BTreeSet<LeaseKey>>,
    view: RwLock<View>,
    /// Ends the manager (no key is acquired or renewed any more).
    stop: CancellationToken,
    tasks: Mutex<Vec<tokio::task::JoinHandle<()>>>,
}

/// The lease manager's handle; clones share it.
#[derive(Clone)]
pub struct Leases {
    shared: Arc<Shared>,
    /// The lease bucket, once NATS answered (the manager makes it at its start, retrying while
    /// NATS is down, so a node starts without NATS).
    bucket: Arc<OnceLock<kv::Store>>,
    members: Arc<tokio::sync::Mutex<Option<Members>>>,
}

/// What the manager needs.
pub struct LeaseContext {
    pub node: String,
    pub config: Arc<ClusterConfig>,
    pub jetstream: jetstream::Context,
    pub fences: FenceBook,
}

impl Leases {
    /// Starts the manager (holding nothing until [`set_wanted`](Self::set_wanted)).
    pub fn start(context: LeaseContext) -> Leases {
        let shared = Arc::new(Shared {
            node: context.node,
            config: context.config.lease.clone(),
            fences: context.fences,
            held: Mutex::default(),
            tenures: Mutex::default(),
            gates: Mutex::default(),
            wanted: watch::channel(BTreeSet::new()).0,
            view: RwLock::default(),
            stop: CancellationToken::new(),
            tasks: Mutex::default(),
        });
        let leases = Leases {
            shared: shared.clone(),
            bucket: Arc::default(),
            members: Arc::default(),
        };
        let manager = Manager {
            leases: leases.clone(),
            cluster: context.config,
            jetstream: context.jetstream,
            absent_since: HashMap::new(),
            last_heartbeat: None,
            bucket: None,
            handed_over: HashMap::new(),
        };
        let watchdog = tokio::spawn(watchdog(shared.clone()));
        let task = tokio::spawn(manager.run());
        shared.tasks.lock().expect("tasks").extend([watchdog, task]);
        leases
    }

    pub fn node(&self) -> &str {
        &self.shared.node
    }

    /// The keys this node competes for (every node is given the same set by the shared
    /// configuration). A held key no longer wanted is released.
    pub fn set_wanted(&self, keys: impl IntoIterator<Item = LeaseKey>) {
        self.shared.wanted.send_replace(keys.into_iter().collect());
    }

    /// Replaces the wanted `dev.*` keys only (the session sources; the sinks' keys stay).
    pub fn set_wanted_devices(&self, keys: impl IntoIterator<Item = LeaseKey>) {
        self.replace_kind(keys, |key| matches!(key, LeaseKey::Device(_)));
    }

    /// Replaces the wanted `sink.*` keys only.
    pub fn set_wanted_sinks(&self, keys: impl IntoIterator<Item = LeaseKey>) {
        self.replace_kind(keys, |key| matches!(key, LeaseKey::Sink(_)));
    }

    fn replace_kind(&self, keys: impl IntoIterator<Item = LeaseKey>, kind: fn(&LeaseKey) -> bool) {
        let keys: Vec<LeaseKey> = keys.into_iter().collect();
        self.shared.wanted.send_modify(|wanted| {
            wanted.retain(|key| !kind(key));
            wanted.extend(keys.into_iter().filter(kind));
        });
    }

    /// This node's tenure of `key`, now and as it changes.
    pub fn watch(&self, key: &LeaseKey) -> watch::Receiver<Option<Tenure>> {
        let mut tenures = self.shared.tenures.lock().expect("tenures");
        tenures
            .entry(key.clone())
            .or_insert_with(|| watch::channel(None).0)
            .subscribe()
    }

    /// For what follows `key`'s tenure (a device session): notify the returned gate once the
    /// session has ended after the tenure did. A planned handover deletes the key only then
    /// (at most `self_fence` later), so the next owner never logs in beside a session still
    /// logging out.
    pub fn stopped_gate(&self, key: &LeaseKey) -> Arc<tokio::sync::Notify> {
        let mut gates = self.shared.gates.lock().expect("gates");
        gates.entry(key.clone()).or_default().clone()
    }

    pub fn tenure(&self, key: &LeaseKey) -> Option<Tenure> {
        let held = self.shared.held.lock().expect("held");
        held.get(key).map(|held| held.tenure.clone())
    }

    /// The keys held now.
    pub fn held(&self) -> Vec<LeaseKey> {
        let mut keys: Vec<LeaseKey> = self
            .shared
            .held
            .lock()
            .expect("held")
            .keys()
            .cloned()
            .collect();
        keys.sort();
        keys
    }

    /// Members and leases as last read.
    pub fn view(&self) -> View {
        self.shared.view.read().expect("view").clone()
    }

    /// A clean stop: no more acquisitions or renewals; every held key is given up (tenures end,
    /// so the sessions stop) and deleted with its revision, and this node leaves the members, so
    /// the others take over within a poll instead of a TTL.
    pub async fn release_all(&self) {
        self.shared.stop.cancel();
        let tasks: Vec<_> = self.shared.tasks.lock().expect("tasks").drain(..).collect();
        for task in tasks {
            let _ = task.await;
        }
        let held: Vec<(LeaseKey, u64)> = {
            let held = self.shared.held.lock().expect("held");
            held.iter()
                .map(|(key, held)| (key.clone(), held.revision))
                .collect()
        };
        let Some(bucket) = self.bucket.get() else {
            return;
        };
        for (key, revision) in held {
            self.shared.give_up(&key, "released");
            if let Err(error) = bucket
                .delete_expect_revision(key.as_key(), Some(revision))
                .await
            {
                tracing::warn!(key = %key.as_key(), %error, "cannot release the lease; it expires after its TTL");
            }
        }
        if let Some(members) = self.members.lock().await.as_ref() {
            members.leave().await;
        }
    }

    /// Ends the manager at once without releasing anything, as if the process died (tests).
    pub fn abort(&self) {
        self.shared.stop.cancel();
        for task in self.shared.tasks.lock().expect("tasks").drain(..) {
            task.abort();
        }
    }
}

impl Shared {
    /// This node stops using `key` at once: its tenure ends and its fence is removed.
    fn give_up(&self, key: &LeaseKey, reason: &'static str) {
        let held = {
            let mut held = self.held.lock().expect("held");
            if held.remove(key).is_none() {
                return;
            }
            held.len()
        };
        self.fences.remove(key);
        self.announce(key, None);
        metrics::gauge!("netpulse_cluster_leases_held").set(held as f64);
        if reason != "released" {
            metrics::counter!("netpulse_cluster_lease_lost_total", "reason" => reason).increment(1);
        }
        tracing::info!(node = %self.node, key = %key.as_key(), reason, "lease given up");
    }

    fn take(&self, key: LeaseKey, revision: u64, tenure: Tenure, sent: Instant) {
        self.fences.set(key.clone(), tenure.revision);
        let held = {
            let mut held = self.held.lock().expect("held");
            held.insert(
                key.clone(),
                Held {
                    revision,
                    tenure: tenure.clone(),
                    renewed: sent,
                },
            );
            held.len()
        };
        self.announce(&key, Some(tenure));
        metrics::gauge!("netpulse_cluster_leases_held").set(held as f64);
        metrics::counter!("netpulse_cluster_lease_acquired_total").increment(1);
    }

    fn announce(&self, key: &LeaseKey, tenure: Option<Tenure>) {
        let mut tenures = self.tenures.lock().expect("tenures");
        tenures
            .entry(key.clone())
            .or_insert_with(|| watch::channel(None).0)
            .send_replace(tenure);
    }
}

/// Self-fencing on the monotonic clock: a key whose last successful renewal was sent more than
/// `self_fence` ago is given up, whatever the manager's NATS calls are doing.
async fn watchdog(shared: Arc<Shared>) {
    let period = (shared.config.self_fence / 20)
        .clamp(Duration::from_millis(10), Duration::from_millis(250));
    let mut ticker = tokio::time::interval(period);
    loop {
        ticker.tick().await;
        let expired: Vec<LeaseKey> = {
            let held = shared.held.lock().expect("held");
            held.iter()
                .filter(|(_, held)| held.renewed.elapsed() >= shared.config.self_fence)
                .map(|(key, _)| key.clone())
                .collect()
        };
        for key in expired {
            tracing::warn!(node = %shared.node, key = %key.as_key(), "no lease renewal succeeded within cluster.lease.self_fence: stopping its session");
            shared.give_up(&key, "self_fenced");
        }
        if shared.stop.is_cancelled() {
            return;
        }
    }
}
