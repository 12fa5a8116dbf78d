//! How each platform proves a request is its own, written from the published descriptions
//! (`protocols-webhooks.md` §2, §3, §4, §6, §9.1, §9.2) and independently of the gateway's
//! verifiers (`source::webhook::verify`), so that each side tests the other.
//!
//! Pure: a request's method, URL, body and the time in, header values out.

use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

const BASE64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// The headers Intersight signs, in the order it signs them (draft-cavage HTTP Signatures, the
/// common shape; the TechNote's exact list was not retrievable: `protocols-webhooks.md` §6, §10.4).
pub const INTERSIGHT_SIGNED_HEADERS: &str =
    "(request-target) host date digest content-type content-length";

/// The `keyId` the simulator puts in Intersight's signature unless told otherwise (the platform's
/// own value is not documented).
pub const DEFAULT_KEY_ID: &str = "netpulse-sim";

/// How a request is authenticated or signed.
#[derive(Clone)]
pub enum Auth {
    /// Nothing (ThousandEyes and Catalyst Center without auth; Meraki's default template, whose
    /// secret travels in the body).
    None,
    /// `Authorization: Basic base64(username:password)`.
    Basic { username: String, password: String },
    /// `Authorization: Bearer <token>` (Meraki's custom template, CloudEvents senders).
    Bearer(String),
    /// A token in a header of its own, e.g. `X-Auth-Token` (Catalyst Center destinations).
    Header { name: String, value: String },
    /// Standard Webhooks v1: the key is the base64-decoded `whsec_` secret.
    StandardWebhooks { key: Vec<u8> },
    /// Intersight: draft-cavage HTTP Signature, HMAC-SHA256 with the webhook's secret.
    HttpSignature { key_id: String, secret: Vec<u8> },
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print a secret.
        let name = match self {
            Auth::None => "None",
            Auth::Basic { .. } => "Basic",
            Auth::Bearer(_) => "Bearer",
            Auth::Header { .. } => "Header",
            Auth::StandardWebhooks { .. } => "StandardWebhooks",
            Auth::HttpSignature { .. } => "HttpSignature",
        };
        write!(f, "Auth::{name}(<redacted>)")
    }
}

/// What a signer needs to know of one request.
pub struct Outgoing<'a> {
    /// `POST` (or `PUT` for a Catalyst Center destination set so).
    pub method: &'a str,
    pub url: &'a reqwest::Url,
    pub body: &'a [u8],
    pub content_type: &'a str,
    /// The notification's own id (Standard Webhooks' `webhook-id`).
    pub message_id: &'a str,
    pub now: jiff::Timestamp,
}

impl Auth {
    /// The headers to add to the request (names in lower case, as HTTP/2 would send them).
    pub fn headers(&self, request: &Outgoing) -> Vec<(String, String)> {
        match self {
            Auth::None => Vec::new(),
            Auth::Basic { username, password } => {
                vec![("authorization".into(), basic(username, password))]
            }
            Auth::Bearer(token) => vec![("authorization".into(), format!("Bearer {token}"))],
            Auth::Header { name, value } => vec![(name.to_ascii_lowercase(), value.clone())],
            Auth::StandardWebhooks { key } => {
                let timestamp = request.now.as_second().to_string();
                vec![
                    ("webhook-id".into(), request.message_id.to_owned()),
                    ("webhook-timestamp".into(), timestamp.clone()),
                    (
                        "webhook-signature".into(),
                        standard_webhooks_signature(
                            key,
                            request.message_id,
                            &timestamp,
                            request.body,
                        ),
                    ),
                ]
            }
            Auth::HttpSignature { key_id, secret } => {
                let host = host_header(request.url);
                let date = http_date(request.now);
                let digest = digest_header(request.body);
                let signing = intersight_signing_string(
                    request.method,
                    &request_target(request.url),
                    &host,
                    &date,
                    &digest,
                    request.content_type,
                    request.body.len(),
                );
                let signature = BASE64.encode(hmac_sha256(secret, signing.as_bytes()));
                vec![
                    ("host".into(), host),
                    ("date".into(), date),
                    ("digest".into(), digest),
                    (
                        "authorization".into(),
                        format!(
                            "Signature keyId=\"{key_id}\",algorithm=\"hmac-sha256\",headers=\"{INTERSIGHT_SIGNED_HEADERS}\",signature=\"{signature}\""
                        ),
                    ),
                ]
            }
        }
    }
}

