use std::collections::BTreeMap;

use serde_json::Value;
use tokio::sync::{mpsc, oneshot};

use super::*;
use crate::sim::dme::query::Query;
use crate::sim::dme::{DmeSimConfig, new_device};

struct Harness {
    device: SimDevice,
    session: u64,
    frames: mpsc::Receiver<String>,
    closed: oneshot::Receiver<CloseReason>,
}

fn harness(queue: usize) -> Harness {
    let config = DmeSimConfig {
        ports: 4,
        vlans: 2,
        ..DmeSimConfig::default()
    };
    let settings = Arc::new(DeviceSettings {
        username: "admin".into(),
        password: "admin".into(),
        refresh_timeout: config.refresh_timeout,
        subscription_ttl: config.subscription_ttl,
        rotate_token_on_refresh: true,
    });
    let inner = new_device(
        &config,
        0,
        "127.0.0.1:1".parse().unwrap(),
        false,
        &settings,
        &CancellationToken::new(),
        &TaskTracker::new(),
        None,
    )
    .unwrap();
    let now = Instant::now();
    let (frames_sender, frames) = mpsc::channel(queue);
    let (closer, closed) = oneshot::channel();
    let session = {
        let mut state = inner.lock();
        let session = state.table.login(
            "admin",
            "token".into(),
            "sid".into(),
            0,
            now + Duration::from_secs(600),
        );
        state
            .table
            .attach_socket(session, frames_sender, closer)
            .unwrap();
        session
    };
    Harness {
        device: SimDevice { inner },
        session,
        frames,
        closed,
    }
}

impl Harness {
    fn subscribe(&self, path: &str, raw: &str) -> u64 {
        let query = Query::parse(path, Some(raw)).unwrap();
        self.device.inner.lock().table.subscribe(
            self.session,
            query,
            Duration::from_secs(60),
            Instant::now(),
        )
    }

    fn next_frame(&mut self) -> Option<Value> {
        self.frames
            .try_recv()
            .ok()
            .map(|frame| serde_json::from_str(&frame).unwrap())
    }
}

fn set(dn: &str, name: &str, value: &str) -> Change {
    Change::Set {
        dn: dn.into(),
        attrs: BTreeMap::from([(name.to_owned(), value.to_owned())]),
    }
}

fn ids(frame: &Value) -> Vec<u64> {
    frame["subscriptionId"]
        .as_array()
        .unwrap()
        .iter()
        .map(|id| id.as_str().unwrap().parse().unwrap())
        .collect()
}

#[test]
fn one_frame_per_object_lists_every_matching_subscription() {
    let mut harness = harness(16);
    let class = harness.subscribe("/api/class/ethpmPhysIf.json", "");
    let subtree = harness.subscribe(
        "/api/mo/sys/intf.json",
        "query-target=subtree&target-subtree-class=ethpmPhysIf",
    );
    let unrelated = harness.subscribe("/api/class/l2BD.json", "");
    harness
        .device
        .apply(set("sys/intf/phys-[eth1/1]/phys", "operSt", "down"))
        .unwrap();
    let frame = harness.next_frame().expect("a push");
    assert_eq!(ids(&frame), vec![class, subtree]);
    assert!(!ids(&frame).contains(&unrelated));
    assert_eq!(
        frame["imdata"][0]["ethpmPhysIf"]["attributes"]["status"],
        "modified"
    );
    assert!(harness.next_frame().is_none(), "exactly one frame");
    assert_eq!(harness.device.stats().changes_applied_total, 1);
}

#[test]
fn an_object_leaving_a_filter_is_still_pushed() {
    let mut harness = harness(16);
    harness.subscribe(
        "/api/class/ethpmPhysIf.json",
        r#"query-target-filter=eq(ethpmPhysIf.operSt,"up")"#,
    );
    harness
        .device
        .apply(set("sys/intf/phys-[eth1/1]/phys", "operSt", "unknown"))
        .unwrap();
    harness
        .device
        .apply(set("sys/intf/phys-[eth1/1]/phys", "operSt", "down"))
        .unwrap();
    let frame = harness
        .next_frame()
        .expect("up -> unknown leaves the filter");
    assert_eq!(
        frame["imdata"][0]["ethpmPhysIf"]["attributes"]["operSt"],
        "unknown"
    );
    assert!(
        harness.next_frame().is_none(),
        "unknown -> down never matched"
    );
}

