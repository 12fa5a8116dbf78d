//! [`Matcher`]: a compiled [`EventMatcher`] (a sink's `match:`, a route, an inhibition rule, a
//! silence), with the reason in words when an event does not match; [`attribute`], an event's
//! value of a `group_by`/`equal` attribute; and [`Routes`], every sink's `match:` as the pipeline
//! applies it per event.
//!
//! Matching runs on the pipeline's hot path for every event and every sink, so
//! [`Matcher::matches`] allocates nothing: regular expressions are compiled once, `equals`
//! values are prepared at compile time, and a number or boolean is formatted into a stack buffer
//! when a regular expression looks at its text.

use std::borrow::Cow;
use std::fmt::{self, Write as _};

use serde_json::Value;

use crate::config::{DataMatcher, EventMatcher, SinkConfig, SinkMatch};
use crate::event::Event;

/// A compiled [`EventMatcher`] (its regular expressions built once).
#[derive(Debug, Clone)]
pub struct Matcher {
    config: EventMatcher,
    data: Vec<DataCondition>,
}

/// One `data:` condition, ready to apply.
#[derive(Debug, Clone)]
struct DataCondition {
    pointer: String,
    /// The pointer's reference tokens, unescaped once (`serde_json`'s `Value::pointer`
    /// allocates a string per token on every lookup).
    tokens: Vec<Token>,
    test: DataTest,
}

/// One reference token of a JSON pointer: an object key, and the array index it also means
/// when it is one (RFC 6901: digits without a leading zero).
#[derive(Debug, Clone)]
struct Token {
    key: String,
    index: Option<usize>,
}

impl Token {
    fn parse(pointer: &str) -> Vec<Token> {
        pointer
            .split('/')
            .skip(1)
            .map(|raw| {
                let key = raw.replace("~1", "/").replace("~0", "~");
                let index = (!key.starts_with('+') && (key == "0" || !key.starts_with('0')))
                    .then(|| key.parse().ok())
                    .flatten();
                Token { key, index }
            })
            .collect()
    }
}

/// The value at the pointer made of `tokens`, as `Value::pointer` finds it, without allocating.
fn lookup<'a>(data: &'a Value, tokens: &[Token]) -> Option<&'a Value> {
    tokens.iter().try_fold(data, |target, token| match target {
        Value::Object(map) => map.get(token.key.as_str()),
        Value::Array(list) => token.index.and_then(|index| list.get(index)),
        _ => None,
    })
}

#[derive(Debug, Clone)]
enum DataTest {
    /// JSON equality with `value`, or with `alternate`: the same scalar written the other way
    /// (`"1"` for `1`, `true` for `"true"`), because YAML makes it easy to write `equals: 1`
    /// for a value a device sends as the string `"1"` and the reverse (SD-WAN sends `site_id`
    /// as a string in some releases and a number in others).
    Equals {
        value: Value,
        alternate: Option<Value>,
    },
    /// The value's text (a string as is, another value as its JSON) matches, anchored.
    Regex { source: String, regex: regex::Regex },
}

impl Matcher {
    /// Compiles `config`. Errors, in words: a regular expression that does not compile, a JSON
    /// pointer that does not start with `/`, a `data` condition with both or neither of
    /// `equals` and `regex`. Every problem is reported, one per line.
    pub fn new(config: &EventMatcher) -> Result<Matcher, String> {
        let mut errors = Vec::new();
        let mut data = Vec::with_capacity(config.data.len());
        for (index, condition) in config.data.iter().enumerate() {
            match DataCondition::compile(condition) {
                Ok(compiled) => data.push(compiled),
                Err(message) => errors.push(format!("data[{index}]: {message}")),
            }
        }
        if errors.is_empty() {
            Ok(Matcher {
                config: config.clone(),
                data,
            })
        } else {
            Err(errors.join("; "))
        }
    }

    /// The configuration this matcher was compiled from.
    pub fn config(&self) -> &EventMatcher {
        &self.config
    }

