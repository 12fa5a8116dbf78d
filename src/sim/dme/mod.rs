//! `netpulse sim dme`: a simulator of Cisco NX-OS switches speaking the NX-API REST (DME)
//! protocol with WebSocket subscriptions, faithful to the device as documented (see the protocol
//! reference, §1 and §2), not to any client's expectations.
//!
//! Each simulated device is a leaf switch with its own listener (device `i` on `listen.port() +
//! i`), object tree, sessions and subscriptions. Where public material leaves device behaviour
//! UNKNOWN, the choice is a named constant or a configuration field and says so.
//!
//! # Layout
//! - [`api`]: the plain-data control vocabulary ([`Change`], [`Fault`], [`DumpedMo`], [`SimStats`]).
//! - `mit`, `attrs`, `tree`: the object tree, compact attribute storage, the initial leaf.
//! - `query`, `filter`, `render`: query parsing and matching, the filter language, JSON bodies.
//! - `session`: sessions, tokens, subscriptions and their lifetimes.
//! - `device`: one device's state and the push fan-out; [`SimDevice`] is its handle.
//! - `auth`, `http`, `socket`, `control`: sessions over HTTP, the device API, its WebSocket and
//!   the `/_sim/` control API (documented in `control`); `accept`: the device's own TLS/plain
//!   accept loop, which reads each connection through `lenient` (raw `"` in request targets, as
//!   the devices take them).
//! - `generator`: the seeded random change generator; `cli`: `netpulse sim dme`.
//! - `fabric`, `links`: switches cabled into a network (spine/leaf or chain) with LLDP/CDP
//!   adjacencies, and the link and device actions that move both ends of a link together;
//!   `fabric_cli`: `netpulse sim fabric`, their command-line client.

mod accept;
pub mod api;
mod apic;
mod attrs;
mod auth;
mod cli;
mod control;
mod device;
mod fabric;
mod fabric_cli;
mod filter;
mod generator;
mod http;
mod lenient;
mod links;
mod mit;
mod query;
mod render;
mod session;
mod socket;
mod tree;

#[cfg(test)]
mod e2e_tests;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, ensure};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub use api::{
    Change, DeviceAction, DumpedMo, Fault, LinkAction, LinkState, SessionView, SimStats,
};
pub use cli::{DmeSimArgs, ServeTlsArgs, run_apic_cli, run_cli};
pub use device::SimDevice;
pub use fabric::{FabricShape, FabricSpec};
pub use fabric_cli::{FabricCliArgs, run_fabric_cli};
pub use links::{DumpedDevice, DumpedLink, Fabric, TopologyDump};

use crate::tls::server::ServerIdentity;
use device::{DeviceInner, DeviceSettings, DeviceState, FaultState};
use generator::Generator;
use session::SessionTable;
use tree::{LeafProfile, build_leaf};

/// How often expired sessions and subscriptions are swept, so expiry happens on time even when
/// no request arrives.
const SWEEP_INTERVAL: Duration = Duration::from_millis(250);

/// How far the change generator may fall behind its schedule before it skips missed changes.
const MAX_GENERATOR_LAG: Duration = Duration::from_secs(1);

/// Configuration of a simulator process.
#[derive(Debug, Clone)]
pub struct DmeSimConfig {
    /// Device `i` listens on `listen.port() + i` (same IP); port 0 gives each device an
    /// OS-assigned port. Default `127.0.0.1:0` (the CLI defaults to `127.0.0.1:8443`).
    pub listen: SocketAddr,
    pub devices: usize,
    pub tls: SimTls,
    pub username: String,
    pub password: String,
    /// Session idle lifetime, reported as `refreshTimeoutSeconds` (rounded up to seconds).
    pub refresh_timeout: Duration,
    /// Subscription lifetime without a refresh. NX-OS's value is unconfirmed; APIC documents 60 s.
    pub subscription_ttl: Duration,
    /// Ports per device (`eth1/1` .. `eth1/N`).
    pub ports: usize,
    /// VLANs per device at start (`vlan-101` ..).
    pub vlans: usize,
    /// Random changes per second per device; 0 turns the generator off.
    pub change_rate: f64,
    pub seed: u64,
    /// Issue a new token on `aaaRefresh` (APIC doc: "the token changes each time the session is
    /// refreshed"; NX-OS behaviour UNKNOWN).
    pub rotate_token_on_refresh: bool,
    /// What each simulated device is: an NX-OS leaf (default) or an APIC.
    pub platform: SimPlatform,
    /// APIC: leaf nodes in the fabric (each with `ports` ports).
    pub leaves: usize,
    /// NX-OS: cable the switches into a network (spine/leaf or chain) with LLDP and CDP
    /// adjacencies and link/device actions; the fabric decides the number of switches and their
    /// names (`devices` is then ignored). `None`: independent switches `leaf1` .. `leafN`.
    pub fabric: Option<FabricSpec>,
}

