//! How each receiver checks that a request comes from its platform, built once from the
//! configuration, and the [`Verified`] request that only a verifier makes: the one thing a
//! normalizer accepts. Header-only schemes (Basic, bearer, a token header) run before the body is
//! read ([`Verifier::check_headers`], which hands back the [`HeadersChecked`] proof that
//! [`Verifier::verify`] needs); signatures over the raw body (HMAC, Standard Webhooks,
//! Intersight's HTTP Signature in [`http_signature`]) and Meraki's shared secret (in a header, or
//! the body's top-level `sharedSecret`) run on the exact bytes received, before any provider
//! parses them. Every failure is the same kind of answer, a [`Refused`] (401): nothing about the
//! body is said to a sender that has not proven who it is.
//!
//! Every secret is kept as a digest or a key, and every comparison is constant-time
//! ([`crate::secret`]).

pub mod http_signature;

use std::borrow::Cow;
use std::time::Duration;

use axum::http::{HeaderMap, HeaderName};
use base64::Engine as _;
use bytes::Bytes;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::auth::{BasicCredentials, standard_webhooks_key};
use crate::config::{DigestEncoding, HmacAlgorithm, WebhookAuth};
use crate::secret::{ct_eq as constant_time_eq, digest as sha};

/// The request as a verifier sees it.
pub struct Signed<'a> {
    pub method: &'a str,
    pub path_and_query: &'a str,
    pub headers: &'a HeaderMap,
    pub body: &'a [u8],
    pub now: jiff::Timestamp,
}

/// Proof that a request's headers passed [`Verifier::check_headers`]; only that check makes one.
#[derive(Debug, PartialEq, Eq)]
pub struct HeadersChecked(());

/// A request whose every check passed: the only thing a normalizer accepts. Only
/// [`Verifier::verify`] makes one (its fields are private to this module), so a normalizer
/// cannot see a body that was not verified, whatever the order of statements around it.
#[derive(Debug, Clone, Copy)]
pub struct Verified<'a> {
    headers: &'a HeaderMap,
    body: &'a Bytes,
    received_at: jiff::Timestamp,
}

impl<'a> Verified<'a> {
    pub fn headers(&self) -> &'a HeaderMap {
        self.headers
    }

    /// The body, exactly as received.
    pub fn body(&self) -> &'a Bytes {
        self.body
    }

    /// When the request was received: the time of an event whose body gives none.
    pub fn received_at(&self) -> jiff::Timestamp {
        self.received_at
    }
}

/// A request through the open verifier (`auth: none`), as a receiver configured so passes it:
/// how tests, fuzz targets and benchmarks hand a body to a normalizer.
pub fn open<'a>(headers: &'a HeaderMap, body: &'a Bytes, now: jiff::Timestamp) -> Verified<'a> {
    let verifier = Verifier::None;
    let checked = verifier
        .check_headers(headers)
        .expect("the open verifier passes every request");
    let signed = Signed {
        method: "POST",
        path_and_query: "/",
        headers,
        body,
        now,
    };
    verifier
        .verify(checked, &signed, body)
        .expect("the open verifier passes every request")
}

/// [`open`] for a body alone: no headers, received now.
pub fn open_body(body: &Bytes) -> Verified<'_> {
    static NO_HEADERS: std::sync::LazyLock<HeaderMap> = std::sync::LazyLock::new(HeaderMap::new);
    open(&NO_HEADERS, body, jiff::Timestamp::now())
}

/// Why a request is refused (401), with the metric label.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    /// `unauthorized`, `bad_signature` or `stale`.
    pub outcome: &'static str,
    pub reason: String,
}

impl Refused {
    fn unauthorized(reason: impl Into<String>) -> Refused {
        Refused {
            outcome: "unauthorized",
            reason: reason.into(),
        }
    }

