//! `netpulse sim nats`: not a simulator but the real thing, started for a try-out: a NATS
//! JetStream cluster of local `nats-server` processes on loopback (2.11 or later, see
//! [`crate::cluster::local`]), for `cluster:` on one machine. It prints the URLs to put in
//! `cluster.nats.urls` and stops the servers when it stops.

use std::path::PathBuf;

use tokio_util::sync::CancellationToken;

use crate::cluster::local::LocalNats;

#[derive(Debug, clap::Args)]
pub struct NatsSimArgs {
    /// How many servers (3 for a cluster that survives one failure).
    #[arg(long, default_value_t = 3)]
    pub servers: usize,
    /// The first server's client port (the others follow; route ports are 2000 above).
    /// Default: free ports, different at each start.
    #[arg(long)]
    pub port: Option<u16>,
    /// Where the servers keep their configuration, logs and JetStream data.
    #[arg(long, default_value = "netpulse-nats")]
    pub dir: PathBuf,
}

pub async fn run_cli(args: NatsSimArgs, shutdown: CancellationToken) -> anyhow::Result<()> {
    if args.servers == 0 || args.servers > 9 {
        anyhow::bail!("--servers must be 1 to 9");
    }
    std::fs::create_dir_all(&args.dir)?;
    let nats = LocalNats::start_on(&args.dir, args.servers, args.port).await?;
    let urls = nats.urls();
    println!(
        "NATS JetStream: {} servers ready under {}",
        urls.len(),
        args.dir.display()
    );
    println!("cluster:\n  nats:\n    urls: [{}]", urls.join(", "));
    tracing::info!(servers = urls.len(), urls = %urls.join(","), "local NATS cluster running; Ctrl-C stops it");
    shutdown.cancelled().await;
    drop(nats);
    Ok(())
}
