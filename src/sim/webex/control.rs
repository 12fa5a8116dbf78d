//! The simulator's `/_sim/` control API for messages and faults (no authentication: it is for
//! the person or test running the simulator); clicks and deliveries are in `cards.rs` and
//! `webhooks.rs`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::{Fault, Inner};

type Shared = std::sync::Arc<Inner>;

pub(super) async fn fault(
    State(inner): State<Shared>,
    axum::Json(fault): axum::Json<Fault>,
) -> Response {
    inner.apply(fault);
    (StatusCode::OK, "ok\n").into_response()
}

pub(super) async fn messages(State(inner): State<Shared>) -> Response {
    axum::Json(inner.state.lock().expect("sim state").messages.clone()).into_response()
}

pub(super) async fn requests(State(inner): State<Shared>) -> Response {
    axum::Json(inner.state.lock().expect("sim state").requests.clone()).into_response()
}

pub(super) async fn stats(State(inner): State<Shared>) -> Response {
    let state = inner.state.lock().expect("sim state");
    let mut by_status = std::collections::BTreeMap::<u16, u64>::new();
    for request in &state.requests {
        *by_status.entry(request.status).or_default() += 1;
    }
    axum::Json(json!({"messages": state.messages.len(), "requests_by_status": by_status, "room_lists": state.room_lists}))
        .into_response()
}

pub(super) async fn reset(State(inner): State<Shared>) -> Response {
    let mut state = inner.state.lock().expect("sim state");
    state.messages.clear();
    state.requests.clear();
    state.room_lists = 0;
    state.actions.clear();
    state.deliveries.clear();
    state.faults = Default::default();
    (StatusCode::OK, "ok\n").into_response()
}
