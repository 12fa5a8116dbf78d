//! What the providers' tests share: their fixtures, and a normalizer run as a receiver with
//! `auth: none` runs it, keys checked for the source's scope.

use super::verify::{self, Verified};
use super::{Invalid, Normalized, scoped};
use crate::event::AlarmUpdate;

/// A file of `tests/data/<folder>/`.
pub(crate) fn fixture(folder: &str, file: &str) -> Vec<u8> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(folder)
        .join(file);
    std::fs::read(&path).unwrap_or_else(|error| panic!("{}: {error}", path.display()))
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
