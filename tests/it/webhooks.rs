//! SD-WAN Manager alarm webhooks end to end: real HTTP into the gateway, the store behind it.

use reqwest::StatusCode;
use serde_json::Value;

use crate::support::{Running, data};

const PASSWORD: &str = "rule-password";

fn config(extra_sinks: &str) -> String {
    format!(
        "store: {{ path: netpulse.db }}
http: {{ listen: \"127.0.0.1:0\", max_body_bytes: 16384 }}
sources:
  - name: vmanage
    type: webhook
    provider: sdwan
    path: /hooks/sdwan
    auth: {{ basic: {{ username: webhook, password: \"${{HOOK_PASSWORD}}\" }} }}
    vmanage_url: https://vmanage.example.com
sinks:
  - {{ name: archive, type: file, path: events.jsonl }}
{extra_sinks}"
    )
}

async fn start() -> Running {
    Running::start(&config(""), &[("HOOK_PASSWORD", PASSWORD)]).await
}

fn post(running: &Running, body: impl Into<reqwest::Body>) -> reqwest::RequestBuilder {
    reqwest::Client::new()
        .post(running.url("/hooks/sdwan"))
        .basic_auth("webhook", Some(PASSWORD))
        .header("content-type", "application/json")
        .body(body)
}

fn stored(running: &Running) -> Vec<netpulse::event::Event> {
    let query = netpulse::store::EventQuery {
        after_seq: Some(0),
        limit: 10_000,
        ..Default::default()
    };
    running.reader().events(&query).unwrap()
}

const FIXTURES: [&str; 17] = [
    "rest-alarm-bfd-node-down-inactive-20.x.json",
    "rest-alarm-bfd-tloc-down-active-20.x.json",
    "rest-alarm-control-no-active-vbond-active-20.x.json",
    "rest-alarm-control-node-down-inactive-20.x.json",
    "rest-alarm-control-tloc-down-inactive-20.x.json",
    "rest-alarm-cpu-usage-active-20.x.json",
    "rest-alarm-cpu-usage-clearing-record-20.x.json",
    "rest-alarm-disk-usage-raised-20.x.json",
    "rest-alarm-interface-admin-state-change-active-20.x.json",
    "rest-alarm-interface-state-change-active-20.x.json",
    "rest-alarm-omp-node-down-inactive-20.x.json",
    "rest-alarm-omp-state-change-active-20.x.json",
    "rest-alarm-omp-state-change-clearing-record-20.x.json",
    "webhook-control-vbond-state-change-down-2023.json",
    "webhook-interface-state-change-down-2019.json",
    "webhook-interface-state-change-up-clears-previous-2019.json",
    "webhook-system-reboot-issued-medium-cleared-2019-test.json",
];

/// Every real document is accepted and stored as the event a user would expect: one line per
/// fixture with the fields that matter for routing and display (a snapshot).
#[tokio::test]
async fn every_fixture_is_accepted_and_stored_as_the_expected_event() {
    let running = start().await;
    let mut lines = Vec::new();
    for fixture in FIXTURES {
        let response = post(&running, data(&format!("sdwan/{fixture}")))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{fixture}");
        let answer: Value = response.json().await.unwrap();
        assert_eq!(answer["status"], "accepted", "{fixture}");
        let seq = answer["seq"].as_u64().unwrap();
        let event = running.reader().event(seq).unwrap().expect("stored");
        let raw: Value = serde_json::from_slice(&data(&format!("sdwan/{fixture}"))).unwrap();
        assert_eq!(event.data, raw, "{fixture}: the document is kept unchanged");
        assert_eq!(
            event.link.as_deref(),
            Some(
                format!(
                    "https://vmanage.example.com/#/app/monitor/alarms/details/{}",
                    raw["uuid"].as_str().unwrap()
                )
                .as_str()
            )
        );
        lines.push(format!(
            "{fixture}: {} {} {} | {}",
            event.kind.trim_start_matches("com.cisco.sdwan.alarm."),
            event.severity.as_str(),
            event.device,
            event.summary
        ));
    }
    let actual = lines.join("\n");
    assert_eq!(actual, EXPECTED_EVENTS.trim());
    running.stop().await;
}

const EXPECTED_EVENTS: &str = "
rest-alarm-bfd-node-down-inactive-20.x.json: cleared critical Edge1 | BFD_Node_Down on Edge1
rest-alarm-bfd-tloc-down-active-20.x.json: raised major Edge2 | BFD_TLOC_Down on Edge2: color=private1
rest-alarm-control-no-active-vbond-active-20.x.json: raised critical Controller02 | Control_No_Active_vBond on Controller02
rest-alarm-control-node-down-inactive-20.x.json: cleared critical Edge1 | Control_Node_Down on Edge1
rest-alarm-control-tloc-down-inactive-20.x.json: cleared major Edge1 | Control_TLOC_Down on Edge1: color=biz-internet
rest-alarm-cpu-usage-active-20.x.json: raised minor Manager01 | CPU_Usage on Manager01: cpu-status=usage-notice
rest-alarm-cpu-usage-clearing-record-20.x.json: cleared minor Manager01 | CPU_Usage on Manager01: cpu-status=usage-healthy
rest-alarm-disk-usage-raised-20.x.json: cleared minor Manager01 | Disk_Usage on Manager01: disk-status=usage-notice, filesystem=/opt/data
rest-alarm-interface-admin-state-change-active-20.x.json: raised critical Edge3 | Interface_Admin_State_Change on Edge3: if-name=Tunnel4, new-admin-state=down
rest-alarm-interface-state-change-active-20.x.json: raised critical Edge5 | Interface_State_Change on Edge5: if-name=Tunnel1, new-state=down
rest-alarm-omp-node-down-inactive-20.x.json: cleared critical Edge5 | OMP_Node_Down on Edge5
rest-alarm-omp-state-change-active-20.x.json: raised critical Edge2 | OMP_State_Change on Edge2: new-state=down
rest-alarm-omp-state-change-clearing-record-20.x.json: cleared minor Edge2 | OMP_State_Change on Edge2: new-state=up
webhook-control-vbond-state-change-down-2023.json: raised critical vManage | Control_vBond_State_Change on vManage: new-state=down
webhook-interface-state-change-down-2019.json: raised critical BR2-CSR1000v | Interface_State_Change on BR2-CSR1000v: if-name=GigabitEthernet4, new-state=down
webhook-interface-state-change-up-clears-previous-2019.json: cleared minor BR2-CSR1000v | Interface_State_Change on BR2-CSR1000v: if-name=GigabitEthernet4, new-state=up
webhook-system-reboot-issued-medium-cleared-2019-test.json: cleared minor DC1-VEDGE1 | System_Reboot_Issued on DC1-VEDGE1
";

#[tokio::test]
async fn raise_then_clear_updates_the_alarm_and_a_redelivery_is_stored_once() {
    let running = start().await;
    let down = data("sdwan/webhook-interface-state-change-down-2019.json");
    let up = data("sdwan/webhook-interface-state-change-up-clears-previous-2019.json");
    let key = "vmanage:sdwan:8459e3a0-5bea-4370-ab57-6f45f8022d66";

    let first: Value = crate::support::send_json(post(&running, down.clone())).await;
    assert_eq!(first["status"], "accepted");
    let alarm = running.reader().alarm(key).unwrap().expect("raised");
    assert!(alarm.raised);

    // SD-WAN Manager retries a delivery it thinks failed: same uuid, same document.
    let again = post(&running, down).send().await.unwrap();
    assert_eq!(again.status(), StatusCode::OK);
    let again: Value = again.json().await.unwrap();
    assert_eq!(again["status"], "duplicate");
    assert_eq!(again["seq"], first["seq"]);

    let clear: Value = crate::support::send_json(post(&running, up)).await;
    assert_eq!(clear["status"], "accepted");
    let alarm = running.reader().alarm(key).unwrap().unwrap();
    assert!(
        !alarm.raised,
        "the clearing document names the alarm it clears"
    );
    assert_eq!(alarm.first_seq, first["seq"].as_u64().unwrap());
    assert_eq!(alarm.last_seq, clear["seq"].as_u64().unwrap());

    assert_eq!(
        stored(&running).len(),
        2,
        "the redelivery is not stored again"
    );
    let counts = running.reader().outbox_counts("archive").unwrap();
    assert_eq!(
        counts.pending + counts.delivered,
        2,
        "one delivery per stored event"
    );
    let status = running
        .gateway()
        .source("vmanage")
        .unwrap()
        .status
        .snapshot();
    assert_eq!((status.events, status.duplicates_suppressed), (2, 1));
    running.stop().await;
}

#[tokio::test]
async fn bad_requests_get_their_status_a_reason_and_a_metric_and_store_nothing() {
    let running = start().await;
    let alarm = data("sdwan/webhook-interface-state-change-down-2019.json");
    let client = reqwest::Client::new();
    let url = running.url("/hooks/sdwan");

    let anonymous = client
        .post(&url)
        .header("content-type", "application/json")
        .body(alarm.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    assert!(
        anonymous.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Basic")
    );

    let wrong = client
        .post(&url)
        .basic_auth("webhook", Some("guess"))
        .header("content-type", "application/json")
        .body(alarm.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);

    let text = client
        .post(&url)
        .basic_auth("webhook", Some(PASSWORD))
        .header("content-type", "text/plain")
        .body(alarm.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(text.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let ambiguous = post(&running, alarm.clone())
        .header("content-type", "text/plain")
        .send()
        .await
        .unwrap();
    assert_eq!(ambiguous.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);

    let huge = format!("{{\"padding\": \"{}\"}}", "x".repeat(20_000));
    let too_large = post(&running, huge.clone()).send().await.unwrap();
    assert_eq!(too_large.status(), StatusCode::PAYLOAD_TOO_LARGE);
    // Without a Content-Length the limit is enforced while reading.
    assert_eq!(post_chunked(&running, huge.as_bytes()).await, 413);

    let malformed = post(&running, alarm[..alarm.len() / 2].to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(malformed.status(), StatusCode::BAD_REQUEST);
    let reason: Value = malformed.json().await.unwrap();
    assert!(
        reason["error"]
            .as_str()
            .unwrap()
            .starts_with("malformed JSON"),
        "{reason}"
    );

    let not_alarm = post(&running, r#"{"alertType": "APs went down"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(not_alarm.status(), StatusCode::BAD_REQUEST);
    let reason: Value = not_alarm.json().await.unwrap();
    assert!(
        reason["error"]
            .as_str()
            .unwrap()
            .contains("not an SD-WAN Manager alarm"),
        "{reason}"
    );

    let get = client.get(&url).send().await.unwrap();
    assert_eq!(get.status(), StatusCode::METHOD_NOT_ALLOWED);

    assert!(stored(&running).is_empty(), "nothing refused is stored");
    let metrics = running.metrics().await;
    for (outcome, count) in [
        ("unauthorized", 2),
        ("unsupported_media_type", 2),
        ("too_large", 2),
        ("malformed", 1),
        ("not_an_alarm", 1),
    ] {
        let line =
            format!("netpulse_webhook_requests_total{{source=\"vmanage\",outcome=\"{outcome}\"}} ");
        let value = metrics
            .lines()
            .find_map(|text| text.strip_prefix(&line))
            .unwrap_or_else(|| panic!("no {line} in\n{metrics}"));
        assert!(value.parse::<u64>().unwrap() >= count, "{outcome}: {value}");
    }
    let status = running
        .gateway()
        .source("vmanage")
        .unwrap()
        .status
        .snapshot();
    assert_eq!(status.rejected, 8);
    running.stop().await;
}

/// While another process holds the database's write lock, the store cannot commit: the sender is
/// told to retry (503) and the event is not acknowledged; once the lock is gone, it is accepted.
#[tokio::test]
async fn a_store_that_cannot_write_answers_503_and_acknowledges_nothing() {
    let running = start().await;
    let health = |path: &'static str| {
        let url = running.url(path);
        async move { reqwest::get(url).await.unwrap().status() }
    };
    assert_eq!(health("/readyz").await, StatusCode::OK);
    let blocker = rusqlite::Connection::open(running.dir.path().join("netpulse.db")).unwrap();
    blocker.execute_batch("BEGIN EXCLUSIVE").unwrap();
    let alarm = data("sdwan/webhook-interface-state-change-down-2019.json");
    let refused = post(&running, alarm.clone()).send().await.unwrap();
    assert_eq!(refused.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(refused.headers().contains_key("retry-after"));
    assert_eq!(health("/readyz").await, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(health("/healthz").await, StatusCode::OK);
    blocker.execute_batch("ROLLBACK").unwrap();
    drop(blocker);
    let accepted: Value = crate::support::send_json(post(&running, alarm)).await;
    assert_eq!(
        accepted["status"], "accepted",
        "the retry is accepted, not taken for a duplicate"
    );
    assert_eq!(stored(&running).len(), 1);
    assert_eq!(health("/readyz").await, StatusCode::OK);
    running.stop().await;
}

/// Posts `body` with chunked transfer encoding (no Content-Length) over a raw connection and
/// returns the status code.
async fn post_chunked(running: &Running, body: &[u8]) -> u16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(running.gateway().http_addr())
        .await
        .unwrap();
    let credentials = "d2ViaG9vazpydWxlLXBhc3N3b3Jk"; // webhook:rule-password
    let head = format!(
        "POST /hooks/sdwan HTTP/1.1\r\nHost: netpulse\r\nAuthorization: Basic {credentials}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    for chunk in body.chunks(4096) {
        let _ = stream
            .write_all(format!("{:x}\r\n", chunk.len()).as_bytes())
            .await;
        let _ = stream.write_all(chunk).await;
        let _ = stream.write_all(b"\r\n").await;
    }
    let _ = stream.write_all(b"0\r\n\r\n").await;
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer).await;
    let text = String::from_utf8_lossy(&answer);
    text.split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or(0)
}

/// With `http.tls`, webhooks arrive over HTTPS with the configured certificate (SD-WAN Manager
/// posts to an https:// URL in production).
#[tokio::test]
async fn the_server_speaks_https_with_the_configured_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let params =
        rcgen::CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
            .unwrap();
    let cert = params.self_signed(&key).unwrap();
    std::fs::write(dir.path().join("netpulse.crt"), cert.pem()).unwrap();
    std::fs::write(dir.path().join("netpulse.key"), key.serialize_pem()).unwrap();
    let yaml = config("").replace(
        "http: { listen: \"127.0.0.1:0\", max_body_bytes: 16384 }",
        "http: { listen: \"127.0.0.1:0\", tls: { cert_file: netpulse.crt, key_file: netpulse.key } }",
    );
    let running = Running::start_in(dir, &yaml, &[("HOOK_PASSWORD", PASSWORD)]).await;
    let client = reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(cert.pem().as_bytes()).unwrap()])
        .build()
        .unwrap();
    let url = format!(
        "https://localhost:{}/hooks/sdwan",
        running.gateway().http_addr().port()
    );
    let answer = client
        .post(&url)
        .basic_auth("webhook", Some(PASSWORD))
        .header("content-type", "application/json")
        .body(data("sdwan/webhook-interface-state-change-down-2019.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), StatusCode::OK);
    let plain = reqwest::Client::new()
        .get(format!(
            "http://127.0.0.1:{}/healthz",
            running.gateway().http_addr().port()
        ))
        .send()
        .await;
    assert!(
        plain.is_err() || !plain.unwrap().status().is_success(),
        "plain HTTP is not served on the TLS port"
    );
    running.stop().await;
}

#[tokio::test]
async fn a_port_in_use_stops_the_start_with_what_to_fix() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let yaml = config("").replace(
        "http: { listen: \"127.0.0.1:0\", max_body_bytes: 16384 }",
        &format!("http: {{ listen: \"127.0.0.1:{port}\" }}"),
    );
    let dir = tempfile::tempdir().unwrap();
    let lookup = |name: &str| (name == "HOOK_PASSWORD").then(|| PASSWORD.to_owned());
    let config = netpulse::config::Config::parse_with(&yaml, dir.path(), &lookup).unwrap();
    let shutdown = tokio_util::sync::CancellationToken::new();
    let error = netpulse::Gateway::start(config, shutdown)
        .await
        .err()
        .expect("the start fails");
    let message = format!("{error:#}");
    assert!(
        message.contains(&format!("cannot listen on 127.0.0.1:{port} (http.listen)")),
        "{message}"
    );
    assert!(
        !dir.path().join("netpulse.db").exists(),
        "nothing was started before the port was checked"
    );
}
