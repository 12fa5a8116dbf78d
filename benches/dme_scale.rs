//! Scale benchmark of the DME source: one gateway process (the release binary) holding N simulated
//! switches × 3 subscriptions with a short subscription TTL and a steady change rate. The
//! simulator runs in this process, so the two can be measured apart.
//!
//! Run: `bench/dme-scale.sh` or `cargo bench --bench dme_scale -- --devices 2000 --seconds 60`
//! (`--netpulse-bin PATH` to measure another build, e.g. another allocator's or an earlier commit's).
//! Prints: devices, connect time, events/s delivered by the gateway against pushes/s sent by the
//! simulator (the baseline of the same run), subscriptions that expired, the worst refresh margin,
//! the gateway's RSS (now and peak, and how much of it is in transparent huge pages) and CPU, and
//! the simulator's CPU.

#[path = "support/mod.rs"]
mod support;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use netpulse::sim::dme::{DmeSim, DmeSimConfig, SimDevice, SimStats, SimTls};
use tokio_util::sync::CancellationToken;

struct Options {
    devices: usize,
    seconds: u64,
    change_rate: f64,
    ttl: Duration,
    refresh: Duration,
    /// Plain HTTP and WebSockets instead of TLS, to see what TLS costs.
    plain: bool,
    /// The gateway binary to measure: this build's unless given.
    netpulse_bin: PathBuf,
}

fn options() -> Options {
    let mut options = Options {
        devices: 2000,
        seconds: 60,
        change_rate: 0.5,
        ttl: Duration::from_secs(10),
        refresh: Duration::from_secs(5),
        plain: false,
        netpulse_bin: PathBuf::from(env!("CARGO_BIN_EXE_netpulse")),
    };
    let args: Vec<String> = std::env::args().collect();
    options.plain = args.iter().any(|arg| arg == "--plain");
    for pair in args.windows(2) {
        let value = &pair[1];
        match pair[0].as_str() {
            "--devices" => options.devices = value.parse().expect("--devices N"),
            "--seconds" => options.seconds = value.parse().expect("--seconds N"),
            "--change-rate" => {
                options.change_rate = value
                    .parse()
                    .expect("--change-rate R (per device per second)")
            }
            "--ttl" => options.ttl = Duration::from_secs(value.parse().expect("--ttl seconds")),
            "--refresh" => {
                options.refresh = Duration::from_secs(value.parse().expect("--refresh seconds"))
            }
            "--netpulse-bin" => options.netpulse_bin = PathBuf::from(value),
            _ => {}
        }
    }
    options
}

fn main() {
    let options = options();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(bench(options));
}

