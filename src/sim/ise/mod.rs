//! `netpulse sim ise`: a simulator of a Cisco ISE pxGrid 2.0 node, faithful to the protocol as
//! documented (protocol reference §3), not to any client's expectations.
//!
//! One process is one pxGrid node serving, on one TLS listener (port 8910 on ISE):
//! - the control API `POST /pxgrid/control/{AccountCreate,AccountActivate,ServiceLookup,
//!   AccessSecret}` with HTTP Basic `node:password`, accounts PENDING until "approved" (after a
//!   configurable number of polls and delay) or DISABLED by a fault;
//! - the session directory's REST `POST /pxgrid/mnt/sd/getSessions` (Basic `node:secret` of the
//!   MnT node), `{}` or `{"startTimestamp": ...}`;
//! - the pubsub WebSocket `/pxgrid/ise/pubsub` (Basic `node:secret` of the pubsub node), STOMP
//!   1.2 in binary messages: CONNECT/CONNECTED with heart-beats, SUBSCRIBE, MESSAGE frames of
//!   `{"sessions":[...]}` on the session topic, RECEIPT, ERROR.
//!
//! Sessions are published with [`IseSim::publish`] (or `POST /_sim/publish`), faults injected with
//! [`IseSim::fault`] (or `POST /_sim/fault`). Where public material leaves ISE's behaviour
//! UNKNOWN, the choice is a configuration field and says so.
//!
//! # Layout
//! - `control`: the HTTP routes (control API, getSessions, `/_sim/`); `pubsub`: the STOMP socket;
//!   `stomp`: STOMP 1.2 framing written from the specification; `model`: the pxGrid names and
//!   session fields; `cli`: `netpulse sim ise`. Nothing here is shared with `source::pxgrid`,
//!   which is what the simulator tests.

mod cli;
mod control;
mod model;
mod pubsub;
mod stomp;

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use anyhow::Context;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub use cli::{IseSimArgs, run_cli};
pub use model::AccountState;

use crate::sim::dme::SimTls;
use crate::tls::server::ServerIdentity;

/// The session topic ISE announces (`sessionTopic`).
pub const SESSION_TOPIC: &str = "/topic/com.cisco.ise.session";
/// Where the MnT node serves the session directory's REST API (real ISE 2.4: `/pxgrid/mnt/sd`).
pub const SESSION_REST_PATH: &str = "/pxgrid/mnt/sd";
pub const PUBSUB_PATH: &str = "/pxgrid/ise/pubsub";

/// Configuration of the simulated pxGrid node.
#[derive(Debug, Clone)]
pub struct IseSimConfig {
    /// Default `127.0.0.1:0` (the CLI defaults to ISE's `127.0.0.1:8910`).
    pub listen: SocketAddr,
    pub tls: SimTls,
    /// Used in the node names ServiceLookup returns (`ise-mnt-<host>`, `ise-pubsub-<host>`).
    pub host: String,
    /// Accounts that exist at start (created by an administrator or an earlier AccountCreate):
    /// node name and password. They still go through approval.
    pub accounts: Vec<(String, String)>,
    /// Whether AccountCreate works. ISE ships with it disabled; the simulator enables it by
    /// default so a client can start from nothing.
    pub account_create: bool,
    /// AccountActivate answers PENDING this many times before ENABLED (0: approved at once) ...
    pub approval_polls: u32,
    /// ... and not before this long after the account's first AccountActivate.
    pub approval_delay: Duration,
    /// The `heart-beat` the server puts in CONNECTED: what it can send and wants to receive.
    /// ISE's values are UNKNOWN (no public capture shows its CONNECTED headers); `ZERO` for
    /// either turns that direction off, as STOMP says.
    pub heartbeat: (Duration, Duration),
    /// Close a connection whose client promised heart-beats and stayed silent for 3 intervals.
    /// Whether ISE does: UNKNOWN.
    pub enforce_client_heartbeat: bool,
    /// The `version` AccountActivate reports.
    pub version: String,
    /// Clients may authenticate with a certificate issued by this CA (PEM): "Perform
    /// AccountActivate using the client certificate, fill the Basic Auth header with username
    /// only" (reference §3.1). Such an account is created by its first AccountActivate.
    pub client_ca_pem: Option<String>,
}

