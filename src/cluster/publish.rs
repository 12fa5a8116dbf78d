//! Cluster mode's writes: the backend of [`crate::pipeline::Pipeline::ingest`]. Every event is
//! published to the stream (subject `np.ev.<source>`, `Nats-Msg-Id` = its natural id, `Np-Node`,
//! and `Np-Fence` for a device event whose lease this node holds); a batch is sent at once and
//! its acknowledgements awaited together, up to `cluster.publish_timeout`. What the stream did
//! not confirm in time goes to the local spool (committed like an append) and the relay
//! (`spool.rs`) publishes it again later with the same id and headers. A caller is answered only
//! when each of its events is confirmed by the stream or committed in the spool.
//!
//! What [`Appended`] means here: `seq` is the **stream sequence** for a confirmed event (its
//! `seq` on every node once projected; `duplicate` when the stream already had its message id).
//! For a spooled event the stream sequence is not known yet: `seq` is **0** with `duplicate:
//! false` ("accepted and durable on this node, numbered when the relay publishes it"). A
//! webhook's answer then shows seq 0; the Operator does not wait for seq 0 to be projected.

use std::sync::Arc;
use std::time::Duration;

use async_nats::HeaderMap;
use async_nats::jetstream::{self, context::PublishAckFuture, message::PublishMessage};
use bytes::Bytes;
use tokio::sync::Notify;

use super::wire::{self, Control, LeaseKey};
use super::{FenceBook, ProjectionProgress};
use crate::store::{Appended, NewEvent, SpoolRow, Store, StoreError, event_json};

/// Publishes events and control messages to the stream for this node.
#[derive(Clone)]
pub struct Publisher {
    inner: Arc<Inner>,
}

struct Inner {
    jetstream: jetstream::Context,
    node: String,
    fences: FenceBook,
    timeout: Duration,
    /// Woken after something was spooled.
    relay: Arc<Notify>,
    progress: ProjectionProgress,
    lag: Arc<super::projection::Lag>,
}

/// One message ready to publish: what is spooled if the stream does not confirm it.
#[derive(Debug, Clone)]
pub struct Outgoing {
    pub subject: String,
    pub msg_id: String,
    pub fence: Option<String>,
    pub payload: Bytes,
}

impl Publisher {
    pub fn new(
        jetstream: jetstream::Context,
        node: String,
        fences: FenceBook,
        timeout: Duration,
        progress: ProjectionProgress,
        lag: Arc<super::projection::Lag>,
    ) -> Publisher {
        Publisher {
            inner: Arc::new(Inner {
                jetstream,
                node,
                fences,
                timeout,
                relay: Arc::new(Notify::new()),
                progress,
                lag,
            }),
        }
    }

    pub fn node(&self) -> &str {
        &self.inner.node
    }

    pub fn jetstream(&self) -> &jetstream::Context {
        &self.inner.jetstream
    }

    pub fn progress(&self) -> &ProjectionProgress {
        &self.inner.progress
    }

    /// Stream messages this node's store has not applied yet, and the most allowed before
    /// `/readyz` says not ready (`cluster.max_lag`).
    pub fn lag(&self) -> (u64, u64) {
        (
            self.inner.lag.behind(&self.inner.progress),
            self.inner.lag.max_lag,
        )
    }

    /// What the relay waits on.
    pub fn relay_waker(&self) -> Arc<Notify> {
        self.inner.relay.clone()
    }

    /// The message of one event: fenced when this node holds its source's device lease.
    pub fn outgoing(&self, item: &NewEvent) -> Result<Outgoing, StoreError> {
        let event = &item.event;
        let fence = self
            .inner
            .fences
            .get(&LeaseKey::Device(event.source_name().to_owned()))
            .map(|revision| {
                format!(
                    "{} {revision}",
                    LeaseKey::Device(event.source_name().to_owned()).as_key()
                )
            });
        Ok(Outgoing {
            subject: wire::event_subject(event.source_name()),
            msg_id: wire::natural_id(event, item.idempotency_key.as_deref()),
            fence,
            payload: wire_payload(item)?,
        })
    }

    /// Publishes `items` and waits for the stream, then spools what it did not confirm (see
    /// the module's documentation for the `Appended` of each).
    pub async fn write(
        &self,
        store: &Store,
        items: &[NewEvent],
    ) -> Result<Vec<Appended>, StoreError> {
        let outgoing = items
            .iter()
            .map(|item| self.outgoing(item))
            .collect::<Result<Vec<_>, _>>()?;
        let acks = self.publish_all(&outgoing).await;
        let mut appended = Vec::with_capacity(items.len());
        let mut spooled = Vec::new();
        for (message, ack) in outgoing.into_iter().zip(acks) {
            match ack {
                Some(ack) => appended.push(Appended {
                    seq: ack.sequence,
                    duplicate: ack.duplicate,
                }),
                None => {
                    appended.push(Appended {
                        seq: 0,
                        duplicate: false,
                    });
                    spooled.push(message.into_spool_row());
                }
            }
        }
        if !spooled.is_empty() {
            let count = spooled.len() as u64;
            store.spool(spooled).await?;
            metrics::counter!("netpulse_cluster_spooled_total").increment(count);
            metrics::gauge!("netpulse_cluster_spool_depth").increment(count as f64);
            self.inner.relay.notify_one();
        }
        Ok(appended)
    }

