//! `GET /api/v1/cluster`: this node, the members, every lease and its owner, and how far this
//! node's projection has applied the stream. 404 when `cluster:` is not configured.

use std::collections::HashMap;

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::{ApiError, ApiState};
use crate::cluster::wire::LeaseKey;

/// `GET /api/v1/cluster`.
pub(super) async fn cluster(State(state): State<ApiState>) -> Result<Response, ApiError> {
    let Some(node) = &state.cluster else {
        return Err(ApiError::not_found(
            "this node is not in a cluster: `cluster:` is not configured",
        ));
    };
    let view = node.leases.view();
    let held = node.leases.held();
    let members: Vec<_> = view
        .members
        .iter()
        .map(|member| {
            json!({
                "node": member.node,
                "api_url": member.api_url,
                "version": member.version,
                "started": timestamp(member.started_ms),
                "leases": member.leases,
            })
        })
        .collect();
    let applied = node.projection.applied();
    let (lag, max_lag) = state
        .pipeline
        .cluster()
        .map(|publisher| publisher.lag())
        .unwrap_or((0, node.config.max_lag));
    // A spool that cannot be read is shown as unknown, not as empty.
    let spool_depth = state.pool.read(|reader| reader.spool_depth()).await.ok();
    Ok(Json(json!({
        "node": {
            "id": node.id,
            "api_url": node.config.advertise_url,
            "leases": held.iter().map(LeaseKey::as_key).collect::<Vec<_>>(),
        },
        "members": members,
        "leases": view.leases,
        "projection": {
            "applied": applied,
            "stream_last": applied + lag,
            "lag": lag,
            "max_lag": max_lag,
        },
        // Events this node answered for but the stream has not confirmed yet (the relay
        // publishes them when it can).
        "spool": { "depth": spool_depth },
    }))
    .into_response())
}

fn timestamp(millisecond: i64) -> Option<String> {
    jiff::Timestamp::from_millisecond(millisecond)
        .ok()
        .map(|time| time.to_string())
}

/// Who holds each device's lease, as this node last read the bucket.
pub(super) struct Owners {
    by_key: HashMap<String, Option<String>>,
}

impl Owners {
    /// `None` outside cluster mode.
    pub(super) fn of_state(state: &ApiState) -> Option<Owners> {
        let node = state.cluster.as_ref()?;
        let by_key = node
            .leases
            .view()
            .leases
            .into_iter()
            .map(|lease| (lease.key, lease.owner))
            .collect();
        Some(Owners { by_key })
    }

    pub(super) fn of(&self, source: &str) -> Option<String> {
        self.by_key
            .get(&LeaseKey::Device(source.to_owned()).as_key())
            .cloned()
            .flatten()
    }
}
