//! The `netpulse` command: parse the command line, set up logging, load the configuration and
//! hand over to the library.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use tokio_util::sync::CancellationToken;

/// mimalloc instead of glibc's malloc: every webhook allocates and frees its request, parsed
/// document and event on whichever worker thread runs it, and glibc's malloc took ~17% of the
/// gateway's CPU under the ingest benchmark (BENCHMARKS.md).
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
        device: SimCommand,
    },
    /// Start a simulated switch and the gateway subscribed to it, and show events as they arrive.
    Demo(netpulse::demo::DemoArgs),
}

#[derive(Subcommand)]
enum SimCommand {
    /// NX-OS DME device(s): REST login, WebSocket subscriptions, a change generator, fault injection.
    Dme(netpulse::sim::dme::DmeSimArgs),
    /// ACI APIC(s): the DME simulator with tenants, leaf ports, faults through their lifecycle,
    /// event and audit records.
    Apic(netpulse::sim::dme::DmeSimArgs),
    /// SD-WAN Manager: posts real alarm webhooks (raise/clear pairs) with Basic auth, at a rate.
    Sdwan(netpulse::sim::sdwan::SdwanSimArgs),
    /// Webex Messages API: bearer tokens, rooms, recorded messages, injectable 429/5xx/latency.
    Webex(netpulse::sim::webex::WebexSimArgs),
    /// Meraki: posts alert webhooks (official examples, raise/clear pairs) with the shared secret.
    Meraki(netpulse::sim::hooks::MerakiSimArgs),
    /// Catalyst Center: posts Assurance issue notifications (active, then resolved).
    #[command(name = "catalyst-center")]
    CatalystCenter(netpulse::sim::hooks::CatalystCenterSimArgs),
    /// ThousandEyes: posts classic alert webhooks (TRIGGER, then CLEAR), optional Basic auth.
    Thousandeyes(netpulse::sim::hooks::ThousandeyesSimArgs),
    /// Intersight: posts cond.Alarm webhooks signed with a draft-cavage HTTP Signature.
    Intersight(netpulse::sim::hooks::IntersightSimArgs),
    /// Standard Webhooks: posts alarm messages signed v1 with a whsec_ secret.
    #[command(name = "standard-webhooks")]
    StandardWebhooks(netpulse::sim::hooks::StandardWebhooksSimArgs),
    /// CloudEvents 1.0: posts alarm events in binary or structured mode.
    Cloudevents(netpulse::sim::hooks::CloudeventsSimArgs),
    /// Cisco ISE pxGrid 2.0: the control REST API and the STOMP pubsub over WebSocket.
    Ise(netpulse::sim::ise::IseSimArgs),
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
        Command::Sim {
            device: SimCommand::Dme(args),
        } => netpulse::sim::dme::run_cli(args, shutdown).await,
        Command::Sim {
            device: SimCommand::Apic(args),
        } => netpulse::sim::dme::run_apic_cli(args, shutdown).await,
        Command::Sim {
            device: SimCommand::Sdwan(args),
        } => netpulse::sim::sdwan::run_cli(args, shutdown).await,
        Command::Sim {
            device: SimCommand::Webex(args),
        } => netpulse::sim::webex::run_cli(args, shutdown).await,
        Command::Sim {
            device: SimCommand::Meraki(args),
        } => netpulse::sim::hooks::run_cli(args, shutdown).await,
        Command::Sim {
            device: SimCommand::CatalystCenter(args),
        } => netpulse::sim::hooks::run_cli(args, shutdown).await,
        Command::Sim {
            device: SimCommand::Thousandeyes(args),
        } => netpulse::sim::hooks::run_cli(args, shutdown).await,
        Command::Sim {
            device: SimCommand::Intersight(args),
        } => netpulse::sim::hooks::run_cli(args, shutdown).await,
        Command::Sim {
            device: SimCommand::StandardWebhooks(args),
        } => netpulse::sim::hooks::run_cli(args, shutdown).await,
        Command::Sim {
            device: SimCommand::Cloudevents(args),
        } => netpulse::sim::hooks::run_cli(args, shutdown).await,
        Command::Sim {
            device: SimCommand::Ise(args),
        } => netpulse::sim::ise::run_cli(args, shutdown).await,
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
