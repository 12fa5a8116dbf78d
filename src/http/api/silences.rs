//! `/api/v1/silences` and `/api/v1/windows`: silences and one-off maintenance windows
//! ([`Mute`]s), created, listed and ended through the API.
//!
//! Creating or ending one goes through the [`Operator`], as a button or a command in a Webex
//! room does: it appends an operator event (`io.netpulse.operator.silence.created`,
//! `.silence.expired`, `.window.created`, `.window.deleted`) to the store's log through the
//! pipeline, so the history and the feed show who did what and every node applies it in log
//! order. The request waits (at most [`crate::operator::APPLY_TIMEOUT`]) until the alerting router has applied it,
//! so that a list right after the answer shows the change (202 when it has not). The list reads
//! the router's persisted state: rows keyed [`MUTE_KEY_PREFIX`]`<id>` holding the [`Mute`].

use axum::Extension;
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use super::auth::Caller;
use super::{ApiError, ApiState};
use crate::config::EventMatcher;
use crate::operator::{Applied, MAX_SPAN, OperatorError};
#[cfg(test)]
use crate::operator::{MUTE_KEY_PREFIX, mutes_in_state};
use crate::route::{Matcher, Mute, MuteKind};

/// The body fields of a create request.
const FIELDS: [&str; 5] = ["matchers", "starts_at", "ends_at", "duration", "comment"];

/// What one kind of mute is called in paths and answers.
struct Kind {
    kind: MuteKind,
    /// The collection's name: `silences`, `windows` (also the list's JSON key).
    plural: &'static str,
}

const SILENCE: Kind = Kind {
    kind: MuteKind::Silence,
    plural: "silences",
};

const WINDOW: Kind = Kind {
    kind: MuteKind::Window,
    plural: "windows",
};

/// `GET /api/v1/silences`: the silences active now or starting later, soonest first.
pub(super) async fn list_silences(State(state): State<ApiState>) -> Result<Response, ApiError> {
    list(&state, &SILENCE).await
}

/// `GET /api/v1/windows`: the one-off maintenance windows active now or starting later.
pub(super) async fn list_windows(State(state): State<ApiState>) -> Result<Response, ApiError> {
    list(&state, &WINDOW).await
}

/// `POST /api/v1/silences` (admin scope).
pub(super) async fn create_silence(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    body: Bytes,
) -> Result<Response, ApiError> {
    create(&state, &SILENCE, &caller, &body).await
}

/// `POST /api/v1/windows` (admin scope).
pub(super) async fn create_window(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    body: Bytes,
) -> Result<Response, ApiError> {
    create(&state, &WINDOW, &caller, &body).await
}

/// `DELETE /api/v1/silences/{id}` (admin scope): the silence expires now.
pub(super) async fn expire_silence(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    end(&state, &SILENCE, &caller, id).await
}

/// `DELETE /api/v1/windows/{id}` (admin scope): the window ends now.
pub(super) async fn delete_window(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    end(&state, &WINDOW, &caller, id).await
}

/// Cluster mode runs no alerting router yet (issue 22: a leased router whose steps are
/// replicated comes later), so there is nothing a silence or a window would act on: 501.
fn refuse_in_cluster(state: &ApiState) -> Result<(), ApiError> {
    if state.pipeline.cluster().is_none() {
        return Ok(());
    }
    Err(ApiError {
        status: StatusCode::NOT_IMPLEMENTED,
        code: "not_implemented",
        message: "silences and maintenance windows are not available in cluster mode yet: the alerting router does not run when `cluster:` is set (use each sink's `match:` instead)".to_owned(),
    })
}

async fn list(state: &ApiState, kind: &Kind) -> Result<Response, ApiError> {
    refuse_in_cluster(state)?;
    let mutes = state
        .operator
        .mutes(kind.kind)
        .await
        .map_err(operator_error)?;
    let mut body = Map::new();
    body.insert(kind.plural.to_owned(), json!(mutes));
    Ok(Json(Value::Object(body)).into_response())
}

async fn create(
    state: &ApiState,
    kind: &Kind,
    caller: &Caller,
    body: &[u8],
) -> Result<Response, ApiError> {
    refuse_in_cluster(state)?;
    let now = jiff::Timestamp::now();
    let mute = parse_mute(
        body,
        kind.kind,
        &caller.name,
        now,
        crate::event::new_event_id(),
    )?;
    let operator = &state.operator;
    let applied = operator
        .create_mute(mute, &actor(caller))
        .await
        .map_err(operator_error)?;
    Ok(answer(applied, StatusCode::CREATED))
}

async fn end(
    state: &ApiState,
    kind: &Kind,
    caller: &Caller,
    id: String,
) -> Result<Response, ApiError> {
    refuse_in_cluster(state)?;
    let applied = state
        .operator
        .end_mute(kind.kind, &id, &actor(caller))
        .await
        .map_err(|error| match error {
            OperatorError::NotFound(message) => ApiError::not_found(format!(
                "{message}: list them with GET /api/v1/{}",
                kind.plural
            )),
            error => operator_error(error),
        })?;
    Ok(answer(applied, StatusCode::OK))
}

/// The answer to an action: `done` with the value; 202 instead when the router has not applied
/// the event in time (or is not running): the operator event is stored and will be applied, but
/// a list right now may not show it yet; 200 when it was already so.
fn answer<T: serde::Serialize>(applied: Applied<T>, done: StatusCode) -> Response {
    match applied {
        Applied::Done { routed, value, .. } => {
            let status = if routed { done } else { StatusCode::ACCEPTED };
            (status, Json(value)).into_response()
        }
        Applied::AlreadySo(value) => (StatusCode::OK, Json(value)).into_response(),
    }
}

