//! Cisco Catalyst SD-WAN Manager (vManage) alarm notifications: parses one webhook body into an
//! [`Alarm`] and turns it into a normalized [`Event`] plus the alarm-store updates it implies.
//! Pure, no IO.
//!
//! The manager posts one alarm document per request. A raised alarm has `active: true`; a clear is
//! a *new* alarm with `active: false` whose `cleared_events` lists the uuids of the alarms it
//! clears (see `protocols-webhooks.md` §1.3). The same document shape is returned by
//! `POST /dataservice/alarms`, so REST records parse too.

use std::borrow::Cow;
use std::fmt::Write as _;

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde::{Deserialize, Deserializer};
use serde_json::{Map, Value};

use crate::event::{AlarmState, Event, Severity};
use crate::store::{AlarmUpdate, NewEvent};

/// The CloudEvents `type` of an alarm that is raised (`active: true`).
pub const RAISED_EVENT_TYPE: &str = "com.cisco.sdwan.alarm.raised";
/// The CloudEvents `type` of a clearing alarm (`active: false`).
pub const CLEARED_EVENT_TYPE: &str = "com.cisco.sdwan.alarm.cleared";

/// One entity of `values`, `values_short_display` or `devices`: string-valued keys with dashes
/// (`host-name`, `if-name`, ...), except for quirks such as an integer `site-id`.
pub type Fields = Map<String, Value>;

/// One SD-WAN Manager alarm document. Unknown fields are ignored; only the fields netpulse needs
/// to identify, time and classify the alarm are required.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(expecting = "an SD-WAN Manager alarm object")]
pub struct Alarm<'a> {
    /// The alarm's id; the dedupe key and the target of later `cleared_events`.
    #[serde(borrow)]
    pub uuid: Cow<'a, str>,
    /// The alarm name shown in the UI and used in notification rules, e.g. `Interface_State_Change`.
    #[serde(borrow)]
    pub rule_name_display: Cow<'a, str>,
    /// `Critical`, `Major`, `Medium` or `Minor`.
    #[serde(borrow)]
    pub severity: Cow<'a, str>,
    /// 1 Critical, 2 Major, 3 Medium, 4 Minor; used when `severity` is a word netpulse does not know.
    #[serde(default)]
    pub severity_number: Option<i64>,
    /// When the alarm happened; epoch milliseconds on the wire.
    #[serde(with = "jiff::fmt::serde::timestamp::millisecond::required")]
    pub entry_time: jiff::Timestamp,
    /// `true`: the alarm is raised; `false`: this document clears the alarms in `cleared_events`.
    pub active: bool,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub cleared_events: Vec<String>,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub values: Vec<Fields>,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub values_short_display: Vec<Fields>,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub devices: Vec<Fields>,
    /// Machine name, e.g. `interface-state-change`; `node_down` / `tloc_down` on correlated alarms.
    #[serde(default)]
    pub rulename: Option<String>,
    /// Usually the machine name again, but correlated alarms carry the literal `"rulename"`:
    /// read it through [`Alarm::event_name`].
    #[serde(default)]
    pub eventname: Option<String>,
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    /// `VPN`, `System`, `Control`, `BFD`, `OMP`.
    #[serde(default)]
    pub component: Option<String>,
    #[serde(default)]
    pub message: Option<String>,
    /// Present in 2023 webhooks and in REST records.
    #[serde(default)]
    pub system_ip: Option<String>,
    /// REST records only.
    #[serde(default)]
    pub host_name: Option<String>,
    /// REST records only: the uuid of the alarm that cleared this one, empty while it is raised.
    #[serde(default)]
    pub cleared_by: Option<String>,
    #[serde(default)]
    pub acknowledged: Option<bool>,
    #[serde(default)]
    pub suppressed: Option<bool>,
}

impl Alarm<'_> {
    /// The device the alarm is about: its host name, else its system IP, from the first entity of
    /// `values`, the top-level `host_name` / `system_ip`, or `devices`.
    pub fn device(&self) -> Option<&str> {
        let first_value = |key: &str| text_field(self.values.first(), key);
        first_value("host-name")
            .or_else(|| non_empty(self.host_name.as_deref()))
            .or_else(|| first_value("system-ip"))
            .or_else(|| non_empty(self.system_ip.as_deref()))
            .or_else(|| text_field(self.devices.first(), "system-ip"))
    }

    /// The event name, or the rule name when the manager sent the literal `"rulename"` (a quirk of
    /// correlated alarms such as `Control_TLOC_Down` and `BFD_Node_Down`).
    pub fn event_name(&self) -> Option<&str> {
        match self.eventname.as_deref() {
            Some("rulename") | None => self.rulename.as_deref(),
            Some(name) => Some(name),
        }
    }

    /// The site id of the first entity of `values`, which is a string except in one 2019 sample
    /// that sends an integer.
    pub fn site_id(&self) -> Option<String> {
        match self.values.first()?.get("site-id")? {
            Value::String(text) if !text.is_empty() => Some(text.clone()),
            Value::Number(number) => Some(number.to_string()),
            _ => None,
        }
    }
}

