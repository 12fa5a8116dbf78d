//! The history API and the live feed, over real HTTP, SSE and WebSocket against the running
//! gateway: filters and pagination, alarms, health, dead letters, tokens, and feeds that resume
//! with no gap and no duplicate.

use std::collections::BTreeSet;
use std::time::Duration;

use futures_util::StreamExt;
use reqwest::StatusCode;
use serde_json::Value;
use tokio_tungstenite::tungstenite::Message;

use crate::support::{Running, sdwan_alarm, wait_until};

const READ_TOKEN: &str = "read-token-0123456789";
const ADMIN_TOKEN: &str = "admin-token-0123456789";
const DOWN: &str = "webhook-interface-state-change-down-2019.json";
const UP_CLEARS: &str = "webhook-interface-state-change-up-clears-previous-2019.json";
const CPU: &str = "rest-alarm-cpu-usage-active-20.x.json";

/// A gateway with an SD-WAN receiver (no auth, to keep posts short), API tokens, and a Webex
/// sink towards a port where nothing listens unless `webex_base` says otherwise.
fn config(client_buffer: usize, webex_base: &str) -> String {
    format!(
        "store: {{ path: netpulse.db }}
http: {{ listen: \"127.0.0.1:0\" }}
api:
  auth:
    tokens:
      - {{ name: screen, token: \"${{READ_TOKEN}}\" }}
      - {{ name: ops, token: \"${{ADMIN_TOKEN}}\", scope: admin }}
  feed: {{ client_buffer: {client_buffer}, send_timeout: 2s }}
sources:
  - name: vmanage
    type: webhook
    provider: sdwan
    path: /hooks/sdwan
    auth: {{ none: true }}
sinks:
  - name: noc
    type: webex
    base_url: {webex_base}
    token: bot-token
    room_id: room
    retry: {{ initial: 100ms, max: 200ms, max_attempts: 1 }}
"
    )
}

async fn start(client_buffer: usize) -> Running {
    let env = [("READ_TOKEN", READ_TOKEN), ("ADMIN_TOKEN", ADMIN_TOKEN)];
    Running::start(&config(client_buffer, "http://127.0.0.1:9"), &env).await
}

async fn post(running: &Running, body: Vec<u8>) {
    let response = reqwest::Client::new()
        .post(running.url("/hooks/sdwan"))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}

/// Posts `count` alarms, 16 at a time, with uuids `<prefix>-<n>`; every one must be acknowledged.
async fn post_many(running: &Running, prefix: &str, count: u64) {
    let client = reqwest::Client::new();
    let url = running.url("/hooks/sdwan");
    let posts = futures_util::stream::iter(0..count)
        .map(|n| {
            let request = client
                .post(&url)
                .header("content-type", "application/json")
                .body(sdwan_alarm(DOWN, &format!("{prefix}-{n}"), None));
            async move { request.send().await.unwrap().status() }
        })
        .buffer_unordered(16)
        .collect::<Vec<_>>()
        .await;
    assert!(posts.iter().all(|status| *status == StatusCode::OK));
}

async fn get(running: &Running, path: &str, token: Option<&str>) -> (StatusCode, Value) {
    let mut request = reqwest::Client::new().get(running.url(path));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    (status, response.json().await.unwrap())
}

fn seqs(page: &Value) -> Vec<u64> {
    page["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|event| event["seq"].as_u64().unwrap())
        .collect()
}

#[tokio::test]
async fn events_are_filtered_and_paged_with_a_cursor_in_either_order() {
    let running = start(1024).await;
    for n in 0..5 {
        post(
            &running,
            sdwan_alarm(DOWN, &format!("down-{n}"), Some("edge-a")),
        )
        .await;
        post(&running, sdwan_alarm(CPU, &format!("cpu-{n}"), None)).await;
    }
    let token = Some(READ_TOKEN);
    let (status, all) = get(&running, "/api/v1/events", token).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(seqs(&all), (1..=10).rev().collect::<Vec<_>>());
    assert_eq!(all["next_cursor"], Value::Null);

    // Newest first, three at a time, following the cursor to the end.
    let mut seen = Vec::new();
    let mut path = "/api/v1/events?device=edge-a&limit=3".to_owned();
    loop {
        let (_, page) = get(&running, &path, token).await;
        seen.extend(seqs(&page));
        let Some(cursor) = page["next_cursor"].as_str() else {
            break;
        };
        path = format!("/api/v1/events?device=edge-a&limit=3&cursor={cursor}");
    }
    assert_eq!(seen, [9, 7, 5, 3, 1]);

    let (_, oldest) = get(
        &running,
        "/api/v1/events?order=oldest&limit=2&cursor=4",
        token,
    )
    .await;
    assert_eq!(seqs(&oldest), [5, 6]);
    let (_, minor) = get(
        &running,
        "/api/v1/events?source=vmanage&type_prefix=com.cisco.sdwan.&min_severity=critical&alarmstate=raised",
        token,
    )
    .await;
    assert_eq!(seqs(&minor), [9, 7, 5, 3, 1]);
    let (_, none) = get(&running, "/api/v1/events?since=2030-01-01T00:00:00Z", token).await;
    assert_eq!(seqs(&none), Vec::<u64>::new());

    let (status, error) = get(&running, "/api/v1/events?min_severity=huge", token).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(error["code"], "bad_request");
    assert!(error["error"].as_str().unwrap().contains("min_severity"));
    let (status, error) = get(&running, "/api/v1/events?devcie=x", token).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        error["error"].as_str().unwrap().contains("devcie"),
        "{error}"
    );
    running.stop().await;
}

#[tokio::test]
async fn every_route_but_the_openapi_document_needs_a_token_and_retry_needs_admin() {
    let running = start(1024).await;
    for path in [
        "/api/v1/events",
        "/api/v1/alarms",
        "/api/v1/sources",
        "/api/v1/sinks",
    ] {
        let response = reqwest::get(running.url(path)).await.unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{path}");
        assert!(response.headers().contains_key("www-authenticate"));
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["code"], "unauthorized");
        let (status, _) = get(&running, path, Some("wrong-token-0123456789")).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{path}");
    }
    running.stop().await;
}

/// `?access_token=` is for what a browser opens without headers (EventSource, WebSocket): a token
/// in a URL ends up in logs and histories, so no other route takes it, least of all an admin POST.
#[tokio::test]
async fn a_token_in_the_query_string_opens_only_the_two_feeds() {
    let running = start(1024).await;
    let (status, error) = get(
        &running,
        &format!("/api/v1/events?access_token={READ_TOKEN}"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{error}");
    assert!(
        error["error"].as_str().unwrap().contains("Authorization"),
        "{error}"
    );
    let response = reqwest::Client::new()
        .post(running.url(&format!(
            "/api/v1/sinks/noc/dead/1/retry?access_token={ADMIN_TOKEN}"
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    // The feeds still take it: the SSE stream answers and the WebSocket opens.
    let response = reqwest::Client::new()
        .get(running.url(&format!("/api/v1/events/stream?access_token={READ_TOKEN}")))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers()["content-type"].to_str().unwrap(),
        "text/event-stream"
    );
    drop(response);
    post(&running, sdwan_alarm(DOWN, "q1", None)).await;
    let mut socket = connect(&running, "&after=0").await;
    assert!(next_seq(&mut socket).await.is_some());
    drop(socket);
    running.stop().await;
}

#[tokio::test]
async fn retry_needs_an_admin_token_and_the_openapi_document_none() {
    let running = start(1024).await;
    let response = reqwest::Client::new()
        .post(running.url("/api/v1/sinks/noc/dead/1/retry"))
        .bearer_auth(READ_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let response = reqwest::get(running.url("/api/v1/openapi.json"))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let document: Value = response.json().await.unwrap();
    assert!(document["paths"]["/api/v1/events"].is_object());
    running.stop().await;
}

#[tokio::test]
async fn alarms_sources_and_sinks_show_state_and_a_dead_letter_can_be_retried() {
    let running = start(1024).await;
    post(&running, sdwan_alarm(DOWN, "a1", Some("edge-a"))).await;
    post(&running, sdwan_alarm(DOWN, "a2", Some("edge-b"))).await;
    let (_, alarms) = get(&running, "/api/v1/alarms", Some(READ_TOKEN)).await;
    let active: BTreeSet<&str> = alarms["alarms"]
        .as_array()
        .unwrap()
        .iter()
        .map(|alarm| alarm["device"].as_str().unwrap())
        .collect();
    assert_eq!(active, BTreeSet::from(["edge-a", "edge-b"]));
    // The summary comes from the stored event, whose body is kept compressed.
    for alarm in alarms["alarms"].as_array().unwrap() {
        let device = alarm["device"].as_str().unwrap();
        let summary = alarm["summary"].as_str().unwrap_or_default();
        assert!(summary.contains(device), "{summary:?} for {device}");
    }
    assert_eq!(alarms["alarms"][0]["severity"], "critical");
    assert_eq!(alarms["alarms"][0]["events"], 1);

    let mut clear: Value = serde_json::from_slice(&sdwan_alarm(UP_CLEARS, "c1", None)).unwrap();
    clear["cleared_events"] = serde_json::json!(["a1"]);
    post(&running, serde_json::to_vec(&clear).unwrap()).await;
    let (_, alarms) = get(&running, "/api/v1/alarms", Some(READ_TOKEN)).await;
    assert_eq!(alarms["alarms"].as_array().unwrap().len(), 1);
    assert_eq!(alarms["alarms"][0]["device"], "edge-b");
    let (_, cleared) = get(&running, "/api/v1/alarms?state=cleared", Some(READ_TOKEN)).await;
    assert_eq!(cleared["alarms"][0]["key"], "vmanage:sdwan:a1");
    assert_eq!(
        cleared["alarms"][0]["events"], 2,
        "raised once, cleared once"
    );

    let (_, sources) = get(&running, "/api/v1/sources", Some(READ_TOKEN)).await;
    assert_eq!(sources["sources"][0]["name"], "vmanage");
    assert_eq!(sources["sources"][0]["type"], "webhook");
    assert_eq!(sources["sources"][0]["provider"], "sdwan");
    assert_eq!(sources["sources"][0]["accepted"], 3);
    let (status, _) = get(&running, "/api/v1/sources/nope", Some(READ_TOKEN)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Nothing listens where the Webex sink posts: each delivery fails once and is dead.
    wait_until("three dead letters", || {
        running.reader().outbox_counts("noc").unwrap().dead == 3
    })
    .await;
    let (_, sinks) = get(&running, "/api/v1/sinks", Some(READ_TOKEN)).await;
    assert_eq!(sinks["sinks"][0]["type"], "webex");
    assert_eq!(sinks["sinks"][0]["dead"], 3);
    let (_, dead) = get(&running, "/api/v1/sinks/noc/dead", Some(READ_TOKEN)).await;
    let letter = &dead["dead"][0];
    assert!(letter["last_error"].as_str().unwrap().len() > 3, "{letter}");
    assert_eq!(letter["event"]["seq"], letter["seq"]);
    let id = letter["id"].as_i64().unwrap();
    let retry = |id: i64| {
        reqwest::Client::new()
            .post(running.url(&format!("/api/v1/sinks/noc/dead/{id}/retry")))
            .bearer_auth(ADMIN_TOKEN)
            .send()
    };
    assert_eq!(retry(id).await.unwrap().status(), StatusCode::OK);
    assert_eq!(
        retry(id).await.unwrap().status(),
        StatusCode::NOT_FOUND,
        "no longer dead"
    );
    // It is tried again (and, with the target still down, dies again).
    wait_until("the retried delivery was attempted again", || {
        let reader = running.reader();
        reader
            .dead_letters("noc", 10)
            .unwrap()
            .iter()
            .any(|letter| letter.id == id && letter.attempts == 1)
    })
    .await;
    running.stop().await;
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn connect(running: &Running, query: &str) -> Socket {
    let url = running
        .url(&format!("/api/v1/stream?access_token={READ_TOKEN}{query}"))
        .replace("http://", "ws://");
    tokio_tungstenite::connect_async(url).await.unwrap().0
}

/// The next event's seq, skipping notices; None when the server closed the socket.
async fn next_seq(socket: &mut Socket) -> Option<u64> {
    loop {
        let message = tokio::time::timeout(Duration::from_secs(10), socket.next())
            .await
            .expect("a message within 10 s")?
            .ok()?;
        match message {
            Message::Text(text) => {
                let value: Value = serde_json::from_str(&text).unwrap();
                if let Some(seq) = value["seq"].as_u64() {
                    return Some(seq);
                }
            }
            Message::Close(_) => return None,
            _ => {}
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_websocket_client_resumes_after_a_disconnect_with_no_gap_and_no_duplicate() {
    let running = start(1024).await;
    for n in 0..20 {
        post(&running, sdwan_alarm(DOWN, &format!("before-{n}"), None)).await;
    }
    let mut received = Vec::new();
    let mut socket = connect(&running, "&after=0").await;
    for _ in 0..12 {
        received.push(next_seq(&mut socket).await.unwrap());
    }
    socket.close(None).await.unwrap();
    drop(socket);
    // Events arrive while the client is away, and while it reconnects.
    let posting = {
        let url = running.url("/hooks/sdwan");
        tokio::spawn(async move {
            let client = reqwest::Client::new();
            for n in 0..40 {
                let response = client
                    .post(&url)
                    .header("content-type", "application/json")
                    .body(sdwan_alarm(DOWN, &format!("during-{n}"), None))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(response.status(), StatusCode::OK);
            }
        })
    };
    let last = *received.last().unwrap();
    let mut socket = connect(&running, &format!("&after={last}&device=BR2-CSR1000v")).await;
    while received.len() < 60 {
        received.push(next_seq(&mut socket).await.unwrap());
    }
    posting.await.unwrap();
    assert_eq!(received, (1..=60).collect::<Vec<u64>>());
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_sse_client_resumes_from_last_event_id() {
    let running = start(1024).await;
    for n in 0..5 {
        post(&running, sdwan_alarm(DOWN, &format!("a{n}"), None)).await;
    }
    let response = reqwest::Client::new()
        .get(running.url("/api/v1/events/stream?min_severity=major"))
        .bearer_auth(READ_TOKEN)
        .header("last-event-id", "3")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers()["content-type"].to_str().unwrap(),
        "text/event-stream"
    );
    post(&running, sdwan_alarm(DOWN, "live", None)).await;
    let mut response = response;
    let mut text = String::new();
    let mut ids = Vec::new();
    while ids.len() < 3 {
        let chunk = tokio::time::timeout(Duration::from_secs(10), response.chunk())
            .await
            .expect("data within 10 s")
            .unwrap()
            .expect("the stream goes on");
        text.push_str(std::str::from_utf8(&chunk).unwrap());
        while let Some(end) = text.find("\n\n") {
            let block: String = text.drain(..end + 2).collect();
            let id = block.lines().find_map(|line| line.strip_prefix("id: "));
            let data = block.lines().find_map(|line| line.strip_prefix("data: "));
            if let (Some(id), Some(data)) = (id, data) {
                let event: Value = serde_json::from_str(data).unwrap();
                assert_eq!(event["seq"].to_string(), id);
                ids.push(id.parse::<u64>().unwrap());
            }
        }
    }
    assert_eq!(ids, [4, 5, 6]);
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_stops_reading_is_cut_off_while_every_webhook_is_still_acknowledged() {
    const EVENTS: u64 = 5000;
    let running = start(256).await;
    let mut slow = connect(&running, "").await;
    // A client that reads, and resumes from its last seq whenever it is cut off itself.
    let fast_url = running.url("");
    let reader = tokio::spawn(async move {
        let mut seen = Vec::new();
        let mut resumes = 0;
        while seen.last() != Some(&EVENTS) {
            let after = seen
                .last()
                .map_or(String::new(), |seq| format!("&after={seq}"));
            let url = format!("{fast_url}/api/v1/stream?access_token={READ_TOKEN}{after}")
                .replace("http://", "ws://");
            let mut socket = tokio_tungstenite::connect_async(url).await.unwrap().0;
            while let Some(seq) = next_seq(&mut socket).await {
                seen.push(seq);
                if seq == EVENTS {
                    break;
                }
            }
            resumes += 1;
        }
        (seen, resumes)
    });
    // About 10 MB of events: more than the slow client's socket buffers and queue can hold.
    post_many(&running, "load", EVENTS).await;
    let (seen, resumes) = reader.await.unwrap();
    assert_eq!(
        seen,
        (1..=EVENTS).collect::<Vec<_>>(),
        "the reading client got every event once, in order ({resumes} connections)"
    );

    // The slow client now reads: what was queued, then a lagging notice and a close frame.
    let mut notice = None;
    let mut close = None;
    let mut events = 0;
    while let Ok(Some(Ok(message))) =
        tokio::time::timeout(Duration::from_secs(10), slow.next()).await
    {
        match message {
            Message::Text(text) => {
                let value: Value = serde_json::from_str(&text).unwrap();
                if value.get("notice").is_some() {
                    notice = Some(value);
                } else {
                    events += 1;
                }
            }
            Message::Close(frame) => {
                close = frame;
                break;
            }
            _ => {}
        }
    }
    assert!(events < EVENTS, "the slow client did not get everything");
    let notice = notice.expect("a lagging notice");
    assert_eq!(notice["notice"], "lagging");
    let close = close.expect("a close frame");
    assert_eq!(u16::from(close.code), 1013);
    assert!(close.reason.contains("after="), "{}", close.reason);
    running.stop().await;
}

/// An SSE client that stops reading is disconnected once its stream has not been polled for
/// heartbeat + send_timeout, even when its queue never overflows (so no `lagging` notice comes).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_sse_client_that_stops_reading_is_disconnected() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    const EVENTS: u64 = 3000;
    let env = [("READ_TOKEN", READ_TOKEN), ("ADMIN_TOKEN", ADMIN_TOKEN)];
    let yaml = config(100_000, "http://127.0.0.1:9")
        .replace("send_timeout: 2s", "send_timeout: 500ms, heartbeat: 500ms");
    let running = Running::start(&yaml, &env).await;
    // A client with a small receive window that sends its request and reads nothing.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let mut stuck = socket.connect(running.gateway().http_addr()).await.unwrap();
    stuck
        .write_all(
            format!("GET /api/v1/events/stream HTTP/1.1\r\nHost: netpulse\r\nAuthorization: Bearer {READ_TOKEN}\r\n\r\n")
                .as_bytes(),
        )
        .await
        .unwrap();
    // About 6 MB of events: more than the socket buffers hold, far less than the queue.
    post_many(&running, "stuck", EVENTS).await;
    tokio::time::sleep(Duration::from_secs(2)).await;

    // The client reads again: what was in flight, then the end of the connection.
    let mut received = Vec::new();
    let read_all = async {
        let mut buffer = vec![0u8; 64 * 1024];
        loop {
            match stuck.read(&mut buffer).await {
                Ok(0) | Err(_) => return,
                Ok(n) => received.extend_from_slice(&buffer[..n]),
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(10), read_all)
        .await
        .expect("the server closed the connection");
    let text = String::from_utf8_lossy(&received);
    let events = text.matches("\nid: ").count() as u64;
    assert!(events < EVENTS, "cut off before the end: {events} events");
    assert!(
        !text.contains("lagging"),
        "closed by the watchdog, not by the queue"
    );
    running.stop().await;
}

#[tokio::test]
async fn the_dashboard_is_served_without_a_token_and_loads_nothing_from_elsewhere() {
    let running = start(1024).await;
    let response = reqwest::get(running.url("/")).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let policy = response.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(policy.contains("default-src 'self'"));
    // No inline script may run: one injected into the page would have the token.
    let script_src = policy
        .split(';')
        .map(str::trim)
        .find(|directive| directive.starts_with("script-src"))
        .expect("a script-src directive");
    assert_eq!(script_src, "script-src 'self'", "{policy}");
    let page = response.text().await.unwrap();
    assert!(!page.contains("https://"), "no external asset");
    let mut scripts = Vec::new();
    for (index, _) in page.match_indices("<script") {
        let tag_end = index + page[index..].find('>').unwrap();
        let tag = &page[index..=tag_end];
        assert!(
            page[tag_end + 1..].starts_with("</script>"),
            "a script element with a body"
        );
        scripts.push(tag.to_owned());
    }
    assert_eq!(
        scripts,
        [
            "<script src=\"ui/app.js\">",
            "<script src=\"ui/alerting.js\">",
            "<script src=\"ui/topology.js\">"
        ]
    );
    for (path, uses) in [
        ("/ui/app.js", "api/v1/events/stream"),
        ("/ui/alerting.js", "api/v1/silences"),
        ("/ui/topology.js", "api/v1/topology"),
    ] {
        let response = reqwest::get(running.url(path)).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(
            response.headers()["content-type"],
            "text/javascript; charset=utf-8"
        );
        assert_eq!(response.headers()["x-content-type-options"], "nosniff");
        let script = response.text().await.unwrap();
        assert!(script.contains(uses), "{path}");
        assert!(!script.contains("<script"));
        // Data goes into the page as text: no script writes HTML.
        assert!(!script.contains(".innerHTML"), "{path}");
        assert!(!script.contains("insertAdjacentHTML"), "{path}");
    }
    running.stop().await;
}

#[tokio::test]
async fn cors_answers_only_configured_origins() {
    let yaml = config(1024, "http://127.0.0.1:9").replace(
        "  feed:",
        "  cors: { allow_origins: [\"https://noc.example.com\"] }\n  feed:",
    );
    let env = [("READ_TOKEN", READ_TOKEN), ("ADMIN_TOKEN", ADMIN_TOKEN)];
    let running = Running::start(&yaml, &env).await;
    let preflight = |origin: &'static str| {
        reqwest::Client::new()
            .request(reqwest::Method::OPTIONS, running.url("/api/v1/events"))
            .header("origin", origin)
            .header("access-control-request-method", "GET")
            .header("access-control-request-headers", "authorization")
            .send()
    };
    let allowed = preflight("https://noc.example.com").await.unwrap();
    assert!(allowed.status().is_success());
    assert_eq!(
        allowed.headers()["access-control-allow-origin"],
        "https://noc.example.com"
    );
    let other = preflight("https://evil.example.com").await.unwrap();
    assert!(!other.headers().contains_key("access-control-allow-origin"));
    running.stop().await;
}

/// Waits for the server to end the socket: a close frame (its code) or the connection dropped
/// (None); fails if the socket is still open after 10 s.
async fn wait_closed(socket: &mut Socket) -> Option<u16> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let message = tokio::time::timeout_at(deadline, socket.next())
            .await
            .expect("the server closes the socket within 10 s");
        match message {
            Some(Ok(Message::Close(frame))) => return frame.map(|frame| u16::from(frame.code)),
            Some(Ok(_)) => continue,
            Some(Err(_)) | None => return None,
        }
    }
}

/// Feed clients send nothing but control frames, so a message over 64 KiB or a frame over
/// 16 KiB ends the connection (1009, "message too big"), and a client sending unfinished
/// fragments cannot make the gateway buffer them without bound; other clients are served on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_websocket_client_sending_a_big_message_or_endless_fragments_is_closed() {
    use futures_util::SinkExt;
    use tokio_tungstenite::tungstenite::protocol::frame::Frame;
    use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};
    let running = start(1024).await;

    let mut big = connect(&running, "").await;
    big.send(Message::Text("x".repeat(100 * 1024).into()))
        .await
        .unwrap();
    let code = wait_closed(&mut big).await;
    assert!(matches!(code, None | Some(1009)), "{code:?}");

    // 8 KiB fragments (each under the frame limit), never final: 72 KiB buffered is too much.
    let mut fragments = connect(&running, "").await;
    let chunk = vec![b'y'; 8 * 1024];
    for index in 0..9 {
        let opcode = if index == 0 {
            OpCode::Data(Data::Text)
        } else {
            OpCode::Data(Data::Continue)
        };
        let frame = Frame::message(chunk.clone(), opcode, false);
        if fragments.send(Message::Frame(frame)).await.is_err() {
            break;
        }
    }
    let code = wait_closed(&mut fragments).await;
    assert!(matches!(code, None | Some(1009)), "{code:?}");

    // The gateway keeps serving: a new client gets the events.
    post(&running, sdwan_alarm(DOWN, "after", None)).await;
    let mut socket = connect(&running, "&after=0").await;
    assert!(next_seq(&mut socket).await.is_some());
    running.stop().await;
}
