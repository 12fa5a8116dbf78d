//! Senders that follow a convention instead of a vendor's format: Standard Webhooks (a JSON body,
//! `webhook-id` as its idempotency key) and CloudEvents 1.0 over HTTP (structured mode, the whole
//! event as `application/cloudevents+json`, or binary mode, attributes in `ce-*` headers and the
//! data as the body). Pure: headers and body in, [`Normalized`] out.
//!
//! netpulse's own CloudEvents extension attributes are honoured when a sender sets them:
//! `device`, `severity`, `alarmstate` (`raised`/`cleared`, keyed by `alarmkey`, else by source and
//! subject) and `summary`; so one netpulse can feed another, or any application can raise alarms.

use axum::http::HeaderMap;
use percent_encoding::percent_decode_str;
use serde_json::{Map, Value};

use super::verify::Verified;
use super::{Invalid, Normalized};
use crate::event::{AlarmState, AlarmUpdate, Event, Severity};

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get(name)
        .and_then(|value| value.to_str().ok())
        .map(str::trim)
}

fn parse_object(body: &[u8]) -> Result<Map<String, Value>, Invalid> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(object)) => Ok(object),
        Ok(_) => Err(Invalid::unrecognized("the body is JSON but not an object")),
        Err(error) => Err(Invalid::malformed(format!("malformed JSON: {error}"))),
    }
}

/// A Standard Webhooks message (its signature already verified): the event `type` and
/// `timestamp` from the recommended body shape when present, `webhook-id` as idempotency key.
pub fn standard_webhook(source_name: &str, request: &Verified) -> Result<Normalized, Invalid> {
    let (headers, body, now) = (request.headers(), request.body(), request.received_at());
    let id = header(headers, "webhook-id")
        .filter(|id| !id.is_empty())
        .ok_or_else(|| Invalid::unrecognized("no webhook-id header"))?
        .to_owned();
    let object = parse_object(body)?;
    let kind = object
        .get("type")
        .and_then(Value::as_str)
        .filter(|kind| !kind.is_empty())
        .unwrap_or("io.standardwebhooks.message")
        .to_owned();
    let time = object
        .get("timestamp")
        .and_then(Value::as_str)
        .and_then(|text| text.parse().ok())
        .or_else(|| {
            header(headers, "webhook-timestamp")
                .and_then(|seconds| seconds.parse().ok())
                .and_then(|seconds| jiff::Timestamp::from_second(seconds).ok())
        })
        .unwrap_or(now);
    let mut event = Event::new(source_name, kind.clone(), time, Value::Object(object));
    event.summary = kind;
    event.subject = Some(id.clone());
    Ok(Normalized {
        raw_data: None,
        event,
        idempotency_key: Some(format!("{source_name}:sw:{id}")),
        alarms: Vec::new(),
    })
}

/// The CloudEvents attributes netpulse reads, from either mode.
struct Attributes {
    id: String,
    source: String,
    kind: String,
    time: Option<String>,
    subject: Option<String>,
    extensions: Map<String, Value>,
}

