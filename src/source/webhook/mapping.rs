//! `provider: generic`: any JSON document, read through a declarative mapping from the
//! configuration. Each field is a JSON pointer (`/alert/test/name`), a template in Jinja syntax
//! (`"{{ alert.rule.name }} on {{ alert.test.name }}"`, the document as its context), or a
//! constant. This is how ThousandEyes custom webhooks (whose body is the operator's own
//! Handlebars template) and in-house tools are taken in. Pure: body in, [`Normalized`] out.

use minijinja::Environment;
use serde_json::Value;

use super::verify::Verified;
use super::{Invalid, Normalized};
use crate::config::GenericMapping;
use crate::event::{AlarmState, AlarmUpdate, Event, Severity};

/// Template instructions a field may take: a mapping that loops forever is stopped.
const FUEL: u64 = 20_000;

/// Where one field comes from.
#[derive(Debug, Clone)]
enum Field {
    Pointer(String),
    /// The name of a compiled template in the mapping's environment.
    Template(String),
    Constant(String),
}

/// A compiled mapping.
#[derive(Debug)]
pub struct Mapping {
    env: Environment<'static>,
    id: Option<Field>,
    time: Option<Field>,
    device: Option<Field>,
    kind: Option<Field>,
    severity: Option<Field>,
    severity_map: std::collections::BTreeMap<String, Severity>,
    summary: Option<Field>,
    subject: Option<Field>,
    link: Option<Field>,
    alarm_key: Option<Field>,
    alarm_state: Option<Field>,
    alarm_state_map: std::collections::BTreeMap<String, AlarmState>,
    default_kind: String,
}

