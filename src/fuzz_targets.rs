//! Entry points for the fuzzers under `fuzz/` and for the test that replays their kept corpus:
//! each takes arbitrary bytes and feeds them to one parser or normalizer. Not part of the API.
//!
//! A target must never panic, whatever the bytes: a panic is a bug in netpulse (or an invariant
//! the target asserts that does not hold). Where a parser's output goes on to another pure step in
//! the gateway (a webhook event is stored as JSON and rendered for Webex, a DME push is applied to
//! the device view), the target takes that step too, so the fuzzer reaches it with hostile data.
//!
//! `fuzz/fuzz_targets/<name>.rs` calls the function of the same name, `fuzz/corpus/<name>/` holds
//! its kept inputs, and [`TARGETS`] lists them all for the replay test.

mod devices;
mod text;
mod webhook;

use std::sync::OnceLock;

use axum::http::{HeaderMap, HeaderName, HeaderValue};

use crate::event::Event;
use crate::sink::webex::render::Templates;
use crate::sink::webex::split::{MAX_MESSAGE_BYTES, split};

pub use devices::{dme, pxgrid_control, pxgrid_stomp, webex_mercury};
pub use text::{api_query, config, durations, webex_markdown};
pub use webhook::{
    webhook_catalyst_center, webhook_generic, webhook_intersight, webhook_meraki, webhook_sdwan,
    webhook_thousandeyes, webhook_verify, webhook_webex,
};

/// A fuzz target: arbitrary bytes in, nothing out, never a panic.
pub type Target = fn(&[u8]);

/// Every target by name: the name of its fuzzer binary and of its corpus folder.
pub const TARGETS: &[(&str, Target)] = &[
    ("webhook_sdwan", webhook_sdwan),
    ("webhook_meraki", webhook_meraki),
    ("webhook_catalyst_center", webhook_catalyst_center),
    ("webhook_thousandeyes", webhook_thousandeyes),
    ("webhook_intersight", webhook_intersight),
    ("webhook_webex", webhook_webex),
    ("webhook_generic", webhook_generic),
    ("webhook_verify", webhook_verify),
    ("dme", dme),
    ("pxgrid_stomp", pxgrid_stomp),
    ("pxgrid_control", pxgrid_control),
    ("webex_mercury", webex_mercury),
    ("config", config),
    ("durations", durations),
    ("api_query", api_query),
    ("webex_markdown", webex_markdown),
];

/// The clock of every target, so that a kept input behaves the same on every run: the time of
/// the Standard Webhooks test vector (2022-04-07T21:39:13Z).
fn now() -> jiff::Timestamp {
    jiff::Timestamp::from_second(1_649_367_553).expect("a valid time")
}

/// An HTTP request as `name: value` lines, an empty line, then the body. Input without an empty
/// line is all body (so a plain JSON document is a request without headers). Lines that are not
/// a valid header are skipped.
fn request(data: &[u8]) -> (HeaderMap, &[u8]) {
    let mut headers = HeaderMap::new();
    let Some(end) = data.windows(2).position(|pair| pair == b"\n\n") else {
        return (headers, data);
    };
    for line in data[..end].split(|byte| *byte == b'\n') {
        let Some(colon) = line.iter().position(|byte| *byte == b':') else {
            continue;
        };
        let value = line[colon + 1..].trim_ascii();
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(&line[..colon]),
            HeaderValue::from_bytes(value),
        ) {
            headers.append(name, value);
        }
    }
    (headers, &data[end + 2..])
}

/// What the gateway does with an event after its source: the store keeps its JSON and reads it
/// back, and a Webex sink renders it with the built-in templates and splits the message.
fn deliver(event: &Event) {
    let json = serde_json::to_vec(event).expect("an event always serializes");
    let read_back: Event = serde_json::from_slice(&json).expect("a stored event reads back");
    // Exactly, numbers included (serde_json parses with `float_roundtrip`).
    assert_eq!(&read_back, event, "an event is stored without loss");
    static TEMPLATES: OnceLock<Templates> = OnceLock::new();
    let templates = TEMPLATES.get_or_init(|| {
        Templates::new(None, jiff::tz::TimeZone::UTC).expect("the built-in templates compile")
    });
    // A built-in template that fails would make the event a dead letter: none may.
    let markdown = templates
        .render(event)
        .unwrap_or_else(|error| panic!("a built-in template fails: {error:#}"));
    for part in split(&markdown, MAX_MESSAGE_BYTES) {
        assert!(
            part.len() <= MAX_MESSAGE_BYTES,
            "a part fits in one message"
        );
    }
}

#[cfg(test)]
mod tests;
