//! `netpulse sim dme`: the command-line front of the DME simulator.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};
use tokio_util::sync::CancellationToken;
use tracing::info;

use super::{DmeSim, DmeSimConfig, FabricShape, FabricSpec, SimPlatform, SimTls};
use crate::duration::parse_duration;

/// How often the aggregated counters are logged.
const STATS_LOG_INTERVAL: Duration = Duration::from_secs(10);
/// Up to this many devices are listed one per line; more are shown as a range.
const LIST_DEVICES_UP_TO: usize = 10;

/// Simulate NX-OS switches (NX-API REST / DME with WebSocket subscriptions).
#[derive(clap::Args, Debug)]
pub struct DmeSimArgs {
    /// Address of the first device; device i listens on port + i (port 0: OS-assigned ports).
    #[arg(long, default_value = "127.0.0.1:8443")]
    pub listen: SocketAddr,
    /// Number of simulated switches.
    #[arg(long, default_value_t = 1)]
    pub devices: usize,
    #[arg(long, default_value = "admin")]
    pub username: String,
    #[arg(
        long,
        env = "NETPULSE_SIM_PASSWORD",
        default_value = "admin",
        hide_env_values = true
    )]
    pub password: String,
    /// Session idle lifetime (reported as refreshTimeoutSeconds).
    #[arg(long, default_value = "600s", value_parser = parse_duration)]
    pub refresh_timeout: Duration,
    /// Subscription lifetime without a refresh.
    #[arg(long, default_value = "60s", value_parser = parse_duration)]
    pub subscription_ttl: Duration,
    /// Ports per switch (eth1/1..eth1/N).
    #[arg(long, default_value_t = 48)]
    pub ports: usize,
    /// VLANs per switch at start (vlan-101..).
    #[arg(long, default_value_t = 10)]
    pub vlans: usize,
    /// Random changes per second per switch (0: off).
    #[arg(long, default_value_t = 0.0)]
    pub change_rate: f64,
    /// Seed of the random state and changes.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    #[command(flatten)]
    pub tls: ServeTlsArgs,
    /// Keep the same token on aaaRefresh instead of issuing a new one.
    #[arg(long)]
    pub no_rotate_token: bool,
    /// `netpulse sim apic`: leaf nodes per simulated fabric (their ports are --ports); with
    /// --spines: the leaf switches of the spine/leaf fabric.
    #[arg(long, default_value_t = 2)]
    pub leaves: usize,
    /// Cable the switches into a spine/leaf fabric of this many spines (spine1..) and --leaves
    /// leaves (leaf1..), every leaf to every spine, with LLDP/CDP adjacencies and the link and
    /// device actions of the control API (replaces --devices).
    #[arg(long, default_value_t = 0, conflicts_with = "chain")]
    pub spines: usize,
    /// Cable the --devices switches in a line (leaf1 - leaf2 - ...), each behind the one before.
    #[arg(long)]
    pub chain: bool,
    /// With --spines or --chain: the domain the switches announce in LLDP sysName and CDP devId
    /// (leaf1.lab.example.com); default: bare host names.
    #[arg(long)]
    pub domain: Option<String>,
    /// Set by `netpulse sim apic`.
    #[arg(skip)]
    pub platform: SimPlatform,
}

/// How a device simulator serves (`netpulse sim dme | apic | ise`): TLS with a generated or
/// given certificate, or plain.
#[derive(clap::Args, Debug)]
pub struct ServeTlsArgs {
    /// Serve plain HTTP / ws:// instead of TLS.
    #[arg(long, conflicts_with_all = ["tls_cert", "tls_key", "cert_out"])]
    pub plain: bool,
    /// PEM certificate chain to serve instead of a generated one.
    #[arg(long, requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key of --tls-cert.
    #[arg(long, requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Write the generated certificate (PEM) here, for clients to use as their CA file.
    #[arg(long, conflicts_with = "tls_cert")]
    pub cert_out: Option<PathBuf>,
}

impl ServeTlsArgs {
    pub fn to_sim_tls(&self) -> SimTls {
        match (&self.tls_cert, &self.tls_key) {
            _ if self.plain => SimTls::Plain,
            (Some(cert), Some(key)) => SimTls::Files {
                cert: cert.clone(),
                key: key.clone(),
            },
            _ => SimTls::Generate,
        }
    }
}

impl DmeSimArgs {
    pub fn to_config(&self) -> DmeSimConfig {
        let tls = self.tls.to_sim_tls();
        DmeSimConfig {
            listen: self.listen,
            devices: self.devices,
            tls,
            username: self.username.clone(),
            password: self.password.clone(),
            refresh_timeout: self.refresh_timeout,
            subscription_ttl: self.subscription_ttl,
            ports: self.ports,
            vlans: self.vlans,
            change_rate: self.change_rate,
            seed: self.seed,
            rotate_token_on_refresh: !self.no_rotate_token,
            platform: self.platform,
            leaves: self.leaves,
            fabric: self.fabric(),
        }
    }

    fn fabric(&self) -> Option<FabricSpec> {
        let shape = if self.spines > 0 {
            FabricShape::SpineLeaf {
                spines: self.spines,
                leaves: self.leaves,
            }
        } else if self.chain {
            FabricShape::Chain {
                devices: self.devices,
            }
        } else {
            return None;
        };
        Some(FabricSpec {
            shape,
            domain: self.domain.clone(),
        })
    }
}

