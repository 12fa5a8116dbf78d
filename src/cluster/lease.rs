//! [`Leases`]: the lease manager, one task per node. It holds the `dev.*` and `sink.*` keys of
//! the lease bucket this node should hold (rendezvous placement over the live members):
//! acquires an absent key with `create` (its revision is the fencing token), announces it with
//! [`Control::Lease`] confirmed by the stream, renews by compare-and-set, hands a key over to
//! its preferred member, and stops using a key it could not renew for `lease.self_fence` (a
//! watchdog on the monotonic clock, independent of NATS calls that hang).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use std::time::Duration;

use async_nats::jetstream::{self, kv};
use futures_util::StreamExt as _;
use serde::Serialize;
use tokio::sync::watch;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::FenceBook;
use super::members::Members;
use super::wire::{Control, LeaseKey, LeaseValue, MemberValue, NODE};
use super::{nats, rendezvous};
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

struct Manager {
    leases: Leases,
    cluster: Arc<ClusterConfig>,
    jetstream: jetstream::Context,
    /// When this node first found each wanted key absent (rank r waits r × poll from there).
    absent_since: HashMap<LeaseKey, Instant>,
    last_heartbeat: Option<Instant>,
    bucket: Option<kv::Store>,
    /// When this node last handed each key over: it does not hand the same key over again for
    /// a while (a preferred member that does not want the key, with another configuration
    /// during a rolling change, would otherwise make it bounce every round).
    handed_over: HashMap<LeaseKey, Instant>,
}

/// What one key needs this round.
enum Step {
    Renew(u64),
    Check,
    HandOver(u64),
    Release(u64),
}

impl Manager {
    /// The stream and the buckets, retried while NATS is down.
    async fn setup(&self) -> Option<kv::Store> {
        loop {
            let setup = async {
                nats::ensure_stream(&self.jetstream, &self.cluster).await?;
                let leases = nats::lease_bucket(&self.jetstream, &self.cluster).await?;
                let members = nats::members_bucket(&self.jetstream, &self.cluster).await?;
                anyhow::Ok((leases, members))
            };
            let outcome = tokio::select! {
                () = self.leases.shared.stop.cancelled() => return None,
                outcome = setup => outcome,
            };
            match outcome {
                Ok((leases, members)) => {
                    let node = &self.leases.shared.node;
                    *self.leases.members.lock().await = Some(Members::new(
                        members,
                        node,
                        self.cluster.advertise_url.clone(),
                    ));
                    return Some(self.leases.bucket.get_or_init(|| leases).clone());
                }
                Err(error) => {
                    tracing::warn!(error = %format!("{error:#}"), "NATS JetStream not ready; trying again");
                    // Nodes started together would otherwise keep colliding on the same creation.
                    let jitter = rendezvous::weight("setup", &self.leases.shared.node) % 1000;
                    tokio::time::sleep(Duration::from_millis(500 + jitter)).await;
                }
            }
        }
    }

