//! The webhook endpoint of every `type: webhook` source. Checks run in order, cheapest and most
//! telling first: credentials (401), content type (415), size (413, before reading a body that is
//! too large when Content-Length says so), then the provider's parse and normalization (400). A
//! request that passes them all is acknowledged only after its event is committed to the store
//! (200), or told to come back (503) when the store cannot write. Every outcome is counted in
//! `netpulse_webhook_requests_total{source, outcome}` and logged with the peer's address.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use axum::body::Body;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::http::{Method, Uri};
use axum::response::{IntoResponse, Response};
use http_body_util::BodyExt;

use crate::pipeline::Pipeline;
use crate::source::webhook::verify::{Refused, Signed};
use crate::source::webhook::{Rejection, WebhookReceiver};
use crate::store::StoreError;

/// Seconds a sender is asked to wait before retrying when the store cannot write.
const RETRY_AFTER_UNAVAILABLE_SECS: &str = "30";

#[derive(Clone)]
pub(super) struct HookState {
    pub receiver: Arc<WebhookReceiver>,
    pub pipeline: Pipeline,
}

/// The answer to one request, before it becomes a response.
enum Outcome {
    Accepted {
        seq: u64,
    },
    Duplicate {
        seq: u64,
    },
    Unauthorized(Refused),
    UnsupportedMediaType(String),
    TooLarge {
        limit: usize,
    },
    /// The body did not arrive within `http.body_timeout`.
    TimedOut {
        after: std::time::Duration,
    },
    Invalid {
        kind: &'static str,
        reason: String,
    },
    Unavailable(String),
    Rejected(String),
}

impl Outcome {
    fn label(&self) -> &'static str {
        match self {
            Outcome::Accepted { .. } => "accepted",
            Outcome::Duplicate { .. } => "duplicate",
            Outcome::Unauthorized(refused) => refused.outcome,
            Outcome::UnsupportedMediaType(_) => "unsupported_media_type",
            Outcome::TooLarge { .. } => "too_large",
            Outcome::TimedOut { .. } => "timeout",
            Outcome::Invalid { kind, .. } => kind,
            Outcome::Unavailable(_) => "store_unavailable",
            Outcome::Rejected(_) => "rejected",
        }
    }
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
    let receiver = &state.receiver;
    let target = uri
        .path_and_query()
        .map_or_else(|| uri.path(), |target| target.as_str());
    let outcome = process(&state, method.as_str(), target, &headers, body).await;
    let label = outcome.label();
    receiver.count(label);
    receiver.latency.record(started.elapsed().as_secs_f64());
    log(receiver, peer, &headers, &outcome);
    record_status(receiver, &outcome);
    respond(outcome)
}

