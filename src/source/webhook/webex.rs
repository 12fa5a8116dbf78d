//! Webex webhooks (`provider: webex`): messages posted to a bot's rooms, adaptive-card
//! submissions and the other resources a Webex webhook can watch.
//!
//! The request is signed (`X-Spark-Signature`: HMAC-SHA1 of the raw body with the webhook's
//! secret, checked by the `hmac` verifier) but carries only ids, so the message or the card
//! action is fetched from the Webex API with the bot's token before the event is stored: that
//! network IO is `webex_api::Fetcher`'s, not this pure normalizer's.

use serde::Deserialize;
use serde_json::Value;

use super::verify::Verified;
use super::{Invalid, Normalized};
use crate::event::Event;

/// What one webhook notification says, before anything is fetched.
#[derive(Debug, Deserialize)]
struct Envelope {
    /// The webhook's id (the same for every notification of this webhook).
    id: String,
    resource: String,
    event: String,
    #[serde(default)]
    name: Option<String>,
    #[serde(default, rename = "actorId")]
    actor_id: Option<String>,
    data: Data,
}

#[derive(Debug, Deserialize)]
struct Data {
    /// The message, card action, membership, ... the notification is about.
    id: String,
    #[serde(default, rename = "roomId")]
    room_id: Option<String>,
    #[serde(default, rename = "personEmail")]
    person_email: Option<String>,
    #[serde(default)]
    created: Option<String>,
}

/// The event of a notification, with only what the notification itself says. Redeliveries are
/// recognized by webhook, resource, event and data id (Webex signs no event id nor timestamp).
pub fn normalize(source_name: &str, request: &Verified) -> Result<Normalized, Invalid> {
    let document: Value = serde_json::from_slice(request.body())
        .map_err(|error| Invalid::malformed(format!("malformed JSON: {error}")))?;
    if !document.is_object() {
        return Err(Invalid::unrecognized("the body is JSON but not an object"));
    }
    let envelope = Envelope::deserialize(&document).map_err(|error| {
        Invalid::unrecognized(format!("not a Webex webhook notification: {error}"))
    })?;
    let time = envelope
        .data
        .created
        .as_deref()
        .and_then(|created| created.parse().ok())
        .unwrap_or(request.received_at());
    let kind = format!("com.cisco.webex.{}.{}", envelope.resource, envelope.event);
    let who = envelope
        .data
        .person_email
        .clone()
        .or(envelope.actor_id.clone())
        .unwrap_or_else(|| "someone".to_owned());
    let summary = match (envelope.resource.as_str(), envelope.event.as_str()) {
        ("messages", "created") => format!("{who} posted a message"),
        ("attachmentActions", "created") => format!("{who} submitted a card"),
        (resource, event) => format!("{resource} {event} by {who}"),
    };
    let idempotency_key = format!(
        "{source_name}:webex:{}:{}:{}:{}",
        envelope.id, envelope.resource, envelope.event, envelope.data.id
    );
    let device = envelope
        .data
        .room_id
        .clone()
        .or(envelope.name.clone())
        .unwrap_or_else(|| source_name.to_owned());
    let subject = envelope.data.id.clone();
    let mut event = Event::new(source_name, kind, time, document);
    event.device = device;
    event.summary = summary;
    event.subject = Some(subject);
    Ok(Normalized {
        raw_data: None,
        event,
        idempotency_key: Some(idempotency_key),
        alarms: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn normalize(
        source_name: &str,
        body: &[u8],
        now: jiff::Timestamp,
    ) -> Result<Normalized, Invalid> {
        super::super::testing::normalize_at(source_name, body, now, super::normalize)
    }

    const FIXTURE: &[u8] = include_bytes!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/webex/webhook-messages-created-doc-example-compact-exact-bytes.json"
    ));

    #[test]
    fn a_message_notification_becomes_an_event_keyed_by_webhook_resource_event_and_id() {
        let normalized = normalize("bot", FIXTURE, jiff::Timestamp::UNIX_EPOCH).unwrap();
        let event = &normalized.event;
        assert_eq!(event.kind, "com.cisco.webex.messages.created");
        assert_eq!(event.summary, "matt@example.com posted a message");
        assert_eq!(
            event.time,
            "2015-10-18T14:26:16Z".parse::<jiff::Timestamp>().unwrap()
        );
        assert_eq!(
            event.device,
            "Y2lzY29zcGFyazovL3VzL1JPT00vYmJjZWIxYWQtNDNmMS0zYjU4LTkxNDctZjE0YmIwYzRkMTU0"
        );
        let key = normalized.idempotency_key.unwrap();
        assert!(
            key.starts_with("webex:Y2lzY29zcGFyazovL3VzL1dFQkhPT0sv"),
            "{key}"
        );
        assert!(
            key.contains(":messages:created:Y2lzY29zcGFyazovL3VzL01FU1NBR0Uv"),
            "{key}"
        );
    }

    #[test]
    fn what_is_not_a_webex_notification_is_refused() {
        for body in [
            &b"{}"[..],
            b"[]",
            br#"{"id":"x","resource":"messages","event":"created"}"#,
        ] {
            assert_eq!(
                normalize("bot", body, jiff::Timestamp::UNIX_EPOCH)
                    .unwrap_err()
                    .kind,
                "unrecognized"
            );
        }
        assert_eq!(
            normalize("bot", b"{", jiff::Timestamp::UNIX_EPOCH)
                .unwrap_err()
                .kind,
            "malformed"
        );
    }
}
