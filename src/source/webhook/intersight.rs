//! Cisco Intersight webhooks: turns one `mo.WebhookResult` body into a normalized [`Event`] and
//! the alarm-store update it implies, and verifies the request's HTTP Signature. Pure: no IO
//! (see the note on [`normalize`] about the clock).
//!
//! Intersight posts `{"ClassId": "mo.WebhookResult", "EventObjectType": "cond.Alarm", "Operation":
//! "Created" | "Modified" | "Deleted", "Event": {<the managed object>}}` (`protocols-webhooks.md`
//! §6). A `cond.Alarm` is the same object (same `Moid`) through its life: its `Severity` becomes
//! `Cleared` when the condition ends, `OrigSeverity` keeping the level it was raised with. Other
//! object types (`workflow.WorkflowInfo`, …) become informational events.
//!
//! Requests are signed with the draft-cavage HTTP Signatures scheme, HMAC-SHA256 over a string
//! built from the signed headers, with a `Digest` header over the body: see [`verify_signature`].

use std::time::Duration;

use axum::http::HeaderMap;
use base64::Engine as _;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde::de::Error as _;
use serde::{Deserialize, Deserializer};
use serde_json::Value;
use sha2::{Digest as _, Sha256};

use super::auth::constant_time_eq;
use super::{Invalid, Normalized};
use crate::event::{AlarmState, Event, Severity};
use crate::store::AlarmUpdate;

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
/// absent. When there is no usable time, the event is stamped with the time it is normalized,
/// i.e. the receipt time (a clock reading, as `Event::new` already makes one for the id), never
/// the Unix epoch.
pub fn normalize(source_name: &str, body: &[u8]) -> Result<Normalized, Invalid> {
    let raw: Value = serde_json::from_slice(body)
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
        Some(version) => format!("intersight:{moid}:{operation}:{}", version.trim()),
        None => format!("intersight:{moid}:{operation}"),
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
            time.unwrap_or_else(jiff::Timestamp::now),
            Value::Null,
        );
        event.alarmstate = if cleared {
            AlarmState::Cleared
        } else {
            AlarmState::Raised
        };
        event.severity = alarm_severity(severity_word, mo.orig_severity.as_deref());
        alarms.push(AlarmUpdate {
            key: alarm_key(moid),
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
            time.unwrap_or_else(jiff::Timestamp::now),
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
        event,
        idempotency_key,
        alarms,
    })
}

/// The alarm-store key of an Intersight alarm: `intersight:<Moid>`.
pub fn alarm_key(moid: &str) -> String {
    format!("intersight:{moid}")
}

/// The alarm's page in Intersight (SaaS; an appliance has its own host, unknown here).
pub fn alarm_link(moid: &str) -> String {
    // The Moid comes from the body: encode anything that could end the URL or change its meaning,
    // while a real Moid (hex digits) passes unchanged.
    const UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'.')
        .remove(b'_')
        .remove(b'~');
    format!(
        "https://www.intersight.com/an/cond/alarms/active/?Moid={}",
        utf8_percent_encode(moid.trim(), UNRESERVED)
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

fn non_empty(text: Option<&str>) -> Option<&str> {
    text.filter(|text| !text.trim().is_empty())
}

fn value_kind(value: &Value) -> &'static str {
    match value {
        Value::Array(_) => "array",
        Value::String(_) => "string",
        Value::Bool(_) => "boolean",
        Value::Null => "null",
        Value::Number(_) => "number",
        Value::Object(_) => "object",
    }
}

/// A required-when-used string field: `null` is absent, another type is an error naming it.
fn named_string<'de, D: Deserializer<'de>>(
    deserializer: D,
    name: &str,
) -> Result<Option<String>, D::Error> {
    match Option::<Value>::deserialize(deserializer)? {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => Ok(Some(text)),
        Some(other) => Err(D::Error::custom(format!(
            "field `{name}` is a JSON {}, expected a string",
            value_kind(&other)
        ))),
    }
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

// ---------------------------------------------------------------------------------------------
// HTTP Signature (draft-cavage-http-signatures, HMAC-SHA256)

/// Why a signed request is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// A header or signature parameter the scheme needs is absent.
    #[error("missing {0}")]
    Missing(String),
    /// The `Digest` header does not match the body.
    #[error("the Digest header does not match the body")]
    BadDigest,
    /// The signature does not match (wrong secret, or headers changed or reordered).
    #[error("the signature does not match")]
    BadSignature,
    /// The signed `Date` is too far from now.
    #[error("stale request: {0}")]
    Stale(String),
    /// A header or parameter cannot be read.
    #[error("malformed signature: {0}")]
    Malformed(String),
}