impl Default for IseSimConfig {
    fn default() -> IseSimConfig {
        IseSimConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            tls: SimTls::Generate,
            host: "ise-sim".to_owned(),
            accounts: Vec::new(),
            account_create: true,
            approval_polls: 0,
            approval_delay: Duration::ZERO,
            heartbeat: (Duration::from_secs(10), Duration::from_secs(10)),
            enforce_client_heartbeat: true,
            version: "2.0.0.13".to_owned(),
            client_ca_pem: None,
        }
    }
}

/// A failure injected into the simulated node. JSON: `{"fault":"drop_sockets"}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "fault", rename_all = "snake_case")]
pub enum Fault {
    /// Closes every pubsub WebSocket abruptly (no close frame, no ERROR).
    DropSockets,
    /// A node restart: sockets drop, every AccessSecret is forgotten (clients must ask again),
    /// message ids start over. Accounts and the session directory survive.
    Restart,
    /// The administrator disables every account: AccountActivate answers DISABLED, and every
    /// other call 401, until [`Fault::EnableAccounts`].
    DisableAccounts,
    EnableAccounts,
    /// Open sockets stop sending anything (heart-beats included) and stop reading (so pings go
    /// unanswered): a dead peer whose TCP connection stays up. New sockets behave.
    Stall,
    /// `getSessions` answers 503 (the MnT node is down) until set to false.
    SessionsUnavailable {
        unavailable: bool,
    },
}

/// Counters of the simulator.
#[derive(Debug, Clone, Default, Serialize)]
pub struct IseSimStats {
    pub connections_open: usize,
    pub connections_total: u64,
    pub messages_sent: u64,
    pub activations: u64,
    pub get_sessions_calls: u64,
}

struct Account {
    password: String,
    state: AccountState,
    polls: u32,
    first_activate: Option<Instant>,
}

/// What a socket task is sent.
#[derive(Debug, Clone)]
enum Outbound {
    Message {
        destination: String,
        body: Arc<Vec<u8>>,
    },
}

struct Connection {
    outbound: mpsc::Sender<Outbound>,
    kill: CancellationToken,
    /// Cancelled by [`Fault::Stall`].
    stall: CancellationToken,
}

#[derive(Default)]
struct State {
    accounts: HashMap<String, Account>,
    /// (client node, peer node) → secret.
    secrets: HashMap<(String, String), String>,
    /// The session directory, by MAC: each session as last published.
    sessions: BTreeMap<String, Value>,
    connections: HashMap<u64, Connection>,
    next_connection: u64,
    disabled: bool,
    sessions_unavailable: bool,
}

pub(crate) struct Inner {
    config: IseSimConfig,
    base_url: String,
    state: Mutex<State>,
    next_message_id: AtomicU64,
    connections_total: AtomicU64,
    messages_sent: AtomicU64,
    activations: AtomicU64,
    get_sessions_calls: AtomicU64,
    shutdown: CancellationToken,
    tracker: TaskTracker,
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().expect("ise sim lock")
    }

    fn mnt_node(&self) -> String {
        format!("ise-mnt-{}", self.config.host)
    }

    fn pubsub_node(&self) -> String {
        format!("ise-pubsub-{}", self.config.host)
    }

    fn ws_url(&self) -> String {
        let ws = self
            .base_url
            .replacen("https://", "wss://", 1)
            .replacen("http://", "ws://", 1);
        format!("{ws}{PUBSUB_PATH}")
    }
}

