//! What the benchmarks share: a free loopback port, and a process's CPU time and memory from
//! `/proc` (Linux). Each benchmark includes this file with `#[path]`; not all use every function.
#![allow(dead_code)]

/// A loopback port nothing listens on right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// User + system CPU seconds of a process so far; `pid` is a number or `self`.
pub fn cpu_seconds(pid: &str) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name, which may itself hold spaces and parentheses.
    let after_name = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let ticks: f64 = fields
        .get(11..13)
        .map(|pair| pair.iter().filter_map(|f| f.parse::<f64>().ok()).sum())
        .unwrap_or(0.0);
    ticks / 100.0
}

/// Current and peak resident memory (KiB) of a process; `pid` is a number or `self`.
pub fn memory_kib(pid: &str) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|line| line.starts_with(name))
            .and_then(|line| line.split_whitespace().nth(1))
            .and_then(|value| value.parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// The runtime every benchmark drives its load from: two workers, like the machine's cores.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// An alarm document split around its `uuid` value, so that a benchmark can send or store it
/// with a new uuid each time (a repeated uuid would be a duplicate, stored once).
pub fn split_at_uuid(document: &str) -> (&str, &str) {
    let value: serde_json::Value = serde_json::from_str(document).unwrap();
    let uuid = value["uuid"].as_str().unwrap();
    document.trim().split_once(uuid).unwrap()
}

/// The gateway process (the release binary), killed if the benchmark panics, so that no gateway
/// outlives it.
pub struct Gateway(pub std::process::Child);

impl Drop for Gateway {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// Starts `netpulse run -c config` with the simulated Webex bot's token and `api_token` in the
/// environment; its log at `NETPULSE_LOG` (default `error`).
pub fn spawn_gateway(config: &std::path::Path, api_token: &str) -> std::process::Child {
    std::process::Command::new(env!("CARGO_BIN_EXE_netpulse"))
        .args(["run", "-c"])
        .arg(config)
        .env("WEBEX_TOKEN", "sim-bot-token")
        .env("API_TOKEN", api_token)
        .env(
            "NETPULSE_LOG",
            std::env::var("NETPULSE_LOG").unwrap_or_else(|_| "error".to_owned()),
        )
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap()
}

/// Waits until the gateway on `port` answers `/readyz` with 200, at most 60 s; panics if it
/// exits first.
pub async fn wait_ready(port: u16, child: &mut std::process::Child) {
    let url = format!("http://127.0.0.1:{port}/readyz");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while std::time::Instant::now() < deadline {
        if let Ok(response) = reqwest::get(&url).await
            && response.status().is_success()
        {
            return;
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!("the gateway exited before it was ready: {status}");
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("the gateway was not ready within 60 s");
}
