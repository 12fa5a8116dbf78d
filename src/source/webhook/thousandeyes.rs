//! ThousandEyes classic ("v6 legacy") alert webhooks: turns one body into a normalized [`Event`]
//! and the alarm-store update it implies. Pure: no IO (see the note on [`normalize`] about the
//! clock).
//!
//! The platform posts `{"eventId": "<n>-<alertId>", "eventType": …, "alert": {…}}`
//! (`protocols-webhooks.md` §4.1). A trigger (`ALERT_NOTIFICATION_TRIGGER`) raises the alarm
//! `te:<alertId>`; the clear (`ALERT_NOTIFICATION_CLEAR`) carries the same `alertId` under a new
//! `eventId` and clears it. Anything else (the Test button's event, whose name is not verified)
//! becomes an informational event that touches no alarm.
//!
//! Custom webhooks (§4.2) have an operator-defined body and are not handled here.

use serde::{Deserialize, Deserializer};
use serde_json::Value;

use super::fields::{named, non_empty, value_kind};
use super::verify::Verified;
use super::{Invalid, Normalized};
use crate::event::{AlarmState, AlarmUpdate, Event, Severity};

/// The CloudEvents `type` of a triggered alert.
pub const TRIGGERED_EVENT_TYPE: &str = "com.thousandeyes.alert.triggered";
/// The CloudEvents `type` of a cleared alert.
pub const CLEARED_EVENT_TYPE: &str = "com.thousandeyes.alert.cleared";

const TRIGGER: &str = "ALERT_NOTIFICATION_TRIGGER";
const CLEAR: &str = "ALERT_NOTIFICATION_CLEAR";

/// The envelope of a classic webhook. Every field is optional here; [`normalize`] says which
/// combinations it needs.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Notification {
    /// `<n>-<alertId>`; a number is accepted too.
    #[serde(default, deserialize_with = "event_id")]
    event_id: Option<String>,
    #[serde(default, deserialize_with = "event_type")]
    event_type: Option<String>,
}

/// The `alert` object (or `agentAlert`, which agent alerts repeat it under). Only the fields
/// netpulse reads; the rest stays in `data`. Display fields of another type than documented are
/// ignored rather than refused.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Alert {
    /// An integer until the 2025 platform, a UUID string since: both are kept as text.
    #[serde(default, deserialize_with = "alert_id")]
    alert_id: Option<String>,
    /// 1 = active; 2 (2021 captures) or 0 (2025 captures) = cleared.
    #[serde(default, deserialize_with = "active")]
    active: Option<i64>,
    #[serde(default, deserialize_with = "text")]
    test_name: Option<String>,
    #[serde(default, deserialize_with = "text")]
    agent_name: Option<String>,
    #[serde(default, deserialize_with = "text")]
    hostname: Option<String>,
    #[serde(default, deserialize_with = "text")]
    rule_name: Option<String>,
    #[serde(default, deserialize_with = "text")]
    rule_expression: Option<String>,
    /// `Info`, `Minor`, `Major`, `Critical`; absent in older payloads.
    #[serde(default, deserialize_with = "text")]
    severity: Option<String>,
    /// `HTTP Server`, `Agent`, …
    #[serde(default, deserialize_with = "text", rename = "type")]
    kind: Option<String>,
    #[serde(default, deserialize_with = "text")]
    permalink: Option<String>,
    /// `YYYY-MM-DD HH:MM:SS` in the account's time zone.
    #[serde(default, deserialize_with = "text")]
    date_start: Option<String>,
    #[serde(default, deserialize_with = "text")]
    date_end: Option<String>,
    /// `YYYY-MM-DD HH:MM:SS <zone>`, e.g. `… UTC`, `… EST`.
    #[serde(default, deserialize_with = "text")]
    date_start_zoned: Option<String>,
    #[serde(default, deserialize_with = "text")]
    date_end_zoned: Option<String>,
}

/// What the notification means for the alarm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Meaning {
    Triggered,
    Cleared,
    /// A test or an event type netpulse does not know: information only.
    Other,
}

