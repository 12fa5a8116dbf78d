//! The built-in Webex message for a group's notification (an event of type
//! `io.netpulse.notification`): a headline with the route and the group's labels, the counts at a
//! glance (new per severity, cleared, still raised, flapping), the first lines with their links,
//! "… and N more", and a link to the dashboard filtered on the group's labels.
//!
//! Like the per-event messages (`render.rs`) it is a minijinja template whose every printed value
//! goes through the Markdown escape ([`escape_into`]); a plain-text twin is rendered alongside for
//! the clients and notifications that show no Markdown. A sink's own `template` is for per-event
//! messages and is not applied here: a notification's `data` is netpulse's, not a provider's, and
//! its shape is the same for every sink.

use anyhow::Context;
use minijinja::value::Value;
use minijinja::{Environment, context};

use super::render::{MAX_VALUE_CHARS, cut, escaping_environment, safe_link};
use crate::event::{Event, Severity};
use crate::route::{AlarmLine, LineState, Notification, NotificationReason, RootCause};

/// Lines shown at most; the rest are counted ("… and 37 more"). Ten fit a phone's screen and keep
/// a storm's notification one short message.
pub const MAX_LINES: usize = 10;
/// A line's summary is cut after this many characters: ten lines must stay one message.
const MAX_SUMMARY_CHARS: usize = 160;
/// A device name or label value is cut after this many characters.
const MAX_NAME_CHARS: usize = 80;
/// Bounds the work of one render, as for the per-event templates.
const FUEL: u64 = 50_000;

/// The group labels that the dashboard can filter on, and the query parameter it reads for each
/// (`src/http/ui/app.js`, `FILTERS`). A `type` label filters by prefix, which its full value is.
const DASHBOARD_FILTERS: &[(&str, &str)] = &[
    ("source", "source"),
    ("device", "device"),
    ("type", "type_prefix"),
];

const MARKDOWN: &str = r#"{{ marker }} **{{ route }}**{% for label in labels %} · {{ label.name }}: **{{ label.value }}**{% endfor %}{% if number > 1 %} · update {{ number }}{% endif %}{% if reason == "repeat" %} · reminder{% endif %}
{{ counts }}
{%- if lines %}
{% for line in lines %}
- {{ line.marker }} **{{ line.device }}** {{ line.summary }}{% if line.state %} · *{{ line.state }}*{% endif %}{% if line.link %} · [details]({{ line.link }}){% endif %}
{%- endfor %}
{%- endif %}
{%- if more %}
- … and {{ more }} more
{%- endif %}
{%- for cause in causes %}

**Root cause: {{ cause.headline }}**
{%- for line in cause.lines %}
- {{ line.marker }} **{{ line.device }}** {{ line.summary }}{% if line.state %} · *{{ line.state }}*{% endif %}{% if line.link %} · [details]({{ line.link }}){% endif %}
{%- endfor %}
{%- if cause.more %}
- … and {{ cause.more }} more
{%- endif %}
{%- endfor %}
{%- if all_cleared %}

✅ **All alarms of this group have cleared.**
{%- endif %}
{%- if dashboard %}

[Open in netpulse]({{ dashboard }})
{%- endif %}"#;

const TEXT: &str = r#"{{ marker }} {{ route }}{% for label in labels %} · {{ label.name }}: {{ label.value }}{% endfor %}{% if number > 1 %} · update {{ number }}{% endif %}{% if reason == "repeat" %} · reminder{% endif %}
{{ counts }}
{%- for line in lines %}
- {{ line.marker }} {{ line.device }} {{ line.summary }}{% if line.state %} · {{ line.state }}{% endif %}{% if line.link %} · {{ line.link }}{% endif %}
{%- endfor %}
{%- if more %}
- … and {{ more }} more
{%- endif %}
{%- for cause in causes %}
Root cause: {{ cause.headline }}
{%- for line in cause.lines %}
- {{ line.marker }} {{ line.device }} {{ line.summary }}{% if line.state %} · {{ line.state }}{% endif %}{% if line.link %} · {{ line.link }}{% endif %}
{%- endfor %}
{%- if cause.more %}
- … and {{ cause.more }} more
{%- endif %}
{%- endfor %}
{%- if all_cleared %}
✅ All alarms of this group have cleared.
{%- endif %}
{%- if dashboard %}
Open in netpulse: {{ dashboard }}
{%- endif %}"#;

/// A notification as Webex shows it: Markdown, and the plain text sent with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupMessage {
    pub markdown: String,
    pub text: String,
}

