//! Alarms, the health of sources and sinks, and dead letters.

use axum::Extension;
use axum::Json;
use axum::extract::{Path, RawQuery, State};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::{Value, json};

use super::auth::Caller;
use super::{ApiError, ApiState, params};
use crate::source::{SourceHandle, StatusSnapshot};
use crate::store::{AlarmFilter, AlarmView};

/// Alarms listed at most.
const MAX_ALARMS: usize = 5000;
/// Dead letters listed at most.
const MAX_DEAD: usize = 1000;

/// `GET /api/v1/alarms?state=active|acknowledged|closed|cleared|all`: active ones by default
/// (raised and not closed by an operator; `acknowledged` and `closed` are raised ones an
/// operator acknowledged or closed).
pub(super) async fn alarms(
    State(state): State<ApiState>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let mut which = AlarmFilter::Active;
    for (key, value) in params::pairs(query.as_deref().unwrap_or("")) {
        match (key.as_str(), value.as_str()) {
            ("state", "active") => which = AlarmFilter::Active,
            ("state", "acknowledged") => which = AlarmFilter::Acknowledged,
            ("state", "closed") => which = AlarmFilter::Closed,
            ("state", "cleared") => which = AlarmFilter::Cleared,
            ("state", "all") => which = AlarmFilter::All,
            ("state", other) => {
                return Err(ApiError::bad_request(format!(
                    "query parameter state={other:?} is not valid: expected active, acknowledged, closed, cleared or all"
                )));
            }
            ("access_token", _) => {}
            (other, _) => {
                return Err(ApiError::bad_request(format!(
                    "unknown query parameter {other:?}; the only one is state"
                )));
            }
        }
    }
    let alarms = state
        .pool
        .read(move |reader| reader.alarms(which, MAX_ALARMS))
        .await
        .map_err(|error| ApiError::store(&error))?;
    let alarms: Vec<Value> = alarms.iter().map(alarm_json).collect();
    Ok(Json(json!({ "alarms": alarms })).into_response())
}

fn alarm_json(alarm: &AlarmView) -> Value {
    json!({
        "key": alarm.row.key,
        "raised": alarm.row.raised,
        "first_seq": alarm.row.first_seq,
        "last_seq": alarm.row.last_seq,
        "events": alarm.events,
        "first_seen": alarm.first_seen,
        "last_seen": alarm.last_seen,
        "updated": alarm.row.updated,
        "source": alarm.source,
        "device": alarm.device,
        "severity": alarm.severity,
        "type": alarm.kind,
        "summary": alarm.summary,
        "operator": alarm.operator,
    })
}

/// One source as the API shows it: its name and kind, then its status.
#[derive(Serialize)]
struct SourceView<'a> {
    name: &'a str,
    #[serde(rename = "type")]
    kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    provider: Option<&'static str>,
    /// Webhooks: requests accepted (the same as `events`).
    #[serde(skip_serializing_if = "Option::is_none")]
    accepted: Option<u64>,
    #[serde(flatten)]
    status: StatusSnapshot,
}

fn source_view(source: &SourceHandle) -> SourceView<'_> {
    let (kind, provider) = source.kind();
    let status = source.status.snapshot();
    SourceView {
        name: &source.name,
        kind,
        provider,
        accepted: provider.map(|_| status.events),
        status,
    }
}

/// `GET /api/v1/sources`.
pub(super) async fn sources(State(state): State<ApiState>) -> Response {
    let sources = state.sources.list();
    let sources: Vec<SourceView> = sources.iter().map(|source| source_view(source)).collect();
    Json(json!({ "sources": sources })).into_response()
}

/// `GET /api/v1/sources/{name}`.
pub(super) async fn source(
    State(state): State<ApiState>,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    let sources = state.sources.list();
    let source = sources
        .iter()
        .find(|source| source.name == name)
        .ok_or_else(|| unknown("source", &name, sources.iter().map(|s| &*s.name)))?;
    Ok(Json(source_view(source)).into_response())
}

/// `GET /api/v1/sinks`: each sink's deliveries by state.
pub(super) async fn sinks(State(state): State<ApiState>) -> Result<Response, ApiError> {
    let names: Vec<String> = sink_configs(&state)
        .iter()
        .map(|s| s.name().to_owned())
        .collect();
    let counts = state
        .pool
        .read(move |reader| {
            names
                .iter()
                .map(|name| reader.outbox_counts(name))
                .collect::<anyhow::Result<Vec<_>>>()
        })
        .await
        .map_err(|error| ApiError::store(&error))?;
    let sinks: Vec<Value> = sink_configs(&state)
        .iter()
        .zip(counts)
        .map(|(sink, counts)| {
            json!({
                "name": sink.name(),
                "type": sink.kind(),
                "pending": counts.pending,
                "delivered": counts.delivered,
                "dead": counts.dead,
            })
        })
        .collect();
    Ok(Json(json!({ "sinks": sinks })).into_response())
}

