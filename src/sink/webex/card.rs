//! The Adaptive Card a Webex sink with `actions:` posts with a notification (or with the message
//! of an alarm's event): the same headline, counts and lines as the Markdown, and the buttons
//! Acknowledge and Silence (one per `silence_buttons` duration), plus "Open in netpulse" when
//! `public_url` is set. The Markdown stays the message's `markdown`/`text`: the fallback of
//! clients that show no cards, and what notifications display.
//!
//! Webex renders Adaptive Cards version 1.3 and takes one card per message (`protocols-webhooks.md`
//! §8.1), with at most five buttons (developer.webex.com, "Buttons and Cards"): the configuration
//! allows three silence buttons at most for that reason (`config/sink.rs`). A button's `data` only
//! says which button it is; what it acts on is read from the event the card was recorded with
//! (`webex_cards`), never from the click.
//!
//! Text in a TextBlock or a FactSet is Markdown to the client, so untrusted text (devices,
//! summaries) goes through the same escape as the Markdown messages ([`escape`]). INFER: Webex's
//! card renderer honours CommonMark backslash escapes as its Markdown messages do; a client that
//! does not shows the backslashes, never a hidden link.

use std::time::Duration;

use serde_json::{Value, json};

use super::group::{MAX_LINES, severity_marker};
use super::markdown::escape;
use super::render::safe_link;
use crate::event::{AlarmState, Event};
use crate::route::{AlarmLine, LineState, Notification, SeverityCounts};

/// The content type of an Adaptive Card attachment.
pub const CONTENT_TYPE: &str = "application/vnd.microsoft.card.adaptive";
/// The card schema version Webex renders.
pub const VERSION: &str = "1.3";
/// UNKNOWN: Webex publishes no size limit for a card attachment (7439 bytes is the limit of the
/// text fields). A card is kept under this many bytes of JSON by dropping lines from its end
/// ("… and N more" grows); ten lines of at most 160 characters stay well under it.
pub const MAX_CARD_BYTES: usize = 16 * 1024;
/// What a button's `data` says, under this key: `ack` or `silence` (with `for`).
pub const DATA_KEY: &str = "netpulse";

/// Which buttons a card has.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Buttons {
    /// One Silence button per duration.
    pub silences: Vec<Duration>,
    /// "Open in netpulse": the dashboard, or the event's own link.
    pub open: Option<String>,
}

/// The message attachment that carries `card` (`attachments: [this]`).
pub fn attachment(card: Value) -> Value {
    json!({"contentType": CONTENT_TYPE, "content": card})
}

/// Whether a notification gets a card: it reports alarms still to act on (not a group whose
/// alarms have all cleared, nor one of informational events only).
pub fn wants_card(notification: &Notification) -> bool {
    !notification.all_cleared && notification.alarms.iter().any(is_actionable)
}

/// A line the buttons act on: an alarm that is (or was just) raised.
pub fn is_actionable(line: &AlarmLine) -> bool {
    matches!(
        line.state,
        LineState::New | LineState::StillRaised | LineState::Flapping | LineState::Stable
    )
}

/// The card of a group's notification.
pub fn notification_card(notification: &Notification, buttons: &Buttons) -> Value {
    let mut headline = format!(
        "{} **{}**",
        headline_marker(notification),
        escape(&notification.route)
    );
    for (name, value) in &notification.labels {
        let value: String = value.chars().take(80).collect();
        headline.push_str(&format!(" · {}: **{}**", escape(name), escape(&value)));
    }
    if notification.number > 1 {
        headline.push_str(&format!(" · update {}", notification.number));
    }
    let facts = count_facts(notification);
    // The root causes come first and whole (ten held lines each at most), the group's own lines
    // after them as many as fit.
    let mut roots: Vec<Value> = Vec::new();
    for root in &notification.root_causes {
        roots.push(json!({
            "type": "TextBlock", "wrap": true, "weight": "Bolder", "spacing": "Medium",
            "text": format!("Root cause: {}", escape(&root.headline())),
        }));
        roots.extend(root.held.iter().take(MAX_LINES).map(line_block));
        if root.held.len() > MAX_LINES {
            roots.push(json!({
                "type": "TextBlock", "wrap": true, "isSubtle": true, "spacing": "Small",
                "text": format!("… and {} more held", root.held.len() - MAX_LINES),
            }));
        }
    }
    let lines: Vec<Value> = notification.alarms.iter().map(line_block).collect();
    fit(headline, facts, &roots, lines, buttons)
}

/// The card of an alarm's event (the per-event message of a raise).
pub fn event_card(event: &Event, buttons: &Buttons) -> Value {
    let headline = format!(
        "{} **{}** {}",
        severity_marker(event.severity),
        escape(&event.device),
        escape(&event.summary)
    );
    let time = event.time.strftime("%Y-%m-%d %H:%M:%S UTC").to_string();
    let facts = vec![
        fact("Severity", event.severity.as_str()),
        fact("Type", &escape(&event.kind)),
        fact("Time", &time),
    ];
    fit(headline, facts, &[], Vec::new(), buttons)
}

/// Whether the message of `event` (delivered one message per event) gets a card: a raise.
pub fn event_wants_card(event: &Event) -> bool {
    event.alarmstate == AlarmState::Raised
}

