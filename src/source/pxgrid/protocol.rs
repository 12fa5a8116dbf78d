//! pxGrid 2.0 as data, no IO: the control API's request and reply bodies, the session topic's
//! messages, and how a session becomes an [`Event`].

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::event::{AlarmState, Event, Severity};

pub mod topics;

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

/// A reported session as its source's stored view keeps it: its key, class `session`, and the
/// state and time that [`session_version`] compares (as `store::views` folds session events).
pub fn session_object(
    (key, (state, time)): (&String, &(String, String)),
) -> crate::cluster::wire::ViewObject {
    crate::cluster::wire::ViewObject {
        key: key.clone(),
        class: "session".into(),
        attributes: [
            ("state".into(), state.clone()),
            ("time".into(), time.clone()),
        ]
        .into(),
    }
}

/// A stored session back as (key, its state and time).
pub fn known_session(object: &crate::cluster::wire::ViewObject) -> (String, (String, String)) {
    let attribute = |name: &str| object.attributes.get(name).cloned().unwrap_or_default();
    (object.key.clone(), (attribute("state"), attribute("time")))
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
/// `com.cisco.ise.config.anc.status`). The topics ISE documents (ANC status, profiler, TrustSec
/// security groups, SXP bindings, RADIUS failures) get a summary and a subject that say what
/// happened ([`topics::describe`]); any other message is summarized `<topic> message`.
pub fn topic_event(
    source_name: &str,
    destination: &str,
    body: Value,
    received: jiff::Timestamp,
) -> Event {
    let kind = destination.trim_start_matches("/topic/").to_owned();
    let described = topics::describe(&kind, &body);
    let mut event = Event::new(source_name, kind.clone(), received, body);
    let Some(described) = described else {
        event.summary = format!("{kind} message");
        return event;
    };
    event.summary = described.summary;
    event.subject = described.subject;
    event.objectclass = Some(described.objectclass.to_owned());
    event.severity = described.severity;
    if let Some(device) = described.device {
        event.device = device;
    }
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

    fn topic_fixture(destination: &str, name: &str) -> Event {
        let body: Value = serde_json::from_slice(&fixture(name)).unwrap();
        topic_event("ise", destination, body, jiff::Timestamp::now())
    }

    #[test]
    fn an_anc_status_names_the_policy_the_endpoint_and_the_outcome() {
        // pxShell's capture of a statusTopic message.
        let event = topic_fixture(
            "/topic/com.cisco.ise.config.anc.status",
            "pxshell-anc-statusTopic-message.json",
        );
        assert_eq!(event.kind, "com.cisco.ise.config.anc.status");
        assert_eq!(
            event.summary,
            "ANC policy Quarantine on 11:22:33:44:55:66 succeeded"
        );
        assert_eq!(event.subject.as_deref(), Some("11:22:33:44:55:66"));
        assert_eq!(event.objectclass.as_deref(), Some("ancStatus"));
        assert_eq!(event.severity, Severity::Info);
        assert_eq!(event.data["operationId"], "vb-ise-pan1.vblan.com:35");

        // The documented failure shape: an applied-by-IP endpoint and ISE's reason.
        let failed = topic_event(
            "ise",
            "/topic/com.cisco.ise.config.anc.status",
            serde_json::json!({"operationId": "ise1:7", "ipAddress": "10.1.2.3",
                "status": "FAILURE", "failureReason": "endpoint not found", "policyName": "Shut"}),
            jiff::Timestamp::now(),
        );
        assert_eq!(
            failed.summary,
            "ANC policy Shut on 10.1.2.3 failed: endpoint not found"
        );
        assert_eq!(failed.subject.as_deref(), Some("10.1.2.3"));
        assert_eq!(failed.severity, Severity::Warning);
    }

    #[test]
    fn a_security_group_change_names_the_group_its_tag_and_the_operation() {
        // pxShell's capture of a securityGroupTopic message (its id shortened in the capture).
        let event = topic_fixture(
            "/topic/com.cisco.ise.config.trustsec.security.group",
            "pxshell-trustsec-securityGroupTopic-message.json",
        );
        assert_eq!(event.summary, "security group hackers (tag 16) created");
        assert_eq!(event.subject.as_deref(), Some("hackers"));
        assert_eq!(event.objectclass.as_deref(), Some("securityGroup"));
        let mut deleted: Value =
            serde_json::from_slice(&fixture("pxshell-trustsec-securityGroupTopic-message.json"))
                .unwrap();
        deleted["operation"] = "DELETE".into();
        let event = topic_event(
            "ise",
            "/topic/com.cisco.ise.config.trustsec.security.group",
            deleted,
            jiff::Timestamp::now(),
        );
        assert_eq!(event.summary, "security group hackers (tag 16) deleted");
    }

    #[test]
    fn a_profile_change_and_an_sxp_binding_say_what_changed() {
        let event = topic_fixture(
            "/topic/com.cisco.ise.config.profiler",
            "wiki-profilerTopic-message-composed.json",
        );
        assert_eq!(event.summary, "endpoint profile 2Wire-Device created");
        assert_eq!(event.subject.as_deref(), Some("2Wire-Device"));
        assert_eq!(event.objectclass.as_deref(), Some("profile"));
        let event = topic_fixture(
            "/topic/com.cisco.ise.sxp.binding",
            "wiki-sxp-bindingTopic-message.json",
        );
        assert_eq!(
            event.summary,
            "SXP binding 3.3.3.3/32 → tag 8 created (from 172.21.170.196)"
        );
        assert_eq!(event.subject.as_deref(), Some("3.3.3.3/32"));
    }

    #[test]
    fn a_radius_failure_names_the_user_the_endpoint_the_nas_and_the_reason() {
        let event = topic_fixture(
            "/topic/com.cisco.ise.radius.failure",
            "wiki-radius-failureTopic-message.json",
        );
        assert_eq!(
            event.summary,
            "RADIUS failure: user1 (00:11:22:33:44:55) on 172.21.170.242: 22040 Wrong password or invalid shared secret"
        );
        assert_eq!(event.device, "172.21.170.242");
        assert_eq!(event.subject.as_deref(), Some("00:11:22:33:44:55"));
    }

    #[test]
    fn a_message_without_the_documented_shape_keeps_the_generic_summary() {
        let event = topic_event(
            "ise",
            "/topic/com.cisco.ise.config.profiler",
            serde_json::json!({"unexpected": true}),
            jiff::Timestamp::now(),
        );
        assert_eq!(event.summary, "com.cisco.ise.config.profiler message");
        assert_eq!(event.subject, None);
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
