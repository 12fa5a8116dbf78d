//! The Prometheus exposition of every `metrics` counter, gauge and histogram of the process, served
//! from our own `/metrics` route (no second listener).

use std::sync::OnceLock;

use axum::http::header;
use axum::response::IntoResponse;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// Installs the process-wide recorder once; later calls (a second gateway in the same test
/// process) share it. Call before any component registers its metrics: handles taken before
/// installation record nothing.
pub fn install() -> &'static PrometheusHandle {
    HANDLE.get_or_init(|| {
        let builder = PrometheusBuilder::new();
        match builder.install_recorder() {
            Ok(handle) => handle,
            Err(err) => {
                // Another recorder was installed first (an embedding application's): keep ours
                // private so /metrics still answers, empty.
                tracing::warn!(error = %err, "a metrics recorder is already installed; /metrics shows nothing");
                PrometheusBuilder::new().build_recorder().handle()
            }
        }
    })
}

pub async fn render() -> impl IntoResponse {
    let handle = install();
    handle.run_upkeep();
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        handle.render(),
    )
}
