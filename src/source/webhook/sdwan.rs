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

use serde::de::value::{MapAccessDeserializer, SeqAccessDeserializer};
use serde::de::{MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer};
use serde_json::Value;

use super::fields::{non_empty, url_component};
use super::verify::Verified;
use super::{Invalid, Normalized};
use crate::event::{AlarmState, AlarmUpdate, Event, Severity};

/// The CloudEvents `type` of an alarm that is raised (`active: true`).
pub const RAISED_EVENT_TYPE: &str = "com.cisco.sdwan.alarm.raised";
/// The CloudEvents `type` of a clearing alarm (`active: false`).
pub const CLEARED_EVENT_TYPE: &str = "com.cisco.sdwan.alarm.cleared";

/// One entity of `values`, `values_short_display` or `devices`: string-valued keys with dashes
/// (`host-name`, `if-name`, ...), except for quirks such as an integer `site-id`. Keys and text
/// values borrow from the body when they have no escapes (no map of owned strings is built per
/// request); the pairs are kept in key order, each key once (the last one wins, as in a JSON
/// object).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Fields<'a>(Vec<(Cow<'a, str>, Field<'a>)>);

/// One value of [`Fields`]: text, or any other JSON value.
#[derive(Debug, Clone, PartialEq)]
pub enum Field<'a> {
    Text(Cow<'a, str>),
    Other(Value),
}

impl<'a> Fields<'a> {
    /// The value of `key`.
    pub fn get(&self, key: &str) -> Option<&Field<'a>> {
        let at = self
            .0
            .binary_search_by(|(known, _)| known.as_ref().cmp(key))
            .ok()?;
        Some(&self.0[at].1)
    }

    /// The pairs, in key order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Field<'a>)> {
        self.0.iter().map(|(key, value)| (key.as_ref(), value))
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Fields<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Entity;
        impl<'de> Visitor<'de> for Entity {
            type Value = Fields<'de>;
            fn expecting(&self, formatter: &mut std::fmt::Formatter) -> std::fmt::Result {
                formatter.write_str("an object of entity fields")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Fields<'de>, A::Error> {
                let mut pairs = Vec::with_capacity(map.size_hint().unwrap_or(4));
                while let Some(Text(key)) = map.next_key::<Text<'de>>()? {
                    pairs.push((key, map.next_value::<Field<'de>>()?));
                }
                // Newest first, so that the stable sort keeps a repeated key's last value first
                // and `dedup_by` drops the earlier ones; then back to key order.
                pairs.reverse();
                pairs.sort_by(|(a, _), (b, _)| a.cmp(b));
                pairs.dedup_by(|(later, _), (kept, _)| later == kept);
                Ok(Fields(pairs))
            }
        }
        deserializer.deserialize_map(Entity)
    }
}

/// A string that borrows from the body when it can.
struct Text<'a>(Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for Text<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Key;
        impl<'de> Visitor<'de> for Key {
            type Value = Text<'de>;
            fn expecting(&self, formatter: &mut std::fmt::Formatter) -> std::fmt::Result {
                formatter.write_str("a string")
            }
            fn visit_borrowed_str<E: serde::de::Error>(
                self,
                text: &'de str,
            ) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Borrowed(text)))
            }
            fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Owned(text.to_owned())))
            }
            fn visit_string<E: serde::de::Error>(self, text: String) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Owned(text)))
            }
        }
        deserializer.deserialize_str(Key)
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Field<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Any;
        impl<'de> Visitor<'de> for Any {
            type Value = Field<'de>;
            fn expecting(&self, formatter: &mut std::fmt::Formatter) -> std::fmt::Result {
                formatter.write_str("any JSON value")
            }
            fn visit_borrowed_str<E: serde::de::Error>(
                self,
                text: &'de str,
            ) -> Result<Field<'de>, E> {
                Ok(Field::Text(Cow::Borrowed(text)))
            }
            fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<Field<'de>, E> {
                Ok(Field::Text(Cow::Owned(text.to_owned())))
            }
            fn visit_string<E: serde::de::Error>(self, text: String) -> Result<Field<'de>, E> {
                Ok(Field::Text(Cow::Owned(text)))
            }
            fn visit_bool<E: serde::de::Error>(self, value: bool) -> Result<Field<'de>, E> {
                Ok(Field::Other(Value::Bool(value)))
            }
            fn visit_i64<E: serde::de::Error>(self, value: i64) -> Result<Field<'de>, E> {
                Ok(Field::Other(Value::from(value)))
            }
            fn visit_u64<E: serde::de::Error>(self, value: u64) -> Result<Field<'de>, E> {
                Ok(Field::Other(Value::from(value)))
            }
            fn visit_f64<E: serde::de::Error>(self, value: f64) -> Result<Field<'de>, E> {
                Ok(Field::Other(Value::from(value)))
            }
            fn visit_unit<E: serde::de::Error>(self) -> Result<Field<'de>, E> {
                Ok(Field::Other(Value::Null))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Field<'de>, A::Error> {
                Value::deserialize(SeqAccessDeserializer::new(seq)).map(Field::Other)
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Field<'de>, A::Error> {
                Value::deserialize(MapAccessDeserializer::new(map)).map(Field::Other)
            }
        }
        deserializer.deserialize_any(Any)
    }
}

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
    #[serde(borrow, default, deserialize_with = "null_as_empty")]
    pub values: Vec<Fields<'a>>,
    #[serde(borrow, default, deserialize_with = "null_as_empty")]
    pub values_short_display: Vec<Fields<'a>>,
    #[serde(borrow, default, deserialize_with = "null_as_empty")]
    pub devices: Vec<Fields<'a>>,
    /// Machine name, e.g. `interface-state-change`; `node_down` / `tloc_down` on correlated alarms.
    #[serde(borrow, default, deserialize_with = "optional_text")]
    pub rulename: Option<Cow<'a, str>>,
    /// Usually the machine name again, but correlated alarms carry the literal `"rulename"`:
    /// read it through [`Alarm::event_name`].
    #[serde(borrow, default, deserialize_with = "optional_text")]
    pub eventname: Option<Cow<'a, str>>,
    #[serde(borrow, default, rename = "type", deserialize_with = "optional_text")]
    pub kind: Option<Cow<'a, str>>,
    /// `VPN`, `System`, `Control`, `BFD`, `OMP`.
    #[serde(borrow, default, deserialize_with = "optional_text")]
    pub component: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "optional_text")]
    pub message: Option<Cow<'a, str>>,
    /// Present in 2023 webhooks and in REST records.
    #[serde(borrow, default, deserialize_with = "optional_text")]
    pub system_ip: Option<Cow<'a, str>>,
    /// REST records only.
    #[serde(borrow, default, deserialize_with = "optional_text")]
    pub host_name: Option<Cow<'a, str>>,
    /// REST records only: the uuid of the alarm that cleared this one, empty while it is raised.
    #[serde(borrow, default, deserialize_with = "optional_text")]
    pub cleared_by: Option<Cow<'a, str>>,
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
            Field::Text(text) if !text.is_empty() => Some(text.clone().into_owned()),
            Field::Other(Value::Number(number)) => Some(number.to_string()),
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