    fn bad_signature(reason: impl Into<String>) -> Refused {
        Refused {
            outcome: "bad_signature",
            reason: reason.into(),
        }
    }

    fn stale(reason: impl Into<String>) -> Refused {
        Refused {
            outcome: "stale",
            reason: reason.into(),
        }
    }
}

pub enum Verifier {
    None,
    Basic(BasicCredentials),
    Bearer([u8; 32]),
    Header {
        name: HeaderName,
        digest: [u8; 32],
    },
    SharedSecret([u8; 32]),
    Hmac {
        header: HeaderName,
        algorithm: HmacAlgorithm,
        encoding: DigestEncoding,
        prefix: String,
        key: Vec<u8>,
    },
    HttpSignature {
        key: Vec<u8>,
        max_skew: Duration,
    },
    StandardWebhooks {
        keys: Vec<Vec<u8>>,
        tolerance: Duration,
    },
}

fn digest(text: &str) -> [u8; 32] {
    sha(text.as_bytes())
}

impl Verifier {
    /// The verifier of a validated configuration.
    pub fn new(auth: Option<&WebhookAuth>) -> Verifier {
        let Some(auth) = auth else {
            return Verifier::None;
        };
        if let Some(basic) = &auth.basic {
            return Verifier::Basic(BasicCredentials::new(basic));
        }
        if let Some(bearer) = &auth.bearer {
            return Verifier::Bearer(digest(bearer.expose()));
        }
        if let Some(header) = &auth.header {
            return Verifier::Header {
                name: HeaderName::from_bytes(header.name.as_bytes())
                    .expect("validated header name"),
                digest: digest(header.secret().expose()),
            };
        }
        if let Some(secret) = &auth.shared_secret {
            return Verifier::SharedSecret(digest(secret.expose()));
        }
        if let Some(hmac) = &auth.hmac {
            return Verifier::Hmac {
                header: HeaderName::from_bytes(hmac.header.as_bytes())
                    .expect("validated header name"),
                algorithm: hmac.algorithm,
                encoding: hmac.encoding,
                prefix: hmac.prefix.clone(),
                key: hmac.secret().expose().as_bytes().to_vec(),
            };
        }
        if let Some(signature) = &auth.http_signature {
            return Verifier::HttpSignature {
                key: signature.secret().expose().as_bytes().to_vec(),
                max_skew: signature.max_skew,
            };
        }
        if let Some(standard) = &auth.standard_webhooks {
            return Verifier::StandardWebhooks {
                keys: standard
                    .secrets
                    .iter()
                    .filter_map(|secret| standard_webhooks_key(secret.expose()))
                    .collect(),
                tolerance: standard.tolerance,
            };
        }
        Verifier::None
    }

    pub fn is_open(&self) -> bool {
        matches!(self, Verifier::None)
    }

    /// Checks that need only the headers, before the body is read.
    pub fn check_headers(&self, headers: &HeaderMap) -> Result<HeadersChecked, Refused> {
        self.check_header_credentials(headers)
            .map(|()| HeadersChecked(()))
    }

