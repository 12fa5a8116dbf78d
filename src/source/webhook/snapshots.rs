//! Every webhook fixture in, the whole normalized result out: each file of
//! `tests/data/<provider>/` goes through its provider's normalizer (verified by the open
//! verifier), and the event (data included), its redelivery key and its alarm updates are
//! compared with the reviewed snapshot beside the fixture, `<fixture>.snap`.
//!
//! `UPDATE_EXPECT=1 cargo test --lib webhook::snapshots` rewrites the snapshots: review the diff,
//! a snapshot is the test's truth. The event id (fresh per event) is written `<id>`, and a time a
//! body does not give is the fixed receipt time [`RECEIVED_AT`], so snapshots are stable.

use std::path::{Path, PathBuf};

use axum::http::HeaderMap;
use serde_json::{Value, json};

use super::verify::{self, Verified};
use super::{
    Invalid, Normalized, catalyst_center, generic, intersight, meraki, sdwan, thousandeyes, webex,
};

/// The source name of every snapshot: every key starts with `test:`.
const SOURCE: &str = "test";
/// When every fixture is received.
const RECEIVED_AT: &str = "2026-01-01T00:00:00Z";

type Normalize = fn(&Verified) -> Result<Normalized, Invalid>;
/// Which files of a folder are bodies for the normalizer.
type Wanted = fn(&str) -> bool;

/// The normalizer of each fixture folder, and which of its files are webhook bodies (the Webex
/// folder also holds the Webex events source's Mercury fixtures).
const PROVIDERS: &[(&str, Normalize, Wanted)] = &[
    (
        "sdwan",
        |request| sdwan::normalize(SOURCE, request, Some("https://vmanage.example.com")),
        |_| true,
    ),
    (
        "meraki",
        |request| meraki::normalize(SOURCE, request),
        |_| true,
    ),
    (
        "catalyst-center",
        |request| catalyst_center::normalize(SOURCE, request, Some("https://dnac.example.com")),
        |_| true,
    ),
    (
        "thousandeyes",
        |request| thousandeyes::normalize(SOURCE, request),
        |_| true,
    ),
    (
        "intersight",
        |request| intersight::normalize(SOURCE, request),
        |_| true,
    ),
    (
        "webex",
        |request| webex::normalize(SOURCE, request),
        |name| name.starts_with("webhook-"),
    ),
    (
        "generic",
        |request| generic::standard_webhook(SOURCE, request),
        |name| name.starts_with("standard-webhooks-"),
    ),
    (
        "generic",
        |request| generic::cloudevent(SOURCE, request),
        |name| name.starts_with("cloudevents-"),
    ),
];

/// What the senders of the provider-neutral formats put in headers: Standard Webhooks' id and
/// timestamp, CloudEvents' binary-mode attributes.
fn headers() -> HeaderMap {
    super::testing::header_map(&[
        ("content-type", "application/json"),
        ("webhook-id", "msg_p5jXN8AQM9LWM0D4loKWxJek"),
        ("webhook-timestamp", "1649367553"),
        ("ce-specversion", "1.0"),
        ("ce-id", "A234-1234-1234"),
        ("ce-source", "/mycontext"),
        ("ce-type", "com.example.someevent"),
        ("ce-subject", "larger-context"),
        ("ce-alarmstate", "raised"),
    ])
}

/// The whole normalized result as reviewed text: the event as readers get it (a body kept as
/// text is its data), with the id redacted, then the keys.
fn render(normalized: Result<Normalized, Invalid>) -> String {
    let value = match normalized {
        Ok(Normalized {
            mut event,
            raw_data,
            idempotency_key,
            alarms,
        }) => {
            event.id = "<id>".to_owned();
            if let Some(raw) = raw_data {
                event.data = serde_json::from_slice(&raw).expect("a kept body is JSON");
            }
            let alarms: Vec<Value> = alarms
                .iter()
                .map(|alarm| json!({"key": alarm.key, "raised": alarm.raised}))
                .collect();
            json!({"event": event, "idempotency_key": idempotency_key, "alarms": alarms})
        }
        Err(invalid) => json!({"invalid": invalid.kind, "reason": invalid.reason}),
    };
    serde_json::to_string_pretty(&value).expect("JSON") + "\n"
}

fn fixtures(folder: &str, wanted: Wanted) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(folder);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|error| panic!("{}: {error}", dir.display()))
        .map(|entry| entry.expect("a readable folder").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
        .filter(|path| wanted(&path.file_name().unwrap().to_string_lossy()))
        .collect();
    files.sort();
    files
}

#[test]
fn every_fixture_normalizes_to_its_reviewed_snapshot() {
    let headers = headers();
    let received_at: jiff::Timestamp = RECEIVED_AT.parse().unwrap();
    let mut seen = 0;
    for (folder, normalize, wanted) in PROVIDERS {
        let files = fixtures(folder, *wanted);
        assert!(!files.is_empty(), "no fixture in tests/data/{folder}");
        for path in files {
            let body = bytes::Bytes::from(std::fs::read(&path).unwrap());
            let request = verify::open(&headers, &body, received_at);
            let snapshot = path.with_extension("json.snap");
            expect_test::expect_file![snapshot].assert_eq(&render(normalize(&request)));
            seen += 1;
        }
    }
    assert!(seen >= 40, "{seen} fixtures");
}

#[test]
fn every_snapshot_has_its_fixture() {
    for folder in [
        "sdwan",
        "meraki",
        "catalyst-center",
        "thousandeyes",
        "intersight",
        "webex",
        "generic",
    ] {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/data")
            .join(folder);
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|ext| ext == "snap") {
                assert!(
                    path.with_extension("").is_file(),
                    "{} is left over: its fixture is gone",
                    path.display()
                );
            }
        }
    }
}