/// Verifies an Intersight (draft-cavage) HTTP Signature. Pure: the caller passes the clock.
///
/// The parameters (`keyId="…",algorithm="hmac-sha256",headers="(request-target) host date
/// digest …",signature="…"`) are read from `Authorization: Signature …` or, failing that, from a
/// `Signature:` header (INFER: which one Intersight uses is not documented where we could read
/// it, so both are accepted). `keyId` is not checked (UNKNOWN value): one secret per receiver.
///
/// In order: the signed header list must include `date` and `digest`; the `Digest` header's
/// `SHA-256=` value must be the base64 SHA-256 of `body` ([`SignatureError::BadDigest`]); the
/// signing string (one `name: value` line per entry of `headers=`, in that order, joined by
/// `\n`; `(request-target)` is `<lowercase method> <path?query>`) must give `signature=` under
/// HMAC-SHA256 with `secret` ([`SignatureError::BadSignature`]); and the `Date` header must be
/// within `max_skew` of `now` ([`SignatureError::Stale`]).
pub fn verify_signature(
    method: &str,
    path_and_query: &str,
    headers: &HeaderMap,
    body: &[u8],
    secret: &[u8],
    now: jiff::Timestamp,
    max_skew: Duration,
) -> Result<(), SignatureError> {
    let parameters = signature_parameters(headers)?;
    let param = |name: &str| {
        parameters
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    };
    let signature = param("signature")
        .filter(|signature| !signature.is_empty())
        .ok_or_else(|| SignatureError::Missing("the `signature` parameter".to_owned()))?;
    if let Some(algorithm) = param("algorithm") {
        // `hs2019` says "as the key says"; with a shared secret that is HMAC-SHA256 (INFER).
        if !(algorithm.eq_ignore_ascii_case("hmac-sha256")
            || algorithm.eq_ignore_ascii_case("hs2019"))
        {
            return Err(SignatureError::Malformed(format!(
                "unsupported algorithm {algorithm:?}, expected \"hmac-sha256\""
            )));
        }
    }
    // draft-cavage: without `headers`, only `date` is signed (which then fails the digest rule).
    let signed: Vec<String> = param("headers")
        .unwrap_or("date")
        .split_ascii_whitespace()
        .map(str::to_ascii_lowercase)
        .collect();
    for required in ["date", "digest"] {
        if !signed.iter().any(|name| name == required) {
            return Err(SignatureError::Malformed(format!(
                "`{required}` is not among the signed headers"
            )));
        }
    }

    // The digest first: it is cheap and says whether the body was changed.
    let digest = header_value(headers, "digest")?;
    let expected_digest: [u8; 32] = Sha256::digest(body).into();
    let claimed_digest = digest
        .split(',')
        .filter_map(|entry| entry.trim().split_once('='))
        .find(|(algorithm, _)| algorithm.trim().eq_ignore_ascii_case("sha-256"))
        .map(|(_, value)| value.trim())
        .ok_or_else(|| {
            SignatureError::Malformed("the Digest header has no SHA-256 value".to_owned())
        })?;
    let claimed_digest = decode_32(claimed_digest).ok_or(SignatureError::BadDigest)?;
    if !constant_time_eq(&claimed_digest, &expected_digest) {
        return Err(SignatureError::BadDigest);
    }

    let mut signing_string = String::new();
    for (index, name) in signed.iter().enumerate() {
        if index > 0 {
            signing_string.push('\n');
        }
        let value = match name.as_str() {
            "(request-target)" => format!("{} {path_and_query}", method.to_ascii_lowercase()),
            "(created)" | "(expires)" => param(&name[1..name.len() - 1])
                .ok_or_else(|| {
                    SignatureError::Missing(format!("the `{}` parameter", &name[1..name.len() - 1]))
                })?
                .to_owned(),
            _ => header_value(headers, name)?,
        };
        signing_string.push_str(name);
        signing_string.push_str(": ");
        signing_string.push_str(&value);
    }
    let claimed = base64::engine::general_purpose::STANDARD
        .decode(signature)
        .map_err(|error| {
            SignatureError::Malformed(format!("the signature is not base64: {error}"))
        })?;
    let claimed: [u8; 32] = claimed
        .try_into()
        .map_err(|_| SignatureError::BadSignature)?;
    if !constant_time_eq(&claimed, &hmac_sha256(secret, signing_string.as_bytes())) {
        return Err(SignatureError::BadSignature);
    }

    let date = header_value(headers, "date")?;
    let sent = parse_http_date(&date)
        .ok_or_else(|| SignatureError::Malformed(format!("unreadable Date header {date:?}")))?;
    let skew = now.duration_since(sent).unsigned_abs();
    if skew > max_skew {
        return Err(SignatureError::Stale(format!(
            "Date {date:?} is {}s from now, more than the {}s allowed",
            skew.as_secs(),
            max_skew.as_secs()
        )));
    }
    Ok(())
}

