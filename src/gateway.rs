//! Wires sources to the store and the store to sinks, serves HTTP, and owns shutdown.
//!
//! Device sources send events into one bounded channel; the dispatcher appends them to the store
//! in batches through the [`Pipeline`], which also routes each event to the sinks whose `match:`
//! takes it (one outbox row each). Webhook receivers append through the same pipeline from their
//! HTTP handlers. Sinks read their outbox. When shutdown is cancelled, sources and the HTTP server
//! stop, the dispatcher stores what is queued, the alerting router applies what is stored, line
//! sinks write what is due, and the store closes before [`Gateway::wait`] returns.
//!
//! The alerting router ([`router`]) starts after the store and before the sources: it reads the
//! log after its cursor and appends grouped notifications for the sinks that routes name.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use anyhow::Context;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::{Config, Synchronous};
use crate::event::Event;
use crate::feed::Hub;
use crate::pipeline::Pipeline;
use crate::source::{self, ConnectionState, Registry, SourceHandle};
use crate::store::{CommitTap, NewEvent, ReaderPool, Store, StoreConfig, StoreError};

mod reload;
pub mod router;
mod sinks;

pub use reload::{Changes, ConfigFile, Env, ReloadError, ReloadReport, Reloader};

const EVENT_QUEUE: usize = 8192;
/// Events the dispatcher appends in one request (and so, at most, in one transaction).
const DISPATCH_BATCH: usize = 512;
/// After the first event of a batch, the dispatcher waits this long for more before storing them:
/// a commit (and its fsync) per few milliseconds instead of one per trickling event. Measured with
/// 2,000 switches at 1,100 events/s: the commits' fsyncs took most of the writer's time.
const DISPATCH_LINGER: Duration = Duration::from_millis(10);
const STATUS_LOG_INTERVAL: Duration = Duration::from_secs(30);
const MAX_NAMED_DOWN: usize = 10;
/// How often retention runs.
const PRUNE_INTERVAL: Duration = Duration::from_secs(600);
/// Pause between attempts to store a batch while the store cannot write.
const STORE_RETRY_PAUSE: Duration = Duration::from_secs(1);
/// After shutdown, a batch the store cannot write is retried this many times before it is given
/// up, so that netpulse still stops.
const SHUTDOWN_STORE_ATTEMPTS: u32 = 10;

/// A running gateway.
pub struct Gateway {
    sources: Registry,
    reloader: Arc<Reloader>,
    tracker: TaskTracker,
    dispatcher: tokio::task::JoinHandle<()>,
    drain: CancellationToken,
    dispatched: Arc<AtomicU64>,
    pipeline: Pipeline,
    router: router::Router,
    http_addr: SocketAddr,
    /// This node of the cluster (`cluster:`).
    cluster: Option<crate::cluster::Node>,
}

/// Runs the gateway until `shutdown` is cancelled and every event has been stored.
pub async fn run(config: Config, shutdown: CancellationToken) -> anyhow::Result<()> {
    Gateway::start(config, shutdown).await?.wait().await
}

impl Gateway {
    /// Opens the store, starts every sink, every source and the HTTP server. Without a file to
    /// read again, a reload is refused: see [`Gateway::start_with`].
    pub async fn start(config: Config, shutdown: CancellationToken) -> anyhow::Result<Gateway> {
        Gateway::start_with(config, None, shutdown).await
    }

