//! Hostile clients against every webhook receiver, over real TCP: a corpus of malformed,
//! truncated, oversized and wrongly encoded bodies, senders that trickle a header or a body, and
//! more idle connections than the server takes. Each gets its status (or its connection closed),
//! nothing of it is stored, and the server keeps serving well-behaved senders throughout.
//! `bench/bad-input.sh` runs the same attack at scale and measures memory. Source names are
//! `bad_<provider>`: metrics are per process, and other tests count theirs by source name.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support::{Running, data, sdwan_alarm};

const TOKEN: &str = "bad-input-token";

/// Every receiver kind, each with the credentials its platform sends; the test signs every
/// hostile body properly, so that it reaches the parser.
fn config() -> String {
    let mut yaml = "store: { path: netpulse.db }
http: { listen: \"127.0.0.1:0\", max_body_bytes: 16384, max_connections: 32, header_timeout: 2s, body_timeout: 1s }
sources:
"
    .to_owned();
    for (provider, auth, extra) in RECEIVERS {
        yaml.push_str(&format!(
            "  - {{ name: bad_{provider}, type: webhook, provider: {provider}, path: /hooks/{provider}, auth: {{ {auth} }}{extra} }}\n"
        ));
    }
    yaml
}

const BEARER: &str = "bearer: { secret: \"${TOKEN}\" }";
const SW_SECRET: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";

/// Provider, `auth:` and other keys of each receiver.
const RECEIVERS: [(&str, &str, &str); 9] = [
    (
        "sdwan",
        "basic: { username: vmanage, password: \"${TOKEN}\" }",
        "",
    ),
    ("meraki", "shared_secret: { secret: \"${TOKEN}\" }", ""),
    (
        "catalyst_center",
        "header: { name: X-Auth-Token, secret: \"${TOKEN}\" }",
        "",
    ),
    ("thousandeyes", BEARER, ""),
    ("intersight", "http_signature: { secret: \"${TOKEN}\" }", ""),
    (
        "standard_webhooks",
        "standard_webhooks: { secrets: [\"${SW_SECRET}\"] }",
        "",
    ),
    ("cloudevents", BEARER, ""),
    (
        "generic",
        BEARER,
        ", mapping: { device: /host, summary: \"{{ message }}\" }",
    ),
    // Nothing listens at base_url: a notification that parsed could not be fetched; no crash.
    (
        "webex",
        "hmac: { header: X-Spark-Signature, algorithm: sha1, secret: \"${TOKEN}\" }",
        ", token: \"${TOKEN}\", base_url: \"http://127.0.0.1:9\"",
    ),
];

/// The credentials `provider`'s platform would send with `body`, computed by the simulators'
/// signers.
fn credentials(provider: &str, url: &str, body: &[u8]) -> Vec<(String, String)> {
    use netpulse::sim::hooks::sign::{self, Auth, Outgoing};
    let auth = match provider {
        "sdwan" => Auth::Basic {
            username: "vmanage".into(),
            password: TOKEN.into(),
        },
        "catalyst_center" => Auth::Header {
            name: "X-Auth-Token".into(),
            value: TOKEN.into(),
        },
        "intersight" => Auth::HttpSignature {
            key_id: "k".into(),
            secret: TOKEN.as_bytes().to_vec(),
        },
        "standard_webhooks" => Auth::StandardWebhooks {
            key: sign::standard_webhooks_key(SW_SECRET).unwrap(),
        },
        "webex" => {
            return vec![(
                "x-spark-signature".into(),
                sign::hmac_sha1_hex(TOKEN.as_bytes(), body),
            )];
        }
        _ => Auth::Bearer(TOKEN.into()),
    };
    let url = reqwest::Url::parse(url).unwrap();
    auth.headers(&Outgoing {
        method: "POST",
        url: &url,
        body,
        content_type: "application/json",
        message_id: "msg_1",
        now: jiff::Timestamp::now(),
    })
}

async fn start() -> Running {
    Running::start(&config(), &[("TOKEN", TOKEN), ("SW_SECRET", SW_SECRET)]).await
}

/// A hostile body, what it is, and the status every receiver must answer.
struct Case {
    what: &'static str,
    body: Vec<u8>,
    content_type: &'static str,
    encoding: Option<&'static str>,
    status: StatusCode,
}

fn corpus() -> Vec<Case> {
    let fixture = data("sdwan/webhook-interface-state-change-down-2019.json");
    let case = |what, body: Vec<u8>, status| Case {
        what,
        body,
        content_type: "application/json",
        encoding: None,
        status,
    };
    let mut utf16 = vec![0xFF, 0xFE];
    for unit in String::from_utf8_lossy(&fixture).encode_utf16() {
        utf16.extend_from_slice(&unit.to_le_bytes());
    }
    let mut nested = "[".repeat(8000).into_bytes();
    nested.extend("]".repeat(8000).bytes());
    vec![
        case("an empty body", Vec::new(), StatusCode::BAD_REQUEST),
        case("a lone brace", b"{".to_vec(), StatusCode::BAD_REQUEST),
        case(
            "a fixture cut in half",
            fixture[..fixture.len() / 2].to_vec(),
            StatusCode::BAD_REQUEST,
        ),
        case(
            "invalid UTF-8 inside a string",
            b"{\"rule_name\": \"\xff\xfe\xfd\"}".to_vec(),
            StatusCode::BAD_REQUEST,
        ),
        case(
            "the fixture in UTF-16 with a byte order mark",
            utf16,
            StatusCode::BAD_REQUEST,
        ),
        case("NUL bytes", vec![0; 512], StatusCode::BAD_REQUEST),
        case("JSON null", b"null".to_vec(), StatusCode::BAD_REQUEST),
        case("a JSON number", b"1e999".to_vec(), StatusCode::BAD_REQUEST),
        case("8,000 nested arrays", nested, StatusCode::BAD_REQUEST),
        case(
            "trailing garbage after a document",
            [fixture.as_slice(), b"}}}garbage"].concat(),
            StatusCode::BAD_REQUEST,
        ),
        case(
            "20 KB, over max_body_bytes",
            [b"{\"x\": \"".as_slice(), &[b'a'; 20_000], b"\"}"].concat(),
            StatusCode::PAYLOAD_TOO_LARGE,
        ),
        Case {
            content_type: "text/plain",
            ..case(
                "a text/plain body",
                fixture.clone(),
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
            )
        },
        Case {
            encoding: Some("gzip"),
            ..case(
                "a gzip Content-Encoding",
                vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0],
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
            )
        },
    ]
}