    /// Whether `event` matches: every field that is set holds (an empty matcher takes every
    /// event). Allocates nothing.
    pub fn matches(&self, event: &Event) -> bool {
        let config = &self.config;
        let source = event.source_name();
        (config.source.is_empty() || config.source.iter().any(|name| name == source))
            && (config.device.is_empty() || config.device.contains(&event.device))
            && (config.kind.is_empty() || config.kind.contains(&event.kind))
            && (config.type_prefix.is_empty()
                || config
                    .type_prefix
                    .iter()
                    .any(|prefix| event.kind.starts_with(prefix.as_str())))
            && config
                .min_severity
                .is_none_or(|minimum| event.severity >= minimum)
            && (config.alarmstate.is_empty() || config.alarmstate.contains(&event.alarmstate))
            && (config.subject_prefix.is_empty()
                || event.subject.as_deref().is_some_and(|subject| {
                    config
                        .subject_prefix
                        .iter()
                        .any(|prefix| subject.starts_with(prefix.as_str()))
                }))
            && self
                .data
                .iter()
                .all(|condition| condition.holds(lookup(&event.data, &condition.tokens)))
    }

    /// Why `event` does not match (the first field that fails, in words, as the trace shows
    /// it), or `None` when it does.
    pub fn mismatch(&self, event: &Event) -> Option<String> {
        let config = &self.config;
        let source = event.source_name();
        if !config.source.is_empty() && !config.source.iter().any(|name| name == source) {
            return Some(format!(
                "source {source:?} is not one of {:?}",
                config.source
            ));
        }
        if !config.device.is_empty() && !config.device.contains(&event.device) {
            return Some(format!(
                "device {:?} is not one of {:?}",
                event.device, config.device
            ));
        }
        if !config.kind.is_empty() && !config.kind.contains(&event.kind) {
            return Some(format!(
                "type {:?} is not one of {:?}",
                event.kind, config.kind
            ));
        }
        if !config.type_prefix.is_empty()
            && !config
                .type_prefix
                .iter()
                .any(|prefix| event.kind.starts_with(prefix.as_str()))
        {
            return Some(format!(
                "type {:?} does not start with any of {:?}",
                event.kind, config.type_prefix
            ));
        }
        if let Some(minimum) = config.min_severity
            && event.severity < minimum
        {
            return Some(format!(
                "severity {} is below {}",
                event.severity.as_str(),
                minimum.as_str()
            ));
        }
        if !config.alarmstate.is_empty() && !config.alarmstate.contains(&event.alarmstate) {
            let states: Vec<&str> = config
                .alarmstate
                .iter()
                .map(|state| state.as_str())
                .collect();
            return Some(format!(
                "alarmstate {} is not one of [{}]",
                event.alarmstate.as_str(),
                states.join(", ")
            ));
        }
        if !config.subject_prefix.is_empty() {
            match event.subject.as_deref() {
                None => {
                    return Some(format!(
                        "the event has no subject (wanted one starting with any of {:?})",
                        config.subject_prefix
                    ));
                }
                Some(subject)
                    if !config
                        .subject_prefix
                        .iter()
                        .any(|prefix| subject.starts_with(prefix.as_str())) =>
                {
                    return Some(format!(
                        "subject {subject:?} does not start with any of {:?}",
                        config.subject_prefix
                    ));
                }
                Some(_) => {}
            }
        }
        self.data
            .iter()
            .find_map(|condition| condition.mismatch(lookup(&event.data, &condition.tokens)))
    }
}

