//! Posting alarms to a webhook receiver: C concurrent senders on kept-alive connections, an
//! optional overall rate, a count or a shutdown to stop, and a report of what was answered.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::generator::{Alarms, alarms};
use crate::sim::load::{Findings, Pacer, Report, client};

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

/// Shared by the senders.
struct Shared {
    alarms: Mutex<Alarms>,
    pacer: Pacer,
    pub(super) progress: Arc<AtomicU64>,
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
    let client = client(
        config.ca_file.clone(),
        config.insecure,
        config.concurrency,
        "netpulse-sim-sdwan".to_owned(),
    )?;
    let shared = Arc::new(Shared {
        alarms: Mutex::new(alarms(config.seed, config.devices)),
        pacer: Pacer::new(config.count, config.rate),
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
    let mut all = Vec::with_capacity(senders.len());
    for sender in senders {
        all.push(sender.await?);
    }
    Ok(Report::from_findings(all, started.elapsed()))
}

async fn send(
    request: reqwest::RequestBuilder,
    shared: Arc<Shared>,
    record: bool,
    shutdown: CancellationToken,
) -> Findings {
    let mut findings = Findings::default();
    loop {
        if !shared.pacer.admit(&shutdown).await {
            return findings;
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
                findings.answered(status.as_u16(), sent_at.elapsed(), uuid, record);
            }
            Err(error) => {
                tracing::debug!(%error, "sim sdwan: request failed");
                findings.network_error();
            }
        }
        shared.progress.fetch_add(1, Ordering::Relaxed);
    }
}
