//! pxGrid 2.0 as data, no IO: the control API's request and reply bodies, the session topic's
//! messages, and how a session becomes an [`Event`].

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::event::{AlarmState, Event, Severity};

/// The session directory service.
pub const SESSION_SERVICE: &str = "com.cisco.ise.session";
/// The WebSocket pubsub service, named by the session service's `wsPubsubService` property.
pub const PUBSUB_SERVICE: &str = "com.cisco.ise.pubsub";

/// `AccountActivate`'s reply.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Activation {
    pub account_state: AccountState,
    #[serde(default)]
    pub version: Option<String>,
}

/// An account's state (the Java sample's `AccountState`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum AccountState {
    Init,
    Pending,
    Enabled,
    Disabled,
}

/// `AccountCreate`'s reply.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CreatedAccount {
    pub node_name: String,
    pub password: String,
}

/// One service of a `ServiceLookup` reply.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Service {
    pub name: String,
    pub node_name: String,
    #[serde(default)]
    pub properties: serde_json::Map<String, Value>,
}

impl Service {
    /// A property by name. ISE 2.4 sends some twice with different cases (`restBaseUrl` and
    /// `restBaseURL`, `wsUrl` and `WSURL`), so the exact name is tried first, then any case.
    pub fn property(&self, name: &str) -> Option<&str> {
        self.properties
            .get(name)
            .or_else(|| {
                self.properties
                    .iter()
                    .find(|(key, _)| key.eq_ignore_ascii_case(name))
                    .map(|(_, value)| value)
            })
            .and_then(Value::as_str)
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Services {
    #[serde(default)]
    pub services: Vec<Service>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct AccessSecret {
    pub secret: String,
}

/// The body of a session topic message and of a `getSessions` reply.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Sessions {
    #[serde(default)]
    pub sessions: Vec<Value>,
}

fn text<'a>(session: &'a Value, field: &str) -> Option<&'a str> {
    session
        .get(field)
        .and_then(Value::as_str)
        .filter(|value| !value.is_empty())
}

/// What identifies a session across messages: its MAC address, else the calling station, else
/// the audit session id.
pub fn session_key(session: &Value) -> Option<&str> {
    text(session, "macAddress")
        .or_else(|| text(session, "callingStationId"))
        .or_else(|| text(session, "auditSessionId"))
}

/// What tells two reports of the same session apart: its state and time. Current ISE sends
/// `timestamp`; the wiki's older sample has `updateTime`.
pub fn session_version(session: &Value) -> (String, String) {
    let state = text(session, "state").unwrap_or("UNKNOWN").to_owned();
    let time = text(session, "timestamp")
        .or_else(|| text(session, "updateTime"))
        .unwrap_or_default()
        .to_owned();
    (state, time)
}

/// The session's own time, when it carries one that parses.
pub fn session_time(session: &Value) -> Option<jiff::Timestamp> {
    text(session, "timestamp")
        .or_else(|| text(session, "updateTime"))
        .and_then(|time| time.parse().ok())
}

/// One session as an event.
///
/// `device` is the NAS (the switch or controller that authenticated the endpoint: its
/// `nasIpAddress`), so a session's events sit with the rest of that device's events; a session
/// without one falls back to the source's name. `subject` is the endpoint's MAC address.
pub fn session_event(source_name: &str, session: &Value, received: jiff::Timestamp) -> Event {
    let state = text(session, "state").unwrap_or("UNKNOWN");
    let time = session_time(session).unwrap_or(received);
    let mut event = Event::new(
        source_name,
        format!("com.cisco.ise.session.{}", state.to_ascii_lowercase()),
        time,
        session.clone(),
    );
    let mac = session_key(session).unwrap_or("unknown endpoint");
    let nas_ip = text(session, "nasIpAddress");
    if let Some(nas_ip) = nas_ip {
        event.device = nas_ip.to_owned();
    }
    event.subject = Some(mac.to_owned());
    event.objectclass = Some("session".to_owned());
    event.severity = Severity::Info;
    event.alarmstate = AlarmState::Info;
    let user = text(session, "userName")
        .or_else(|| text(session, "adNormalizedUser"))
        .unwrap_or("unknown user");
    let nas = text(session, "nasIdentifier")
        .or(nas_ip)
        .unwrap_or("unknown NAS");
    let ip = session
        .get("ipAddresses")
        .and_then(Value::as_array)
        .and_then(|addresses| addresses.first())
        .and_then(Value::as_str)
        .unwrap_or("no IP");
    event.summary = format!("{user} {state} on {nas} ({mac}, {ip})");
    event
}