/// `GET /api/v1/sinks/{name}/dead`: the deliveries the sink gave up on, newest first.
pub(super) async fn dead_letters(
    State(state): State<ApiState>,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    check_sink(&state, &name)?;
    let dead = state
        .pool
        .read(move |reader| reader.dead_letters(&name, MAX_DEAD))
        .await
        .map_err(|error| ApiError::store(&error))?;
    let dead: Vec<Value> = dead
        .into_iter()
        .map(|letter| {
            let event = letter
                .event_json
                .and_then(|json| serde_json::from_str::<Value>(&json).ok());
            json!({
                "id": letter.id,
                "seq": letter.seq,
                "attempts": letter.attempts,
                "last_error": letter.last_error,
                "event": event,
            })
        })
        .collect();
    Ok(Json(json!({ "dead": dead })).into_response())
}

/// `POST /api/v1/sinks/{name}/dead/{id}/retry`: the delivery becomes pending again, due now.
pub(super) async fn retry_dead(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    Path((name, id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    check_sink(&state, &name)?;
    let id: i64 = id.parse().map_err(|_| {
        ApiError::bad_request(format!(
            "{id:?} is not a dead letter id: take the id from GET /api/v1/sinks/{name}/dead"
        ))
    })?;
    requeue_shared(&state, &name, id).await?;
    let store = state.pipeline.store();
    let retried = store
        .retry_dead(&name, id)
        .await
        .map_err(|error| ApiError::store(&anyhow::anyhow!(error)))?;
    if !retried {
        return Err(ApiError::not_found(format!(
            "sink {name:?} has no dead letter {id}: list them with GET /api/v1/sinks/{name}/dead"
        )));
    }
    tracing::info!(caller = %caller.name, sink = %name, id, "dead letter retried");
    metrics::counter!("netpulse_dead_letters_retried_total", "sink" => name.clone()).increment(1);
    state.pipeline.waker(&name).notify_one();
    Ok(Json(json!({ "id": id, "status": "pending" })).into_response())
}

/// A shared sink's dead letter (a Webex sink in cluster mode) is put back through the stream
/// first (`Requeued`), so that every node's outbox, the deliverer's included, makes it pending;
/// the local retry that follows is the same change, made at once. Nothing happens for a sink
/// whose deliveries are this node's alone, nor for an unknown id (the local retry answers 404).
async fn requeue_shared(state: &ApiState, name: &str, id: i64) -> Result<(), ApiError> {
    let Some(config) = sink_configs(state)
        .iter()
        .find(|sink| sink.name() == name)
        .cloned()
    else {
        return Ok(());
    };
    if !state.recorders.is_shared(&config) {
        return Ok(());
    }
    let sink = name.to_owned();
    let seq = state
        .pool
        .read(move |reader| reader.dead_letter_seq(&sink, id))
        .await
        .map_err(|error| ApiError::store(&error))?;
    let Some(seq) = seq else {
        return Ok(());
    };
    match state.recorders.requeued(&config, seq).await {
        Ok(_) => Ok(()),
        Err(error) => {
            tracing::error!(sink = %name, id, error = %format!("{error:#}"), "cannot record a dead letter's retry in the stream");
            Err(ApiError {
                status: axum::http::StatusCode::SERVICE_UNAVAILABLE,
                code: "unavailable",
                message: "the cluster's stream did not record the retry (NATS unreachable or \
                          electing a leader); nothing changed: retry in a few seconds"
                    .to_owned(),
            })
        }
    }
}

fn check_sink(state: &ApiState, name: &str) -> Result<(), ApiError> {
    let sinks = sink_configs(state);
    if sinks.iter().any(|sink| sink.name() == name) {
        return Ok(());
    }
    Err(unknown("sink", name, sinks.iter().map(|sink| sink.name())))
}

/// The sinks configured now.
fn sink_configs(state: &ApiState) -> std::sync::Arc<Vec<crate::config::SinkConfig>> {
    state.sinks.read().expect("sinks lock").clone()
}

fn unknown<'a>(what: &str, name: &str, known: impl Iterator<Item = &'a str>) -> ApiError {
    let known: Vec<&str> = known.collect();
    ApiError::not_found(format!(
        "no {what} is named {name:?}; configured: {}",
        if known.is_empty() {
            "none".to_owned()
        } else {
            known.join(", ")
        }
    ))
}
