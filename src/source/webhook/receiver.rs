//! One configured webhook receiver and the room every request goes through: credentials (401),
//! content type (415), size (413, before reading a body that is too large when Content-Length
//! says so), the body within `http.body_timeout` (408), the signature or secret over the raw body
//! (401), then the provider's normalization of the [`Verified`] request (400). A request that
//! passes them all is acknowledged only after its event is committed to the store (200), or told
//! to come back (503) when the store cannot write.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{HeaderMap, header};
use bytes::Bytes;
use http_body_util::BodyExt;

use super::verify::{Signed, Verified, Verifier};
use super::{Invalid, Normalized, OUTCOMES, Outcome, catalyst_center, generic, intersight};
use super::{mapping, meraki, sdwan, thousandeyes, webex};
use crate::config::{WebhookProvider, WebhookSourceConfig};
use crate::pipeline::Pipeline;
use crate::source::SourceStatus;
use crate::store::{NewEvent, StoreError};

/// One configured receiver.
pub struct WebhookReceiver {
    pub name: String,
    pub path: String,
    pub provider: WebhookProvider,
    /// How a request proves where it comes from.
    verifier: Verifier,
    /// How a verified request becomes an event, with the provider's settings.
    normalizer: Normalizer,
    /// `provider: webex`: fetches what a notification points to.
    fetcher: Option<crate::webex_api::Fetcher>,
    max_body_bytes: usize,
    /// The time the whole body has to arrive (`http.body_timeout`).
    body_timeout: Duration,
    pub status: Arc<SourceStatus>,
    /// `netpulse_webhook_requests_total{source, outcome}`, registered once, each with the
    /// throttle of its log line: refused requests come in floods (a sender with a wrong secret,
    /// a scan, every request while the store cannot write), so each kind of refusal is logged at
    /// most once per interval while the metric counts every one.
    outcomes: Vec<(&'static str, metrics::Counter, crate::throttle::Throttle)>,
    /// `netpulse_webhook_request_seconds{source}`.
    latency: metrics::Histogram,
}

/// A provider's normalizer with what it needs from the configuration.
enum Normalizer {
    Sdwan {
        vmanage_url: Option<String>,
    },
    Meraki,
    CatalystCenter {
        base_url: Option<String>,
    },
    Thousandeyes,
    Intersight,
    Webex,
    /// `None` only if the mapping did not compile, which configuration validation refuses.
    Generic(Option<Box<mapping::Mapping>>),
    StandardWebhooks,
    Cloudevents,
}

impl Normalizer {
    fn new(config: &WebhookSourceConfig) -> Normalizer {
        match config.provider {
            WebhookProvider::Sdwan => Normalizer::Sdwan {
                vmanage_url: config.vmanage_url.clone(),
            },
            WebhookProvider::Meraki => Normalizer::Meraki,
            WebhookProvider::CatalystCenter => Normalizer::CatalystCenter {
                base_url: config.base_url.clone(),
            },
            WebhookProvider::Thousandeyes => Normalizer::Thousandeyes,
            WebhookProvider::Intersight => Normalizer::Intersight,
            WebhookProvider::Webex => Normalizer::Webex,
            WebhookProvider::Generic => Normalizer::Generic(
                config
                    .mapping
                    .as_ref()
                    .and_then(|mapping| mapping::Mapping::new(&config.name, mapping).ok())
                    .map(Box::new),
            ),
            WebhookProvider::StandardWebhooks => Normalizer::StandardWebhooks,
            WebhookProvider::Cloudevents => Normalizer::Cloudevents,
        }
    }

