//! `GET /api/v1/topology`: the network's map as the alerting router keeps it (read from its
//! state rows): the devices, the links LLDP/CDP report (up or down since when, the alarms on
//! their ends), the roots, and the holds (each root cause and the alarms it holds).

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::{ApiError, ApiState};

/// `GET /api/v1/topology` (read scope). Without `topology:` (or with `enabled: false`):
/// `enabled: false` and nothing else.
pub(super) async fn topology(State(state): State<ApiState>) -> Result<Response, ApiError> {
    let config = state
        .reloader
        .topology()
        .await
        .filter(|config| config.enabled);
    let Some(config) = config else {
        return Ok(Json(json!({"enabled": false})).into_response());
    };
    let rows = state
        .pool
        .read(|reader| Ok(reader.route_state()?.1))
        .await
        .map_err(|error| ApiError::store(&error))?;
    let view = crate::route::topology_view(&config, &rows);
    let mut body =
        serde_json::to_value(view).map_err(|error| ApiError::store(&anyhow::Error::from(error)))?;
    body["enabled"] = json!(true);
    Ok(Json(body).into_response())
}