/// The personality of a simulated DME device.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum SimPlatform {
    #[default]
    Nxos,
    Apic,
}

impl Default for DmeSimConfig {
    fn default() -> DmeSimConfig {
        DmeSimConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            devices: 1,
            tls: SimTls::Generate,
            username: "admin".to_owned(),
            password: "admin".to_owned(),
            refresh_timeout: Duration::from_secs(600),
            subscription_ttl: Duration::from_secs(60),
            ports: 48,
            vlans: 10,
            change_rate: 0.0,
            seed: 1,
            rotate_token_on_refresh: true,
            platform: SimPlatform::Nxos,
            leaves: 2,
            fabric: None,
        }
    }
}

/// How devices speak TLS.
#[derive(Debug, Clone)]
pub enum SimTls {
    /// A self-signed certificate generated at start, shared by all devices.
    Generate,
    /// A PEM certificate chain and key from files.
    Files { cert: PathBuf, key: PathBuf },
    /// Plain HTTP and `ws://`.
    Plain,
}

/// A running simulator process.
#[derive(Debug)]
pub struct DmeSim {
    devices: Vec<SimDevice>,
    platform: SimPlatform,
    ca_pem: Option<String>,
    fingerprint: Option<String>,
    fabric: Option<Arc<Fabric>>,
    tracker: TaskTracker,
}

impl DmeSim {
    /// Binds every device's listener, then starts serving; returns once all are listening.
    pub async fn start(
        config: DmeSimConfig,
        shutdown: CancellationToken,
    ) -> anyhow::Result<DmeSim> {
        let config = with_fabric_devices(config);
        validate(&config)?;
        let plan = config
            .fabric
            .as_ref()
            .map(|fabric| (fabric.clone(), fabric.plan(config.ports)));
        let identity = load_identity(&config).await?;
        let acceptor = match &identity {
            Some(identity) => Some(TlsAcceptor::from(identity.server_config()?)),
            None => None,
        };
        let settings = Arc::new(DeviceSettings {
            username: config.username.clone(),
            password: config.password.clone(),
            refresh_timeout: config.refresh_timeout,
            subscription_ttl: config.subscription_ttl,
            rotate_token_on_refresh: config.rotate_token_on_refresh,
        });
        let tracker = TaskTracker::new();
        let mut listeners = Vec::with_capacity(config.devices);
        for index in 0..config.devices {
            let listener = bind(&config, index).await?;
            let addr = listener.local_addr().context("read the bound address")?;
            listeners.push((listener, addr));
        }
        let identities = plan.as_ref().map(|(_, plan)| {
            identities(plan, config.seed, listeners.iter().map(|(_, addr)| *addr))
        });
        let mut bound = Vec::with_capacity(config.devices);
        for (index, (listener, addr)) in listeners.into_iter().enumerate() {
            let cabling =
                plan.as_ref()
                    .zip(identities.as_deref())
                    .map(|((spec, plan), identities)| Cabling {
                        spec,
                        plan,
                        identities,
                    });
            let inner = new_device(
                &config,
                index,
                addr,
                acceptor.is_some(),
                &settings,
                &shutdown,
                &tracker,
                cabling,
            )?;
            bound.push((listener, SimDevice { inner }));
        }
        let fabric = plan.zip(identities).map(|((spec, plan), identities)| {
            let devices = bound.iter().map(|(_, device)| device.clone()).collect();
            Arc::new(Fabric::new(spec, plan, identities, devices))
        });
        if let Some(fabric) = &fabric {
            for (_, device) in &bound {
                // Set once, just after the device was made.
                let _ = device.inner.fabric.set(Arc::downgrade(fabric));
            }
        }
        let mut devices = Vec::with_capacity(bound.len());
        for (listener, device) in bound {
            let router = http::router(Arc::clone(&device.inner));
            tracker.spawn(accept::serve(
                listener,
                router,
                acceptor.clone(),
                shutdown.clone(),
                tracker.clone(),
            ));
            if config.change_rate > 0.0 {
                let timing_seed = config.seed ^ 0x7131_0000_0000 ^ device.inner.index as u64;
                tracker.spawn(drive_generator(
                    device.clone(),
                    config.change_rate,
                    timing_seed,
                    shutdown.clone(),
                ));
            }
            devices.push(device);
        }
        tracker.spawn(sweep(devices.clone(), shutdown.clone()));
        let fingerprint = identity
            .as_ref()
            .map(|identity| identity.fingerprint_sha256.clone());
        let ca_pem = identity.and_then(|identity| identity.generated_pem);
        Ok(DmeSim {
            devices,
            platform: config.platform,
            ca_pem,
            fingerprint,
            fabric,
            tracker,
        })
    }