async fn process(
    state: &HookState,
    method: &str,
    path_and_query: &str,
    headers: &HeaderMap,
    body: Body,
) -> Outcome {
    let receiver = &state.receiver;
    if let Err(refused) = receiver.check_headers(headers) {
        return Outcome::Unauthorized(refused);
    }
    if let Err(found) = check_content_type(headers) {
        return Outcome::UnsupportedMediaType(found);
    }
    if let Some(encoding) = headers
        .get(header::CONTENT_ENCODING)
        .filter(|value| !value.as_bytes().eq_ignore_ascii_case(b"identity"))
    {
        let found = String::from_utf8_lossy(encoding.as_bytes());
        return Outcome::UnsupportedMediaType(format!(
            "application/json with Content-Encoding {found}"
        ));
    }
    let limit = receiver.max_body_bytes;
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<u64>().ok());
    if declared.is_some_and(|length| length > limit as u64) {
        return Outcome::TooLarge { limit };
    }
    let after = receiver.body_timeout;
    let collect = http_body_util::Limited::new(body, limit).collect();
    let Ok(collected) = tokio::time::timeout(after, collect).await else {
        return Outcome::TimedOut { after };
    };
    let body = match collected {
        Ok(collected) => collected.to_bytes(),
        Err(error) if error.is::<http_body_util::LengthLimitError>() => {
            return Outcome::TooLarge { limit };
        }
        Err(error) => {
            return Outcome::Invalid {
                kind: "malformed",
                reason: format!("the body could not be read: {error}"),
            };
        }
    };
    let now = jiff::Timestamp::now();
    let signed = Signed {
        method,
        path_and_query,
        headers,
        body: &body,
        now,
    };
    if let Err(refused) = receiver.check_body(&signed) {
        return Outcome::Unauthorized(refused);
    }
    let mut item = match receiver.normalize(headers, &body, now) {
        Ok(item) => item,
        Err(Rejection::Refused(refused)) => return Outcome::Unauthorized(refused),
        Err(Rejection::Invalid(invalid)) => {
            return Outcome::Invalid {
                kind: invalid.kind,
                reason: invalid.reason,
            };
        }
    };
    receiver.enrich(&mut item).await;
    match state.pipeline.ingest(&mut [item]).await {
        Ok(appended) => match appended.first() {
            Some(appended) if appended.duplicate => Outcome::Duplicate { seq: appended.seq },
            Some(appended) => Outcome::Accepted { seq: appended.seq },
            None => Outcome::Unavailable("the store returned no result".to_owned()),
        },
        Err(StoreError::Unavailable(reason) | StoreError::Full(reason)) => {
            Outcome::Unavailable(reason)
        }
        Err(StoreError::Rejected(reason)) => Outcome::Rejected(reason),
    }
}

