//! The field mapping of `provider: generic` webhook sources.

use serde::Deserialize;

/// `provider: generic`: each field is a JSON pointer into the document (`/alert/test/name`), a
/// template (`"{{ alert.rule.name }} on {{ alert.test.name }}"`, Jinja syntax), or a constant.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GenericMapping {
    /// The notification's own id: a redelivery with the same id is stored once.
    #[serde(default)]
    pub id: Option<String>,
    /// RFC 3339, or a Unix time in seconds or milliseconds; the arrival time when absent.
    #[serde(default)]
    pub time: Option<String>,
    #[serde(default)]
    pub device: Option<String>,
    /// The CloudEvents `type`; `io.netpulse.webhook.<source name>` when absent.
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    #[serde(default)]
    pub severity: Option<String>,
    /// The sender's severity values to netpulse's (`"1": critical`); without it the value must
    /// already be one of info, warning, minor, major, critical.
    #[serde(default)]
    pub severity_map: std::collections::BTreeMap<String, crate::event::Severity>,
    #[serde(default)]
    pub summary: Option<String>,
    #[serde(default)]
    pub subject: Option<String>,
    #[serde(default)]
    pub link: Option<String>,
    /// The alarm this notification is about, raised or cleared by `alarm_state`.
    #[serde(default)]
    pub alarm_key: Option<String>,
    #[serde(default)]
    pub alarm_state: Option<String>,
    /// The sender's values to `raised`, `cleared` or `info` (`TRIGGER: raised`).
    #[serde(default)]
    pub alarm_state_map: std::collections::BTreeMap<String, crate::event::AlarmState>,
}

impl GenericMapping {
    /// What a mapping must have to make events: a device and a summary, an alarm key together with
    /// an alarm state, and templates that compile. The error says which field and what is wrong.
    pub fn check(&self) -> Result<(), String> {
        if self.device.is_none() || self.summary.is_none() {
            return Err("set at least device and summary".to_owned());
        }
        if self.alarm_state.is_some() != self.alarm_key.is_some() {
            return Err("alarm_key and alarm_state go together".to_owned());
        }
        let fields = [
            ("id", &self.id),
            ("time", &self.time),
            ("device", &self.device),
            ("type", &self.kind),
            ("severity", &self.severity),
            ("summary", &self.summary),
            ("subject", &self.subject),
            ("link", &self.link),
            ("alarm_key", &self.alarm_key),
            ("alarm_state", &self.alarm_state),
        ];
        let env = minijinja::Environment::new();
        for (name, text) in fields {
            let Some(text) = text
                .as_deref()
                .filter(|text| GenericMapping::is_template(text))
            else {
                continue;
            };
            env.template_from_str(text)
                .map_err(|error| format!("{name}: {error}"))?;
        }
        Ok(())
    }

    /// Whether a mapping field is a template (not a JSON pointer, not a constant).
    pub fn is_template(field: &str) -> bool {
        !field.starts_with('/') && (field.contains("{{") || field.contains("{%"))
    }
}
