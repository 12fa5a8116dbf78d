//! The `netpulse` command: parse the command line, set up logging, load the configuration and
//! hand over to the library.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use tokio_util::sync::CancellationToken;

/// mimalloc instead of glibc's malloc: every webhook allocates and frees its request, parsed
/// document and event on whichever worker thread runs it, and glibc's malloc took ~17% of the
/// gateway's CPU under the ingest benchmark (BENCHMARKS.md). Version 2 without transparent huge
/// pages (the features in Cargo.toml): version 3's huge pages and slower purge cost 28 MiB at
/// 2,000 DME devices.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "netpulse",
    version,
    about = "Real-time network events from device subscriptions and webhooks, normalized, durable and delivered"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

// Built once per process from the command line: the size of the largest variant does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
enum Command {
    /// Run the gateway with a configuration file.
    Run {
        #[arg(short, long, default_value = "netpulse.yaml")]
        config: PathBuf,
    },
    /// Check a configuration file and report every error with its place; exit status 1 on error.
    Check {
        #[arg(short, long, default_value = "netpulse.yaml")]
        config: PathBuf,
    },
    /// Run a device simulator.
    Sim {
        #[command(subcommand)]
        device: netpulse::sim::SimCommand,
    },
    /// Start a simulated switch and the gateway subscribed to it, and show events as they arrive.
    Demo(netpulse::demo::DemoArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // The demo prints events on stdout; only the gateway's own news should join them on stderr.
    let default_filter = if matches!(cli.command, Command::Demo(_)) {
        "info,netpulse::sim=warn,netpulse::store::schema=warn"
    } else {
        "info"
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("NETPULSE_LOG")
                .unwrap_or_else(|_| default_filter.into()),
        )
        .with_writer(std::io::stderr)
        .init();
    if let Command::Check { config } = &cli.command {
        return check(config);
    }
    let runtime = tokio::runtime::Runtime::new().expect("cannot start the async runtime");
    match runtime.block_on(run(cli.command)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("netpulse: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn check(path: &Path) -> ExitCode {
    match netpulse::config::Config::load(path) {
        Ok(config) => {
            println!(
                "{}: OK ({} sources, {} sinks)",
                path.display(),
                config.sources.len(),
                config.sinks.len()
            );
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("{err}");
            ExitCode::FAILURE
        }
    }
}

async fn run(command: Command) -> anyhow::Result<()> {
    let shutdown = CancellationToken::new();
    tokio::spawn(cancel_on_signal(shutdown.clone()));
    match command {
        Command::Run { config } => run_gateway(&config, shutdown).await,
        Command::Sim { device } => device.run(shutdown).await,
        Command::Demo(args) => netpulse::demo::run(args, shutdown).await,
        Command::Check { .. } => unreachable!("handled before the runtime starts"),
    }
}

/// The gateway, reading its configuration file again on SIGHUP.
async fn run_gateway(path: &Path, shutdown: CancellationToken) -> anyhow::Result<()> {
    // Listening before the gateway starts: a SIGHUP sent meanwhile waits for the reload instead
    // of ending the process.
    #[cfg(unix)]
    let hangup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup());
    let config = netpulse::config::Config::load(path)?;
    let file = netpulse::gateway::ConfigFile::new(path);
    let gateway = netpulse::Gateway::start_with(config, Some(file), shutdown.clone()).await?;
    #[cfg(unix)]
    match hangup {
        Ok(hangup) => {
            tokio::spawn(reload_on_hangup(hangup, gateway.reloader(), shutdown));
        }
        Err(error) => {
            tracing::warn!(%error, "cannot listen for SIGHUP: reload with POST /api/v1/reload")
        }
    }
    gateway.wait().await
}

/// SIGHUP reloads the configuration, as `POST /api/v1/reload` does (the reload logs its outcome).
#[cfg(unix)]
async fn reload_on_hangup(
    mut hangup: tokio::signal::unix::Signal,
    reloader: std::sync::Arc<netpulse::gateway::Reloader>,
    shutdown: CancellationToken,
) {
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = hangup.recv() => {
                tracing::info!("SIGHUP: reading the configuration again");
                let _ = reloader.reload().await;
            }
        }
    }
}

/// Ctrl-C or SIGTERM starts a clean shutdown: sources stop, sinks flush.
async fn cancel_on_signal(shutdown: CancellationToken) {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("cannot listen for SIGTERM");
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
    tracing::info!("shutting down");
    shutdown.cancel();
}
