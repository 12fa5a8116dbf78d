//! Posting notifications to a webhook receiver: C concurrent senders on kept-alive connections,
//! an optional overall rate, a count or a shutdown to stop, and a report of what was answered.
//! Each request is authenticated or signed at the moment it is sent (signatures carry the time).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use anyhow::Context;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use tokio_util::sync::CancellationToken;

use super::payloads::{PayloadOptions, Payloads, Provider, payloads};
use super::sign::{Auth, Outgoing};
use crate::sim::load::{Findings, Load, Pacer, Report};

pub struct HookSimConfig {
    pub provider: Provider,
    pub options: PayloadOptions,
    pub auth: Auth,
    /// The webhook URL, e.g. `http://127.0.0.1:5001/hooks/meraki`.
    pub target: String,
    /// `POST`, or `PUT` for a Catalyst Center destination configured so.
    pub method: reqwest::Method,
    pub load: Load,
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
            load: Load::default(),
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
    let load = &config.load;
    let client = load.client(format!("netpulse-sim-{}", config.provider.as_str()))?;
    let shared = Arc::new(Shared {
        payloads: Mutex::new(payloads(
            config.provider,
            config.options.clone(),
            load.seed,
            load.devices,
        )),
        auth: config.auth.clone(),
        method: config.method.clone(),
        url,
        pacer: Pacer::new(load.count, load.rate),
        progress,
        record: load.record_accepted,
    });
    load.run_senders(|| send(client.clone(), shared.clone(), shutdown.clone()))
        .await
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
        findings
            .exchange(request, payload.notification, shared.record, "hooks")
            .await;
        shared.progress.fetch_add(1, Ordering::Relaxed);
    }
}
