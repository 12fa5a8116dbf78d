//! Mercury frames and Webex ids, as pure functions (no IO): the frames netpulse sends, the
//! envelopes it receives, what a close code means, Hydra ids, and activity + message → `Event`.

use base64::Engine as _;
use serde_json::{Value, json};

use crate::event::Event;

/// The CloudEvents type of a message posted in a room the bot is in.
pub const MESSAGE_CREATED: &str = "com.cisco.webex.message.created";
/// The CloudEvents type of a card submitted by someone (Adaptive Card `Action.Submit`).
pub const CARD_ACTION: &str = "com.cisco.webex.attachment_action.created";

/// A frame received on the socket.
#[derive(Debug, Clone, PartialEq)]
pub enum Incoming {
    /// `mercury.buffer_state` or `mercury.registration_status` (no top-level `type`): the socket
    /// is ready, as the SDK decides.
    Ready,
    Pong {
        id: String,
    },
    /// A `conversation.activity` envelope.
    Activity {
        sequence: Option<u64>,
        activity: Value,
    },
    /// Anything else: another event type, or a frame with a `type` netpulse does not use.
    Other {
        event_type: Option<String>,
    },
}

/// A parsed frame and the envelope id to acknowledge, if it has one.
#[derive(Debug, Clone, PartialEq)]
pub struct Frame {
    pub ack_id: Option<String>,
    pub incoming: Incoming,
}

pub fn parse_frame(text: &str) -> Result<Frame, String> {
    let value: Value =
        serde_json::from_str(text).map_err(|err| format!("frame is not JSON: {err}"))?;
    if !value.is_object() {
        return Err("frame is not a JSON object".to_owned());
    }
    let id = match &value["id"] {
        Value::String(id) => Some(id.clone()),
        Value::Number(id) => Some(id.to_string()),
        _ => None,
    };
    if let Some(kind) = value["type"].as_str() {
        let incoming = if kind == "pong" {
            Incoming::Pong {
                id: id.clone().unwrap_or_default(),
            }
        } else {
            Incoming::Other {
                event_type: Some(kind.to_owned()),
            }
        };
        // Pongs answer our own frames; they are not envelopes to acknowledge.
        return Ok(Frame {
            ack_id: None,
            incoming,
        });
    }
    let event_type = value["data"]["eventType"].as_str().map(str::to_owned);
    let incoming = match event_type.as_deref() {
        Some("mercury.buffer_state" | "mercury.registration_status") => Incoming::Ready,
        Some("conversation.activity") => Incoming::Activity {
            sequence: value["sequenceNumber"].as_u64(),
            activity: value["data"]["activity"].clone(),
        },
        _ => Incoming::Other { event_type },
    };
    Ok(Frame {
        ack_id: id,
        incoming,
    })
}

pub fn authorization_frame(id: &str, token: &str) -> String {
    json!({"id": id, "type": "authorization", "data": {"token": format!("Bearer {token}")}})
        .to_string()
}

pub fn ping_frame(id: &str) -> String {
    json!({"id": id, "type": "ping"}).to_string()
}

pub fn ack_frame(message_id: &str) -> String {
    json!({"messageId": message_id, "type": "ack"}).to_string()
}

/// What to do after the server closed the socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterClose {
    Reconnect,
    /// 4000 "replaced": another connection took this registration over; reconnecting would
    /// only take it back and start a fight (the SDK does not reconnect either).
    Stop,
}

/// netpulse follows the SDK for 4000 only. The SDK also gives up on 1003 and on unknown codes;
/// a gateway is meant to keep running, so those reconnect with backoff instead (never in a tight
/// loop) and the close is recorded as the source's last error.
pub fn after_close(code: u16) -> AfterClose {
    match code {
        4000 => AfterClose::Stop,
        _ => AfterClose::Reconnect,
    }
}

/// `base64("ciscospark://<cluster>/<KIND>/<uuid>")`, standard alphabet without padding, as Webex
/// writes its public (Hydra) ids.
pub fn hydra_id(cluster: &str, kind: &str, uuid: &str) -> String {
    base64::engine::general_purpose::STANDARD_NO_PAD
        .encode(format!("ciscospark://{cluster}/{kind}/{uuid}"))
}

/// The activity's verb and id, when it has both.
pub fn verb_and_id(activity: &Value) -> Option<(&str, &str)> {
    Some((activity["verb"].as_str()?, activity["id"].as_str()?))
}

/// The room's Hydra id: the message's `roomId` when fetched, else built from `target.id`.
fn room_id(cluster: &str, activity: &Value, message: Option<&Value>) -> String {
    if let Some(room) = message.and_then(|message| message["roomId"].as_str()) {
        return room.to_owned();
    }
    match activity["target"]["id"].as_str() {
        Some(uuid) => hydra_id(cluster, "ROOM", uuid),
        None => "unknown-room".to_owned(),
    }
}

fn actor_email(activity: &Value, message: Option<&Value>) -> String {
    message
        .and_then(|message| message["personEmail"].as_str())
        .or_else(|| activity["actor"]["emailAddress"].as_str())
        .unwrap_or("someone")
        .to_owned()
}

