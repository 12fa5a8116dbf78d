//! The HTTP face of every `type: webhook` source: hands the request to its receiver
//! ([`WebhookReceiver::receive`], which runs every check and stores the event) and turns the
//! [`Outcome`] into the response. Every outcome is counted in
//! `netpulse_webhook_requests_total{source, outcome}` and logged with the peer's address
//! ([`WebhookReceiver::record`]).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use axum::body::Body;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::http::{Method, Uri};
use axum::response::{IntoResponse, Response};

use crate::pipeline::Pipeline;
use crate::source::webhook::{Outcome, WebhookReceiver, receiver::Request};

/// Seconds a sender is asked to wait before retrying when the store cannot write.
const RETRY_AFTER_UNAVAILABLE_SECS: &str = "30";

#[derive(Clone)]
pub(super) struct HookState {
    pub receiver: Arc<WebhookReceiver>,
    pub pipeline: Pipeline,
}

pub(super) async fn receive(
    State(state): State<HookState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let started = Instant::now();
    let path_and_query = uri
        .path_and_query()
        .map_or_else(|| uri.path(), |target| target.as_str());
    let request = Request {
        method: method.as_str(),
        path_and_query,
        headers: &headers,
        body,
    };
    let outcome = state.receiver.receive(&state.pipeline, request).await;
    state.receiver.record(&outcome, peer, &headers, started);
    respond(outcome)
}

fn respond(outcome: Outcome) -> Response {
    let json =
        |status: StatusCode, body: serde_json::Value| (status, axum::Json(body)).into_response();
    match outcome {
        Outcome::Accepted { seq } => acknowledged("accepted", seq),
        Outcome::Duplicate { seq } => acknowledged("duplicate", seq),
        Outcome::Unauthorized(refused) => {
            let mut response = json(
                StatusCode::UNAUTHORIZED,
                serde_json::json!({"error": refused.reason}),
            );
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"netpulse\", charset=\"UTF-8\""),
            );
            response
        }
        Outcome::UnsupportedMediaType(found) => json(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            serde_json::json!({"error": format!("content type {found} is not accepted: send uncompressed application/json")}),
        ),
        Outcome::TooLarge { limit } => json(
            StatusCode::PAYLOAD_TOO_LARGE,
            serde_json::json!({"error": format!("the body is larger than the limit of {limit} bytes (max_body_bytes)")}),
        ),
        Outcome::TimedOut { after } => {
            let mut response = json(
                StatusCode::REQUEST_TIMEOUT,
                serde_json::json!({"error": format!("the body did not arrive within {} s (http.body_timeout)", after.as_secs_f64())}),
            );
            // The rest of the body may still be on its way: the connection cannot be reused.
            response
                .headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
            response
        }
        Outcome::Invalid { reason, .. } => json(
            StatusCode::BAD_REQUEST,
            serde_json::json!({"error": reason}),
        ),
        Outcome::Unavailable(_) => {
            let mut response = json(
                StatusCode::SERVICE_UNAVAILABLE,
                serde_json::json!({"error": "the event could not be stored; nothing was kept, retry later"}),
            );
            response.headers_mut().insert(
                header::RETRY_AFTER,
                HeaderValue::from_static(RETRY_AFTER_UNAVAILABLE_SECS),
            );
            response
        }
        Outcome::Rejected(reason) => json(
            StatusCode::UNPROCESSABLE_ENTITY,
            serde_json::json!({"error": format!("the event cannot be stored: {reason}")}),
        ),
    }
}

/// The 200 of every stored request, `{"status":"accepted","seq":7}`, written straight into its
/// buffer: this is the answer to nearly every request, so it skips building a JSON value.
fn acknowledged(status: &'static str, seq: u64) -> Response {
    let body = format!("{{\"status\":\"{status}\",\"seq\":{seq}}}");
    (
        StatusCode::OK,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        body,
    )
        .into_response()
}
