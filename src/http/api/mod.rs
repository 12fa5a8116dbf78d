//! `/api/v1`: the history API, the live feed and their OpenAPI document, for applications and for
//! the dashboard served at `/`.
//!
//! Every route but the OpenAPI document needs a bearer token from `api.auth.tokens`
//! (`Authorization: Bearer <token>`, or `?access_token=` where a browser cannot set headers:
//! EventSource and WebSocket). Tokens are compared in constant time over SHA-256 digests. Errors
//! have one shape, `{"error": "<what to do>", "code": "<machine word>"}`.

mod alarms;
mod auth;
mod cors;
mod events;
mod notifications;
pub(crate) mod params;
mod reload;
mod silences;
mod status;
mod stream;
mod topology;
mod trace;

use std::sync::Arc;

use axum::Router;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};

use crate::config::{ApiSection, SinkConfig};
use crate::feed::Hub;
use crate::pipeline::Pipeline;
use crate::source::Registry;
use crate::store::ReaderPool;

pub use auth::Auth;

/// The OpenAPI 3.0 document of these routes.
pub const OPENAPI: &str = include_str!("openapi.json");

/// The paths served under `/api/v1`, as written in the OpenAPI document; a test checks they agree.
pub const PATHS: [&str; 21] = [
    "/api/v1/events",
    "/api/v1/events/stream",
    "/api/v1/stream",
    "/api/v1/alarms",
    "/api/v1/sources",
    "/api/v1/sources/{name}",
    "/api/v1/sinks",
    "/api/v1/sinks/{name}/dead",
    "/api/v1/sinks/{name}/dead/{id}/retry",
    "/api/v1/reload",
    "/api/v1/openapi.json",
    "/api/v1/silences",
    "/api/v1/silences/{id}",
    "/api/v1/windows",
    "/api/v1/windows/{id}",
    "/api/v1/events/{id}/trace",
    "/api/v1/notifications",
    "/api/v1/whoami",
    "/api/v1/alarms/{key}/ack",
    "/api/v1/alarms/{key}/close",
    "/api/v1/topology",
];

/// What the API routes read.
#[derive(Clone)]
pub struct ApiState {
    pub pipeline: Pipeline,
    pub pool: ReaderPool,
    pub hub: Hub,
    pub sources: Registry,
    /// Reads the configuration file again (`POST /api/v1/reload`, as SIGHUP does).
    pub reloader: Arc<crate::gateway::Reloader>,
    /// The sinks configured now; a reload replaces the list.
    pub sinks: Arc<std::sync::RwLock<Arc<Vec<SinkConfig>>>>,
    pub auth: Arc<Auth>,
    pub config: Arc<ApiSection>,
    /// The alerting router: how far it has applied the log (an operator action's answer waits
    /// for it). `None` where no router runs.
    pub router: Option<crate::gateway::router::RouterHandle>,
    /// Acts on alarms and mutes: the gateway's one [`crate::operator::Operator`], shared with its
    /// Webex sinks (one lock for every channel).
    pub operator: crate::operator::Operator,
    /// Which sinks share their deliveries with the cluster: a dead letter of one of them is
    /// retried through the stream (`Requeued`), so every node's outbox agrees.
    pub recorders: crate::cluster::sinks::DeliveryRecorders,
}

/// The `/api/v1` routes, authenticated and with CORS as configured.
pub fn router(state: ApiState) -> Router {
    let read = Router::new()
        .route(PATHS[0], get(events::list))
        .route(PATHS[1], get(stream::sse))
        .route(PATHS[2], get(stream::websocket))
        .route(PATHS[3], get(status::alarms))
        .route(PATHS[4], get(status::sources))
        .route(PATHS[5], get(status::source))
        .route(PATHS[6], get(status::sinks))
        .route(PATHS[7], get(status::dead_letters))
        .route(PATHS[11], get(silences::list_silences))
        .route(PATHS[13], get(silences::list_windows))
        .route(PATHS[15], get(trace::trace))
        .route(PATHS[16], get(notifications::list))
        .route(PATHS[17], get(whoami))
        .route(PATHS[20], get(topology::topology))
        .route_layer(axum::middleware::from_fn_with_state(
            state.auth.clone(),
            auth::require_read,
        ));
    let ack = Router::new()
        .route(PATHS[18], post(alarms::acknowledge))
        .route(PATHS[19], post(alarms::close))
        .route_layer(axum::middleware::from_fn_with_state(
            state.auth.clone(),
            auth::require_ack,
        ));
    let admin = Router::new()
        .route(PATHS[8], post(status::retry_dead))
        .route(PATHS[9], post(reload::reload))
        .route(PATHS[11], post(silences::create_silence))
        .route(PATHS[12], delete(silences::expire_silence))
        .route(PATHS[13], post(silences::create_window))
        .route(PATHS[14], delete(silences::delete_window))
        .route_layer(axum::middleware::from_fn_with_state(
            state.auth.clone(),
            auth::require_admin,
        ));
    let cors = Arc::new(state.config.cors.clone());
    read.merge(ack)
        .merge(admin)
        .with_state(state)
        .route(PATHS[10], get(openapi))
        .layer(axum::middleware::from_fn_with_state(cors, cors::apply))
}

/// `GET /api/v1/whoami`: the caller's token name and scope, so that the dashboard offers the
/// admin actions (silence, window) and the ack ones (acknowledge, close an alarm) only to a token
/// that may use them.
async fn whoami(axum::Extension(caller): axum::Extension<auth::Caller>) -> Response {
    let scope = caller.scope.as_str();
    axum::Json(serde_json::json!({"name": caller.name, "scope": scope})).into_response()
}

async fn openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI).into_response()
}

/// An API error: its status, a machine word and a sentence saying what to do.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

impl ApiError {
    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            code: "bad_request",
            message: message.into(),
        }
    }

    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError {
            status: StatusCode::NOT_FOUND,
            code: "not_found",
            message: message.into(),
        }
    }

    /// The store could not answer; the details go to the log, not to the client.
    pub fn store(error: &anyhow::Error) -> ApiError {
        tracing::error!(error = %format!("{error:#}"), "API query failed");
        ApiError {
            status: StatusCode::SERVICE_UNAVAILABLE,
            code: "unavailable",
            message: "the store could not answer; retry, and see netpulse's log if it persists"
                .to_owned(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({"error": self.message, "code": self.code});
        (self.status, axum::Json(body)).into_response()
    }
}

/// A JSON body already serialized, sent as is.
pub(crate) fn json_response(body: String) -> Response {
    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
}

#[cfg(test)]
mod tests;