    /// The simulated network, when the simulator was started with a fabric.
    pub fn fabric(&self) -> Option<&Fabric> {
        self.fabric.as_deref()
    }

    pub fn devices(&self) -> &[SimDevice] {
        &self.devices
    }

    pub fn platform(&self) -> SimPlatform {
        self.platform
    }

    /// PEM of the generated self-signed certificate (usable as a client CA file); `None` for
    /// plain HTTP or certificates loaded from files.
    pub fn ca_pem(&self) -> Option<&str> {
        self.ca_pem.as_deref()
    }

    /// Colon-separated hex SHA-256 of the server certificate (generated or loaded); `None` for
    /// plain HTTP.
    pub fn fingerprint_sha256(&self) -> Option<&str> {
        self.fingerprint.as_deref()
    }

    /// Pauses (`true`) or resumes the automatic change generator of every device.
    pub fn pause_changes(&self, paused: bool) {
        for device in &self.devices {
            device.pause_changes(paused);
        }
    }

    /// The counters of every device added up.
    pub fn stats(&self) -> SimStats {
        let mut total = SimStats::default();
        for device in &self.devices {
            total.add(&device.stats());
        }
        total
    }

    /// Waits until every task of the simulator has ended (after the shutdown token is cancelled).
    pub async fn stopped(self) {
        self.tracker.close();
        self.tracker.wait().await;
    }
}

/// With a fabric, the fabric decides how many switches there are.
fn with_fabric_devices(mut config: DmeSimConfig) -> DmeSimConfig {
    if let Some(fabric) = &config.fabric {
        config.devices = fabric.devices();
    }
    config
}

fn validate(config: &DmeSimConfig) -> anyhow::Result<()> {
    ensure!(config.devices >= 1, "devices must be at least 1");
    ensure!(
        config.fabric.is_none() || config.platform == SimPlatform::Nxos,
        "a fabric (spines, chain) is simulated for NX-OS switches only"
    );
    ensure!(
        config.change_rate.is_finite() && config.change_rate >= 0.0,
        "change_rate must be a number >= 0"
    );
    ensure!(
        !config.refresh_timeout.is_zero(),
        "refresh_timeout must be positive"
    );
    ensure!(
        !config.subscription_ttl.is_zero(),
        "subscription_ttl must be positive"
    );
    let last_port = u32::from(config.listen.port()) + config.devices as u32 - 1;
    ensure!(
        config.listen.port() == 0 || last_port <= u32::from(u16::MAX),
        "{} devices from port {} would need port {last_port}, above 65535",
        config.devices,
        config.listen.port()
    );
    Ok(())
}

async fn load_identity(config: &DmeSimConfig) -> anyhow::Result<Option<ServerIdentity>> {
    match &config.tls {
        SimTls::Plain => Ok(None),
        SimTls::Generate => ServerIdentity::generate(config.listen.ip()).map(Some),
        SimTls::Files { cert, key } => {
            let (cert, key) = (cert.clone(), key.clone());
            tokio::task::spawn_blocking(move || ServerIdentity::from_files(&cert, &key))
                .await
                .context("certificate loading task failed")?
                .map(Some)
        }
    }
}

async fn bind(config: &DmeSimConfig, index: usize) -> anyhow::Result<TcpListener> {
    let addr = match config.listen.port() {
        0 => config.listen,
        port => SocketAddr::new(config.listen.ip(), port + index as u16),
    };
    TcpListener::bind(addr)
        .await
        .with_context(|| format!("bind device {} to {addr}", index + 1))
}

/// The fabric one switch is cabled into, while the switches are made.
struct Cabling<'a> {
    spec: &'a FabricSpec,
    plan: &'a fabric::Plan,
    identities: &'a [fabric::Identity],
}

