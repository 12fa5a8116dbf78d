//! Every provider's normalizer against hostile input, deterministic so that CI runs it: random
//! bytes, every prefix of every fixture, and structure-aware mutations of the fixtures (values
//! replaced by other JSON types, keys removed, strings made huge or odd, containers nested deep).
//! Nothing may panic, and nothing may take time or memory out of proportion with the body (the
//! body is bounded by `max_body_bytes` before it gets here; serde_json bounds nesting).

use axum::http::HeaderMap;
use serde_json::{Map, Value};

use super::verify::{self, Verified};

/// A normalizer as one signature: body → whether it produced an event.
type Normalize = fn(&[u8]) -> bool;

/// Every normalizer, with its provider name and fixture folder.
fn normalizers() -> Vec<(&'static str, &'static str, Normalize)> {
    fn headers() -> HeaderMap {
        super::testing::header_map(&[
            ("webhook-id", "msg_1"),
            ("webhook-timestamp", "1649367553"),
            ("ce-specversion", "1.0"),
            ("ce-id", "1"),
            ("ce-source", "/s"),
            ("ce-type", "t"),
        ])
    }
    /// The body as the open verifier passes it to a normalizer.
    fn run(body: &[u8], normalize: impl Fn(&Verified) -> bool) -> bool {
        let headers = headers();
        let body = bytes::Bytes::copy_from_slice(body);
        normalize(&verify::open(&headers, &body, jiff::Timestamp::UNIX_EPOCH))
    }
    vec![
        ("sdwan", "sdwan", |body| {
            run(body, |request| {
                super::sdwan::normalize("fuzz", request, Some("https://m")).is_ok()
            })
        }),
        ("standard_webhooks", "generic", |body| {
            run(body, |request| {
                super::generic::standard_webhook("fuzz", request).is_ok()
            })
        }),
        ("meraki", "meraki", |body| {
            run(body, |request| {
                super::meraki::normalize("fuzz", request).is_ok()
            })
        }),
        ("catalyst_center", "catalyst-center", |body| {
            run(body, |request| {
                super::catalyst_center::normalize("fuzz", request, Some("https://c")).is_ok()
            })
        }),
        ("thousandeyes", "thousandeyes", |body| {
            run(body, |request| {
                super::thousandeyes::normalize("fuzz", request).is_ok()
            })
        }),
        ("intersight", "intersight", |body| {
            run(body, |request| {
                super::intersight::normalize("fuzz", request).is_ok()
            })
        }),
        ("generic", "generic", |body| {
            let config = crate::config::GenericMapping {
                id: Some("/id".into()),
                time: Some("/time".into()),
                device: Some("/data/id".into()),
                summary: Some("{{ type }} {{ data | tojson }}".into()),
                severity: Some("/severity".into()),
                alarm_key: Some("/id".into()),
                alarm_state: Some("/state".into()),
                ..Default::default()
            };
            let mapping = super::mapping::Mapping::new("fuzz", &config).expect("compiles");
            run(body, |request| mapping.normalize("fuzz", request).is_ok())
        }),
        ("webex", "webex", |body| {
            run(body, |request| {
                super::webex::normalize("fuzz", request).is_ok()
            })
        }),
        ("cloudevents", "generic", |body| {
            run(body, |request| {
                super::generic::cloudevent("fuzz", request).is_ok()
            })
        }),
    ]
}

fn fixtures(folder: &str) -> Vec<(String, Vec<u8>)> {
    let path = format!("{}/tests/data/{folder}", env!("CARGO_MANIFEST_DIR"));
    let mut files: Vec<_> = std::fs::read_dir(&path)
        .unwrap_or_else(|error| panic!("{path}: {error}"))
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|path| {
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read(&path).unwrap())
        })
        .collect()
}

/// A value of another JSON type, or an odd one of the same.
fn replacement(rng: &mut fastrand::Rng, depth: usize) -> Value {
    match rng.u8(0..10) {
        0 => Value::Null,
        1 => Value::Bool(rng.bool()),
        2 => Value::from(rng.i64(..)),
        3 => Value::from(rng.f64() * 1e300),
        4 => Value::from(""),
        5 => Value::from("x".repeat(rng.usize(0..5000))),
        6 => Value::from("\u{0}\u{202e}<script>[a](javascript:x)"),
        7 => Value::from(vec![replacement(rng, depth + 1); rng.usize(0..3)]),
        8 if depth < 4 => {
            let mut object = Map::new();
            object.insert("k".into(), replacement(rng, depth + 1));
            Value::Object(object)
        }
        _ => Value::from(-1),
    }
}

/// Mutates one place in `value` chosen at random.
fn mutate(value: &mut Value, rng: &mut fastrand::Rng) {
    match value {
        Value::Object(object) if !object.is_empty() => {
            let keys: Vec<String> = object.keys().cloned().collect();
            let key = &keys[rng.usize(0..keys.len())];
            match rng.u8(0..4) {
                0 => {
                    object.remove(key);
                }
                1 => {
                    object.insert(key.clone(), replacement(rng, 0));
                }
                _ => mutate(object.get_mut(key).expect("present"), rng),
            }
        }
        Value::Array(items) if !items.is_empty() => {
            let index = rng.usize(0..items.len());
            if rng.bool() {
                items[index] = replacement(rng, 0);
            } else {
                mutate(&mut items[index], rng);
            }
        }
        other => *other = replacement(rng, 0),
    }
}

#[test]
fn random_bytes_prefixes_and_mutated_fixtures_never_panic() {
    let mut rng = fastrand::Rng::with_seed(7);
    for (provider, folder, normalize) in normalizers() {
        for _ in 0..300 {
            let bytes: Vec<u8> = (0..rng.usize(0..512)).map(|_| rng.u8(..)).collect();
            normalize(&bytes);
        }
        let deep = "[".repeat(100_000);
        assert!(
            !normalize(deep.as_bytes()),
            "{provider}: deep nesting is refused"
        );
        for (name, body) in fixtures(folder) {
            for end in 0..body.len() {
                normalize(&body[..end]);
            }
            let Ok(document) = serde_json::from_slice::<Value>(&body) else {
                continue;
            };
            for _ in 0..300 {
                let mut mutated = document.clone();
                for _ in 0..rng.usize(1..4) {
                    mutate(&mut mutated, &mut rng);
                }
                let bytes = serde_json::to_vec(&mutated).unwrap();
                normalize(&bytes);
            }
            let _ = name;
        }
    }
}
