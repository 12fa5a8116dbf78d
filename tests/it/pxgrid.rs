//! The pxGrid source end to end against the simulated ISE node: session events into the store,
//! account approval, a dropped socket and a dead peer with their gap and resynchronisation.

use std::collections::HashSet;
use std::time::Duration;

use netpulse::event::{Event, GAP_EVENT_TYPE};
use netpulse::sim::ise::{Fault, IseSim, IseSimConfig, session};
use netpulse::source::ConnectionState;
use netpulse::store::EventQuery;
use tokio_util::sync::CancellationToken;

use crate::support::{Running, wait_until};

const NODE: &str = "netpulse";
const PASSWORD: &str = "pxgrid-password";

struct Setup {
    sim: IseSim,
    running: Running,
    sim_shutdown: CancellationToken,
    _ca_dir: tempfile::TempDir,
}

/// An ISE simulator with the account `netpulse` and a gateway subscribed to it.
async fn start(sim_config: IseSimConfig) -> Setup {
    let sim_shutdown = CancellationToken::new();
    let sim_config = IseSimConfig {
        accounts: vec![(NODE.to_owned(), PASSWORD.to_owned())],
        // Short heart-beats so that a dead peer is noticed within a second.
        heartbeat: (Duration::from_millis(100), Duration::from_millis(100)),
        ..sim_config
    };
    let sim = IseSim::start(sim_config, sim_shutdown.clone())
        .await
        .expect("the simulator starts");
    let ca_dir = tempfile::tempdir().unwrap();
    let ca_file = ca_dir.path().join("ise-ca.pem");
    std::fs::write(&ca_file, sim.ca_pem().unwrap()).unwrap();
    let yaml = format!(
        "store: {{ path: netpulse.db }}\nhttp: {{ listen: \"127.0.0.1:0\" }}\nsources:\n  - name: ise\n    type: pxgrid\n    address: {address}\n    node_name: {NODE}\n    password: ${{PXGRID_PASSWORD}}\n    tls: {{ ca_file: {ca} }}\n    activation_poll: 50ms\n    heartbeat: 300ms\n    backoff: {{ initial: 100ms, max: 1s }}\nsinks:\n  - {{ name: archive, type: file, path: events.jsonl }}\n",
        address = sim.base_url(),
        ca = ca_file.display(),
    );
    let running = Running::start(&yaml, &[("PXGRID_PASSWORD", PASSWORD)]).await;
    Setup {
        sim,
        running,
        sim_shutdown,
        _ca_dir: ca_dir,
    }
}

impl Setup {
    fn status(&self) -> netpulse::source::StatusSnapshot {
        self.running
            .gateway()
            .source("ise")
            .unwrap()
            .status
            .snapshot()
    }

    fn events(&self) -> Vec<Event> {
        self.running
            .reader()
            .events(&EventQuery {
                after_seq: Some(0),
                limit: 1000,
                ..Default::default()
            })
            .unwrap()
    }

    async fn wait_connected(&self, connects: u64) {
        wait_until(
            &format!("the source has connected {connects} times"),
            || {
                let status = self.status();
                status.state == ConnectionState::Connected && status.connects >= connects
            },
        )
        .await;
    }

    async fn wait_for_events(&self, what: &str, matches: impl Fn(&[Event]) -> bool) -> Vec<Event> {
        wait_until(what, || matches(&self.events())).await;
        self.events()
    }

    async fn stop(self) {
        self.running.stop().await;
        self.sim_shutdown.cancel();
        self.sim.stopped().await;
    }
}

fn endpoint(host: u8, state: &str) -> serde_json::Value {
    session(
        &format!("18:60:24:00:00:{host:02X}"),
        &format!("172.31.8.{host}"),
        &format!("user{host}"),
        state,
        "172.31.1.7",
    )
}

