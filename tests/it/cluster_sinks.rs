//! Shared Webex sink deliveries (cluster mode) against a real three-server NATS cluster
//! (`LocalNats`) and the Webex simulator: the deliverer records each post in the stream before
//! (`Inflight`, confirmed first) and after (`Delivered`); a handover in the middle of a backlog
//! posts every message exactly once; a post whose outcome was never recorded is looked for in
//! the room by the next deliverer instead of posted again; a group's thread is published.
//!
//! Each node is a store of its own fed the same events, a Webex sink worker, and a projection
//! of the stream into the store. Until the projection of branch i22-log is merged, [`project`]
//! stands in for it (folding the delivery records with `Store::apply_delivery` and the fence
//! check); the lease manager's part is [`Node::take`] / [`Node::lose`].

use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::{self, stream};
use netpulse::cluster::ProjectionProgress;
use netpulse::cluster::local::LocalNats;
use netpulse::cluster::sinks::{ClusterDeliveries, DeliveryRecorders};
use netpulse::cluster::wire::{self, Control, DeliveryOutcome, LeaseKey};
use netpulse::config::SinkConfig;
use netpulse::event::{Event, Severity};
use netpulse::route::{AlarmLine, Counts, LineState, Notification, NotificationReason};
use netpulse::sim::webex::{WebexSim, WebexSimConfig};
use netpulse::sink::Outbox;
use netpulse::store::{NewEvent, Store, StoreConfig};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::support::wait_until;

const STREAM: &str = "NP_EVENTS";
const SINK: &str = "noc";

/// The NATS cluster, a client on it, and the simulated Webex room.
struct Cluster {
    _nats: LocalNats,
    jetstream: jetstream::Context,
    sim: WebexSim,
    sim_shutdown: CancellationToken,
    dir: tempfile::TempDir,
}

impl Cluster {
    /// `None` (the test is skipped) without a nats-server ≥ 2.11.
    async fn start() -> Option<Cluster> {
        let dir = tempfile::tempdir().unwrap();
        let nats = LocalNats::for_tests(&dir.path().join("nats"), 3).await?;
        let servers: Vec<async_nats::ServerAddr> =
            nats.urls().iter().map(|url| url.parse().unwrap()).collect();
        let client = async_nats::connect(servers).await.unwrap();
        let sim_shutdown = CancellationToken::new();
        let sim = WebexSim::start(WebexSimConfig::default(), sim_shutdown.clone())
            .await
            .unwrap();
        Some(Cluster {
            _nats: nats,
            jetstream: jetstream::new(client),
            sim,
            sim_shutdown,
            dir,
        })
    }

    /// The stream as the lease branch creates it (decision 1 of DESIGN-22).
    async fn create_stream(&self) {
        let config = stream::Config {
            name: STREAM.to_owned(),
            subjects: vec!["np.ev.>".to_owned(), "np.ctl.>".to_owned()],
            num_replicas: 3,
            storage: stream::StorageType::File,
            duplicate_window: Duration::from_secs(600),
            ..Default::default()
        };
        // A fresh cluster may still be electing its JetStream leader.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            match self.jetstream.create_stream(config.clone()).await {
                Ok(_) => return,
                Err(error) if tokio::time::Instant::now() < deadline => {
                    eprintln!("stream not created yet: {error}");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Err(error) => panic!("cannot create the stream: {error}"),
            }
        }
    }

    fn sink_config(&self, rate_limit: f64) -> SinkConfig {
        SinkConfig::Webex(
            serde_json::from_value(serde_json::json!({
                "name": SINK, "token": "sim-bot-token",
                "room_id": self.sim.room_id("NOC").unwrap(), "base_url": self.sim.base_url(),
                "rate_limit": rate_limit,
            }))
            .unwrap(),
        )
    }

    /// Every message of the stream, oldest first: (stream seq, node header, fence header,
    /// control, time in nanoseconds).
    async fn controls(&self) -> Vec<Record> {
        read_stream(&self.jetstream, 1).await
    }

    /// How many messages of the room contain `text`.
    fn posted(&self, text: &str) -> usize {
        self.sim
            .messages()
            .iter()
            .filter(|message| message.markdown.as_deref().unwrap_or("").contains(text))
            .count()
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.sim_shutdown.cancel();
    }
}

