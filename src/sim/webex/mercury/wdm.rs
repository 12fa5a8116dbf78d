//! The WDM device registrations of the Webex simulator: list, register, read, refresh and
//! delete under `/wdm/api/v1/devices`, each visible only to the token that registered it.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::super::Inner;
use super::super::api::admit;
use super::{MercuryState, Registration, Shared};

pub(super) fn not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        axum::Json(
            json!({"message": "Device not found", "errors": [{"description": "Device not found"}]}),
        ),
    )
        .into_response()
}

pub(super) async fn list_devices(State(inner): State<Shared>, headers: HeaderMap) -> Response {
    let caller = match admit(&inner, &headers).await {
        Ok(caller) => caller,
        Err(response) => return response,
    };
    let state = inner.mercury.lock();
    let devices: Vec<Value> = state
        .registrations
        .iter()
        .filter(|registration| registration.owner == caller.token)
        .map(|registration| inner.mercury.device_json(registration))
        .collect();
    axum::Json(json!({ "devices": devices })).into_response()
}

pub(super) async fn register(
    State(inner): State<Shared>,
    headers: HeaderMap,
    axum::Json(body): axum::Json<Value>,
) -> Response {
    let caller = match admit(&inner, &headers).await {
        Ok(caller) => caller,
        Err(response) => return response,
    };
    let registration = Registration {
        uuid: uuid::Uuid::now_v7().to_string(),
        owner: caller.token,
        body,
    };
    let device = inner.mercury.device_json(&registration);
    inner.mercury.lock().registrations.push(registration);
    axum::Json(device).into_response()
}

/// Runs `action` on the caller's registration `uuid`, or answers 404.
async fn with_registration(
    inner: &Inner,
    headers: &HeaderMap,
    uuid: &str,
    action: impl FnOnce(&mut MercuryState, usize) -> Response,
) -> Response {
    let caller = match admit(inner, headers).await {
        Ok(caller) => caller,
        Err(response) => return response,
    };
    let mut state = inner.mercury.lock();
    match state
        .registrations
        .iter()
        .position(|registration| registration.uuid == uuid && registration.owner == caller.token)
    {
        Some(index) => action(&mut state, index),
        None => not_found(),
    }
}

pub(super) async fn get_device(
    State(inner): State<Shared>,
    headers: HeaderMap,
    Path(uuid): Path<String>,
) -> Response {
    let mercury = &inner.mercury;
    with_registration(&inner, &headers, &uuid, |state, index| {
        axum::Json(mercury.device_json(&state.registrations[index])).into_response()
    })
    .await
}

pub(super) async fn refresh(
    State(inner): State<Shared>,
    headers: HeaderMap,
    Path(uuid): Path<String>,
    axum::Json(body): axum::Json<Value>,
) -> Response {
    let mercury = &inner.mercury;
    with_registration(&inner, &headers, &uuid, |state, index| {
        state.registrations[index].body = body;
        axum::Json(mercury.device_json(&state.registrations[index])).into_response()
    })
    .await
}

pub(super) async fn unregister(
    State(inner): State<Shared>,
    headers: HeaderMap,
    Path(uuid): Path<String>,
) -> Response {
    with_registration(&inner, &headers, &uuid, |state, index| {
        state.registrations.remove(index);
        StatusCode::NO_CONTENT.into_response()
    })
    .await
}

pub(super) async fn control_stats(State(inner): State<Shared>) -> Response {
    axum::Json(inner.mercury.stats()).into_response()
}
