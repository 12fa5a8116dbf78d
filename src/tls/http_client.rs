//! The one way netpulse builds an outgoing HTTP client: device REST calls (DME, pxGrid), the
//! Webex API (source, webhook fetcher, sink) and the simulators' webhook senders all come here,
//! so the TLS policy, the timeouts and the warning an unverified client logs are decided once.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;

use super::{ClientIdentity, client_config_with_identity};
use crate::config::TlsConfig;

/// What one client is for.
pub struct HttpClientOptions<'a> {
    /// Who uses the client, as the log names it: `source "sw1"`, `sink "webex"`.
    pub component: &'a str,
    pub tls: &'a TlsConfig,
    /// A client certificate to present (pxGrid).
    pub identity: Option<&'a ClientIdentity>,
    /// The limit of a whole request, and of connecting on its own.
    pub timeout: Duration,
    /// Kept-alive connections per host: 1 where calls are sequential (a device, a room).
    pub max_idle_per_host: usize,
    /// Whether `HTTPS_PROXY` and friends apply: yes for the Webex cloud, which a site may reach
    /// only through its proxy; no for devices on the management network.
    pub proxy_from_environment: bool,
    /// `netpulse/<version>` unless given (a simulator sends as the platform it plays).
    pub user_agent: Option<&'a str>,
}

impl<'a> HttpClientOptions<'a> {
    /// A client for `component` with `tls`, a 10 s timeout, one idle connection per host and
    /// no proxy.
    pub fn new(component: &'a str, tls: &'a TlsConfig) -> HttpClientOptions<'a> {
        HttpClientOptions {
            component,
            tls,
            identity: None,
            timeout: Duration::from_secs(10),
            max_idle_per_host: 1,
            proxy_from_environment: false,
            user_agent: None,
        }
    }
}

/// The REST client, and the same TLS configuration for the WebSocket connector.
#[derive(Clone)]
pub struct HttpClient {
    pub http: reqwest::Client,
    pub tls: Arc<rustls::ClientConfig>,
}

/// Builds the client; one WARN naming the component when `tls.insecure_skip_verify` is set.
pub fn http_client(options: &HttpClientOptions) -> anyhow::Result<HttpClient> {
    let tls = client_config_with_identity(options.tls, options.identity)?;
    let mut builder = reqwest::Client::builder()
        .tls_backend_preconfigured((*tls).clone())
        .timeout(options.timeout)
        .connect_timeout(options.timeout)
        .pool_idle_timeout(Duration::from_secs(90))
        .pool_max_idle_per_host(options.max_idle_per_host)
        .user_agent(
            options
                .user_agent
                .unwrap_or(concat!("netpulse/", env!("CARGO_PKG_VERSION"))),
        );
    if !options.proxy_from_environment {
        builder = builder.no_proxy();
    }
    let http = builder
        .build()
        .with_context(|| format!("cannot build the HTTP client of {}", options.component))?;
    warn_if_insecure(options.component, options.tls);
    Ok(HttpClient { http, tls })
}

/// The warning an unverified client logs, for a component that reuses a client built for
/// another (DME sources with the same TLS settings share one).
pub fn warn_if_insecure(component: &str, tls: &TlsConfig) {
    if tls.insecure_skip_verify && tls.fingerprint_sha256.is_none() {
        tracing::warn!(
            component,
            "TLS verification is OFF for {component} (tls.insecure_skip_verify): anyone on the path can impersonate the server; set tls.ca_file or tls.fingerprint_sha256 outside a lab"
        );
    }
}

/// A failed request with all its causes: reqwest's own text says only "error sending request";
/// the causes say why (connection refused, a certificate refused and what to configure).
pub fn error_chain(error: &reqwest::Error) -> String {
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
