//! Webhook receivers, one module per provider.
//!
//! A provider module is a pure core: it turns the body of one request into a typed document and
//! the document into a normalized [`Event`](crate::event::Event), with no IO. [`WebhookReceiver`]
//! holds what one configured receiver needs to check a request (credentials, body limit) and to
//! turn its verified body into something to store; the HTTP handler (`crate::http::hooks`) runs
//! the checks in order and answers.

pub mod auth;
pub mod catalyst_center;
#[cfg(test)]
mod fuzz;
pub mod generic;
pub mod intersight;
mod lenient;
pub mod mapping;
pub mod meraki;
pub mod sdwan;
pub mod thousandeyes;
pub mod verify;
pub mod webex;

use std::sync::Arc;

use axum::http::HeaderMap;

use crate::config::{WebhookProvider, WebhookSourceConfig};
use crate::source::SourceStatus;
use crate::store::{AlarmUpdate, NewEvent};
use verify::{Refused, Signed, Verifier};

/// One configured receiver.
pub struct WebhookReceiver {
    pub name: String,
    pub path: String,
    pub provider: WebhookProvider,
    /// How a request proves where it comes from.
    verifier: Verifier,
    vmanage_url: Option<String>,
    /// Catalyst Center: the controller's URL, for relative event links.
    base_url: Option<String>,
    /// `provider: generic`: the compiled mapping.
    mapping: Option<mapping::Mapping>,
    /// `provider: webex`: fetches what a notification points to.
    fetcher: Option<webex::Fetcher>,
    pub max_body_bytes: usize,
    /// The time the whole body has to arrive (`http.body_timeout`).
    pub body_timeout: std::time::Duration,
    pub status: Arc<SourceStatus>,
    /// `netpulse_webhook_requests_total{source, outcome}`, registered once, each with the
    /// throttle of its log line: refused requests come in floods (a sender with a wrong secret,
    /// a scan, every request while the store cannot write), so each kind of refusal is logged at
    /// most once per interval while the metric counts every one.
    outcomes: Vec<(&'static str, metrics::Counter, crate::throttle::Throttle)>,
    /// `netpulse_webhook_request_seconds{source}`.
    pub latency: metrics::Histogram,
}

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

/// Why a body cannot become an event: answered 400 with this text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}")]
pub struct Invalid {
    /// A short label for metrics: `malformed`, `not_an_alarm` or `unrecognized`.
    pub kind: &'static str,
    pub reason: String,
}

impl Invalid {
    /// The body is not JSON (or not the encoding the provider uses).
    pub fn malformed(reason: impl Into<String>) -> Invalid {
        Invalid {
            kind: "malformed",
            reason: reason.into(),
        }
    }

    /// The body is JSON but not a document of this provider.
    pub fn unrecognized(reason: impl Into<String>) -> Invalid {
        Invalid {
            kind: "unrecognized",
            reason: reason.into(),
        }
    }
}

/// Why a body is not stored: it is not a document of the provider (400), or it carries the wrong
/// credentials inside (401, Meraki's `sharedSecret`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rejection {
    Invalid(Invalid),
    Refused(Refused),
}

/// What a provider makes of one verified request: the event, the key that makes a redelivery of
/// the same notification a duplicate (`<provider>:<natural id>`), and the alarm states it sets.
///
/// Every provider module (`meraki.rs`, `catalyst_center.rs`, ...) is a pure function from the
/// body to this: no IO, no clock, no tokio.
#[derive(Debug, Clone, PartialEq)]
pub struct Normalized {
    pub event: crate::event::Event,
    pub idempotency_key: Option<String>,
    pub alarms: Vec<AlarmUpdate>,
}

impl WebhookReceiver {
    pub fn new(
        config: &WebhookSourceConfig,
        http: &crate::config::HttpSection,
        status: Arc<SourceStatus>,
    ) -> WebhookReceiver {
        let verifier = Verifier::new(config.auth.as_ref());
        if verifier.is_open() {
            tracing::warn!(source = %config.name, path = %config.path, "webhook receiver accepts requests without credentials (auth: none)");
        }
        let outcomes = OUTCOMES
            .iter()
            .map(|outcome| {
                let counter = metrics::counter!("netpulse_webhook_requests_total", "source" => config.name.clone(), "outcome" => *outcome);
                (*outcome, counter, crate::throttle::Throttle::new())
            })
            .collect();
        WebhookReceiver {
            outcomes,
            latency: metrics::histogram!("netpulse_webhook_request_seconds", "source" => config.name.clone()),
            name: config.name.clone(),
            path: config.path.clone(),
            provider: config.provider,
            verifier,
            vmanage_url: config.vmanage_url.clone(),
            base_url: config.base_url.clone(),
            // Validated with the configuration; a mapping that does not compile is not there.
            fetcher: (config.provider == WebhookProvider::Webex)
                .then(|| {
                    let base = config.base_url.as_deref().unwrap_or("https://webexapis.com");
                    let token = config.token.as_ref().map(crate::config::Secret::expose);
                    webex::Fetcher::new(base, token.unwrap_or(""))
                        .inspect_err(|error| tracing::error!(source = %config.name, error = %format!("{error:#}"), "cannot build the Webex API client"))
                        .ok()
                })
                .flatten(),
            mapping: config
                .mapping
                .as_ref()
                .and_then(|mapping| mapping::Mapping::new(&config.name, mapping).ok()),
            max_body_bytes: config.max_body_bytes.unwrap_or(http.max_body_bytes),
            body_timeout: http.body_timeout,
            status,
        }
    }

