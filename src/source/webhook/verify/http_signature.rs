//! Intersight's request signatures: draft-cavage HTTP Signatures (HMAC-SHA256 over a string
//! built from the signed headers, with a `Digest` header over the body), `protocols-webhooks.md`
//! §6. Pure: the caller passes the clock.

use std::time::Duration;

use axum::http::HeaderMap;
use base64::Engine as _;
use sha2::{Digest as _, Sha256};

use crate::secret::ct_eq;

/// Why a signed request is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// A header or signature parameter the scheme needs is absent.
    #[error("missing {0}")]
    Missing(String),
    /// The `Digest` header does not match the body.
    #[error("the Digest header does not match the body")]
    BadDigest,
    /// The signature does not match (wrong secret, or headers changed or reordered).
    #[error("the signature does not match")]
    BadSignature,
    /// The signed `Date` is too far from now.
    #[error("stale request: {0}")]
    Stale(String),
    /// A header or parameter cannot be read.
    #[error("malformed signature: {0}")]
    Malformed(String),
}

/// Verifies an Intersight (draft-cavage) HTTP Signature. Pure: the caller passes the clock.
///
/// The parameters (`keyId="…",algorithm="hmac-sha256",headers="(request-target) host date
/// digest …",signature="…"`) are read from `Authorization: Signature …` or, failing that, from a
/// `Signature:` header (INFER: which one Intersight uses is not documented where we could read
/// it, so both are accepted). `keyId` is not checked (UNKNOWN value): one secret per receiver.
///
/// In order: the signed header list must include `date` and `digest`; the `Digest` header's
/// `SHA-256=` value must be the base64 SHA-256 of `body` ([`SignatureError::BadDigest`]); the
/// signing string (one `name: value` line per entry of `headers=`, in that order, joined by
/// `\n`; `(request-target)` is `<lowercase method> <path?query>`) must give `signature=` under
/// HMAC-SHA256 with `secret` ([`SignatureError::BadSignature`]); and the `Date` header must be
/// within `max_skew` of `now` ([`SignatureError::Stale`]).
pub fn verify_signature(
    method: &str,
    path_and_query: &str,
    headers: &HeaderMap,
    body: &[u8],
    secret: &[u8],
    now: jiff::Timestamp,
    max_skew: Duration,
) -> Result<(), SignatureError> {
    let parameters = signature_parameters(headers)?;
    let param = |name: &str| {
        parameters
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    };
    let signature = param("signature")
        .filter(|signature| !signature.is_empty())
        .ok_or_else(|| SignatureError::Missing("the `signature` parameter".to_owned()))?;
    if let Some(algorithm) = param("algorithm") {
        // `hs2019` says "as the key says"; with a shared secret that is HMAC-SHA256 (INFER).
        if !(algorithm.eq_ignore_ascii_case("hmac-sha256")
            || algorithm.eq_ignore_ascii_case("hs2019"))
        {
            return Err(SignatureError::Malformed(format!(
                "unsupported algorithm {algorithm:?}, expected \"hmac-sha256\""
            )));
        }
    }
    // draft-cavage: without `headers`, only `date` is signed (which then fails the digest rule).
    let signed: Vec<String> = param("headers")
        .unwrap_or("date")
        .split_ascii_whitespace()
        .map(str::to_ascii_lowercase)
        .collect();
    for required in ["date", "digest"] {
        if !signed.iter().any(|name| name == required) {
            return Err(SignatureError::Malformed(format!(
                "`{required}` is not among the signed headers"
            )));
        }
    }

    // The digest first: it is cheap and says whether the body was changed.
    let digest = header_value(headers, "digest")?;
    let expected_digest: [u8; 32] = Sha256::digest(body).into();
    let claimed_digest = digest
        .split(',')
        .filter_map(|entry| entry.trim().split_once('='))
        .find(|(algorithm, _)| algorithm.trim().eq_ignore_ascii_case("sha-256"))
        .map(|(_, value)| value.trim())
        .ok_or_else(|| {
            SignatureError::Malformed("the Digest header has no SHA-256 value".to_owned())
        })?;
    let claimed_digest = decode_32(claimed_digest).ok_or(SignatureError::BadDigest)?;
    if !ct_eq(&claimed_digest, &expected_digest) {
        return Err(SignatureError::BadDigest);
    }

    let mut signing_string = String::new();
    for (index, name) in signed.iter().enumerate() {
        if index > 0 {
            signing_string.push('\n');
        }
        let value = match name.as_str() {
            "(request-target)" => format!("{} {path_and_query}", method.to_ascii_lowercase()),
            "(created)" | "(expires)" => param(&name[1..name.len() - 1])
                .ok_or_else(|| {
                    SignatureError::Missing(format!("the `{}` parameter", &name[1..name.len() - 1]))
                })?
                .to_owned(),
            _ => header_value(headers, name)?,
        };
        signing_string.push_str(name);
        signing_string.push_str(": ");
        signing_string.push_str(&value);
    }
    let claimed = base64::engine::general_purpose::STANDARD
        .decode(signature)
        .map_err(|error| {
            SignatureError::Malformed(format!("the signature is not base64: {error}"))
        })?;
    let claimed: [u8; 32] = claimed
        .try_into()
        .map_err(|_| SignatureError::BadSignature)?;
    if !ct_eq(&claimed, &hmac_sha256(secret, signing_string.as_bytes())) {
        return Err(SignatureError::BadSignature);
    }

    let date = header_value(headers, "date")?;
    let sent = parse_http_date(&date)
        .ok_or_else(|| SignatureError::Malformed(format!("unreadable Date header {date:?}")))?;
    let skew = now.duration_since(sent).unsigned_abs();
    if skew > max_skew {
        return Err(SignatureError::Stale(format!(
            "Date {date:?} is {}s from now, more than the {}s allowed",
            skew.as_secs(),
            max_skew.as_secs()
        )));
    }
    Ok(())
}

