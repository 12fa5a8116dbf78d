//! The device view survives a restart: a device changed while netpulse was stopped (cleanly or by
//! kill -9) is reported after the restart as one gap event naming netpulse's downtime, then
//! exactly the changes; a restart without a change reports the gap and nothing else. DME against
//! the simulated switch, pxGrid against the simulated ISE node.

use std::path::Path;
use std::time::Duration;

use netpulse::event::{Event, GAP_EVENT_TYPE};
use netpulse::sim::dme::{Change, DmeSim};
use netpulse::sim::ise::{IseSim, IseSimConfig, session};
use netpulse::source::ConnectionState;
use netpulse::store::{EventQuery, Reader};
use tokio_util::sync::CancellationToken;

use crate::support::{Running, TIMEOUT, attrs, free_port, small_switch, spawn_gateway, wait_until};

const PORT1: &str = "sys/intf/phys-[eth1/1]/phys";
const PORT2: &str = "sys/intf/phys-[eth1/2]/phys";
const PORT4: &str = "sys/intf/phys-[eth1/4]/phys";
const VLAN101: &str = "sys/bd/bd-[vlan-101]";
const VLAN300: &str = "sys/bd/bd-[vlan-300]";
const ENV: &[(&str, &str)] = &[
    ("TEST_PASSWORD", "admin"),
    ("PXGRID_PASSWORD", PXGRID_PASSWORD),
];

fn set(dn: &str, pairs: &[(&str, &str)]) -> Change {
    Change::Set {
        dn: dn.into(),
        attrs: attrs(pairs),
    }
}

fn create_vlan300() -> Change {
    Change::Create {
        class: "l2BD".into(),
        dn: VLAN300.into(),
        attrs: attrs(&[
            ("id", "300"),
            ("fabEncap", "vlan-300"),
            ("name", "made-while-down"),
            ("adminSt", "active"),
        ]),
    }
}

/// The configuration of a gateway subscribed to the simulator's first switch, its store and its
/// CA file in `dir`.
fn dme_yaml(sim: &DmeSim, dir: &Path, listen: &str) -> String {
    let ca_file = dir.join("ca.pem");
    std::fs::write(&ca_file, sim.ca_pem().unwrap()).unwrap();
    format!(
        "store: {{ path: {store} }}\nhttp: {{ listen: \"{listen}\" }}\nsources:\n  - name: leaf1\n    type: dme\n    address: {address}\n    username: admin\n    password: ${{TEST_PASSWORD}}\n    tls: {{ ca_file: {ca} }}\n    backoff: {{ initial: 200ms, max: 2s }}\n    subscriptions:\n      - /api/class/ethpmPhysIf.json\n      - /api/node/class/l2BD.json\n",
        store = dir.join("netpulse.db").display(),
        address = sim.devices()[0].base_url(),
        ca = ca_file.display(),
    )
}

fn events_after(reader: &Reader, seq: u64) -> Vec<Event> {
    reader
        .events(&EventQuery {
            after_seq: Some(seq),
            limit: 1000,
            ..Default::default()
        })
        .unwrap()
}

fn last_seq(reader: &Reader) -> u64 {
    reader.seq_range().unwrap().1
}

async fn wait_connected(running: &Running, source: &str) {
    wait_until(&format!("{source} is connected"), || {
        running
            .gateway()
            .source(source)
            .unwrap()
            .status
            .snapshot()
            .state
            == ConnectionState::Connected
    })
    .await;
}

/// Makes a change on the device after the session is live and waits until it is stored: every
/// event of the session's resync comes before it.
async fn mark(reader: impl Fn() -> Reader, sim: &DmeSim, oper: &str) -> Vec<Event> {
    let before = last_seq(&reader());
    sim.devices()[0]
        .apply(set(PORT4, &[("operSt", oper)]))
        .unwrap();
    let marked = |events: &[Event]| {
        events.iter().any(|event| {
            event.seq > before
                && event.subject.as_deref() == Some(PORT4)
                && event.data["ethpmPhysIf"]["attributes"]["operSt"] == oper
        })
    };
    wait_until("the marker change is stored", || {
        marked(&events_after(&reader(), 0))
    })
    .await;
    events_after(&reader(), 0)
}

