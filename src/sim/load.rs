//! What the webhook senders (`netpulse sim sdwan`, `sim meraki`, ...) share: the HTTP client,
//! the pacing of requests over concurrent senders, and the report of what the receiver answered.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::config::TlsConfig;

/// How often a sender run from the command line says how far it got.
const PROGRESS_INTERVAL: Duration = Duration::from_secs(5);

/// What every webhook sender takes on the command line.
#[derive(clap::Args, Debug)]
pub struct CommonArgs {
    /// The webhook URL, e.g. http://127.0.0.1:5001/hooks/sdwan.
    #[arg(long)]
    pub target: String,
    /// Requests per second (all senders together); default: as fast as answers come.
    #[arg(long)]
    pub rate: Option<f64>,
    /// Stop after this many notifications; default: until Ctrl-C.
    #[arg(long)]
    pub count: Option<u64>,
    #[arg(long, default_value_t = 1)]
    pub concurrency: usize,
    /// Simulated devices the notifications are spread over.
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

impl CommonArgs {
    /// The target and how to load it (ids of accepted requests not recorded).
    pub(crate) fn into_target_and_load(self) -> (String, Load) {
        let load = Load {
            rate: self.rate,
            count: self.count,
            concurrency: self.concurrency,
            devices: self.devices,
            seed: self.seed,
            ca_file: self.ca_file,
            insecure: self.insecure,
            record_accepted: false,
        };
        (self.target, load)
    }
}

/// How a webhook sender loads its target, whatever it sends.
#[derive(Debug, Clone)]
pub struct Load {
    /// Requests per second over all senders; `None`: as fast as answers come.
    pub rate: Option<f64>,
    /// Stop after this many requests; `None`: until shutdown.
    pub count: Option<u64>,
    pub concurrency: usize,
    /// Simulated devices the notifications are spread over.
    pub devices: usize,
    pub seed: u64,
    /// For an https target: the CA (or self-signed certificate) to trust.
    pub ca_file: Option<PathBuf>,
    /// For an https target in a lab: accept any certificate.
    pub insecure: bool,
    /// Keep the notification id of every request that got a 2xx (to check a store afterwards).
    pub record_accepted: bool,
}

impl Default for Load {
    fn default() -> Load {
        Load {
            rate: None,
            count: None,
            concurrency: 1,
            devices: 10,
            seed: 1,
            ca_file: None,
            insecure: false,
            record_accepted: false,
        }
    }
}

impl Load {
    /// The client the senders share, announcing itself as `user_agent`.
    pub(crate) fn client(&self, user_agent: String) -> anyhow::Result<reqwest::Client> {
        client(
            self.ca_file.clone(),
            self.insecure,
            self.concurrency,
            user_agent,
        )
    }

