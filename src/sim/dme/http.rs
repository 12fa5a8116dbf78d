//! The device's HTTP API: login, session refresh and logout, queries and subscriptions,
//! subscription refresh, and the `/socket<token>` WebSocket upgrade.
//!
//! Everything but the `/_sim/` control routes goes through one fallback handler that looks at the
//! raw path: the WebSocket token after `/socket` contains `/`, `+` and `=`, and distinguished
//! names contain `/` inside brackets, so path-segment routing would split them.

use std::sync::Arc;

use axum::Router;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::{Request, State};
use axum::http::request::Parts;
use axum::http::{Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use tokio::time::Instant;

use super::auth::{self, authenticate, forbidden};
use super::control;
use super::device::DeviceInner;
use super::query::{Query, decode};
use super::render;
use super::socket;

pub const NO_SOCKET_TEXT: &str = "Subscription request failed, unable to locate opened web socket. Please re-login to the application";
/// The text of a failed `subscriptionRefresh` is UNKNOWN (only `code "400"` is documented).
pub const REFRESH_FAILED_PREFIX: &str = "Subscription refresh failed: subscription";
/// The text of the `RefreshUnavailable` fault's 503: what a loaded device says is UNKNOWN, this
/// one is made up (INFER); clients act on the status, not the text.
pub const REFRESH_UNAVAILABLE_TEXT: &str = "Service temporarily unavailable (device busy)";
/// The simulator's own 503 answer while "restarting"; its text is invented (a real device in
/// that state may not answer at all).
pub const RESTARTING_TEXT: &str = "Service Unavailable: the device is restarting (simulated)";
const LOGIN_PATHS: [&str; 3] = [
    "/api/aaaLogin.json",
    "/api/mo/aaaLogin.json",
    "/api/class/aaaLogin.json",
];

/// The whole HTTP surface of one device.
pub fn router(device: Arc<DeviceInner>) -> Router {
    control::routes().fallback(dispatch).with_state(device)
}

async fn dispatch(
    State(device): State<Arc<DeviceInner>>,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
    request: Request,
) -> Response {
    let now = Instant::now();
    if device.lock().is_down(now) {
        return error(StatusCode::SERVICE_UNAVAILABLE, RESTARTING_TEXT);
    }
    // The body is not `Sync`, so handlers that await borrow the parts only.
    let (parts, body) = request.into_parts();
    let path = parts.uri.path().to_owned();
    match (parts.method.clone(), path.as_str()) {
        (Method::POST, path) if LOGIN_PATHS.contains(&path) => auth::login(&device, body).await,
        (Method::GET | Method::POST, "/api/aaaRefresh.json") => {
            auth::refresh_session(&device, &parts.headers).await
        }
        (Method::GET | Method::POST, "/api/aaaLogout.json") => {
            auth::logout(&device, &parts.headers)
        }
        (Method::GET, "/api/subscriptionRefresh.json") => {
            refresh_subscription(&device, &parts).await
        }
        (Method::GET, path) if path.starts_with("/socket") => {
            socket::upgrade(&device, upgrade, &path["/socket".len()..])
        }
        (Method::GET, path) if path.starts_with("/api/") => query(&device, &parts),
        (_, path) if path.starts_with("/api/") => error(
            StatusCode::BAD_REQUEST,
            "This request is not supported by the simulator (queries are GET only)",
        ),
        _ => error(
            StatusCode::NOT_FOUND,
            &format!("Invalid request path {path:?}"),
        ),
    }
}

/// A JSON response with the device's content type.
pub fn json(status: StatusCode, body: String) -> Response {
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// The device's error envelope with `code` = the HTTP status.
pub fn error(status: StatusCode, text: &str) -> Response {
    json(status, render::error_body(status.as_u16(), text))
}

/// Waits out a `DelayRefresh` fault, if one is pending. The refresh is processed after the delay,
/// like a loaded device that handles it late.
pub async fn refresh_delay(device: &DeviceInner) {
    let delay = {
        let mut state = device.lock();
        match &mut state.faults.delayed_refreshes {
            Some((delay, count)) if *count > 0 => {
                *count -= 1;
                Some(*delay)
            }
            _ => None,
        }
    };
    if let Some(delay) = delay {
        tokio::select! {
            () = tokio::time::sleep(delay) => {}
            () = device.shutdown.cancelled() => {}
        }
    }
}

async fn refresh_subscription(device: &DeviceInner, request: &Parts) -> Response {
    let Some(key) = authenticate(device, &request.headers) else {
        return forbidden();
    };
    let raw_id = request_option(request, "id").unwrap_or_default();
    let failed = |id: &str| {
        error(
            StatusCode::BAD_REQUEST,
            &format!("{REFRESH_FAILED_PREFIX} {id} does not exist or has expired"),
        )
    };
    let Ok(id) = raw_id.parse::<u64>() else {
        return failed(&raw_id);
    };
    refresh_delay(device).await;
    let mut state = device.lock();
    if state
        .faults
        .refresh_unavailable_until
        .is_some_and(|until| Instant::now() < until)
    {
        return error(StatusCode::SERVICE_UNAVAILABLE, REFRESH_UNAVAILABLE_TEXT);
    }
    if state.faults.failed_refreshes > 0 {
        state.faults.failed_refreshes -= 1;
        state.table.fail_refresh(id);
        return failed(&raw_id);
    }
    if state.table.refresh_subscription(key, id, Instant::now()) {
        json(
            StatusCode::OK,
            r#"{"totalCount":"0","imdata":[]}"#.to_owned(),
        )
    } else {
        failed(&raw_id)
    }
}

/// The last value of query option `name` (percent-decoded, `+` kept).
fn request_option(request: &Parts, name: &str) -> Option<String> {
    let raw_query = request.uri.query()?;
    raw_query
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .filter(|(key, _)| decode(key) == name)
        .map(|(_, value)| decode(value))
        .next_back()
}

fn query(device: &DeviceInner, request: &Parts) -> Response {
    let Some(key) = authenticate(device, &request.headers) else {
        return forbidden();
    };
    let query = match Query::parse(request.uri.path(), request.uri.query()) {
        Ok(query) => query,
        Err(text) => return error(StatusCode::BAD_REQUEST, &text),
    };
    let now = Instant::now();
    let mut guard = device.lock();
    let state = &mut *guard;
    let subscription_id = match query.subscription {
        Some(true) if !state.table.has_socket(key) => {
            return error(StatusCode::METHOD_NOT_ALLOWED, NO_SOCKET_TEXT);
        }
        Some(true) => {
            let ttl = query
                .refresh_timeout
                .unwrap_or(device.settings.subscription_ttl);
            Some(state.table.subscribe(key, query.clone(), ttl, now))
        }
        Some(false) => {
            state.table.unsubscribe(key, &query.identity);
            None
        }
        None => None,
    };
    let selected = query.select(&state.mit);
    json(
        StatusCode::OK,
        render::query_body(&state.mit, &selected, query.rsp_subtree, subscription_id),
    )
}
