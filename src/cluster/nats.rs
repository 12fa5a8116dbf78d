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

/// How long one request that creates or updates a stream may take. Two nodes creating the same
/// stream at once both get no answer (measured: both time out after 10 s), so an attempt gives
/// up sooner and the next one finds the stream made.
const SETUP_TIMEOUT: Duration = Duration::from_secs(3);

/// Creates the events stream or brings its configuration up to date (only when it differs: an
/// update is a cluster-wide proposal every node would otherwise make at every start).
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
    let context = || {
        format!(
            "cannot create or update the NATS stream {} (cluster.stream)",
            config.stream.name
        )
    };
    let current = existing(jetstream, &wanted.name)
        .await
        .with_context(context)?;
    let same = current.as_ref().is_some_and(|current| {
        current.subjects == wanted.subjects
            && current.num_replicas == wanted.num_replicas
            && current.duplicate_window == wanted.duplicate_window
            && current.max_age == wanted.max_age
    });
    if !same {
        tokio::time::timeout(SETUP_TIMEOUT, jetstream.create_or_update_stream(wanted))
            .await
            .map_err(anyhow::Error::from)
            .and_then(|outcome| outcome.map(|_| ()).map_err(anyhow::Error::from))
            .with_context(context)?;
    }
    Ok(())
}

/// The stream's configuration, `None` if it does not exist.
async fn existing(
    jetstream: &jetstream::Context,
    name: &str,
) -> anyhow::Result<Option<stream::Config>> {
    let lookup = async {
        match jetstream.get_stream(name).await {
            Ok(mut stream) => Ok(Some(stream.info().await?.config.clone())),
            Err(error)
                if matches!(
                    error.kind(),
                    jetstream::context::GetStreamErrorKind::JetStream(inner)
                        if inner.error_code() == jetstream::ErrorCode::STREAM_NOT_FOUND
                ) =>
            {
                Ok(None)
            }
            Err(error) => Err(anyhow::Error::from(error)),
        }
    };
    tokio::time::timeout(SETUP_TIMEOUT, lookup).await?
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
    let context = || format!("cannot create or update the NATS key-value bucket {name}");
    let current = existing(jetstream, &format!("KV_{name}"))
        .await
        .with_context(context)?;
    let same = current.as_ref().is_some_and(|current| {
        current.max_age == wanted.max_age && current.num_replicas == wanted.num_replicas
    });
    if same {
        return tokio::time::timeout(SETUP_TIMEOUT, jetstream.get_key_value(&name))
            .await
            .map_err(anyhow::Error::from)
            .and_then(|outcome| outcome.map_err(anyhow::Error::from))
            .with_context(context);
    }
    tokio::time::timeout(SETUP_TIMEOUT, jetstream.create_or_update_key_value(wanted))
        .await
        .map_err(anyhow::Error::from)
        .and_then(|outcome| outcome.map_err(anyhow::Error::from))
        .with_context(context)
}
