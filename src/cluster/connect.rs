//! A minimal NATS connection and stream setup for the replicated log.
//!
//! STOPGAP (issue 22): the lease branch (`i22-lease`) has the production version in
//! `cluster/nats.rs` (verification of an existing stream's settings, the key-value buckets).
//! When it merges, [`connect`] and [`ensure_stream`] are replaced by it in one place: the
//! gateway's call to [`super::log::start`] takes a `jetstream::Context` either way.

use anyhow::Context as _;
use async_nats::jetstream::{self, stream};

use super::wire;
use crate::config::{ClusterConfig, StreamConfig};

/// Connects to `cluster.nats` (credentials, user/password or token, TLS), retrying the first
/// connection in the background like every later reconnect.
pub async fn connect(config: &ClusterConfig) -> anyhow::Result<async_nats::Client> {
    let nats = &config.nats;
    let mut options = async_nats::ConnectOptions::new()
        .name(format!("netpulse {}", config.node()))
        .retry_on_initial_connect();
    if let Some(path) = &nats.credentials_file {
        options = options.credentials_file(path).await.with_context(|| {
            format!(
                "cannot read the NATS credentials file {} (cluster.nats.credentials_file)",
                path.display()
            )
        })?;
    }
    if let (Some(user), Some(password)) = (&nats.user, &nats.password) {
        options = options.user_and_password(user.clone(), password.expose().to_owned());
    }
    if let Some(token) = &nats.token {
        options = options.token(token.expose().to_owned());
    }
    if let Some(tls) = &nats.tls {
        options = options.require_tls(true);
        if let Some(ca) = &tls.ca_file {
            options = options.add_root_certificates(ca.clone());
        }
        if let (Some(cert), Some(key)) = (&tls.cert_file, &tls.key_file) {
            options = options.add_client_certificate(cert.clone(), key.clone());
        }
    }
    let urls: Vec<async_nats::ServerAddr> = nats
        .urls
        .iter()
        .map(|url| {
            url.parse()
                .with_context(|| format!("{url:?} is not a NATS URL (cluster.nats.urls)"))
        })
        .collect::<anyhow::Result<_>>()?;
    options
        .connect(urls)
        .await
        .context("cannot connect to NATS (cluster.nats.urls)")
}

/// The stream of events and control messages, created with the configured settings when absent.
pub async fn ensure_stream(
    jetstream: &jetstream::Context,
    config: &StreamConfig,
) -> anyhow::Result<()> {
    jetstream
        .get_or_create_stream(stream::Config {
            name: config.name.clone(),
            subjects: vec![
                format!("{}.>", wire::EVENTS_PREFIX),
                format!("{}.>", wire::CONTROL_PREFIX),
            ],
            num_replicas: config.replicas,
            storage: stream::StorageType::File,
            duplicate_window: config.duplicate_window,
            max_age: config.max_age,
            ..Default::default()
        })
        .await
        .with_context(|| {
            format!(
                "cannot create or find the stream {} (cluster.stream): does NATS run JetStream with {} servers?",
                config.name, config.replicas
            )
        })?;
    Ok(())
}