/// The API caller as an operator: the token's name.
pub(super) fn actor(caller: &Caller) -> crate::operator::Actor {
    crate::operator::Actor {
        name: caller.name.clone(),
        via: crate::operator::Via::Api {
            token: caller.name.clone(),
        },
    }
}

/// An operator error as the API answers it.
pub(super) fn operator_error(error: OperatorError) -> ApiError {
    match error {
        OperatorError::NotFound(message) => ApiError::not_found(message),
        OperatorError::Conflict(message) => ApiError {
            status: StatusCode::CONFLICT,
            code: "conflict",
            message,
        },
        OperatorError::Store(error) => ApiError::store(&error),
    }
}

/// A create request's body as a [`Mute`], every mistake a 400 naming its field:
/// `{"matchers": EventMatcher, "starts_at"?: RFC 3339 (default now), "ends_at": RFC 3339 |
/// "duration": "2h", "comment": "why"}`.
pub(super) fn parse_mute(
    body: &[u8],
    kind: MuteKind,
    created_by: &str,
    now: jiff::Timestamp,
    id: String,
) -> Result<Mute, ApiError> {
    let example =
        r#"{"matchers": {"device": ["edge-1"]}, "duration": "2h", "comment": "change 1234"}"#;
    let body: Value = serde_json::from_slice(body).map_err(|error| {
        ApiError::bad_request(format!(
            "the body is not JSON ({error}): send an object such as {example}"
        ))
    })?;
    let Value::Object(mut fields) = body else {
        return Err(ApiError::bad_request(format!(
            "the body must be a JSON object such as {example}"
        )));
    };
    if let Some(unknown) = fields.keys().find(|key| !FIELDS.contains(&key.as_str())) {
        return Err(ApiError::bad_request(format!(
            "unknown field {unknown:?}; the fields are {}",
            FIELDS.join(", ")
        )));
    }
    let matcher: EventMatcher = match fields.remove("matchers") {
        None | Some(Value::Null) => {
            return Err(ApiError::bad_request(
                "matchers is required: the events to mute, e.g. {\"device\": [\"edge-1\"]} (fields: source, device, type, type_prefix, min_severity, alarmstate, subject_prefix, data)",
            ));
        }
        Some(value) => serde_json::from_value(value)
            .map_err(|error| ApiError::bad_request(format!("matchers: {error}")))?,
    };
    if matcher == EventMatcher::default() {
        return Err(ApiError::bad_request(
            "matchers is empty, which would mute every event: name at least a source, device, type, type_prefix, subject_prefix or data condition",
        ));
    }
    Matcher::new(&matcher).map_err(|error| ApiError::bad_request(format!("matchers: {error}")))?;
    let comment = match fields.remove("comment") {
        Some(Value::String(comment)) if !comment.trim().is_empty() => comment.trim().to_owned(),
        Some(Value::String(_)) | None | Some(Value::Null) => {
            return Err(ApiError::bad_request(
                "comment is required: say why (a change number, who to call), it is shown with every muted alarm",
            ));
        }
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "comment must be a string, not {other}"
            )));
        }
    };
    let starts_at = match text_field(&mut fields, "starts_at")? {
        Some(text) => timestamp("starts_at", &text)?,
        None => now,
    };
    let ends_at = match (
        text_field(&mut fields, "ends_at")?,
        text_field(&mut fields, "duration")?,
    ) {
        (Some(_), Some(_)) => {
            return Err(ApiError::bad_request("give ends_at or duration, not both"));
        }
        (None, None) => {
            return Err(ApiError::bad_request(
                "ends_at (RFC 3339) or duration (such as \"2h\") is required",
            ));
        }
        (Some(text), None) => timestamp("ends_at", &text)?,
        (None, Some(text)) => {
            let duration = crate::duration::parse_duration(&text)
                .map_err(|error| ApiError::bad_request(format!("duration: {error}")))?;
            if duration.is_zero() {
                return Err(ApiError::bad_request("duration must be more than 0"));
            }
            jiff::SignedDuration::try_from(duration)
                .ok()
                .and_then(|duration| starts_at.checked_add(duration).ok())
                .ok_or_else(|| ApiError::bad_request(format!("duration {text:?} is too long")))?
        }
    };
    if ends_at <= starts_at {
        return Err(ApiError::bad_request(format!(
            "ends_at ({ends_at}) must be after starts_at ({starts_at})"
        )));
    }
    if ends_at <= now {
        return Err(ApiError::bad_request(format!(
            "ends_at ({ends_at}) is already past: it would mute nothing"
        )));
    }
    if starts_at.duration_until(ends_at) > MAX_SPAN {
        return Err(ApiError::bad_request(format!(
            "a mute lasts at most {} days (from starts_at to ends_at); use the configuration's time_intervals for lasting quiet hours",
            MAX_SPAN.as_hours() / 24
        )));
    }
    Ok(Mute {
        id,
        kind,
        matcher,
        starts_at,
        ends_at,
        comment,
        created_by: created_by.to_owned(),
        created_at: now,
        expired_by: None,
    })
}

/// An optional string field; `null` counts as absent.
fn text_field(fields: &mut Map<String, Value>, name: &str) -> Result<Option<String>, ApiError> {
    match fields.remove(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => Ok(Some(text)),
        Some(other) => Err(ApiError::bad_request(format!(
            "{name} must be a string, not {other}"
        ))),
    }
}

fn timestamp(name: &str, text: &str) -> Result<jiff::Timestamp, ApiError> {
    text.parse().map_err(|_| {
        ApiError::bad_request(format!(
            "{name} {text:?} is not an RFC 3339 time such as 2026-11-28T10:00:00Z"
        ))
    })
}

#[cfg(test)]
mod tests;
