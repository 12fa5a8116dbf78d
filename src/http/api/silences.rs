//! `/api/v1/silences` and `/api/v1/windows`: silences and one-off maintenance windows
//! ([`Mute`]s), created, listed and ended through the API.
//!
//! Creating or ending one does not change any state here: it appends an operator event
//! (`io.netpulse.operator.silence.created`, `.silence.expired`, `.window.created`,
//! `.window.deleted`) to the store's log through the pipeline, so the history and the feed show
//! who did what and every node applies it in log order. The alerting router applies it when it
//! reads the log; the request waits (at most [`APPLY_TIMEOUT`]) until it has, so that a list
//! right after the answer shows the change. The list reads the router's persisted state: rows
//! keyed [`MUTE_KEY_PREFIX`]`<id>` holding the [`Mute`].

use std::time::Duration;

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
use crate::event::Event;
use crate::route::{Matcher, Mute, MuteKind, operator_types};
use crate::store::NewEvent;

/// The engine's state rows that hold a mute: `mute/<id>`, with the [`Mute`] in the value (see
/// [`stored_mute`]). The engine (`route::state::MUTE`) names its rows so; if that changes, this
/// prefix is the one place to change here.
pub const MUTE_KEY_PREFIX: &str = "mute/";

/// How long a create or delete waits for the router to apply its operator event.
pub const APPLY_TIMEOUT: Duration = Duration::from_secs(5);

/// The longest a silence or window may last: a mute forgotten for months hides real outages.
/// Longer recurring quiet hours belong in the configuration's `time_intervals`.
pub const MAX_SPAN: jiff::SignedDuration = jiff::SignedDuration::from_hours(90 * 24);

/// The body fields of a create request.
const FIELDS: [&str; 5] = ["matchers", "starts_at", "ends_at", "duration", "comment"];

/// What one kind of mute is called in paths, answers and operator events.
struct Kind {
    kind: MuteKind,
    /// The collection's name: `silences`, `windows` (also the list's JSON key).
    plural: &'static str,
    /// `silence`, `window`.
    singular: &'static str,
    created: &'static str,
    ended: &'static str,
    /// `expired`, `deleted`.
    ended_word: &'static str,
}

const SILENCE: Kind = Kind {
    kind: MuteKind::Silence,
    plural: "silences",
    singular: "silence",
    created: operator_types::SILENCE_CREATED,
    ended: operator_types::SILENCE_EXPIRED,
    ended_word: "expired",
};

