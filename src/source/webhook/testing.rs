//! What the providers' tests share: their fixtures, and a normalizer run as a receiver with
//! `auth: none` runs it, keys checked for the source's scope.

use super::verify::{self, Verified};
use super::{Invalid, Normalized, scoped};
use crate::event::AlarmUpdate;

/// A file of `tests/data/<folder>/`.
pub(crate) fn fixture(folder: &str, file: &str) -> Vec<u8> {
    data(&format!("{folder}/{file}"))
}

/// `tests/data/<path>`.
pub(crate) fn data(path: &str) -> Vec<u8> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(path);
    std::fs::read(&path).unwrap_or_else(|error| panic!("{}: {error}", path.display()))
}

/// Bodies that are not one JSON value: empty, blank, cut short, followed by more, not JSON.
/// A provider's tests add a body cut inside its own first field.
pub(crate) const NOT_JSON: &[&[u8]] = &[b"", b"   ", b"[1, 2", b"{} trailing", b"not json"];

/// [`NOT_JSON`] and `cut`, a body cut short inside the provider's own first field.
pub(crate) fn not_json(cut: &'static [u8]) -> impl Iterator<Item = &'static [u8]> {
    NOT_JSON.iter().copied().chain([cut])
}

/// Request headers from `(name, value)` pairs.
pub(crate) fn header_map(pairs: &[(&'static str, &str)]) -> axum::http::HeaderMap {
    let mut headers = axum::http::HeaderMap::new();
    for (name, value) in pairs {
        headers.insert(*name, axum::http::HeaderValue::from_str(value).unwrap());
    }
    headers
}

/// `tests/data/<folder>/<file>` as a JSON document.
pub(crate) fn fixture_json(folder: &str, file: &str) -> serde_json::Value {
    serde_json::from_slice(&fixture(folder, file)).unwrap()
}

/// Alarm updates from `(key, raised)` pairs.
pub(crate) fn alarm_updates(pairs: &[(&str, bool)]) -> Vec<AlarmUpdate> {
    pairs
        .iter()
        .map(|(key, raised)| AlarmUpdate {
            key: (*key).to_owned(),
            raised: *raised,
        })
        .collect()
}

/// `(key, raised)` of each alarm update.
pub(crate) fn alarm_pairs(updates: &[AlarmUpdate]) -> Vec<(String, bool)> {
    updates
        .iter()
        .map(|update| (update.key.clone(), update.raised))
        .collect()
}

/// `normalize` on `body` through the open verifier (`auth: none`), with
/// the keys as the provider writes them, after checking that each is scoped by the source.
pub(crate) fn normalize_for_test(
    source_name: &str,
    headers: &axum::http::HeaderMap,
    body: &[u8],
    now: jiff::Timestamp,
    normalize: impl FnOnce(&str, &Verified) -> Result<Normalized, Invalid>,
) -> Result<Normalized, Invalid> {
    let body = bytes::Bytes::copy_from_slice(body);
    normalize(source_name, &verify::open(headers, &body, now))
        .map(|normalized| unscoped(source_name, normalized))
}

/// [`normalize_for_test`] on a request without headers, received now.
pub(crate) fn normalize_unsigned(
    source_name: &str,
    body: &[u8],
    normalize: impl FnOnce(&str, &Verified) -> Result<Normalized, Invalid>,
) -> Result<Normalized, Invalid> {
    normalize_at(source_name, body, jiff::Timestamp::now(), normalize)
}

/// [`normalize_for_test`] on a request without headers, received at `now`.
pub(crate) fn normalize_at(
    source_name: &str,
    body: &[u8],
    now: jiff::Timestamp,
    normalize: impl FnOnce(&str, &Verified) -> Result<Normalized, Invalid>,
) -> Result<Normalized, Invalid> {
    let headers = axum::http::HeaderMap::new();
    normalize_for_test(source_name, &headers, body, now, normalize)
}

/// The refusal of `body`, checked to be of `kind`.
pub(crate) fn refusal(result: Result<Normalized, Invalid>, kind: &str, body: &[u8]) -> Invalid {
    let body = String::from_utf8_lossy(body);
    let error = result.expect_err(&body);
    assert_eq!(error.kind, kind, "{body:?}: {error}");
    error
}

/// The keys of `normalized` without the source's scope, after checking that each has it.
fn unscoped(source_name: &str, mut normalized: Normalized) -> Normalized {
    let strip = |key: &mut String| {
        assert!(
            scoped(key, source_name),
            "{key} is not scoped by {source_name}"
        );
        key.drain(..=source_name.len());
    };
    normalized.idempotency_key.iter_mut().for_each(strip);
    for alarm in &mut normalized.alarms {
        strip(&mut alarm.key);
    }
    normalized
}