/// The group templates of one sink.
pub struct GroupTemplates {
    markdown: Environment<'static>,
    text: Environment<'static>,
    /// netpulse's address for the room's readers, without a trailing slash.
    public_url: Option<String>,
}

/// The notification carried by `event`, when it is one: `None` for any other event, an error
/// when its `data` is not a notification.
pub fn notification_of(event: &Event) -> Option<anyhow::Result<Notification>> {
    crate::route::is_notification(event).then(|| {
        serde_json::from_value(event.data.clone()).context("the event's data is not a notification")
    })
}

impl GroupTemplates {
    /// `public_url`: netpulse's address for the room's readers; with it, each notification links
    /// to the dashboard filtered on its group.
    pub fn new(public_url: Option<&str>) -> anyhow::Result<GroupTemplates> {
        // Markers, counts and links made safe by `safe_link` are marked safe where made.
        let mut markdown = escaping_environment(FUEL, MAX_VALUE_CHARS);
        markdown
            .add_template("group", MARKDOWN)
            .context("the built-in group template")?;
        let mut text = Environment::new();
        text.set_fuel(Some(FUEL));
        text.set_formatter(|out, _state, value| {
            if value.is_undefined() || value.is_none() {
                return Ok(());
            }
            // Plain text needs no escaping, but a value must stay on its line.
            let plain: String = cut(&value.to_string(), MAX_VALUE_CHARS)
                .chars()
                .map(|character| {
                    if character.is_control() {
                        ' '
                    } else {
                        character
                    }
                })
                .collect();
            out.write_str(&plain)?;
            Ok(())
        });
        text.add_template("group", TEXT)
            .context("the built-in group text template")?;
        Ok(GroupTemplates {
            markdown,
            text,
            public_url: public_url.map(|url| url.trim_end_matches('/').to_owned()),
        })
    }

    /// The message for `notification`.
    pub fn render(&self, notification: &Notification) -> anyhow::Result<GroupMessage> {
        let labels: Vec<Value> = notification
            .labels
            .iter()
            .map(|(name, value)| {
                context! {
                    name => name.as_str(),
                    value => cut(value, MAX_NAME_CHARS).as_ref(),
                }
            })
            .collect();
        let lines: Vec<Value> = notification
            .alarms
            .iter()
            .take(MAX_LINES)
            .map(line)
            .collect();
        let more = notification.alarms.len().saturating_sub(MAX_LINES);
        let causes: Vec<Value> = notification.root_causes.iter().map(root_cause).collect();
        let dashboard = self.dashboard_link(notification);
        let reason = match notification.reason {
            NotificationReason::First => "first",
            NotificationReason::Update => "update",
            NotificationReason::Repeat => "repeat",
        };
        let render = |env: &Environment<'static>| -> anyhow::Result<String> {
            let rendered = env
                .get_template("group")?
                .render(context! {
                    marker => Value::from_safe_string(headline_marker(notification).to_owned()),
                    route => notification.route.as_str(),
                    labels => labels.clone(),
                    number => notification.number,
                    reason => reason,
                    counts => Value::from_safe_string(counts_line(notification)),
                    lines => lines.clone(),
                    more => more,
                    causes => causes.clone(),
                    all_cleared => notification.all_cleared,
                    dashboard => dashboard.clone().map(Value::from_safe_string),
                })
                .context("the group template failed")?;
            Ok(rendered.trim().to_owned())
        };
        Ok(GroupMessage {
            markdown: render(&self.markdown)?,
            text: render(&self.text)?,
        })
    }

    /// The dashboard at `public_url`, filtered on the group's labels that it can filter on.
    pub fn dashboard_link(&self, notification: &Notification) -> Option<String> {
        let base = self.public_url.as_deref()?;
        let mut url = reqwest::Url::parse(&format!("{base}/")).ok()?;
        {
            let mut query = url.query_pairs_mut();
            for (label, parameter) in DASHBOARD_FILTERS {
                if let Some(value) = notification.labels.get(*label) {
                    query.append_pair(parameter, value);
                }
            }
        }
        if url.query() == Some("") {
            url.set_query(None);
        }
        safe_link(url.as_str())
    }
}

/// The marker of the headline: the most severe new alarm's, else cleared when all cleared, else
/// the most severe still raised.
fn headline_marker(notification: &Notification) -> &'static str {
    let worst = |counts: &crate::route::SeverityCounts| {
        counts
            .0
            .iter()
            .filter(|(_, count)| **count > 0)
            .map(|(severity, _)| *severity)
            .max()
    };
    if let Some(severity) = worst(&notification.counts.new) {
        return severity_marker(severity);
    }
    if notification.all_cleared || notification.counts.still_raised.total() == 0 {
        return "✅";
    }
    worst(&notification.counts.still_raised).map_or("🔔", severity_marker)
}