    async fn run(mut self) {
        let Some(bucket) = self.setup().await else {
            return;
        };
        self.bucket = Some(bucket);
        let config = self.leases.shared.config.clone();
        let period = config.poll.min(config.renew);
        let mut ticker = tokio::time::interval(period);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = self.leases.shared.stop.cancelled() => return,
                _ = ticker.tick() => {}
            }
            // One round must not outlast the renew period (a hanging call is retried next round;
            // the watchdog fences meanwhile).
            let round = self.round();
            if tokio::time::timeout(config.renew.max(period), round)
                .await
                .is_err()
            {
                tracing::debug!(node = %self.leases.shared.node, "lease round timed out");
            }
        }
    }

    async fn round(&mut self) {
        let shared = self.leases.shared.clone();
        let config = &shared.config;
        if self
            .last_heartbeat
            .is_none_or(|last| last.elapsed() >= config.renew)
        {
            let held = shared.held.lock().expect("held").len() as u32;
            let mut members = self.leases.members.lock().await;
            let Some(members) = members.as_mut() else {
                return;
            };
            match members.heartbeat(held).await {
                Ok(()) => self.last_heartbeat = Some(Instant::now()),
                Err(error) => tracing::warn!(%error, "member heartbeat failed"),
            }
            if let Err(error) = members.refresh().await {
                tracing::warn!(%error, "cannot read the cluster members");
            }
        }
        let members_lock = self.leases.members.clone();
        let guard = members_lock.lock().await;
        let Some(members) = guard.as_ref() else {
            return;
        };
        let live: Vec<String> = members
            .live_nodes()
            .iter()
            .map(|node| node.to_string())
            .collect();
        let wanted = shared.wanted.borrow().clone();
        let steps = self.plan(&wanted, &live, members);
        drop(guard);
        let results: Vec<(LeaseKey, Outcome)> = futures_util::stream::iter(steps)
            .map(|(key, step)| {
                let manager = &*self;
                let live = &live;
                async move {
                    let outcome = manager.execute(&key, step, live).await;
                    (key, outcome)
                }
            })
            .buffer_unordered(64)
            .collect()
            .await;
        self.apply(results, &wanted, &live);
    }

    fn plan(
        &self,
        wanted: &BTreeSet<LeaseKey>,
        live: &[String],
        members: &Members,
    ) -> Vec<(LeaseKey, Step)> {
        let shared = &self.leases.shared;
        let config = &shared.config;
        let held = shared.held.lock().expect("held");
        let mut steps = Vec::new();
        for (key, lease) in held.iter() {
            if !wanted.contains(key) {
                steps.push((key.clone(), Step::Release(lease.revision)));
                continue;
            }
            let name = key.as_key();
            let first = rendezvous::rank(&name, live.iter().map(String::as_str))[0];
            let recently = self
                .handed_over
                .get(key)
                .is_some_and(|when| when.elapsed() < config.ttl * 3);
            if first != shared.node && members.settled(first, config.renew * 2) && !recently {
                steps.push((key.clone(), Step::HandOver(lease.revision)));
            } else if lease.renewed.elapsed() + config.poll.min(config.renew) > config.renew {
                steps.push((key.clone(), Step::Renew(lease.revision)));
            }
        }
        for key in wanted {
            if !held.contains_key(key) {
                steps.push((key.clone(), Step::Check));
            }
        }
        steps
    }

    async fn execute(&self, key: &LeaseKey, step: Step, live: &[String]) -> Outcome {
        let shared = &self.leases.shared;
        let bucket = self
            .bucket
            .as_ref()
            .expect("the bucket is set before any round");
        let name = key.as_key();
        match step {
            Step::Renew(revision) => {
                let sent = Instant::now();
                let value = self.value(key);
                match bucket.update(&name, value, revision).await {
                    Ok(revision) => {
                        metrics::histogram!("netpulse_cluster_lease_renew_seconds")
                            .record(sent.elapsed().as_secs_f64());
                        Outcome::Renewed { revision, sent }
                    }
                    Err(error) if error.kind() == kv::UpdateErrorKind::WrongLastRevision => {
                        Outcome::Lost
                    }
                    Err(error) => {
                        tracing::warn!(key = %name, %error, "lease renewal failed");
                        Outcome::Nothing
                    }
                }
            }
            Step::HandOver(revision) | Step::Release(revision) => {
                if matches!(step, Step::HandOver(_)) {
                    tracing::info!(key = %name, "handing the lease over to its preferred member");
                }
                let reason = if matches!(step, Step::HandOver(_)) {
                    "handover"
                } else {
                    "released"
                };
                // The session stops before the key is free for the preferred member.
                let gate = shared.gates.lock().expect("gates").get(key).cloned();
                shared.give_up(key, reason);
                if let Some(gate) = gate {
                    let limit = shared.config.self_fence;
                    if tokio::time::timeout(limit, gate.notified()).await.is_err() {
                        tracing::warn!(key = %name, "the session did not end in time; freeing the lease anyway");
                    }
                }
                if let Err(error) = bucket.delete_expect_revision(&name, Some(revision)).await {
                    tracing::warn!(key = %name, %error, "cannot delete the lease; it expires after its TTL");
                }
                if matches!(step, Step::HandOver(_)) {
                    Outcome::HandedOver
                } else {
                    Outcome::Nothing
                }
            }
            Step::Check => {
                let entry = match bucket.entry(name.clone()).await {
                    Ok(entry) => entry,
                    Err(error) => {
                        tracing::warn!(key = %name, %error, "cannot read the lease");
                        return Outcome::Nothing;
                    }
                };
                if let Some(entry) = entry.filter(|entry| entry.operation == kv::Operation::Put) {
                    let value: Option<LeaseValue> = serde_json::from_slice(&entry.value).ok();
                    if value
                        .as_ref()
                        .is_some_and(|value| value.node == shared.node)
                    {
                        // Ours but not held: an acquisition cut short (or a previous run of
                        // this node). Free it rather than wait for its TTL.
                        let _ = bucket
                            .delete_expect_revision(&name, Some(entry.revision))
                            .await;
                        return Outcome::Absent;
                    }
                    return Outcome::HeldBy(LeaseRecord {
                        key: name,
                        owner: value.as_ref().map(|value| value.node.clone()),
                        revision: Some(entry.revision),
                        since: value.and_then(|value| {
                            jiff::Timestamp::from_millisecond(value.acquired_ms)
                                .ok()
                                .map(|time| time.to_string())
                        }),
                    });
                }
                let rank =
                    rendezvous::position(&name, &shared.node, live.iter().map(String::as_str))
                        .unwrap_or(live.len());
                let absent_since = self
                    .absent_since
                    .get(key)
                    .copied()
                    .unwrap_or_else(Instant::now);
                if absent_since.elapsed() < shared.config.poll * rank as u32 {
                    return Outcome::Absent;
                }
                self.acquire(key).await
            }
        }
    }

    /// `create`, then the stream-confirmed announcement; a key that cannot be announced is
    /// deleted again (its session must not start unfenced).
    async fn acquire(&self, key: &LeaseKey) -> Outcome {
        let shared = &self.leases.shared;
        let name = key.as_key();
        let sent = Instant::now();
        let acquired_ms = jiff::Timestamp::now().as_millisecond();
        let value = serde_json::to_vec(&LeaseValue {
            node: shared.node.clone(),
            acquired_ms,
        })
        .expect("lease value");
        let bucket = self
            .bucket
            .as_ref()
            .expect("the bucket is set before any round");
        let revision = match bucket.create(&name, value.into()).await {
            Ok(revision) => revision,
            Err(error) if error.kind() == kv::CreateErrorKind::AlreadyExists => {
                return Outcome::Nothing;
            }
            Err(error) => {
                tracing::warn!(key = %name, %error, "cannot create the lease");
                return Outcome::Nothing;
            }
        };
        let control = Control::Lease {
            key: name.clone(),
            node: shared.node.clone(),
            revision,
            acquired_ms,
        };
        match self.announce(&control).await {
            Ok(control_seq) => Outcome::Acquired {
                revision,
                tenure: Tenure {
                    revision,
                    control_seq,
                    acquired_ms,
                },
                sent,
            },
            Err(error) => {
                tracing::warn!(key = %name, error = %format!("{error:#}"), "the lease was taken but not confirmed by the stream; giving it back");
                let _ = bucket.delete_expect_revision(&name, Some(revision)).await;
                Outcome::Nothing
            }
        }
    }

    async fn announce(&self, control: &Control) -> anyhow::Result<u64> {
        let mut headers = async_nats::HeaderMap::new();
        headers.insert(NODE, self.leases.shared.node.as_str());
        let payload = serde_json::to_vec(control)?;
        let ack = self
            .jetstream
            .publish_with_headers(control.subject(), headers, payload.into())
            .await?
            .await?;
        Ok(ack.sequence)
    }

    fn value(&self, key: &LeaseKey) -> bytes::Bytes {
        let shared = &self.leases.shared;
        let acquired_ms = shared
            .held
            .lock()
            .expect("held")
            .get(key)
            .map_or(0, |held| held.tenure.acquired_ms);
        serde_json::to_vec(&LeaseValue {
            node: shared.node.clone(),
            acquired_ms,
        })
        .expect("lease value")
        .into()
    }

    fn apply(
        &mut self,
        results: Vec<(LeaseKey, Outcome)>,
        wanted: &BTreeSet<LeaseKey>,
        _live: &[String],
    ) {
        let shared = self.leases.shared.clone();
        let mut records: BTreeMap<String, LeaseRecord> = BTreeMap::new();
        for (key, outcome) in results {
            match outcome {
                Outcome::Renewed { revision, sent } => {
                    let mut held = shared.held.lock().expect("held");
                    match held.get_mut(&key) {
                        Some(lease) => {
                            lease.revision = revision;
                            lease.renewed = lease.renewed.max(sent);
                        }
                        None => {
                            // Self-fenced while the renewal was in flight: free the key.
                            let bucket = self.bucket.clone().expect("bucket");
                            let name = key.as_key();
                            tokio::spawn(async move {
                                let _ = bucket.delete_expect_revision(&name, Some(revision)).await;
                            });
                        }
                    }
                }
                Outcome::Lost => {
                    tracing::warn!(key = %key.as_key(), "the lease expired before its renewal");
                    shared.give_up(&key, "expired");
                }
                Outcome::Acquired {
                    revision,
                    tenure,
                    sent,
                } => {
                    self.absent_since.remove(&key);
                    if shared.stop.is_cancelled() {
                        let bucket = self.bucket.clone().expect("bucket");
                        let name = key.as_key();
                        tokio::spawn(async move {
                            let _ = bucket.delete_expect_revision(&name, Some(revision)).await;
                        });
                        continue;
                    }
                    tracing::info!(node = %shared.node, key = %key.as_key(), revision, "lease acquired");
                    shared.take(key, revision, tenure, sent);
                }
                Outcome::HeldBy(record) => {
                    self.absent_since.remove(&key);
                    records.insert(record.key.clone(), record);
                }
                Outcome::HandedOver => {
                    self.handed_over.insert(key, Instant::now());
                }
                Outcome::Absent => {
                    self.absent_since.entry(key).or_insert_with(Instant::now);
                }
                Outcome::Nothing => {}
            }
        }
        let held = shared.held.lock().expect("held");
        let leases = wanted
            .iter()
            .map(|key| {
                let name = key.as_key();
                if let Some(lease) = held.get(key) {
                    return LeaseRecord {
                        key: name,
                        owner: Some(shared.node.clone()),
                        revision: Some(lease.revision),
                        since: jiff::Timestamp::from_millisecond(lease.tenure.acquired_ms)
                            .ok()
                            .map(|time| time.to_string()),
                    };
                }
                records.remove(&name).unwrap_or(LeaseRecord {
                    key: name,
                    owner: None,
                    revision: None,
                    since: None,
                })
            })
            .collect();
        let members = self.leases.members.try_lock().map(|members| {
            members
                .as_ref()
                .map(|members| members.heartbeats().to_vec())
                .unwrap_or_default()
        });
        let mut view = shared.view.write().expect("view");
        view.leases = leases;
        if let Ok(members) = members {
            view.members = members;
        }
    }
}

enum Outcome {
    Renewed {
        revision: u64,
        sent: Instant,
    },
    Lost,
    Acquired {
        revision: u64,
        tenure: Tenure,
        sent: Instant,
    },
    HeldBy(LeaseRecord),
    HandedOver,
    Absent,
    Nothing,
}
