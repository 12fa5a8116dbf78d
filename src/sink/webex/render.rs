//! Message templates. Jinja syntax (minijinja), which network engineers know from Ansible: a user
//! template for every event, or the built-in ones (one for SD-WAN alarms, one for anything else).
//!
//! Every value a template prints with `{{ ... }}` goes through [`escape_into`]: text from devices
//! cannot change the message's Markdown. A template that really wants raw Markdown from a value
//! says so with `|safe`. Links go through the `link_url` filter, which keeps only http(s) URLs and
//! percent-encodes what could end a Markdown link. Every template marks severities with the one
//! `severity_marker` filter, so a marker means the same in every message.

use std::fmt::Write as _;
use std::time::Duration;

use anyhow::Context;
use minijinja::value::{Serde, Value};
use minijinja::{Environment, Error, ErrorKind, State, context};

use super::markdown::escape_into;
use crate::event::Event;

/// Bounds the work of one render, so that a template that loops forever fails instead of hanging
/// the sink. The built-in templates use a few hundred units.
const FUEL: u64 = 100_000;

/// An untrusted value printed in a message is cut after this many characters, and ends with `…`:
/// a sender's 1 MiB field would otherwise fill a hundred messages.
pub const MAX_VALUE_CHARS: usize = 1000;

/// A link longer than this is left out: no platform's link is, and one cut short would be wrong.
const MAX_LINK_BYTES: usize = 2048;

/// Times in messages: `2019-08-30 21:58:38 PDT`.
const TIME_FORMAT: &str = "%Y-%m-%d %H:%M:%S %Z";

/// The built-in message for an SD-WAN Manager alarm: what the classic Flask receiver posted (the
/// alarm name, its time, every `values_short_display` key and value, the details link), plus
pub use super::templates::{GENERIC as GENERIC_TEMPLATE, SDWAN as SDWAN_TEMPLATE};

pub struct Templates {
    env: Environment<'static>,
    custom: bool,
    timezone: jiff::tz::TimeZone,
    timezone_name: String,
}

/// A template environment whose every printed value is Markdown-escaped (unless marked safe)
/// and cut after `max_chars` characters with `…`, with `fuel` as its loop budget: the built-in
/// per-event messages' and the group notifications'.
pub(super) fn escaping_environment(fuel: u64, max_chars: usize) -> Environment<'static> {
    let mut env = Environment::new();
    env.set_fuel(Some(fuel));
    env.set_formatter(move |out, _state, value| {
        if value.is_undefined() || value.is_none() {
            return Ok(());
        }
        let text = value.to_string();
        if value.is_safe() {
            // Made by our filters (links, times, markers) or marked `|safe` by the template's
            // author.
            out.write_str(&text)?;
        } else {
            let mut escaped = String::with_capacity(text.len() + 8);
            escape_into(&mut escaped, &cut(&text, max_chars));
            out.write_str(&escaped)?;
        }
        Ok(())
    });
    env
}

/// `text` cut after `max` characters, ending with `…` when cut.
pub(super) fn cut(text: &str, max: usize) -> std::borrow::Cow<'_, str> {
    match text.char_indices().nth(max) {
        Some((index, _)) => format!("{}…", &text[..index]).into(),
        None => text.into(),
    }
}

impl Templates {
    /// `custom`: one template for every event; `None` for the built-in ones. A syntax error says
    /// on which line of the template it is.
    pub fn new(custom: Option<&str>, timezone: jiff::tz::TimeZone) -> anyhow::Result<Templates> {
        let mut env = escaping_environment(FUEL, MAX_VALUE_CHARS);
        env.add_filter("link_url", link_url);
        env.add_filter("severity_marker", severity_marker);
        // Built-in filters that mark their output safe would let a value through unescaped:
        // `tojson` stays escaped like any value, and `escape`/`e` escape for Markdown, not HTML.
        env.add_filter("tojson", |value: Value| -> Result<String, Error> {
            serde_json::to_string(&value)
                .map_err(|error| Error::new(ErrorKind::InvalidOperation, error.to_string()))
        });
        let markdown_escape = |value: Value| -> Value {
            if value.is_safe() {
                return value;
            }
            let mut escaped = String::new();
            escape_into(&mut escaped, &value.to_string());
            Value::from_safe_string(escaped)
        };
        env.add_filter("escape", markdown_escape);
        env.add_filter("e", markdown_escape);
        let tz_for_filter = timezone.clone();
        env.add_filter("localtime", move |state: &State, value: Value| {
            localtime(state, &value, &tz_for_filter)
        });
        for (name, _, source) in super::templates::BUILT_IN {
            env.add_template(name, source)
                .with_context(|| format!("the built-in {name} template"))?;
        }
        env.add_template("generic", super::templates::GENERIC)
            .context("the built-in template")?;
        if let Some(source) = custom {
            env.add_template_owned("custom", source.to_owned())
                .map_err(|error| describe(&error))?;
        }
        let timezone_name = timezone.iana_name().unwrap_or("UTC").to_owned();
        Ok(Templates {
            env,
            custom: custom.is_some(),
            timezone,
            timezone_name,
        })
    }

