//! Posting alarms to a webhook receiver: C concurrent senders on kept-alive connections, an
//! optional overall rate, a count or a shutdown to stop, and a report of what was answered.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio_util::sync::CancellationToken;

use super::generator::{Alarms, alarms};
use crate::sim::load::{Findings, Load, Pacer, Report};

pub struct SdwanSimConfig {
    /// The webhook URL, e.g. `http://127.0.0.1:5001/hooks/sdwan`.
    pub target: String,
    pub username: String,
    pub password: String,
    pub load: Load,
}

impl Default for SdwanSimConfig {
    fn default() -> SdwanSimConfig {
        SdwanSimConfig {
            target: "http://127.0.0.1:5001/hooks/sdwan".to_owned(),
            username: "webhook".to_owned(),
            password: String::new(),
            load: Load::default(),
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
    let load = &config.load;
    let client = load.client("netpulse-sim-sdwan".to_owned())?;
    let shared = Arc::new(Shared {
        alarms: Mutex::new(alarms(load.seed, load.devices)),
        pacer: Pacer::new(load.count, load.rate),
        progress,
    });
    load.run_senders(|| {
        let request = client
            .post(&config.target)
            .basic_auth(&config.username, Some(&config.password))
            .header("content-type", "application/json");
        send(
            request,
            shared.clone(),
            load.record_accepted,
            shutdown.clone(),
        )
    })
    .await
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
        findings
            .exchange(attempt.body(body), uuid, record, "sdwan")
            .await;
        shared.progress.fetch_add(1, Ordering::Relaxed);
    }
}