impl DataCondition {
    fn compile(config: &DataMatcher) -> Result<DataCondition, String> {
        if !config.pointer.starts_with('/') {
            return Err(format!(
                "the pointer {:?} must start with '/' (a JSON pointer such as /values/0/system-ip)",
                config.pointer
            ));
        }
        let test = match (&config.equals, &config.regex) {
            (Some(_), Some(_)) => {
                return Err("set either equals or regex, not both".to_owned());
            }
            (None, None) => return Err("set equals or regex".to_owned()),
            (Some(value), None) => DataTest::Equals {
                value: value.clone(),
                alternate: alternate_scalar(value),
            },
            (None, Some(source)) => {
                // Anchored at both ends, as Alertmanager's `=~`: `edge-1` does not match `edge-12`.
                let regex = regex::Regex::new(&format!("^(?:{source})$")).map_err(|err| {
                    // The error of the expression as written, not of its anchored form.
                    let err = regex::Regex::new(source).err().unwrap_or(err);
                    format!("the regular expression {source:?} does not compile: {err}")
                })?;
                DataTest::Regex {
                    source: source.clone(),
                    regex,
                }
            }
        };
        Ok(DataCondition {
            pointer: config.pointer.clone(),
            tokens: Token::parse(&config.pointer),
            test,
        })
    }

    /// A missing value (or `null`, for `regex`) never matches: a condition on data the event
    /// does not have is a condition it fails.
    fn holds(&self, found: Option<&Value>) -> bool {
        let Some(found) = found else {
            return false;
        };
        match &self.test {
            DataTest::Equals { value, alternate } => {
                found == value || alternate.as_ref().is_some_and(|other| found == other)
            }
            DataTest::Regex { regex, .. } => {
                with_text(found, |text| text.is_some_and(|text| regex.is_match(text)))
            }
        }
    }

    fn mismatch(&self, found: Option<&Value>) -> Option<String> {
        if self.holds(found) {
            return None;
        }
        let pointer = &self.pointer;
        let Some(found) = found else {
            return Some(format!("data {pointer} is missing"));
        };
        Some(match &self.test {
            DataTest::Equals { value, .. } => {
                format!("data {pointer} = {found} does not equal {value}")
            }
            DataTest::Regex { source, .. } => {
                format!("data {pointer} = {found} does not match /{source}/")
            }
        })
    }
}

/// The other spelling of a scalar `equals` value: a number or boolean as its JSON text, a
/// string that is a number or boolean in JSON as that value.
fn alternate_scalar(value: &Value) -> Option<Value> {
    match value {
        Value::Number(_) | Value::Bool(_) => Some(Value::String(value.to_string())),
        Value::String(text) => match serde_json::from_str::<Value>(text) {
            Ok(parsed @ (Value::Number(_) | Value::Bool(_))) => Some(parsed),
            _ => None,
        },
        _ => None,
    }
}

/// Calls `f` with the text a regular expression sees of `value`: a string as is, a number or
/// boolean as its JSON (formatted on the stack), an array or object as its JSON (allocated:
/// rare in matchers), `null` as none.
fn with_text<R>(value: &Value, f: impl FnOnce(Option<&str>) -> R) -> R {
    match value {
        Value::String(text) => f(Some(text)),
        Value::Null => f(None),
        Value::Bool(flag) => f(Some(if *flag { "true" } else { "false" })),
        Value::Number(number) => {
            let mut buffer = StackText::default();
            if write!(buffer, "{number}").is_ok() {
                f(Some(buffer.as_str()))
            } else {
                f(Some(&number.to_string()))
            }
        }
        Value::Array(_) | Value::Object(_) => f(Some(&value.to_string())),
    }
}

/// A small text buffer on the stack, enough for any JSON number's shortest form.
struct StackText {
    bytes: [u8; 64],
    len: usize,
}

impl Default for StackText {
    fn default() -> StackText {
        StackText {
            bytes: [0; 64],
            len: 0,
        }
    }
}

impl StackText {
    fn as_str(&self) -> &str {
        // Only whole `&str`s are ever copied in, so the bytes are UTF-8.
        std::str::from_utf8(&self.bytes[..self.len]).unwrap_or("")
    }
}

impl fmt::Write for StackText {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        let end = self.len + text.len();
        if end > self.bytes.len() {
            return Err(fmt::Error);
        }
        self.bytes[self.len..end].copy_from_slice(text.as_bytes());
        self.len = end;
        Ok(())
    }
}

/// The attribute names `group_by` and an inhibition rule's `equal` accept.
pub const ATTRIBUTES: [&str; 7] = [
    "source",
    "device",
    "type",
    "severity",
    "subject",
    "objectclass",
    "alarmstate",
];