    /// The rest of the checks, over the raw body, after the headers passed: the request becomes
    /// [`Verified`]. `body` is the body checked (`signed.body` is not read).
    pub fn verify<'a>(
        &self,
        _checked: HeadersChecked,
        signed: &Signed<'a>,
        body: &'a Bytes,
    ) -> Result<Verified<'a>, Refused> {
        self.check_body(&Signed { body, ..*signed })?;
        Ok(Verified {
            headers: signed.headers,
            body,
            received_at: signed.now,
        })
    }

    fn check_header_credentials(&self, headers: &HeaderMap) -> Result<(), Refused> {
        let authorization = headers
            .get(axum::http::header::AUTHORIZATION)
            .map(|value| value.as_bytes());
        match self {
            Verifier::Basic(credentials) if !credentials.verify(authorization) => {
                Err(Refused::unauthorized(
                    "missing or wrong credentials: send HTTP Basic with the username and password configured for this receiver",
                ))
            }
            Verifier::Bearer(expected) => {
                let token = authorization
                    .and_then(|value| std::str::from_utf8(value).ok())
                    .and_then(|value| value.trim().split_once(' '))
                    .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
                    .map(|(_, token)| token.trim());
                match token {
                    Some(token) if constant_time_eq(&digest(token), expected) => Ok(()),
                    _ => Err(Refused::unauthorized(
                        "missing or wrong token: send Authorization: Bearer <the configured token>",
                    )),
                }
            }
            Verifier::Header {
                name,
                digest: expected,
            } => {
                let value = headers.get(name).and_then(|value| value.to_str().ok());
                match value {
                    Some(value) if constant_time_eq(&digest(value.trim()), expected) => Ok(()),
                    _ => Err(Refused::unauthorized(format!(
                        "missing or wrong {name} header"
                    ))),
                }
            }
            _ => Ok(()),
        }
    }

    /// Checks over the raw body (signatures, Meraki's shared secret), after it is read and before
    /// any provider parses it.
    pub fn check_body(&self, request: &Signed) -> Result<(), Refused> {
        match self {
            Verifier::Hmac {
                header,
                algorithm,
                encoding,
                prefix,
                key,
            } => check_hmac(request, header, *algorithm, *encoding, prefix, key),
            Verifier::StandardWebhooks { keys, tolerance } => {
                check_standard_webhooks(request, keys, *tolerance)
            }
            Verifier::SharedSecret(_) => {
                let in_body = body_secret(request.body);
                if self.shared_secret_matches(request.headers, in_body.as_deref()) {
                    Ok(())
                } else {
                    Err(Refused::unauthorized(
                        "missing or wrong shared secret: the HTTP server's shared secret in Meraki Dashboard must be the one configured for this receiver",
                    ))
                }
            }
            Verifier::HttpSignature { key, max_skew } => http_signature::verify_signature(
                request.method,
                request.path_and_query,
                request.headers,
                request.body,
                key,
                request.now,
                *max_skew,
            )
            .map_err(|error| match error {
                http_signature::SignatureError::Stale(reason) => Refused::stale(reason),
                other => Refused::bad_signature(other.to_string()),
            }),
            _ => Ok(()),
        }
    }

    /// Meraki: whether the shared secret arrived, in the body's `sharedSecret` or in an
    /// `Authorization` header written by a custom template (`Bearer <secret>`, `Splunk <secret>`,
    /// `Basic <base64 of the secret>`). True for every other scheme.
    pub fn shared_secret_matches(&self, headers: &HeaderMap, in_body: Option<&str>) -> bool {
        let Verifier::SharedSecret(expected) = self else {
            return true;
        };
        let mut matched = in_body.is_some_and(|secret| constant_time_eq(&digest(secret), expected));
        let authorization = headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.trim().split_once(' '));
        if let Some((scheme, value)) = authorization {
            let value = value.trim();
            let candidate = if scheme.eq_ignore_ascii_case("basic") {
                base64::engine::general_purpose::STANDARD
                    .decode(value)
                    .ok()
                    .and_then(|bytes| String::from_utf8(bytes).ok())
            } else {
                Some(value.to_owned())
            };
            matched |= candidate.is_some_and(|secret| constant_time_eq(&digest(&secret), expected));
        }
        matched
    }
}

/// Meraki's default template: the secret in the body's top-level `sharedSecret` string. Read
/// without looking at anything else in the body: `None` for a body that is not a JSON object with
/// such a string, which then must carry the secret in a header or be refused like any other.
fn body_secret(body: &[u8]) -> Option<Cow<'_, str>> {
    #[derive(serde::Deserialize)]
    struct Secret<'a> {
        #[serde(rename = "sharedSecret", borrow, default)]
        shared_secret: Option<Cow<'a, str>>,
    }
    serde_json::from_slice::<Secret>(body)
        .ok()
        .and_then(|secret| secret.shared_secret)
}