/// The `Digest` header value for `body`: `SHA-256=<base64 of SHA-256(body)>`.
pub fn digest_header(body: &[u8]) -> String {
    format!(
        "SHA-256={}",
        base64::engine::general_purpose::STANDARD.encode(Sha256::digest(body))
    )
}

/// HMAC-SHA256 (RFC 2104) of `data` under `key`.
pub fn hmac_sha256(key: &[u8], data: &[u8]) -> [u8; 32] {
    use hmac::Mac as _;
    let mut mac = hmac::Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(data);
    mac.finalize().into_bytes().into()
}

/// The `key="value"` parameters of `Authorization: Signature …`, or of a `Signature:` header.
fn signature_parameters(headers: &HeaderMap) -> Result<Vec<(String, String)>, SignatureError> {
    let from_authorization = headers
        .get_all(axum::http::header::AUTHORIZATION)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .find_map(|value| {
            let (scheme, rest) = value.trim_start().split_once(' ')?;
            scheme.eq_ignore_ascii_case("signature").then_some(rest)
        });
    let text = match from_authorization {
        Some(text) => text.to_owned(),
        None => match headers.get("signature") {
            Some(value) => value
                .to_str()
                .map_err(|_| {
                    SignatureError::Malformed("the Signature header is not text".to_owned())
                })?
                .to_owned(),
            None => {
                return Err(SignatureError::Missing(
                    "an `Authorization: Signature …` or `Signature` header".to_owned(),
                ));
            }
        },
    };
    parse_parameters(&text)
}

/// `a="x", b="y,z", c=w`: comma-separated, values quoted (commas allowed inside) or bare.
fn parse_parameters(text: &str) -> Result<Vec<(String, String)>, SignatureError> {
    let malformed = |what: &str| SignatureError::Malformed(format!("signature parameters: {what}"));
    let mut parameters = Vec::new();
    let mut rest = text.trim();
    while !rest.is_empty() {
        let (name, after) = rest
            .split_once('=')
            .ok_or_else(|| malformed("expected name=value"))?;
        let name = name.trim();
        if name.is_empty()
            || !name
                .bytes()
                .all(|byte| byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'_')
        {
            return Err(malformed("bad parameter name"));
        }
        let after = after.trim_start();
        let (value, after) = if let Some(quoted) = after.strip_prefix('"') {
            let end = quoted
                .find('"')
                .ok_or_else(|| malformed("unterminated quote"))?;
            (&quoted[..end], &quoted[end + 1..])
        } else {
            let end = after.find(',').unwrap_or(after.len());
            (after[..end].trim_end(), &after[end..])
        };
        if parameters
            .iter()
            .any(|(known, _): &(String, String)| known.eq_ignore_ascii_case(name))
        {
            return Err(malformed(&format!("`{name}` given twice")));
        }
        parameters.push((name.to_owned(), value.to_owned()));
        let after = after.trim_start();
        rest = match after.strip_prefix(',') {
            Some(next) => next.trim_start(),
            None if after.is_empty() => after,
            None => return Err(malformed("expected a comma between parameters")),
        };
    }
    Ok(parameters)
}

/// A header's value as signed: several values joined by `, `, trimmed (draft-cavage §2.3).
fn header_value(headers: &HeaderMap, name: &str) -> Result<String, SignatureError> {
    let mut values = headers.get_all(name).iter().peekable();
    if values.peek().is_none() {
        return Err(SignatureError::Missing(format!("the `{name}` header")));
    }
    let mut joined = Vec::new();
    for value in values {
        let value = value
            .to_str()
            .map_err(|_| SignatureError::Malformed(format!("the `{name}` header is not text")))?;
        joined.push(value.trim());
    }
    Ok(joined.join(", "))
}

/// A base64 SHA-256 value, or `None` when it is not one.
fn decode_32(text: &str) -> Option<[u8; 32]> {
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .ok()?
        .try_into()
        .ok()
}

/// An HTTP date (RFC 9110 IMF-fixdate, an RFC 2822 date), e.g. `Tue, 07 Jun 2014 20:51:35 GMT`.
/// A weekday that does not match the date is tolerated (the draft-cavage examples have one).
fn parse_http_date(text: &str) -> Option<jiff::Timestamp> {
    jiff::fmt::rfc2822::DateTimeParser::new()
        .relaxed_weekday(true)
        .parse_timestamp(text.trim())
        .ok()
}

#[cfg(test)]
mod tests;