impl From<SdwanError> for Invalid {
    fn from(error: SdwanError) -> Invalid {
        Invalid {
            kind: match error {
                SdwanError::Malformed { .. } => "malformed",
                SdwanError::NotAnAlarm { .. } => "not_an_alarm",
            },
            reason: error.to_string(),
        }
    }
}

/// Normalizes one verified body: the receiver's hot path. The document is parsed once, into the
/// typed, borrowing [`Alarm`] (never into a `serde_json::Value`), and the event's `data` is left
/// `null`: the body itself becomes the data ([`Normalized::raw_data`], a reference to the
/// received bytes, not a copy), which a successful parse has proven to be one well-formed JSON
/// object. With the manager's URL, the event links to the alarm's page.
pub fn normalize(
    source_name: &str,
    request: &Verified,
    vmanage_url: Option<&str>,
) -> Result<Normalized, Invalid> {
    let body = request.body();
    let alarm = parse(body)?;
    let mut normalized = build(source_name, &alarm);
    normalized.event.link = vmanage_url.map(|url| details_link(url, &alarm.uuid));
    normalized.raw_data = Some(body.clone());
    Ok(normalized)
}

/// The event and alarm updates of an alarm already parsed (a REST record, a test), with `raw` as
/// its `data`.
pub fn from_alarm(source_name: &str, alarm: &Alarm, raw: &Value) -> Normalized {
    let mut normalized = build(source_name, alarm);
    normalized.event.data = raw.clone();
    normalized
}

/// The event (with empty `data`), its idempotency key and the alarm updates of one alarm.
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
        raw_data: None,
        // A redelivery of the same document has the same key.
        idempotency_key: Some(alarm_key(source_name, &alarm.uuid)),
        alarms: alarm_updates(source_name, alarm),
    }
}

/// The alarm-store key of an SD-WAN alarm: `<source>:sdwan:<uuid>`.
pub fn alarm_key(source_name: &str, uuid: &str) -> String {
    format!("{source_name}:sdwan:{uuid}")
}

/// The manager's page for one alarm: `{vmanage_url}/#/app/monitor/alarms/details/{uuid}`.
pub fn details_link(vmanage_url: &str, uuid: &str) -> String {
    format!(
        "{}/#/app/monitor/alarms/details/{}",
        vmanage_url.trim_end_matches('/'),
        url_component(uuid)
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
        for (key, value) in fields.iter() {
            if matches!(key, "host-name" | "system-ip") {
                continue;
            }
            let separator = match (entities, pairs) {
                (0, 0) => ": ",
                (_, 0) => "; ",
                _ => ", ",
            };
            let _ = match value {
                Field::Text(text) => write!(summary, "{separator}{key}={text}"),
                Field::Other(other) => write!(summary, "{separator}{key}={other}"),
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
fn alarm_updates(source_name: &str, alarm: &Alarm) -> Vec<AlarmUpdate> {
    let update = |uuid: &str, raised| AlarmUpdate {
        key: alarm_key(source_name, uuid),
        raised,
    };
    if alarm.active {
        return vec![update(&alarm.uuid, true)];
    }
    let mut updates: Vec<AlarmUpdate> = alarm
        .cleared_events
        .iter()
        .filter(|uuid| !uuid.trim().is_empty())
        .map(|uuid| update(uuid, false))
        .collect();
    if updates.is_empty() && non_empty(alarm.cleared_by.as_deref()).is_some() {
        updates.push(update(&alarm.uuid, false));
    }
    updates
}

fn text_field<'f>(fields: Option<&'f Fields>, key: &str) -> Option<&'f str> {
    match fields?.get(key)? {
        Field::Text(text) => non_empty(Some(text)),
        Field::Other(_) => None,
    }
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

/// An optional string that borrows from the body when it has no escapes (serde's own
/// `Option<Cow<str>>` always copies).
fn optional_text<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Cow<'de, str>>, D::Error> {
    Ok(Option::<Text<'de>>::deserialize(deserializer)?.map(|Text(text)| text))
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