    /// Sends every message at once, then waits for their acknowledgements together, each until
    /// the same deadline: `None` for one not confirmed by then (sent or not).
    pub async fn publish_all(
        &self,
        messages: &[Outgoing],
    ) -> Vec<Option<jetstream::publish::PublishAck>> {
        let deadline = tokio::time::Instant::now() + self.inner.timeout;
        let mut pending: Vec<Option<PublishAckFuture>> = Vec::with_capacity(messages.len());
        for message in messages {
            let sent = tokio::time::timeout_at(deadline, self.send(message)).await;
            pending.push(match sent {
                Ok(Ok(future)) => Some(future),
                Ok(Err(error)) => {
                    note_failure(&error.to_string());
                    None
                }
                Err(_) => None,
            });
        }
        let acks = pending.into_iter().map(|future| async move {
            let future = future?;
            match tokio::time::timeout_at(deadline, future.into_future()).await {
                Ok(Ok(ack)) => Some(ack),
                Ok(Err(error)) => {
                    note_failure(&error.to_string());
                    None
                }
                Err(_) => None,
            }
        });
        futures_util::future::join_all(acks).await
    }

    async fn send(
        &self,
        message: &Outgoing,
    ) -> Result<PublishAckFuture, async_nats::jetstream::context::PublishError> {
        let mut headers = HeaderMap::new();
        headers.insert(wire::MSG_ID, message.msg_id.as_str());
        headers.insert(wire::NODE, self.inner.node.as_str());
        if let Some(fence) = &message.fence {
            headers.insert(wire::FENCE, fence.as_str());
        }
        self.inner
            .jetstream
            .send_publish(
                message.subject.clone(),
                PublishMessage::build()
                    .payload(message.payload.clone())
                    .headers(headers),
            )
            .await
    }

    /// Publishes a control message and waits for the stream (no spool: the caller decides what
    /// to do when it is not confirmed). Fenced with `fence`'s revision when this node holds it.
    /// Its stream sequence.
    pub async fn publish_control(
        &self,
        control: &Control,
        fence: Option<&LeaseKey>,
    ) -> anyhow::Result<u64> {
        let payload = serde_json::to_vec(control)?;
        let message = Outgoing {
            subject: control.subject(),
            msg_id: uuid::Uuid::now_v7().to_string(),
            fence: fence.and_then(|key| {
                self.inner
                    .fences
                    .get(key)
                    .map(|revision| format!("{} {revision}", key.as_key()))
            }),
            payload: payload.into(),
        };
        match self
            .publish_all(std::slice::from_ref(&message))
            .await
            .pop()
            .flatten()
        {
            Some(ack) => Ok(ack.sequence),
            None => anyhow::bail!(
                "the stream did not confirm the {} message within {:?} (cluster.publish_timeout): is NATS reachable with a quorum?",
                control.kind(),
                self.inner.timeout
            ),
        }
    }
}

impl Outgoing {
    fn into_spool_row(self) -> SpoolRow {
        SpoolRow {
            id: 0,
            subject: self.subject,
            msg_id: self.msg_id,
            fence: self.fence,
            payload: self.payload.to_vec(),
            created_ms: 0,
        }
    }

    pub fn from_spool_row(row: &SpoolRow) -> Outgoing {
        Outgoing {
            subject: row.subject.clone(),
            msg_id: row.msg_id.clone(),
            fence: row.fence.clone(),
            payload: Bytes::from(row.payload.clone()),
        }
    }
}

static PUBLISH_FAILURES: crate::throttle::Throttle = crate::throttle::Throttle::new();

fn note_failure(error: &str) {
    metrics::counter!("netpulse_cluster_publish_failures_total").increment(1);
    if let Some(left_out) = PUBLISH_FAILURES.admit(std::time::Instant::now()) {
        tracing::warn!(%error, left_out, "the stream did not take an event; it goes to the spool");
    }
}

/// The [`wire::WireEvent`] of `item` as JSON, built without parsing the raw body: the event's
/// JSON (with `raw_data` as its `data`, as the store writes it) is the first field.
pub fn wire_payload(item: &NewEvent) -> Result<Bytes, StoreError> {
    #[derive(serde::Serialize)]
    struct Rest<'a> {
        #[serde(skip_serializing_if = "Option::is_none")]
        idempotency_key: Option<&'a str>,
        #[serde(skip_serializing_if = "Vec::is_empty")]
        alarms: Vec<String>,
    }
    let rejected = |err: serde_json::Error| {
        StoreError::Rejected(format!("the event cannot be serialized: {err}"))
    };
    let event = event_json(&item.event, item.raw_data.as_deref()).map_err(rejected)?;
    let rest = serde_json::to_string(&Rest {
        idempotency_key: item.idempotency_key.as_deref(),
        alarms: item
            .alarms
            .iter()
            .map(|alarm| format!("{}{}", if alarm.raised { '+' } else { '-' }, alarm.key))
            .collect(),
    })
    .map_err(rejected)?;
    let mut payload = String::with_capacity(event.len() + rest.len() + 12);
    payload.push_str("{\"event\":");
    payload.push_str(&event);
    if rest.len() > 2 {
        payload.push(',');
        payload.push_str(&rest[1..]);
    } else {
        payload.push('}');
    }
    Ok(Bytes::from(payload))
}