/// Starts the simulator, prints where it listens, and runs until `shutdown`, logging the
/// aggregated counters every 10 seconds.
pub async fn run_cli(args: DmeSimArgs, shutdown: CancellationToken) -> anyhow::Result<()> {
    run(args, shutdown).await
}

/// `netpulse sim apic`: the same simulator with the APIC personality (faults, records, tenants).
pub async fn run_apic_cli(mut args: DmeSimArgs, shutdown: CancellationToken) -> anyhow::Result<()> {
    args.platform = SimPlatform::Apic;
    run(args, shutdown).await
}

async fn run(args: DmeSimArgs, shutdown: CancellationToken) -> anyhow::Result<()> {
    let sim = DmeSim::start(args.to_config(), shutdown.clone()).await?;
    if let Some(path) = &args.tls.cert_out {
        let Some(pem) = sim.ca_pem() else {
            bail!("--cert-out needs a generated certificate")
        };
        tokio::fs::write(path, pem)
            .await
            .with_context(|| format!("write the certificate to {}", path.display()))?;
    }
    println!("{}", describe(&sim, args.tls.cert_out.as_deref()));
    let mut ticks = tokio::time::interval(STATS_LOG_INTERVAL);
    ticks.tick().await;
    loop {
        tokio::select! {
            () = shutdown.cancelled() => break,
            _ = ticks.tick() => log_stats(&sim),
        }
    }
    info!("simulator stopping");
    sim.stopped().await;
    Ok(())
}

/// The start-up banner: devices and URLs, certificate, control API.
fn describe(sim: &DmeSim, cert_out: Option<&std::path::Path>) -> String {
    let devices = sim.devices();
    let mut lines = vec![format!(
        "netpulse sim: {} simulated {}",
        devices.len(),
        match sim.platform() {
            SimPlatform::Apic => "APIC(s)",
            SimPlatform::Nxos => "NX-OS switch(es)",
        }
    )];
    if devices.len() <= LIST_DEVICES_UP_TO {
        lines.extend(
            devices
                .iter()
                .map(|device| format!("  {:<8} {}", device.name(), device.base_url())),
        );
    } else {
        let (first, last) = (&devices[0], &devices[devices.len() - 1]);
        lines.push(format!(
            "  {}..{}  {} .. {}",
            first.name(),
            last.name(),
            first.base_url(),
            last.base_url()
        ));
    }
    match sim.fingerprint_sha256() {
        Some(fingerprint) => lines.push(format!(
            "TLS certificate SHA-256 fingerprint: {fingerprint}"
        )),
        None => lines.push("TLS: off (plain HTTP and ws://)".to_owned()),
    }
    match (cert_out, sim.ca_pem()) {
        (Some(path), _) => lines.push(format!(
            "certificate written to {} (use it as the client's CA file)",
            path.display()
        )),
        (None, Some(_)) => lines.push(
            "certificate not written (pass --cert-out PATH to use it as a CA file)".to_owned(),
        ),
        (None, None) => {}
    }
    lines.push(format!(
        "control API (no authentication): {}/_sim/ (POST change, POST fault, GET dump, GET stats) on every device",
        devices[0].base_url()
    ));
    if let Some(fabric) = sim.fabric() {
        let dump = fabric.dump();
        lines.push(format!(
            "fabric: {} links (GET /_sim/topology; POST /_sim/link {{\"device\":\"{}\",\"port\":\"{}\",\"state\":\"down\"}}; POST /_sim/device {{\"device\":\"{}\",\"state\":\"down\"}})",
            dump.links.len(),
            dump.links.first().map_or("leaf1", |link| link.a.as_str()),
            dump.links.first().map_or("eth1/1", |link| link.a_port.as_str()),
            dump.devices.first().map_or("leaf1", |device| device.name.as_str()),
        ));
    }
    lines.join("\n")
}

fn log_stats(sim: &DmeSim) {
    let stats = sim.stats();
    info!(
        sessions = stats.sessions_active,
        sockets = stats.sockets_open,
        subscriptions = stats.subscriptions_active,
        logins_ok = stats.logins_ok,
        logins_failed = stats.logins_failed,
        subscriptions_expired = stats.subscriptions_expired_total,
        refresh_failures = stats.subscription_refresh_failures,
        worst_refresh_margin_ms = ?stats.worst_refresh_margin_ms,
        pushes = stats.pushes_sent_total,
        changes = stats.changes_applied_total,
        "simulator stats"
    );
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: DmeSimArgs,
    }

    #[test]
    fn defaults_and_tls_choice() {
        let cli = Cli::try_parse_from(["sim"]).unwrap();
        let config = cli.args.to_config();
        assert_eq!(config.listen, "127.0.0.1:8443".parse().unwrap());
        assert!(matches!(config.tls, SimTls::Generate));
        assert_eq!(config.subscription_ttl, Duration::from_secs(60));
        assert!(config.rotate_token_on_refresh);
        let cli = Cli::try_parse_from([
            "sim",
            "--plain",
            "--subscription-ttl",
            "45s",
            "--no-rotate-token",
        ])
        .unwrap();
        let config = cli.args.to_config();
        assert!(matches!(config.tls, SimTls::Plain));
        assert_eq!(config.subscription_ttl, Duration::from_secs(45));
        assert!(!config.rotate_token_on_refresh);
        assert!(
            Cli::try_parse_from(["sim", "--tls-cert", "c.pem"]).is_err(),
            "a cert needs its key"
        );
        assert!(Cli::try_parse_from(["sim", "--plain", "--cert-out", "x.pem"]).is_err());
    }
}