const WINDOW: Kind = Kind {
    kind: MuteKind::Window,
    plural: "windows",
    singular: "window",
    created: operator_types::WINDOW_CREATED,
    ended: operator_types::WINDOW_DELETED,
    ended_word: "deleted",
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

async fn list(state: &ApiState, kind: &Kind) -> Result<Response, ApiError> {
    let mutes = current_mutes(state, kind.kind).await?;
    let mut body = Map::new();
    body.insert(kind.plural.to_owned(), json!(mutes));
    Ok(Json(Value::Object(body)).into_response())
}

/// The mutes of `kind` in the router's state that have not ended, soonest first.
async fn current_mutes(state: &ApiState, kind: MuteKind) -> Result<Vec<Mute>, ApiError> {
    let (_, rows) = state
        .pool
        .read(|reader| reader.route_state())
        .await
        .map_err(|error| ApiError::store(&error))?;
    Ok(mutes_in_state(&rows, kind, jiff::Timestamp::now()))
}

/// The mutes of `kind` among the router's state rows that are active at `now` or start later
/// and were not ended early, ordered by start then end.
pub(super) fn mutes_in_state(
    rows: &[(String, String)],
    kind: MuteKind,
    now: jiff::Timestamp,
) -> Vec<Mute> {
    let mut mutes: Vec<Mute> = rows
        .iter()
        .filter(|(key, _)| key.starts_with(MUTE_KEY_PREFIX))
        .filter_map(|(key, value)| match stored_mute(value) {
            Ok(mute) => Some(mute),
            Err(error) => {
                tracing::warn!(%key, %error, "a mute in the router's state is not valid JSON");
                None
            }
        })
        .filter(|mute| mute.kind == kind && mute.expired_by.is_none() && mute.ends_at > now)
        .collect();
    mutes.sort_by(|a, b| (a.starts_at, a.ends_at, &a.id).cmp(&(b.starts_at, b.ends_at, &b.id)));
    mutes
}

/// A mute row's value: the engine keeps the [`Mute`] with its own bookkeeping beside it
/// (`{"mute": Mute, "started": bool}`); a bare `Mute` is taken too.
fn stored_mute(value: &str) -> Result<Mute, serde_json::Error> {
    let mut value: Value = serde_json::from_str(value)?;
    match value.get_mut("mute") {
        Some(mute) if mute.is_object() => serde_json::from_value(mute.take()),
        _ => serde_json::from_value(value),
    }
}

async fn create(
    state: &ApiState,
    kind: &Kind,
    caller: &Caller,
    body: &[u8],
) -> Result<Response, ApiError> {
    let now = jiff::Timestamp::now();
    let mute = parse_mute(
        body,
        kind.kind,
        &caller.name,
        now,
        crate::event::new_event_id(),
    )?;
    let mut event = Event::new(
        crate::route::OWN_SOURCE,
        kind.created,
        now,
        serde_json::to_value(&mute).expect("a mute is plain data"),
    );
    event.summary = created_summary(kind, &mute);
    let applied = append(state, event).await?;
    tracing::info!(
        id = %mute.id,
        by = %caller.name,
        kind = kind.singular,
        starts_at = %mute.starts_at,
        ends_at = %mute.ends_at,
        "mute created through the API"
    );
    Ok((status_of(applied, StatusCode::CREATED), Json(mute)).into_response())
}

async fn end(
    state: &ApiState,
    kind: &Kind,
    caller: &Caller,
    id: String,
) -> Result<Response, ApiError> {
    let mutes = current_mutes(state, kind.kind).await?;
    let Some(mut mute) = mutes.into_iter().find(|mute| mute.id == id) else {
        return Err(ApiError::not_found(format!(
            "there is no active or future {} with id {id:?}: list them with GET /api/v1/{}",
            kind.singular, kind.plural
        )));
    };
    let mut event = Event::new(
        crate::route::OWN_SOURCE,
        kind.ended,
        jiff::Timestamp::now(),
        json!({"id": id, "by": caller.name}),
    );
    event.summary = format!(
        "{} {id} {} by {}{}",
        kind.singular,
        kind.ended_word,
        caller.name,
        if mute.comment.is_empty() {
            String::new()
        } else {
            format!(" (was: {})", mute.comment)
        }
    );
    let applied = append(state, event).await?;
    tracing::info!(%id, by = %caller.name, kind = kind.singular, "mute ended through the API");
    mute.expired_by = Some(caller.name.clone());
    Ok((status_of(applied, StatusCode::OK), Json(mute)).into_response())
}

/// 202 instead of `done` when the router has not applied the event in time (or is not running):
/// the operator event is stored and will be applied, but a list right now may not show it yet.
fn status_of(applied: bool, done: StatusCode) -> StatusCode {
    if applied { done } else { StatusCode::ACCEPTED }
}

/// Appends an operator event through the pipeline (the feed, the history and sinks' `match:`
/// see it) and waits for the router to apply it; true when it has.
async fn append(state: &ApiState, event: Event) -> Result<bool, ApiError> {
    let mut items = [NewEvent::new(event)];
    let appended = state
        .pipeline
        .ingest(&mut items)
        .await
        .map_err(|error| ApiError::store(&anyhow::anyhow!(error)))?;
    let seq = appended.first().map_or(0, |appended| appended.seq);
    let Some(router) = &state.router else {
        return Ok(false);
    };
    let applied = router.wait_applied(seq, APPLY_TIMEOUT).await;
    if !applied {
        tracing::warn!(
            seq,
            "the alerting router has not applied an operator event within {APPLY_TIMEOUT:?}"
        );
    }
    Ok(applied)
}

fn created_summary(kind: &Kind, mute: &Mute) -> String {
    let span = format!(
        "{} to {}",
        mute.starts_at
            .round(jiff::Unit::Second)
            .unwrap_or(mute.starts_at),
        mute.ends_at
            .round(jiff::Unit::Second)
            .unwrap_or(mute.ends_at)
    );
    format!(
        "{} by {} ({span}): {}",
        kind.singular, mute.created_by, mute.comment
    )
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