    /// Starts with `config`, read from `file` if given: the file a reload reads again.
    pub async fn start_with(
        config: Config,
        file: Option<ConfigFile>,
        shutdown: CancellationToken,
    ) -> anyhow::Result<Gateway> {
        crate::http::metrics::install();
        let bound = crate::http::bind(&config.http).await?;
        let http_addr = bound.address;
        let cluster = match &config.cluster {
            Some(cluster) => Some(crate::cluster::Node::start(cluster).await?),
            None => None,
        };
        let (hub, tap, announcements) = Hub::new(config.api.feed.client_buffer);
        let store = open_store(&config, tap).await?;
        forget_removed_views(&store, &config).await;
        tokio::spawn(hub.clone().run(announcements));
        {
            // Live feeds end at shutdown, so that the HTTP server's graceful stop does not wait
            // on streams that never end.
            let hub = hub.clone();
            let shutdown = shutdown.clone();
            tokio::spawn(async move {
                shutdown.cancelled().await;
                hub.close();
            });
        }
        let pipeline = Pipeline::new(store.clone(), &config.sinks);
        let pool = ReaderPool::new(&config.store.path);
        let policy = crate::route::Policy::compile(&config).map_err(|errors| {
            anyhow::anyhow!("the alerting policy is not valid: {}", errors.join("; "))
        })?;
        // Cluster mode (issue 22): the log is the replicated stream, no alerting router yet.
        let router = match &cluster {
            None => router::spawn(pipeline.clone(), pool.clone(), policy, router::Clock::Wall),
            Some(node) => {
                crate::cluster::log::start(node, &pipeline, &pool, &shutdown).await?;
                router::idle(pipeline.clone())
            }
        };
        let running_router = config.cluster.is_none().then(|| router.handle.clone());
        let drain = CancellationToken::new();
        let operator = crate::operator::Operator::new(pipeline.clone(), running_router.clone());
        // Cluster mode shares the Webex sinks' deliveries (`cluster::sinks`).
        let recorders = match &cluster {
            Some(node) => cluster_recorders(node, &config.sinks),
            None => crate::cluster::sinks::DeliveryRecorders::local(),
        };
        let mut sinks = Vec::with_capacity(config.sinks.len());
        for sink_config in &config.sinks {
            sinks.push(sinks::start(sink_config, &pipeline, &operator, &recorders, &drain).await?);
        }
        let (events, receiver) = mpsc::channel(EVENT_QUEUE);
        let tracker = TaskTracker::new();
        let shared = Arc::new(source::dme::SharedClients::default());
        let mut sources = Vec::with_capacity(config.sources.len());
        let context = source::SpawnContext {
            http: &config.http,
            topology: config.topology.as_ref(),
            shared: &shared,
            events: events.clone(),
            views: Some(views_of(&pipeline, cluster.is_some())),
            shutdown: shutdown.clone(),
            tracker: &tracker,
            stopped: cluster.is_some(),
        };
        for source_config in &config.sources {
            sources.push(Arc::new(source::spawn(source_config, &context)?));
        }
        drop(context);
        let hooks = crate::http::HookRoutes::new(pipeline.clone());
        hooks.set(
            sources
                .iter()
                .filter_map(|source| source.webhook_receiver()),
        );
        let sources = Registry::new(sources);
        if let Some(cluster) = &cluster {
            crate::cluster::ownership::spawn(cluster, sources.clone(), shutdown.clone());
        }
        let sink_configs = Arc::new(std::sync::RwLock::new(Arc::new(config.sinks.clone())));
        let reloader = Arc::new(Reloader {
            file,
            state: tokio::sync::Mutex::new(reload::Running {
                config: config.clone(),
                events: Some(events),
                sinks,
            }),
            pipeline: pipeline.clone(),
            operator: operator.clone(),
            recorders: recorders.clone(),
            cluster: cluster.clone(),
            drain: drain.clone(),
            sink_configs: sink_configs.clone(),
            sources: sources.clone(),
            hooks: hooks.clone(),
            shared,
            tracker: tracker.clone(),
            shutdown: shutdown.clone(),
            policy: router.policy.clone(),
        });
        let started = Arc::new(AtomicBool::new(false));
        let api = crate::http::api::ApiState {
            pipeline: pipeline.clone(),
            pool,
            hub,
            sources: sources.clone(),
            reloader: reloader.clone(),
            sinks: sink_configs,
            auth: Arc::new(crate::http::api::Auth::new(&config.api.auth)),
            config: Arc::new(config.api.clone()),
            router: running_router,
            operator,
            recorders,
            cluster: cluster.clone(),
        };
        let state = crate::http::HttpState {
            pipeline: pipeline.clone(),
            hooks,
            started: started.clone(),
            api,
        };
        crate::http::serve(
            bound,
            crate::http::router(state),
            shutdown.clone(),
            &tracker,
        );
        tracker.close();
        let dispatched = Arc::new(AtomicU64::new(0));
        let dispatcher = tokio::spawn(dispatch(
            receiver,
            pipeline.clone(),
            dispatched.clone(),
            shutdown.clone(),
        ));
        tokio::spawn(log_status(
            sources.clone(),
            dispatched.clone(),
            shutdown.clone(),
        ));
        tokio::spawn(prune(store, config.store.retention, shutdown));
        started.store(true, Ordering::Release);
        tracing::info!(
            sources = config.sources.len(),
            sinks = config.sinks.len(),
            store = %config.store.path.display(),
            "netpulse started"
        );
        Ok(Gateway {
            sources,
            reloader,
            tracker,
            dispatcher,
            drain,
            dispatched,
            pipeline,
            router,
            http_addr,
            cluster,
        })
    }

    /// The running sources, with their status and their session's control.
    pub fn sources(&self) -> Arc<Vec<Arc<SourceHandle>>> {
        self.sources.list()
    }

    pub fn source(&self, name: &str) -> Option<Arc<SourceHandle>> {
        self.sources.get(name)
    }

    /// This node of the cluster (`cluster:`), `None` for a single node.
    pub fn cluster(&self) -> Option<&crate::cluster::Node> {
        self.cluster.as_ref()
    }