/// JSON bodies only: one `Content-Type` of `application/json`, or any `+json` type, parameters
/// allowed.
fn check_content_type(headers: &HeaderMap) -> Result<(), String> {
    let mut values = headers.get_all(header::CONTENT_TYPE).iter();
    let Some(value) = values.next() else {
        return Err("none".to_owned());
    };
    if values.next().is_some() {
        return Err("(several Content-Type headers)".to_owned());
    }
    let text = value.to_str().map_err(|_| "(not text)".to_owned())?;
    let essence = text.split(';').next().unwrap_or("").trim();
    let json = essence.eq_ignore_ascii_case("application/json")
        || essence.to_ascii_lowercase().ends_with("+json");
    if json {
        Ok(())
    } else {
        Err(essence.to_owned())
    }
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

/// One line per refused request, with what the operator needs to find the sender, at most one
/// per kind of refusal and interval (`refused_since_last_line` says how many were left out);
/// accepted ones at debug level. Never the credentials or the body.
fn log(receiver: &WebhookReceiver, peer: SocketAddr, headers: &HeaderMap, outcome: &Outcome) {
    let source = receiver.name.as_str();
    let agent = headers
        .get(header::USER_AGENT)
        .and_then(|value| value.to_str().ok())
        .unwrap_or("-");
    let left_out = match outcome {
        Outcome::Accepted { seq } => {
            return tracing::debug!(source, %peer, seq, "webhook accepted");
        }
        Outcome::Duplicate { seq } => {
            return tracing::info!(source, %peer, seq, "webhook redelivered: already stored, acknowledged again");
        }
        refused => match receiver.admit_log(refused.label()) {
            Some(left_out) => left_out,
            None => return,
        },
    };
    match outcome {
        Outcome::Accepted { .. } | Outcome::Duplicate { .. } => {}
        Outcome::Unauthorized(refused) => {
            let scheme = headers
                .get(header::AUTHORIZATION)
                .and_then(|value| value.to_str().ok())
                .and_then(|value| value.split(' ').next())
                .unwrap_or("none");
            tracing::warn!(source, %peer, agent, scheme, refused_since_last_line = left_out, outcome = refused.outcome, reason = %refused.reason, "webhook refused: not authenticated")
        }
        Outcome::UnsupportedMediaType(found) => {
            tracing::warn!(source, %peer, agent, refused_since_last_line = left_out, content_type = %found, "webhook refused: not JSON")
        }
        Outcome::TooLarge { limit } => {
            tracing::warn!(source, %peer, agent, refused_since_last_line = left_out, limit, "webhook refused: body too large")
        }
        Outcome::TimedOut { after } => {
            tracing::warn!(source, %peer, agent, refused_since_last_line = left_out, after_ms = after.as_millis() as u64, "webhook refused: the body arrived too slowly (http.body_timeout)")
        }
        Outcome::Invalid { kind, reason } => {
            tracing::warn!(source, %peer, agent, refused_since_last_line = left_out, kind, reason = %reason, "webhook refused: invalid body")
        }
        Outcome::Unavailable(reason) => {
            tracing::error!(source, %peer, reason = %reason, refused_since_last_line = left_out, "webhook not stored: the store cannot write; answered 503")
        }
        Outcome::Rejected(reason) => {
            tracing::error!(source, %peer, reason = %reason, refused_since_last_line = left_out, "webhook not stored: rejected by the store")
        }
    }
}

fn record_status(receiver: &WebhookReceiver, outcome: &Outcome) {
    let now = jiff::Timestamp::now();
    receiver.status.update(|status| match outcome {
        Outcome::Accepted { .. } => {
            status.events += 1;
            status.last_event_at = Some(now);
        }
        Outcome::Duplicate { .. } => status.duplicates_suppressed += 1,
        refused => {
            status.rejected += 1;
            status.last_error = Some(format!("{} request refused", refused.label()));
            status.last_error_at = Some(now);
        }
    });
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::sync::Mutex;

    use super::*;
    use crate::config::{SecretValue, WebhookAuth, WebhookProvider, WebhookSourceConfig};
    use crate::source::webhook::verify::Refused;

    /// The lines a subscriber wrote, shared with the test.
    #[derive(Clone, Default)]
    struct Lines(Arc<Mutex<Vec<u8>>>);

    impl Write for Lines {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn receiver() -> WebhookReceiver {
        let config = WebhookSourceConfig {
            name: "flood".into(),
            provider: WebhookProvider::Cloudevents,
            path: "/hooks/flood".into(),
            auth: Some(WebhookAuth {
                bearer: Some(SecretValue {
                    secret: Some(crate::config::Secret::new("token")),
                    secret_file: None,
                }),
                ..WebhookAuth::default()
            }),
            vmanage_url: None,
            base_url: None,
            token: None,
            token_file: None,
            mapping: None,
            max_body_bytes: None,
        };
        WebhookReceiver::new(
            &config,
            &crate::config::HttpSection::default(),
            Arc::new(crate::source::SourceStatus::default()),
        )
    }

    #[test]
    fn a_flood_of_refused_requests_logs_one_line_per_interval_not_one_each() {
        let lines = Lines::default();
        let subscriber = tracing_subscriber::fmt()
            .with_writer({
                let lines = lines.clone();
                move || lines.clone()
            })
            .with_ansi(false)
            .finish();
        let receiver = receiver();
        let peer: SocketAddr = "192.0.2.7:40000".parse().unwrap();
        tracing::subscriber::with_default(subscriber, || {
            for _ in 0..100 {
                let outcome = Outcome::Unauthorized(Refused {
                    outcome: "unauthorized",
                    reason: "missing or wrong token".into(),
                });
                log(&receiver, peer, &HeaderMap::new(), &outcome);
                let outcome = Outcome::Invalid {
                    kind: "malformed",
                    reason: "malformed JSON".into(),
                };
                log(&receiver, peer, &HeaderMap::new(), &outcome);
            }
        });
        let text = String::from_utf8(lines.0.lock().unwrap().clone()).unwrap();
        let warnings = text.lines().filter(|line| line.contains("WARN")).count();
        assert_eq!(warnings, 2, "one line per kind of refusal: {text}");
    }
}