/// `Basic base64(username:password)` (RFC 7617).
pub fn basic(username: &str, password: &str) -> String {
    format!("Basic {}", BASE64.encode(format!("{username}:{password}")))
}

pub fn hmac_sha256(key: &[u8], message: &[u8]) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(message);
    mac.finalize().into_bytes().to_vec()
}

/// HMAC-SHA1, for senders that sign that way (Webex's `X-Spark-Signature`, lower-case hex).
pub fn hmac_sha1_hex(key: &[u8], message: &[u8]) -> String {
    let mut mac = Hmac::<sha1::Sha1>::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(message);
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

/// The key of a Standard Webhooks secret: `whsec_` then base64 (the prefix is optional, as in
/// the reference libraries). Refuses an empty or undecodable key.
pub fn standard_webhooks_key(secret: &str) -> anyhow::Result<Vec<u8>> {
    let encoded = secret.strip_prefix("whsec_").unwrap_or(secret);
    let key = BASE64.decode(encoded.trim()).map_err(|error| {
        anyhow::anyhow!("the Standard Webhooks secret is not whsec_<base64>: {error}")
    })?;
    anyhow::ensure!(!key.is_empty(), "the Standard Webhooks secret is empty");
    Ok(key)
}

/// `v1,<base64 HMAC-SHA256(key, "<id>.<timestamp>.<body>")>`.
pub fn standard_webhooks_signature(key: &[u8], id: &str, timestamp: &str, body: &[u8]) -> String {
    let mut content = Vec::with_capacity(id.len() + timestamp.len() + body.len() + 2);
    content.extend_from_slice(id.as_bytes());
    content.push(b'.');
    content.extend_from_slice(timestamp.as_bytes());
    content.push(b'.');
    content.extend_from_slice(body);
    format!("v1,{}", BASE64.encode(hmac_sha256(key, &content)))
}

/// `SHA-256=<base64 SHA-256(body)>` (RFC 3230 `Digest`).
pub fn digest_header(body: &[u8]) -> String {
    format!("SHA-256={}", BASE64.encode(Sha256::digest(body)))
}

/// An HTTP date, RFC 7231/9110 IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`), the GMT form of
/// RFC 2822.
pub fn http_date(now: jiff::Timestamp) -> String {
    jiff::fmt::rfc2822::DateTimePrinter::new()
        .timestamp_to_rfc9110_string(&now)
        .expect("a timestamp in range")
}

/// The `Host` header as it is sent: the host, and the port unless it is the scheme's default.
pub fn host_header(url: &reqwest::Url) -> String {
    let host = url.host_str().unwrap_or("");
    match url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_owned(),
    }
}

/// The path and query of the request line.
pub fn request_target(url: &reqwest::Url) -> String {
    match url.query() {
        Some(query) => format!("{}?{query}", url.path()),
        None => url.path().to_owned(),
    }
}

/// The draft-cavage signing string over [`INTERSIGHT_SIGNED_HEADERS`], lines joined by `\n`,
/// no trailing newline; `(request-target)` is the lower-case method, a space and path?query.
pub fn intersight_signing_string(
    method: &str,
    target: &str,
    host: &str,
    date: &str,
    digest: &str,
    content_type: &str,
    content_length: usize,
) -> String {
    format!(
        "(request-target): {} {target}\nhost: {host}\ndate: {date}\ndigest: {digest}\ncontent-type: {content_type}\ncontent-length: {content_length}",
        method.to_ascii_lowercase()
    )
}