/// Normalizes one classic webhook body.
///
/// `Invalid::malformed` when the body is not JSON; `Invalid::unrecognized` when it is JSON but
/// not a classic ThousandEyes notification (the reason names the missing or mistyped field).
///
/// The event time is the alert's own (the end for a clear, the start otherwise). When the body
/// has no date netpulse can read, the event is stamped with the request's receipt time
/// ([`Verified::received_at`]): a test webhook may carry no alert at all, and the Unix epoch
/// would sort such events first.
pub fn normalize(source_name: &str, request: &Verified) -> Result<Normalized, Invalid> {
    let raw: Value = serde_json::from_slice(request.body())
        .map_err(|error| Invalid::malformed(format!("malformed JSON: {error}")))?;
    let Some(object) = raw.as_object() else {
        return Err(unrecognized(format!(
            "the body is a JSON {}, expected an object",
            value_kind(&raw)
        )));
    };
    let notification =
        Notification::deserialize(&raw).map_err(|error| unrecognized(error.to_string()))?;
    // Agent alerts repeat the alert under `agentAlert`; read that one if `alert` is missing.
    let alert_value = ["alert", "agentAlert"].into_iter().find_map(|name| {
        object
            .get(name)
            .filter(|value| !value.is_null())
            .map(|value| (name, value))
    });
    let alert = match alert_value {
        Some((name, value)) => {
            if !value.is_object() {
                return Err(unrecognized(format!(
                    "field `{name}` is a JSON {}, expected an object",
                    value_kind(value)
                )));
            }
            Alert::deserialize(value)
                .map_err(|error| unrecognized(format!("field `{name}`: {error}")))?
        }
        None => Alert::default(),
    };
    let event_type = non_empty(notification.event_type.as_deref());
    if event_type.is_none() && alert_value.is_none() {
        return Err(unrecognized(
            "missing field `eventType` (and no `alert` object)",
        ));
    }
    let meaning = match event_type {
        Some(TRIGGER) => Meaning::Triggered,
        Some(CLEAR) => Meaning::Cleared,
        Some(_) => Meaning::Other,
        // Without an event type, `alert.active` says what happened.
        None => match alert.active {
            Some(1) => Meaning::Triggered,
            Some(0 | 2) => Meaning::Cleared,
            Some(other) => {
                return Err(unrecognized(format!(
                    "no `eventType`, and `alert.active` is {other}, expected 0, 1 or 2"
                )));
            }
            None => {
                return Err(unrecognized(
                    "missing field `eventType` (and no `alert.active`)",
                ));
            }
        },
    };
    let alert_id = alert.alert_id.as_deref().and_then(|id| non_empty(Some(id)));
    if meaning != Meaning::Other && alert_id.is_none() {
        return Err(unrecognized("missing field `alert.alertId`"));
    }

    let kind = match meaning {
        Meaning::Triggered => TRIGGERED_EVENT_TYPE.to_owned(),
        Meaning::Cleared => CLEARED_EVENT_TYPE.to_owned(),
        Meaning::Other => format!(
            "com.thousandeyes.webhook.{}",
            type_segment(event_type.unwrap_or("unknown"))
        ),
    };
    let time = event_time(&alert, meaning).unwrap_or(request.received_at());
    let device = non_empty(alert.test_name.as_deref())
        .or_else(|| non_empty(alert.agent_name.as_deref()))
        .or_else(|| non_empty(alert.hostname.as_deref()))
        .map(str::trim);

    let idempotency_key = match (non_empty(notification.event_id.as_deref()), alert_id) {
        (Some(event_id), _) => Some(format!("{source_name}:te:{event_id}")),
        (None, Some(alert_id)) => Some(format!(
            "{source_name}:te:{alert_id}:{}:{}",
            event_type.unwrap_or(match meaning {
                Meaning::Triggered => TRIGGER,
                Meaning::Cleared => CLEAR,
                Meaning::Other => "",
            }),
            alert.date_start.as_deref().unwrap_or("")
        )),
        // A test event without any id: every delivery is new.
        (None, None) => None,
    };
    let alarms = match (meaning, alert_id) {
        (Meaning::Triggered, Some(id)) => vec![AlarmUpdate {
            key: alarm_key(source_name, id),
            raised: true,
        }],
        (Meaning::Cleared, Some(id)) => vec![AlarmUpdate {
            key: alarm_key(source_name, id),
            raised: false,
        }],
        _ => Vec::new(),
    };

    let mut event = Event::new(source_name, kind, time, Value::Null);
    event.device = device.unwrap_or(source_name).to_owned();
    event.alarmstate = match meaning {
        Meaning::Triggered => AlarmState::Raised,
        Meaning::Cleared => AlarmState::Cleared,
        Meaning::Other => AlarmState::Info,
    };
    event.severity = match meaning {
        Meaning::Other => Severity::Info,
        _ => severity(alert.severity.as_deref()),
    };
    event.summary = summary(&alert, device, event_type, alert_id);
    event.subject = non_empty(alert.rule_name.as_deref())
        .map(|rule| format!("{}/{}", rule.trim(), event.device));
    event.objectclass = non_empty(alert.kind.as_deref()).map(|kind| kind.trim().to_owned());
    event.link = alert
        .permalink
        .as_deref()
        .and_then(web_link)
        .map(str::to_owned);
    event.data = raw;
    Ok(Normalized {
        raw_data: None,
        event,
        idempotency_key,
        alarms,
    })
}