fn stored(running: &Running) -> u64 {
    running
        .reader()
        .events(&netpulse::store::EventQuery {
            after_seq: Some(0),
            limit: 10_000,
            ..Default::default()
        })
        .unwrap()
        .len() as u64
}

async fn post_good(client: &reqwest::Client, running: &Running, uuid: &str) -> StatusCode {
    let response = client
        .post(running.url("/hooks/sdwan"))
        .basic_auth("vmanage", Some(TOKEN))
        .header("content-type", "application/json")
        .body(sdwan_alarm(
            "webhook-interface-state-change-down-2019.json",
            uuid,
            None,
        ))
        .send()
        .await
        .unwrap();
    let status = response.status();
    // Read to the end, so that the kept-alive connection goes back to the client's pool.
    response.bytes().await.unwrap();
    status
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_receiver_answers_each_hostile_body_with_its_status_and_stores_nothing() {
    let running = start().await;
    let client = reqwest::Client::new();
    let mut wrong = Vec::new();
    for (provider, _, _) in RECEIVERS {
        for case in corpus() {
            let url = running.url(&format!("/hooks/{provider}"));
            let mut request = client.post(&url).header("content-type", case.content_type);
            for (name, value) in credentials(provider, &url, &case.body) {
                request = request.header(name, value);
            }
            let mut request = request.body(case.body);
            if let Some(encoding) = case.encoding {
                request = request.header("content-encoding", encoding);
            }
            let response = request.send().await.unwrap();
            let status = response.status();
            let answer: serde_json::Value = response.json().await.unwrap();
            // Intersight signs Content-Length, which a body-less request lacks: refused first.
            let expected = match (provider, case.what) {
                ("intersight", "an empty body") => StatusCode::UNAUTHORIZED,
                _ => case.status,
            };
            if status != expected {
                wrong.push(format!("{provider}, {}: {status} {answer}", case.what));
            }
            assert!(
                answer["error"]
                    .as_str()
                    .is_some_and(|text| !text.is_empty()),
                "{provider}, {}: the answer says what is wrong: {answer}",
                case.what
            );
        }
    }
    assert!(wrong.is_empty(), "wrong answers:\n{}", wrong.join("\n"));
    assert_eq!(stored(&running), 0, "nothing hostile was stored");
    assert_eq!(post_good(&client, &running, "good-1").await, StatusCode::OK);
    assert_eq!(stored(&running), 1);
    running.stop().await;
}

/// Reads until the server closes the connection (or `limit` passes); what it sent, and when.
async fn read_to_close(stream: &mut TcpStream, limit: Duration) -> (String, Option<Duration>) {
    let started = Instant::now();
    let mut received = Vec::new();
    let mut buffer = [0u8; 4096];
    while started.elapsed() < limit {
        match tokio::time::timeout(Duration::from_millis(50), stream.read(&mut buffer)).await {
            Ok(Ok(0)) | Ok(Err(_)) => {
                return (
                    String::from_utf8_lossy(&received).into_owned(),
                    Some(started.elapsed()),
                );
            }
            Ok(Ok(n)) => received.extend_from_slice(&buffer[..n]),
            Err(_) => {}
        }
    }
    (String::from_utf8_lossy(&received).into_owned(), None)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sender_trickling_its_header_or_body_is_cut_off_while_others_are_served() {
    let running = start().await;
    let address = running.gateway().http_addr();
    let client = reqwest::Client::new();

    // Slow loris: a header that never ends, one byte every 100 ms, against a header timeout of 2 s.
    let mut loris = TcpStream::connect(address).await.unwrap();
    loris
        .write_all(b"POST /hooks/sdwan HTTP/1.1\r\nHost: netpulse\r\n")
        .await
        .unwrap();
    let trickle = tokio::spawn(async move {
        let started = Instant::now();
        for byte in b"X-Slow: ".iter().cycle() {
            if loris.write_all(&[*byte]).await.is_err() {
                return Some(started.elapsed());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
            if started.elapsed() > Duration::from_secs(10) {
                return None;
            }
        }
        None
    });

    // A body that stops half-way.
    let mut slow_body = TcpStream::connect(address).await.unwrap();
    slow_body
        .write_all(
            format!(
                "POST /hooks/sdwan HTTP/1.1\r\nHost: netpulse\r\nAuthorization: {}\r\nContent-Type: application/json\r\nContent-Length: 2000\r\n\r\n{{\"uuid\": ",
                netpulse::sim::hooks::sign::basic("vmanage", TOKEN)
            )
            .as_bytes(),
        )
        .await
        .unwrap();

    // Meanwhile, a well-behaved sender is served at once.
    let started = Instant::now();
    assert_eq!(post_good(&client, &running, "good-1").await, StatusCode::OK);
    assert!(started.elapsed() < Duration::from_millis(500));

    let (answer, closed) = read_to_close(&mut slow_body, Duration::from_secs(5)).await;
    assert!(
        answer.starts_with("HTTP/1.1 408"),
        "the stalled body is answered 408: {answer:?}"
    );
    assert!(answer.contains("http.body_timeout"), "{answer}");
    let closed = closed.expect("the connection of the stalled body is closed");
    assert!(closed < Duration::from_secs(3), "{closed:?}");

    let cut = trickle.await.unwrap();
    let cut = cut.expect("the trickling header is cut off");
    assert!(
        cut >= Duration::from_millis(1900) && cut < Duration::from_secs(5),
        "cut after the header timeout of 2 s: {cut:?}"
    );
    assert_eq!(post_good(&client, &running, "good-2").await, StatusCode::OK);
    assert_eq!(stored(&running), 2, "only the well-behaved alarms");
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_connections_beyond_the_limit_are_closed_and_idle_ones_time_out() {
    let running = start().await;
    let address = running.gateway().http_addr();
    // A sender with a connection already open is not locked out by the flood that follows.
    let client = reqwest::Client::new();
    assert_eq!(post_good(&client, &running, "before").await, StatusCode::OK);

    let mut idle = Vec::new();
    for _ in 0..40 {
        idle.push(TcpStream::connect(address).await.unwrap());
    }
    // 31 slots are left after the kept-alive client's: the extra connections are closed at once
    // (well before the header timeout of 2 s would close any).
    let checks = idle.iter_mut().map(|stream| async move {
        let mut byte = [0u8; 1];
        matches!(
            tokio::time::timeout(Duration::from_millis(300), stream.read(&mut byte)).await,
            Ok(Ok(0) | Err(_))
        )
    });
    let closed_at_once = futures_util::future::join_all(checks)
        .await
        .into_iter()
        .filter(|closed| *closed)
        .count();
    assert_eq!(closed_at_once, 9, "40 idle connections, 31 free slots");
    assert_eq!(
        post_good(&client, &running, "during").await,
        StatusCode::OK,
        "the kept-alive sender is still served"
    );
    let metrics = client
        .get(running.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let refused = metrics
        .lines()
        .find(|line| {
            // Simulators in other tests count theirs under their own server names.
            line.starts_with("netpulse_http_connections_refused_total{server=\"netpulse\"}")
        })
        .expect("the refusals are counted");
    // At least the 9 (a client may also try a connection of its own that gets refused).
    let refused: u64 = refused.rsplit(' ').next().unwrap().parse().unwrap();
    assert!(refused >= 9, "{refused}");

    // Idle connections are closed once the header timeout passes, and the slots come back.
    for stream in &mut idle {
        let (_, closed) = read_to_close(stream, Duration::from_secs(5)).await;
        assert!(closed.is_some(), "an idle connection is closed");
    }
    let fresh = reqwest::Client::new();
    assert_eq!(post_good(&fresh, &running, "after").await, StatusCode::OK);
    assert_eq!(stored(&running), 3);
    running.stop().await;
}