/// A running simulated pxGrid node.
#[derive(Clone)]
pub struct IseSim {
    inner: Arc<Inner>,
    ca_pem: Option<String>,
    fingerprint: Option<String>,
}

impl IseSim {
    /// Binds the listener and starts serving; returns once listening.
    pub async fn start(
        config: IseSimConfig,
        shutdown: CancellationToken,
    ) -> anyhow::Result<IseSim> {
        let identity = match &config.tls {
            SimTls::Plain => None,
            SimTls::Generate => Some(ServerIdentity::generate(config.listen.ip())?),
            SimTls::Files { cert, key } => Some(ServerIdentity::from_files(cert, key)?),
        };
        let acceptor = match &identity {
            Some(identity) => Some(TlsAcceptor::from(
                identity.server_config_with_client_ca(config.client_ca_pem.as_deref())?,
            )),
            None => None,
        };
        let listener = TcpListener::bind(config.listen)
            .await
            .with_context(|| format!("bind {}", config.listen))?;
        let addr = listener.local_addr().context("read the bound address")?;
        let scheme = if acceptor.is_some() { "https" } else { "http" };
        let mut state = State::default();
        for (node, password) in &config.accounts {
            state
                .accounts
                .insert(node.clone(), new_account(password.clone()));
        }
        let tracker = TaskTracker::new();
        let inner = Arc::new(Inner {
            base_url: format!("{scheme}://{addr}"),
            config,
            state: Mutex::new(state),
            next_message_id: AtomicU64::new(0),
            connections_total: AtomicU64::new(0),
            messages_sent: AtomicU64::new(0),
            activations: AtomicU64::new(0),
            get_sessions_calls: AtomicU64::new(0),
            shutdown: shutdown.clone(),
            tracker: tracker.clone(),
        });
        let options = crate::http::server::ServeOptions {
            acceptor,
            shutdown,
            tracker: tracker.clone(),
            name: "ise-sim".to_owned(),
        };
        tracker.spawn(crate::http::server::serve(
            listener,
            control::router(inner.clone()),
            options,
        ));
        Ok(IseSim {
            inner,
            fingerprint: identity.as_ref().map(|i| i.fingerprint_sha256.clone()),
            ca_pem: identity.and_then(|identity| identity.generated_pem),
        })
    }

    /// `https://127.0.0.1:<port>`: what a client configures as its pxGrid address.
    pub fn base_url(&self) -> &str {
        &self.inner.base_url
    }

    /// PEM of the generated certificate (usable as a client CA file).
    pub fn ca_pem(&self) -> Option<&str> {
        self.ca_pem.as_deref()
    }

    pub fn fingerprint_sha256(&self) -> Option<&str> {
        self.fingerprint.as_deref()
    }

    /// Publishes sessions on the session topic as one batched MESSAGE (ISE batches per notify
    /// interval) and records them in the session directory. A session without `timestamp` is
    /// given the current time, as ISE stamps each.
    pub fn publish(&self, sessions: Vec<Value>) {
        publish(&self.inner, sessions);
    }

    pub fn fault(&self, fault: Fault) {
        apply_fault(&self.inner, fault);
    }

    /// Approves a PENDING account now, as an administrator would.
    pub fn approve(&self, node: &str) {
        if let Some(account) = self.inner.lock().accounts.get_mut(node) {
            account.state = AccountState::Enabled;
        }
    }

    /// The state of an account, if it exists.
    pub fn account_state(&self, node: &str) -> Option<AccountState> {
        self.inner
            .lock()
            .accounts
            .get(node)
            .map(|account| account.state)
    }

    pub fn stats(&self) -> IseSimStats {
        let inner = &self.inner;
        IseSimStats {
            connections_open: inner.lock().connections.len(),
            connections_total: inner.connections_total.load(Ordering::Relaxed),
            messages_sent: inner.messages_sent.load(Ordering::Relaxed),
            activations: inner.activations.load(Ordering::Relaxed),
            get_sessions_calls: inner.get_sessions_calls.load(Ordering::Relaxed),
        }
    }

