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
//! | `GET /_sim/sessions` | none | JSON array of [`SessionView`](super::SessionView): each live API session, its socket, live subscriptions and idle time (a session with a socket and a live subscription is receiving pushes) |
//! | `POST /_sim/link` | a [`LinkAction`], e.g. `{"device":"leaf1","port":"eth1/49","state":"down"}`, `{"device":"leaf1","neighbor":"spine1","state":"up"}` | `200 {"ok":true}`; `400` unknown device or link; `404` without a fabric |
//! | `POST /_sim/device` | a [`DeviceAction`], e.g. `{"device":"spine1","state":"down"}` | `200 {"ok":true}`; `400` unknown device; `404` without a fabric |
//! | `GET /_sim/topology` | none | [`TopologyDump`](super::TopologyDump): switches and cables with their state; `404` without a fabric |
//!
//! The fabric routes act on the whole simulated network, whichever switch's listener receives
//! them; they keep answering while a switch is powered off, like the rest of `/_sim/`.
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

use super::api::{Change, DeviceAction, Fault, LinkAction};
use super::device::{DeviceInner, SimDevice};

/// The `/_sim/` routes; the caller adds the state.
pub fn routes() -> Router<Arc<DeviceInner>> {
    Router::new()
        .route("/_sim/change", post(change))
        .route("/_sim/fault", post(fault))
        .route("/_sim/dump", get(dump))
        .route("/_sim/stats", get(stats))
        .route("/_sim/sessions", get(sessions))
        .route("/_sim/link", post(link))
        .route("/_sim/device", post(device_power))
        .route("/_sim/topology", get(topology))
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

async fn sessions(State(device): State<Arc<DeviceInner>>) -> Response {
    Json(SimDevice { inner: device }.sessions()).into_response()
}

async fn link(State(device): State<Arc<DeviceInner>>, body: Bytes) -> Response {
    let action: LinkAction = match parse_body(&body) {
        Ok(action) => action,
        Err(reason) => return bad_request(reason),
    };
    let Some(fabric) = (SimDevice { inner: device }).fabric() else {
        return no_fabric();
    };
    match fabric.set_link(&action) {
        Ok(()) => ok(),
        Err(error) => bad_request(format!("{error:#}")),
    }
}

async fn device_power(State(device): State<Arc<DeviceInner>>, body: Bytes) -> Response {
    let action: DeviceAction = match parse_body(&body) {
        Ok(action) => action,
        Err(reason) => return bad_request(reason),
    };
    let Some(fabric) = (SimDevice { inner: device }).fabric() else {
        return no_fabric();
    };
    match fabric.set_device(&action) {
        Ok(()) => ok(),
        Err(error) => bad_request(format!("{error:#}")),
    }
}

async fn topology(State(device): State<Arc<DeviceInner>>) -> Response {
    match (SimDevice { inner: device }).fabric() {
        Some(fabric) => Json(fabric.dump()).into_response(),
        None => no_fabric(),
    }
}

fn no_fabric() -> Response {
    (
        StatusCode::NOT_FOUND,
        Json(json!({"error": "this simulator has no fabric: start it with --spines or --chain"})),
    )
        .into_response()
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