/// Checks an attribute name of `group_by` or `equal` (one of [`ATTRIBUTES`], a JSON pointer
/// into `data`, or `...` where `allow_each` says each alarm is its own group); the error in
/// words.
pub fn check_attribute(name: &str, allow_each: bool) -> Result<(), String> {
    if ATTRIBUTES.contains(&name) || name.starts_with('/') || (allow_each && name == "...") {
        Ok(())
    } else {
        let each = if allow_each { ", ... (each alarm)" } else { "" };
        Err(format!(
            "unknown attribute {name:?}: use one of {}{each} or a JSON pointer into data such as /site_id",
            ATTRIBUTES.join(", ")
        ))
    }
}

/// The event's value of an attribute named in `group_by` or an inhibition rule's `equal`:
/// `source`, `device`, `type`, `severity`, `subject`, `objectclass`, `alarmstate`, or a JSON
/// pointer into `data` (`/siteId`; a string as is, another value as its JSON). `None` when the
/// event has no such value.
pub fn attribute<'a>(event: &'a Event, name: &str) -> Option<Cow<'a, str>> {
    match name {
        "source" => Some(Cow::Borrowed(event.source_name())),
        "device" => Some(Cow::Borrowed(&event.device)),
        "type" => Some(Cow::Borrowed(&event.kind)),
        "severity" => Some(Cow::Borrowed(event.severity.as_str())),
        "alarmstate" => Some(Cow::Borrowed(event.alarmstate.as_str())),
        "subject" => event.subject.as_deref().map(Cow::Borrowed),
        "objectclass" => event.objectclass.as_deref().map(Cow::Borrowed),
        pointer if pointer.starts_with('/') => match event.data.pointer(pointer)? {
            Value::String(text) => Some(Cow::Borrowed(text)),
            Value::Null => None,
            other => Some(Cow::Owned(other.to_string())),
        },
        _ => None,
    }
}

/// Whether a sink with `filter` takes `event`: every field of the filter that is set must match,
/// and an empty filter takes everything. Compiles the filter on each call: code that matches
/// many events compiles a [`Matcher`] once. A filter that does not compile (an invalid regular
/// expression, which configuration validation reports first) takes nothing.
pub fn matches(filter: &SinkMatch, event: &Event) -> bool {
    Matcher::new(filter).is_ok_and(|matcher| matcher.matches(event))
}

/// Every sink's name with its compiled filter, in configuration order.
#[derive(Debug, Clone, Default)]
pub struct Routes {
    /// `None`: a filter that did not compile, or a sink a route names; it takes nothing.
    routes: Vec<(String, Option<Matcher>)>,
}

impl Routes {
    /// The filters of `sinks`. A filter that does not compile (configuration validation reports
    /// it first, so only a configuration built by hand gets here) takes nothing: sending every
    /// event to a sink meant to get a few would be the worse mistake.
    pub fn new(sinks: &[SinkConfig]) -> Routes {
        Routes::with_routed(sinks, &[])
    }

    /// As [`Routes::new`], but the sinks named in `routed` (those a route of the alerting
    /// policy notifies, `Policy::routed_sinks`) take nothing through their own `match:`: the
    /// router sends them the grouped notifications instead.
    pub fn with_routed(sinks: &[SinkConfig], routed: &[String]) -> Routes {
        Routes {
            routes: sinks
                .iter()
                .map(|sink| {
                    let name = sink.name().to_owned();
                    let matcher = if routed.contains(&name) {
                        None
                    } else {
                        Matcher::new(sink.filter()).ok()
                    };
                    (name, matcher)
                })
                .collect(),
        }
    }

    /// The names of the sinks that take `event`, in configuration order.
    pub fn sinks_for(&self, event: &Event) -> Vec<String> {
        self.routes
            .iter()
            .filter(|(_, matcher)| matcher.as_ref().is_some_and(|m| m.matches(event)))
            .map(|(name, _)| name.clone())
            .collect()
    }
}

#[cfg(test)]
mod tests;
