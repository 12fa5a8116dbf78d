//! The alerting API over real HTTP against the running gateway: silences and maintenance windows
//! made, listed and ended by an admin token (each an operator event in the history), an event's
//! trace (which routes, which sinks, what happened), the notifications list, and who the caller
//! is.

use std::future::Future;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::{Running, TIMEOUT, sdwan_alarm};

const READ_TOKEN: &str = "read-token-0123456789";
const ADMIN_TOKEN: &str = "admin-token-0123456789";
const DOWN: &str = "webhook-interface-state-change-down-2019.json";

/// An SD-WAN receiver, a read and an admin token, and a file sink; `routes` (YAML lines at the
/// top level) sends alarms through the alerting router.
fn config(routes: &str) -> String {
    format!(
        "store: {{ path: netpulse.db }}
http: {{ listen: \"127.0.0.1:0\" }}
api:
  auth:
    tokens:
      - {{ name: screen, token: \"${{READ_TOKEN}}\" }}
      - {{ name: alice, token: \"${{ADMIN_TOKEN}}\", scope: admin }}
sources:
  - name: vmanage
    type: webhook
    provider: sdwan
    path: /hooks/sdwan
    auth: {{ none: true }}
sinks:
  - {{ name: archive, type: file, path: events.jsonl }}
{routes}"
    )
}

async fn start(routes: &str) -> Running {
    let env = [("READ_TOKEN", READ_TOKEN), ("ADMIN_TOKEN", ADMIN_TOKEN)];
    Running::start(&config(routes), &env).await
}

/// Sends a request with `token` and reads the status and the JSON answer.
async fn call(request: reqwest::RequestBuilder, token: Option<&str>) -> (StatusCode, Value) {
    let request = match token {
        Some(token) => request.bearer_auth(token),
        None => request,
    };
    let response = request.send().await.unwrap();
    let status = response.status();
    let text = response.text().await.unwrap();
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, body)
}

async fn get(running: &Running, path: &str) -> (StatusCode, Value) {
    call(
        reqwest::Client::new().get(running.url(path)),
        Some(READ_TOKEN),
    )
    .await
}

async fn post_json(
    running: &Running,
    path: &str,
    token: Option<&str>,
    body: &Value,
) -> (StatusCode, Value) {
    call(
        reqwest::Client::new().post(running.url(path)).json(body),
        token,
    )
    .await
}

async fn delete(running: &Running, path: &str, token: Option<&str>) -> (StatusCode, Value) {
    call(reqwest::Client::new().delete(running.url(path)), token).await
}

/// Posts an SD-WAN interface-down alarm for `host` and answers its seq.
async fn alarm(running: &Running, uuid: &str, host: &str) -> u64 {
    let (status, answer) = call(
        reqwest::Client::new()
            .post(running.url("/hooks/sdwan"))
            .header("content-type", "application/json")
            .body(sdwan_alarm(DOWN, uuid, Some(host))),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    answer["seq"].as_u64().expect("the webhook answers the seq")
}

/// Polls `probe` until it answers `Some`, failing the test after [`TIMEOUT`].
async fn eventually<T, F: Future<Output = Option<T>>>(what: &str, probe: impl Fn() -> F) -> T {
    let deadline = tokio::time::Instant::now() + TIMEOUT;
    loop {
        if let Some(value) = probe().await {
            return value;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting until {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The stored events of `type`, newest first.
async fn events_of_type(running: &Running, kind: &str) -> Vec<Value> {
    let (status, page) = get(running, &format!("/api/v1/events?type={kind}")).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    page["events"].as_array().unwrap().clone()
}

#[tokio::test]
async fn a_silence_is_created_listed_and_expired_by_an_admin_and_each_step_is_in_the_history() {
    let running = start("").await;
    let body = json!({
        "matchers": {"source": ["vmanage"], "device": ["edge-7"]},
        "duration": "2h",
        "comment": "change 1234",
    });
    let (status, refused) = post_json(&running, "/api/v1/silences", Some(READ_TOKEN), &body).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{refused}");
    let (status, _) = post_json(&running, "/api/v1/silences", None, &body).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    let (status, silence) = post_json(&running, "/api/v1/silences", Some(ADMIN_TOKEN), &body).await;
    assert_eq!(
        status,
        StatusCode::CREATED,
        "applied by the router before the answer: {silence}"
    );
    let id = silence["id"].as_str().unwrap().to_owned();
    assert_eq!(silence["kind"], "silence");
    assert_eq!(silence["created_by"], "alice");
    assert_eq!(silence["comment"], "change 1234");
    assert_eq!(silence["matcher"]["device"], json!(["edge-7"]));
    let starts: jiff::Timestamp = silence["starts_at"].as_str().unwrap().parse().unwrap();
    let ends: jiff::Timestamp = silence["ends_at"].as_str().unwrap().parse().unwrap();
    assert_eq!(
        starts.duration_until(ends),
        jiff::SignedDuration::from_hours(2)
    );

    let (status, list) = get(&running, "/api/v1/silences").await;
    assert_eq!(status, StatusCode::OK, "{list}");
    assert_eq!(
        list["silences"],
        json!([silence]),
        "listed at once, as made"
    );
    let (_, windows) = get(&running, "/api/v1/windows").await;
    assert_eq!(windows["windows"], json!([]), "a silence is not a window");

    let created = events_of_type(&running, "io.netpulse.operator.silence.created").await;
    assert_eq!(created.len(), 1);
    assert_eq!(created[0]["data"]["id"], id.as_str());
    assert_eq!(created[0]["data"]["created_by"], "alice");
    assert_eq!(
        created[0]["data"]["via"],
        json!({"channel": "api", "token": "alice"})
    );
    assert!(
        created[0]["summary"].as_str().unwrap().contains("alice"),
        "{}",
        created[0]
    );

    let path = format!("/api/v1/silences/{id}");
    let (status, _) = delete(&running, &path, Some(READ_TOKEN)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, expired) = delete(&running, &path, Some(ADMIN_TOKEN)).await;
    assert_eq!(status, StatusCode::OK, "{expired}");
    assert_eq!(expired["expired_by"], "alice");
    let (_, list) = get(&running, "/api/v1/silences").await;
    assert_eq!(list["silences"], json!([]));
    let (status, again) = delete(&running, &path, Some(ADMIN_TOKEN)).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{again}");
    assert!(again["error"].as_str().unwrap().contains(&id), "{again}");
    let expired = events_of_type(&running, "io.netpulse.operator.silence.expired").await;
    assert_eq!(expired.len(), 1);
    assert_eq!(
        expired[0]["data"],
        json!({"id": id, "by": "alice", "via": {"channel": "api", "token": "alice"}})
    );
    running.stop().await;
}

#[tokio::test]
async fn a_window_is_created_for_later_listed_and_deleted() {
    let running = start("").await;
    let starts = jiff::Timestamp::now() + jiff::SignedDuration::from_hours(24);
    let ends = starts + jiff::SignedDuration::from_hours(3);
    let body = json!({
        "matchers": {"device": ["edge-1", "edge-2"]},
        "starts_at": starts.to_string(),
        "ends_at": ends.to_string(),
        "comment": "site A router swap",
    });
    let (status, window) = post_json(&running, "/api/v1/windows", Some(ADMIN_TOKEN), &body).await;
    assert_eq!(status, StatusCode::CREATED, "{window}");
    assert_eq!(window["kind"], "window");
    let id = window["id"].as_str().unwrap().to_owned();
    let (_, list) = get(&running, "/api/v1/windows").await;
    assert_eq!(
        list["windows"],
        json!([window]),
        "a future window is listed"
    );
    let (_, silences) = get(&running, "/api/v1/silences").await;
    assert_eq!(silences["silences"], json!([]));
    let (status, _) = delete(
        &running,
        &format!("/api/v1/silences/{id}"),
        Some(ADMIN_TOKEN),
    )
    .await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "a window is not expired as a silence"
    );
    let (status, _) = delete(
        &running,
        &format!("/api/v1/windows/{id}"),
        Some(ADMIN_TOKEN),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (_, list) = get(&running, "/api/v1/windows").await;
    assert_eq!(list["windows"], json!([]));
    let deleted = events_of_type(&running, "io.netpulse.operator.window.deleted").await;
    assert_eq!(
        deleted[0]["data"],
        json!({"id": id, "by": "alice", "via": {"channel": "api", "token": "alice"}})
    );
    running.stop().await;
}

#[tokio::test]
async fn a_mute_request_with_a_mistake_is_refused_naming_the_field_and_nothing_is_stored() {
    let running = start("").await;
    for (body, field) in [
        (json!({"duration": "1h", "comment": "c"}), "matchers"),
        (
            json!({"matchers": {}, "duration": "1h", "comment": "c"}),
            "matchers",
        ),
        (
            json!({"matchers": {"hostname": ["x"]}, "duration": "1h", "comment": "c"}),
            "hostname",
        ),
        (
            json!({"matchers": {"device": ["x"]}, "duration": "1h"}),
            "comment",
        ),
        (
            json!({"matchers": {"device": ["x"]}, "comment": "c"}),
            "duration",
        ),
        (
            json!({"matchers": {"device": ["x"]}, "duration": "soon", "comment": "c"}),
            "duration",
        ),
        (
            json!({"matchers": {"device": ["x"]}, "ends_at": "2001-01-01T00:00:00Z", "comment": "c"}),
            "ends_at",
        ),
        (
            json!({"matchers": {"device": ["x"]}, "duration": "1h", "comment": "c", "extra": 1}),
            "extra",
        ),
    ] {
        for path in ["/api/v1/silences", "/api/v1/windows"] {
            let (status, error) = post_json(&running, path, Some(ADMIN_TOKEN), &body).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{path} {body}: {error}");
            assert_eq!(error["code"], "bad_request");
            assert!(
                error["error"].as_str().unwrap().contains(field),
                "{path} {body}: {error}"
            );
        }
    }
    let (_, page) = get(&running, "/api/v1/events?type_prefix=io.netpulse.operator.").await;
    assert_eq!(
        page["events"],
        json!([]),
        "a refused request stores nothing"
    );
    running.stop().await;
}

#[tokio::test]
async fn whoami_tells_the_dashboard_the_tokens_name_and_scope() {
    let running = start("").await;
    let client = reqwest::Client::new();
    let (status, screen) = call(client.get(running.url("/api/v1/whoami")), Some(READ_TOKEN)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(screen, json!({"name": "screen", "scope": "read"}));
    let (_, alice) = call(client.get(running.url("/api/v1/whoami")), Some(ADMIN_TOKEN)).await;
    assert_eq!(alice, json!({"name": "alice", "scope": "admin"}));
    let (status, _) = call(client.get(running.url("/api/v1/whoami")), None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    running.stop().await;
}

/// Without routes, an alarm goes to the sinks whose `match:` takes it: its trace shows those
/// deliveries and no route; by seq or by id alike.
#[tokio::test]
async fn the_trace_of_an_event_no_route_takes_shows_its_sinks_deliveries() {
    let running = start("").await;
    let seq = alarm(&running, "trace-1", "edge-1").await;
    let trace = eventually("the router has passed the event", || async {
        let (status, trace) = get(&running, &format!("/api/v1/events/{seq}/trace")).await;
        assert_eq!(status, StatusCode::OK, "{trace}");
        (trace["pending"] == false).then_some(trace)
    })
    .await;
    assert_eq!(trace["event"]["seq"], seq);
    assert_eq!(trace["event"]["device"], "edge-1");
    assert_eq!(trace["matched_route"], false);
    assert_eq!(trace["routes"], json!([]));
    assert_eq!(trace["deliveries"][0]["sink"], "archive");
    assert_eq!(trace["verdict"], "routed");
    let id = trace["event"]["id"].as_str().unwrap().to_owned();
    let (status, by_id) = get(&running, &format!("/api/v1/events/{id}/trace")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(by_id["event"]["seq"], seq);

    for unknown in ["999999", "0190c1e2-aaaa-7bbb-8ccc-0123456789ab"] {
        let (status, error) = get(&running, &format!("/api/v1/events/{unknown}/trace")).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{unknown}: {error}");
    }
    running.stop().await;
}

const ROUTES: &str = "routes:
  - name: noc
    match: { source: [vmanage] }
    sinks: [archive]
    group_by: [device]
    group_wait: 1s
";

/// With a route: an alarm is grouped and reported by a notification, which the notifications
/// list shows with its delivery; an alarm of a silenced device is decided `silenced` by that
/// silence; an event of another source matched no route.
#[tokio::test]
async fn the_trace_says_which_notification_reported_an_alarm_and_which_silence_muted_another() {
    let running = start(ROUTES).await;
    let (status, silence) = post_json(
        &running,
        "/api/v1/silences",
        Some(ADMIN_TOKEN),
        &json!({"matchers": {"device": ["edge-quiet"]}, "duration": "1h", "comment": "maintenance"}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{silence}");

    let loud = alarm(&running, "grouped-1", "edge-loud").await;
    let quiet = alarm(&running, "silenced-1", "edge-quiet").await;

    let trace = eventually("the loud alarm is reported by a notification", || async {
        let (_, trace) = get(&running, &format!("/api/v1/events/{loud}/trace")).await;
        (trace["notifications"]
            .as_array()
            .is_some_and(|n| !n.is_empty()))
        .then_some(trace)
    })
    .await;
    assert_eq!(trace["matched_route"], true);
    assert_eq!(trace["routes"][0]["route"], "noc");
    assert_eq!(trace["routes"][0]["sink"], "archive");
    assert_eq!(trace["routes"][0]["outcome"], "grouped");
    let notification = &trace["notifications"][0];
    assert_eq!(notification["sink"], "archive");
    assert_eq!(notification["number"], 1);
    assert_eq!(
        trace["routes"][0]["notifications"],
        json!([notification["seq"]])
    );
    assert_eq!(notification["deliveries"][0]["sink"], "archive");
    assert_eq!(
        trace["deliveries"],
        json!([]),
        "a sink named by a route takes nothing through its own match:"
    );

    let (status, page) = get(&running, "/api/v1/notifications").await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let listed = page["notifications"].as_array().unwrap();
    let first = listed
        .iter()
        .find(|n| n["seq"] == notification["seq"])
        .expect("the notification is listed");
    assert_eq!(first["type"], "io.netpulse.notification");
    assert_eq!(first["data"]["group"], notification["group"]);
    assert!(
        first["data"]["members"]
            .as_array()
            .unwrap()
            .contains(&json!(loud))
    );
    assert_eq!(first["deliveries"][0]["sink"], "archive");
    let (status, error) = get(&running, "/api/v1/notifications?type=x").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{error}");

    let (_, quiet_trace) = get(&running, &format!("/api/v1/events/{quiet}/trace")).await;
    assert_eq!(
        quiet_trace["routes"][0]["outcome"], "silenced",
        "{quiet_trace}"
    );
    assert_eq!(quiet_trace["routes"][0]["mute"], silence["id"]);
    assert_eq!(quiet_trace["notifications"], json!([]));

    // The silence's own operator event is no alarm: no route takes it.
    let created = events_of_type(&running, "io.netpulse.operator.silence.created").await;
    let seq = created[0]["seq"].as_u64().unwrap();
    let (_, operator) = get(&running, &format!("/api/v1/events/{seq}/trace")).await;
    assert_eq!(operator["pending"], false);
    assert_eq!(operator["verdict"], "no_route", "{operator}");
    running.stop().await;
}

/// `GET /api/v1/topology`: off without `topology:`; with it, the roots as configured and the
/// (still empty) graph; a token is needed.
#[tokio::test]
async fn the_topology_endpoint_says_whether_topology_is_on_and_shows_its_graph() {
    let running = start("").await;
    let (status, body) = get(&running, "/api/v1/topology").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, json!({"enabled": false}));
    running.stop().await;
    let running = start("topology:\n  roots: [spine-*]\n").await;
    let (status, body) = get(&running, "/api/v1/topology").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["enabled"], true);
    assert_eq!(body["roots_inferred"], false);
    assert_eq!(body["edges"], json!([]));
    assert_eq!(body["holds"], json!([]));
    let client = reqwest::Client::new();
    let (status, _) = call(client.get(running.url("/api/v1/topology")), None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    running.stop().await;
}