/// A message of a topic that is not the session topic: one event with the body as its data, its
/// type the destination's name (`/topic/com.cisco.ise.config.anc.status` →
/// `com.cisco.ise.config.anc.status`).
pub fn topic_event(
    source_name: &str,
    destination: &str,
    body: Value,
    received: jiff::Timestamp,
) -> Event {
    let kind = destination.trim_start_matches("/topic/").to_owned();
    let mut event = Event::new(source_name, kind.clone(), received, body);
    event.summary = format!("{kind} message");
    event
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> Vec<u8> {
        std::fs::read(format!(
            "{}/tests/data/pxgrid/{name}",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap()
    }

    #[test]
    fn a_started_session_becomes_an_event() {
        let message: Sessions =
            serde_json::from_slice(&fixture("sessionTopic-message-STARTED.json")).unwrap();
        let received = jiff::Timestamp::now();
        let event = session_event("ise", &message.sessions[0], received);
        assert_eq!(event.kind, "com.cisco.ise.session.started");
        assert_eq!(event.device, "172.31.1.7");
        assert_eq!(event.subject.as_deref(), Some("18:60:24:00:00:02"));
        assert_eq!(
            event.summary,
            "18:60:24:00:00:02 STARTED on sw4 (18:60:24:00:00:02, 172.31.8.150)"
        );
        assert_eq!(event.time.to_string(), "2020-10-02T20:41:03.984Z");
        assert_eq!(event.source, "/netpulse/ise");
        assert_eq!(event.data["auditSessionId"], "AC1F010700000068EB0BEF16");
    }

    #[test]
    fn the_wiki_sample_with_update_time_is_read_too() {
        let session: Value =
            serde_json::from_slice(&fixture("wiki-session-object-sample.json")).unwrap();
        let event = session_event("ise", &session, jiff::Timestamp::now());
        assert_eq!(
            event.summary,
            "user1 STARTED on 172.21.170.242 (00:11:22:33:44:55, 1.2.3.4)"
        );
        assert_eq!(event.time.to_string(), "2017-04-28T14:33:34.291Z");
        assert_eq!(session_version(&session).0, "STARTED");
    }

    #[test]
    fn control_replies_of_ise_2_4_parse() {
        let pending: Activation =
            serde_json::from_slice(&fixture("ise24-AccountActivate-response-pending.json"))
                .unwrap();
        assert_eq!(pending.account_state, AccountState::Pending);
        let session: Services =
            serde_json::from_slice(&fixture("ise24-ServiceLookup-response-session.json")).unwrap();
        let service = &session.services[0];
        assert_eq!(
            service.property("sessionTopic"),
            Some("/topic/com.cisco.ise.session")
        );
        assert_eq!(service.property("wsPubsubService"), Some(PUBSUB_SERVICE));
        assert!(
            service
                .property("restBaseUrl")
                .unwrap()
                .ends_with("/pxgrid/mnt/sd")
        );
        let pubsub: Services = serde_json::from_slice(&fixture(
            "ServiceLookup-response-pubsub-with-WSURL-duplicate.json",
        ))
        .unwrap();
        assert!(
            pubsub.services[0]
                .property("wsUrl")
                .unwrap()
                .starts_with("wss://")
        );
        let created: CreatedAccount =
            serde_json::from_slice(&fixture("ise24-AccountCreate-response.json")).unwrap();
        assert_eq!(created.node_name, "paloalto03");
    }

    #[test]
    fn other_topics_keep_their_body() {
        let body = serde_json::json!({"macAddress": "11:22:33:44:55:66", "status": "SUCCESS"});
        let event = topic_event(
            "ise",
            "/topic/com.cisco.ise.config.anc.status",
            body.clone(),
            jiff::Timestamp::now(),
        );
        assert_eq!(event.kind, "com.cisco.ise.config.anc.status");
        assert_eq!(event.data, body);
    }
}
