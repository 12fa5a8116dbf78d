//! `POST /api/v1/alarms/{key}/ack` and `/close` (scope `ack`, which `admin` includes): an
//! operator acknowledges or closes an alarm through the [`crate::operator::Operator`], as a
//! button on a Webex card does. The key is one path segment, percent-encoded: alarm keys hold
//! `:` and `/` (`leaf-1:sys/phys-[eth1/1]` is `leaf-1%3Asys%2Fphys-%5Beth1%2F1%5D`).
//!
//! The body is optional: `{"note": "checking the optics"}`. The answer says what the alarm's
//! operator state is now and whether this request changed it (`"changed": false` when it was
//! already so: the request is idempotent). 202 when the action is stored but the alerting router
//! has not applied it within its timeout.

use axum::Extension;
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::auth::Caller;
use super::silences::{actor, operator_error};
use super::{ApiError, ApiState};
use crate::operator::{Applied, OperatorState};

/// The longest note taken: it is repeated in the summary of the operator event and in rooms.
const MAX_NOTE_CHARS: usize = 1000;

/// `POST /api/v1/alarms/{key}/ack`.
pub(super) async fn acknowledge(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    Path(key): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let note = parse_note(&body)?;
    let applied = state
        .operator
        .acknowledge(&key, &actor(&caller), &note)
        .await
        .map_err(operator_error)?;
    Ok(answer(&key, applied))
}

/// `POST /api/v1/alarms/{key}/close`.
pub(super) async fn close(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    Path(key): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let note = parse_note(&body)?;
    let applied = state
        .operator
        .close(&key, &actor(&caller), &note)
        .await
        .map_err(operator_error)?;
    Ok(answer(&key, applied))
}

/// `{"key", "operator": OperatorState, "changed", "seq"?}`: 200, or 202 when the router has not
/// applied the new operator event yet.
fn answer(key: &str, applied: Applied<OperatorState>) -> Response {
    match applied {
        Applied::Done { seq, routed, value } => {
            let status = if routed {
                StatusCode::OK
            } else {
                StatusCode::ACCEPTED
            };
            let body = json!({"key": key, "operator": value, "changed": true, "seq": seq});
            (status, Json(body)).into_response()
        }
        Applied::AlreadySo(value) => {
            let body = json!({"key": key, "operator": value, "changed": false});
            (StatusCode::OK, Json(body)).into_response()
        }
    }
}

/// The optional body: empty, or `{"note": "..."}`.
fn parse_note(body: &[u8]) -> Result<String, ApiError> {
    if body.trim_ascii().is_empty() {
        return Ok(String::new());
    }
    let example = r#"{"note": "checking the optics"}"#;
    let value: Value = serde_json::from_slice(body).map_err(|error| {
        ApiError::bad_request(format!(
            "the body is not JSON ({error}): send nothing, or an object such as {example}"
        ))
    })?;
    let Value::Object(mut fields) = value else {
        return Err(ApiError::bad_request(format!(
            "the body must be a JSON object such as {example}"
        )));
    };
    let note = match fields.remove("note") {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(note)) => note.trim().to_owned(),
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "note must be a string, not {other}"
            )));
        }
    };
    if let Some(unknown) = fields.keys().next() {
        return Err(ApiError::bad_request(format!(
            "unknown field {unknown:?}; the only field is note"
        )));
    }
    if note.chars().count() > MAX_NOTE_CHARS {
        return Err(ApiError::bad_request(format!(
            "note has more than {MAX_NOTE_CHARS} characters"
        )));
    }
    Ok(note)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_body_is_optional_and_takes_only_a_note() {
        assert_eq!(parse_note(b"").unwrap(), "");
        assert_eq!(parse_note(b" {} ").unwrap(), "");
        assert_eq!(parse_note(br#"{"note": " optics "}"#).unwrap(), "optics");
        assert_eq!(parse_note(br#"{"note": null}"#).unwrap(), "");
        for bad in [&b"{"[..], b"[]", br#"{"note": 1}"#, br#"{"nte": "x"}"#] {
            let error = parse_note(bad).unwrap_err();
            assert_eq!(error.status, StatusCode::BAD_REQUEST, "{}", error.message);
        }
        let long = format!(r#"{{"note": "{}"}}"#, "x".repeat(MAX_NOTE_CHARS + 1));
        assert!(parse_note(long.as_bytes()).is_err());
    }
}
