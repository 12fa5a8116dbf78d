//! The gateway as its own process: its configuration, its status API, and its CPU and memory.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use netpulse::sim::dme::SimDevice;
use serde::Deserialize;
use serde::de::DeserializeOwned;

pub const SUBSCRIPTION_REFRESH: &str = "5s";
const API_TOKEN: &str = "device-chaos-bench-token";

/// One source in `GET /api/v1/sources` (the fields used here).
#[derive(Debug, Clone, Deserialize)]
pub struct SourceRow {
    pub name: String,
    pub state: String,
    pub connects: u64,
    pub gaps: u64,
    pub events: u64,
    pub login_failures: u64,
    pub last_refresh_at: Option<jiff::Timestamp>,
    pub connected_since: Option<jiff::Timestamp>,
    pub last_error: Option<String>,
}

#[derive(Deserialize)]
pub struct SinkRow {
    pub name: String,
    pub pending: u64,
    pub delivered: u64,
    pub dead: u64,
}

/// The gateway process and its API.
pub struct Gateway {
    child: Child,
    pub pid: String,
    base: String,
    client: reqwest::Client,
}

impl Gateway {
    pub fn spawn(config: &Path, port: u16, log: &Path) -> Gateway {
        let log = std::fs::File::create(log).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_netpulse"))
            .args(["run", "-c"])
            .arg(config)
            .env("BENCH_PASSWORD", "admin")
            .env("BENCH_API_TOKEN", API_TOKEN)
            .env("NETPULSE_LOG", "info")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("cannot start the gateway binary");
        Gateway {
            pid: child.id().to_string(),
            child,
            base: format!("http://127.0.0.1:{port}"),
            client: reqwest::Client::new(),
        }
    }

    pub async fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            self.check_running();
            let ready = self
                .client
                .get(format!("{}/readyz", self.base))
                .send()
                .await;
            if ready.is_ok_and(|response| response.status().is_success()) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the gateway is not ready in 60 s"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub fn check_running(&mut self) {
        if let Ok(Some(status)) = self.child.try_wait() {
            panic!("the gateway exited ({status}); see bench/out/device-chaos/gateway.log");
        }
    }

    async fn get<T: DeserializeOwned>(&self, path: &str) -> Option<T> {
        let response = self
            .client
            .get(format!("{}{path}", self.base))
            .bearer_auth(API_TOKEN)
            .timeout(Duration::from_secs(5))
            .send()
            .await
            .ok()?;
        response.error_for_status().ok()?.json().await.ok()
    }

    pub async fn sources(&self) -> Option<Vec<SourceRow>> {
        #[derive(Deserialize)]
        struct Sources {
            sources: Vec<SourceRow>,
        }
        self.get::<Sources>("/api/v1/sources")
            .await
            .map(|list| list.sources)
    }

    pub async fn archive(&self) -> Option<SinkRow> {
        #[derive(Deserialize)]
        struct Sinks {
            sinks: Vec<SinkRow>,
        }
        let sinks = self.get::<Sinks>("/api/v1/sinks").await?;
        sinks.sinks.into_iter().find(|sink| sink.name == "archive")
    }

    /// Stops the gateway cleanly (SIGTERM), so its store can be read.
    pub fn terminate(mut self) {
        let _ = Command::new("kill").arg("-TERM").arg(&self.pid).status();
        let _ = self.child.wait();
    }
}

pub fn gateway_yaml(devices: &[SimDevice], ca: &Path, events: &Path, port: u16) -> String {
    let mut yaml = format!(
        "store: {{ path: {store} }}\nhttp: {{ listen: \"127.0.0.1:{port}\" }}\napi:\n  auth:\n    tokens:\n      - name: bench\n        token: ${{BENCH_API_TOKEN}}\nsources:\n",
        store = events.with_file_name("netpulse.db").display()
    );
    for device in devices {
        yaml.push_str(&format!(
            "  - name: {name}\n    type: dme\n    address: {address}\n    username: admin\n    password: ${{BENCH_PASSWORD}}\n    tls: {{ ca_file: {ca} }}\n    subscription_refresh: {SUBSCRIPTION_REFRESH}\n    backoff: {{ initial: 100ms, max: 2s }}\n    subscriptions:\n      - /api/class/ethpmPhysIf.json\n      - /api/mo/sys/intf.json?query-target=subtree&target-subtree-class=l1PhysIf\n      - /api/class/l2BD.json\n",
            name = device.name(),
            address = device.base_url(),
            ca = ca.display(),
        ));
    }
    yaml.push_str(&format!(
        "sinks:\n  - {{ name: archive, type: file, path: {} }}\n",
        events.display()
    ));
    yaml
}

pub fn count_stored(database: &Path) -> Option<i64> {
    let connection = rusqlite::Connection::open(database).ok()?;
    connection
        .query_row("SELECT count(*) FROM events", [], |row| row.get(0))
        .ok()
}

pub fn count_lines(path: &Path) -> u64 {
    std::fs::read(path).map_or(0, |bytes| {
        bytes.iter().filter(|byte| **byte == b'\n').count() as u64
    })
}