/// Why a body is refused; the HTTP layer answers 400 with the message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SdwanError {
    /// The body is not JSON at all.
    #[error("malformed JSON: {reason}")]
    Malformed { reason: String },
    /// The body is JSON but not an SD-WAN Manager alarm document.
    #[error("not an SD-WAN Manager alarm notification: {reason}")]
    NotAnAlarm { reason: String },
}

/// Parses one webhook body. Strings of the required fields borrow from `body` when they have no
/// escapes.
pub fn parse(body: &[u8]) -> Result<Alarm<'_>, SdwanError> {
    // A derived struct also accepts a JSON array (as a tuple of its fields), which would make
    // `["…", "…", …]` an alarm; so refuse anything but an object before deserializing.
    let first_byte = body.iter().find(|byte| !byte.is_ascii_whitespace());
    if let Some(&byte) = first_byte.filter(|byte| **byte != b'{') {
        check_syntax(body)?;
        return Err(SdwanError::NotAnAlarm {
            reason: format!("the body is a JSON {}, expected an object", json_kind(byte)),
        });
    }
    let alarm: Alarm = match serde_json::from_slice(body) {
        Ok(alarm) => alarm,
        // Deserialization stops at the first missing or mistyped field, which may come before a
        // syntax error further on: only a body that is well-formed throughout is "not an alarm".
        Err(error) if error.classify() == serde_json::error::Category::Data => {
            check_syntax(body)?;
            return Err(SdwanError::NotAnAlarm {
                reason: error.to_string(),
            });
        }
        Err(error) => {
            return Err(SdwanError::Malformed {
                reason: error.to_string(),
            });
        }
    };
    if alarm.uuid.trim().is_empty() {
        return Err(SdwanError::NotAnAlarm {
            reason: "field `uuid` is empty".to_owned(),
        });
    }
    Ok(alarm)
}

/// What one alarm document means to netpulse.
#[derive(Debug, Clone, PartialEq)]
pub struct Normalized {
    pub event: Event,
    /// `sdwan:<uuid>`: a redelivery of the same document has the same key.
    pub idempotency_key: String,
    /// `(alarm key, raised)` pairs for the alarm store: the alarm this document raises, or the
    /// alarms it clears.
    pub alarm_updates: Vec<(String, bool)>,
}

/// Parses and normalizes one body: the receiver's hot path. The document is parsed once, into the
/// typed, borrowing [`Alarm`] (never into a `serde_json::Value`), and the event's `data` is left
/// `null`: the caller stores the body itself as the data ([`crate::store::NewEvent::raw_data`]),
/// which a successful parse has proven to be one well-formed JSON object. Returns the alarm's
/// uuid with the result.
pub fn ingest(source_name: &str, body: &[u8]) -> Result<(Normalized, String), SdwanError> {
    let alarm = parse(body)?;
    Ok((build(source_name, &alarm), alarm.uuid.into_owned()))
}

/// What the receiver appends for one body: the event of [`ingest`], with a details link when the
/// manager's URL is known, the body itself as its data, its idempotency key and alarm updates.
pub fn new_event(
    source_name: &str,
    body: &bytes::Bytes,
    vmanage_url: Option<&str>,
) -> Result<NewEvent, SdwanError> {
    let (normalized, uuid) = ingest(source_name, body)?;
    let mut event = normalized.event;
    event.link = vmanage_url.map(|url| details_link(url, &uuid));
    Ok(NewEvent {
        raw_data: Some(body.clone()),
        event,
        idempotency_key: Some(normalized.idempotency_key),
        sinks: Vec::new(),
        alarms: normalized
            .alarm_updates
            .into_iter()
            .map(|(key, raised)| AlarmUpdate { key, raised })
            .collect(),
    })
}

/// Builds the event and the alarm updates for one alarm; `raw` is the document as received and
/// becomes the event's `data` unchanged.
pub fn normalize(source_name: &str, alarm: &Alarm, raw: &Value) -> Normalized {
    let mut normalized = build(source_name, alarm);
    normalized.event.data = raw.clone();
    normalized
}

/// The event (with empty `data`) and the alarm updates of one alarm.
fn build(source_name: &str, alarm: &Alarm) -> Normalized {
    let kind = if alarm.active {
        RAISED_EVENT_TYPE
    } else {
        CLEARED_EVENT_TYPE
    };
    let mut event = Event::new(source_name, kind, alarm.entry_time, Value::Null);
    // Host names and values are carried verbatim, Markdown and all: escaping them is the job of
    // the sink that renders them (the Webex sink), not of the normalized event.
    let device = alarm.device().unwrap_or(source_name);
    event.device = device.to_owned();
    event.subject = Some(format!("{}/{device}", alarm.rule_name_display));
    event.objectclass = alarm.event_name().map(str::to_owned);
    event.severity = severity(alarm);
    event.alarmstate = if alarm.active {
        AlarmState::Raised
    } else {
        AlarmState::Cleared
    };
    event.summary = summary(alarm, device);
    Normalized {
        event,
        idempotency_key: alarm_key(&alarm.uuid),
        alarm_updates: alarm_updates(alarm),
    }
}

