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
    /// The alerting policy: `route test -c FILE EVENT.json` shows which routes, sinks and
    /// groups an event reaches, and why.
    Route {
        #[command(subcommand)]
        command: RouteCommand,
    },
    /// Run a device simulator.
    Sim {
        #[command(subcommand)]
        device: netpulse::sim::SimCommand,
    },
    /// Start a simulated switch and the gateway subscribed to it, and show events as they arrive.
    Demo(netpulse::demo::DemoArgs),
}

#[derive(Subcommand)]
enum RouteCommand {
    /// Show which routes, sinks and groups an event reaches, and why: each route checked (matched,
    /// or the first condition that fails), `continue`, the group, the inhibition rules it takes
    /// part in, and whether a time interval mutes the route now. The event is a netpulse event
    /// as the API, the feed or a file sink gives it (one object, an array, or an API page).
    Test {
        #[arg(short, long, default_value = "netpulse.yaml")]
        config: PathBuf,
        /// The event file (`-` for standard input).
        event: PathBuf,
        /// The time to check time intervals at (RFC 3339); default now.
        #[arg(long)]
        at: Option<jiff::Timestamp>,
    },
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
    if let Command::Route {
        command: RouteCommand::Test { config, event, at },
    } = &cli.command
    {
        return match route_test(config, event, *at) {
            Ok(()) => ExitCode::SUCCESS,
            Err(err) => {
                eprintln!("netpulse: {err:#}");
                ExitCode::FAILURE
            }
        };
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

/// `netpulse route test`: every event of the file through the configuration's policy.
fn route_test(config: &Path, event: &Path, at: Option<jiff::Timestamp>) -> anyhow::Result<()> {
    use anyhow::Context as _;
    let text = std::fs::read_to_string(config)
        .with_context(|| format!("cannot read configuration file {}", config.display()))?;
    let base = config.parent().unwrap_or(Path::new("."));
    let (parsed, errors) =
        netpulse::config::Config::parse_keeping(&text, base, &|name| std::env::var(name).ok())
            .map_err(|errors| anyhow::anyhow!("{}: {errors}", config.display()))?;
    // The policy's own mistakes stop the test; the rest of the file (a secret not set on this
    // machine, a CA file elsewhere) does not matter to routing, and is only mentioned.
    let policy_sections = ["routes", "time_intervals", "inhibit_rules", "topology"];
    let (policy_errors, other_errors): (Vec<_>, Vec<_>) = errors.into_iter().partition(|error| {
        policy_sections
            .iter()
            .any(|section| error.starts_with(section))
    });
    if !policy_errors.is_empty() {
        anyhow::bail!(
            "{}: {}",
            config.display(),
            netpulse::config::ConfigErrors(policy_errors)
        );
    }
    if !other_errors.is_empty() {
        eprintln!(
            "note: {} error(s) elsewhere in {} do not affect routing (`netpulse check` lists them)",
            other_errors.len(),
            config.display()
        );
    }
    let config = parsed;
    let policy = netpulse::route::Policy::compile(&config)
        .map_err(|errors| anyhow::anyhow!("the alerting policy: {}", errors.join("; ")))?;
    let text = if event == Path::new("-") {
        std::io::read_to_string(std::io::stdin()).context("cannot read standard input")?
    } else {
        std::fs::read_to_string(event)
            .with_context(|| format!("cannot read {}", event.display()))?
    };
    let events = netpulse::route::events_of_document(&text)
        .with_context(|| format!("{}: not a netpulse event", event.display()))?;
    let now = at.unwrap_or_else(jiff::Timestamp::now);
    // In order, the events of the file may hold one another (`topology:`): adjacencies, a
    // link down, then the alarms behind it.
    let replayed = netpulse::route::replay(&policy, &events, now);
    for (index, event) in events.iter().enumerate() {
        if events.len() > 1 {
            println!("event {} ({}, {}):", index + 1, event.kind, event.device);
        }
        for line in policy.test_report(event, now) {
            println!("  {line}");
        }
        for decision in &replayed[index] {
            if let netpulse::route::Outcome::Held { root } = &decision.outcome {
                println!(
                    "  route {} sink {}: held behind the root cause {root} (listed in its root's notification)",
                    decision.route, decision.sink
                );
            }
        }
    }
    Ok(())
}

async fn run(command: Command) -> anyhow::Result<()> {
    let shutdown = CancellationToken::new();
    tokio::spawn(cancel_on_signal(shutdown.clone()));
    match command {
        Command::Run { config } => run_gateway(&config, shutdown).await,
        Command::Sim { device } => device.run(shutdown).await,
        Command::Demo(args) => netpulse::demo::run(args, shutdown).await,
        Command::Check { .. } | Command::Route { .. } => {
            unreachable!("handled before the runtime starts")
        }
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