/// A message of the stream as a node's projection reads it.
#[derive(Debug, Clone)]
struct Record {
    stream_seq: u64,
    node: Option<String>,
    fence: Option<String>,
    control: Control,
    time_ns: i128,
}

async fn read_stream(jetstream: &jetstream::Context, from: u64) -> Vec<Record> {
    let stream = jetstream.get_stream(STREAM).await.unwrap();
    let last = stream.get_info().await.unwrap().state.last_sequence;
    let mut records = Vec::new();
    for stream_seq in from..=last {
        let message = stream.get_raw_message(stream_seq).await.unwrap();
        let header = |name: &str| {
            message
                .headers
                .get(name)
                .map(|value| value.as_str().to_owned())
        };
        records.push(Record {
            stream_seq,
            node: header(wire::NODE),
            fence: header(wire::FENCE),
            control: serde_json::from_slice(&message.payload).unwrap(),
            time_ns: message.time.unix_timestamp_nanos(),
        });
    }
    records
}

/// One netpulse node: its own store, its projection, its lease of `sink.noc` and its sink.
struct Node {
    name: &'static str,
    store: Store,
    progress: ProjectionProgress,
    lease: watch::Sender<Option<u64>>,
    recorders: DeliveryRecorders,
    stop: CancellationToken,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Node {
    fn new(cluster: &Cluster, name: &'static str) -> Node {
        let store = Store::open(StoreConfig::new(
            cluster.dir.path().join(format!("{name}.db")),
        ))
        .unwrap();
        let progress = ProjectionProgress::default();
        let (lease, watch) = watch::channel(None);
        let deliveries = ClusterDeliveries {
            jetstream: cluster.jetstream.clone(),
            stream: STREAM.to_owned(),
            node: name.to_owned(),
            progress: progress.clone(),
            publish_timeout: Duration::from_secs(1),
        };
        let recorders = DeliveryRecorders::cluster(deliveries, move |_key| watch.clone());
        Node {
            name,
            store,
            progress,
            lease,
            recorders,
            stop: CancellationToken::new(),
            tasks: Vec::new(),
        }
    }

    /// Appends `events` with an outbox row for the sink (every node makes the same rows, at the
    /// same seqs, from the same events).
    async fn feed(&self, events: &[Event]) -> Vec<u64> {
        let mut seqs = Vec::new();
        for event in events {
            let item = NewEvent {
                sinks: vec![SINK.to_owned()],
                ..NewEvent::new(event.clone())
            };
            seqs.push(self.store.append(&[item]).await.unwrap()[0].seq);
        }
        seqs
    }

    /// Starts the node's projection; `skip` leaves some records out (never published).
    fn project(&mut self, cluster: &Cluster, skip: fn(&Record) -> bool) {
        let task = tokio::spawn(project(
            cluster.jetstream.clone(),
            self.store.clone(),
            self.progress.clone(),
            skip,
            self.stop.clone(),
        ));
        self.tasks.push(task);
    }

    /// Starts the node's Webex sink worker (it delivers only while the node holds the lease).
    fn start_sink(&mut self, config: &SinkConfig) {
        let SinkConfig::Webex(webex) = config else {
            unreachable!()
        };
        let outbox = Outbox {
            store: self.store.clone(),
            sink: SINK.to_owned(),
            waker: Arc::new(tokio::sync::Notify::new()),
            drain: self.stop.child_token(),
            linger: Duration::ZERO,
            recorder: self.recorders.for_sink(config),
        };
        assert!(self.recorders.is_shared(config));
        self.tasks
            .push(netpulse::sink::webex::spawn(webex, outbox, None).unwrap());
    }

    /// What the lease manager does when this node acquires `sink.noc` at `revision`: publish
    /// the acquisition (confirmed by the stream), then tell the node's sink.
    async fn take(&self, cluster: &Cluster, revision: u64) {
        let key = LeaseKey::Sink(SINK.to_owned()).as_key();
        let control = Control::Lease {
            key: key.clone(),
            node: self.name.to_owned(),
            revision,
            acquired_ms: jiff::Timestamp::now().as_millisecond(),
        };
        let mut headers = async_nats::HeaderMap::new();
        headers.insert(wire::NODE, self.name);
        headers.insert(wire::FENCE, format!("{key} {revision}").as_str());
        cluster
            .jetstream
            .publish_with_headers(
                control.subject(),
                headers,
                serde_json::to_vec(&control).unwrap().into(),
            )
            .await
            .unwrap()
            .await
            .unwrap();
        self.lease.send_replace(Some(revision));
    }

    /// The lease is lost (handover, self-fence): the node's sink stops at once.
    fn lose(&self) {
        self.lease.send_replace(None);
    }

    fn delivered(&self) -> u64 {
        self.store
            .reader()
            .unwrap()
            .outbox_counts(SINK)
            .unwrap()
            .delivered
    }

    async fn stop(self) {
        self.stop.cancel();
        for task in self.tasks {
            task.await.unwrap();
        }
    }
}

/// Stands in for the projection (branch i22-log): folds the stream into `store` in stream order
/// from the start, the delivery records through `Store::apply_delivery`, dropping a record fenced
/// with an older revision than the newest lease of its key, and moves `progress`.
async fn project(
    jetstream: jetstream::Context,
    store: Store,
    progress: ProjectionProgress,
    skip: fn(&Record) -> bool,
    stop: CancellationToken,
) {
    let mut newest: std::collections::HashMap<String, u64> = Default::default();
    let mut next = 1;
    while !stop.is_cancelled() {
        for record in read_stream(&jetstream, next).await {
            next = record.stream_seq + 1;
            let fence = record.fence.as_deref().and_then(|fence| {
                let (key, revision) = fence.split_once(' ')?;
                Some((key.to_owned(), revision.parse::<u64>().ok()?))
            });
            match (&record.control, fence) {
                (Control::Lease { key, revision, .. }, _) => {
                    newest.insert(key.clone(), *revision);
                }
                (Control::Delivery { .. }, Some((key, revision)))
                    if newest.get(&key).is_some_and(|newest| revision < *newest) => {}
                (Control::Delivery { sink, seq, outcome }, _) if !skip(&record) => {
                    store
                        .apply_delivery(sink, *seq, outcome.clone())
                        .await
                        .unwrap();
                }
                _ => {}
            }
            progress.set(record.stream_seq);
        }
        tokio::select! {
            () = tokio::time::sleep(Duration::from_millis(10)) => {}
            () = stop.cancelled() => {}
        }
    }
}

/// The events `numbers`, as every node projects them from the stream.
fn events(numbers: std::ops::RangeInclusive<u32>) -> Vec<Event> {
    numbers
        .map(|number| {
            let mut event = Event::new(
                "leaf1",
                "com.cisco.dme.modified",
                jiff::Timestamp::now(),
                serde_json::json!({}),
            );
            event.severity = Severity::Minor;
            event.summary = format!("interface eth1/{number} flapped");
            event
        })
        .collect()
}

fn keep_all(_: &Record) -> bool {
    false
}

/// The deliverer confirms `Inflight` in the stream before posting and `Delivered` after; with no
/// stream to record in, nothing is posted.
#[tokio::test]
async fn each_post_is_recorded_in_flight_before_and_delivered_after() {
    let Some(cluster) = Cluster::start().await else {
        return;
    };
    let config = cluster.sink_config(50.0);
    let mut node = Node::new(&cluster, "g1");
    let seqs = node.feed(&events(1..=3)).await;
    node.lease.send_replace(Some(1));
    node.start_sink(&config);
    // No stream yet: the Inflight record cannot be confirmed, so no message may leave. (A
    // negative, so a bounded wait: the worker tries at once, then every second.)
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(cluster.sim.messages().len(), 0, "posted without a record");
    assert_eq!(node.delivered(), 0);

    cluster.create_stream().await;
    node.project(&cluster, keep_all);
    wait_until("the three messages are posted", || {
        cluster.sim.messages().len() == 3 && node.delivered() == 3
    })
    .await;
    let records = cluster.controls().await;
    let deliveries: Vec<(u64, &DeliveryOutcome)> = records
        .iter()
        .filter_map(|record| match &record.control {
            Control::Delivery { seq, outcome, .. } => Some((*seq, outcome)),
            _ => None,
        })
        .collect();
    let inflight = DeliveryOutcome::Inflight {
        node: "g1".to_owned(),
    };
    let expected: Vec<(u64, &DeliveryOutcome)> = seqs
        .iter()
        .flat_map(|seq| [(*seq, &inflight), (*seq, &DeliveryOutcome::Delivered)])
        .collect();
    assert_eq!(deliveries, expected);
    for record in &records {
        assert_eq!(record.node.as_deref(), Some("g1"));
        assert_eq!(record.fence.as_deref(), Some("sink.noc 1"));
    }
    // Each message was created in the room between its two records.
    let messages = cluster.sim.messages();
    for (index, message) in messages.iter().enumerate() {
        let created = message.created.as_nanosecond();
        let (before, after) = (&records[2 * index], &records[2 * index + 1]);
        assert!(
            before.time_ns <= created && created <= after.time_ns,
            "message {index} at {created} not between its records {before:?} {after:?}"
        );
    }

    // A dead letter retried through the API is put back through the stream, without a fence.
    // (Timed: one record confirmed by the three-server stream, what each post now waits for.)
    let started = std::time::Instant::now();
    assert!(node.recorders.requeued(&config, seqs[0]).await.unwrap());
    eprintln!(
        "one delivery record confirmed by the stream in {:?}",
        started.elapsed()
    );
    let last = cluster.controls().await.pop().unwrap();
    assert_eq!(
        last.control,
        Control::Delivery {
            sink: SINK.to_owned(),
            seq: seqs[0],
            outcome: DeliveryOutcome::Requeued
        }
    );
    assert_eq!(last.fence, None);
    node.stop().await;
}

/// Two nodes, the same backlog; the deliverer hands the sink over in the middle of it: the room
/// gets every event's message exactly once, and the node that lost the lease posts nothing more.
#[tokio::test]
async fn a_handover_in_the_middle_of_a_backlog_posts_each_message_exactly_once() {
    let Some(cluster) = Cluster::start().await else {
        return;
    };
    cluster.create_stream().await;
    let config = cluster.sink_config(20.0);
    let mut nodes = [Node::new(&cluster, "g1"), Node::new(&cluster, "g2")];
    const EVENTS: u32 = 30;
    let backlog = events(1..=EVENTS);
    let seqs = [nodes[0].feed(&backlog).await, nodes[1].feed(&backlog).await];
    assert_eq!(
        seqs[0], seqs[1],
        "both nodes hold the events at the same seqs"
    );
    for node in &mut nodes {
        node.project(&cluster, keep_all);
        node.start_sink(&config);
    }
    let [g1, g2] = nodes;
    g1.take(&cluster, 1).await;
    wait_until("g1 has posted a third of the backlog", || {
        cluster.sim.messages().len() >= 10
    })
    .await;
    g1.lose();
    // The preferred node creates the released lease within one poll of the lease manager.
    tokio::time::sleep(Duration::from_millis(100)).await;
    g2.take(&cluster, 2).await;
    wait_until(
        "every message is in the room and both nodes know it",
        || {
            cluster.sim.messages().len() >= EVENTS as usize
                && g1.delivered() == u64::from(EVENTS)
                && g2.delivered() == u64::from(EVENTS)
        },
    )
    .await;

    for number in 1..=EVENTS {
        let summary = format!("interface eth1/{number} flapped");
        assert_eq!(cluster.posted(&summary), 1, "{summary}");
    }
    assert_eq!(cluster.sim.messages().len(), EVENTS as usize);
    // From g2's acquisition on, only g2 posts.
    let records = cluster.controls().await;
    let taken = records
        .iter()
        .position(|record| matches!(&record.control, Control::Lease { revision: 2, .. }))
        .unwrap();
    let late: Vec<&Record> = records[taken..]
        .iter()
        .filter(|record| {
            matches!(
                &record.control,
                Control::Delivery {
                    outcome: DeliveryOutcome::Inflight { .. },
                    ..
                }
            )
        })
        .collect();
    assert!(!late.is_empty());
    assert!(
        late.iter()
            .all(|record| record.node.as_deref() == Some("g2")
                && record.fence.as_deref() == Some("sink.noc 2")),
        "{late:?}"
    );
    g1.stop().await;
    g2.stop().await;
}

/// The deliverer posted a message and stopped before recording the outcome (its `Inflight` is
/// the last record of the row): the next deliverer finds the message in the room and does not
/// post it again, then delivers the rest.
#[tokio::test]
async fn a_post_left_in_flight_is_found_in_the_room_not_posted_again() {
    let Some(cluster) = Cluster::start().await else {
        return;
    };
    cluster.create_stream().await;
    let config = cluster.sink_config(50.0);
    let mut g1 = Node::new(&cluster, "g1");
    let mut g2 = Node::new(&cluster, "g2");
    // g1 stops after the first event (it never sees the second).
    let backlog = events(1..=2);
    let first = g1.feed(&backlog[..1]).await;
    let both = g2.feed(&backlog).await;
    assert_eq!(first[0], both[0]);
    g1.project(&cluster, keep_all);
    g1.start_sink(&config);
    g1.take(&cluster, 1).await;
    wait_until("g1 posts the first message", || g1.delivered() == 1).await;
    g1.stop().await;
    // g1's Delivered record never reached the stream, as if it died right after the post.
    fn g1_outcome(record: &Record) -> bool {
        record.node.as_deref() == Some("g1")
            && matches!(
                &record.control,
                Control::Delivery {
                    outcome: DeliveryOutcome::Delivered,
                    ..
                }
            )
    }
    g2.project(&cluster, g1_outcome);
    g2.start_sink(&config);
    g2.take(&cluster, 2).await;
    wait_until("g2 delivers both", || g2.delivered() == 2).await;

    assert_eq!(
        cluster.posted("interface eth1/1 flapped"),
        1,
        "posted twice"
    );
    assert_eq!(cluster.posted("interface eth1/2 flapped"), 1);
    assert_eq!(cluster.sim.messages().len(), 2);
    g2.stop().await;
}

/// A group's first notification starts a thread in the room: the deliverer publishes it
/// (`Control::Thread`) so that the next deliverer replies in it.
#[tokio::test]
async fn a_groups_thread_is_published_for_the_next_deliverer() {
    let Some(cluster) = Cluster::start().await else {
        return;
    };
    cluster.create_stream().await;
    let mut node = Node::new(&cluster, "g1");
    let line = AlarmLine {
        key: "leaf1:bfd".to_owned(),
        seq: 1,
        state: LineState::New,
        severity: Severity::Major,
        device: "leaf1".to_owned(),
        summary: "BFD session down".to_owned(),
        link: None,
        time: jiff::Timestamp::now(),
    };
    let mut counts = Counts::default();
    counts.new.add(Severity::Major);
    let notification = Notification {
        route: SINK.to_owned(),
        sink: SINK.to_owned(),
        group: "noc/noc/aaaa".to_owned(),
        labels: Default::default(),
        number: 1,
        reason: NotificationReason::First,
        counts,
        alarms: vec![line],
        all_cleared: false,
        members: vec![1],
        root_causes: Vec::new(),
    };
    let seqs = node
        .feed(&[notification.to_event(jiff::Timestamp::now())])
        .await;
    node.project(&cluster, keep_all);
    node.start_sink(&cluster.sink_config(50.0));
    node.take(&cluster, 1).await;
    wait_until("the notification is posted", || node.delivered() == 1).await;
    let message = cluster.sim.messages().pop().unwrap();
    let controls: Vec<Control> = cluster
        .controls()
        .await
        .into_iter()
        .map(|record| record.control)
        .collect();
    let thread = Control::Thread {
        sink: SINK.to_owned(),
        group: "noc/noc/aaaa".to_owned(),
        message_id: message.id.clone(),
    };
    let delivered = Control::Delivery {
        sink: SINK.to_owned(),
        seq: seqs[0],
        outcome: DeliveryOutcome::Delivered,
    };
    let thread_at = controls.iter().position(|control| *control == thread);
    let delivered_at = controls.iter().position(|control| *control == delivered);
    assert!(
        thread_at.is_some() && thread_at < delivered_at,
        "the thread is recorded before the delivery: {controls:?}"
    );
    node.stop().await;
}