    /// What reloads the configuration (SIGHUP, `POST /api/v1/reload`).
    pub fn reloader(&self) -> Arc<Reloader> {
        self.reloader.clone()
    }

    /// Reads the configuration file again and applies what changed: see [`Reloader::reload`].
    pub async fn reload(&self) -> Result<ReloadReport, ReloadError> {
        self.reloader.reload().await
    }

    /// Events from device sources stored so far.
    pub fn dispatched(&self) -> u64 {
        self.dispatched.load(Ordering::Relaxed)
    }

    /// The address the HTTP server listens on (the port chosen for `:0`).
    pub fn http_addr(&self) -> SocketAddr {
        self.http_addr
    }

    /// The store, for queries.
    pub fn store(&self) -> &Store {
        self.pipeline.store()
    }

    /// How far the alerting router has applied the log, and its waker.
    pub fn router(&self) -> router::RouterHandle {
        self.router.handle.clone()
    }

    /// Waits for the sources and the HTTP server to stop (after shutdown), stores what is still
    /// queued, lets the sinks finish what is due, and closes the store.
    pub async fn wait(self) -> anyhow::Result<()> {
        // Once shutdown has begun (and a reload in progress has ended), no reload starts a source
        // any more, and the dispatcher ends once the sources have.
        let sinks = self.reloader.close().await;
        self.tracker.wait().await;
        // The sessions have ended: the others may take the devices over at once.
        if let Some(cluster) = &self.cluster {
            cluster.leases.release_all().await;
        }
        self.dispatcher.await?;
        // No event arrives any more: the router applies what is stored, then the sinks
        // deliver what it made due.
        self.router.stop().await;
        self.drain.cancel();
        for sink in sinks {
            sink.wait().await;
        }
        self.pipeline.store().clone().close().await;
        tracing::info!(
            events = self.dispatched.load(Ordering::Relaxed),
            "netpulse stopped"
        );
        Ok(())
    }
}

async fn open_store(config: &Config, tap: CommitTap) -> anyhow::Result<Store> {
    let mut store_config = StoreConfig::new(&config.store.path);
    store_config.tap = Some(tap);
    store_config.synchronous_full = config.store.synchronous == Synchronous::Full;
    store_config.min_free_bytes = config.store.min_free_bytes;
    store_config.dedup = dedup_limits(&config.store);
    store_config.min_commit_interval = config.store.commit_interval;
    let path = config.store.path.clone();
    tokio::task::spawn_blocking(move || Store::open(store_config))
        .await?
        .with_context(|| format!("cannot open the store at {} (store.path)", path.display()))
}

/// Deletes the stored views of sources no longer in the configuration: a source added again later
/// under the same name may watch another device, whose first snapshot must then be a baseline
/// rather than a flood of differences from an old view; and the table stays the size of the
/// configuration. (A source whose entry changed keeps its view: see the report of issue 22.)
async fn forget_removed_views(store: &Store, config: &Config) {
    let keep = config
        .sources
        .iter()
        .map(|source| source.name().to_owned())
        .collect();
    match store.retain_views(keep).await {
        Ok(0) => {}
        Ok(removed) => {
            tracing::info!(
                removed,
                "deleted the stored views of sources no longer configured"
            )
        }
        Err(err) => tracing::warn!(error = %err, "cannot delete the views of removed sources"),
    }
}

/// Stores events from device sources in batches; ends when every source has stopped and the
/// queue is empty. While the store cannot write, the batch is retried (sources wait on the full
/// queue meanwhile): an event a source has handed over is never dropped.
async fn dispatch(
    mut receiver: mpsc::Receiver<Event>,
    pipeline: Pipeline,
    dispatched: Arc<AtomicU64>,
    shutdown: CancellationToken,
) {
    let mut batch = Vec::with_capacity(DISPATCH_BATCH);
    while receiver.recv_many(&mut batch, DISPATCH_BATCH).await > 0 {
        if batch.len() < DISPATCH_BATCH && !shutdown.is_cancelled() {
            tokio::time::sleep(DISPATCH_LINGER).await;
            while batch.len() < DISPATCH_BATCH {
                match receiver.try_recv() {
                    Ok(event) => batch.push(event),
                    Err(_) => break,
                }
            }
        }
        let mut items: Vec<NewEvent> = batch
            .drain(..)
            .map(|event| NewEvent {
                raw_data: None,
                alarms: event.device_alarm().into_iter().collect(),
                event,
                idempotency_key: None,
                sinks: Vec::new(),
            })
            .collect();
        let count = items.len() as u64;
        let mut attempts = 0;
        loop {
            match pipeline.ingest(&mut items).await {
                Ok(_) => break,
                Err(StoreError::Rejected(error)) => {
                    tracing::error!(%error, events = count, "the store rejected a batch of device events");
                    break;
                }
                Err(StoreError::Unavailable(error) | StoreError::Full(error)) => {
                    attempts += 1;
                    if shutdown.is_cancelled() && attempts >= SHUTDOWN_STORE_ATTEMPTS {
                        tracing::error!(%error, events = count, "device events not stored before shutdown: the store cannot write; the next start resynchronises the devices");
                        break;
                    }
                    tracing::error!(%error, events = count, "cannot store device events; retrying");
                    tokio::time::sleep(STORE_RETRY_PAUSE).await;
                }
            }
        }
        dispatched.fetch_add(count, Ordering::Relaxed);
    }
}