    fn normalize(&self, source_name: &str, request: &Verified) -> Result<Normalized, Invalid> {
        match self {
            Normalizer::Sdwan { vmanage_url } => {
                sdwan::normalize(source_name, request, vmanage_url.as_deref())
            }
            Normalizer::Meraki => meraki::normalize(source_name, request),
            Normalizer::CatalystCenter { base_url } => {
                catalyst_center::normalize(source_name, request, base_url.as_deref())
            }
            Normalizer::Thousandeyes => thousandeyes::normalize(source_name, request),
            Normalizer::Intersight => intersight::normalize(source_name, request),
            Normalizer::Webex => webex::normalize(source_name, request),
            Normalizer::Generic(Some(mapping)) => mapping.normalize(source_name, request),
            Normalizer::Generic(None) => Err(Invalid::unrecognized("this receiver has no mapping")),
            Normalizer::StandardWebhooks => generic::standard_webhook(source_name, request),
            Normalizer::Cloudevents => generic::cloudevent(source_name, request),
        }
    }
}

/// One request as the HTTP server hands it over.
pub struct Request<'a> {
    pub method: &'a str,
    pub path_and_query: &'a str,
    pub headers: &'a HeaderMap,
    pub body: Body,
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
            normalizer: Normalizer::new(config),
            fetcher: (config.provider == WebhookProvider::Webex)
                .then(|| {
                    let base = config.base_url.as_deref().unwrap_or("https://webexapis.com");
                    let token = config.token.as_ref().map(crate::config::Secret::expose);
                    crate::webex_api::Fetcher::new(&config.name, base, token.unwrap_or(""))
                        .inspect_err(|error| tracing::error!(source = %config.name, error = %format!("{error:#}"), "cannot build the Webex API client"))
                        .ok()
                })
                .flatten(),
            max_body_bytes: config.max_body_bytes.unwrap_or(http.max_body_bytes),
            body_timeout: http.body_timeout,
            status,
        }
    }

    /// Runs every check on one request, in order, and stores the event of a request that passes
    /// them all: the request's one [`Outcome`].
    pub async fn receive(&self, pipeline: &Pipeline, request: Request<'_>) -> Outcome {
        let headers = request.headers;
        let checked = match self.verifier.check_headers(headers) {
            Ok(checked) => checked,
            Err(refused) => return Outcome::Unauthorized(refused),
        };
        if let Err(outcome) = check_encoding(headers) {
            return outcome;
        }
        let body = match self.read_body(headers, request.body).await {
            Ok(body) => body,
            Err(outcome) => return outcome,
        };
        let signed = Signed {
            method: request.method,
            path_and_query: request.path_and_query,
            headers,
            body: &body,
            now: jiff::Timestamp::now(),
        };
        let verified = match self.verifier.verify(checked, &signed, &body) {
            Ok(verified) => verified,
            Err(refused) => return Outcome::Unauthorized(refused),
        };
        let mut normalized = match self.normalizer.normalize(&self.name, &verified) {
            Ok(normalized) => normalized,
            Err(invalid) => {
                return Outcome::Invalid {
                    kind: invalid.kind,
                    reason: invalid.reason,
                };
            }
        };
        if let Some(fetcher) = &self.fetcher {
            fetcher.enrich(&mut normalized.event).await;
        }
        self.store(pipeline, normalized).await
    }

    /// The whole body, within the size limit and `http.body_timeout`.
    async fn read_body(&self, headers: &HeaderMap, body: Body) -> Result<Bytes, Outcome> {
        let limit = self.max_body_bytes;
        let declared = headers
            .get(header::CONTENT_LENGTH)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.parse::<u64>().ok());
        if declared.is_some_and(|length| length > limit as u64) {
            return Err(Outcome::TooLarge { limit });
        }
        let after = self.body_timeout;
        let collect = http_body_util::Limited::new(body, limit).collect();
        let Ok(collected) = tokio::time::timeout(after, collect).await else {
            return Err(Outcome::TimedOut { after });
        };
        match collected {
            Ok(collected) => Ok(collected.to_bytes()),
            Err(error) if error.is::<http_body_util::LengthLimitError>() => {
                Err(Outcome::TooLarge { limit })
            }
            Err(error) => Err(Outcome::Invalid {
                kind: "malformed",
                reason: format!("the body could not be read: {error}"),
            }),
        }
    }

    /// Appends the event; its keys are this source's (a provider that forgot the scope gets it
    /// here, on a path no provider takes).
    async fn store(&self, pipeline: &Pipeline, normalized: Normalized) -> Outcome {
        let mut item = NewEvent::from(normalized);
        let keys = item
            .idempotency_key
            .iter_mut()
            .chain(item.alarms.iter_mut().map(|alarm| &mut alarm.key));
        for key in keys {
            if !super::scoped(key, &self.name) {
                key.insert(0, ':');
                key.insert_str(0, &self.name);
            }
        }
        match pipeline.ingest(&mut [item]).await {
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

    /// Counts, times, logs and records one request's outcome: one metric, one (throttled) log
    /// line and one status change per request.
    pub fn record(
        &self,
        outcome: &Outcome,
        peer: SocketAddr,
        headers: &HeaderMap,
        started: Instant,
    ) {
        let label = outcome.label();
        if let Some((_, counter, _)) = self.outcomes.iter().find(|(known, ..)| *known == label) {
            counter.increment(1);
        }
        self.latency.record(started.elapsed().as_secs_f64());
        outcome.log(self, peer, headers);
        outcome.record_status(&self.status);
    }

    /// Whether to log a request with this outcome: `Some(n)`, `n` being how many like it were
    /// left out since the last line (see [`crate::throttle`]).
    pub(super) fn admit_log(&self, outcome: &str) -> Option<u64> {
        let (_, _, throttle) = self.outcomes.iter().find(|(known, ..)| *known == outcome)?;
        throttle.admit(Instant::now())
    }
}

/// JSON bodies only, uncompressed: one `Content-Type` of `application/json`, or any `+json` type,
/// parameters allowed.
fn check_encoding(headers: &HeaderMap) -> Result<(), Outcome> {
    check_content_type(headers).map_err(Outcome::UnsupportedMediaType)?;
    if let Some(encoding) = headers
        .get(header::CONTENT_ENCODING)
        .filter(|value| !value.as_bytes().eq_ignore_ascii_case(b"identity"))
    {
        let found = String::from_utf8_lossy(encoding.as_bytes());
        return Err(Outcome::UnsupportedMediaType(format!(
            "application/json with Content-Encoding {found}"
        )));
    }
    Ok(())
}

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

/// What the store appends for a normalized request (no sink named yet: the pipeline routes it).
impl From<Normalized> for NewEvent {
    fn from(normalized: Normalized) -> NewEvent {
        NewEvent {
            event: normalized.event,
            raw_data: normalized.raw_data,
            idempotency_key: normalized.idempotency_key,
            sinks: Vec::new(),
            alarms: normalized.alarms,
        }
    }
}