/// The events up to (not including) the marker change on PORT4.
fn before_marker(events: &[Event], after: u64) -> Vec<Event> {
    events
        .iter()
        .filter(|event| event.seq > after)
        .take_while(|event| event.subject.as_deref() != Some(PORT4))
        .cloned()
        .collect()
}

/// Checks the events a restart produced: one gap event for netpulse's downtime, since a time at
/// or after `not_before`, then exactly `changes` (type, dn), each marked `resync`.
fn assert_restart(events: &[Event], not_before: jiff::Timestamp, changes: &[(&str, &str)]) {
    let gap = &events[0];
    assert_eq!(gap.kind, GAP_EVENT_TYPE, "the gap comes first: {events:#?}");
    assert_eq!(gap.data["reason"], "netpulse_down", "{:?}", gap.data);
    let since: jiff::Timestamp = gap.data["since"].as_str().unwrap().parse().unwrap();
    let until: jiff::Timestamp = gap.data["until"].as_str().unwrap().parse().unwrap();
    assert!(
        since >= not_before && since < until,
        "the gap runs from the stored view's last change ({since}) to the resync ({until})"
    );
    let found: Vec<(&str, &str)> = events[1..]
        .iter()
        .map(|event| (event.kind.as_str(), event.subject.as_deref().unwrap_or("")))
        .collect();
    assert_eq!(
        found, changes,
        "exactly the changes made while netpulse was down"
    );
    assert!(events[1..].iter().all(|event| event.resync));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_switch_changed_while_netpulse_was_stopped_is_resynchronised_after_the_restart() {
    let sim_shutdown = CancellationToken::new();
    let sim = DmeSim::start(small_switch(), sim_shutdown.clone())
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let yaml = dme_yaml(&sim, dir.path(), "127.0.0.1:0");
    let started = jiff::Timestamp::now();
    let running = Running::start_in(dir, &yaml, ENV).await;
    wait_connected(&running, "leaf1").await;
    assert!(
        events_after(&running.reader(), 0).is_empty(),
        "the first snapshot is the baseline"
    );
    let stored = running.reader().view("leaf1").unwrap().expect("saved");
    assert!(stored.objects.iter().any(|object| object.key == VLAN101));
    // A change reported live reaches the stored view through its event.
    sim.devices()[0]
        .apply(set(PORT2, &[("operSt", "down")]))
        .unwrap();
    mark(|| running.reader(), &sim, "down").await;
    let before_stop = last_seq(&running.reader());
    let dir = running.stop().await;

    sim.devices()[0]
        .apply(set(
            PORT1,
            &[("operSt", "down"), ("operStQual", "link-failure")],
        ))
        .unwrap();
    sim.devices()[0].apply(create_vlan300()).unwrap();
    sim.devices()[0]
        .apply(Change::Delete { dn: VLAN101.into() })
        .unwrap();
    let running = Running::start_in(dir, &yaml, ENV).await;
    wait_connected(&running, "leaf1").await;
    let events = mark(|| running.reader(), &sim, "up").await;
    let restart = before_marker(&events, before_stop);
    assert_restart(
        &restart,
        started,
        &[
            ("com.cisco.dme.modified", PORT1),
            ("com.cisco.dme.created", VLAN300),
            ("com.cisco.dme.deleted", VLAN101),
        ],
    );
    assert_eq!(
        (
            &restart[0].data["created"],
            &restart[0].data["modified"],
            &restart[0].data["deleted"]
        ),
        (&1.into(), &1.into(), &1.into())
    );
    let modified = &restart[1].data["ethpmPhysIf"]["attributes"];
    assert_eq!(modified["operSt"], "down");
    assert!(
        modified.get("operSpeed").is_none(),
        "a modification carries what changed: {modified}"
    );

    // Restarted again without a change: the gap, and nothing else.
    let before_stop = last_seq(&running.reader());
    let stopped_at = jiff::Timestamp::now();
    let dir = running.stop().await;
    let running = Running::start_in(dir, &yaml, ENV).await;
    wait_connected(&running, "leaf1").await;
    let events = mark(|| running.reader(), &sim, "down").await;
    let restart = before_marker(&events, before_stop);
    assert_eq!(restart.len(), 1, "{restart:#?}");
    assert_restart(&restart, started, &[]);
    let since: jiff::Timestamp = restart[0].data["since"].as_str().unwrap().parse().unwrap();
    assert!(
        since >= stopped_at,
        "a clean stop is where netpulse stopped listening: {since} < {stopped_at}"
    );
    running.stop().await;
    sim_shutdown.cancel();
}

/// Waits until the gateway process has stored an event matching `matches`; answers every event.
async fn wait_stored(db: &Path, what: &str, matches: impl Fn(&Event) -> bool) -> Vec<Event> {
    let deadline = tokio::time::Instant::now() + TIMEOUT;
    loop {
        if let Ok(reader) = Reader::open(db) {
            let events = events_after(&reader, 0);
            if events.iter().any(&matches) {
                return events;
            }
        }
        assert!(tokio::time::Instant::now() < deadline, "timed out: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_kill_9_the_changes_made_meanwhile_are_reported_once() {
    let sim_shutdown = CancellationToken::new();
    let sim = DmeSim::start(small_switch(), sim_shutdown.clone())
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("netpulse.yaml");
    let listen = format!("127.0.0.1:{}", free_port());
    std::fs::write(&config, dme_yaml(&sim, dir.path(), &listen)).unwrap();
    let db = dir.path().join("netpulse.db");
    let started = jiff::Timestamp::now();
    let mut gateway = spawn_gateway(&config, &[("TEST_PASSWORD", "admin")]);
    wait_until("the baseline is stored", || {
        Reader::open(&db).is_ok_and(|reader| reader.view("leaf1").is_ok_and(|view| view.is_some()))
    })
    .await;
    sim.devices()[0]
        .apply(set(PORT2, &[("operSt", "down")]))
        .unwrap();
    wait_stored(&db, "the live change is stored", |event| {
        event.subject.as_deref() == Some(PORT2)
    })
    .await;
    gateway.kill().unwrap();
    gateway.wait().unwrap();
    let before_kill = last_seq(&Reader::open(&db).unwrap());

    sim.devices()[0]
        .apply(set(PORT2, &[("operSt", "up")]))
        .unwrap();
    sim.devices()[0].apply(create_vlan300()).unwrap();
    let mut gateway = spawn_gateway(&config, &[("TEST_PASSWORD", "admin")]);
    wait_stored(&db, "the gap is stored", |event| {
        event.seq > before_kill && event.kind == GAP_EVENT_TYPE
    })
    .await;
    sim.devices()[0]
        .apply(set(PORT4, &[("operSt", "down")]))
        .unwrap();
    let events = wait_stored(&db, "the marker is stored", |event| {
        event.subject.as_deref() == Some(PORT4)
    })
    .await;
    gateway.kill().unwrap();
    gateway.wait().unwrap();
    assert_restart(
        &before_marker(&events, before_kill),
        started,
        &[
            ("com.cisco.dme.modified", PORT2),
            ("com.cisco.dme.created", VLAN300),
        ],
    );
    sim_shutdown.cancel();
}

const NODE: &str = "netpulse";
const PXGRID_PASSWORD: &str = "pxgrid-password";

fn endpoint(host: u8, state: &str) -> serde_json::Value {
    session(
        &format!("18:60:24:00:00:{host:02X}"),
        &format!("172.31.8.{host}"),
        &format!("user{host}"),
        state,
        "172.31.1.7",
    )
}

fn mac(host: u8) -> String {
    format!("18:60:24:00:00:{host:02X}")
}

/// Publishes a marker session once the source is live and waits until it is stored.
async fn mark_ise(running: &Running, sim: &IseSim, host: u8) -> Vec<Event> {
    wait_connected(running, "ise").await;
    sim.publish(vec![endpoint(host, "STARTED")]);
    wait_until("the marker session is stored", || {
        events_after(&running.reader(), 0)
            .iter()
            .any(|event| event.subject.as_deref() == Some(&mac(host)))
    })
    .await;
    events_after(&running.reader(), 0)
}

fn before_ise_marker(events: &[Event], after: u64, host: u8) -> Vec<Event> {
    events
        .iter()
        .filter(|event| event.seq > after)
        .take_while(|event| event.subject.as_deref() != Some(&mac(host)))
        .cloned()
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pxgrid_sessions_changed_while_netpulse_was_stopped_are_reported_after_the_restart() {
    let sim_shutdown = CancellationToken::new();
    let sim = IseSim::start(
        IseSimConfig {
            accounts: vec![(NODE.to_owned(), PXGRID_PASSWORD.to_owned())],
            ..IseSimConfig::default()
        },
        sim_shutdown.clone(),
    )
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let ca_file = dir.path().join("ise-ca.pem");
    std::fs::write(&ca_file, sim.ca_pem().unwrap()).unwrap();
    let yaml = format!(
        "store: {{ path: netpulse.db }}\nhttp: {{ listen: \"127.0.0.1:0\" }}\nsources:\n  - name: ise\n    type: pxgrid\n    address: {address}\n    node_name: {NODE}\n    password: ${{PXGRID_PASSWORD}}\n    tls: {{ ca_file: {ca} }}\n    activation_poll: 50ms\n    backoff: {{ initial: 100ms, max: 1s }}\n",
        address = sim.base_url(),
        ca = ca_file.display(),
    );
    let started = jiff::Timestamp::now();
    let running = Running::start_in(dir, &yaml, ENV).await;
    wait_connected(&running, "ise").await;
    sim.publish(vec![endpoint(1, "STARTED"), endpoint(2, "STARTED")]);
    wait_until("two sessions are stored", || {
        events_after(&running.reader(), 0).len() == 2
    })
    .await;
    let before_stop = last_seq(&running.reader());
    let dir = running.stop().await;

    sim.publish(vec![
        endpoint(1, "DISCONNECTED"),
        endpoint(3, "AUTHENTICATED"),
    ]);
    let running = Running::start_in(dir, &yaml, ENV).await;
    let events = mark_ise(&running, &sim, 9).await;
    let restart = before_ise_marker(&events, before_stop, 9);
    let gap = &restart[0];
    assert_eq!(gap.kind, GAP_EVENT_TYPE, "{restart:#?}");
    assert_eq!(gap.data["reason"], "netpulse_down");
    assert_eq!(gap.data["sessions"], 2, "{:?}", gap.data);
    let since: jiff::Timestamp = gap.data["since"].as_str().unwrap().parse().unwrap();
    assert!(since >= started);
    let found: Vec<(&str, &str)> = restart[1..]
        .iter()
        .map(|event| (event.kind.as_str(), event.subject.as_deref().unwrap()))
        .collect();
    assert_eq!(
        found,
        [
            ("com.cisco.ise.session.disconnected", mac(1).as_str()),
            ("com.cisco.ise.session.authenticated", mac(3).as_str()),
        ],
        "exactly the sessions that changed, not the ones reported before the stop"
    );
    assert!(restart[1..].iter().all(|event| event.resync));

    let before_stop = last_seq(&running.reader());
    let dir = running.stop().await;
    let running = Running::start_in(dir, &yaml, ENV).await;
    let events = mark_ise(&running, &sim, 10).await;
    let restart = before_ise_marker(&events, before_stop, 10);
    assert_eq!(restart.len(), 1, "the gap and nothing else: {restart:#?}");
    assert_eq!(restart[0].kind, GAP_EVENT_TYPE);
    assert_eq!(restart[0].data["reason"], "netpulse_down");
    assert_eq!(restart[0].data["sessions"], 0);
    running.stop().await;
    sim_shutdown.cancel();
    sim.stopped().await;
}
