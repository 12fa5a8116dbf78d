//! The netpulse nodes of the cluster chaos benchmark and of its CI test (`tests/it/cluster.rs`
//! includes this file): each node is its own `netpulse run` process with its own store, the same
//! sources and sinks and a `cluster:` section; it can be killed, paused, resumed and started again
//! on its store. Its API is read with the bench's token; CPU and memory come from `/proc`.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde::de::DeserializeOwned;
use serde_json::Value;

use super::bench_support::{cpu_seconds, memory_kib};

pub const API_TOKEN: &str = "cluster-chaos-token";
/// The subscriptions of every switch's source (the replay knows these classes).
pub const SUBSCRIPTIONS: [&str; 3] = [
    "/api/class/ethpmPhysIf.json",
    "/api/mo/sys/intf.json?query-target=subtree&target-subtree-class=l1PhysIf",
    "/api/class/l2BD.json",
];

/// Lease timing written into every node's `cluster.lease` (durations as the config reads them).
#[derive(Clone, Debug)]
pub struct LeaseTiming {
    pub ttl: Duration,
    pub renew: Duration,
    pub self_fence: Duration,
    pub poll: Duration,
}

impl LeaseTiming {
    fn yaml(&self) -> String {
        let ms = |duration: Duration| format!("{}ms", duration.as_millis());
        format!(
            "{{ ttl: {}, renew: {}, self_fence: {}, poll: {}, member_ttl: {} }}",
            ms(self.ttl),
            ms(self.renew),
            ms(self.self_fence),
            ms(self.poll),
            ms(self.ttl)
        )
    }
}

/// What every node's configuration shares.
#[derive(Clone, Debug)]
pub struct Shared {
    /// (source name, base URL) of each simulated switch.
    pub switches: Vec<(String, String)>,
    pub ca: PathBuf,
    pub webex_url: String,
    pub room: String,
    pub nats_urls: Vec<String>,
    pub lease: LeaseTiming,
    pub subscription_refresh: String,
    /// `NETPULSE_LOG` of the nodes.
    pub log: String,
}

/// One node's configuration: `cluster` = `None` makes a single node (the ingest comparison).
pub fn node_yaml(shared: &Shared, node_id: Option<&str>, dir: &Path, port: u16) -> String {
    let mut yaml = format!(
        "store: {{ path: {store} }}\nhttp: {{ listen: \"127.0.0.1:{port}\" }}\napi:\n  auth:\n    tokens:\n      - name: bench\n        token: ${{CHAOS_API_TOKEN}}\nsources:\n  - name: vmanage\n    type: webhook\n    provider: sdwan\n    path: /hooks/sdwan\n    auth: {{ none: true }}\n    vmanage_url: https://vmanage.example.com\n",
        store = dir.join("netpulse.db").display()
    );
    for (name, url) in &shared.switches {
        yaml.push_str(&format!(
            "  - name: {name}\n    type: dme\n    address: {url}\n    username: admin\n    password: ${{CHAOS_DEVICE_PASSWORD}}\n    tls: {{ ca_file: {ca} }}\n    subscription_refresh: {refresh}\n    backoff: {{ initial: 100ms, max: 2s }}\n    subscriptions:\n",
            ca = shared.ca.display(),
            refresh = shared.subscription_refresh,
        ));
        for subscription in SUBSCRIPTIONS {
            yaml.push_str(&format!("      - {subscription}\n"));
        }
    }
    yaml.push_str(&format!(
        "sinks:\n  - name: noc\n    type: webex\n    base_url: {}\n    token: ${{WEBEX_TOKEN}}\n    room_id: \"{}\"\n    rate_limit: 2000\n    match: {{ source: [vmanage] }}\n  - {{ name: archive, type: file, path: {} }}\n",
        shared.webex_url,
        shared.room,
        dir.join("events.jsonl").display()
    ));
    if let Some(node_id) = node_id {
        yaml.push_str(&format!(
            "cluster:\n  node_id: {node_id}\n  nats:\n    urls: [{}]\n  lease: {}\n",
            shared.nats_urls.join(", "),
            shared.lease.yaml()
        ));
    }
    yaml
}

/// A node process and its API.
pub struct Node {
    pub id: String,
    pub port: u16,
    pub dir: PathBuf,
    config: PathBuf,
    log: String,
    child: Option<Child>,
    /// Process id of the running (or paused) process.
    pub pid: u32,
    pub started: Instant,
    /// CPU seconds of earlier processes of this node (before a kill).
    cpu_before: f64,
    lifetime_before: Duration,
    pub peak_rss_kib: u64,
    client: reqwest::Client,
}

impl Node {
    /// Writes the configuration under `dir` and starts the process.
    pub fn start(shared: &Shared, node_id: Option<&str>, dir: &Path, port: u16) -> Node {
        std::fs::create_dir_all(dir).unwrap();
        let config = dir.join("netpulse.yaml");
        std::fs::write(&config, node_yaml(shared, node_id, dir, port)).unwrap();
        let mut node = Node {
            id: node_id.unwrap_or("single").to_owned(),
            port,
            dir: dir.to_owned(),
            config,
            log: shared.log.clone(),
            child: None,
            pid: 0,
            started: Instant::now(),
            cpu_before: 0.0,
            lifetime_before: Duration::ZERO,
            peak_rss_kib: 0,
            client: reqwest::Client::new(),
        };
        node.spawn();
        node
    }

