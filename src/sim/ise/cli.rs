//! `netpulse sim ise`: the command-line front of the ISE pxGrid simulator.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context;
use tokio_util::sync::CancellationToken;

use super::{IseSim, IseSimConfig, session};
use crate::duration::parse_duration;
use crate::sim::dme::ServeTlsArgs;

/// Simulate a Cisco ISE pxGrid 2.0 node (control REST API and STOMP over WebSocket).
#[derive(clap::Args, Debug)]
pub struct IseSimArgs {
    #[arg(long, default_value = "127.0.0.1:8910")]
    pub listen: SocketAddr,
    /// An existing client account, `node:password` (repeatable). They still need approval.
    #[arg(long = "account", value_parser = parse_account)]
    pub accounts: Vec<(String, String)>,
    /// Refuse AccountCreate, as ISE does by default.
    #[arg(long)]
    pub no_account_create: bool,
    /// AccountActivate answers PENDING this many times before ENABLED.
    #[arg(long, default_value_t = 0)]
    pub approval_polls: u32,
    /// ... and not before this long after the account's first AccountActivate.
    #[arg(long, default_value = "0s", value_parser = parse_duration)]
    pub approval_delay: Duration,
    /// The heart-beat the server offers in CONNECTED, both ways (0s: none; ISE's is UNKNOWN).
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub heartbeat: Duration,
    /// Publish random sessions at this rate per second (0: only through POST /_sim/publish).
    #[arg(long, default_value_t = 0.0)]
    pub session_rate: f64,
    #[command(flatten)]
    pub tls: ServeTlsArgs,
}

fn parse_account(text: &str) -> Result<(String, String), String> {
    text.split_once(':')
        .map(|(node, password)| (node.to_owned(), password.to_owned()))
        .ok_or_else(|| format!("{text:?}: expected node:password"))
}

impl IseSimArgs {
    pub fn to_config(&self) -> IseSimConfig {
        let tls = self.tls.to_sim_tls();
        IseSimConfig {
            listen: self.listen,
            tls,
            accounts: self.accounts.clone(),
            account_create: !self.no_account_create,
            approval_polls: self.approval_polls,
            approval_delay: self.approval_delay,
            heartbeat: (self.heartbeat, self.heartbeat),
            ..IseSimConfig::default()
        }
    }
}

pub async fn run_cli(args: IseSimArgs, shutdown: CancellationToken) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.session_rate.is_finite() && args.session_rate >= 0.0,
        "--session-rate must be a number >= 0"
    );
    let sim = IseSim::start(args.to_config(), shutdown.clone()).await?;
    if let (Some(path), Some(pem)) = (&args.tls.cert_out, sim.ca_pem()) {
        tokio::fs::write(path, pem)
            .await
            .with_context(|| format!("write {}", path.display()))?;
    }
    println!("netpulse sim ise: pxGrid node at {}", sim.base_url());
    match sim.fingerprint_sha256() {
        Some(fingerprint) => println!("TLS certificate SHA-256 fingerprint: {fingerprint}"),
        None => println!("TLS: off (plain HTTP and ws://)"),
    }
    println!(
        "control API (no authentication): {}/_sim/ (POST publish {{\"sessions\":[...]}}, POST fault, GET stats)",
        sim.base_url()
    );
    if args.session_rate > 0.0 {
        generate(&sim, args.session_rate, &shutdown).await;
    } else {
        shutdown.cancelled().await;
    }
    sim.stopped().await;
    Ok(())
}

/// Publishes endpoints connecting and disconnecting, `rate` sessions per second on average.
async fn generate(sim: &IseSim, rate: f64, shutdown: &CancellationToken) {
    let mut rng = fastrand::Rng::with_seed(1);
    loop {
        let gap = -(1.0 - rng.f64()).ln() / rate;
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(Duration::from_secs_f64(gap.min(3600.0))) => {}
        }
        let host = rng.u8(1..=200);
        let mac = format!("18:60:24:00:00:{host:02X}");
        let ip = format!("172.31.8.{host}");
        let state = if rng.bool() {
            "STARTED"
        } else {
            "DISCONNECTED"
        };
        sim.publish(vec![session(
            &mac,
            &ip,
            &format!("user{host}"),
            state,
            "172.31.1.7",
        )]);
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;
    use crate::sim::dme::SimTls;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: IseSimArgs,
    }

    #[test]
    fn defaults_and_accounts() {
        let cli = Cli::try_parse_from(["sim"]).unwrap();
        let config = cli.args.to_config();
        assert_eq!(config.listen, "127.0.0.1:8910".parse().unwrap());
        assert!(config.account_create);
        let cli = Cli::try_parse_from(["sim", "--account", "netpulse:pw", "--plain"]).unwrap();
        let config = cli.args.to_config();
        assert_eq!(
            config.accounts,
            vec![("netpulse".to_owned(), "pw".to_owned())]
        );
        assert!(matches!(config.tls, SimTls::Plain));
        assert!(Cli::try_parse_from(["sim", "--account", "nopassword"]).is_err());
    }
}