    /// Runs `concurrency` senders (at least one) made by `sender` to their end, and sums what
    /// they found.
    pub(crate) async fn run_senders<F>(
        &self,
        mut sender: impl FnMut() -> F,
    ) -> anyhow::Result<Report>
    where
        F: std::future::Future<Output = Findings> + Send + 'static,
    {
        let started = Instant::now();
        let senders: Vec<_> = (0..self.concurrency.max(1))
            .map(|_| tokio::spawn(sender()))
            .collect();
        let mut all = Vec::with_capacity(senders.len());
        for sender in senders {
            all.push(sender.await?);
        }
        Ok(Report::from_findings(all, started.elapsed()))
    }
}

/// A webhook secret: `--secret` or, preferably, `--secret-env VAR`.
#[derive(clap::Args, Debug)]
pub struct SecretArgs {
    /// The webhook's secret; prefer --secret-env so it stays out of the process list.
    #[arg(long, conflicts_with = "secret_env")]
    pub secret: Option<String>,
    /// Read the secret from this environment variable.
    #[arg(long)]
    pub secret_env: Option<String>,
}

impl SecretArgs {
    pub(crate) fn value(&self) -> anyhow::Result<Option<String>> {
        secret(&self.secret, &self.secret_env, "secret")
    }
}

/// An HTTP Basic password: `--password` or, preferably, `--password-env VAR`.
#[derive(clap::Args, Debug)]
pub struct PasswordArgs {
    /// The password; prefer --password-env so it stays out of the process list.
    #[arg(long, conflicts_with = "password_env")]
    pub password: Option<String>,
    /// Read the password from this environment variable.
    #[arg(long)]
    pub password_env: Option<String>,
}

impl PasswordArgs {
    pub(crate) fn value(&self) -> anyhow::Result<Option<String>> {
        secret(&self.password, &self.password_env, "password")
    }
}

/// A secret given on the command line or, preferably, by the name of an environment variable.
pub(crate) fn secret(
    value: &Option<String>,
    variable: &Option<String>,
    flag: &str,
) -> anyhow::Result<Option<String>> {
    match (value, variable) {
        (Some(value), _) => Ok(Some(value.clone())),
        (None, Some(variable)) => std::env::var(variable).map(Some).map_err(|_| {
            anyhow::anyhow!("environment variable {variable} (--{flag}-env) is not set")
        }),
        (None, None) => Ok(None),
    }
}

/// A secret the sender cannot go without.
pub(crate) fn required(value: Option<String>, flag: &str) -> anyhow::Result<String> {
    value.ok_or_else(|| anyhow::anyhow!("give the {flag} with --{flag}-env VAR or --{flag}"))
}

/// Runs a sender from the command line: progress on stderr every 5 s, the report on stdout
/// (`sent N <what> to <target> ...`); an error when requests failed at the network level.
/// `run` is handed the counter of answered requests.
pub(crate) async fn run_reported<F, Run>(
    label: &'static str,
    what: &str,
    target: &str,
    shutdown: &CancellationToken,
    run: Run,
) -> anyhow::Result<()>
where
    Run: FnOnce(Arc<AtomicU64>) -> F,
    F: Future<Output = anyhow::Result<Report>>,
{
    let progress = Arc::new(AtomicU64::new(0));
    let reporter = tokio::spawn(report_progress(label, progress.clone(), shutdown.clone()));
    let report = run(progress).await;
    reporter.abort();
    let report = report?;
    let seconds = report.elapsed.as_secs_f64().max(f64::EPSILON);
    println!(
        "sent {} {what} to {target} in {seconds:.1}s ({:.1}/s): answers {:?}, network errors {}, latency p50 {:?} p99 {:?} max {:?}",
        report.sent,
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

async fn report_progress(
    label: &'static str,
    progress: Arc<AtomicU64>,
    shutdown: CancellationToken,
) {
    let mut previous = 0;
    loop {
        tokio::select! {
            () = tokio::time::sleep(PROGRESS_INTERVAL) => {}
            () = shutdown.cancelled() => return,
        }
        let answered = progress.load(Ordering::Relaxed);
        let rate = (answered - previous) as f64 / PROGRESS_INTERVAL.as_secs_f64();
        previous = answered;
        eprintln!("sim {label}: {answered} answered ({rate:.1}/s)");
    }
}

/// The client every sender shares: kept-alive connections, the target's TLS trust.
pub(crate) fn client(
    ca_file: Option<PathBuf>,
    insecure: bool,
    concurrency: usize,
    user_agent: String,
) -> anyhow::Result<reqwest::Client> {
    let tls = TlsConfig {
        ca_file,
        fingerprint_sha256: None,
        insecure_skip_verify: insecure,
    };
    let client = crate::tls::http_client(&crate::tls::HttpClientOptions {
        timeout: Duration::from_secs(30),
        max_idle_per_host: concurrency.max(1),
        // A load test aims at the target given, never at a proxy the environment names.
        proxy_from_environment: false,
        user_agent: Some(&user_agent),
        ..crate::tls::HttpClientOptions::new("the webhook sender", &tls)
    })?;
    Ok(client.http)
}

/// Hands out request slots to the senders: at most `count` in all, `rate` per second overall.
pub(crate) struct Pacer {
    issued: AtomicU64,
    count: Option<u64>,
    interval: Option<Duration>,
    next_slot: Mutex<Instant>,
}

impl Pacer {
    pub(crate) fn new(count: Option<u64>, rate: Option<f64>) -> Pacer {
        Pacer {
            issued: AtomicU64::new(0),
            count,
            interval: rate
                .filter(|rate| *rate > 0.0)
                .map(|rate| Duration::from_secs_f64(1.0 / rate)),
            next_slot: Mutex::new(Instant::now()),
        }
    }

    /// Waits for the next slot; false when the count is reached or on shutdown.
    pub(crate) async fn admit(&self, shutdown: &CancellationToken) -> bool {
        let issued = self.issued.fetch_add(1, Ordering::Relaxed);
        if self.count.is_some_and(|count| issued >= count) || shutdown.is_cancelled() {
            return false;
        }
        if let Some(interval) = self.interval {
            let slot = {
                let mut next = self.next_slot.lock().expect("slot lock");
                let slot = (*next).max(Instant::now());
                *next = slot + interval;
                slot
            };
            tokio::select! {
                () = tokio::time::sleep_until(slot) => {}
                () = shutdown.cancelled() => return false,
            }
        }
        true
    }
}

/// One sender's findings.
#[derive(Default)]
pub(crate) struct Findings {
    by_status: BTreeMap<u16, u64>,
    network_errors: u64,
    accepted: Vec<String>,
    latencies: Vec<Duration>,
}

impl Findings {
    /// An answer; `id` is kept when the answer is 2xx and ids are recorded.
    pub(crate) fn answered(&mut self, status: u16, latency: Duration, id: String, record: bool) {
        self.latencies.push(latency);
        *self.by_status.entry(status).or_default() += 1;
        if record && (200..300).contains(&status) {
            self.accepted.push(id);
        }
    }

    pub(crate) fn network_error(&mut self) {
        self.network_errors += 1;
    }

    /// Sends `request` and notes the answer (read to the end, so the connection is reused) or
    /// the failure; `id` is the notification's, `sim` names the sender in the debug log.
    pub(crate) async fn exchange(
        &mut self,
        request: reqwest::RequestBuilder,
        id: String,
        record: bool,
        sim: &str,
    ) {
        let sent_at = Instant::now();
        match request.send().await {
            Ok(response) => {
                let status = response.status();
                let _ = response.bytes().await;
                self.answered(status.as_u16(), sent_at.elapsed(), id, record);
            }
            Err(error) => {
                tracing::debug!(%error, sim, "sim: request failed");
                self.network_error();
            }
        }
    }
}

/// What the receiver answered.
#[derive(Debug, Clone, Default)]
pub struct Report {
    pub sent: u64,
    pub by_status: BTreeMap<u16, u64>,
    pub network_errors: u64,
    /// Notification ids answered 2xx (when recorded).
    pub accepted_ids: Vec<String>,
    pub elapsed: Duration,
    pub latency_p50: Duration,
    pub latency_p99: Duration,
    pub latency_max: Duration,
}

impl Report {
    /// Sums the senders' findings.
    pub(crate) fn from_findings(all: Vec<Findings>, elapsed: Duration) -> Report {
        let mut total = Findings::default();
        for findings in all {
            for (status, count) in findings.by_status {
                *total.by_status.entry(status).or_default() += count;
            }
            total.network_errors += findings.network_errors;
            total.accepted.extend(findings.accepted);
            total.latencies.extend(findings.latencies);
        }
        total.latencies.sort_unstable();
        let percentile = |fraction: f64| {
            if total.latencies.is_empty() {
                return Duration::ZERO;
            }
            let index = ((total.latencies.len() as f64 - 1.0) * fraction).round() as usize;
            total.latencies[index]
        };
        Report {
            sent: total.latencies.len() as u64 + total.network_errors,
            latency_p50: percentile(0.50),
            latency_p99: percentile(0.99),
            latency_max: total.latencies.last().copied().unwrap_or_default(),
            by_status: total.by_status,
            network_errors: total.network_errors,
            accepted_ids: total.accepted,
            elapsed,
        }
    }

    /// Requests answered 2xx.
    pub fn accepted(&self) -> u64 {
        self.by_status
            .iter()
            .filter(|(status, _)| (200..300).contains(*status))
            .map(|(_, count)| count)
            .sum()
    }
}