    /// Counts one request with this outcome (one of [`OUTCOMES`]).
    pub fn count(&self, outcome: &str) {
        if let Some((_, counter, _)) = self.outcomes.iter().find(|(known, ..)| *known == outcome) {
            counter.increment(1);
        }
    }

    /// Whether to log this request with this outcome: `Some(n)`, `n` being how many like it were
    /// left out since the last line (see [`crate::throttle`]).
    pub fn admit_log(&self, outcome: &str) -> Option<u64> {
        let (_, _, throttle) = self.outcomes.iter().find(|(known, ..)| *known == outcome)?;
        throttle.admit(std::time::Instant::now())
    }

    /// The checks that need only headers (Basic, bearer, a token header), before the body is read.
    pub fn check_headers(&self, headers: &HeaderMap) -> Result<(), Refused> {
        self.verifier.check_headers(headers)
    }

    /// The signature checks over the raw body, before it is parsed.
    pub fn check_body(&self, request: &Signed) -> Result<(), Refused> {
        self.verifier.check_body(request)
    }

    /// Turns a verified body into the event to store, its idempotency key and alarm updates.
    /// `now` stands in for a time the request does not carry.
    pub fn normalize(
        &self,
        headers: &HeaderMap,
        body: &bytes::Bytes,
        now: jiff::Timestamp,
    ) -> Result<NewEvent, Rejection> {
        let normalized = match self.provider {
            WebhookProvider::Sdwan => {
                return self.normalize_sdwan(body).map_err(Rejection::Invalid);
            }
            WebhookProvider::StandardWebhooks => {
                generic::standard_webhook(&self.name, headers, body, now)
            }
            WebhookProvider::Cloudevents => generic::cloudevent(&self.name, headers, body, now),
            WebhookProvider::Meraki => {
                let alert = meraki::normalize(&self.name, body).map_err(Rejection::Invalid)?;
                if !self
                    .verifier
                    .shared_secret_matches(headers, alert.shared_secret.as_deref())
                {
                    return Err(Rejection::Refused(verify::Refused {
                        outcome: "unauthorized",
                        reason: "missing or wrong shared secret: the HTTP server's shared secret in Meraki Dashboard must be the one configured for this receiver".to_owned(),
                    }));
                }
                Ok(alert.normalized)
            }
            WebhookProvider::CatalystCenter => {
                catalyst_center::normalize(&self.name, body).map(|mut normalized| {
                    // Relative links and placeholder hosts become usable with `base_url`.
                    if normalized.event.link.is_none()
                        && let Some(raw) = normalized.event.data["ciscoDnaEventLink"].as_str()
                    {
                        normalized.event.link =
                            catalyst_center::event_link(raw, self.base_url.as_deref());
                    }
                    normalized
                })
            }
            WebhookProvider::Thousandeyes => thousandeyes::normalize(&self.name, body),
            WebhookProvider::Generic => match &self.mapping {
                Some(mapping) => mapping.normalize(&self.name, body, now),
                None => Err(Invalid::unrecognized("this receiver has no mapping")),
            },
            WebhookProvider::Intersight => intersight::normalize(&self.name, body),
            WebhookProvider::Webex => webex::normalize(&self.name, body, now),
        }
        .map_err(Rejection::Invalid)?;
        Ok(NewEvent {
            raw_data: None,
            event: normalized.event,
            idempotency_key: normalized.idempotency_key,
            sinks: Vec::new(),
            alarms: normalized.alarms,
        })
    }

    /// Webex: adds the message or card action the event points to (a request to the Webex API).
    pub async fn enrich(&self, item: &mut NewEvent) {
        if let Some(fetcher) = &self.fetcher {
            // The fetcher reads and extends `data`: a body kept as text becomes a value first.
            if let Some(raw) = item.raw_data.take()
                && let Ok(data) = serde_json::from_slice(&raw)
            {
                item.event.data = data;
            }
            fetcher.enrich(&mut item.event).await;
        }
    }

    /// SD-WAN Manager: the body itself becomes the event's data (see [`sdwan::ingest`]).
    fn normalize_sdwan(&self, body: &bytes::Bytes) -> Result<NewEvent, Invalid> {
        sdwan::new_event(&self.name, body, self.vmanage_url.as_deref()).map_err(|error| Invalid {
            kind: match error {
                sdwan::SdwanError::Malformed { .. } => "malformed",
                sdwan::SdwanError::NotAnAlarm { .. } => "not_an_alarm",
            },
            reason: error.to_string(),
        })
    }
}
