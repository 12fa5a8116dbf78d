//! The device and platform sessions: DME replies and pushes, pxGrid's STOMP frames and control
//! replies, and Webex Mercury frames, each taken as far as the session takes it without IO.

use serde_json::Value;

use super::{deliver, now};
use crate::sink::webex::commands;
use crate::source::dme::normalize::to_event;
use crate::source::dme::protocol::{self, Mo};
use crate::source::dme::view::DeviceView;
use crate::source::pxgrid::protocol::{
    AccessSecret, Activation, CreatedAccount, PUBSUB_SERVICE, SESSION_SERVICE, Services, Sessions,
    session_event, session_key, session_version, topic_event,
};
use crate::source::pxgrid::stomp::{self, Item};
use crate::source::webex_events::protocol::{
    Incoming, card_action_event, hydra_id, message_event, parse_frame, verb_and_id,
};

const SOURCE: &str = "fuzz";

/// DME: every NUL-separated part is one reply or WebSocket push of the same device. Each is
/// parsed as a login, an error and a reply; its objects are applied to the device's view as
/// pushes, then the view is resynchronised with them as a snapshot, as a session does after a gap.
pub fn dme(data: &[u8]) {
    let mut view = DeviceView::default();
    for frame in data.split(|byte| *byte == 0) {
        let _ = protocol::parse_login(frame);
        let _ = protocol::parse_error(frame);
        let Ok(Ok(reply)) = protocol::parse_reply(frame) else {
            continue;
        };
        for mo in &reply.objects {
            if let Some(dn) = mo.dn() {
                let _ = protocol::rn_of(dn);
            }
            if let Some(change) = view.apply_push(mo) {
                deliver(&to_event(SOURCE, &change, false, now()));
            }
        }
        let snapshot: Vec<Mo> = reply.objects.into_iter().rev().collect();
        for change in view.reconcile(&snapshot) {
            deliver(&to_event(SOURCE, &change, true, now()));
        }
        let _ = view.objects();
    }
}

/// pxGrid: one WebSocket message of STOMP frames. Each frame must survive an encode and decode
/// unchanged (the ISE simulator encodes what the source decodes); a `CONNECTED` frame's heart-beat
/// is negotiated, and a `MESSAGE` becomes events as the session makes them.
pub fn pxgrid_stomp(data: &[u8]) {
    let Ok(items) = stomp::decode(data) else {
        return;
    };
    let topics = ["/topic/com.cisco.ise.session".to_owned()];
    for item in items {
        let Item::Frame(frame) = item else { continue };
        let encoded = frame.encode();
        assert_eq!(
            stomp::decode(&encoded).as_deref(),
            Ok(&[Item::Frame(frame.clone())][..]),
            "a decoded frame encodes to the same frame"
        );
        if let Ok((can, wants)) = stomp::parse_heartbeat(frame.get("heart-beat")) {
            let _ = stomp::negotiate(can, wants);
            let _ = stomp::negotiate(wants, can);
        }
        if frame.command != "MESSAGE" {
            continue;
        }
        let destination = frame.topic(&topics);
        if let Ok(body) = serde_json::from_slice::<Value>(&frame.body) {
            sessions_to_events(destination, body);
        }
    }
}

/// What the pxGrid session does with a message body: sessions, or one event of another topic.
fn sessions_to_events(destination: &str, body: Value) {
    match body.get("sessions").and_then(Value::as_array) {
        Some(sessions) => {
            for session in sessions {
                let _ = session_key(session);
                let _ = session_version(session);
                deliver(&session_event(SOURCE, session, now()));
            }
        }
        None => deliver(&topic_event(SOURCE, destination, body, now())),
    }
}

/// pxGrid's control API: a reply body read as each of the documents the client expects.
pub fn pxgrid_control(data: &[u8]) {
    let _ = serde_json::from_slice::<Activation>(data);
    let _ = serde_json::from_slice::<CreatedAccount>(data);
    let _ = serde_json::from_slice::<AccessSecret>(data);
    if let Ok(services) = serde_json::from_slice::<Services>(data) {
        for service in &services.services {
            for name in ["wsPubsubService", "restBaseUrl", "wsUrl", "sessionTopic"] {
                let _ = service.property(name);
            }
            let _ = [SESSION_SERVICE, PUBSUB_SERVICE].contains(&service.name.as_str());
        }
    }
    if let Ok(sessions) = serde_json::from_slice::<Sessions>(data) {
        for session in &sessions.sessions {
            deliver(&session_event(SOURCE, session, now()));
        }
    }
}

/// Webex Mercury: one text frame. An activity becomes the events the source would emit, with the
/// activity standing in for the message and the card action it fetches; a message event then
/// goes through the bot's command parser, as the Webex sink does.
pub fn webex_mercury(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(frame) = parse_frame(text) else {
        return;
    };
    let Incoming::Activity { activity, .. } = frame.incoming else {
        return;
    };
    let Some((_verb, id)) = verb_and_id(&activity) else {
        return;
    };
    let cluster = "us";
    let _ = hydra_id(cluster, "MESSAGE", id);
    let message = &activity["object"];
    let event = message_event(SOURCE, cluster, &activity, message);
    let _ = commands::parse(&event);
    deliver(&event);
    deliver(&card_action_event(
        SOURCE,
        cluster,
        &activity,
        Some(message),
    ));
    deliver(&card_action_event(SOURCE, cluster, &activity, None));
}