fn check_hmac(
    request: &Signed,
    header: &HeaderName,
    algorithm: HmacAlgorithm,
    encoding: DigestEncoding,
    prefix: &str,
    key: &[u8],
) -> Result<(), Refused> {
    let Some(given) = request.headers.get(header).and_then(|v| v.to_str().ok()) else {
        return Err(Refused::bad_signature(format!("no {header} header")));
    };
    let given = given.trim();
    let given = given.strip_prefix(prefix).unwrap_or(given);
    let given = match encoding {
        DigestEncoding::Hex => decode_hex(given),
        DigestEncoding::Base64 => base64::engine::general_purpose::STANDARD.decode(given).ok(),
    };
    let expected = match algorithm {
        HmacAlgorithm::Sha1 => mac::<Hmac<sha1::Sha1>>(key, &[request.body]),
        HmacAlgorithm::Sha256 => mac::<Hmac<Sha256>>(key, &[request.body]),
        HmacAlgorithm::Sha512 => mac::<Hmac<sha2::Sha512>>(key, &[request.body]),
    };
    // Both sides are hashed so the comparison is constant-time whatever their lengths.
    match given {
        Some(given) if constant_time_eq(&sha(&given), &sha(&expected)) => Ok(()),
        _ => Err(Refused::bad_signature(format!(
            "the {header} signature does not match the body: check the secret"
        ))),
    }
}

fn check_standard_webhooks(
    request: &Signed,
    keys: &[Vec<u8>],
    tolerance: Duration,
) -> Result<(), Refused> {
    let header = |name: &str| {
        request
            .headers
            .get(name)
            .and_then(|value| value.to_str().ok())
            .map(str::trim)
    };
    let (Some(id), Some(timestamp), Some(signatures)) = (
        header("webhook-id"),
        header("webhook-timestamp"),
        header("webhook-signature"),
    ) else {
        return Err(Refused::bad_signature(
            "missing webhook-id, webhook-timestamp or webhook-signature header",
        ));
    };
    let seconds: i64 = timestamp.parse().map_err(|_| {
        Refused::bad_signature(format!(
            "webhook-timestamp {timestamp:?} is not Unix seconds"
        ))
    })?;
    // The sender chooses the timestamp: a value near either end of i64 must not wrap the
    // difference (it would panic in a debug build and pass as fresh in a release one).
    let skew = request.now.as_second().abs_diff(seconds);
    if skew > tolerance.as_secs() {
        return Err(Refused::stale(format!(
            "webhook-timestamp is {skew} s away from this clock (tolerance {} s): a replay, or a clock to fix",
            tolerance.as_secs()
        )));
    }
    let given: Vec<Vec<u8>> = signatures
        .split(' ')
        .filter_map(|entry| entry.strip_prefix("v1,"))
        .filter_map(|signature| {
            base64::engine::general_purpose::STANDARD
                .decode(signature)
                .ok()
        })
        .collect();
    let prefix = format!("{id}.{timestamp}.");
    let matched = keys.iter().any(|key| {
        let expected = sha(&mac::<Hmac<Sha256>>(
            key,
            &[prefix.as_bytes(), request.body],
        ));
        given.iter().fold(false, |found, signature| {
            found | constant_time_eq(&sha(signature), &expected)
        })
    });
    if matched {
        Ok(())
    } else {
        Err(Refused::bad_signature(
            "no v1 signature in webhook-signature matches: check the whsec_ secret",
        ))
    }
}

fn mac<M: Mac + hmac::digest::KeyInit>(key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    let mut mac =
        <M as hmac::digest::KeyInit>::new_from_slice(key).expect("HMAC takes any key length");
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().to_vec()
}

fn decode_hex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|index| u8::from_str_radix(text.get(index..index + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests;
