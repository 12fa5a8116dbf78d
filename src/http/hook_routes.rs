//! Where the webhook receivers are found: a map from each receiver's path to its route, looked up
//! per request by the server's fallback, and replaced by a configuration reload, so that a new
//! receiver is served and a removed one answers 404 without restarting the server.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{Method, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::hooks;
use crate::pipeline::Pipeline;
use crate::source::webhook::WebhookReceiver;

/// The webhook routes being served now.
#[derive(Clone)]
pub struct HookRoutes {
    pipeline: Pipeline,
    /// Cloning a receiver's state is two `Arc`s; a per-path axum `MethodRouter` would clone a
    /// boxed service per request (measured: about 1 µs of CPU per webhook).
    routes: Arc<RwLock<HashMap<String, hooks::HookState>>>,
}

impl HookRoutes {
    pub fn new(pipeline: Pipeline) -> HookRoutes {
        HookRoutes {
            pipeline,
            routes: Arc::default(),
        }
    }

    /// Serves exactly these receivers from now on (a request already routed finishes with the
    /// receiver it found).
    pub fn set(&self, receivers: impl IntoIterator<Item = Arc<WebhookReceiver>>) {
        let routes = receivers
            .into_iter()
            .map(|receiver| {
                let path = receiver.path.clone();
                let hook = hooks::HookState {
                    receiver,
                    pipeline: self.pipeline.clone(),
                };
                (path, hook)
            })
            .collect();
        *self.routes.write().expect("routes lock") = routes;
    }

    /// The paths served, sorted.
    pub fn paths(&self) -> Vec<String> {
        let mut paths: Vec<String> = self
            .routes
            .read()
            .expect("routes lock")
            .keys()
            .cloned()
            .collect();
        paths.sort();
        paths
    }
}

/// The server's fallback: the receiver at the request's path (405 for another method than POST),
/// or the 404 of an unknown path.
pub(super) async fn dispatch(State(routes): State<HookRoutes>, request: Request) -> Response {
    let hook = routes
        .routes
        .read()
        .expect("routes lock")
        .get(request.uri().path())
        .cloned();
    let Some(hook) = hook else {
        return super::not_found().await.into_response();
    };
    if request.method() != Method::POST {
        return (StatusCode::METHOD_NOT_ALLOWED, [(header::ALLOW, "POST")]).into_response();
    }
    let (parts, body) = request.into_parts();
    // The server puts the peer's address into every request.
    let Some(peer) = parts.extensions.get::<ConnectInfo<SocketAddr>>().copied() else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    hooks::receive(
        State(hook),
        peer,
        parts.method,
        parts.uri,
        parts.headers,
        body,
    )
    .await
}
