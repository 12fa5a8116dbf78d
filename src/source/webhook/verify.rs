//! How each receiver checks that a request comes from its platform, built once from the
//! configuration. Header-only schemes (Basic, bearer, a token header) run before the body is read;
//! signatures over the raw body (HMAC, Standard Webhooks, Intersight's HTTP Signature) run on the
//! exact bytes received, before any parsing. Meraki's shared secret sits in the body, so the
//! receiver compares it after parsing ([`Verifier::shared_secret_matches`]).
//!
//! Every secret is kept as a digest or a key, and every comparison is constant-time.

use std::time::Duration;

use axum::http::{HeaderMap, HeaderName};
use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

use super::auth::{BasicCredentials, constant_time_eq, standard_webhooks_key};
use crate::config::{DigestEncoding, HmacAlgorithm, WebhookAuth};

/// The request as a verifier sees it.
pub struct Signed<'a> {
    pub method: &'a str,
    pub path_and_query: &'a str,
    pub headers: &'a HeaderMap,
    pub body: &'a [u8],
    pub now: jiff::Timestamp,
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
    Sha256::digest(text.as_bytes()).into()
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
    pub fn check_headers(&self, headers: &HeaderMap) -> Result<(), Refused> {
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

    /// Checks over the raw body (signatures), after it is read and before it is parsed.
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
            Verifier::HttpSignature { key, max_skew } => super::intersight::verify_signature(
                request.method,
                request.path_and_query,
                request.headers,
                request.body,
                key,
                request.now,
                *max_skew,
            )
            .map_err(|error| match error {
                super::intersight::SignatureError::Stale(reason) => Refused::stale(reason),
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

fn sha(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
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
