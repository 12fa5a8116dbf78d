//! Cluster mode's replicated log end to end: two gateways in this process (their own stores and
//! ports) on one real three-server NATS cluster (`LocalNats`). Skipped, with a line saying why,
//! where no nats-server 2.11 or later is installed; CI runs them.

use std::time::Duration;

use netpulse::cluster::local::LocalNats;
use netpulse::cluster::wire::{self, Control};
use netpulse::store::{AlarmFilter, EventQuery};
use reqwest::StatusCode;
use serde_json::Value;

use crate::support::{Running, sdwan_alarm};

const DOWN: &str = "webhook-interface-state-change-down-2019.json";
/// Long enough for a JetStream cluster to come back after all its servers were killed.
const RECOVERY: Duration = Duration::from_secs(90);

fn config(node: &str, nats: &LocalNats) -> String {
    let urls = nats
        .urls()
        .iter()
        .map(|url| format!("\"{url}\""))
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "store: {{ path: netpulse.db }}
http: {{ listen: \"127.0.0.1:0\" }}
api: {{ auth: {{ disabled: true }} }}
cluster:
  node_id: {node}
  publish_timeout: 500ms
  nats: {{ urls: [{urls}] }}
  stream: {{ replicas: 3 }}
sources:
  - name: vmanage
    type: webhook
    provider: sdwan
    path: /hooks/sdwan
    auth: {{ none: true }}
sinks:
  - {{ name: archive, type: file, path: events.jsonl }}
"
    )
}

async fn start_node(node: &str, nats: &LocalNats) -> Running {
    Running::start(&config(node, nats), &[]).await
}

async fn post(node: &Running, body: Vec<u8>) -> (StatusCode, Value) {
    let response = reqwest::Client::new()
        .post(node.url("/hooks/sdwan"))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// Every stored event as (seq, id, type), in seq order.
fn log(node: &Running) -> Vec<(u64, String, String)> {
    let query = EventQuery {
        after_seq: Some(0),
        limit: 10_000,
        ..Default::default()
    };
    node.reader()
        .events(&query)
        .unwrap()
        .into_iter()
        .map(|event| (event.seq, event.id, event.kind))
        .collect()
}

/// Every alarm as (key, raised, first seq, last seq).
fn alarms(node: &Running) -> Vec<(String, bool, u64, u64)> {
    let mut alarms: Vec<_> = node
        .reader()
        .alarms(AlarmFilter::All, 10_000)
        .unwrap()
        .into_iter()
        .map(|view| {
            (
                view.row.key,
                view.row.raised,
                view.row.first_seq,
                view.row.last_seq,
            )
        })
        .collect();
    alarms.sort();
    alarms
}

/// Waits until `node` has stored `count` events.
async fn wait_for_events(node: &Running, count: usize, within: Duration) {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let stored = log(node).len();
        if stored >= count {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{stored} of {count} events stored within {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhooks_to_two_nodes_are_stored_on_both_at_the_same_seqs_with_the_same_alarms() {
    let dir = tempfile::tempdir().unwrap();
    let Some(nats) = LocalNats::for_tests(dir.path(), 3).await else {
        return;
    };
    let a = start_node("a", &nats).await;
    let b = start_node("b", &nats).await;
    let mut answered = Vec::new();
    for index in 0..10 {
        let node = if index % 2 == 0 { &a } else { &b };
        let body = sdwan_alarm(DOWN, &format!("00000000-0000-4000-8000-{index:012}"), None);
        let (status, answer) = post(node, body).await;
        assert_eq!(status, StatusCode::OK, "{answer}");
        answered.push(answer["seq"].as_u64().expect("a seq in the answer"));
    }
    wait_for_events(&a, 10, Duration::from_secs(20)).await;
    wait_for_events(&b, 10, Duration::from_secs(20)).await;
    let on_a = log(&a);
    assert_eq!(on_a.len(), 10);
    assert_eq!(on_a, log(&b), "both stores hold the same log");
    let seqs: Vec<u64> = on_a.iter().map(|(seq, _, _)| *seq).collect();
    assert_eq!(
        seqs, answered,
        "the seq each webhook was answered with is its stored seq"
    );
    let alarms_a = alarms(&a);
    assert_eq!(alarms_a.len(), 10);
    assert!(alarms_a.iter().all(|(_, raised, _, _)| *raised));
    assert_eq!(alarms_a, alarms(&b));

    // Each node's file sink writes its own copy of the history.
    for node in [&a, &b] {
        let path = node.dir.path().join("events.jsonl");
        crate::support::wait_until("the file sink wrote every event", || {
            std::fs::read_to_string(&path).is_ok_and(|text| text.lines().count() == 10)
        })
        .await;
    }
    // No alerting router in cluster mode: silences are refused with the reason.
    let response = reqwest::get(a.url("/api/v1/silences")).await.unwrap();
    assert_eq!(response.status(), StatusCode::NOT_IMPLEMENTED);
    assert!(response.text().await.unwrap().contains("cluster mode"));
    assert_eq!(
        reqwest::get(a.url("/readyz")).await.unwrap().status(),
        StatusCode::OK
    );
    a.stop().await;
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_webhook_posted_to_both_nodes_is_stored_once_on_each() {
    let dir = tempfile::tempdir().unwrap();
    let Some(nats) = LocalNats::for_tests(dir.path(), 3).await else {
        return;
    };
    let a = start_node("a", &nats).await;
    let b = start_node("b", &nats).await;
    let body = sdwan_alarm(DOWN, "11111111-0000-4000-8000-000000000001", None);
    let (status, first) = post(&a, body.clone()).await;
    assert_eq!(status, StatusCode::OK);
    let (status, second) = post(&b, body).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(second["seq"], first["seq"], "{first} {second}");
    assert_eq!(second["status"], "duplicate");
    // A later event shows both nodes have projected past the redelivery.
    let (status, _) = post(
        &b,
        sdwan_alarm(DOWN, "11111111-0000-4000-8000-000000000002", None),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    wait_for_events(&a, 2, Duration::from_secs(20)).await;
    wait_for_events(&b, 2, Duration::from_secs(20)).await;
    assert_eq!(log(&a).len(), 2);
    assert_eq!(log(&a), log(&b));

    // The Operator works without a router: an acknowledgement on one node is the alarm's
    // state on both, and the other node sees it is already so.
    let key = "vmanage:sdwan:11111111-0000-4000-8000-000000000001";
    let path = format!("/api/v1/alarms/{}/ack", key.replace(':', "%3A"));
    let ack = |node: &Running| reqwest::Client::new().post(node.url(&path)).send();
    let answer: Value = ack(&b).await.unwrap().json().await.unwrap();
    assert_eq!(answer["changed"], true, "{answer}");
    wait_for_events(&a, 3, Duration::from_secs(20)).await;
    let answer: Value = ack(&a).await.unwrap().json().await.unwrap();
    assert_eq!(answer["changed"], false, "{answer}");
    for node in [&a, &b] {
        let view = node.reader().alarm_view(key).unwrap().unwrap();
        let state = view.operator.expect("acknowledged on every node");
        assert_eq!(
            state.state,
            netpulse::operator::OperatorStateKind::Acknowledged
        );
    }
    assert_eq!(log(&a), log(&b));
    a.stop().await;
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_nats_down_webhooks_are_spooled_then_relayed_and_stored_once_on_both_nodes() {
    let dir = tempfile::tempdir().unwrap();
    let Some(mut nats) = LocalNats::for_tests(dir.path(), 3).await else {
        return;
    };
    let a = start_node("a", &nats).await;
    let b = start_node("b", &nats).await;
    for index in 0..2 {
        let body = sdwan_alarm(DOWN, &format!("22222222-0000-4000-8000-{index:012}"), None);
        assert_eq!(post(&a, body).await.0, StatusCode::OK);
    }
    wait_for_events(&b, 2, Duration::from_secs(20)).await;

    for index in 0..3 {
        nats.kill(index);
    }
    let mut spooled = 0;
    for index in 2..12 {
        let node = if index % 2 == 0 { &a } else { &b };
        let body = sdwan_alarm(DOWN, &format!("22222222-0000-4000-8000-{index:012}"), None);
        let (status, answer) = post(node, body).await;
        assert_eq!(
            status,
            StatusCode::OK,
            "answered 2xx from the spool: {answer}"
        );
        if answer["seq"] == 0 {
            spooled += 1;
        }
    }
    // The same provider redelivery reaching both nodes during the outage.
    let again = sdwan_alarm(DOWN, "22222222-0000-4000-8000-000000000002", None);
    assert_eq!(post(&b, again).await.0, StatusCode::OK);
    assert_eq!(spooled, 10, "every webhook during the outage was spooled");
    let depth = a.reader().spool_depth().unwrap() + b.reader().spool_depth().unwrap();
    assert_eq!(depth, 11);
    assert_eq!(log(&a).len(), 2, "nothing is projected while NATS is down");

    for index in 0..3 {
        nats.restart(index).unwrap();
    }
    wait_for_events(&a, 12, RECOVERY).await;
    wait_for_events(&b, 12, RECOVERY).await;
    crate::support::wait_until("both spools are empty", || {
        a.reader().spool_depth().unwrap() == 0 && b.reader().spool_depth().unwrap() == 0
    })
    .await;
    let on_a = log(&a);
    assert_eq!(on_a.len(), 12, "every event stored exactly once: {on_a:?}");
    assert_eq!(on_a, log(&b));
    assert_eq!(alarms(&a), alarms(&b));
    assert_eq!(alarms(&a).len(), 12);
    a.stop().await;
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_fenced_with_a_revision_older_than_the_newest_lease_is_not_projected() {
    let dir = tempfile::tempdir().unwrap();
    let Some(nats) = LocalNats::for_tests(dir.path(), 3).await else {
        return;
    };
    let a = start_node("a", &nats).await;
    let client = async_nats::connect(nats.urls()[1].as_str()).await.unwrap();
    let jetstream = async_nats::jetstream::new(client);
    let lease = Control::Lease {
        key: "dev.leaf1".into(),
        node: "b".into(),
        revision: 5,
        acquired_ms: 0,
    };
    jetstream
        .publish(lease.subject(), serde_json::to_vec(&lease).unwrap().into())
        .await
        .unwrap()
        .await
        .unwrap();
    let mut ids = Vec::new();
    for fence in [Some("dev.leaf1 4"), Some("dev.leaf1 5"), None] {
        let event = netpulse::event::Event::new(
            "leaf1",
            "com.cisco.dme.modified",
            jiff::Timestamp::now(),
            serde_json::json!({"fence": fence}),
        );
        ids.push(event.id.clone());
        let payload = serde_json::to_vec(&wire::WireEvent {
            event: event.clone(),
            idempotency_key: None,
            alarms: Vec::new(),
        })
        .unwrap();
        let mut headers = async_nats::HeaderMap::new();
        headers.insert(wire::MSG_ID, event.id.as_str());
        headers.insert(wire::NODE, "b");
        if let Some(fence) = fence {
            headers.insert(wire::FENCE, fence);
        }
        jetstream
            .publish_with_headers(wire::event_subject("leaf1"), headers, payload.into())
            .await
            .unwrap()
            .await
            .unwrap();
    }
    crate::support::wait_until("the projection reached the last message", || {
        a.reader().projection_cursor().unwrap() >= 4
    })
    .await;
    let stored: Vec<String> = log(&a).into_iter().map(|(_, id, _)| id).collect();
    assert_eq!(
        stored,
        [ids[1].clone(), ids[2].clone()],
        "the stale one is dropped"
    );
    assert_eq!(a.reader().fence("dev.leaf1").unwrap(), Some(5));
    assert!(a.metrics().await.contains("netpulse_cluster_fenced_total"));
    a.stop().await;
}

/// A Webex sink's lease handed over (a preferred node joins) while the deliverer's requests take
/// 3 s each, so that a post is in flight at the handover: the new deliverer ends up with the
/// lease, and each alarm is posted once (the post in flight is recorded before it leaves and
/// either confirmed or found in the room; the handover also waits for it to finish, which this
/// test cannot tell apart: the simulator's latency slows the room listing as much).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sink_handed_over_while_a_post_is_slow_posts_each_alarm_once() {
    use netpulse::sim::webex::{Fault, WebexSim, WebexSimConfig};
    let dir = tempfile::tempdir().unwrap();
    let Some(nats) = LocalNats::for_tests(dir.path(), 3).await else {
        return;
    };
    let shutdown = tokio_util::sync::CancellationToken::new();
    let sim = WebexSim::start(WebexSimConfig::default(), shutdown.clone())
        .await
        .unwrap();
    let room = sim.room_id("NOC").unwrap();
    sim.fault(Fault::Latency { millis: 3000 });
    // The joining node is the one rendezvous hashing prefers for the sink's lease.
    let joining = (0..100)
        .map(|index| format!("b{index}"))
        .find(|node| {
            netpulse::cluster::rendezvous::rank("sink.noc", ["a", node.as_str()])[0] == node
        })
        .unwrap();
    let with_sink = |node: &str| {
        config(node, &nats).replace(
            "cluster:\n",
            "cluster:\n  lease: { ttl: 10s, renew: 1s, self_fence: 8s, poll: 500ms, member_ttl: 6s }\n",
        ) + &format!(
            "  - name: noc
    type: webex
    base_url: {}
    token: sim-bot-token
    room_id: \"{room}\"
    rate_limit: 100
",
            sim.base_url()
        )
    };
    let a = Running::start(&with_sink("a"), &[]).await;
    const ALARMS: usize = 6;
    for index in 0..ALARMS {
        let uuid = format!("22222222-0000-4000-8000-{index:012}");
        let (status, _) = post(&a, sdwan_alarm(DOWN, &uuid, None)).await;
        assert_eq!(status, StatusCode::OK);
    }
    crate::support::wait_until("a posts", || !sim.requests().is_empty()).await;
    let b = Running::start(&with_sink(&joining), &[]).await;
    let deadline = std::time::Instant::now() + Duration::from_secs(90);
    while sim.messages().len() < ALARMS && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Time for a second copy to show up, if one were coming.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let posts = sim.requests().len();
    let cluster: Value = reqwest::get(b.url("/api/v1/cluster"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let sink_owner = cluster["leases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|lease| lease["key"] == "sink.noc")
        .map(|lease| lease["owner"].clone());
    assert_eq!(sink_owner, Some(Value::from(joining.as_str())), "{cluster}");
    assert_eq!(sim.messages().len(), ALARMS, "messages in the room");
    assert_eq!(posts, ALARMS, "POSTs: one per alarm, none repeated");
    a.stop().await;
    b.stop().await;
    shutdown.cancel();
}
