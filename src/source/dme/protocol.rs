//! The DME REST and WebSocket documents netpulse reads: login replies, query replies with a
//! `subscriptionId`, pushes and the error envelope. Pure parsing, no IO.

use std::collections::BTreeMap;

use serde::Deserialize;

/// A managed object: its class and its attributes (DME attribute values are always strings).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mo {
    pub class: String,
    pub attributes: BTreeMap<String, String>,
}

impl Mo {
    pub fn dn(&self) -> Option<&str> {
        self.attributes.get("dn").map(String::as_str)
    }
}

/// One `imdata` element: `{"<class>": {"attributes": {...}, "children": [...]}}`.
#[derive(Debug, Deserialize)]
struct Entry(BTreeMap<String, Body>);

#[derive(Debug, Deserialize)]
struct Body {
    #[serde(default)]
    attributes: BTreeMap<String, String>,
    #[serde(default)]
    children: Vec<Entry>,
}

#[derive(Debug, Deserialize)]
struct Reply {
    #[serde(default, rename = "subscriptionId")]
    subscription_id: Option<SubscriptionIds>,
    #[serde(default)]
    imdata: Vec<Entry>,
}

/// The query reply carries one id as a string; pushes carry an array of them.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum SubscriptionIds {
    One(String),
    Many(Vec<String>),
}

impl SubscriptionIds {
    fn into_vec(self) -> Vec<String> {
        match self {
            SubscriptionIds::One(id) => vec![id],
            SubscriptionIds::Many(ids) => ids,
        }
    }
}

/// The DME error envelope: `imdata[0].error.attributes.{code,text}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DmeError {
    pub code: String,
    pub text: String,
}

/// What a successful `aaaLogin` or `aaaRefresh` returns.
#[derive(Debug, Clone)]
pub struct Login {
    pub token: String,
    /// The session's idle lifetime; refresh well before it.
    pub refresh_timeout_secs: u64,
}

/// A query reply: the subscription id (when `subscription=yes`) and the current objects.
#[derive(Debug)]
pub struct QueryReply {
    pub subscription_ids: Vec<String>,
    pub objects: Vec<Mo>,
}

/// Parses any DME reply or push: the objects (children flattened, parents first) and the ids.
/// An error envelope comes back as `Err`.
pub fn parse_reply(body: &[u8]) -> Result<Result<QueryReply, DmeError>, serde_json::Error> {
    let reply: Reply = serde_json::from_slice(body)?;
    let mut objects = Vec::with_capacity(reply.imdata.len());
    for entry in reply.imdata {
        if let Some(error) = entry.0.get("error") {
            return Ok(Err(error_from(&error.attributes)));
        }
        flatten(entry, &mut objects);
    }
    let subscription_ids = reply
        .subscription_id
        .map(SubscriptionIds::into_vec)
        .unwrap_or_default();
    Ok(Ok(QueryReply {
        subscription_ids,
        objects,
    }))
}

fn flatten(entry: Entry, out: &mut Vec<Mo>) {
    for (class, body) in entry.0 {
        out.push(Mo {
            class,
            attributes: body.attributes,
        });
        for child in body.children {
            flatten(child, out);
        }
    }
}

fn error_from(attributes: &BTreeMap<String, String>) -> DmeError {
    DmeError {
        code: attributes.get("code").cloned().unwrap_or_default(),
        text: attributes.get("text").cloned().unwrap_or_default(),
    }
}

/// Finds the error envelope in a body, if it is one.
pub fn parse_error(body: &[u8]) -> Option<DmeError> {
    match parse_reply(body) {
        Ok(Err(error)) => Some(error),
        _ => None,
    }
}

/// Reads the token and the session lifetime out of an `aaaLogin` / `aaaRefresh` reply.
pub fn parse_login(body: &[u8]) -> Result<Login, String> {
    let reply = match parse_reply(body) {
        Ok(Ok(reply)) => reply,
        Ok(Err(error)) => {
            return Err(format!(
                "device answered error {}: {}",
                error.code, error.text
            ));
        }
        Err(err) => return Err(format!("login reply is not DME JSON: {err}")),
    };
    let login = reply
        .objects
        .into_iter()
        .find(|mo| mo.class == "aaaLogin")
        .ok_or("login reply has no aaaLogin object")?;
    let token = login
        .attributes
        .get("token")
        .filter(|token| !token.is_empty())
        .ok_or("login reply has no token")?;
    // Releases differ (300 s in old documents, 600 s in real captures): always honour the device.
    let refresh_timeout_secs = login
        .attributes
        .get("refreshTimeoutSeconds")
        .and_then(|value| value.parse().ok())
        .unwrap_or(300);
    Ok(Login {
        token: token.clone(),
        refresh_timeout_secs,
    })
}

/// The query with `subscription=yes` appended.
pub fn subscription_url(base: &str, query: &str) -> String {
    let separator = if query.contains('?') { '&' } else { '?' };
    format!(
        "{}{query}{separator}subscription=yes",
        base.trim_end_matches('/')
    )
}

