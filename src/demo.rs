//! `netpulse demo`: a simulated leaf switch (or a few) with changes flowing, the gateway subscribed
//! to it over real TLS and WebSockets, and events printed as they arrive. Every 20 s the demo
//! breaks something the way real networks do (a device restart, a dropped socket, lost
//! subscriptions, an expired session) and changes a few ports while netpulse is blind, so the gap
//! event and the resynchronised changes can be seen. No configuration, no hardware.

use std::time::Duration;

use anyhow::Context;
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::sim::dme::{Change, DmeSim, DmeSimConfig, Fault};

#[derive(clap::Args, Debug, Clone)]
pub struct DemoArgs {
    /// Number of simulated switches.
    #[arg(long, default_value_t = 2)]
    pub devices: usize,
    /// Random changes per second per switch.
    #[arg(long, default_value_t = 0.5)]
    pub change_rate: f64,
    /// Stop after this long (e.g. 90s); runs until Ctrl-C by default.
    #[arg(long, value_parser = crate::duration::parse_duration)]
    pub duration: Option<Duration>,
}

const FAULT_INTERVAL: Duration = Duration::from_secs(20);

pub async fn run(args: DemoArgs, shutdown: CancellationToken) -> anyhow::Result<()> {
    let sim_config = DmeSimConfig {
        listen: "127.0.0.1:0".parse().expect("valid address"),
        devices: args.devices.max(1),
        change_rate: args.change_rate,
        subscription_ttl: Duration::from_secs(20),
        ..DmeSimConfig::default()
    };
    let sim = DmeSim::start(sim_config, shutdown.child_token())
        .await
        .context("cannot start the simulated switch")?;
    let folder = std::env::temp_dir().join(format!("netpulse-demo-{}", std::process::id()));
    std::fs::create_dir_all(&folder)
        .with_context(|| format!("cannot create {}", folder.display()))?;
    let ca_file = folder.join("sim-ca.pem");
    std::fs::write(
        &ca_file,
        sim.ca_pem().context("the simulator made no certificate")?,
    )?;
    let config = Config::parse_with(&demo_yaml(&sim, &ca_file), &folder, &|_| {
        Some("admin".into())
    })
    .map_err(|errors| anyhow::anyhow!("demo configuration: {errors}"))?;
    println!(
        "netpulse demo: {} simulated switch(es), TLS verified against {}",
        args.devices.max(1),
        ca_file.display()
    );
    for (index, device) in sim.devices().iter().enumerate() {
        println!(
            "  leaf{} at {} (control API: {}/_sim/)",
            index + 1,
            device.base_url(),
            device.base_url()
        );
    }
    println!("events follow (time, sequence, device, severity, summary); Ctrl-C stops\n");
    let gateway_shutdown = shutdown.child_token();
    let gateway = crate::Gateway::start(config, gateway_shutdown.clone()).await?;
    let chaos = tokio::spawn(break_things(sim.devices().to_vec(), shutdown.clone()));
    match args.duration {
        Some(duration) => tokio::select! {
            _ = shutdown.cancelled() => {}
            _ = tokio::time::sleep(duration) => {}
        },
        None => shutdown.cancelled().await,
    }
    gateway_shutdown.cancel();
    gateway.wait().await?;
    chaos.abort();
    shutdown.cancel();
    sim.stopped().await;
    let _ = std::fs::remove_dir_all(&folder);
    Ok(())
}

fn demo_yaml(sim: &DmeSim, ca_file: &std::path::Path) -> String {
    // The store lives in the demo's own folder (relative paths are taken from there); the HTTP
    // server takes any free port so that the demo never collides with a running netpulse.
    let mut yaml =
        String::from("store: { path: netpulse.db }\nhttp: { listen: \"127.0.0.1:0\" }\nsources:\n");
    for (index, device) in sim.devices().iter().enumerate() {
        yaml.push_str(&format!(
            "  - name: leaf{n}\n    type: dme\n    address: {url}\n    username: admin\n    password: ${{DEMO_PASSWORD}}\n    tls: {{ ca_file: {ca} }}\n    subscription_refresh: 8s\n    backoff: {{ initial: 500ms, max: 5s }}\n    subscriptions:\n      - /api/class/ethpmPhysIf.json\n      - /api/mo/sys/intf.json?query-target=subtree&target-subtree-class=l1PhysIf\n      - /api/class/l2BD.json\n",
            n = index + 1,
            url = device.base_url(),
            ca = ca_file.display()
        ));
    }
    yaml.push_str("sinks:\n  - name: console\n    type: stdout\n    format: text\n");
    yaml
}

/// Injects one fault every [`FAULT_INTERVAL`] on the first switch, with changes during the gap.
async fn break_things(devices: Vec<crate::sim::dme::SimDevice>, shutdown: CancellationToken) {
    let Some(device) = devices.first().cloned() else {
        return;
    };
    let faults = [
        (
            "restart of leaf1 (down for 3 s)",
            Fault::Restart { down_for_ms: 3000 },
        ),
        ("leaf1 drops its WebSockets", Fault::DropSockets),
        ("leaf1 forgets every subscription", Fault::LoseSubscriptions),
        ("leaf1 expires every session", Fault::ExpireSessions),
    ];
    for (description, fault) in faults.iter().cycle() {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(FAULT_INTERVAL) => {}
        }
        println!(
            "\n*** demo: {description}; 4 changes happen while netpulse cannot see them ***\n"
        );
        device.fault(fault.clone());
        if let Err(err) = device.apply(Change::Random { count: 4 }) {
            tracing::warn!(error = %err, "demo could not apply changes");
        }
    }
}
