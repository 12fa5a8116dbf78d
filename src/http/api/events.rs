//! `GET /api/v1/events`: stored events, filtered, a page at a time.

use axum::extract::{RawQuery, State};
use axum::response::Response;

use super::{ApiError, ApiState, json_response, params};

/// One page of events, newest first unless `order=oldest`, with the cursor of the next page
/// (`null` on the last one). Event bodies go out as stored: no parsing on the way.
pub(super) async fn list(
    State(state): State<ApiState>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let query = params::event_query(query.as_deref().unwrap_or(""))?;
    let limit = query.limit;
    let events = state
        .pool
        .read(move |reader| reader.event_json(&query))
        .await
        .map_err(|error| ApiError::store(&error))?;
    let next_cursor = match events.last() {
        Some((seq, _)) if events.len() == limit => format!("\"{seq}\""),
        _ => "null".to_owned(),
    };
    let size: usize = events.iter().map(|(_, json)| json.len() + 1).sum();
    let mut body = String::with_capacity(size + 64);
    body.push_str("{\"events\":[");
    for (index, (_, json)) in events.iter().enumerate() {
        if index > 0 {
            body.push(',');
        }
        body.push_str(json);
    }
    body.push_str("],\"next_cursor\":");
    body.push_str(&next_cursor);
    body.push('}');
    Ok(json_response(body))
}
