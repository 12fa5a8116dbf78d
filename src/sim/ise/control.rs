//! The simulated node's HTTP routes: the pxGrid control API, the session directory's
//! `getSessions`, the pubsub WebSocket upgrade, and the simulator's own `/_sim/` API:
//! `POST /_sim/publish` (`{"sessions":[...]}`), `POST /_sim/fault` (a [`Fault`]) and
//! `GET /_sim/stats`.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::Extension;
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine;
use serde_json::{Value, json};
use tokio::time::Instant;

use super::model::{self, AccountState, PUBSUB_SERVICE, SESSION_SERVICE};
use super::{Fault, Inner, PUBSUB_PATH, SESSION_REST_PATH, SESSION_TOPIC, new_account};
use crate::http::server::ClientCertificate;

pub(super) fn router(inner: Arc<Inner>) -> Router {
    Router::new()
        .route("/pxgrid/control/AccountCreate", post(account_create))
        .route("/pxgrid/control/AccountActivate", post(account_activate))
        .route("/pxgrid/control/ServiceLookup", post(service_lookup))
        .route("/pxgrid/control/AccessSecret", post(access_secret))
        .route(
            &format!("{SESSION_REST_PATH}/getSessions"),
            post(get_sessions),
        )
        .route(PUBSUB_PATH, get(pubsub))
        .route("/_sim/publish", post(sim_publish))
        .route("/_sim/fault", post(sim_fault))
        .route("/_sim/stats", get(sim_stats))
        .with_state(inner)
}

