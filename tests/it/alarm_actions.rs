//! Acknowledging and closing alarms over real HTTP: the `ack` scope (which `admin` includes and
//! `read` does not), keys percent-encoded in the path, idempotent answers, the alarms list and the
//! history showing who did what.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::{Running, sdwan_alarm};

const READ_TOKEN: &str = "read-token-0123456789";
const ACK_TOKEN: &str = "ack-token-0123456789";
const ADMIN_TOKEN: &str = "admin-token-0123456789";
const DOWN: &str = "webhook-interface-state-change-down-2019.json";

async fn start() -> Running {
    let yaml = "store: { path: netpulse.db }
http: { listen: \"127.0.0.1:0\" }
api:
  auth:
    tokens:
      - { name: screen, token: \"${READ_TOKEN}\" }
      - { name: noc, token: \"${ACK_TOKEN}\", scope: ack }
      - { name: alice, token: \"${ADMIN_TOKEN}\", scope: admin }
sources:
  - { name: vmanage, type: webhook, provider: sdwan, path: /hooks/sdwan, auth: { none: true } }
";
    let env = [
        ("READ_TOKEN", READ_TOKEN),
        ("ACK_TOKEN", ACK_TOKEN),
        ("ADMIN_TOKEN", ADMIN_TOKEN),
    ];
    Running::start(yaml, &env).await
}

async fn call(request: reqwest::RequestBuilder, token: Option<&str>) -> (StatusCode, Value) {
    let request = match token {
        Some(token) => request.bearer_auth(token),
        None => request,
    };
    let response = request.send().await.unwrap();
    let status = response.status();
    let text = response.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

async fn get(running: &Running, path: &str) -> Value {
    let request = reqwest::Client::new().get(running.url(path));
    let (status, body) = call(request, Some(READ_TOKEN)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

/// POSTs `/api/v1/alarms/{key}/{action}` with the key percent-encoded and `body` (none if null).
async fn act(
    running: &Running,
    key: &str,
    action: &str,
    token: Option<&str>,
    body: &Value,
) -> (StatusCode, Value) {
    let path = format!("/api/v1/alarms/{}/{action}", encode(key));
    let mut request = reqwest::Client::new().post(running.url(&path));
    if !body.is_null() {
        request = request.json(body);
    }
    call(request, token).await
}

/// Percent-encodes everything but the unreserved characters of RFC 3986.
fn encode(text: &str) -> String {
    text.bytes()
        .map(|byte| match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (byte as char).to_string()
            }
            byte => format!("%{byte:02X}"),
        })
        .collect()
}

/// Raises an SD-WAN alarm: its key.
async fn raise(running: &Running, uuid: &str) -> String {
    let request = reqwest::Client::new()
        .post(running.url("/hooks/sdwan"))
        .header("content-type", "application/json")
        .body(sdwan_alarm(DOWN, uuid, Some("edge-7")));
    let (status, answer) = call(request, None).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    format!("vmanage:sdwan:{uuid}")
}

fn keys(list: &Value) -> Vec<&str> {
    list["alarms"]
        .as_array()
        .unwrap()
        .iter()
        .map(|alarm| alarm["key"].as_str().unwrap())
        .collect()
}

#[tokio::test]
async fn an_ack_token_acknowledges_then_closes_an_alarm_and_repeating_changes_nothing() {
    let running = start().await;
    // A key with ':' and '/', as DME keys have: one percent-encoded path segment.
    let key = raise(&running, "site/7-a1b2").await;
    let other = raise(&running, "site/8-c3d4").await;
    let note = json!({"note": "checking the optics"});

    let (status, refused) = act(&running, &key, "ack", Some(READ_TOKEN), &note).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{refused}");
    assert!(
        refused["error"].as_str().unwrap().contains("scope: ack"),
        "{refused}"
    );
    let (status, _) = act(&running, &key, "ack", None, &note).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    let (status, acked) = act(&running, &key, "ack", Some(ACK_TOKEN), &note).await;
    assert_eq!(status, StatusCode::OK, "{acked}");
    assert_eq!(acked["key"], key.as_str());
    assert_eq!(acked["changed"], true);
    assert_eq!(acked["operator"]["state"], "acknowledged");
    assert_eq!(acked["operator"]["by"], "noc");
    assert_eq!(acked["operator"]["note"], "checking the optics");
    assert_eq!(
        acked["operator"]["via"],
        json!({"channel": "api", "token": "noc"})
    );

    // Again, by the admin: already so, still noc's.
    let (status, again) = act(&running, &key, "ack", Some(ADMIN_TOKEN), &Value::Null).await;
    assert_eq!(status, StatusCode::OK, "{again}");
    assert_eq!(again["changed"], false);
    assert_eq!(again["operator"], acked["operator"]);

    let active = get(&running, "/api/v1/alarms").await;
    let shown = active["alarms"]
        .as_array()
        .unwrap()
        .iter()
        .find(|alarm| alarm["key"] == key.as_str())
        .expect("an acknowledged alarm stays active");
    assert_eq!(shown["operator"], acked["operator"]);
    assert_eq!(
        keys(&get(&running, "/api/v1/alarms?state=acknowledged").await),
        [key.as_str()]
    );

    let history = get(
        &running,
        "/api/v1/events?type=io.netpulse.operator.alarm.acknowledged",
    )
    .await;
    let events = history["events"].as_array().unwrap();
    assert_eq!(events.len(), 1, "{history}");
    assert_eq!(events[0]["data"]["key"], key.as_str());
    let summary = events[0]["summary"].as_str().unwrap();
    assert_eq!(
        summary,
        format!("alarm {key} acknowledged by noc via the API (token noc): checking the optics")
    );

    // The ack scope does not reach the admin operations.
    let silence = json!({"matchers": {"device": ["edge-7"]}, "duration": "1h", "comment": "x"});
    let request = reqwest::Client::new()
        .post(running.url("/api/v1/silences"))
        .json(&silence);
    let (status, _) = call(request, Some(ACK_TOKEN)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    let (status, closed) = act(&running, &key, "close", Some(ACK_TOKEN), &Value::Null).await;
    assert_eq!(status, StatusCode::OK, "{closed}");
    assert_eq!(
        (
            closed["changed"].clone(),
            closed["operator"]["state"].clone()
        ),
        (json!(true), json!("closed"))
    );
    assert_eq!(
        keys(&get(&running, "/api/v1/alarms").await),
        [other.as_str()]
    );
    assert_eq!(
        keys(&get(&running, "/api/v1/alarms?state=closed").await),
        [key.as_str()]
    );
    for action in ["close", "ack"] {
        let (status, again) = act(&running, &key, action, Some(ADMIN_TOKEN), &Value::Null).await;
        assert_eq!(status, StatusCode::OK, "{again}");
        assert_eq!(again["changed"], false, "{action}: {again}");
        assert_eq!(again["operator"]["state"], "closed");
    }
    running.stop().await;
}

#[tokio::test]
async fn an_unknown_key_or_a_bad_body_is_refused_and_nothing_is_stored() {
    let running = start().await;
    let key = raise(&running, "u-1").await;
    for action in ["ack", "close"] {
        let (status, missing) = act(
            &running,
            "vmanage:sdwan:nope",
            action,
            Some(ACK_TOKEN),
            &Value::Null,
        )
        .await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{missing}");
        assert_eq!(missing["code"], "not_found");
        let (status, bad) = act(
            &running,
            &key,
            action,
            Some(ACK_TOKEN),
            &json!({"nte": "x"}),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}");
    }
    // The key unencoded is another path: no route.
    let request = reqwest::Client::new().post(running.url("/api/v1/alarms/a/b/ack"));
    let (status, _) = call(request, Some(ACK_TOKEN)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let history = get(&running, "/api/v1/events?type_prefix=io.netpulse.operator.").await;
    assert_eq!(history["events"], json!([]));
    let whoami = reqwest::Client::new().get(running.url("/api/v1/whoami"));
    let (_, noc) = call(whoami, Some(ACK_TOKEN)).await;
    assert_eq!(noc, json!({"name": "noc", "scope": "ack"}));
    running.stop().await;
}
