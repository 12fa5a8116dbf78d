//! Query strings of the events routes, parsed by hand so that every mistake gets a message that
//! names the parameter and what it takes (a typo in a parameter name is an error, not ignored).

use percent_encoding::percent_decode_str;

use super::ApiError;
use crate::event::{AlarmState, Severity};
use crate::store::{EventFilter, EventQuery, Order};

/// Events one page returns at most.
pub const MAX_PAGE: usize = 1000;
const DEFAULT_PAGE: usize = 100;

/// Filter parameters, shared by the query API and both live feeds.
const FILTER_PARAMS: [&str; 9] = [
    "source",
    "device",
    "type",
    "type_prefix",
    "min_severity",
    "alarmstate",
    "subject_prefix",
    "since",
    "until",
];

/// The decoded `key=value` pairs of a query string (`+` is a space, as in forms).
pub fn pairs(query: &str) -> impl Iterator<Item = (String, String)> + '_ {
    query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            let decode = |text: &str| {
                percent_decode_str(&text.replace('+', " "))
                    .decode_utf8_lossy()
                    .into_owned()
            };
            (decode(key), decode(value))
        })
}

/// A page request of `GET /api/v1/events`.
pub fn event_query(query: &str) -> Result<EventQuery, ApiError> {
    let mut filter = EventFilter::default();
    let mut page = EventQuery {
        limit: DEFAULT_PAGE,
        order: Some(Order::Newest),
        ..EventQuery::default()
    };
    let mut cursor = None;
    for (key, value) in pairs(query) {
        match key.as_str() {
            "order" => {
                page.order = Some(match value.as_str() {
                    "newest" => Order::Newest,
                    "oldest" => Order::Oldest,
                    _ => return Err(invalid("order", &value, "newest or oldest")),
                })
            }
            "limit" => {
                page.limit = value
                    .parse()
                    .ok()
                    .filter(|limit| (1..=MAX_PAGE).contains(limit))
                    .ok_or_else(|| invalid("limit", &value, "a number from 1 to 1000"))?
            }
            "cursor" => cursor = Some(seq("cursor", &value)?),
            "after" => page.after_seq = Some(seq("after", &value)?),
            "access_token" => {}
            _ => filter_param(
                &mut filter,
                &key,
                value,
                &["order", "limit", "cursor", "after"],
            )?,
        }
    }
    // The cursor is the seq of the last event of the previous page; the next page continues in
    // the same order from there.
    if let Some(cursor) = cursor {
        match page.order {
            Some(Order::Oldest) => page.after_seq = Some(cursor),
            _ => page.before_seq = Some(cursor),
        }
    }
    page.filter = filter;
    Ok(page)
}

/// The filter and resume point of a live feed (`after`, or SSE's `Last-Event-ID`).
pub fn feed_query(query: &str) -> Result<(EventFilter, Option<u64>), ApiError> {
    let mut filter = EventFilter::default();
    let mut after = None;
    for (key, value) in pairs(query) {
        match key.as_str() {
            "after" => after = Some(seq("after", &value)?),
            "access_token" => {}
            _ => filter_param(&mut filter, &key, value, &["after"])?,
        }
    }
    Ok((filter, after))
}

fn filter_param(
    filter: &mut EventFilter,
    key: &str,
    value: String,
    others: &[&str],
) -> Result<(), ApiError> {
    match key {
        "source" => filter.source = Some(value),
        "device" => filter.device = Some(value),
        "type" => filter.kind = Some(value),
        "type_prefix" => filter.type_prefix = Some(value),
        "subject_prefix" => filter.subject_prefix = Some(value),
        "min_severity" => {
            filter.min_severity = Some(severity(&value).ok_or_else(|| {
                invalid(
                    "min_severity",
                    &value,
                    "info, warning, minor, major or critical",
                )
            })?)
        }
        "alarmstate" => {
            filter.alarmstate = Some(match value.as_str() {
                "raised" => AlarmState::Raised,
                "cleared" => AlarmState::Cleared,
                "info" => AlarmState::Info,
                _ => return Err(invalid("alarmstate", &value, "raised, cleared or info")),
            })
        }
        "since" => filter.since = Some(timestamp("since", &value)?),
        "until" => filter.until = Some(timestamp("until", &value)?),
        _ => {
            let mut known: Vec<&str> = FILTER_PARAMS.to_vec();
            known.extend_from_slice(others);
            return Err(ApiError::bad_request(format!(
                "unknown query parameter {key:?}; known ones are {}",
                known.join(", ")
            )));
        }
    }
    Ok(())
}

pub fn severity(text: &str) -> Option<Severity> {
    serde_json::from_value(serde_json::Value::String(text.to_owned())).ok()
}

fn seq(name: &str, value: &str) -> Result<u64, ApiError> {
    value
        .parse()
        .ok()
        .filter(|seq| *seq <= i64::MAX as u64)
        .ok_or_else(|| invalid(name, value, "an event seq (a non-negative integer)"))
}

fn timestamp(name: &str, value: &str) -> Result<jiff::Timestamp, ApiError> {
    value
        .parse()
        .map_err(|_| invalid(name, value, "an RFC 3339 time such as 2026-11-28T10:00:00Z"))
}

fn invalid(name: &str, value: &str, expected: &str) -> ApiError {
    ApiError::bad_request(format!(
        "query parameter {name}={value:?} is not valid: expected {expected}"
    ))
}
