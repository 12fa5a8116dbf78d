//! `GET /api/v1/notifications`: the group notifications the alerting router made (events of type
//! `io.netpulse.notification`), newest first, paged and filtered like `/api/v1/events`, each with
//! the delivery state of its sink's outbox row.

use axum::extract::{RawQuery, State};
use axum::response::Response;
use serde_json::Value;

use super::{ApiError, ApiState, json_response, params};
use crate::route::NOTIFICATION_TYPE;
use crate::store::{EventQuery, OutboxRow};

/// `GET /api/v1/notifications`: the parameters of `/api/v1/events` but `type` and
/// `type_prefix`, which are fixed.
pub(super) async fn list(
    State(state): State<ApiState>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let query = notification_query(query.as_deref().unwrap_or(""))?;
    let limit = query.limit;
    let (events, deliveries) = state
        .pool
        .read(move |reader| {
            let events = reader.event_json(&query)?;
            let seqs: Vec<u64> = events.iter().map(|(seq, _)| *seq).collect();
            Ok((events, reader.outbox_rows(&seqs)?))
        })
        .await
        .map_err(|error| ApiError::store(&error))?;
    Ok(json_response(page(&events, &deliveries, limit)))
}

/// The events query of the parameters, restricted to notification events.
fn notification_query(query: &str) -> Result<EventQuery, ApiError> {
    let mut query = params::event_query(query)?;
    if query.filter.kind.is_some() || query.filter.type_prefix.is_some() {
        return Err(ApiError::bad_request(format!(
            "type and type_prefix are not taken here: every notification has type {NOTIFICATION_TYPE} (use /api/v1/events for other types)"
        )));
    }
    query.filter.kind = Some(NOTIFICATION_TYPE.to_owned());
    Ok(query)
}

/// `{"notifications": [event + "deliveries"], "next_cursor": "<seq>" | null}`.
fn page(events: &[(u64, String)], deliveries: &[OutboxRow], limit: usize) -> String {
    let notifications: Vec<Value> = events
        .iter()
        .filter_map(|(seq, json)| {
            let mut event: Value = serde_json::from_str(json).ok()?;
            let rows: Vec<&OutboxRow> = deliveries.iter().filter(|row| row.seq == *seq).collect();
            event["deliveries"] = serde_json::to_value(rows).expect("outbox rows are plain data");
            Some(event)
        })
        .collect();
    let next_cursor = match events.last() {
        Some((seq, _)) if events.len() == limit => Value::String(seq.to_string()),
        _ => Value::Null,
    };
    serde_json::json!({"notifications": notifications, "next_cursor": next_cursor}).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_type_is_fixed_and_the_other_filters_are_those_of_events() {
        let query = notification_query("device=edge-1&limit=2&cursor=9").unwrap();
        assert_eq!(query.filter.kind.as_deref(), Some(NOTIFICATION_TYPE));
        assert_eq!(query.filter.device.as_deref(), Some("edge-1"));
        assert_eq!(query.limit, 2);
        assert_eq!(query.before_seq, Some(9));
        for refused in ["type=x", "type_prefix=io."] {
            let error = notification_query(refused).unwrap_err();
            assert!(error.message.contains("type and type_prefix"), "{refused}");
        }
        assert!(
            notification_query("limit=0")
                .unwrap_err()
                .message
                .contains("limit")
        );
    }

    #[test]
    fn each_notification_carries_its_deliveries_and_a_full_page_a_cursor() {
        let events = vec![
            (
                9,
                r#"{"seq":9,"type":"io.netpulse.notification","data":{"number":2}}"#.to_owned(),
            ),
            (
                5,
                r#"{"seq":5,"type":"io.netpulse.notification","data":{"number":1}}"#.to_owned(),
            ),
        ];
        let row = |seq, status: &str| OutboxRow {
            id: seq as i64,
            seq,
            sink: "webex".to_owned(),
            status: status.to_owned(),
            attempts: 1,
            last_error: None,
            next_attempt: None,
        };
        let deliveries = vec![row(5, "delivered"), row(9, "pending")];
        let full: Value = serde_json::from_str(&page(&events, &deliveries, 2)).unwrap();
        assert_eq!(full["next_cursor"], "5");
        assert_eq!(full["notifications"][0]["data"]["number"], 2);
        assert_eq!(
            full["notifications"][0]["deliveries"][0]["status"],
            "pending"
        );
        assert_eq!(
            full["notifications"][1]["deliveries"][0]["status"],
            "delivered"
        );
        let last: Value = serde_json::from_str(&page(&events, &deliveries, 10)).unwrap();
        assert_eq!(last["next_cursor"], Value::Null);
    }
}
