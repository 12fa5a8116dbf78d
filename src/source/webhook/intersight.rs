//! Cisco Intersight webhooks: turns one verified `mo.WebhookResult` body into a normalized
//! [`Event`] and the alarm-store update it implies. Pure: no IO. The request's HTTP Signature is
//! checked before, with the other verifiers (`verify::http_signature`).
//!
//! Intersight posts `{"ClassId": "mo.WebhookResult", "EventObjectType": "cond.Alarm", "Operation":
//! "Created" | "Modified" | "Deleted", "Event": {<the managed object>}}` (`protocols-webhooks.md`
//! §6). A `cond.Alarm` is the same object (same `Moid`) through its life: its `Severity` becomes
//! `Cleared` when the condition ends, `OrigSeverity` keeping the level it was raised with. Other
//! object types (`workflow.WorkflowInfo`, …) become informational events.

use serde::{Deserialize, Deserializer};
use serde_json::Value;

use super::fields::{named, non_empty, url_component, value_kind};
use super::verify::Verified;
use super::{Invalid, Normalized};
use crate::event::{AlarmState, AlarmUpdate, Event, Severity};

/// The CloudEvents `type` of an alarm that is raised (any severity but `Cleared`).
pub const ALARM_RAISED_EVENT_TYPE: &str = "com.cisco.intersight.alarm.raised";
/// The CloudEvents `type` of an alarm that is cleared (severity `Cleared`, or deleted).
pub const ALARM_CLEARED_EVENT_TYPE: &str = "com.cisco.intersight.alarm.cleared";

const ALARM_OBJECT_TYPE: &str = "cond.Alarm";
const WEBHOOK_RESULT: &str = "mo.WebhookResult";

/// The envelope.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct WebhookResult {
    #[serde(default, deserialize_with = "text")]
    class_id: Option<String>,
    #[serde(default, deserialize_with = "text")]
    object_type: Option<String>,
    /// `cond.Alarm`, `workflow.WorkflowInfo`, …
    #[serde(default, deserialize_with = "event_object_type")]
    event_object_type: Option<String>,
    /// `Created`, `Modified`, `Deleted`.
    #[serde(default, deserialize_with = "operation")]
    operation: Option<String>,
}

/// The managed object under `Event`: the fields netpulse reads of a `cond.Alarm` or of any other
/// object. Display fields of another type than documented are ignored rather than refused.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ManagedObject {
    #[serde(default, deserialize_with = "moid")]
    moid: Option<String>,
    #[serde(default, deserialize_with = "text")]
    object_type: Option<String>,
    #[serde(default, deserialize_with = "text")]
    class_id: Option<String>,
    #[serde(default, deserialize_with = "text")]
    name: Option<String>,
    /// `workflow.WorkflowInfo`: `RUNNING`, `COMPLETED`, …
    #[serde(default, deserialize_with = "text")]
    status: Option<String>,
    /// `cond.Alarm`: `F1404`.
    #[serde(default, deserialize_with = "text")]
    code: Option<String>,
    #[serde(default, deserialize_with = "text")]
    description: Option<String>,
    /// `Critical`, `Warning`, `Info` or `Cleared`.
    #[serde(default, deserialize_with = "text")]
    severity: Option<String>,
    /// The severity the alarm was raised with; kept when `Severity` becomes `Cleared`.
    #[serde(default, deserialize_with = "text")]
    orig_severity: Option<String>,
    #[serde(default, deserialize_with = "text")]
    affected_mo_display_name: Option<String>,
    #[serde(default, deserialize_with = "text")]
    affected_mo_id: Option<String>,
    #[serde(default, deserialize_with = "text")]
    last_transition_time: Option<String>,
    #[serde(default, deserialize_with = "text")]
    mod_time: Option<String>,
    #[serde(default, deserialize_with = "text")]
    create_time: Option<String>,
    #[serde(default, deserialize_with = "text")]
    start_time: Option<String>,
    #[serde(default, deserialize_with = "text")]
    end_time: Option<String>,
}

