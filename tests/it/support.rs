//! Starting the simulator and the gateway for a test, and waiting on conditions with deadlines.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use netpulse::Gateway;
use netpulse::config::Config;
use netpulse::event::Event;
use netpulse::sim::dme::{DmeSim, DmeSimConfig, SimDevice};
use tokio_util::sync::CancellationToken;

pub const CLASSES: [&str; 3] = ["ethpmPhysIf", "l1PhysIf", "l2BD"];

/// A small switch: few ports and VLANs, no random changes unless a test asks.
pub fn small_switch() -> DmeSimConfig {
    DmeSimConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        ports: 4,
        vlans: 2,
        ..DmeSimConfig::default()
    }
}

/// A simulator and a gateway subscribed to its first device, with a file sink to read events from.
pub struct Harness {
    pub sim: DmeSim,
    pub gateway: Option<Gateway>,
    /// Holds the CA file and the event file; removed when the test ends.
    _dir: tempfile::TempDir,
    pub events_path: PathBuf,
    sim_shutdown: CancellationToken,
    gateway_shutdown: CancellationToken,
}

/// Options of the gateway's source in a test, written as YAML lines under the source entry.
pub struct SourceOptions {
    pub password: &'static str,
    pub tls: String,
    pub extra: &'static str,
}

impl Default for SourceOptions {
    fn default() -> Self {
        SourceOptions {
            password: "admin",
            tls: "ca".into(),
            extra: "subscription_refresh: 2s\n    backoff: { initial: 200ms, max: 2s }",
        }
    }
}

impl Harness {
    pub async fn start(sim_config: DmeSimConfig) -> Harness {
        Harness::start_with(sim_config, SourceOptions::default()).await
    }

    pub async fn start_with(sim_config: DmeSimConfig, options: SourceOptions) -> Harness {
        let sim_shutdown = CancellationToken::new();
        let sim = DmeSim::start(sim_config, sim_shutdown.clone())
            .await
            .expect("simulator starts");
        let dir = tempfile::tempdir().unwrap();
        let ca_file = dir.path().join("ca.pem");
        if let Some(pem) = sim.ca_pem() {
            std::fs::write(&ca_file, pem).unwrap();
        }
        let tls = match options.tls.as_str() {
            "ca" => format!("{{ ca_file: {} }}", ca_file.display()),
            "pin" => format!(
                "{{ fingerprint_sha256: \"{}\" }}",
                sim.fingerprint_sha256().unwrap()
            ),
            "wrong-pin" => format!("{{ fingerprint_sha256: \"{}\" }}", ["00"; 32].join(":")),
            other => other.to_owned(),
        };
        let yaml = format!(
            "store: {{ path: netpulse.db }}\nhttp: {{ listen: \"127.0.0.1:0\" }}\nsources:\n  - name: leaf1\n    type: dme\n    address: {address}\n    username: admin\n    password: ${{TEST_PASSWORD}}\n    tls: {tls}\n    {extra}\n    subscriptions:\n      - /api/class/ethpmPhysIf.json\n      - /api/mo/sys/intf.json?query-target=subtree&target-subtree-class=l1PhysIf\n      - /api/node/class/l2BD.json\nsinks:\n  - {{ name: archive, type: file, path: events.jsonl }}\n",
            address = sim.devices()[0].base_url(),
            extra = options.extra,
        );
        let password = options.password;
        let config = Config::parse_with(&yaml, dir.path(), &|_| Some(password.to_owned()))
            .expect("test configuration is valid");
        let gateway_shutdown = CancellationToken::new();
        let gateway = Gateway::start(config, gateway_shutdown.clone())
            .await
            .expect("gateway starts");
        let events_path = dir.path().join("events.jsonl");
        Harness {
            sim,
            gateway: Some(gateway),
            _dir: dir,
            events_path,
            sim_shutdown,
            gateway_shutdown,
        }
    }

    pub fn device(&self) -> &SimDevice {
        &self.sim.devices()[0]
    }

    pub fn gateway(&self) -> &Gateway {
        self.gateway.as_ref().expect("gateway running")
    }

    pub fn status(&self) -> netpulse::source::StatusSnapshot {
        self.gateway().source("leaf1").unwrap().status.snapshot()
    }

    /// Every event written to the file sink so far.
    pub fn events(&self) -> Vec<Event> {
        let text = std::fs::read_to_string(&self.events_path).unwrap_or_default();
        text.lines()
            .filter(|line| !line.is_empty())
            .map(|line| serde_json::from_str(line).expect("a CloudEvents JSON line"))
            .collect()
    }

    /// What netpulse believes the device holds.
    pub fn view(&self) -> Vec<(String, BTreeMap<String, String>)> {
        self.gateway()
            .source("leaf1")
            .unwrap()
            .dme_objects()
            .unwrap()
    }

    /// What the device holds, for the classes the test subscribes to.
    pub fn device_objects(&self) -> Vec<(String, BTreeMap<String, String>)> {
        let mut objects: Vec<_> = self
            .device()
            .dump()
            .into_iter()
            .filter(|mo| CLASSES.contains(&mo.class.as_str()))
            .map(|mo| (mo.class, mo.attributes))
            .collect();
        objects.sort_by(|a, b| a.1.get("dn").cmp(&b.1.get("dn")));
        objects
    }

