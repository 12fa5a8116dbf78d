//! The pxGrid names and session fields the simulated node needs, defined here from the protocol
//! reference (§3) rather than taken from `source::pxgrid::protocol`: what netpulse reads is what
//! the simulator checks, so the two must not share a definition.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The session directory service (ServiceLookup's `name`).
pub const SESSION_SERVICE: &str = "com.cisco.ise.session";
/// The WebSocket pubsub service the session service names in `wsPubsubService`.
pub const PUBSUB_SERVICE: &str = "com.cisco.ise.pubsub";

/// `accountState` in AccountActivate's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum AccountState {
    Init,
    Pending,
    Enabled,
    Disabled,
}

/// What `POST /_sim/publish` takes: the body of a session topic message.
#[derive(Debug, Deserialize)]
pub struct Published {
    pub sessions: Vec<Value>,
}

fn field<'a>(session: &'a Value, name: &str) -> Option<&'a str> {
    match session.get(name) {
        Some(Value::String(text)) if !text.is_empty() => Some(text),
        _ => None,
    }
}

/// The endpoint a session is about, which the directory keeps one session for: ISE keys its
/// session directory by MAC address; sessions without one fall back to the calling station,
/// then the audit session id.
pub fn endpoint(session: &Value) -> &str {
    ["macAddress", "callingStationId", "auditSessionId"]
        .into_iter()
        .find_map(|name| field(session, name))
        .unwrap_or_default()
}

/// When the session was last updated: `timestamp` on current ISE, `updateTime` in older samples.
pub fn updated(session: &Value) -> Option<jiff::Timestamp> {
    field(session, "timestamp")
        .or_else(|| field(session, "updateTime"))?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_session_is_keyed_by_its_endpoint_and_dated_by_its_update() {
        let session = json!({"macAddress": "", "callingStationId": "AA:BB", "updateTime": "2020-10-02T16:41:03.984-04:00"});
        assert_eq!(endpoint(&session), "AA:BB");
        assert_eq!(
            updated(&session),
            Some("2020-10-02T20:41:03.984Z".parse().unwrap())
        );
        assert_eq!(endpoint(&json!({})), "");
        assert_eq!(updated(&json!({"timestamp": "soon"})), None);
        assert_eq!(
            serde_json::to_value(AccountState::Pending).unwrap(),
            "PENDING"
        );
    }
}