/// The WebSocket URL: `wss://host/socket<token>`, the token appended as is (it contains `/+=`).
pub fn socket_url(base: &str, token: &str) -> String {
    let base = base.trim_end_matches('/');
    let rest = base
        .strip_prefix("https://")
        .map(|host| format!("wss://{host}"))
        .or_else(|| {
            base.strip_prefix("http://")
                .map(|host| format!("ws://{host}"))
        })
        .unwrap_or_else(|| base.to_owned());
    format!("{rest}/socket{token}")
}

/// The last relative name of a dn, honouring brackets: `sys/intf/phys-[eth1/3]` → `phys-[eth1/3]`.
pub fn rn_of(dn: &str) -> &str {
    let mut depth = 0usize;
    let mut start = 0;
    for (index, byte) in dn.bytes().enumerate() {
        match byte {
            b'[' => depth += 1,
            b']' => depth = depth.saturating_sub(1),
            b'/' if depth == 0 => start = index + 1,
            _ => {}
        }
    }
    &dn[start..]
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOGIN: &[u8] =
        include_bytes!("../../../tests/data/dme/aaaLogin-response-devnet-sandbox.json");
    const PUSH: &[u8] =
        include_bytes!("../../../tests/data/dme/notification-l1PhysIf-modified.json");
    const SUBSCRIBED: &[u8] =
        include_bytes!("../../../tests/data/dme/subscription-response-mo-phys-eth1-1.json");
    const LOGIN_401: &[u8] = include_bytes!("../../../tests/data/dme/error-login-401.json");
    const PUSH_4_IDS: &[u8] =
        include_bytes!("../../../tests/data/dme/event-vzBrCP-created-4-subscriptionIds.json");

    #[test]
    fn reads_the_token_and_lifetime_of_a_real_nxos_login() {
        let login = parse_login(LOGIN).unwrap();
        assert!(
            login
                .token
                .starts_with("spBJQo6ALtUuRzB/x3/hGeMDMNVtpkPo+1IV0APGjqrv")
        );
        assert_eq!(login.refresh_timeout_secs, 600);
    }

    #[test]
    fn wrong_credentials_come_back_as_the_device_error() {
        let error = parse_login(LOGIN_401).unwrap_err();
        assert!(
            error.contains("401") && error.contains("Username or password is incorrect"),
            "{error}"
        );
    }

    #[test]
    fn subscription_ids_above_i64_are_kept_exactly() {
        let reply = parse_reply(SUBSCRIBED).unwrap().unwrap();
        assert_eq!(reply.subscription_ids, ["18374686685813276673"]);
        assert!(reply.objects.is_empty());
    }

    #[test]
    fn a_push_gives_its_objects_and_every_subscription_id() {
        let push = parse_reply(PUSH).unwrap().unwrap();
        assert_eq!(push.objects.len(), 1);
        assert_eq!(push.objects[0].class, "l1PhysIf");
        assert_eq!(push.objects[0].dn(), Some("sys/intf/phys-[eth1/1]"));
        assert_eq!(push.objects[0].attributes["status"], "modified");
        let push = parse_reply(PUSH_4_IDS).unwrap().unwrap();
        assert_eq!(push.subscription_ids.len(), 4);
    }

    #[test]
    fn children_are_flattened_parents_first() {
        let body = br#"{"imdata":[{"l1PhysIf":{"attributes":{"dn":"sys/intf/phys-[eth1/1]"},"children":[{"ethpmPhysIf":{"attributes":{"dn":"sys/intf/phys-[eth1/1]/phys"}}}]}}]}"#;
        let reply = parse_reply(body).unwrap().unwrap();
        let classes: Vec<_> = reply.objects.iter().map(|mo| mo.class.as_str()).collect();
        assert_eq!(classes, ["l1PhysIf", "ethpmPhysIf"]);
    }

    #[test]
    fn urls_keep_brackets_and_the_raw_token() {
        assert_eq!(
            subscription_url("https://sw/", "/api/mo/sys/intf/phys-[eth1/3].json"),
            "https://sw/api/mo/sys/intf/phys-[eth1/3].json?subscription=yes"
        );
        assert_eq!(
            subscription_url("https://sw", "/api/class/l2BD.json?query-target=self"),
            "https://sw/api/class/l2BD.json?query-target=self&subscription=yes"
        );
        assert_eq!(
            socket_url("https://10.1.2.3:443", "Gk/+a="),
            "wss://10.1.2.3:443/socketGk/+a="
        );
        assert_eq!(socket_url("http://sw", "t"), "ws://sw/sockett");
    }

    #[test]
    fn rn_honours_brackets() {
        assert_eq!(rn_of("sys/intf/phys-[eth1/3]"), "phys-[eth1/3]");
        assert_eq!(rn_of("sys/intf/phys-[eth1/3]/phys"), "phys");
        assert_eq!(rn_of("sys"), "sys");
    }
}