    pub async fn wait_connected(&self) {
        wait_until("the source is connected", || {
            self.status().state == netpulse::source::ConnectionState::Connected
        })
        .await;
    }

    /// Waits until netpulse's view equals the device's objects.
    pub async fn wait_in_sync(&self) {
        let deadline = tokio::time::Instant::now() + TIMEOUT;
        loop {
            if self.view() == self.device_objects() {
                return;
            }
            if tokio::time::Instant::now() > deadline {
                assert_eq!(
                    self.view(),
                    self.device_objects(),
                    "netpulse's view never matched the device"
                );
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Waits until an event matches and returns every event written up to then.
    pub async fn wait_for_event(&self, what: &str, matches: impl Fn(&Event) -> bool) -> Vec<Event> {
        wait_until(what, || self.events().iter().any(&matches)).await;
        self.events()
    }

    pub async fn stop(mut self) -> Vec<Event> {
        self.gateway_shutdown.cancel();
        if let Some(gateway) = self.gateway.take() {
            gateway.wait().await.unwrap();
        }
        let events = self.events();
        self.sim_shutdown.cancel();
        events
    }
}

pub const TIMEOUT: Duration = Duration::from_secs(20);
const POLL: Duration = Duration::from_millis(20);

/// Polls a condition until it holds, failing the test after [`TIMEOUT`].
pub async fn wait_until(what: &str, condition: impl Fn() -> bool) {
    let deadline = tokio::time::Instant::now() + TIMEOUT;
    while !condition() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting until {what}"
        );
        tokio::time::sleep(POLL).await;
    }
}

pub fn attrs(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(key, value)| (key.to_string(), value.to_string()))
        .collect()
}

/// A gateway started from a YAML text in a fresh folder (relative paths resolve there), with
/// `${VAR}` looked up in `env` only.
pub struct Running {
    pub gateway: Option<Gateway>,
    pub shutdown: CancellationToken,
    pub dir: tempfile::TempDir,
}

impl Running {
    pub async fn start(yaml: &str, env: &[(&str, &str)]) -> Running {
        let dir = tempfile::tempdir().unwrap();
        Running::start_in(dir, yaml, env).await
    }

    /// Starts in an existing folder: a restart on the same store.
    pub async fn start_in(dir: tempfile::TempDir, yaml: &str, env: &[(&str, &str)]) -> Running {
        let lookup = |name: &str| {
            env.iter()
                .find(|(key, _)| *key == name)
                .map(|(_, value)| value.to_string())
        };
        let config = Config::parse_with(yaml, dir.path(), &lookup).unwrap();
        let shutdown = CancellationToken::new();
        let gateway = Gateway::start(config, shutdown.clone()).await.unwrap();
        Running {
            gateway: Some(gateway),
            shutdown,
            dir,
        }
    }

    pub fn gateway(&self) -> &Gateway {
        self.gateway.as_ref().expect("running")
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.gateway().http_addr())
    }

    /// The gateway's `/metrics` page (Prometheus text), over a new connection.
    pub async fn metrics(&self) -> String {
        reqwest::get(self.url("/metrics"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    pub fn reader(&self) -> netpulse::store::Reader {
        self.gateway().store().reader().unwrap()
    }

    /// Stops the gateway cleanly and hands back its folder.
    pub async fn stop(mut self) -> tempfile::TempDir {
        self.shutdown.cancel();
        if let Some(gateway) = self.gateway.take() {
            tokio::time::timeout(TIMEOUT, gateway.wait())
                .await
                .expect("the gateway stops")
                .unwrap();
        }
        self.dir
    }
}

/// Sends `request` and reads its answer as JSON.
pub async fn send_json(request: reqwest::RequestBuilder) -> serde_json::Value {
    request.send().await.unwrap().json().await.unwrap()
}

/// Reads a file of `tests/data/`.
pub fn data(path: &str) -> Vec<u8> {
    std::fs::read(format!("{}/tests/data/{path}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

/// An SD-WAN fixture with a new uuid (and, when given, a new host name), as the manager would send
/// for another alarm of the same kind.
pub fn sdwan_alarm(fixture: &str, uuid: &str, host_name: Option<&str>) -> Vec<u8> {
    let mut alarm: serde_json::Value =
        serde_json::from_slice(&data(&format!("sdwan/{fixture}"))).unwrap();
    alarm["uuid"] = uuid.into();
    if let Some(host) = host_name {
        for list in ["values", "values_short_display"] {
            if let Some(entries) = alarm[list].as_array_mut() {
                for entry in entries {
                    if entry.get("host-name").is_some() {
                        entry["host-name"] = host.into();
                    }
                }
            }
        }
    }
    serde_json::to_vec(&alarm).unwrap()
}

/// A loopback port nothing listens on right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The netpulse binary running `config` as its own process (for `kill -9`), quiet, with `env`.
pub fn spawn_gateway(config: &std::path::Path, env: &[(&str, &str)]) -> std::process::Child {
    std::process::Command::new(env!("CARGO_BIN_EXE_netpulse"))
        .args(["run", "-c"])
        .arg(config)
        .envs(env.iter().copied())
        .env("NETPULSE_LOG", "warn")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap()
}
