//! A sink's `match:` against an event, and the table of every sink's filter.

use std::borrow::Cow;

use crate::config::{EventMatcher, SinkConfig, SinkMatch};
use crate::event::Event;

/// A compiled [`EventMatcher`] (its regular expressions built once).
#[derive(Debug, Clone)]
pub struct Matcher {
    config: EventMatcher,
}

impl Matcher {
    /// Compiles `config`; an invalid regular expression or JSON pointer is an error in words.
    pub fn new(config: &EventMatcher) -> Result<Matcher, String> {
        Ok(Matcher {
            config: config.clone(),
        })
    }

    pub fn matches(&self, event: &Event) -> bool {
        matches(&self.config, event)
    }

    /// Why `event` does not match (the first field that fails, in words), or `None` when it does.
    pub fn mismatch(&self, event: &Event) -> Option<String> {
        (!self.matches(event)).then(|| "does not match".to_owned())
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
            serde_json::Value::String(text) => Some(Cow::Borrowed(text)),
            serde_json::Value::Null => None,
            other => Some(Cow::Owned(other.to_string())),
        },
        _ => None,
    }
}

/// Whether a sink with `filter` takes `event`: every field of the filter that is set must match,
/// and an empty filter takes everything.
pub fn matches(filter: &SinkMatch, event: &Event) -> bool {
    let source = event.source_name();
    (filter.source.is_empty() || filter.source.iter().any(|name| name == source))
        && (filter.type_prefix.is_empty()
            || filter
                .type_prefix
                .iter()
                .any(|prefix| event.kind.starts_with(prefix.as_str())))
        && filter
            .min_severity
            .is_none_or(|minimum| event.severity >= minimum)
}

/// Every sink's name with its filter, in configuration order.
#[derive(Debug, Clone, Default)]
pub struct Routes {
    routes: Vec<(String, SinkMatch)>,
}

impl Routes {
    pub fn new(sinks: &[SinkConfig]) -> Routes {
        Routes {
            routes: sinks
                .iter()
                .map(|sink| (sink.name().to_owned(), sink.filter().clone()))
                .collect(),
        }
    }

    /// The names of the sinks that take `event`, in configuration order.
    pub fn sinks_for(&self, event: &Event) -> Vec<String> {
        self.routes
            .iter()
            .filter(|(_, filter)| matches(filter, event))
            .map(|(name, _)| name.clone())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Severity;

    fn event(source: &str, kind: &str, severity: Severity) -> Event {
        let mut event = Event::new(source, kind, jiff::Timestamp::now(), serde_json::json!({}));
        event.severity = severity;
        event
    }

    fn sinks() -> Vec<SinkConfig> {
        let stdout = |value| SinkConfig::Stdout(serde_json::from_value(value).unwrap());
        vec![
            stdout(serde_json::json!({"name": "all"})),
            stdout(serde_json::json!({
                "name": "noc",
                "match": {"source": ["vmanage"], "type_prefix": ["com.cisco.sdwan."], "min_severity": "major"}
            })),
        ]
    }

    #[test]
    fn events_are_routed_by_source_type_prefix_and_severity() {
        let routes = Routes::new(&sinks());
        let major = event("vmanage", "com.cisco.sdwan.alarm.raised", Severity::Major);
        assert_eq!(routes.sinks_for(&major), ["all", "noc"]);
        let critical = event(
            "vmanage",
            "com.cisco.sdwan.alarm.raised",
            Severity::Critical,
        );
        assert_eq!(routes.sinks_for(&critical), ["all", "noc"]);
        let minor = event("vmanage", "com.cisco.sdwan.alarm.raised", Severity::Minor);
        assert_eq!(routes.sinks_for(&minor), ["all"]);
        let other_source = event("leaf1", "com.cisco.sdwan.alarm.raised", Severity::Critical);
        assert_eq!(routes.sinks_for(&other_source), ["all"]);
        let other_type = event("vmanage", "com.cisco.dme.modified", Severity::Critical);
        assert_eq!(routes.sinks_for(&other_type), ["all"]);
    }

    #[test]
    fn any_listed_source_or_prefix_is_enough() {
        let filter = SinkMatch {
            source: vec!["a".to_owned(), "b".to_owned()],
            type_prefix: vec!["x.".to_owned(), "y.".to_owned()],
            min_severity: None,
            ..SinkMatch::default()
        };
        assert!(matches(&filter, &event("b", "y.down", Severity::Info)));
        assert!(!matches(&filter, &event("c", "y.down", Severity::Info)));
        assert!(!matches(&filter, &event("a", "z.down", Severity::Info)));
        assert!(matches(
            &SinkMatch::default(),
            &event("c", "z", Severity::Info)
        ));
    }
}
