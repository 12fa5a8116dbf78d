//! `kill -HUP` on the running binary: the file is read again, and an invalid one changes nothing.

use reqwest::StatusCode;

use super::post_json;

/// The binary as an operator runs it: `kill -HUP` reads the file again.
#[cfg(unix)]
#[tokio::test]
async fn sighup_makes_the_running_binary_read_its_file_again() {
    use std::io::BufRead;
    use std::process::{Command, Stdio};

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("netpulse.yaml");
    let config = |hook: &str| {
        format!(
            "store: {{ path: netpulse.db }}\nhttp: {{ listen: \"127.0.0.1:0\" }}\napi: {{ auth: {{ disabled: true }} }}\nsources:\n  - {{ name: hook, type: webhook, provider: sdwan, path: {hook}, auth: {{ none: true }} }}\n"
        )
    };
    std::fs::write(&path, config("/hooks/a")).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_netpulse"))
        .args(["run", "-c"])
        .arg(&path)
        .env("NETPULSE_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (lines, log) = std::sync::mpsc::channel::<String>();
    let stderr = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr).lines() {
            let Ok(line) = line else { return };
            if lines.send(without_colours(&line)).is_err() {
                return;
            }
        }
    });
    let wait_for = |what: &str| -> String {
        let deadline = std::time::Instant::now() + crate::support::TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            let line = log
                .recv_timeout(left)
                .unwrap_or_else(|_| panic!("no log line with {what:?}"));
            if line.contains(what) {
                return line;
            }
        }
    };
    let listening = wait_for("HTTP server listening");
    let address = listening
        .split("address=")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap()
        .to_owned();
    wait_for("netpulse started");
    let status = |hook: &str| post_json(format!("http://{address}{hook}"), b"{}".to_vec());
    assert_eq!(status("/hooks/b").await, StatusCode::NOT_FOUND);
    assert_ne!(status("/hooks/a").await, StatusCode::NOT_FOUND);
    let hangup = || {
        let sent = Command::new("kill")
            .args(["-HUP", &child.id().to_string()])
            .status()
            .unwrap();
        assert!(sent.success());
    };

    std::fs::write(&path, config("/hooks/b")).unwrap();
    hangup();
    let reloaded = wait_for("configuration reloaded");
    assert!(reloaded.contains("restarted=[\"hook\"]"), "{reloaded}");
    assert_ne!(status("/hooks/b").await, StatusCode::NOT_FOUND);
    assert_eq!(status("/hooks/a").await, StatusCode::NOT_FOUND);

    std::fs::write(&path, "sources: [ { name: hook, type: nonsense } ]\n").unwrap();
    hangup();
    let refused = wait_for("configuration reload refused");
    assert!(refused.contains("sources[0]"), "{refused}");
    assert_ne!(
        status("/hooks/b").await,
        StatusCode::NOT_FOUND,
        "nothing changed"
    );

    let stopped = Command::new("kill")
        .arg(child.id().to_string())
        .status()
        .unwrap();
    assert!(stopped.success());
    assert!(child.wait().unwrap().success());
}

/// A log line without its ANSI colour sequences (`ESC [ ... m`).
#[cfg(unix)]
fn without_colours(line: &str) -> String {
    let mut plain = String::with_capacity(line.len());
    let mut chars = line.chars();
    while let Some(char) = chars.next() {
        if char == '\u{1b}' {
            for code in chars.by_ref() {
                if code == 'm' {
                    break;
                }
            }
        } else {
            plain.push(char);
        }
    }
    plain
}