    /// Waits until every task has ended (after the shutdown token is cancelled).
    pub async fn stopped(self) {
        self.inner.tracker.close();
        self.inner.tracker.wait().await;
    }
}

fn new_account(password: String) -> Account {
    Account {
        password,
        state: AccountState::Init,
        polls: 0,
        first_activate: None,
    }
}

/// A current timestamp as ISE writes it: `2020-10-02T16:41:03.984-04:00`.
pub fn ise_timestamp(time: jiff::Timestamp) -> String {
    time.to_zoned_datetime(jiff::tz::TimeZone::UTC)
        .strftime("%Y-%m-%dT%H:%M:%S%.3f%:z")
        .to_string()
}

/// A session in the shape of a real ISE capture (wired MAB on a Cisco switch).
pub fn session(mac: &str, ip: &str, user: &str, state: &str, nas_ip: &str) -> Value {
    json!({
        "timestamp": ise_timestamp(jiff::Timestamp::now()),
        "state": state,
        "userName": user,
        "callingStationId": mac,
        "calledStationId": "88:5A:92:7F:BF:82",
        "auditSessionId": format!("AC1F0107{:016X}", fastrand::u64(..)),
        "ipAddresses": [ip],
        "macAddress": mac,
        "nasIpAddress": nas_ip,
        "nasPortId": "GigabitEthernet1/0/2",
        "nasIdentifier": "sw4",
        "nasPortType": "Ethernet",
        "endpointProfile": "Windows10-Workstation",
        "adNormalizedUser": user,
        "providers": ["None"],
        "endpointCheckResult": "none",
        "identitySourcePortStart": 0,
        "identitySourcePortEnd": 0,
        "identitySourcePortFirst": 0,
        "serviceType": "Framed",
        "networkDeviceProfileName": "Cisco",
        "radiusFlowType": "Wired802_1x",
        "mdmRegistered": false,
        "mdmCompliant": false,
        "selectedAuthzProfiles": ["PermitAccess"]
    })
}

fn publish(inner: &Inner, mut sessions: Vec<Value>) {
    let now = ise_timestamp(jiff::Timestamp::now());
    for session in &mut sessions {
        if let Some(object) = session.as_object_mut() {
            object
                .entry("timestamp")
                .or_insert_with(|| now.clone().into());
        }
    }
    let body = Arc::new(serde_json::to_vec(&json!({ "sessions": sessions })).expect("json"));
    let mut state = inner.lock();
    for session in sessions {
        let key = model::endpoint(&session).to_owned();
        state.sessions.insert(key, session);
    }
    let message = Outbound::Message {
        destination: SESSION_TOPIC.to_owned(),
        body,
    };
    // A socket whose queue is full is a consumer too slow to keep: it is dropped, not waited on.
    for connection in state.connections.values() {
        if connection.outbound.try_send(message.clone()).is_err() {
            connection.kill.cancel();
        }
    }
}

fn apply_fault(inner: &Inner, fault: Fault) {
    tracing::info!(?fault, "ise sim: fault");
    let mut state = inner.lock();
    match fault {
        Fault::DropSockets => drop_sockets(&mut state),
        Fault::Restart => {
            drop_sockets(&mut state);
            state.secrets.clear();
            inner.next_message_id.store(0, Ordering::Relaxed);
        }
        Fault::DisableAccounts => state.disabled = true,
        Fault::EnableAccounts => state.disabled = false,
        Fault::Stall => {
            for connection in state.connections.values() {
                connection.stall.cancel();
            }
        }
        Fault::SessionsUnavailable { unavailable } => state.sessions_unavailable = unavailable,
    }
}

fn drop_sockets(state: &mut State) {
    for (_, connection) in state.connections.drain() {
        connection.kill.cancel();
    }
}