/// The `Digest` header value for `body`: `SHA-256=<base64 of SHA-256(body)>`.
pub fn digest_header(body: &[u8]) -> String {
    format!(
        "SHA-256={}",
        base64::engine::general_purpose::STANDARD.encode(Sha256::digest(body))
    )
}

/// HMAC-SHA256 (RFC 2104) of `data` under `key`.
pub fn hmac_sha256(key: &[u8], data: &[u8]) -> [u8; 32] {
    use hmac::Mac as _;
    let mut mac = hmac::Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(data);
    mac.finalize().into_bytes().into()
}

/// The `key="value"` parameters of `Authorization: Signature …`, or of a `Signature:` header.
fn signature_parameters(headers: &HeaderMap) -> Result<Vec<(String, String)>, SignatureError> {
    let from_authorization = headers
        .get_all(axum::http::header::AUTHORIZATION)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .find_map(|value| {
            let (scheme, rest) = value.trim_start().split_once(' ')?;
            scheme.eq_ignore_ascii_case("signature").then_some(rest)
        });
    let text = match from_authorization {
        Some(text) => text.to_owned(),
        None => match headers.get("signature") {
            Some(value) => value
                .to_str()
                .map_err(|_| {
                    SignatureError::Malformed("the Signature header is not text".to_owned())
                })?
                .to_owned(),
            None => {
                return Err(SignatureError::Missing(
                    "an `Authorization: Signature …` or `Signature` header".to_owned(),
                ));
            }
        },
    };
    parse_parameters(&text)
}

/// `a="x", b="y,z", c=w`: comma-separated, values quoted (commas allowed inside) or bare.
fn parse_parameters(text: &str) -> Result<Vec<(String, String)>, SignatureError> {
    let malformed = |what: &str| SignatureError::Malformed(format!("signature parameters: {what}"));
    let mut parameters = Vec::new();
    let mut rest = text.trim();
    while !rest.is_empty() {
        let (name, after) = rest
            .split_once('=')
            .ok_or_else(|| malformed("expected name=value"))?;
        let name = name.trim();
        if name.is_empty()
            || !name
                .bytes()
                .all(|byte| byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'_')
        {
            return Err(malformed("bad parameter name"));
        }
        let after = after.trim_start();
        let (value, after) = if let Some(quoted) = after.strip_prefix('"') {
            let end = quoted
                .find('"')
                .ok_or_else(|| malformed("unterminated quote"))?;
            (&quoted[..end], &quoted[end + 1..])
        } else {
            let end = after.find(',').unwrap_or(after.len());
            (after[..end].trim_end(), &after[end..])
        };
        if parameters
            .iter()
            .any(|(known, _): &(String, String)| known.eq_ignore_ascii_case(name))
        {
            return Err(malformed(&format!("`{name}` given twice")));
        }
        parameters.push((name.to_owned(), value.to_owned()));
        let after = after.trim_start();
        rest = match after.strip_prefix(',') {
            Some(next) => next.trim_start(),
            None if after.is_empty() => after,
            None => return Err(malformed("expected a comma between parameters")),
        };
    }
    Ok(parameters)
}

/// A header's value as signed: several values joined by `, `, trimmed (draft-cavage §2.3).
fn header_value(headers: &HeaderMap, name: &str) -> Result<String, SignatureError> {
    let mut values = headers.get_all(name).iter().peekable();
    if values.peek().is_none() {
        return Err(SignatureError::Missing(format!("the `{name}` header")));
    }
    let mut joined = Vec::new();
    for value in values {
        let value = value
            .to_str()
            .map_err(|_| SignatureError::Malformed(format!("the `{name}` header is not text")))?;
        joined.push(value.trim());
    }
    Ok(joined.join(", "))
}

/// A base64 SHA-256 value, or `None` when it is not one.
fn decode_32(text: &str) -> Option<[u8; 32]> {
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .ok()?
        .try_into()
        .ok()
}

/// An HTTP date (RFC 9110 IMF-fixdate, an RFC 2822 date), e.g. `Tue, 07 Jun 2014 20:51:35 GMT`.
/// A weekday that does not match the date is tolerated (the draft-cavage examples have one).
fn parse_http_date(text: &str) -> Option<jiff::Timestamp> {
    jiff::fmt::rfc2822::DateTimeParser::new()
        .relaxed_weekday(true)
        .parse_timestamp(text.trim())
        .ok()
}

#[cfg(test)]
mod tests;