/// Reads a message's payload back into the item the projection stores (`sinks` left empty).
pub fn decode_event(payload: &[u8], msg_id: Option<&str>) -> anyhow::Result<NewEvent> {
    let wire: wire::WireEvent = serde_json::from_slice(payload)?;
    let alarms = wire
        .alarms
        .iter()
        .filter_map(|text| {
            let (sign, key) = text.split_at_checked(1)?;
            Some(crate::event::AlarmUpdate {
                key: key.to_owned(),
                raised: sign == "+",
            })
        })
        .collect();
    let key = msg_id
        .map(str::to_owned)
        .unwrap_or_else(|| wire::natural_id(&wire.event, wire.idempotency_key.as_deref()));
    Ok(NewEvent {
        event: wire.event,
        idempotency_key: Some(key),
        sinks: Vec::new(),
        alarms,
        raw_data: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{AlarmUpdate, Event};

    #[tokio::test]
    async fn with_nats_unreachable_events_are_spooled_and_answered_within_the_timeout() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(crate::store::StoreConfig::new(
            dir.path().join("netpulse.db"),
        ))
        .unwrap();
        // A port nothing listens on: the client keeps trying in the background.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let client = async_nats::ConnectOptions::new()
            .retry_on_initial_connect()
            .connect(format!("nats://127.0.0.1:{port}"))
            .await
            .unwrap();
        let fences = FenceBook::default();
        fences.set(LeaseKey::Device("leaf1".into()), 12);
        let publisher = Publisher::new(
            jetstream::new(client),
            "a".into(),
            fences,
            Duration::from_millis(300),
            ProjectionProgress::default(),
            Arc::new(super::super::projection::Lag::new(10)),
        );
        let items = [
            NewEvent::new(Event::new(
                "leaf1",
                "x",
                jiff::Timestamp::now(),
                serde_json::json!({}),
            )),
            NewEvent {
                idempotency_key: Some("vmanage:sdwan:1".into()),
                ..NewEvent::new(Event::new(
                    "vmanage",
                    "y",
                    jiff::Timestamp::now(),
                    serde_json::json!({}),
                ))
            },
        ];
        let started = std::time::Instant::now();
        let appended = publisher.write(&store, &items).await.unwrap();
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{:?}",
            started.elapsed()
        );
        assert_eq!(
            appended,
            [Appended {
                seq: 0,
                duplicate: false
            }; 2]
        );
        let reader = store.reader().unwrap();
        let spooled = reader.spooled(10).unwrap();
        assert_eq!(spooled.len(), 2);
        assert_eq!(spooled[0].subject, "np.ev.leaf1");
        assert_eq!(spooled[0].msg_id, items[0].event.id);
        assert_eq!(spooled[0].fence.as_deref(), Some("dev.leaf1 12"));
        assert_eq!(spooled[1].msg_id, "vmanage:sdwan:1");
        assert_eq!(spooled[1].fence, None);
        store.close().await;
    }

    #[test]
    fn the_payload_is_a_wire_event_with_the_raw_body_as_data_and_decodes_back() {
        let event = Event::new(
            "vmanage",
            "x",
            jiff::Timestamp::UNIX_EPOCH,
            serde_json::Value::Null,
        );
        let item = NewEvent {
            idempotency_key: Some("vmanage:sdwan:1".into()),
            alarms: vec![AlarmUpdate {
                key: "vmanage:sdwan:1".into(),
                raised: true,
            }],
            raw_data: Some(Bytes::from_static(b" {\"uuid\": \"1\"} ")),
            ..NewEvent::new(event.clone())
        };
        let payload = wire_payload(&item).unwrap();
        let wire: wire::WireEvent = serde_json::from_slice(&payload).unwrap();
        assert_eq!(wire.event.data, serde_json::json!({"uuid": "1"}));
        assert_eq!(wire.alarms, ["+vmanage:sdwan:1"]);
        let decoded = decode_event(&payload, Some("vmanage:sdwan:1")).unwrap();
        assert_eq!(decoded.alarms, item.alarms);
        assert_eq!(decoded.event.id, event.id);
        assert_eq!(decoded.idempotency_key.as_deref(), Some("vmanage:sdwan:1"));

        let bare = wire_payload(&NewEvent::new(event.clone())).unwrap();
        let decoded = decode_event(&bare, None).unwrap();
        assert_eq!(decoded.idempotency_key.as_deref(), Some(event.id.as_str()));
        assert!(decoded.alarms.is_empty());
    }
}
