//! The NATS side of a node: the connection (servers with failover, credentials, TLS), the
//! events stream and the two key-value buckets, created or brought up to date at start.

use std::time::Duration;

use anyhow::Context as _;
use async_nats::jetstream::{self, kv, stream};

use super::wire::{CONTROL_PREFIX, EVENTS_PREFIX, LEASES_BUCKET, MEMBERS_BUCKET};
use crate::config::ClusterConfig;

/// Connects to the NATS servers of `cluster.nats`. The client retries the first connection in
/// the background (a node starts while NATS is down; its leases wait), fails over between the
/// servers and logs each change of the connection's state.
pub async fn connect(config: &ClusterConfig, node: &str) -> anyhow::Result<async_nats::Client> {
    let nats = &config.nats;
    let mut options = match &nats.credentials_file {
        Some(path) => async_nats::ConnectOptions::with_credentials_file(path)
            .await
            .with_context(|| {
                format!(
                    "cannot read the NATS credentials file {} (cluster.nats.credentials_file)",
                    path.display()
                )
            })?,
        None => async_nats::ConnectOptions::new(),
    };
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
    let servers: Vec<async_nats::ServerAddr> = nats
        .urls
        .iter()
        .map(|url| {
            url.parse()
                .with_context(|| format!("cluster.nats.urls: `{url}` is not a NATS server URL"))
        })
        .collect::<anyhow::Result<_>>()?;
    options
        .name(format!("netpulse {node}"))
        .retry_on_initial_connect()
        .connection_timeout(Duration::from_secs(2))
        .event_callback(|event| async move { log_event(event) })
        .connect(servers)
        .await
        .context("cannot connect to NATS (cluster.nats)")
}

fn log_event(event: async_nats::Event) {
    match event {
        async_nats::Event::Connected => {
            metrics::gauge!("netpulse_cluster_nats_connected").set(1.0);
            tracing::info!("NATS connected");
        }
        async_nats::Event::Disconnected => {
            metrics::gauge!("netpulse_cluster_nats_connected").set(0.0);
            tracing::warn!("NATS disconnected; reconnecting");
        }
        other => tracing::warn!(event = %other, "NATS"),
    }
}

/// Creates the events stream or brings its configuration up to date.
pub async fn ensure_stream(
    jetstream: &jetstream::Context,
    config: &ClusterConfig,
) -> anyhow::Result<()> {
    let wanted = stream::Config {
        name: config.stream.name.clone(),
        subjects: vec![format!("{EVENTS_PREFIX}.>"), format!("{CONTROL_PREFIX}.>")],
        num_replicas: config.stream.replicas,
        duplicate_window: config.stream.duplicate_window,
        max_age: config.stream.max_age,
        storage: stream::StorageType::File,
        ..Default::default()
    };
    jetstream
        .create_or_update_stream(wanted)
        .await
        .map(|_| ())
        .with_context(|| {
        format!(
            "cannot create or update the NATS stream {} (cluster.stream)",
            config.stream.name
        )
    })
}

/// The leases bucket: history 1, entries expire after the lease TTL, and the server writes a
/// marker when one does (nats-server 2.11), which a watcher sees as a purge.
pub async fn lease_bucket(
    jetstream: &jetstream::Context,
    config: &ClusterConfig,
) -> anyhow::Result<kv::Store> {
    bucket(
        jetstream,
        kv::Config {
            bucket: LEASES_BUCKET.to_owned(),
            history: 1,
            max_age: config.lease.ttl,
            num_replicas: config.stream.replicas,
            limit_markers: Some(config.lease.ttl.max(Duration::from_secs(1))),
            ..Default::default()
        },
    )
    .await
}

/// The members bucket: one heartbeat key per live node.
pub async fn members_bucket(
    jetstream: &jetstream::Context,
    config: &ClusterConfig,
) -> anyhow::Result<kv::Store> {
    bucket(
        jetstream,
        kv::Config {
            bucket: MEMBERS_BUCKET.to_owned(),
            history: 1,
            max_age: config.lease.member_ttl,
            num_replicas: config.stream.replicas,
            ..Default::default()
        },
    )
    .await
}

async fn bucket(jetstream: &jetstream::Context, wanted: kv::Config) -> anyhow::Result<kv::Store> {
    let name = wanted.bucket.clone();
    jetstream
        .create_or_update_key_value(wanted)
        .await
        .with_context(|| format!("cannot create or update the NATS key-value bucket {name}"))
}
