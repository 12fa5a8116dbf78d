//! The text parsers: the configuration file, durations and `Retry-After`, the API's query
//! strings, and the Markdown escaping and splitting of Webex messages.

use std::path::Path;

use serde_json::json;

use super::now;
use crate::config::Config;
use crate::duration::{parse_duration, serde_duration};
use crate::event::Event;
use crate::http::api::params;
use crate::sink::webex::render::parse_retry_after;
use crate::sink::webex::{commands, markdown, split};

/// The YAML configuration, with every `${VAR}` defined and relative files under a folder that
/// does not exist. A document naming a device file is skipped: reading `/dev/zero` as a secret
/// file would never end, and the configuration is written by the operator, not an attacker.
pub fn config(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if ["/dev", "/proc", "/sys"]
        .iter()
        .any(|device| text.contains(device))
    {
        return;
    }
    let _ = Config::parse_with(text, Path::new("/nonexistent/netpulse-fuzz"), &|name| {
        Some(format!("value-of-{name}"))
    });
}

/// A duration as the configuration and the command line take it, and a `Retry-After` value.
pub fn durations(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let _ = parse_duration(&text);
    let _ = parse_retry_after(&text, now());
    #[derive(serde::Deserialize)]
    struct Wrapped(#[serde(with = "serde_duration")] std::time::Duration);
    let _ = serde_json::from_slice::<Wrapped>(data).map(|wrapped| wrapped.0);
}

/// The query string of `GET /api/v1/events` and of the live feeds.
pub fn api_query(data: &[u8]) {
    let query = String::from_utf8_lossy(data);
    let _ = params::pairs(&query).count();
    let _ = params::event_query(&query);
    let _ = params::feed_query(&query);
    let _ = params::severity(&query);
}

/// Untrusted text in a Webex message: escaped, split at any limit the splitter accepts (the first
/// byte picks it) without losing anything but the line breaks it cuts at, and read as a command.
pub fn webex_markdown(data: &[u8]) {
    let Some((&first, rest)) = data.split_first() else {
        return;
    };
    let text = String::from_utf8_lossy(rest);
    let escaped = markdown::escape(&text);
    assert!(
        !escaped.chars().any(char::is_control),
        "escaped text stays on its line"
    );
    let as_sent: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    assert_eq!(
        markdown::plain(&escaped),
        as_sent,
        "the plain text of an escaped value is the value"
    );
    for markdown in [&*text, &escaped] {
        assert!(
            markdown::plain(markdown).len() <= markdown.len(),
            "the plain text fits where the Markdown does"
        );
    }
    let max_bytes = 8 + usize::from(first);
    for markdown in [&*text, &escaped] {
        let parts = split::split(markdown, max_bytes);
        assert!(
            parts.iter().all(|part| part.len() <= max_bytes),
            "every part fits"
        );
        let kept: String = parts.concat().chars().filter(|c| *c != '\n').collect();
        let sent: String = markdown.chars().filter(|c| *c != '\n').collect();
        assert_eq!(kept, sent, "nothing but line breaks is dropped");
    }
    let message = Event::new(
        "fuzz",
        "com.cisco.webex.message.created",
        now(),
        json!({"message": {"roomId": "room", "text": text}}),
    );
    let _ = commands::parse(&message);
}