/// One marker per severity, so that an `info` line does not look like a critical one.
pub fn severity_marker(severity: Severity) -> &'static str {
    match severity {
        Severity::Critical => "🔴",
        Severity::Major => "🟠",
        Severity::Minor => "🟡",
        Severity::Warning => "🔵",
        Severity::Info => "⚪",
    }
}

/// `🔴 12 new (3 critical, 9 major) · ✅ 2 cleared · 5 still raised · 🔁 1 flapping`. Made of
/// numbers and fixed words only, so it needs no escaping.
fn counts_line(notification: &Notification) -> String {
    let counts = &notification.counts;
    let mut parts = Vec::new();
    let new = counts.new.total();
    if new > 0 {
        let by_severity: Vec<String> = counts
            .new
            .0
            .iter()
            .rev()
            .filter(|(_, count)| **count > 0)
            .map(|(severity, count)| format!("{count} {}", severity.as_str()))
            .collect();
        let worst = counts
            .new
            .0
            .iter()
            .filter(|(_, count)| **count > 0)
            .map(|(severity, _)| *severity)
            .max()
            .unwrap_or(Severity::Info);
        parts.push(format!(
            "{} {new} new ({})",
            severity_marker(worst),
            by_severity.join(", ")
        ));
    }
    let cleared = counts.cleared.total();
    if cleared > 0 {
        parts.push(format!("✅ {cleared} cleared"));
    }
    let still = counts.still_raised.total();
    if still > 0 {
        parts.push(format!("{still} still raised"));
    }
    if counts.flapping > 0 {
        parts.push(format!("🔁 {} flapping", counts.flapping));
    }
    let informational = notification
        .alarms
        .iter()
        .filter(|line| line.state == LineState::Info)
        .count();
    if informational > 0 {
        parts.push(format!("{informational} informational"));
    }
    if parts.is_empty() {
        parts.push("no change".to_owned());
    }
    parts.join(" · ")
}

/// One alarm's line: its marker, device, summary, what it did (when not simply new) and its link.
fn line(alarm: &AlarmLine) -> Value {
    let (marker, state) = match alarm.state {
        LineState::New => (severity_marker(alarm.severity), None),
        LineState::StillRaised => (severity_marker(alarm.severity), Some("still raised")),
        LineState::Cleared => ("✅", Some("cleared")),
        LineState::Flapping => ("🔁", Some("flapping: quiet until stable")),
        LineState::Stable => ("🟢", Some("stable again")),
        LineState::Info => (severity_marker(alarm.severity), None),
    };
    context! {
        marker => Value::from_safe_string(marker.to_owned()),
        device => cut(&alarm.device, MAX_NAME_CHARS).as_ref(),
        summary => cut(&alarm.summary, MAX_SUMMARY_CHARS).as_ref(),
        state => state.map(|state| Value::from_safe_string(state.to_owned())),
        link => alarm.link.as_deref().and_then(safe_link).map(Value::from_safe_string),
    }
}

/// A root cause: its headline (`spine-1 eth1/49 down — holding 40 alarms behind it`), the
/// first held alarms (new ones first), and how many more.
fn root_cause(cause: &RootCause) -> Value {
    let lines: Vec<Value> = cause
        .held
        .iter()
        .take(MAX_LINES)
        .map(|alarm| {
            let (marker, state) = match alarm.state {
                LineState::Cleared => ("✅", "cleared while held"),
                LineState::New => (severity_marker(alarm.severity), "held"),
                _ => (severity_marker(alarm.severity), "still held"),
            };
            context! {
                marker => Value::from_safe_string(marker.to_owned()),
                device => cut(&alarm.device, MAX_NAME_CHARS).as_ref(),
                summary => cut(&alarm.summary, MAX_SUMMARY_CHARS).as_ref(),
                state => Value::from_safe_string(state.to_owned()),
                link => alarm.link.as_deref().and_then(safe_link).map(Value::from_safe_string),
            }
        })
        .collect();
    context! {
        headline => cut(&cause.headline(), MAX_SUMMARY_CHARS).as_ref(),
        lines => lines,
        more => cause.held.len().saturating_sub(MAX_LINES),
    }
}

#[cfg(test)]
mod tests;
