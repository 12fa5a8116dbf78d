//! Posting alarms to a webhook receiver: C concurrent senders on kept-alive connections, an
//! optional overall rate, a count or a shutdown to stop, and a report of what was answered.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::generator::{Alarms, alarms};
use crate::config::TlsConfig;

pub struct SdwanSimConfig {
    /// The webhook URL, e.g. `http://127.0.0.1:5001/hooks/sdwan`.
    pub target: String,
    pub username: String,
    pub password: String,
    /// Requests per second over all senders; `None`: as fast as answers come.
    pub rate: Option<f64>,
    /// Stop after this many requests; `None`: until shutdown.
    pub count: Option<u64>,
    pub concurrency: usize,
    /// Simulated devices the alarms are spread over.
    pub devices: usize,
    pub seed: u64,
    /// For an https target: the CA (or self-signed certificate) to trust.
    pub ca_file: Option<PathBuf>,
    /// For an https target in a lab: accept any certificate.
    pub insecure: bool,
    /// Keep the uuid of every alarm that got a 2xx (for checking a store afterwards).
    pub record_accepted: bool,
}

impl Default for SdwanSimConfig {
    fn default() -> SdwanSimConfig {
        SdwanSimConfig {
            target: "http://127.0.0.1:5001/hooks/sdwan".to_owned(),
            username: "webhook".to_owned(),
            password: String::new(),
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

/// What the receiver answered.
#[derive(Debug, Clone, Default)]
pub struct Report {
    pub sent: u64,
    pub by_status: BTreeMap<u16, u64>,
    pub network_errors: u64,
    pub accepted_uuids: Vec<String>,
    pub elapsed: Duration,
    pub latency_p50: Duration,
    pub latency_p99: Duration,
    pub latency_max: Duration,
}

impl Report {
    /// Requests answered 2xx.
    pub fn accepted(&self) -> u64 {
        self.by_status
            .iter()
            .filter(|(status, _)| (200..300).contains(*status))
            .map(|(_, count)| count)
            .sum()
    }
}

/// Shared by the senders.
struct Shared {
    alarms: Mutex<Alarms>,
    issued: AtomicU64,
    count: Option<u64>,
    interval: Option<Duration>,
    next_slot: Mutex<Instant>,
    pub(super) progress: Arc<AtomicU64>,
}

/// One sender's findings.
#[derive(Default)]
struct Findings {
    by_status: BTreeMap<u16, u64>,
    network_errors: u64,
    accepted: Vec<String>,
    latencies: Vec<Duration>,
}

/// Sends until `count` requests are made or `shutdown`; `progress` counts answered requests.
pub async fn run(config: SdwanSimConfig, shutdown: CancellationToken) -> anyhow::Result<Report> {
    run_with_progress(config, shutdown, Arc::new(AtomicU64::new(0))).await
}

pub(super) async fn run_with_progress(
    config: SdwanSimConfig,
    shutdown: CancellationToken,
    progress: Arc<AtomicU64>,
) -> anyhow::Result<Report> {
    let tls = TlsConfig {
        ca_file: config.ca_file.clone(),
        fingerprint_sha256: None,
        insecure_skip_verify: config.insecure,
    };
    let client = reqwest::Client::builder()
        .tls_backend_preconfigured((*crate::tls::client_config(&tls)?).clone())
        .pool_max_idle_per_host(config.concurrency.max(1))
        .timeout(Duration::from_secs(30))
        .user_agent("netpulse-sim-sdwan")
        .build()
        .context("cannot build the HTTP client")?;
    let shared = Arc::new(Shared {
        alarms: Mutex::new(alarms(config.seed, config.devices)),
        issued: AtomicU64::new(0),
        count: config.count,
        interval: config
            .rate
            .filter(|rate| *rate > 0.0)
            .map(|rate| Duration::from_secs_f64(1.0 / rate)),
        next_slot: Mutex::new(Instant::now()),
        progress,
    });
    let started = Instant::now();
    let senders: Vec<_> = (0..config.concurrency.max(1))
        .map(|_| {
            let request = client
                .post(&config.target)
                .basic_auth(&config.username, Some(&config.password))
                .header("content-type", "application/json");
            tokio::spawn(send(
                request,
                shared.clone(),
                config.record_accepted,
                shutdown.clone(),
            ))
        })
        .collect();
    let mut total = Findings::default();
    for sender in senders {
        let findings = sender.await?;
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
    Ok(Report {
        sent: total.latencies.len() as u64 + total.network_errors,
        latency_p50: percentile(0.50),
        latency_p99: percentile(0.99),
        latency_max: total.latencies.last().copied().unwrap_or_default(),
        by_status: total.by_status,
        network_errors: total.network_errors,
        accepted_uuids: total.accepted,
        elapsed: started.elapsed(),
    })
}

async fn send(
    request: reqwest::RequestBuilder,
    shared: Arc<Shared>,
    record: bool,
    shutdown: CancellationToken,
) -> Findings {
    let mut findings = Findings::default();
    loop {
        let issued = shared.issued.fetch_add(1, Ordering::Relaxed);
        if shared.count.is_some_and(|count| issued >= count) || shutdown.is_cancelled() {
            return findings;
        }
        if let Some(interval) = shared.interval {
            let slot = {
                let mut next = shared.next_slot.lock().expect("slot lock");
                let slot = (*next).max(Instant::now());
                *next = slot + interval;
                slot
            };
            tokio::select! {
                () = tokio::time::sleep_until(slot) => {}
                () = shutdown.cancelled() => return findings,
            }
        }
        let (uuid, body) = shared.alarms.lock().expect("generator lock").next_alarm();
        let Some(attempt) = request.try_clone() else {
            return findings;
        };
        let sent_at = Instant::now();
        match attempt.body(body).send().await {
            Ok(response) => {
                let status = response.status();
                // Read the answer so the connection can be reused.
                let _ = response.bytes().await;
                findings.latencies.push(sent_at.elapsed());
                *findings.by_status.entry(status.as_u16()).or_default() += 1;
                if record && status.is_success() {
                    findings.accepted.push(uuid);
                }
            }
            Err(error) => {
                tracing::debug!(%error, "sim sdwan: request failed");
                findings.network_errors += 1;
            }
        }
        shared.progress.fetch_add(1, Ordering::Relaxed);
    }
}