/// The alarm-store key of a ThousandEyes alert: `<source>:te:<alertId>`, shared by its trigger
/// and clear.
pub fn alarm_key(source_name: &str, alert_id: &str) -> String {
    format!("{source_name}:te:{alert_id}")
}

fn unrecognized(reason: impl std::fmt::Display) -> Invalid {
    Invalid::unrecognized(format!("not a ThousandEyes classic webhook: {reason}"))
}

/// `alert.severity` when it is a word netpulse knows; otherwise (older payloads have none) an
/// alert is Major: it is an alarm, and the level of its trigger carries over to its clear.
fn severity(word: Option<&str>) -> Severity {
    match word.map(|word| word.trim().to_ascii_lowercase()).as_deref() {
        Some("info") => Severity::Info,
        Some("warning") => Severity::Warning,
        Some("minor") => Severity::Minor,
        Some("major") => Severity::Major,
        Some("critical") => Severity::Critical,
        _ => Severity::Major,
    }
}

/// `<ruleName>: <device> (<ruleExpression>)`, leaving out what is missing.
fn summary(
    alert: &Alert,
    device: Option<&str>,
    event_type: Option<&str>,
    alert_id: Option<&str>,
) -> String {
    let rule = non_empty(alert.rule_name.as_deref()).map(str::trim);
    let expression = non_empty(alert.rule_expression.as_deref()).map(str::trim);
    let mut summary = match (rule, device) {
        (Some(rule), Some(device)) => format!("{rule}: {device}"),
        (Some(text), None) | (None, Some(text)) => text.to_owned(),
        (None, None) => match (event_type, alert_id) {
            (_, Some(id)) => format!("ThousandEyes alert {id}"),
            (Some(event_type), None) => format!("ThousandEyes {}", event_type.trim()),
            (None, None) => "ThousandEyes notification".to_owned(),
        },
    };
    if let Some(expression) = expression {
        summary.push_str(&format!(" ({expression})"));
    }
    summary
}

/// When the alert started (a trigger) or ended (a clear): the `…Zoned` field when its zone is one
/// netpulse knows, else the plain field read as UTC. INFER: the plain fields are in the account's
/// time zone, which the body does not name, so UTC is a guess (right for UTC accounts).
fn event_time(alert: &Alert, meaning: Meaning) -> Option<jiff::Timestamp> {
    let start = [
        alert.date_start_zoned.as_deref(),
        alert.date_start.as_deref(),
    ];
    let end = [alert.date_end_zoned.as_deref(), alert.date_end.as_deref()];
    let order: &[Option<&str>] = match meaning {
        Meaning::Cleared => &[end[0], end[1], start[0], start[1]],
        _ => &[start[0], start[1]],
    };
    order.iter().flatten().find_map(|text| parse_date(text))
}

/// Parses `YYYY-MM-DD HH:MM:SS` optionally followed by a zone: an abbreviation from a short table
/// (INFER: ThousandEyes prints the account zone's abbreviation; the set it uses is not
/// documented, and abbreviations such as `IST` are ambiguous, so only unambiguous ones are
/// listed) or a numeric offset (`+05:30`, `+0530`, `UTC+05:30`). No zone reads as UTC; an unknown
/// zone gives `None`, so the caller falls back to the next field.
fn parse_date(text: &str) -> Option<jiff::Timestamp> {
    let text = text.trim();
    let (datetime, zone) = match text.get(..19) {
        Some(datetime) => (datetime, text[19..].trim()),
        None => (text, ""),
    };
    let datetime = jiff::civil::DateTime::strptime("%Y-%m-%d %H:%M:%S", datetime).ok()?;
    offset(zone)?.to_timestamp(datetime).ok()
}

