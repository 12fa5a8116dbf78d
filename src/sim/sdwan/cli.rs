//! `netpulse sim sdwan`: post SD-WAN Manager alarm webhooks to a receiver.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::sender::{SdwanSimConfig, run_with_progress};

const PROGRESS_INTERVAL: Duration = Duration::from_secs(5);

/// Post SD-WAN Manager alarm notifications (real captures, raise/clear pairs) with Basic auth.
#[derive(clap::Args, Debug)]
pub struct SdwanSimArgs {
    /// The webhook URL, e.g. http://127.0.0.1:5001/hooks/sdwan.
    #[arg(long)]
    pub target: String,
    #[arg(long, default_value = "webhook")]
    pub username: String,
    /// The password; prefer --password-env so it stays out of the process list.
    #[arg(long, conflicts_with = "password_env")]
    pub password: Option<String>,
    /// Read the password from this environment variable.
    #[arg(long)]
    pub password_env: Option<String>,
    /// Requests per second (all senders together); default: as fast as answers come.
    #[arg(long)]
    pub rate: Option<f64>,
    /// Stop after this many alarms; default: until Ctrl-C.
    #[arg(long)]
    pub count: Option<u64>,
    #[arg(long, default_value_t = 1)]
    pub concurrency: usize,
    /// Simulated devices (edge-001, edge-002, ...).
    #[arg(long, default_value_t = 10)]
    pub devices: usize,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// For https targets: the CA file to trust.
    #[arg(long, conflicts_with = "insecure")]
    pub ca_file: Option<PathBuf>,
    /// For https targets in a lab: accept any certificate.
    #[arg(long)]
    pub insecure: bool,
}

pub async fn run_cli(args: SdwanSimArgs, shutdown: CancellationToken) -> anyhow::Result<()> {
    let password = match (&args.password, &args.password_env) {
        (Some(password), _) => password.clone(),
        (None, Some(variable)) => std::env::var(variable).map_err(|_| {
            anyhow::anyhow!("environment variable {variable} (--password-env) is not set")
        })?,
        (None, None) => {
            anyhow::bail!("give the webhook password with --password-env VAR or --password")
        }
    };
    let config = SdwanSimConfig {
        target: args.target.clone(),
        username: args.username,
        password,
        rate: args.rate,
        count: args.count,
        concurrency: args.concurrency,
        devices: args.devices,
        seed: args.seed,
        ca_file: args.ca_file,
        insecure: args.insecure,
        record_accepted: false,
    };
    let progress = Arc::new(AtomicU64::new(0));
    let reporter = tokio::spawn(report_progress(progress.clone(), shutdown.clone()));
    let report = run_with_progress(config, shutdown, progress).await?;
    reporter.abort();
    let seconds = report.elapsed.as_secs_f64().max(f64::EPSILON);
    println!(
        "sent {} alarms to {} in {:.1}s ({:.1}/s): answers {:?}, network errors {}, latency p50 {:?} p99 {:?} max {:?}",
        report.sent,
        args.target,
        seconds,
        report.sent as f64 / seconds,
        report.by_status,
        report.network_errors,
        report.latency_p50,
        report.latency_p99,
        report.latency_max
    );
    if report.network_errors > 0 {
        anyhow::bail!(
            "{} requests failed at the network level",
            report.network_errors
        );
    }
    Ok(())
}

async fn report_progress(progress: Arc<AtomicU64>, shutdown: CancellationToken) {
    let mut previous = 0;
    loop {
        tokio::select! {
            () = tokio::time::sleep(PROGRESS_INTERVAL) => {}
            () = shutdown.cancelled() => return,
        }
        let answered = progress.load(Ordering::Relaxed);
        let rate = (answered - previous) as f64 / PROGRESS_INTERVAL.as_secs_f64();
        previous = answered;
        eprintln!("sim sdwan: {answered} answered ({rate:.1}/s)");
    }
}
