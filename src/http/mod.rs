//! The one HTTP server netpulse runs: webhook receivers at the paths their sources configure, the
//! API and live feed under `/api/v1`, the dashboard at `/`, `/metrics` (Prometheus text),
//! `/healthz` (the process answers) and `/readyz` (the store takes writes, every component has
//! started and, in cluster mode, the projection is at most `cluster.max_lag` behind the stream). [`router`] builds it from [`HttpState`]; [`bind`] and [`serve`] run it.

pub mod api;
mod hook_routes;
mod hooks;
pub mod metrics;
pub mod server;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::Context;
use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::HttpSection;
use crate::pipeline::Pipeline;
use crate::store::WriteState;

pub use hook_routes::HookRoutes;

/// Everything the routes need.
#[derive(Clone)]
pub struct HttpState {
    pub pipeline: Pipeline,
    /// The webhook receivers' routes; a reload replaces them.
    pub hooks: HookRoutes,
    /// Set once every source and sink has started.
    pub started: Arc<AtomicBool>,
    pub api: api::ApiState,
}

/// The dashboard: one page with its styles inside, and its script, embedded in the binary. The
/// script is a file of its own so that the page's policy can refuse every inline script.
const DASHBOARD: &str = include_str!("ui/index.html");
const DASHBOARD_SCRIPT: &str = include_str!("ui/app.js");
/// The alerting views (traces, silences, windows), loaded after `app.js` and using its helpers.
const ALERTING_SCRIPT: &str = include_str!("ui/alerting.js");
/// The topology panel (root causes and links), loaded after `app.js`.
const TOPOLOGY_SCRIPT: &str = include_str!("ui/topology.js");

/// The whole HTTP surface of the gateway.
pub fn router(state: HttpState) -> Router {
    let router = Router::new()
        .route(
            "/metrics",
            get(metrics_with_margins).with_state(state.api.sources.clone()),
        )
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(ready).with_state(state.clone()))
        .route("/", get(dashboard))
        .route("/ui/app.js", get(|| script(DASHBOARD_SCRIPT)))
        .route("/ui/alerting.js", get(|| script(ALERTING_SCRIPT)))
        .route("/ui/topology.js", get(|| script(TOPOLOGY_SCRIPT)))
        .merge(api::router(state.api.clone()));
    // Webhook paths are looked up per request, after every fixed route: a reload changes them.
    router.fallback_service(any(hook_routes::dispatch).with_state(state.hooks.clone()))
}

/// The bound listener and its TLS acceptor, before anything is served: binding first means that a
/// port in use or an unreadable certificate stops netpulse before any device session starts.
pub struct Bound {
    listener: TcpListener,
    acceptor: Option<TlsAcceptor>,
    limits: server::Limits,
    pub address: SocketAddr,
}

/// `/metrics`: the subscription margins shrink between refreshes, so their gauge is set from
/// the sources' status as each scrape renders.
async fn metrics_with_margins(State(sources): State<crate::source::Registry>) -> Response {
    crate::source::dme::health::publish_margins(&sources);
    metrics::render().await.into_response()
}

/// Loads the certificate (with `http.tls`) and binds `http.listen`, failing with what to fix.
pub async fn bind(config: &HttpSection) -> anyhow::Result<Bound> {
    let acceptor = match &config.tls {
        Some(tls) => {
            let identity =
                crate::tls::server::ServerIdentity::from_files(&tls.cert_file, &tls.key_file)?;
            Some(TlsAcceptor::from(identity.server_config()?))
        }
        None => None,
    };
    let listener = TcpListener::bind(config.listen).await.with_context(|| {
        format!(
            "cannot listen on {} (http.listen): is another process using it?",
            config.listen
        )
    })?;
    let address = listener.local_addr()?;
    Ok(Bound {
        listener,
        acceptor,
        limits: server::Limits {
            max_connections: config.max_connections,
            header_timeout: config.header_timeout,
        },
        address,
    })
}

/// Serves `router` on the bound listener until `shutdown`; connections are tracked by `tracker`.
pub fn serve(bound: Bound, router: Router, shutdown: CancellationToken, tracker: &TaskTracker) {
    let scheme = if bound.acceptor.is_some() {
        "https"
    } else {
        "http"
    };
    tracing::info!(address = %bound.address, scheme, "HTTP server listening");
    let options = server::ServeOptions {
        acceptor: bound.acceptor,
        shutdown,
        tracker: tracker.clone(),
        name: "netpulse".to_owned(),
    };
    tracker.spawn(server::serve_limited(
        bound.listener,
        router,
        options,
        bound.limits,
    ));
}

async fn ready(State(state): State<HttpState>) -> Response {
    if !state.started.load(Ordering::Acquire) {
        return (StatusCode::SERVICE_UNAVAILABLE, "starting\n").into_response();
    }
    if let Some(cluster) = state.pipeline.cluster() {
        let (behind, max_lag) = cluster.lag();
        if behind > max_lag {
            return (
                StatusCode::SERVICE_UNAVAILABLE,
                format!("the store is {behind} stream messages behind the cluster (cluster.max_lag: {max_lag})\n"),
            )
                .into_response();
        }
    }
    match state.pipeline.store().write_state() {
        WriteState::Writing => "ready\n".into_response(),
        WriteState::DiskFull { available, needed } if available >= needed => format!(
            "ready: the store's disk was full and has {} MiB free again (store.min_free_bytes: {} MiB)\n",
            available >> 20,
            needed >> 20
        )
        .into_response(),
        WriteState::DiskFull { available, needed } => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "the store's disk is full: {} MiB free, ready again from {} MiB (store.min_free_bytes)\n",
                available >> 20,
                needed >> 20
            ),
        )
            .into_response(),
        WriteState::Failing => (
            StatusCode::SERVICE_UNAVAILABLE,
            "the store cannot write (see the log)\n",
        )
            .into_response(),
    }
}

async fn dashboard() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            // The page loads nothing from elsewhere and runs no inline script (one injected into
            // it would see the token); a framing site cannot overlay it.
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'self'; script-src 'self'; style-src 'unsafe-inline'; img-src 'self' data:; frame-ancestors 'none'",
            ),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        DASHBOARD,
    )
        .into_response()
}

async fn script(text: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        text,
    )
        .into_response()
}

async fn not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        [(header::CONTENT_TYPE, "application/json")],
        r#"{"error":"no such path: the API is under /api/v1 (see /api/v1/openapi.json), the dashboard at /, webhook receivers at the paths their sources configure","code":"not_found"}"#,
    )
        .into_response()
}