fn subjects(events: &[Event]) -> Vec<&str> {
    events
        .iter()
        .filter(|event| event.kind.starts_with("com.cisco.ise.session."))
        .filter_map(|event| event.subject.as_deref())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn published_sessions_arrive_in_the_store() {
    let setup = start(IseSimConfig::default()).await;
    setup.wait_connected(1).await;
    setup
        .sim
        .publish(vec![endpoint(1, "STARTED"), endpoint(2, "AUTHENTICATED")]);
    setup.sim.publish(vec![endpoint(1, "DISCONNECTED")]);
    let events = setup
        .wait_for_events("three session events are stored", |events| {
            events.len() >= 3
        })
        .await;
    let kinds: Vec<_> = events.iter().map(|event| event.kind.as_str()).collect();
    assert_eq!(
        kinds,
        [
            "com.cisco.ise.session.started",
            "com.cisco.ise.session.authenticated",
            "com.cisco.ise.session.disconnected"
        ]
    );
    let first = &events[0];
    assert_eq!(first.device, "172.31.1.7", "device is the NAS");
    assert_eq!(first.subject.as_deref(), Some("18:60:24:00:00:01"));
    assert_eq!(
        first.summary,
        "user1 STARTED on sw4 (18:60:24:00:00:01, 172.31.8.1)"
    );
    assert_eq!(first.data["userName"], "user1");
    assert!(!first.resync);
    let status = setup.status();
    assert_eq!(
        (status.events, status.gaps, status.subscriptions),
        (3, 0, 1)
    );
    assert!(status.last_event_at.is_some());
    setup.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pending_account_waits_for_approval() {
    let setup = start(IseSimConfig {
        approval_polls: 1_000_000,
        ..IseSimConfig::default()
    })
    .await;
    wait_until("the account is polled while PENDING", || {
        setup.sim.stats().activations >= 3
    })
    .await;
    let status = setup.status();
    assert_eq!(status.state, ConnectionState::Connecting);
    assert!(
        status
            .last_error
            .as_deref()
            .unwrap_or_default()
            .contains("PENDING"),
        "{status:?}"
    );
    assert_eq!(status.connects, 0);

    setup.sim.approve(NODE);
    setup.wait_connected(1).await;
    setup.sim.publish(vec![endpoint(3, "STARTED")]);
    setup
        .wait_for_events("the session arrives after approval", |events| {
            events.len() == 1
        })
        .await;
    setup.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn approval_after_a_number_of_polls() {
    let setup = start(IseSimConfig {
        approval_polls: 3,
        ..IseSimConfig::default()
    })
    .await;
    setup.wait_connected(1).await;
    assert!(setup.sim.stats().activations >= 4);
    setup.stop().await;
}

/// A socket dropped while ISE cannot be reached: the sessions published meanwhile come back
/// through getSessions after the gap event, marked `resync`, and nothing is reported twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_socket_is_resynchronised_without_loss() {
    let setup = start(IseSimConfig::default()).await;
    setup.wait_connected(1).await;
    setup.sim.publish(vec![endpoint(1, "STARTED")]);
    setup
        .wait_for_events("the live session arrives", |events| events.len() == 1)
        .await;

    // Keep the gateway out while sessions change, so they can only come back by a resync.
    setup.sim.fault(Fault::DisableAccounts);
    setup.sim.fault(Fault::DropSockets);
    wait_until("the source notices the drop", || {
        setup.status().state != ConnectionState::Connected
    })
    .await;
    setup
        .sim
        .publish(vec![endpoint(2, "STARTED"), endpoint(1, "DISCONNECTED")]);
    setup.sim.publish(vec![endpoint(3, "POSTURED")]);
    wait_until("the refused account is reported", || {
        setup.status().login_failures >= 1
    })
    .await;
    setup.sim.fault(Fault::EnableAccounts);
    setup.wait_connected(2).await;
    setup.sim.publish(vec![endpoint(4, "STARTED")]);

    let events = setup
        .wait_for_events("the live session after the gap arrives", |events| {
            subjects(events).contains(&"18:60:24:00:00:04")
        })
        .await;
    let gap = events
        .iter()
        .position(|event| event.kind == GAP_EVENT_TYPE)
        .expect("a gap event");
    assert_eq!(gap, 1, "the gap event follows the live event: {events:#?}");
    assert_eq!(events[gap].data["resynchronised"], true);
    let resynced: HashSet<_> = events
        .iter()
        .filter(|event| event.resync)
        .map(|event| (event.subject.clone().unwrap(), event.kind.clone()))
        .collect();
    let expected: HashSet<_> = [
        ("18:60:24:00:00:01", "com.cisco.ise.session.disconnected"),
        ("18:60:24:00:00:02", "com.cisco.ise.session.started"),
        ("18:60:24:00:00:03", "com.cisco.ise.session.postured"),
    ]
    .into_iter()
    .map(|(subject, kind)| (subject.to_owned(), kind.to_owned()))
    .collect();
    assert_eq!(resynced, expected);
    assert!(
        events[gap + 1..gap + 4].iter().all(|event| event.resync),
        "the resynchronised sessions follow the gap event"
    );
    assert_eq!(events.len(), 6, "nothing twice: {events:#?}");
    assert!(events.windows(2).all(|pair| pair[0].seq < pair[1].seq));
    let status = setup.status();
    assert_eq!(status.gaps, 1);
    assert!(setup.sim.stats().get_sessions_calls >= 1);
    setup.stop().await;
}

/// A peer that stops sending heart-beats with its TCP connection still up is declared dead;
/// without the session REST API the gap is reported as not resynchronised.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_peer_is_detected_and_the_gap_reported() {
    let setup = start(IseSimConfig::default()).await;
    setup.wait_connected(1).await;
    setup
        .sim
        .fault(Fault::SessionsUnavailable { unavailable: true });
    setup.sim.fault(Fault::Stall);
    let events = setup
        .wait_for_events("the gap is reported", |events| {
            events.iter().any(|event| event.kind == GAP_EVENT_TYPE)
        })
        .await;
    let gap = &events[0];
    assert!(
        gap.data["reason"].as_str().unwrap().contains("heart-beat"),
        "{gap:#?}"
    );
    assert_eq!(gap.data["resynchronised"], false);
    setup.wait_connected(2).await;
    setup.sim.publish(vec![endpoint(5, "STARTED")]);
    setup
        .wait_for_events("live sessions flow again", |events| {
            subjects(events).contains(&"18:60:24:00:00:05")
        })
        .await;
    setup.stop().await;
}

/// ISE restarts: the socket drops and every access secret is forgotten. netpulse asks for a new
/// secret, subscribes again, and the sessions published meanwhile come back by the resync.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_restart_is_survived_with_a_new_secret_and_a_resync() {
    let setup = start(IseSimConfig::default()).await;
    setup.wait_connected(1).await;
    setup.sim.publish(vec![endpoint(1, "STARTED")]);
    setup
        .wait_for_events("the live session arrives", |events| events.len() == 1)
        .await;
    setup.sim.fault(Fault::DisableAccounts);
    setup.sim.fault(Fault::Restart);
    setup.sim.publish(vec![endpoint(2, "STARTED")]);
    wait_until("the refused account is reported", || {
        setup.status().login_failures >= 1
    })
    .await;
    setup.sim.fault(Fault::EnableAccounts);
    setup.wait_connected(2).await;
    setup.sim.publish(vec![endpoint(3, "STARTED")]);
    let events = setup
        .wait_for_events("the session after the restart arrives", |events| {
            subjects(events).contains(&"18:60:24:00:00:03")
        })
        .await;
    let subjects = subjects(&events);
    assert!(
        subjects.contains(&"18:60:24:00:00:02"),
        "the session published during the restart is resynchronised: {events:#?}"
    );
    assert_eq!(
        events.iter().filter(|e| e.kind == GAP_EVENT_TYPE).count(),
        1
    );
}

