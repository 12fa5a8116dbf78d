//! `GET /api/v1/events/{id}/trace`: why an event was or was not notified. For every route and
//! sink the alerting router decided about it: grouped (and the notifications that reported
//! it), silenced, inhibited, muted, flapping, not notified; the notifications with their own
//! delivery state; and the deliveries the event itself owes through sinks' `match:` (the
//! one-message-per-event shorthand).

use axum::Json;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::{ApiError, ApiState};
use crate::event::Event;
use crate::route::NOTIFICATION_TYPE;
use crate::store::{OutboxRow, TraceRow};

/// What the store holds about one event's routing.
struct Found {
    event: Event,
    routes: Vec<TraceRow>,
    deliveries: Vec<OutboxRow>,
    notifications: Vec<(u64, Option<Event>, Vec<OutboxRow>)>,
    /// The router's cursor, when no live router handle is at hand.
    cursor: Option<u64>,
}

/// `GET /api/v1/events/{id}/trace`, `{id}` an event id or a seq.
pub(super) async fn trace(
    State(state): State<ApiState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let wanted = EventRef::parse(&id)?;
    let need_cursor = state.router.is_none();
    let found = state
        .pool
        .read(move |reader| {
            let seq = match &wanted {
                EventRef::Seq(seq) => Some(*seq),
                EventRef::Id(id) => reader.seq_of_id(id)?,
            };
            let Some(event) = seq.map(|seq| reader.event(seq)).transpose()?.flatten() else {
                return Ok(None);
            };
            let routes = reader.route_trace(event.seq)?;
            let deliveries = reader.outbox_rows(&[event.seq])?;
            let mut notification_seqs: Vec<u64> = routes
                .iter()
                .flat_map(|row| row.notifications.iter().copied())
                .collect();
            notification_seqs.sort_unstable();
            notification_seqs.dedup();
            let outbox = reader.outbox_rows(&notification_seqs)?;
            let mut notifications = Vec::with_capacity(notification_seqs.len());
            for seq in notification_seqs {
                let rows = outbox
                    .iter()
                    .filter(|row| row.seq == seq)
                    .cloned()
                    .collect();
                notifications.push((seq, reader.event(seq)?, rows));
            }
            let cursor = if need_cursor {
                reader.route_state()?.0
            } else {
                None
            };
            Ok(Some(Found {
                event,
                routes,
                deliveries,
                notifications,
                cursor,
            }))
        })
        .await
        .map_err(|error| ApiError::store(&error))?;
    let Some(found) = found else {
        return Err(ApiError::not_found(format!(
            "no stored event has {} {id:?} (retention may have deleted it)",
            if id.bytes().all(|b| b.is_ascii_digit()) {
                "seq"
            } else {
                "id"
            }
        )));
    };
    let applied = match &state.router {
        Some(router) => Some(*router.applied.borrow()),
        None => found.cursor,
    };
    Ok(Json(answer(&found, applied)).into_response())
}

/// How the path names the event.
#[derive(Debug, PartialEq)]
enum EventRef {
    Seq(u64),
    Id(String),
}

impl EventRef {
    fn parse(text: &str) -> Result<EventRef, ApiError> {
        if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
            return text
                .parse()
                .ok()
                .filter(|seq| *seq <= i64::MAX as u64)
                .map(EventRef::Seq)
                .ok_or_else(|| ApiError::bad_request(format!("{text:?} is not a valid seq")));
        }
        if text.is_empty() || text.len() > 256 {
            return Err(ApiError::bad_request(
                "name the event by its seq or its id (the CloudEvents id, a UUID)",
            ));
        }
        Ok(EventRef::Id(text.to_owned()))
    }
}

