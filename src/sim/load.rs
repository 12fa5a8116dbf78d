//! What the webhook senders (`netpulse sim sdwan`, `sim meraki`, ...) share: the HTTP client,
//! the pacing of requests over concurrent senders, and the report of what the receiver answered.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::config::TlsConfig;

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