/// A CA that issues client certificates, as an ISE deployment trusts: its PEM, and a client
/// certificate and key signed by it, written to `dir`.
fn client_ca(dir: &std::path::Path) -> (String, std::path::PathBuf, std::path::PathBuf) {
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "pxGrid client CA");
    let ca_cert = ca_params.self_signed(&ca_key).unwrap();
    let issuer = rcgen::Issuer::new(ca_params, ca_key);
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(vec![NODE.to_owned()]).unwrap();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, NODE);
    let cert = params.signed_by(&key, &issuer).unwrap();
    let cert_file = dir.join("client.pem");
    let key_file = dir.join("client.key");
    std::fs::write(&cert_file, cert.pem()).unwrap();
    std::fs::write(&key_file, key.serialize_pem()).unwrap();
    (ca_cert.pem(), cert_file, key_file)
}

/// Certificate-based authentication: no password anywhere; the account is activated with the
/// client certificate, and only a client that presents one is let in.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_certificate_replaces_the_password() {
    let dir = tempfile::tempdir().unwrap();
    let (client_ca_pem, cert_file, key_file) = client_ca(dir.path());
    let sim_shutdown = CancellationToken::new();
    let sim = IseSim::start(
        IseSimConfig {
            client_ca_pem: Some(client_ca_pem),
            account_create: false,
            ..IseSimConfig::default()
        },
        sim_shutdown.clone(),
    )
    .await
    .unwrap();
    let ca_file = dir.path().join("ise-ca.pem");
    std::fs::write(&ca_file, sim.ca_pem().unwrap()).unwrap();
    let yaml = |with_certificate: bool| {
        let certificate = if with_certificate {
            format!(
                "    client_cert_file: {}\n    client_key_file: {}\n",
                cert_file.display(),
                key_file.display()
            )
        } else {
            "    password: not-a-certificate\n".to_owned()
        };
        format!(
            "store: {{ path: netpulse.db }}\nhttp: {{ listen: \"127.0.0.1:0\" }}\nsources:\n  - name: ise\n    type: pxgrid\n    address: {address}\n    node_name: {NODE}\n{certificate}    tls: {{ ca_file: {ca} }}\n    activation_poll: 50ms\n    backoff: {{ initial: 100ms, max: 1s }}\n",
            address = sim.base_url(),
            ca = ca_file.display(),
        )
    };
    let running = Running::start(&yaml(true), &[]).await;
    let status = || running.gateway().source("ise").unwrap().status.snapshot();
    wait_until("connected with the certificate", || {
        status().state == ConnectionState::Connected
    })
    .await;
    sim.publish(vec![endpoint(1, "STARTED")]);
    wait_until("the session arrives", || {
        running
            .reader()
            .events(&EventQuery {
                after_seq: Some(0),
                ..Default::default()
            })
            .unwrap()
            .iter()
            .any(|event| event.subject.as_deref() == Some("18:60:24:00:00:01"))
    })
    .await;
    running.stop().await;
    // The same node without a certificate is refused.
    let config = netpulse::config::Config::parse_with(&yaml(false), dir.path(), &|_| None)
        .expect("a valid configuration");
    {
        let shutdown = CancellationToken::new();
        let gateway = netpulse::Gateway::start(config, shutdown.clone())
            .await
            .unwrap();
        let source = || gateway.source("ise").unwrap().status.snapshot();
        wait_until("the certificate-less client is refused", || {
            source().login_failures >= 1 || source().last_error.is_some()
        })
        .await;
        assert_ne!(source().state, ConnectionState::Connected);
        shutdown.cancel();
        gateway.wait().await.unwrap();
    }
    sim_shutdown.cancel();
}