    /// The Markdown message for `event`.
    pub fn render(&self, event: &Event) -> anyhow::Result<String> {
        if self.custom {
            return self.render_with("custom", event);
        }
        let name = super::templates::BUILT_IN
            .iter()
            .find(|(_, prefix, _)| event.kind.starts_with(prefix))
            .map_or("generic", |(name, _, _)| name);
        // A provider's message reads the provider's fields, but any sender can claim the type
        // (a CloudEvent, a mapped webhook, a pxGrid topic) or leave fields out: data without the
        // expected shape gets the generic message, which reads only the event's own fields,
        // rather than no message at all.
        self.render_with(name, event)
            .or_else(|_| self.render_with("generic", event))
    }

    fn render_with(&self, name: &str, event: &Event) -> anyhow::Result<String> {
        let template = self
            .env
            .get_template(name)
            .map_err(|error| describe(&error))?;
        let time = event
            .time
            .to_zoned_datetime(self.timezone.clone())
            .strftime(TIME_FORMAT)
            .to_string();
        let rendered = template
            .render(context! {
                event => Value::from(Serde(event)),
                time => Value::from_safe_string(time),
                timezone => self.timezone_name.as_str(),
            })
            .map_err(|error| describe(&error))?;
        Ok(rendered.trim().to_owned())
    }
}

/// A template error as a person can act on it: what and where.
fn describe(error: &Error) -> anyhow::Error {
    match error.line() {
        Some(line) => anyhow::anyhow!("line {line}: {error}"),
        None => anyhow::anyhow!("{error}"),
    }
}

/// The marker of a severity: 🔴 critical, 🟠 major, 🟡 minor, ⚠️ warning, 🔵 info, ✅ cleared;
/// nothing for a name it does not know.
pub fn marker(severity: &str) -> &'static str {
    match severity.to_ascii_lowercase().as_str() {
        "critical" => "🔴",
        "major" => "🟠",
        "minor" => "🟡",
        "warning" => "⚠️",
        "info" => "🔵",
        "cleared" => "✅",
        _ => "",
    }
}

/// `{{ event | severity_marker }}` or `{{ "major" | severity_marker }}`: the marker of an event
/// (✅ once its alarm cleared, else its severity's) or of a severity name (see [`marker`]). One
/// filter for every template, the built-in and the user's, so a marker always means the same.
fn severity_marker(value: Value) -> Value {
    let name = match value.get_attr("severity") {
        Ok(severity) if !severity.is_undefined() => {
            let cleared = value
                .get_attr("alarmstate")
                .ok()
                .is_some_and(|state| state.as_str() == Some("cleared"));
            if cleared {
                "cleared".to_owned()
            } else {
                severity.to_string()
            }
        }
        _ => value.as_str().unwrap_or_default().to_owned(),
    };
    Value::from_safe_string(marker(&name).to_owned())
}

/// `{{ url | link_url }}`: the URL made safe for `[text](url)`, or nothing when it is not an
/// http(s) URL. Spaces, parentheses, angle brackets and quotes are percent-encoded so that the URL
/// cannot end the link early or add a title.
fn link_url(value: Value) -> Value {
    value
        .as_str()
        .and_then(safe_link)
        .map_or(Value::UNDEFINED, Value::from_safe_string)
}

/// An http(s) URL made safe for `[text](url)` (see `link_url`); `None` for anything else or a URL
/// over 2 KiB.
pub fn safe_link(url: &str) -> Option<String> {
    let lower = url.to_ascii_lowercase();
    if !(lower.starts_with("https://") || lower.starts_with("http://"))
        || url.len() > MAX_LINK_BYTES
    {
        return None;
    }
    let mut safe = String::with_capacity(url.len());
    for character in url.chars() {
        match character {
            ' ' | '(' | ')' | '<' | '>' | '"' | '\'' | '\\' | '[' | ']' | '`' => {
                let mut buffer = [0; 4];
                for byte in character.encode_utf8(&mut buffer).bytes() {
                    let _ = write!(safe, "%{byte:02X}");
                }
            }
            character if character.is_control() => {}
            character => safe.push(character),
        }
    }
    Some(safe)
}

/// `{{ value | localtime }}`: an RFC 3339 time or epoch milliseconds (SD-WAN's `entry_time`) in
/// the sink's time zone.
fn localtime(_state: &State, value: &Value, timezone: &jiff::tz::TimeZone) -> Result<Value, Error> {
    let timestamp = if let Some(text) = value.as_str() {
        text.parse::<jiff::Timestamp>().ok()
    } else {
        i64::try_from(value.clone())
            .ok()
            .and_then(|millis| jiff::Timestamp::from_millisecond(millis).ok())
    };
    let timestamp = timestamp.ok_or_else(|| {
        Error::new(
            ErrorKind::InvalidOperation,
            format!("localtime: {value} is not a time"),
        )
    })?;
    let text = timestamp
        .to_zoned_datetime(timezone.clone())
        .strftime(TIME_FORMAT)
        .to_string();
    Ok(Value::from_safe_string(text))
}

/// How long a `Retry-After` value asks to wait: delta-seconds (`120`) or an HTTP date (`Wed, 21
/// Oct 2015 07:28:00 GMT`, counted from `now`; zero when already past). `None` when unreadable.
pub fn parse_retry_after(value: &str, now: jiff::Timestamp) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let date = jiff::fmt::rfc2822::parse(value).ok()?.timestamp();
    let wait = date.duration_since(now);
    Some(Duration::try_from(wait).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests;