/// Retention: deletes events older than `retention` that every sink has finished with.
async fn prune(store: Store, retention: Duration, shutdown: CancellationToken) {
    let mut interval = tokio::time::interval(PRUNE_INTERVAL);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            _ = interval.tick() => {}
        }
        let Ok(retention) = jiff::SignedDuration::try_from(retention) else {
            return;
        };
        let cutoff = jiff::Timestamp::now() - retention;
        match store.prune_older_than(cutoff).await {
            Ok(0) => {}
            Ok(deleted) => tracing::info!(deleted, "retention: old events deleted"),
            Err(error) => tracing::error!(%error, "retention failed"),
        }
    }
}

/// Logs one line of overall status at a fixed interval, so an operator sees progress.
async fn log_status(registry: Registry, dispatched: Arc<AtomicU64>, shutdown: CancellationToken) {
    let mut interval = tokio::time::interval(STATUS_LOG_INTERVAL);
    interval.tick().await;
    let mut previous = 0;
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = interval.tick() => {}
        }
        let sources = registry.list();
        let snapshots: Vec<_> = sources
            .iter()
            .map(|source| source.status.snapshot())
            .collect();
        let connected = snapshots
            .iter()
            .filter(|status| status.state == ConnectionState::Connected)
            .count();
        let gaps: u64 = snapshots.iter().map(|status| status.gaps).sum();
        let total = dispatched.load(Ordering::Relaxed);
        let rate = (total - previous) as f64 / STATUS_LOG_INTERVAL.as_secs_f64();
        previous = total;
        tracing::info!(
            connected,
            sources = sources.len(),
            gaps,
            events = total,
            events_per_s = format!("{rate:.1}"),
            "status"
        );
        // Name a few sources that are down, not thousands.
        let down: Vec<_> = sources
            .iter()
            .zip(&snapshots)
            .filter(|(_, status)| status.state != ConnectionState::Connected)
            .collect();
        for (source, status) in down.iter().take(MAX_NAMED_DOWN) {
            tracing::warn!(source = %source.name, state = ?status.state, last_error = status.last_error.as_deref().unwrap_or("-"), "source not connected");
        }
        if down.len() > MAX_NAMED_DOWN {
            tracing::warn!(
                more = down.len() - MAX_NAMED_DOWN,
                "more sources not connected"
            );
        }
    }
}

/// The store's memory of idempotency keys, from `store.dedup_window` and `store.dedup_max_keys`.
fn dedup_limits(store: &crate::config::StoreSection) -> crate::store::DedupLimits {
    crate::store::DedupLimits {
        window_ms: i64::try_from(store.dedup_window.min(store.retention).as_millis())
            .unwrap_or(i64::MAX),
        max_keys: store.dedup_max_keys,
    }
}

/// Where sessions keep their views: after a restart a session resumes from its stored view
/// (`netpulse_down`); in cluster mode a node that takes a device over resumes from the view its
/// previous owner reported (`ownership_moved`).
pub(crate) fn views_of(pipeline: &Pipeline, cluster: bool) -> source::lifecycle::Views {
    let views = source::lifecycle::Views::new(pipeline.clone());
    if cluster {
        views.with_reason(source::lifecycle::OWNERSHIP_MOVED)
    } else {
        views
    }
}

/// A node's sink recorders: the Webex sinks compete for their `sink.<name>` leases and record
/// each delivery in the stream.
fn cluster_recorders(
    node: &crate::cluster::Node,
    sinks: &[crate::config::SinkConfig],
) -> crate::cluster::sinks::DeliveryRecorders {
    use crate::cluster::sinks::{ClusterDeliveries, DeliveryRecorders, lease_keys, revisions};
    node.leases.set_wanted_sinks(lease_keys(sinks));
    let leases = node.leases.clone();
    let gates = node.leases.clone();
    DeliveryRecorders::cluster(
        ClusterDeliveries {
            jetstream: node.jetstream.clone(),
            stream: node.config.stream.name.clone(),
            node: node.id.clone(),
            progress: node.projection.clone(),
            publish_timeout: node.config.publish_timeout,
        },
        move |key| revisions(leases.watch(key), |tenure| tenure.revision),
    )
    .with_handover_gate(move |key| gates.stopped_gate(key))
}