impl Mapping {
    /// Compiles the templates of a mapping; the error says which field and what is wrong.
    pub fn new(source_name: &str, config: &GenericMapping) -> Result<Mapping, String> {
        let mut env = Environment::new();
        env.set_fuel(Some(FUEL));
        let mut field =
            |name: &'static str, text: &Option<String>| -> Result<Option<Field>, String> {
                let Some(text) = text else {
                    return Ok(None);
                };
                if text.starts_with('/') {
                    return Ok(Some(Field::Pointer(text.clone())));
                }
                if text.contains("{{") || text.contains("{%") {
                    env.add_template_owned(name, text.clone())
                        .map_err(|error| format!("{name}: {error}"))?;
                    return Ok(Some(Field::Template(name.to_owned())));
                }
                Ok(Some(Field::Constant(text.clone())))
            };
        let mapping = Mapping {
            id: field("id", &config.id)?,
            time: field("time", &config.time)?,
            device: field("device", &config.device)?,
            kind: field("type", &config.kind)?,
            severity: field("severity", &config.severity)?,
            summary: field("summary", &config.summary)?,
            subject: field("subject", &config.subject)?,
            link: field("link", &config.link)?,
            alarm_key: field("alarm_key", &config.alarm_key)?,
            alarm_state: field("alarm_state", &config.alarm_state)?,
            severity_map: config.severity_map.clone(),
            alarm_state_map: config.alarm_state_map.clone(),
            default_kind: format!("io.netpulse.webhook.{source_name}"),
            env,
        };
        if mapping.device.is_none() || mapping.summary.is_none() {
            return Err("set at least device and summary".to_owned());
        }
        if mapping.alarm_state.is_some() != mapping.alarm_key.is_some() {
            return Err("alarm_key and alarm_state go together".to_owned());
        }
        Ok(mapping)
    }

    /// The text of `field` in `document`; None when it is absent, null or empty.
    fn read(&self, field: &Option<Field>, document: &Value) -> Result<Option<String>, Invalid> {
        let text = match field {
            None => return Ok(None),
            Some(Field::Constant(text)) => text.clone(),
            Some(Field::Pointer(pointer)) => match document.pointer(pointer) {
                None | Some(Value::Null) => return Ok(None),
                Some(Value::String(text)) => text.clone(),
                Some(other) => other.to_string(),
            },
            Some(Field::Template(name)) => {
                let template = self.env.get_template(name).expect("compiled in new");
                template
                    .render(minijinja::Value::from(minijinja::value::Serde(document)))
                    .map_err(|error| {
                        Invalid::unrecognized(format!("mapping field {name}: {error}"))
                    })?
            }
        };
        let text = text.trim();
        Ok((!text.is_empty()).then(|| text.to_owned()))
    }

    /// The event the mapping makes of `body`.
    pub fn normalize(&self, source_name: &str, request: &Verified) -> Result<Normalized, Invalid> {
        let now = request.received_at();
        let document: Value = serde_json::from_slice(request.body())
            .map_err(|error| Invalid::malformed(format!("malformed JSON: {error}")))?;
        if !document.is_object() {
            return Err(Invalid::unrecognized("the body is JSON but not an object"));
        }
        let required = |name: &str, value: Option<String>| {
            value.ok_or_else(|| {
                Invalid::unrecognized(format!(
                    "the mapping's {name} finds nothing in this document"
                ))
            })
        };
        let device = required("device", self.read(&self.device, &document)?)?;
        let summary = required("summary", self.read(&self.summary, &document)?)?;
        let kind = self
            .read(&self.kind, &document)?
            .unwrap_or_else(|| self.default_kind.clone());
        let time = match self.read(&self.time, &document)? {
            Some(text) => parse_time(&text).ok_or_else(|| {
                Invalid::unrecognized(format!(
                    "the mapping's time {text:?} is neither RFC 3339 nor a Unix time"
                ))
            })?,
            None => now,
        };
        let severity = match self.read(&self.severity, &document)? {
            None => Severity::Info,
            Some(raw) => self
                .severity_map
                .get(&raw)
                .copied()
                .or_else(|| serde_json::from_value(Value::String(raw.to_lowercase())).ok())
                .ok_or_else(|| {
                    Invalid::unrecognized(format!(
                        "severity {raw:?} is not in the mapping's severity_map nor one of info, warning, minor, major, critical"
                    ))
                })?,
        };
        let alarmstate = match self.read(&self.alarm_state, &document)? {
            None => AlarmState::Info,
            Some(raw) => self
                .alarm_state_map
                .get(&raw)
                .copied()
                .or_else(|| serde_json::from_value(Value::String(raw.to_lowercase())).ok())
                .unwrap_or(AlarmState::Info),
        };
        let alarm_key = self.read(&self.alarm_key, &document)?;
        let id = self.read(&self.id, &document)?;
        let subject = self.read(&self.subject, &document)?;
        let link = self
            .read(&self.link, &document)?
            .filter(|link| link.starts_with("https://") || link.starts_with("http://"));
        let mut event = Event::new(source_name, kind, time, document);
        event.device = device;
        event.summary = summary;
        event.severity = severity;
        event.alarmstate = alarmstate;
        event.subject = subject;
        event.link = link;
        let alarms = match (alarm_key, alarmstate) {
            (Some(key), AlarmState::Raised | AlarmState::Cleared) => vec![AlarmUpdate {
                key: format!("{source_name}:generic:{key}"),
                raised: alarmstate == AlarmState::Raised,
            }],
            _ => Vec::new(),
        };
        Ok(Normalized {
            raw_data: None,
            event,
            idempotency_key: id.map(|id| format!("{source_name}:generic:{id}")),
            alarms,
        })
    }
}

/// RFC 3339, or Unix seconds, or Unix milliseconds (told apart by size).
fn parse_time(text: &str) -> Option<jiff::Timestamp> {
    if let Ok(time) = text.parse() {
        return Some(time);
    }
    let number: f64 = text.parse().ok()?;
    if !number.is_finite() || number < 0.0 {
        return None;
    }
    let milliseconds = if number >= 1e11 {
        number
    } else {
        number * 1000.0
    };
    jiff::Timestamp::from_millisecond(milliseconds as i64).ok()
}

#[cfg(test)]
mod tests;