#[test]
fn no_op_sets_and_lapsed_subscriptions_send_nothing() {
    let mut harness = harness(16);
    harness.subscribe("/api/class/l1PhysIf.json", "");
    harness
        .device
        .apply(set("sys/intf/phys-[eth1/1]", "descr", ""))
        .unwrap();
    assert!(harness.next_frame().is_none());
    harness
        .device
        .inner
        .lock()
        .table
        .sweep(Instant::now() + Duration::from_secs(61));
    harness
        .device
        .apply(set("sys/intf/phys-[eth1/1]", "descr", "x"))
        .unwrap();
    assert!(harness.next_frame().is_none());
    assert_eq!(harness.device.stats().subscriptions_expired_total, 1);
}

#[test]
fn deleting_a_subtree_pushes_every_object_to_class_subtree_subscriptions() {
    let mut harness = harness(64);
    harness.subscribe(
        "/api/class/interfaceEntity.json",
        "query-target=subtree&target-subtree-class=ethpmPhysIf",
    );
    harness
        .device
        .apply(Change::Delete {
            dn: "sys/intf".into(),
        })
        .unwrap();
    let mut deleted = Vec::new();
    while let Some(frame) = harness.next_frame() {
        let attributes = &frame["imdata"][0]["ethpmPhysIf"]["attributes"];
        assert_eq!(attributes["status"], "deleted");
        deleted.push(attributes["dn"].as_str().unwrap().to_owned());
    }
    assert_eq!(deleted.len(), 4, "{deleted:?}");
}

#[test]
fn a_slow_client_is_disconnected_instead_of_buffered() {
    let mut harness = harness(2);
    harness.subscribe("/api/class/l1PhysIf.json", "");
    for index in 0..3 {
        harness
            .device
            .apply(set("sys/intf/phys-[eth1/1]", "descr", &index.to_string()))
            .unwrap();
    }
    assert_eq!(harness.closed.try_recv(), Ok(CloseReason::SlowConsumer));
    assert_eq!(harness.device.stats().sockets_open, 0);
}

#[test]
fn random_changes_apply_generator_steps() {
    let mut harness = harness(1024);
    harness.subscribe("/api/mo/sys.json", "query-target=subtree");
    harness.device.apply(Change::Random { count: 20 }).unwrap();
    assert_eq!(harness.device.stats().changes_applied_total, 20);
    assert!(harness.next_frame().is_some());
}

#[test]
fn faults_change_sessions_and_availability() {
    let mut harness = harness(16);
    harness.subscribe("/api/class/l1PhysIf.json", "");
    harness.device.fault(Fault::LoseSubscriptions);
    harness
        .device
        .apply(set("sys/intf/phys-[eth1/1]", "descr", "x"))
        .unwrap();
    assert!(harness.next_frame().is_none());
    assert_eq!(harness.device.stats().sessions_active, 1);
    harness.device.fault(Fault::Restart {
        down_for_ms: 60_000,
    });
    assert_eq!(harness.closed.try_recv(), Ok(CloseReason::Dropped));
    let mut state = harness.device.inner.lock();
    assert!(state.is_down(Instant::now()));
    assert!(!state.is_down(Instant::now() + Duration::from_secs(61)));
    assert!(state.table.sessions.is_empty());
}

#[test]
fn dump_lists_objects_by_dn_without_transient_attributes() {
    let harness = harness(1);
    let dump = harness.device.dump();
    assert_eq!(dump.len(), 3 + 4 * 2 + 2);
    assert!(
        dump.windows(2)
            .all(|pair| pair[0].attributes["dn"] < pair[1].attributes["dn"])
    );
    assert!(
        dump.iter()
            .all(|mo| mo.attributes.contains_key("modTs") && !mo.attributes.contains_key("status"))
    );
}

#[test]
fn a_paused_generator_changes_nothing_until_resumed() {
    let harness = harness(8);
    harness.device.pause_changes(true);
    for _ in 0..5 {
        harness.device.generate().unwrap();
    }
    assert_eq!(harness.device.stats().changes_applied_total, 0);
    harness.device.pause_changes(false);
    harness.device.generate().unwrap();
    assert_eq!(harness.device.stats().changes_applied_total, 1);
}