/// A posted message: the activity and the message fetched from the REST API.
pub fn message_event(source: &str, cluster: &str, activity: &Value, message: &Value) -> Event {
    let text = message["text"]
        .as_str()
        .or_else(|| message["markdown"].as_str())
        .unwrap_or("");
    let time = message["created"]
        .as_str()
        .and_then(|created| created.parse().ok())
        .unwrap_or_else(jiff::Timestamp::now);
    let mut event = Event::new(
        source,
        MESSAGE_CREATED,
        time,
        json!({"activity": activity, "message": message}),
    );
    event.device = room_id(cluster, activity, Some(message));
    event.subject = message["id"].as_str().map(str::to_owned);
    event.objectclass = Some("message".to_owned());
    event.summary = format!("{}: {text}", actor_email(activity, Some(message)));
    event
}

/// A card action: the action fetched from `/v1/attachment/actions/<id>` when the API had it.
pub fn card_action_event(
    source: &str,
    cluster: &str,
    activity: &Value,
    action: Option<&Value>,
) -> Event {
    let mut data = json!({"activity": activity});
    if let Some(action) = action {
        data["action"] = action.clone();
    }
    let mut event = Event::new(source, CARD_ACTION, jiff::Timestamp::now(), data);
    event.device = action
        .and_then(|action| action["roomId"].as_str())
        .map(str::to_owned)
        .unwrap_or_else(|| room_id(cluster, activity, None));
    event.objectclass = Some("attachmentAction".to_owned());
    event.summary = format!("{}: submitted a card", actor_email(activity, None));
    event
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> String {
        std::fs::read_to_string(format!(
            "{}/tests/data/webex/{name}",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap()
    }

    #[test]
    fn the_hydra_id_of_an_activity_is_the_verified_example() {
        assert_eq!(
            hydra_id("us", "MESSAGE", "766bc5a0-6b31-11f1-9a28-4325af6c06a3"),
            "Y2lzY29zcGFyazovL3VzL01FU1NBR0UvNzY2YmM1YTAtNmIzMS0xMWYxLTlhMjgtNDMyNWFmNmMwNmEz"
        );
    }

    #[test]
    fn a_post_envelope_is_an_activity_to_acknowledge() {
        let frame = parse_frame(&fixture(
            "mercury-event-conversation-activity-post-fixture-swift.json",
        ))
        .unwrap();
        assert_eq!(frame.ack_id.as_deref(), Some("mercury-frame-id"));
        let Incoming::Activity { sequence, activity } = frame.incoming else {
            panic!("not an activity: {frame:?}");
        };
        assert_eq!(sequence, None);
        assert_eq!(verb_and_id(&activity), Some(("post", "activity-id")));
    }

    #[test]
    fn an_acknowledge_activity_without_id_parses_and_has_no_verb_id_pair() {
        let frame = parse_frame(&fixture(
            "mercury-event-conversation-activity-acknowledge-fixture.json",
        ))
        .unwrap();
        assert_eq!(frame.ack_id.as_deref(), Some("4"));
        let Incoming::Activity { activity, .. } = frame.incoming else {
            panic!("not an activity");
        };
        assert_eq!(activity["verb"], "acknowledge");
        assert_eq!(verb_and_id(&activity), None);
    }

    #[test]
    fn buffer_state_pong_and_garbage() {
        let ready =
            parse_frame(r#"{"id":"x","data":{"eventType":"mercury.buffer_state"}}"#).unwrap();
        assert_eq!(ready.incoming, Incoming::Ready);
        assert_eq!(ready.ack_id.as_deref(), Some("x"));
        let pong = parse_frame(r#"{"type":"pong","id":"p1"}"#).unwrap();
        assert_eq!(pong.incoming, Incoming::Pong { id: "p1".into() });
        assert_eq!(pong.ack_id, None);
        assert!(parse_frame("not json").is_err());
        assert!(parse_frame("[1]").is_err());
    }

    #[test]
    fn only_replaced_stops_the_source() {
        assert_eq!(after_close(4000), AfterClose::Stop);
        for code in [1000, 1001, 1003, 1006, 1011, 4401] {
            assert_eq!(after_close(code), AfterClose::Reconnect);
        }
    }

    #[test]
    fn a_message_event_names_room_author_and_text() {
        let activity = json!({"id": "a1", "verb": "post", "actor": {"emailAddress": "ann@example.com"}, "target": {"id": "r1"}});
        let message = json!({"id": "M", "roomId": "ROOM", "personEmail": "ann@example.com", "text": "core down?", "created": "2026-01-02T03:04:05.000Z"});
        let event = message_event("bot", "us", &activity, &message);
        assert_eq!(event.kind, MESSAGE_CREATED);
        assert_eq!(event.device, "ROOM");
        assert_eq!(event.summary, "ann@example.com: core down?");
        assert_eq!(event.subject.as_deref(), Some("M"));
        assert_eq!(event.data["activity"]["id"], "a1");
        assert_eq!(event.time.to_string(), "2026-01-02T03:04:05Z");
        let card = card_action_event("bot", "us", &activity, None);
        assert_eq!(card.device, hydra_id("us", "ROOM", "r1"));
    }
}