async fn bench(options: Options) {
    let out = Path::new(env!("CARGO_MANIFEST_DIR")).join("bench/out");
    std::fs::create_dir_all(&out).unwrap();
    let events_path = out.join("events.jsonl");
    let _ = std::fs::remove_file(&events_path);
    // A fresh store too: one left by an earlier run would be reopened and extended (its seqs
    // continued, its file grown by ~190 MB a run), so two runs would not measure the same gateway.
    for extension in ["db", "db-wal", "db-shm"] {
        let _ = std::fs::remove_file(events_path.with_extension(extension));
    }
    let shutdown = CancellationToken::new();
    let sim_config = DmeSimConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        devices: options.devices,
        subscription_ttl: options.ttl,
        change_rate: options.change_rate,
        ports: 16,
        vlans: 8,
        seed: 42,
        tls: if options.plain {
            SimTls::Plain
        } else {
            SimTls::Generate
        },
        ..DmeSimConfig::default()
    };
    let sim = DmeSim::start(sim_config, shutdown.clone())
        .await
        .expect("simulator starts");
    let ca = out.join("ca.pem");
    if let Some(pem) = sim.ca_pem() {
        std::fs::write(&ca, pem).unwrap();
    }
    let config = out.join("netpulse-bench.yaml");
    std::fs::write(
        &config,
        gateway_yaml(sim.devices(), &ca, &events_path, options.refresh),
    )
    .unwrap();
    let sim_cpu_start = support::cpu_seconds("self");
    let started = Instant::now();
    let mut gateway = spawn_gateway(&options.netpulse_bin, &config);
    let pid = gateway.id().to_string();

    let expected = (options.devices * 3) as u64;
    while total(sim.devices(), |s| s.subscriptions_active) < expected {
        assert!(
            started.elapsed() < Duration::from_secs(300),
            "devices did not all subscribe within 300 s"
        );
        assert!(
            gateway.try_wait().unwrap().is_none(),
            "the gateway exited early"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let connect_time = started.elapsed();

    let cpu0 = support::cpu_seconds(&pid);
    let sim_cpu0 = support::cpu_seconds("self");
    let pushes0 = total(sim.devices(), |s| s.pushes_sent_total);
    let lines0 = count_lines(&events_path);
    let window = Instant::now();
    // RSS every 10 s across the window: a leak shows as a steady climb, not a plateau.
    let mut rss_samples = Vec::new();
    while window.elapsed() < Duration::from_secs(options.seconds) {
        let left = Duration::from_secs(options.seconds).saturating_sub(window.elapsed());
        tokio::time::sleep(left.min(Duration::from_secs(10))).await;
        rss_samples.push(support::memory_kib(&pid).0 / 1024);
    }
    let seconds = window.elapsed().as_secs_f64();
    let cpu = support::cpu_seconds(&pid) - cpu0;
    let sim_cpu = support::cpu_seconds("self") - sim_cpu0;
    let pushes = total(sim.devices(), |s| s.pushes_sent_total) - pushes0;
    let lines = count_lines(&events_path) - lines0;
    let (rss, peak) = support::memory_kib(&pid);
    let huge_pages = anon_huge_pages_kib(&pid);
    let stats: Vec<SimStats> = sim.devices().iter().map(SimDevice::stats).collect();
    let expired: u64 = stats.iter().map(|s| s.subscriptions_expired_total).sum();
    let worst_margin = stats.iter().filter_map(|s| s.worst_refresh_margin_ms).min();
    let refreshes: u64 = stats.iter().map(|s| s.subscription_refreshes).sum();
    let sockets: u64 = stats.iter().map(|s| s.sockets_opened_total).sum();

    terminate(&mut gateway);
    shutdown.cancel();
    println!(
        "DME scale benchmark ({} devices x 3 subscriptions, TTL {:?}, refresh every {:?}, {} changes/s per device, 16 ports + 8 VLANs each)",
        options.devices, options.ttl, options.refresh, options.change_rate
    );
    println!(
        "  gateway binary              {}",
        options.netpulse_bin.display()
    );
    println!(
        "  all subscribed after        {:>10.1} s",
        connect_time.as_secs_f64()
    );
    println!("  measured window             {:>10.1} s", seconds);
    println!(
        "  simulator pushes/s          {:>10.1}   (baseline: what the devices sent)",
        pushes as f64 / seconds
    );
    println!(
        "  gateway events/s            {:>10.1}   ({:.3} of the baseline)",
        lines as f64 / seconds,
        lines as f64 / pushes.max(1) as f64
    );
    println!(
        "  subscriptions expired       {:>10}   (must be 0)",
        expired
    );
    println!("  subscription refreshes      {:>10}", refreshes);
    println!(
        "  worst refresh margin        {:>10} ms (TTL minus the longest time between two refreshes)",
        worst_margin.map_or("-".into(), |m| m.to_string())
    );
    println!(
        "  sockets opened              {:>10}   ({} devices: more means reconnects)",
        sockets, options.devices
    );
    println!(
        "  gateway RSS now / peak      {:>6.1} / {:.1} MiB",
        rss as f64 / 1024.0,
        peak as f64 / 1024.0
    );
    println!("  gateway RSS every 10 s (MiB) {rss_samples:?}");
    println!(
        "  of it in huge pages         {:>10.1} MiB (transparent huge pages: AnonHugePages)",
        huge_pages as f64 / 1024.0
    );
    println!(
        "  gateway CPU                 {:>10.1} % of one core",
        100.0 * cpu / seconds
    );
    println!(
        "  simulator CPU               {:>10.1} % of one core",
        100.0 * sim_cpu / seconds
    );
    println!(
        "  simulator CPU incl. start   {:>10.1} s",
        support::cpu_seconds("self") - sim_cpu_start
    );
}

fn total(devices: &[SimDevice], field: impl Fn(&SimStats) -> u64) -> u64 {
    devices.iter().map(|device| field(&device.stats())).sum()
}

fn gateway_yaml(devices: &[SimDevice], ca: &Path, events: &Path, refresh: Duration) -> String {
    let store = events.with_extension("db");
    let mut yaml = format!(
        "store: {{ path: {} }}\nhttp: {{ listen: \"127.0.0.1:0\" }}\nsources:\n",
        store.display()
    );
    for (index, device) in devices.iter().enumerate() {
        yaml.push_str(&format!(
            "  - name: leaf{index}\n    type: dme\n    address: {}\n    username: admin\n    password: ${{BENCH_PASSWORD}}\n    tls: {}\n    subscription_refresh: {}s\n    subscriptions:\n      - /api/class/ethpmPhysIf.json\n      - /api/mo/sys/intf.json?query-target=subtree&target-subtree-class=l1PhysIf\n      - /api/class/l2BD.json\n",
            device.base_url(),
            if device.base_url().starts_with("https") { format!("{{ ca_file: {} }}", ca.display()) } else { "{}".to_owned() },
            refresh.as_secs()
        ));
    }
    yaml.push_str(&format!(
        "sinks:\n  - {{ name: archive, type: file, path: {} }}\n",
        events.display()
    ));
    yaml
}

fn spawn_gateway(binary: &Path, config: &Path) -> Child {
    Command::new(binary)
        .args(["run", "-c"])
        .arg(config)
        .env("BENCH_PASSWORD", "admin")
        .env("NETPULSE_LOG", "warn")
        .envs(
            std::env::var("BENCH_PRELOAD")
                .ok()
                .map(|lib| ("LD_PRELOAD", lib)),
        )
        .stdout(Stdio::null())
        .spawn()
        .expect("cannot start the gateway binary")
}

fn terminate(child: &mut Child) {
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status();
    let _ = child.wait();
}

/// Anonymous memory of a process backed by transparent huge pages (KiB), from smaps_rollup: an
/// allocator that asks for them can hold far more resident memory than it uses.
fn anon_huge_pages_kib(pid: &str) -> u64 {
    let rollup = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).unwrap_or_default();
    rollup
        .lines()
        .find(|line| line.starts_with("AnonHugePages:"))
        .and_then(|line| line.split_whitespace().nth(1))
        .and_then(|value| value.parse().ok())
        .unwrap_or(0)
}

fn count_lines(path: &PathBuf) -> u64 {
    match std::fs::File::open(path) {
        Ok(file) => BufReader::new(file).lines().count() as u64,
        Err(_) => 0,
    }
}
