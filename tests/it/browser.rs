//! The dashboard in a real browser: Debian's Chromium driven through chromedriver's W3C WebDriver
//! HTTP API (plain `reqwest`, no WebDriver crate). The page must go live on the event stream, show a
//! webhook alarm as it arrives and list it among the active alarms; a click on the alarm shows its
//! trace, and its Silence… button (the token is an admin's) makes a silence the silences list
//! shows; the alarm row's Ack button acknowledges it.
//!
//! Opt-in: `NETPULSE_BROWSER_TESTS=1 cargo test browser` (CI installs `chromium` and
//! `chromium-driver`). A screenshot is written to `target/artifacts/dashboard.png`.

use std::fs::File;
use std::io::{Read, Write};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use base64::Engine as _;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tokio::time::Instant;

use crate::support::{Running, free_port, sdwan_alarm};

const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const CHROMIUM: &str = "/usr/bin/chromium";
const API_TOKEN: &str = "test-token-123";
const HOOK_PASSWORD: &str = "browser-hook-password";
const HOST: &str = "edge-browser-1";
const DEADLINE: Duration = Duration::from_secs(20);
const POLL: Duration = Duration::from_millis(100);
const PNG_SIGNATURE: &[u8] = b"\x89PNG\r\n\x1a\n";

const CONFIG: &str = "store: { path: netpulse.db }
http: { listen: \"127.0.0.1:0\" }
sources:
  - name: vmanage
    type: webhook
    provider: sdwan
    path: /hooks/sdwan
    auth: { basic: { username: webhook, password: \"${HOOK_PASSWORD}\" } }
    vmanage_url: https://vmanage.example.com
api:
  auth:
    tokens:
      - { name: noc-lead, token: \"${API_TOKEN}\", scope: admin }
";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboard_shows_an_injected_event_live() {
    if std::env::var_os("NETPULSE_BROWSER_TESTS").is_none() {
        println!(
            "skipped: set NETPULSE_BROWSER_TESTS=1 (CI installs chromium and chromium-driver)"
        );
        return;
    }
    assert!(
        Path::new(CHROMEDRIVER).exists(),
        "NETPULSE_BROWSER_TESTS is set but {CHROMEDRIVER} is missing: apt-get install chromium chromium-driver"
    );
    assert!(
        Path::new(CHROMIUM).exists(),
        "NETPULSE_BROWSER_TESTS is set but {CHROMIUM} is missing: apt-get install chromium"
    );

    let running = Running::start(
        CONFIG,
        &[("HOOK_PASSWORD", HOOK_PASSWORD), ("API_TOKEN", API_TOKEN)],
    )
    .await;
    let mut driver = Driver::start().await;

    // The token travels in the fragment: never sent to the server, removed by the page at once.
    driver
        .command(
            Method::POST,
            "/url",
            Some(json!({ "url": running.url(&format!("/#token={API_TOKEN}")) })),
        )
        .await;
    driver
        .wait_for(
            "the connection indicator says live",
            "const e = document.getElementById('status'); return e ? e.textContent : null;",
            json!([]),
            |value| value.as_str().is_some_and(|text| text.contains("live")),
        )
        .await;
    let address = driver.execute("return location.href;", json!([])).await;
    assert!(
        !address.as_str().unwrap_or_default().contains(API_TOKEN),
        "the token must leave the address bar: {address}"
    );

    let answer = reqwest::Client::new()
        .post(running.url("/hooks/sdwan"))
        .basic_auth("webhook", Some(HOOK_PASSWORD))
        .header("content-type", "application/json")
        .body(sdwan_alarm(
            "webhook-interface-state-change-down-2019.json",
            "browser-1",
            Some(HOST),
        ))
        .send()
        .await
        .expect("the webhook answers");
    assert_eq!(
        answer.status(),
        StatusCode::OK,
        "the webhook accepts the alarm"
    );
    let answer: Value = answer.json().await.unwrap();
    let seq = answer["seq"].as_u64().expect("the webhook answers the seq");

    let rows = driver
        .wait_for(
            "a row of the live event list shows the alarm",
            "return Array.from(document.querySelectorAll('#events .event'))
                .filter(row => row.textContent.includes(arguments[0]))
                .map(row => row.getAttribute('data-seq'));",
            json!([HOST]),
            |value| value.as_array().is_some_and(|rows| !rows.is_empty()),
        )
        .await;
    assert_eq!(
        rows,
        json!([seq.to_string()]),
        "one row, carrying the event's seq"
    );
    driver
        .wait_for(
            "the active alarms show the alarm",
            "const e = document.getElementById('alarms'); return e ? e.textContent : null;",
            json!([]),
            |value| value.as_str().is_some_and(|text| text.contains(HOST)),
        )
        .await;
    // The admin token may acknowledge: the row's Ack button, then the row says who did.
    driver
        .execute(
            "document.querySelector('#alarms tr.alarm button.alarm-ack').click();",
            json!([]),
        )
        .await;
    driver
        .wait_for(
            "the alarm row shows it acknowledged",
            "const e = document.getElementById('alarms'); return e ? e.textContent : null;",
            json!([]),
            |value| {
                value
                    .as_str()
                    .is_some_and(|text| text.contains("ack by noc-lead"))
            },
        )
        .await;

    let png = driver.screenshot().await;
    assert!(
        png.starts_with(PNG_SIGNATURE),
        "the screenshot is a PNG image"
    );
    let path = artifacts().join("dashboard.png");
    std::fs::write(&path, &png).unwrap();
    println!("screenshot: {}", path.display());

    // The alarm's details: its trace (no route, no sink here: it matched none), and the
    // Silence… button an admin token gets, prefilled with the alarm's source and device.
    driver
        .execute(
            "document.querySelector('#events tr.event[data-seq=\"' + arguments[0] + '\"]').click();",
            json!([seq.to_string()]),
        )
        .await;
    driver
        .wait_for(
            "the details panel shows the alarm's trace",
            "const e = document.getElementById('details-trace'); return e ? e.textContent : null;",
            json!([]),
            |value| {
                value
                    .as_str()
                    .is_some_and(|text| text.contains("Matched no route"))
            },
        )
        .await;
    driver
        .wait_for(
            "the Silence… button is offered to the admin token",
            "const b = document.getElementById('details-silence'); return !!b && b.offsetParent !== null;",
            json!([]),
            |value| value == &json!(true),
        )
        .await;
    let prefilled = driver
        .execute(
            "document.getElementById('details-silence').click();
             document.getElementById('mute-comment').value = 'browser test';
             const device = document.getElementById('mute-device').value;
             document.getElementById('mute-form').requestSubmit();
             return device;",
            json!([]),
        )
        .await;
    assert_eq!(
        prefilled,
        json!(HOST),
        "the silence is prefilled with the device"
    );
    driver
        .wait_for(
            "the silences list shows the new silence",
            "const e = document.getElementById('silences'); return e ? e.textContent : null;",
            json!([]),
            |value| {
                value
                    .as_str()
                    .is_some_and(|text| text.contains(HOST) && text.contains("browser test"))
            },
        )
        .await;
    let silences: Value = reqwest::Client::new()
        .get(running.url("/api/v1/silences"))
        .bearer_auth(API_TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(silences["silences"][0]["created_by"], "noc-lead");
    assert_eq!(silences["silences"][0]["matcher"]["device"], json!([HOST]));
    let png = driver.screenshot().await;
    std::fs::write(artifacts().join("dashboard-silence.png"), &png).unwrap();

    // A maintenance window for a site's edges, from the Windows panel's button (it starts in five
    // minutes and lasts two hours unless changed).
    driver
        .execute(
            "document.getElementById('details-close').click();
             document.getElementById('window-new').click();
             document.getElementById('mute-device').value = 'edge-site-a1, edge-site-a2';
             document.getElementById('mute-comment').value = 'site A swap';
             document.getElementById('mute-form').requestSubmit();",
            json!([]),
        )
        .await;
    driver
        .wait_for(
            "the windows list shows the new window",
            "const e = document.getElementById('windows'); return e ? e.textContent : null;",
            json!([]),
            |value| {
                value.as_str().is_some_and(|text| {
                    text.contains("edge-site-a2") && text.contains("site A swap")
                })
            },
        )
        .await;

    driver.delete_session().await;
    drop(driver);
    running.stop().await;
}

/// `target/artifacts/` of this crate, created if needed.
fn artifacts() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/artifacts");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// chromedriver with one browser session. Dropping it (also while a failed test unwinds) closes
/// the session and kills chromedriver's process group, so no Chromium outlives the test: killing
/// chromedriver alone leaves its browser running.
struct Driver {
    http: reqwest::Client,
    port: u16,
    base: String,
    child: Child,
    session: Option<String>,
    /// chromedriver's output, shown when it fails.
    log_path: PathBuf,
    /// The browser profile and the log; removed after the processes are gone (fields drop after
    /// `Drop::drop`).
    _dir: tempfile::TempDir,
}

impl Driver {
    async fn start() -> Driver {
        let dir = tempfile::tempdir().unwrap();
        let log_path = dir.path().join("chromedriver.log");
        let profile = dir.path().join("profile");
        std::fs::create_dir_all(&profile).unwrap();
        let port = free_port();
        let log = File::create(&log_path).unwrap();
        let child = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            // Its own process group: the browsers it starts join it, and one kill ends them all.
            .process_group(0)
            .spawn()
            .unwrap_or_else(|err| panic!("cannot start {CHROMEDRIVER}: {err}"));
        let mut driver = Driver {
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(60))
                .build()
                .unwrap(),
            port,
            base: format!("http://127.0.0.1:{port}"),
            child,
            session: None,
            log_path,
            _dir: dir,
        };
        driver.wait_ready().await;

        let capabilities = json!({
            "capabilities": {
                "alwaysMatch": {
                    "browserName": "chrome",
                    "goog:chromeOptions": {
                        "binary": CHROMIUM,
                        "args": [
                            "--headless",
                            "--no-sandbox",
                            "--disable-gpu",
                            "--disable-quic",
                            "--no-first-run",
                            "--disable-background-networking",
                            "--disable-component-update",
                            "--disable-sync",
                            "--disable-dev-shm-usage",
                            "--window-size=1400,900",
                            format!("--user-data-dir={}", profile.display()),
                        ]
                    }
                }
            }
        });
        let response = driver
            .http
            .post(format!("{}/session", driver.base))
            .json(&capabilities)
            .send()
            .await
            .expect("chromedriver answers POST /session");
        let status = response.status();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        let Some(id) = body["value"]["sessionId"].as_str() else {
            panic!(
                "chromedriver could not start Chromium ({status}): {}\nchromedriver log:\n{}",
                body["value"],
                driver.log()
            );
        };
        driver.session = Some(id.to_owned());
        driver
    }

    /// Polls `GET /status` until chromedriver says it is ready.
    async fn wait_ready(&mut self) {
        let deadline = Instant::now() + DEADLINE;
        loop {
            if let Ok(Some(exit)) = self.child.try_wait() {
                panic!(
                    "chromedriver exited before it was ready ({exit}):\n{}",
                    self.log()
                );
            }
            let answer = self
                .http
                .get(format!("{}/status", self.base))
                .timeout(Duration::from_secs(2))
                .send()
                .await;
            if let Ok(answer) = answer
                && let Ok(body) = answer.json::<Value>().await
                && body["value"]["ready"] == json!(true)
            {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "chromedriver was not ready within {DEADLINE:?}:\n{}",
                self.log()
            );
            tokio::time::sleep(POLL).await;
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    /// A command of the session (`path` after `/session/{id}`); returns its `value`, panics with
    /// WebDriver's error otherwise.
    async fn command(&self, method: Method, path: &str, body: Option<Value>) -> Value {
        let session = self.session.as_deref().expect("a session");
        let url = format!("{}/session/{session}{path}", self.base);
        let mut request = self.http.request(method.clone(), &url);
        if let Some(body) = &body {
            request = request.json(body);
        }
        let response = request
            .send()
            .await
            .unwrap_or_else(|err| panic!("{method} {url}: {err}"));
        let status = response.status();
        let answer: Value = response
            .json()
            .await
            .unwrap_or_else(|err| panic!("{method} {url}: the answer is not JSON: {err}"));
        assert!(
            status.is_success(),
            "{method} {path} failed ({status}): {}",
            answer["value"]
        );
        answer["value"].clone()
    }

    /// Runs a script in the page (`arguments[i]` are `args`) and returns what it returns.
    async fn execute(&self, script: &str, args: Value) -> Value {
        self.command(
            Method::POST,
            "/execute/sync",
            Some(json!({ "script": script, "args": args })),
        )
        .await
    }

    /// Runs `script` until `done` accepts its result; after [`DEADLINE`] saves a screenshot and
    /// fails with what the page shows.
    async fn wait_for(
        &self,
        what: &str,
        script: &str,
        args: Value,
        done: impl Fn(&Value) -> bool,
    ) -> Value {
        let deadline = Instant::now() + DEADLINE;
        loop {
            let value = self.execute(script, args.clone()).await;
            if done(&value) {
                return value;
            }
            if Instant::now() > deadline {
                let page = self
                    .execute(
                        "return document.body ? document.body.innerText.slice(0, 3000) : '';",
                        json!([]),
                    )
                    .await;
                let shot = artifacts().join("dashboard-failure.png");
                std::fs::write(&shot, self.screenshot().await).unwrap();
                panic!(
                    "timed out after {DEADLINE:?} waiting until {what}; last value: {value}\n\
                     screenshot: {}\npage text:\n{}",
                    shot.display(),
                    page.as_str().unwrap_or_default()
                );
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// The viewport as PNG bytes.
    async fn screenshot(&self) -> Vec<u8> {
        let encoded = self.command(Method::GET, "/screenshot", None).await;
        base64::engine::general_purpose::STANDARD
            .decode(encoded.as_str().expect("a base64 string"))
            .expect("the screenshot is valid base64")
    }

    /// Ends the session cleanly: Chromium quits.
    async fn delete_session(&mut self) {
        self.command(Method::DELETE, "", None).await;
        self.session = None;
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        if let Some(session) = self.session.take() {
            // A failed test: close the browser without the async runtime, best effort.
            delete_session_blocking(self.port, &session);
        }
        // chromedriver leads its own process group (`process_group(0)`): its id is the group's.
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.child.id())])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `DELETE /session/{id}` over a plain socket, for [`Drop`], where nothing can be awaited.
fn delete_session_blocking(port: u16, session: &str) {
    let address = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let Ok(mut stream) = std::net::TcpStream::connect_timeout(&address, Duration::from_secs(2))
    else {
        return;
    };
    let _ = stream.set_write_timeout(Some(Duration::from_secs(2)));
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let request = format!(
        "DELETE /session/{session} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    );
    if stream.write_all(request.as_bytes()).is_ok() {
        let mut answer = Vec::new();
        let _ = stream.read_to_end(&mut answer);
    }
}
