//! The outcome of one webhook request: its metric label, its log line and what it changes in the
//! source's status. The HTTP handler turns it into the response.

use std::net::SocketAddr;

use axum::http::{HeaderMap, header};

use super::WebhookReceiver;
use super::verify::Refused;
use crate::source::SourceStatus;

/// Every outcome a request can have, as counted in metrics.
pub const OUTCOMES: &[&str] = &[
    "accepted",
    "duplicate",
    "unauthorized",
    "unsupported_media_type",
    "too_large",
    "malformed",
    "not_an_alarm",
    "unrecognized",
    "bad_signature",
    "stale",
    "store_unavailable",
    "rejected",
    "timeout",
];

/// The answer to one request, before it becomes a response (`crate::http::hooks`): each result
/// has one response, one metric label, one log line and one status change.
pub enum Outcome {
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
    /// The metric label, one of [`OUTCOMES`].
    pub fn label(&self) -> &'static str {
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

impl Outcome {
    /// One line per refused request, with what the operator needs to find the sender, at most one
    /// per kind of refusal and interval (`refused_since_last_line` says how many were left out);
    /// accepted ones at debug level. Never the credentials or the body.
    pub(super) fn log(&self, receiver: &WebhookReceiver, peer: SocketAddr, headers: &HeaderMap) {
        let outcome = self;
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

    /// What the source's status shows of this request.
    pub(super) fn record_status(&self, status: &SourceStatus) {
        let outcome = self;
        let now = jiff::Timestamp::now();
        status.update(|status| match outcome {
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
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::sync::Mutex;

    use std::sync::Arc;

    use super::*;
    use crate::config::{SecretValue, WebhookAuth, WebhookProvider, WebhookSourceConfig};

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
                outcome.log(&receiver, peer, &HeaderMap::new());
                let outcome = Outcome::Invalid {
                    kind: "malformed",
                    reason: "malformed JSON".into(),
                };
                outcome.log(&receiver, peer, &HeaderMap::new());
            }
        });
        let text = String::from_utf8(lines.0.lock().unwrap().clone()).unwrap();
        let warnings = text.lines().filter(|line| line.contains("WARN")).count();
        assert_eq!(warnings, 2, "one line per kind of refusal: {text}");
    }
}
