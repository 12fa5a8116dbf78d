//! `POST /api/v1/reload` (admin scope): the configuration file read again, as on SIGHUP.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::ApiState;
use crate::gateway::ReloadError;

/// 200 with what was started, stopped, restarted and kept; 422 with every configuration error and
/// its place when the file is not valid (nothing changed); 409 when there is no file to read or
/// netpulse is stopping.
pub(super) async fn reload(State(state): State<ApiState>) -> Response {
    match state.reloader.reload().await {
        Ok(report) => Json(report).into_response(),
        Err(ReloadError::Invalid(errors)) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            Json(json!({
                "error": "the configuration is not valid, nothing was changed: correct the errors listed and reload again",
                "code": "invalid_configuration",
                "errors": errors,
            })),
        )
            .into_response(),
        Err(error) => (
            StatusCode::CONFLICT,
            Json(json!({"error": error.to_string(), "code": "conflict"})),
        )
            .into_response(),
    }
}