/// Normalizes one webhook body.
///
/// `Invalid::malformed` when the body is not JSON; `Invalid::unrecognized` when it is JSON but
/// not an Intersight `mo.WebhookResult` (the reason names the missing or mistyped field).
///
/// The event time is the object's (`LastTransitionTime`, else `ModTime`, else `CreateTime`, else
/// a workflow's `StartTime`/`EndTime`); Intersight's "never" (`0001-01-01T00:00:00Z`) counts as
/// absent. When there is no usable time, the event is stamped with the request's receipt time
/// ([`Verified::received_at`]), never the Unix epoch.
pub fn normalize(source_name: &str, request: &Verified) -> Result<Normalized, Invalid> {
    let raw: Value = serde_json::from_slice(request.body())
        .map_err(|error| Invalid::malformed(format!("malformed JSON: {error}")))?;
    let Some(object) = raw.as_object() else {
        return Err(unrecognized(format!(
            "the body is a JSON {}, expected an object",
            value_kind(&raw)
        )));
    };
    let envelope =
        WebhookResult::deserialize(&raw).map_err(|error| unrecognized(error.to_string()))?;
    // INFER: the trimmed samples all say `mo.WebhookResult`; a body that names another class is
    // something else, one that names none is accepted.
    for (field, class) in [
        ("ClassId", &envelope.class_id),
        ("ObjectType", &envelope.object_type),
    ] {
        if let Some(class) = class.as_deref().filter(|class| *class != WEBHOOK_RESULT) {
            return Err(unrecognized(format!(
                "`{field}` is {class:?}, expected {WEBHOOK_RESULT:?}"
            )));
        }
    }
    let mo_value = match object.get("Event") {
        None | Some(Value::Null) => return Err(unrecognized("missing field `Event`")),
        Some(value) if !value.is_object() => {
            return Err(unrecognized(format!(
                "field `Event` is a JSON {}, expected an object",
                value_kind(value)
            )));
        }
        Some(value) => value,
    };
    let mo = ManagedObject::deserialize(mo_value)
        .map_err(|error| unrecognized(format!("field `Event`: {error}")))?;
    let Some(moid) = non_empty(mo.moid.as_deref()) else {
        return Err(unrecognized("missing field `Event.Moid`"));
    };
    let Some(operation) = non_empty(envelope.operation.as_deref()) else {
        return Err(unrecognized("missing field `Operation`"));
    };
    // Lenient: the object's own type when the envelope does not say.
    let Some(object_type) = non_empty(envelope.event_object_type.as_deref())
        .or_else(|| non_empty(mo.object_type.as_deref()))
        .or_else(|| non_empty(mo.class_id.as_deref()))
    else {
        return Err(unrecognized("missing field `EventObjectType`"));
    };

    let time_fields = [
        mo.last_transition_time.as_deref(),
        mo.mod_time.as_deref(),
        mo.create_time.as_deref(),
        mo.start_time.as_deref(),
        mo.end_time.as_deref(),
    ];
    let time = time_fields
        .iter()
        .flatten()
        .find_map(|text| parse_time(text));
    // The modification time makes each change of the same object a delivery of its own; trimmed
    // samples lack it, so the first usable time field stands in.
    let version = non_empty(mo.mod_time.as_deref()).or_else(|| {
        time_fields
            .iter()
            .flatten()
            .copied()
            .find(|text| parse_time(text).is_some())
    });
    let idempotency_key = Some(match version {
        Some(version) => format!(
            "{source_name}:intersight:{moid}:{operation}:{}",
            version.trim()
        ),
        None => format!("{source_name}:intersight:{moid}:{operation}"),
    });

    let mut event;
    let mut alarms = Vec::new();
    if object_type == ALARM_OBJECT_TYPE {
        let severity_word = non_empty(mo.severity.as_deref()).map(str::trim);
        // A deleted alarm object is gone from Intersight: cleared too.
        let cleared = severity_word.is_some_and(|word| word.eq_ignore_ascii_case("cleared"))
            || operation.eq_ignore_ascii_case("deleted");
        let kind = if cleared {
            ALARM_CLEARED_EVENT_TYPE
        } else {
            ALARM_RAISED_EVENT_TYPE
        };
        event = Event::new(
            source_name,
            kind,
            time.unwrap_or(request.received_at()),
            Value::Null,
        );
        event.alarmstate = if cleared {
            AlarmState::Cleared
        } else {
            AlarmState::Raised
        };
        event.severity = alarm_severity(severity_word, mo.orig_severity.as_deref());
        alarms.push(AlarmUpdate {
            key: alarm_key(source_name, moid),
            raised: !cleared,
        });
        let device = non_empty(mo.affected_mo_display_name.as_deref())
            .or_else(|| non_empty(mo.affected_mo_id.as_deref()))
            .map(str::trim);
        event.device = device.unwrap_or(source_name).to_owned();
        let code = non_empty(mo.code.as_deref()).map(str::trim);
        event.summary = match (code, non_empty(mo.description.as_deref()).map(str::trim)) {
            (Some(code), Some(description)) => format!("{code} {description}"),
            (Some(text), None) | (None, Some(text)) => text.to_owned(),
            (None, None) => format!("Intersight alarm {moid}"),
        };
        let name = non_empty(mo.name.as_deref()).map(str::trim).or(code);
        event.subject = Some(format!("{}/{}", name.unwrap_or(moid), event.device));
        event.link = Some(alarm_link(moid));
    } else {
        let kind = format!(
            "com.cisco.intersight.{}.{}",
            type_segment(object_type),
            type_segment(operation)
        );
        event = Event::new(
            source_name,
            kind,
            time.unwrap_or(request.received_at()),
            Value::Null,
        );
        let name = non_empty(mo.name.as_deref()).map(str::trim);
        event.device = name.unwrap_or(source_name).to_owned();
        let status = non_empty(mo.status.as_deref()).map(str::trim);
        event.summary = format!(
            "{} {}",
            name.map_or_else(|| format!("{object_type} {moid}"), str::to_owned),
            status.unwrap_or(operation)
        );
        event.subject = Some(format!("{object_type}/{moid}"));
    }
    event.objectclass = Some(object_type.to_owned());
    event.data = raw;
    Ok(Normalized {
        raw_data: None,
        event,
        idempotency_key,
        alarms,
    })
}