    fn spawn(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("netpulse.log"))
            .unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_netpulse"))
            .args(["run", "-c"])
            .arg(&self.config)
            .env("CHAOS_API_TOKEN", API_TOKEN)
            .env("CHAOS_DEVICE_PASSWORD", "admin")
            .env("WEBEX_TOKEN", "sim-bot-token")
            .env("NETPULSE_LOG", &self.log)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("cannot start the netpulse binary");
        self.pid = child.id();
        self.started = Instant::now();
        self.child = Some(child);
    }

    pub fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn hook_url(&self) -> String {
        format!("{}/hooks/sdwan", self.base())
    }

    /// Whether the process is still there (a paused one is).
    pub fn running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|child| matches!(child.try_wait(), Ok(None)))
    }

    /// Waits for `/readyz` 200; the time it took, or an error naming the log.
    pub async fn wait_ready(&mut self, timeout: Duration) -> Result<Duration, String> {
        let started = Instant::now();
        loop {
            if !self.running() {
                return Err(format!(
                    "node {} exited; see {}",
                    self.id,
                    self.dir.join("netpulse.log").display()
                ));
            }
            let ready = self
                .client
                .get(format!("{}/readyz", self.base()))
                .timeout(Duration::from_secs(2))
                .send()
                .await;
            if ready.is_ok_and(|response| response.status().is_success()) {
                return Ok(started.elapsed());
            }
            if started.elapsed() > timeout {
                return Err(format!("node {} not ready within {timeout:?}", self.id));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn signal(&self, signal: &str) {
        let _ = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(self.pid.to_string())
            .status();
    }

    /// `kill -9`; its CPU time so far is kept for the report.
    pub fn kill9(&mut self) {
        self.account();
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    pub fn pause(&self) {
        self.signal("STOP");
    }

    pub fn resume(&self) {
        self.signal("CONT");
    }

    /// Starts a killed node again on its store.
    pub fn restart(&mut self) {
        self.kill9();
        self.spawn();
    }

    /// SIGTERM and wait (a planned stop).
    pub fn terminate(&mut self) {
        self.account();
        if let Some(mut child) = self.child.take() {
            self.signal("CONT");
            self.signal("TERM");
            let deadline = Instant::now() + Duration::from_secs(20);
            while matches!(child.try_wait(), Ok(None)) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn account(&mut self) {
        if self.child.is_some() {
            self.sample_memory();
            self.cpu_before += cpu_seconds(&self.pid.to_string());
            self.lifetime_before += self.started.elapsed();
        }
    }

    /// Records the peak resident memory seen so far.
    pub fn sample_memory(&mut self) -> u64 {
        let (rss, peak) = memory_kib(&self.pid.to_string());
        self.peak_rss_kib = self.peak_rss_kib.max(peak);
        rss
    }

    /// (CPU seconds, wall seconds alive) over all of this node's processes.
    pub fn cpu(&self) -> (f64, f64) {
        let (now_cpu, now_wall) = if self.child.is_some() {
            (cpu_seconds(&self.pid.to_string()), self.started.elapsed())
        } else {
            (0.0, Duration::ZERO)
        };
        (
            self.cpu_before + now_cpu,
            (self.lifetime_before + now_wall).as_secs_f64(),
        )
    }

    pub async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, String> {
        let response = self
            .client
            .get(format!("{}{path}", self.base()))
            .bearer_auth(API_TOKEN)
            .timeout(Duration::from_secs(10))
            .send()
            .await
            .map_err(|error| format!("{} GET {path}: {error}", self.id))?;
        let status = response.status();
        if !status.is_success() {
            let body = response.text().await.unwrap_or_default();
            return Err(format!("{} GET {path}: {status} {body}", self.id));
        }
        response
            .json()
            .await
            .map_err(|error| format!("{} GET {path}: {error}", self.id))
    }

    /// Every stored event, oldest first, page by page.
    pub async fn events(&self) -> Result<Vec<Value>, String> {
        let mut all = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut path = "/api/v1/events?order=oldest&limit=1000".to_owned();
            if let Some(cursor) = &cursor {
                path.push_str(&format!("&cursor={cursor}"));
            }
            let page: Value = self.get(&path).await?;
            all.extend(page["events"].as_array().cloned().unwrap_or_default());
            match page["next_cursor"].as_str() {
                Some(next) => cursor = Some(next.to_owned()),
                None => return Ok(all),
            }
        }
    }

    /// Every alarm (`state=all`), sorted by key.
    pub async fn alarms(&self) -> Result<Vec<Value>, String> {
        let list: Value = self.get("/api/v1/alarms?state=all").await?;
        let mut alarms = list["alarms"].as_array().cloned().unwrap_or_default();
        alarms.sort_by(|a, b| a["key"].as_str().cmp(&b["key"].as_str()));
        Ok(alarms)
    }

    /// The device leases this node says it holds (`GET /api/v1/cluster`; only for the log of
    /// the run, the checks do not take netpulse's word).
    pub async fn device_leases(&self) -> Option<usize> {
        let cluster: Value = self.get("/api/v1/cluster").await.ok()?;
        let held = cluster["node"]["leases"].as_array()?;
        Some(
            held.iter()
                .filter(|key| key.as_str().is_some_and(|key| key.starts_with("dev.")))
                .count(),
        )
    }

    /// The newest stored event's seq (0 without events).
    pub async fn last_seq(&self) -> Result<u64, String> {
        let page: Value = self.get("/api/v1/events?limit=1").await?;
        Ok(page["events"][0]["seq"].as_u64().unwrap_or(0))
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            self.signal("CONT");
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
