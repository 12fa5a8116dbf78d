//! The lease manager's rounds: every `min(poll, renew)` it heartbeats, reads the members, then
//! for each wanted key renews, hands over, releases or looks and acquires, concurrently.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::{self, kv};
use futures_util::StreamExt as _;
use tokio::time::Instant;

use super::{LeaseRecord, Leases, Tenure};
use crate::cluster::members::Members;
use crate::cluster::wire::{Control, LeaseKey, LeaseValue, NODE};
use crate::cluster::{nats, rendezvous};
use crate::config::ClusterConfig;

pub(super) struct Manager {
    pub(super) leases: Leases,
    pub(super) cluster: Arc<ClusterConfig>,
    pub(super) jetstream: jetstream::Context,
    /// When this node first found each wanted key absent (rank r waits r × poll from there).
    pub(super) absent_since: HashMap<LeaseKey, Instant>,
    pub(super) last_heartbeat: Option<Instant>,
    pub(super) bucket: Option<kv::Store>,
    /// When this node last handed each key over: it does not hand the same key over again for
    /// a while (a preferred member that does not want the key, with another configuration
    /// during a rolling change, would otherwise make it bounce every round).
    pub(super) handed_over: HashMap<LeaseKey, Instant>,
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

    pub(super) async fn run(mut self) {
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