/// The answer: the event in brief, what the router decided, the notifications that reported it,
/// its own deliveries, and a verdict: `pending` (the router has not reached it: `applied` is
/// before it, or unknown), `routed` (a decision or a delivery), or `no_route`.
fn answer(found: &Found, applied: Option<u64>) -> Value {
    let event = &found.event;
    let pending = found.routes.is_empty() && applied.is_none_or(|applied| applied < event.seq);
    let matched_route = !found.routes.is_empty();
    let verdict = if matched_route || !found.deliveries.is_empty() {
        "routed"
    } else if pending {
        "pending"
    } else {
        "no_route"
    };
    let notifications: Vec<Value> = found
        .notifications
        .iter()
        .map(|(seq, notification, deliveries)| {
            let data = notification.as_ref().map(|event| &event.data);
            let field = |name: &str| data.and_then(|data| data.get(name)).cloned();
            json!({
                "seq": seq,
                "id": notification.as_ref().map(|event| &event.id),
                "time": notification.as_ref().map(|event| event.time),
                "summary": notification.as_ref().map(|event| &event.summary),
                "sink": field("sink"),
                "group": field("group"),
                "number": field("number"),
                "reason": field("reason"),
                "deliveries": deliveries,
            })
        })
        .collect();
    json!({
        "event": {
            "seq": event.seq,
            "id": event.id,
            "time": event.time,
            "type": event.kind,
            "source": event.source_name(),
            "device": event.device,
            "severity": event.severity,
            "alarmstate": event.alarmstate,
            "summary": event.summary,
            "notification": event.kind == NOTIFICATION_TYPE,
        },
        "pending": pending,
        "matched_route": matched_route,
        "verdict": verdict,
        "routes": found.routes,
        "notifications": notifications,
        "deliveries": found.deliveries,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::route::{Decision, Outcome};

    fn event(seq: u64) -> Event {
        let mut event = Event::new(
            "vmanage",
            "com.cisco.sdwan.alarm.raised",
            "2026-12-07T10:00:00Z".parse().unwrap(),
            json!({}),
        );
        event.seq = seq;
        event.device = "edge-1".to_owned();
        event.summary = "BFD down".to_owned();
        event.alarmstate = crate::event::AlarmState::Raised;
        event
    }

    fn found(routes: Vec<TraceRow>, deliveries: Vec<OutboxRow>) -> Found {
        Found {
            event: event(7),
            routes,
            deliveries,
            notifications: Vec::new(),
            cursor: None,
        }
    }

    fn delivery(seq: u64, sink: &str, status: &str) -> OutboxRow {
        OutboxRow {
            id: 1,
            seq,
            sink: sink.to_owned(),
            status: status.to_owned(),
            attempts: 0,
            last_error: None,
            next_attempt: None,
        }
    }

    #[test]
    fn the_path_names_an_event_by_seq_or_id() {
        assert_eq!(EventRef::parse("42").unwrap(), EventRef::Seq(42));
        assert_eq!(
            EventRef::parse("0190c1e2-aaaa-7bbb-8ccc-0123456789ab").unwrap(),
            EventRef::Id("0190c1e2-aaaa-7bbb-8ccc-0123456789ab".to_owned())
        );
        assert!(EventRef::parse("99999999999999999999").is_err());
        assert!(EventRef::parse(&"x".repeat(300)).is_err());
    }

    #[test]
    fn an_event_the_router_has_not_reached_is_pending_then_matched_no_route() {
        let answer_at = |applied| answer(&found(Vec::new(), Vec::new()), applied);
        for applied in [None, Some(6)] {
            let pending = answer_at(applied);
            assert_eq!(pending["pending"], true, "{applied:?}");
            assert_eq!(pending["verdict"], "pending");
        }
        let none = answer_at(Some(7));
        assert_eq!(none["pending"], false);
        assert_eq!(none["matched_route"], false);
        assert_eq!(none["verdict"], "no_route");
        assert_eq!(none["event"]["device"], "edge-1");
        assert_eq!(none["event"]["source"], "vmanage");
        assert_eq!(none["event"]["alarmstate"], "raised");
    }

    #[test]
    fn decisions_and_deliveries_are_shown_as_stored() {
        let silenced = TraceRow {
            decision: Decision {
                route: "noc".to_owned(),
                sink: "webex".to_owned(),
                outcome: Outcome::Silenced {
                    mute: "m-1".to_owned(),
                },
            },
            notifications: Vec::new(),
        };
        let routed = answer(&found(vec![silenced], Vec::new()), Some(3));
        assert_eq!(routed["pending"], false, "a decision means it was reached");
        assert_eq!(routed["matched_route"], true);
        assert_eq!(routed["verdict"], "routed");
        assert_eq!(routed["routes"][0]["route"], "noc");
        assert_eq!(routed["routes"][0]["sink"], "webex");
        assert_eq!(routed["routes"][0]["outcome"], "silenced");
        assert_eq!(routed["routes"][0]["mute"], "m-1");

        let legacy = answer(
            &found(Vec::new(), vec![delivery(7, "archive", "delivered")]),
            Some(9),
        );
        assert_eq!(legacy["matched_route"], false);
        assert_eq!(legacy["verdict"], "routed");
        assert_eq!(legacy["deliveries"][0]["sink"], "archive");
        assert_eq!(legacy["deliveries"][0]["status"], "delivered");
    }

    #[test]
    fn the_notifications_that_reported_it_come_with_their_deliveries() {
        let grouped = TraceRow {
            decision: Decision {
                route: "noc".to_owned(),
                sink: "webex".to_owned(),
                outcome: Outcome::Grouped {
                    group: "noc/webex/00ff".to_owned(),
                },
            },
            notifications: vec![12],
        };
        let mut notification = Event::new(
            "netpulse",
            NOTIFICATION_TYPE,
            "2026-12-07T10:00:10Z".parse().unwrap(),
            json!({"sink": "webex", "group": "noc/webex/00ff", "number": 1, "reason": "first"}),
        );
        notification.seq = 12;
        notification.summary = "noc: 1 new".to_owned();
        let mut found = found(vec![grouped], Vec::new());
        found.notifications = vec![(
            12,
            Some(notification),
            vec![delivery(12, "webex", "pending")],
        )];
        let answer = answer(&found, Some(12));
        assert_eq!(answer["routes"][0]["notifications"], json!([12]));
        let first = &answer["notifications"][0];
        assert_eq!(first["seq"], 12);
        assert_eq!(first["number"], 1);
        assert_eq!(first["group"], "noc/webex/00ff");
        assert_eq!(first["summary"], "noc: 1 new");
        assert_eq!(first["deliveries"][0]["status"], "pending");
    }
}