fn json_response(status: StatusCode, body: Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

fn unauthorized() -> Response {
    // ISE's body for a refused call is UNKNOWN; clients act on the status only.
    (
        StatusCode::UNAUTHORIZED,
        [(header::WWW_AUTHENTICATE, "Basic realm=\"pxGrid\"")],
    )
        .into_response()
}

fn bad_request(text: &str) -> Response {
    (StatusCode::BAD_REQUEST, text.to_owned()).into_response()
}

/// The `node:password` of a Basic `Authorization` header.
pub(super) fn basic(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let encoded = value.strip_prefix("Basic ")?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (node, password) = text.split_once(':')?;
    Some((node.to_owned(), password.to_owned()))
}

/// Whether a caller proves who it is: the account's password, or (certificate-based) an empty
/// password over a connection whose client certificate the server verified.
fn authentic(account_password: &str, password: &str, certificate: &ClientCertificate) -> bool {
    if password.is_empty() {
        return certificate.0.is_some();
    }
    account_password == password
}

/// The node name of a caller whose credentials are right and whose account is ENABLED.
fn enabled_caller(
    inner: &Inner,
    headers: &HeaderMap,
    certificate: &ClientCertificate,
) -> Option<String> {
    let (node, password) = basic(headers)?;
    let state = inner.lock();
    let account = state.accounts.get(&node)?;
    (authentic(&account.password, &password, certificate)
        && account.state == AccountState::Enabled
        && !state.disabled)
        .then_some(node)
}

fn random_secret() -> String {
    (0..16).map(|_| fastrand::alphanumeric()).collect()
}

/// "For password-based authentication only ... This REST call does not require authentication."
async fn account_create(State(inner): State<Arc<Inner>>, body: Bytes) -> Response {
    if !inner.config.account_create {
        // The answer of an ISE with AccountCreate disabled is UNKNOWN; 503 says "not offered".
        return (StatusCode::SERVICE_UNAVAILABLE, "AccountCreate is disabled").into_response();
    }
    let Ok(request) = serde_json::from_slice::<Value>(&body) else {
        return bad_request("body is not JSON");
    };
    let Some(node) = request.get("nodeName").and_then(Value::as_str) else {
        return bad_request("nodeName is required");
    };
    let password = random_secret();
    let mut state = inner.lock();
    if state.accounts.contains_key(node) {
        // What ISE answers for an existing name is UNKNOWN; 409 refuses without leaking it.
        return (StatusCode::CONFLICT, "nodeName already exists").into_response();
    }
    state
        .accounts
        .insert(node.to_owned(), new_account(password.clone()));
    json_response(
        StatusCode::OK,
        json!({"nodeName": node, "password": password, "userName": node}),
    )
}

async fn account_activate(
    State(inner): State<Arc<Inner>>,
    Extension(certificate): Extension<ClientCertificate>,
    headers: HeaderMap,
) -> Response {
    let Some((node, password)) = basic(&headers) else {
        return unauthorized();
    };
    inner.activations.fetch_add(1, Ordering::Relaxed);
    let mut guard = inner.lock();
    let state = &mut *guard;
    // A certificate-based client's account comes into being with its first AccountActivate.
    if password.is_empty() && certificate.0.is_some() && !state.accounts.contains_key(&node) {
        state
            .accounts
            .insert(node.clone(), new_account(String::new()));
    }
    let Some(account) = state.accounts.get_mut(&node) else {
        return unauthorized();
    };
    if !authentic(&account.password, &password, &certificate) {
        return unauthorized();
    }
    let now = Instant::now();
    let first = *account.first_activate.get_or_insert(now);
    if state.disabled {
        account.state = AccountState::Disabled;
    } else if account.state != AccountState::Enabled {
        account.polls += 1;
        let approved = account.polls > inner.config.approval_polls
            && now.duration_since(first) >= inner.config.approval_delay;
        account.state = if approved {
            AccountState::Enabled
        } else {
            AccountState::Pending
        };
    }
    let account_state = account.state;
    tracing::info!(node = %node, state = ?account_state, "ise sim: AccountActivate");
    json_response(
        StatusCode::OK,
        json!({"accountState": account_state, "version": inner.config.version}),
    )
}

async fn service_lookup(
    State(inner): State<Arc<Inner>>,
    Extension(certificate): Extension<ClientCertificate>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if enabled_caller(&inner, &headers, &certificate).is_none() {
        return unauthorized();
    }
    let name = serde_json::from_slice::<Value>(&body)
        .ok()
        .and_then(|request| {
            request
                .get("name")
                .and_then(Value::as_str)
                .map(str::to_owned)
        });
    let rest = format!("{}{SESSION_REST_PATH}", inner.base_url);
    // Real ISE 2.4 sends both spellings of restBaseUrl and groupTopic, not the wiki's userGroupTopic.
    let services = match name.as_deref() {
        Some(SESSION_SERVICE) => json!([{
            "name": SESSION_SERVICE,
            "nodeName": inner.mnt_node(),
            "properties": {
                "groupTopic": "/topic/com.cisco.ise.session.group",
                "restBaseURL": rest,
                "restBaseUrl": rest,
                "sessionTopic": SESSION_TOPIC,
                "wsPubsubService": PUBSUB_SERVICE,
            }
        }]),
        Some(PUBSUB_SERVICE) => json!([{
            "name": PUBSUB_SERVICE,
            "nodeName": inner.pubsub_node(),
            "properties": { "wsUrl": inner.ws_url() }
        }]),
        Some(_) => json!([]),
        None => return bad_request("name is required"),
    };
    json_response(StatusCode::OK, json!({ "services": services }))
}

async fn access_secret(
    State(inner): State<Arc<Inner>>,
    Extension(certificate): Extension<ClientCertificate>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(node) = enabled_caller(&inner, &headers, &certificate) else {
        return unauthorized();
    };
    let Some(peer) = serde_json::from_slice::<Value>(&body)
        .ok()
        .and_then(|request| {
            request
                .get("peerNodeName")
                .and_then(Value::as_str)
                .map(str::to_owned)
        })
    else {
        return bad_request("peerNodeName is required");
    };
    if peer != inner.mnt_node() && peer != inner.pubsub_node() {
        // ISE's answer for an unknown peer is UNKNOWN.
        return bad_request("unknown peerNodeName");
    }
    let secret = inner
        .lock()
        .secrets
        .entry((node, peer))
        .or_insert_with(random_secret)
        .clone();
    json_response(StatusCode::OK, json!({ "secret": secret }))
}

/// The caller of a peer node's service: Basic `node:secret` with the AccessSecret of that pair.
pub(super) fn peer_caller(inner: &Inner, headers: &HeaderMap, peer: &str) -> Option<String> {
    let (node, secret) = basic(headers)?;
    let state = inner.lock();
    let enabled = state
        .accounts
        .get(&node)
        .is_some_and(|account| account.state == AccountState::Enabled)
        && !state.disabled;
    let known = state.secrets.get(&(node.clone(), peer.to_owned()));
    (enabled && known == Some(&secret)).then_some(node)
}

/// `{}` gives every session; `{"startTimestamp": "..."}` those whose `timestamp` is not older.
async fn get_sessions(
    State(inner): State<Arc<Inner>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if peer_caller(&inner, &headers, &inner.mnt_node()).is_none() {
        return unauthorized();
    }
    inner.get_sessions_calls.fetch_add(1, Ordering::Relaxed);
    let request: Value = serde_json::from_slice(&body).unwrap_or(json!({}));
    let start = match request.get("startTimestamp").and_then(Value::as_str) {
        Some(text) => match text.parse::<jiff::Timestamp>() {
            Ok(start) => Some(start),
            Err(_) => return bad_request("startTimestamp is not a timestamp"),
        },
        None => None,
    };
    let state = inner.lock();
    if state.sessions_unavailable {
        return (StatusCode::SERVICE_UNAVAILABLE, "MnT node unavailable").into_response();
    }
    let sessions: Vec<&Value> = state
        .sessions
        .values()
        .filter(|session| match start {
            None => true,
            Some(start) => model::updated(session).is_none_or(|time| time >= start),
        })
        .collect();
    // gridmeld notes that ISE answers getSessions without a content type.
    (StatusCode::OK, json!({ "sessions": sessions }).to_string()).into_response()
}

async fn pubsub(
    State(inner): State<Arc<Inner>>,
    headers: HeaderMap,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    let Some(node) = peer_caller(&inner, &headers, &inner.pubsub_node()) else {
        return unauthorized();
    };
    match upgrade {
        Ok(upgrade) => super::pubsub::upgrade(inner, upgrade, node),
        Err(rejection) => rejection.into_response(),
    }
}

async fn sim_publish(State(inner): State<Arc<Inner>>, body: Bytes) -> Response {
    match serde_json::from_slice::<model::Published>(&body) {
        Ok(sessions) => {
            let count = sessions.sessions.len();
            super::publish(&inner, sessions.sessions);
            json_response(StatusCode::OK, json!({ "published": count }))
        }
        Err(err) => bad_request(&format!("expected {{\"sessions\":[...]}}: {err}")),
    }
}

async fn sim_fault(State(inner): State<Arc<Inner>>, body: Bytes) -> Response {
    match serde_json::from_slice::<Fault>(&body) {
        Ok(fault) => {
            super::apply_fault(&inner, fault);
            StatusCode::NO_CONTENT.into_response()
        }
        Err(err) => bad_request(&format!("unknown fault: {err}")),
    }
}

async fn sim_stats(State(inner): State<Arc<Inner>>) -> Response {
    let sim = super::IseSim {
        inner,
        ca_pem: None,
        fingerprint: None,
    };
    json_response(
        StatusCode::OK,
        serde_json::to_value(sim.stats()).expect("json"),
    )
}
