//! Posting notifications to a webhook receiver: C concurrent senders on kept-alive connections,
//! an optional overall rate, a count or a shutdown to stop, and a report of what was answered.
//! Each request is authenticated or signed at the moment it is sent (signatures carry the time).

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use anyhow::Context;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::payloads::{PayloadOptions, Payloads, Provider, payloads};
use super::sign::{Auth, Outgoing};
use crate::sim::load::{Findings, Pacer, Report, client};

pub struct HookSimConfig {
    pub provider: Provider,
    pub options: PayloadOptions,
    pub auth: Auth,
    /// The webhook URL, e.g. `http://127.0.0.1:5001/hooks/meraki`.
    pub target: String,
    /// `POST`, or `PUT` for a Catalyst Center destination configured so.
    pub method: reqwest::Method,
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
    /// Keep the notification id of every request that got a 2xx.
    pub record_accepted: bool,
}

impl HookSimConfig {
    /// A configuration with the defaults of `netpulse sim <provider>`.
    pub fn new(provider: Provider, target: impl Into<String>, auth: Auth) -> HookSimConfig {
        HookSimConfig {
            provider,
            options: PayloadOptions {
                cloudevents_source: default_cloudevents_source(),
                ..PayloadOptions::default()
            },
            auth,
            target: target.into(),
            method: reqwest::Method::POST,
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

/// `/netpulse-sim/<this host's name>`.
pub fn default_cloudevents_source() -> String {
    let host = std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/proc/sys/kernel/hostname").ok())
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
        .map(|name| name.trim().to_owned())
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "localhost".to_owned());
    format!("/netpulse-sim/{host}")
}

/// Shared by the senders.
struct Shared {
    payloads: Mutex<Payloads>,
    auth: Auth,
    method: reqwest::Method,
    url: reqwest::Url,
    pacer: Pacer,
    progress: Arc<AtomicU64>,
    record: bool,
}

/// Sends until `count` requests are made or `shutdown`.
pub async fn run(config: HookSimConfig, shutdown: CancellationToken) -> anyhow::Result<Report> {
    run_with_progress(config, shutdown, Arc::new(AtomicU64::new(0))).await
}

/// [`run`], counting answered requests in `progress`.
pub(super) async fn run_with_progress(
    config: HookSimConfig,
    shutdown: CancellationToken,
    progress: Arc<AtomicU64>,
) -> anyhow::Result<Report> {
    let url = reqwest::Url::parse(&config.target)
        .with_context(|| format!("--target {} is not a URL", config.target))?;
    anyhow::ensure!(
        matches!(url.scheme(), "http" | "https"),
        "--target must be an http:// or https:// URL"
    );
    let client = client(
        config.ca_file.clone(),
        config.insecure,
        config.concurrency,
        format!("netpulse-sim-{}", config.provider.as_str()),
    )?;
    let shared = Arc::new(Shared {
        payloads: Mutex::new(payloads(
            config.provider,
            config.options.clone(),
            config.seed,
            config.devices,
        )),
        auth: config.auth.clone(),
        method: config.method.clone(),
        url,
        pacer: Pacer::new(config.count, config.rate),
        progress,
        record: config.record_accepted,
    });
    let started = Instant::now();
    let senders: Vec<_> = (0..config.concurrency.max(1))
        .map(|_| tokio::spawn(send(client.clone(), shared.clone(), shutdown.clone())))
        .collect();
    let mut all = Vec::with_capacity(senders.len());
    for sender in senders {
        all.push(sender.await?);
    }
    Ok(Report::from_findings(all, started.elapsed()))
}

/// The request's headers: the content type, the provider's own (`ce-*`), then authentication,
/// computed over the exact body and the current time.
fn headers(shared: &Shared, payload: &super::payloads::Payload) -> HeaderMap {
    let mut map = HeaderMap::new();
    map.insert(
        reqwest::header::CONTENT_TYPE,
        HeaderValue::from_static(payload.content_type),
    );
    let outgoing = Outgoing {
        method: shared.method.as_str(),
        url: &shared.url,
        body: &payload.body,
        content_type: payload.content_type,
        message_id: &payload.notification,
        now: jiff::Timestamp::now(),
    };
    let auth = shared.auth.headers(&outgoing);
    for (name, value) in payload.headers.iter().chain(auth.iter()) {
        match (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) {
            (Ok(name), Ok(value)) => {
                map.insert(name, value);
            }
            _ => {
                tracing::warn!(header = %name, "sim hooks: a header that HTTP cannot carry, left out")
            }
        }
    }
    map
}

async fn send(
    client: reqwest::Client,
    shared: Arc<Shared>,
    shutdown: CancellationToken,
) -> Findings {
    let mut findings = Findings::default();
    loop {
        if !shared.pacer.admit(&shutdown).await {
            return findings;
        }
        let payload = shared
            .payloads
            .lock()
            .expect("generator lock")
            .next_payload();
        let request = client
            .request(shared.method.clone(), shared.url.clone())
            .headers(headers(&shared, &payload))
            .body(payload.body);
        let sent_at = Instant::now();
        match request.send().await {
            Ok(response) => {
                let status = response.status();
                // Read the answer so the connection can be reused.
                let _ = response.bytes().await;
                findings.answered(
                    status.as_u16(),
                    sent_at.elapsed(),
                    payload.notification,
                    shared.record,
                );
            }
            Err(error) => {
                tracing::debug!(%error, "sim hooks: request failed");
                findings.network_error();
            }
        }
        shared.progress.fetch_add(1, Ordering::Relaxed);
    }
}