/// The alarm-store key of an Intersight alarm: `<source>:intersight:<Moid>`.
pub fn alarm_key(source_name: &str, moid: &str) -> String {
    format!("{source_name}:intersight:{moid}")
}

/// The alarm's page in Intersight (SaaS; an appliance has its own host, unknown here).
pub fn alarm_link(moid: &str) -> String {
    format!(
        "https://www.intersight.com/an/cond/alarms/active/?Moid={}",
        url_component(moid.trim())
    )
}

/// Critical, Warning and Info map to themselves; a cleared alarm keeps the level it was raised
/// with (`OrigSeverity`). Words Intersight does not document (`Major`, `Minor`) are read as
/// such; an alarm netpulse cannot rank is still an alarm: Warning, not Info.
fn alarm_severity(severity: Option<&str>, orig_severity: Option<&str>) -> Severity {
    let rank = |word: &str| match word.trim().to_ascii_lowercase().as_str() {
        "critical" => Some(Severity::Critical),
        "major" => Some(Severity::Major),
        "minor" => Some(Severity::Minor),
        "warning" => Some(Severity::Warning),
        "info" | "informational" => Some(Severity::Info),
        _ => None,
    };
    severity
        .and_then(rank)
        .or_else(|| orig_severity.and_then(rank))
        .unwrap_or(Severity::Warning)
}

/// An RFC 3339 time. Intersight's zero time (`0001-01-01T00:00:00Z`) means "never": any time
/// before 1970 counts as absent.
fn parse_time(text: &str) -> Option<jiff::Timestamp> {
    let time: jiff::Timestamp = text.trim().parse().ok()?;
    (time >= jiff::Timestamp::UNIX_EPOCH).then_some(time)
}

fn unrecognized(reason: impl std::fmt::Display) -> Invalid {
    Invalid::unrecognized(format!(
        "not an Intersight webhook (mo.WebhookResult): {reason}"
    ))
}

/// A type name as a CloudEvents type segment: lowercase, with anything but `[a-z0-9._-]` as `_`.
fn type_segment(name: &str) -> String {
    name.trim()
        .chars()
        .map(|c| match c.to_ascii_lowercase() {
            c @ ('a'..='z' | '0'..='9' | '.' | '_' | '-') => c,
            _ => '_',
        })
        .collect()
}

/// A required-when-used string field: `null` is absent, another type is an error naming it.
fn named_string<'de, D: Deserializer<'de>>(
    deserializer: D,
    name: &str,
) -> Result<Option<String>, D::Error> {
    named(deserializer, name, "a string", |value| {
        value.as_str().map(str::to_owned)
    })
}

fn event_object_type<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    named_string(d, "EventObjectType")
}

fn operation<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    named_string(d, "Operation")
}

fn moid<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    named_string(d, "Moid")
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