/// The alarm-store key of an SD-WAN alarm: `sdwan:<uuid>`.
pub fn alarm_key(uuid: &str) -> String {
    format!("sdwan:{uuid}")
}

/// The manager's page for one alarm: `{vmanage_url}/#/app/monitor/alarms/details/{uuid}`.
pub fn details_link(vmanage_url: &str, uuid: &str) -> String {
    // The uuid comes from the request body; encode anything that could end the URL or change its
    // meaning, while a real UUID (hex digits and dashes) passes unchanged.
    const UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'.')
        .remove(b'_')
        .remove(b'~');
    format!(
        "{}/#/app/monitor/alarms/details/{}",
        vmanage_url.trim_end_matches('/'),
        utf8_percent_encode(uuid, UNRESERVED)
    )
}

/// SD-WAN has four levels and netpulse five (info < warning < minor < major < critical). Critical
/// and Major map to themselves and Minor to minor; Medium, which sits between Major and Minor,
/// also becomes minor, so the order is kept and a "minor or worse" route still sees Medium alarms
/// such as disk usage above 60%. The original level stays in `data`.
fn severity(alarm: &Alarm) -> Severity {
    match alarm.severity.to_ascii_lowercase().as_str() {
        "critical" => Severity::Critical,
        "major" => Severity::Major,
        "medium" | "minor" => Severity::Minor,
        _ => match alarm.severity_number {
            Some(1) => Severity::Critical,
            Some(2) => Severity::Major,
            Some(3 | 4) => Severity::Minor,
            // An alarm netpulse cannot rank is still an alarm: not info.
            _ => Severity::Warning,
        },
    }
}

/// `Interface_State_Change on BR1-CEDGE1: if-name=GigabitEthernet3, new-state=down`: the alarm
/// name, the device, then the display values other than the device's own name and address.
fn summary(alarm: &Alarm, device: &str) -> String {
    let mut summary = format!("{} on {device}", alarm.rule_name_display);
    // Written straight into `summary`: ": " before the first pair shown, "; " between entities
    // and ", " between the pairs of one entity; an entity with nothing to show adds nothing.
    let mut entities = 0;
    for fields in &alarm.values_short_display {
        let mut pairs = 0;
        for (key, value) in fields {
            if matches!(key.as_str(), "host-name" | "system-ip") {
                continue;
            }
            let separator = match (entities, pairs) {
                (0, 0) => ": ",
                (_, 0) => "; ",
                _ => ", ",
            };
            let _ = match value {
                Value::String(text) => write!(summary, "{separator}{key}={text}"),
                other => write!(summary, "{separator}{key}={other}"),
            };
            pairs += 1;
        }
        if pairs > 0 {
            entities += 1;
        }
    }
    summary
}

/// A raised alarm raises its own key. A clearing alarm clears each alarm in `cleared_events`. A
/// REST record of an alarm that has since been cleared (`active: false`, `cleared_by` set, no
/// `cleared_events`) clears its own key, so ingesting such records leaves the store consistent.
fn alarm_updates(alarm: &Alarm) -> Vec<(String, bool)> {
    if alarm.active {
        return vec![(alarm_key(&alarm.uuid), true)];
    }
    let mut updates: Vec<(String, bool)> = alarm
        .cleared_events
        .iter()
        .filter(|uuid| !uuid.trim().is_empty())
        .map(|uuid| (alarm_key(uuid), false))
        .collect();
    if updates.is_empty() && non_empty(alarm.cleared_by.as_deref()).is_some() {
        updates.push((alarm_key(&alarm.uuid), false));
    }
    updates
}

fn text_field<'f>(fields: Option<&'f Fields>, key: &str) -> Option<&'f str> {
    non_empty(fields?.get(key)?.as_str())
}

fn non_empty(text: Option<&str>) -> Option<&str> {
    text.filter(|text| !text.trim().is_empty())
}

fn check_syntax(body: &[u8]) -> Result<(), SdwanError> {
    serde_json::from_slice::<serde::de::IgnoredAny>(body)
        .map(drop)
        .map_err(|error| SdwanError::Malformed {
            reason: error.to_string(),
        })
}

fn json_kind(first_byte: u8) -> &'static str {
    match first_byte {
        b'[' => "array",
        b'"' => "string",
        b't' | b'f' => "boolean",
        b'n' => "null",
        _ => "number",
    }
}

/// A missing or `null` list is an empty one.
fn null_as_empty<'de, D, T>(deserializer: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Ok(Option::<Vec<T>>::deserialize(deserializer)?.unwrap_or_default())
}

#[cfg(test)]
mod tests;