/// What each switch of a fabric announces to its neighbours.
fn identities(
    plan: &fabric::Plan,
    seed: u64,
    addrs: impl Iterator<Item = SocketAddr>,
) -> Vec<fabric::Identity> {
    addrs
        .enumerate()
        .map(|(index, addr)| fabric::Identity {
            name: plan.names[index].clone(),
            role: plan.roles[index],
            serial: tree::serial(seed, index),
            address: addr.ip().to_string(),
            index,
        })
        .collect()
}

#[allow(clippy::too_many_arguments)]
fn new_device(
    config: &DmeSimConfig,
    index: usize,
    addr: SocketAddr,
    tls: bool,
    settings: &Arc<DeviceSettings>,
    shutdown: &CancellationToken,
    tracker: &TaskTracker,
    cabling: Option<Cabling<'_>>,
) -> anyhow::Result<Arc<DeviceInner>> {
    let apic = config.platform == SimPlatform::Apic;
    let name = match &cabling {
        Some(cabling) => cabling.plan.names[index].clone(),
        None if apic => format!("apic{}", index + 1),
        None => format!("leaf{}", index + 1),
    };
    let address = addr.ip().to_string();
    let profile = LeafProfile {
        name: &name,
        index,
        address: &address,
        role: cabling
            .as_ref()
            .map_or("leaf", |cabling| cabling.plan.roles[index]),
        ports: cabling
            .as_ref()
            .map_or(config.ports, |cabling| cabling.plan.ports[index]),
        vlans: config.vlans,
        seed: config.seed,
    };
    let now_millis = jiff::Timestamp::now().as_millisecond();
    let (mit, generator) = if apic {
        (
            apic::build(&name, &address, config.leaves, config.ports, now_millis),
            Generator::apic(config.seed, index),
        )
    } else {
        (
            build_leaf(&profile, now_millis),
            Generator::new(config.seed, index, config.vlans),
        )
    };
    let (mut mit, mut generator) = (mit, generator);
    if let Some(cabling) = &cabling {
        generator.leave_alone(
            cabling
                .plan
                .cables_of(index)
                .map(|(local, _)| tree::port_dn(local.port)),
        );
        fabric::insert_discovery(&mut mit, profile.ports, &mit::format_mod_ts(now_millis));
        let changes =
            links::initial_changes(cabling.spec, cabling.plan, cabling.identities, index, &mit);
        for change in &changes {
            mit.apply(change, now_millis)
                .with_context(|| format!("cable {name} into the fabric"))?;
        }
    }
    let state = DeviceState {
        mit,
        table: SessionTable::default(),
        generator,
        faults: FaultState::default(),
        changes_applied: 0,
        changes_paused: false,
    };
    Ok(Arc::new(DeviceInner {
        index,
        name,
        addr,
        tls,
        settings: Arc::clone(settings),
        state: Mutex::new(state),
        pushes_sent: AtomicU64::new(0),
        shutdown: shutdown.clone(),
        tracker: tracker.clone(),
        fabric: std::sync::OnceLock::new(),
    }))
}

/// Ends expired sessions and lapsed subscriptions of every device, on time.
async fn sweep(devices: Vec<SimDevice>, shutdown: CancellationToken) {
    let mut ticks = tokio::time::interval(SWEEP_INTERVAL);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => break,
            _ = ticks.tick() => {}
        }
        let now = tokio::time::Instant::now();
        for device in &devices {
            device.inner.sweep(now);
        }
    }
}

/// Applies generator steps at `rate` per second on average, with exponentially distributed gaps
/// (a Poisson process). Deadlines are absolute, so a late wake-up catches up instead of drifting,
/// up to [`MAX_GENERATOR_LAG`].
async fn drive_generator(
    device: SimDevice,
    rate: f64,
    timing_seed: u64,
    shutdown: CancellationToken,
) {
    let mut timing = fastrand::Rng::with_seed(timing_seed);
    let mut deadline = tokio::time::Instant::now();
    loop {
        let gap_seconds = -(1.0 - timing.f64()).ln() / rate;
        deadline += Duration::from_secs_f64(gap_seconds.min(3600.0));
        // After a stall (an overloaded runtime), skip what was missed instead of bursting.
        let now = tokio::time::Instant::now();
        if deadline + MAX_GENERATOR_LAG < now {
            deadline = now;
        }
        tokio::select! {
            () = shutdown.cancelled() => break,
            () = tokio::time::sleep_until(deadline) => {}
        }
        if let Err(error) = device.generate() {
            tracing::warn!(device = %device.inner.name, error = %format!("{error:#}"), "generated change failed");
        }
    }
}
