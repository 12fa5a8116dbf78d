//! The simulator's control API, served on every device's own listener under `/_sim/`.
//!
//! It has NO authentication: `netpulse sim dme` is a lab tool, and anyone who can reach the port
//! can change the device or break its sessions. It keeps answering while the device is "down"
//! after a simulated restart, so a test can watch and steer through the outage.
//!
//! | Route | Body | Answer |
//! |---|---|---|
//! | `POST /_sim/change` | a [`Change`], e.g. `{"op":"set","dn":"sys/intf/phys-[eth1/1]/phys","attrs":{"operSt":"down"}}`, `{"op":"create","class":"l2BD","dn":"sys/bd/bd-[vlan-300]","attrs":{}}`, `{"op":"delete","dn":"sys/bd/bd-[vlan-300]"}`, `{"op":"random","count":10}` | `200 {"ok":true}`; `400` with the reason (bad JSON, unknown dn, ...) |
//! | `POST /_sim/fault` | a [`Fault`], e.g. `{"fault":"drop_sockets"}`, `{"fault":"expire_sessions"}`, `{"fault":"lose_subscriptions"}`, `{"fault":"restart","down_for_ms":5000}`, `{"fault":"delay_refresh","delay_ms":3000,"count":2}`, `{"fault":"fail_refresh","count":1}`, `{"fault":"refuse_logins","for_ms":10000}`, `{"fault":"refresh_unavailable","for_ms":10000}` | `200 {"ok":true}`; `400` with the reason |
//! | `GET /_sim/dump` | none | JSON array of [`DumpedMo`](super::DumpedMo), sorted by dn |
//! | `GET /_sim/stats` | none | [`SimStats`](super::SimStats) as JSON |
//!
//! Errors are `{"error":"<reason>"}`.

use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::de::DeserializeOwned;
use serde_json::json;

use super::api::{Change, Fault};
use super::device::{DeviceInner, SimDevice};

/// The `/_sim/` routes; the caller adds the state.
pub fn routes() -> Router<Arc<DeviceInner>> {
    Router::new()
        .route("/_sim/change", post(change))
        .route("/_sim/fault", post(fault))
        .route("/_sim/dump", get(dump))
        .route("/_sim/stats", get(stats))
}

async fn change(State(device): State<Arc<DeviceInner>>, body: Bytes) -> Response {
    let change: Change = match parse_body(&body) {
        Ok(change) => change,
        Err(reason) => return bad_request(reason),
    };
    match (SimDevice { inner: device }).apply(change) {
        Ok(()) => ok(),
        Err(error) => bad_request(format!("{error:#}")),
    }
}

async fn fault(State(device): State<Arc<DeviceInner>>, body: Bytes) -> Response {
    match parse_body::<Fault>(&body) {
        Ok(fault) => {
            SimDevice { inner: device }.fault(fault);
            ok()
        }
        Err(reason) => bad_request(reason),
    }
}

async fn dump(State(device): State<Arc<DeviceInner>>) -> Response {
    Json(SimDevice { inner: device }.dump()).into_response()
}

async fn stats(State(device): State<Arc<DeviceInner>>) -> Response {
    Json(SimDevice { inner: device }.stats()).into_response()
}

fn parse_body<T: DeserializeOwned>(body: &[u8]) -> Result<T, String> {
    serde_json::from_slice(body).map_err(|error| format!("invalid body: {error}"))
}

fn ok() -> Response {
    Json(json!({"ok": true})).into_response()
}

fn bad_request(reason: String) -> Response {
    (StatusCode::BAD_REQUEST, Json(json!({"error": reason}))).into_response()
}