/// A CloudEvent: structured mode when the content type is `application/cloudevents+json`, else
/// binary mode (`ce-*` headers, the body is the data and must be JSON).
pub fn cloudevent(source_name: &str, request: &Verified) -> Result<Normalized, Invalid> {
    let (headers, body, now) = (request.headers(), request.body(), request.received_at());
    let content_type = header(headers, "content-type")
        .unwrap_or("")
        .to_ascii_lowercase();
    if content_type.starts_with("application/cloudevents-batch") {
        return Err(Invalid::unrecognized(
            "CloudEvents batches are not accepted: send one event per request",
        ));
    }
    let (attributes, data) = if content_type.starts_with("application/cloudevents") {
        structured(body)?
    } else {
        binary(headers, body)?
    };
    let time = attributes
        .time
        .as_deref()
        .and_then(|time| time.parse().ok())
        .unwrap_or(now);
    let text = |name: &str| {
        attributes
            .extensions
            .get(name)
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    let mut event = Event::new(source_name, attributes.kind.clone(), time, data);
    event.subject = attributes.subject.clone();
    event.device = text("device")
        .or_else(|| attributes.subject.clone())
        .unwrap_or_else(|| attributes.source.clone());
    if let Some(severity) =
        text("severity").and_then(|s| serde_json::from_value::<Severity>(Value::String(s)).ok())
    {
        event.severity = severity;
    }
    event.summary = text("summary").unwrap_or_else(|| attributes.kind.clone());
    // A sender's own `alarmkey` names an alarm of this source only.
    let alarm_key = match text("alarmkey") {
        Some(key) => format!("{source_name}:{key}"),
        None => format!(
            "{source_name}:ce:{}:{}",
            attributes.source,
            attributes.subject.as_deref().unwrap_or("")
        ),
    };
    let mut alarms = Vec::new();
    match text("alarmstate").as_deref() {
        Some("raised") => {
            event.alarmstate = AlarmState::Raised;
            alarms.push(AlarmUpdate {
                key: alarm_key,
                raised: true,
            });
        }
        Some("cleared") => {
            event.alarmstate = AlarmState::Cleared;
            alarms.push(AlarmUpdate {
                key: alarm_key,
                raised: false,
            });
        }
        _ => {}
    }
    event.link = text("link");
    Ok(Normalized {
        raw_data: None,
        idempotency_key: Some(format!(
            "{source_name}:ce:{}:{}",
            attributes.source, attributes.id
        )),
        event,
        alarms,
    })
}

fn required(value: Option<String>, name: &str) -> Result<String, Invalid> {
    value.filter(|value| !value.is_empty()).ok_or_else(|| {
        Invalid::unrecognized(format!("not a CloudEvent: `{name}` is missing or empty"))
    })
}

fn check_version(version: Option<&str>) -> Result<(), Invalid> {
    match version {
        Some("1.0") => Ok(()),
        Some(other) => Err(Invalid::unrecognized(format!(
            "CloudEvents specversion {other:?} is not supported: send 1.0"
        ))),
        None => Err(Invalid::unrecognized(
            "not a CloudEvent: `specversion` is missing",
        )),
    }
}

fn structured(body: &[u8]) -> Result<(Attributes, Value), Invalid> {
    let mut object = parse_object(body)?;
    let mut take = |name: &str| match object.remove(name) {
        Some(Value::String(text)) => Some(text),
        _ => None,
    };
    check_version(take("specversion").as_deref())?;
    let id = required(take("id"), "id")?;
    let source = required(take("source"), "source")?;
    let kind = required(take("type"), "type")?;
    let time = take("time");
    let subject = take("subject");
    let _ = take("datacontenttype");
    let _ = take("dataschema");
    let data = match (object.remove("data"), object.remove("data_base64")) {
        (Some(data), _) => data,
        (None, Some(encoded)) => encoded,
        (None, None) => Value::Null,
    };
    Ok((
        Attributes {
            id,
            source,
            kind,
            time,
            subject,
            extensions: object,
        },
        data,
    ))
}

fn binary(headers: &HeaderMap, body: &[u8]) -> Result<(Attributes, Value), Invalid> {
    // Header values are percent-encoded (CloudEvents HTTP binding §3.1.3.2).
    let ce = |name: &str| {
        header(headers, &format!("ce-{name}"))
            .map(|value| percent_decode_str(value).decode_utf8_lossy().into_owned())
    };
    if ce("specversion").is_none() && ce("id").is_none() {
        return Err(Invalid::unrecognized(
            "not a CloudEvent: no ce-specversion header (binary mode) and the content type is not application/cloudevents+json (structured mode)",
        ));
    }
    check_version(ce("specversion").as_deref())?;
    let mut extensions = Map::new();
    for (name, value) in headers {
        let Some(attribute) = name.as_str().strip_prefix("ce-") else {
            continue;
        };
        if matches!(
            attribute,
            "specversion" | "id" | "source" | "type" | "time" | "subject"
        ) {
            continue;
        }
        if let Ok(text) = value.to_str() {
            let decoded = percent_decode_str(text.trim())
                .decode_utf8_lossy()
                .into_owned();
            extensions.insert(attribute.to_owned(), Value::String(decoded));
        }
    }
    let data = if body.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(body)
            .map_err(|error| Invalid::malformed(format!("the data is not JSON: {error}")))?
    };
    Ok((
        Attributes {
            id: required(ce("id"), "ce-id")?,
            source: required(ce("source"), "ce-source")?,
            kind: required(ce("type"), "ce-type")?,
            time: ce("time"),
            subject: ce("subject"),
            extensions,
        },
        data,
    ))
}

#[cfg(test)]
mod tests;