/// `1h`, `24h`, `30m`, `2d`, `90s`: the duration as a button's `data` says it (and
/// `parse_duration` reads it back).
pub fn duration_code(duration: Duration) -> String {
    let seconds = duration.as_secs();
    match seconds {
        0 => "0s".to_owned(),
        s if s % 86_400 == 0 && s >= 2 * 86_400 => format!("{}d", s / 86_400),
        s if s % 3600 == 0 => format!("{}h", s / 3600),
        s if s % 60 == 0 => format!("{}m", s / 60),
        s => format!("{s}s"),
    }
}

/// `1 h`, `24 h`, `30 min`: the duration as people read it on a button.
pub fn duration_words(duration: Duration) -> String {
    let code = duration_code(duration);
    let (number, unit) = code.split_at(code.len() - 1);
    let unit = match unit {
        "d" => "d",
        "h" => "h",
        "m" => "min",
        _ => "s",
    };
    format!("{number} {unit}")
}

/// The card: headline, facts, as many lines as fit (then "… and N more"), buttons.
fn fit(
    headline: String,
    facts: Vec<Value>,
    preamble: &[Value],
    lines: Vec<Value>,
    buttons: &Buttons,
) -> Value {
    let total = lines.len();
    let mut shown = total.min(MAX_LINES);
    loop {
        let card = assemble(
            &headline,
            &facts,
            preamble,
            &lines[..shown],
            total - shown,
            buttons,
        );
        if shown == 0 || card.to_string().len() <= MAX_CARD_BYTES {
            return card;
        }
        shown -= 1;
    }
}

fn assemble(
    headline: &str,
    facts: &[Value],
    preamble: &[Value],
    lines: &[Value],
    more: usize,
    buttons: &Buttons,
) -> Value {
    let mut body = vec![json!({
        "type": "TextBlock", "text": headline, "wrap": true, "size": "Medium", "weight": "Bolder",
    })];
    if !facts.is_empty() {
        body.push(json!({"type": "FactSet", "facts": facts}));
    }
    body.extend(preamble.iter().cloned());
    body.extend(lines.iter().cloned());
    if more > 0 {
        body.push(json!({
            "type": "TextBlock", "text": format!("… and {more} more"), "wrap": true,
            "isSubtle": true, "spacing": "Small",
        }));
    }
    let mut actions = vec![json!({
        "type": "Action.Submit", "title": "Acknowledge", "data": {DATA_KEY: "ack"},
    })];
    for duration in &buttons.silences {
        actions.push(json!({
            "type": "Action.Submit",
            "title": format!("Silence {}", duration_words(*duration)),
            "data": {DATA_KEY: "silence", "for": duration_code(*duration)},
        }));
    }
    if let Some(url) = buttons.open.as_deref().and_then(safe_link) {
        actions.push(json!({"type": "Action.OpenUrl", "title": "Open in netpulse", "url": url}));
    }
    json!({
        "type": "AdaptiveCard",
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "version": VERSION,
        "body": body,
        "actions": actions,
    })
}

fn fact(title: &str, value: &str) -> Value {
    json!({"title": title, "value": value})
}

/// New (per severity), cleared, still raised, flapping: the counts the Markdown's second line
/// gives, one fact each.
fn count_facts(notification: &Notification) -> Vec<Value> {
    let counts = &notification.counts;
    let mut facts = Vec::new();
    if counts.new.total() > 0 {
        facts.push(fact(
            "New",
            &format!("{} ({})", counts.new.total(), by_severity(&counts.new)),
        ));
    }
    if counts.still_raised.total() > 0 {
        facts.push(fact(
            "Still raised",
            &counts.still_raised.total().to_string(),
        ));
    }
    if counts.cleared.total() > 0 {
        facts.push(fact("Cleared", &counts.cleared.total().to_string()));
    }
    if counts.flapping > 0 {
        facts.push(fact("Flapping", &counts.flapping.to_string()));
    }
    facts
}

fn by_severity(counts: &SeverityCounts) -> String {
    counts
        .0
        .iter()
        .rev()
        .filter(|(_, count)| **count > 0)
        .map(|(severity, count)| format!("{count} {}", severity.as_str()))
        .collect::<Vec<_>>()
        .join(", ")
}

fn headline_marker(notification: &Notification) -> &'static str {
    let worst = |counts: &SeverityCounts| {
        counts
            .0
            .iter()
            .filter(|(_, count)| **count > 0)
            .map(|(severity, _)| *severity)
            .max()
    };
    worst(&notification.counts.new)
        .or_else(|| worst(&notification.counts.still_raised))
        .map_or("🔔", severity_marker)
}

fn line_block(line: &AlarmLine) -> Value {
    let (marker, state) = match line.state {
        LineState::New | LineState::Info => (severity_marker(line.severity), None),
        LineState::StillRaised => (severity_marker(line.severity), Some("still raised")),
        LineState::Cleared => ("✅", Some("cleared")),
        LineState::Flapping => ("🔁", Some("flapping")),
        LineState::Stable => ("🟢", Some("stable again")),
    };
    let summary: String = line.summary.chars().take(160).collect();
    let mut text = format!(
        "{marker} **{}** {}",
        escape(&line.device.chars().take(80).collect::<String>()),
        escape(&summary)
    );
    if let Some(state) = state {
        text.push_str(&format!(" · *{state}*"));
    }
    json!({"type": "TextBlock", "text": text, "wrap": true, "spacing": "Small"})
}

#[cfg(test)]
pub(crate) mod tests;