fn offset(zone: &str) -> Option<jiff::tz::Offset> {
    let hours = |hours: i8| Some(jiff::tz::Offset::constant(hours));
    match zone.to_ascii_uppercase().as_str() {
        "" | "UTC" | "GMT" | "UT" | "Z" => hours(0),
        "EST" | "CDT" => hours(-5),
        "EDT" => hours(-4),
        "CST" | "MDT" => hours(-6),
        "MST" | "PDT" => hours(-7),
        "PST" | "AKDT" => hours(-8),
        "AKST" => hours(-9),
        "HST" => hours(-10),
        "WET" => hours(0),
        "CET" | "WEST" | "BST" => hours(1),
        "CEST" | "EET" => hours(2),
        "EEST" => hours(3),
        "JST" => hours(9),
        "AEST" => hours(10),
        "AEDT" => hours(11),
        upper => {
            let numeric = upper
                .strip_prefix("UTC")
                .or_else(|| upper.strip_prefix("GMT"))
                .unwrap_or(upper);
            numeric_offset(numeric)
        }
    }
}

/// `+HH`, `+HHMM` or `+HH:MM` (or `-`).
fn numeric_offset(text: &str) -> Option<jiff::tz::Offset> {
    let (sign, digits) = match text.as_bytes().first()? {
        b'+' => (1, &text[1..]),
        b'-' => (-1, &text[1..]),
        _ => return None,
    };
    let digits = digits.replace(':', "");
    if !digits.bytes().all(|byte| byte.is_ascii_digit()) {
        return None;
    }
    let (hours, minutes) = match digits.len() {
        1 | 2 => (digits.parse::<i32>().ok()?, 0),
        4 => (
            digits[..2].parse::<i32>().ok()?,
            digits[2..].parse::<i32>().ok()?,
        ),
        _ => return None,
    };
    if hours > 14 || minutes > 59 {
        return None;
    }
    jiff::tz::Offset::from_seconds(sign * (hours * 3600 + minutes * 60)).ok()
}

/// A permalink is only kept when it is an http(s) URL: it is shown as a link by the sinks.
fn web_link(link: &str) -> Option<&str> {
    let link = link.trim();
    let lower = link
        .get(..8)
        .map(str::to_ascii_lowercase)
        .unwrap_or_default();
    (lower.starts_with("https://") || lower.starts_with("http://")).then_some(link)
}

/// An event type as a CloudEvents type segment: lowercase, with anything but `[a-z0-9_-]` as `_`.
fn type_segment(event_type: &str) -> String {
    event_type
        .trim()
        .chars()
        .map(|c| match c.to_ascii_lowercase() {
            c @ ('a'..='z' | '0'..='9' | '_' | '-') => c,
            _ => '_',
        })
        .collect()
}

/// A string, or an integer as its decimal text.
fn string_or_integer(value: &Value) -> Option<String> {
    match value {
        Value::String(text) => Some(text.clone()),
        Value::Number(number) if number.is_i64() || number.is_u64() => Some(number.to_string()),
        _ => None,
    }
}

fn event_id<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<String>, D::Error> {
    named(
        deserializer,
        "eventId",
        "a string or an integer",
        string_or_integer,
    )
}

fn event_type<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<String>, D::Error> {
    named(deserializer, "eventType", "a string", |value| {
        value.as_str().map(str::to_owned)
    })
}

/// `alertId` is an integer until the 2025 platform and a UUID string since.
fn alert_id<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<String>, D::Error> {
    named(
        deserializer,
        "alertId",
        "a string or an integer",
        string_or_integer,
    )
}

/// `active` as an integer; `true`/`false` read as 1/0 (INFER: not seen, but harmless).
fn active<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<i64>, D::Error> {
    named(deserializer, "active", "an integer", |value| match value {
        Value::Bool(flag) => Some(i64::from(*flag)),
        other => other.as_i64(),
    })
}

/// A display field: its text when it is a string, nothing otherwise.
fn text<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<String>, D::Error> {
    Ok(match Option::<Value>::deserialize(deserializer)? {
        Some(Value::String(text)) => Some(text),
        _ => None,
    })
}

#[cfg(test)]
mod tests;
