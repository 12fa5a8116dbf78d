//! The webhook receivers: every provider's normalizer on a hostile body, verified by the open
//! verifier as a receiver with `auth: none` passes it, and the signature checks on hostile
//! headers and body.

use std::sync::OnceLock;
use std::time::Duration;

use axum::http::{HeaderMap, HeaderValue};

use super::{deliver, now, request};
use crate::config::{
    BasicAuth, DigestEncoding, GenericMapping, HeaderToken, HmacAlgorithm, HmacAuth,
    HttpSignatureAuth, Secret, SecretValue, StandardWebhooksAuth, WebhookAuth,
};
use crate::source::webhook::verify::{self, Signed, Verifier};
use crate::source::webhook::{
    Normalized, catalyst_center, generic, intersight, mapping, meraki, sdwan, thousandeyes, webex,
};

/// The source name every target gives its normalizer.
const SOURCE: &str = "fuzz";

fn deliver_normalized(normalized: Result<Normalized, impl Sized>) {
    if let Ok(normalized) = normalized {
        deliver(&normalized.event);
    }
}

/// A hostile body as a normalizer receives it.
fn body(data: &[u8]) -> bytes::Bytes {
    bytes::Bytes::copy_from_slice(data)
}

/// SD-WAN Manager: an alarm body, with the details link built from its uuid. The body is stored
/// as the event's data text, as the receiver does: the stored JSON must read back as the event
/// with the document as its data.
pub fn webhook_sdwan(data: &[u8]) {
    let body = body(data);
    let headers = HeaderMap::new();
    let request = verify::open(&headers, &body, now());
    if let Ok(normalized) =
        sdwan::normalize(SOURCE, &request, Some("https://vmanage.example:8443/"))
    {
        assert_eq!(
            normalized.raw_data.as_deref(),
            Some(data),
            "the body is the data"
        );
        let stored = crate::store::event_json(&normalized.event, Some(data))
            .expect("an accepted SD-WAN body is stored");
        let read_back: crate::event::Event =
            serde_json::from_str(&stored).expect("a stored event reads back");
        let mut event = normalized.event;
        event.data = serde_json::from_slice(data).expect("an accepted body is JSON");
        assert_eq!(read_back, event, "the body is stored as the event's data");
        deliver(&event);
    }
}

pub fn webhook_meraki(data: &[u8]) {
    let body = body(data);
    deliver_normalized(meraki::normalize(
        SOURCE,
        &verify::open(&HeaderMap::new(), &body, now()),
    ));
}

/// Catalyst Center, with the event link made absolute as a receiver with `base_url` does, and
/// without.
pub fn webhook_catalyst_center(data: &[u8]) {
    let body = body(data);
    let headers = HeaderMap::new();
    let request = verify::open(&headers, &body, now());
    for base_url in [Some("https://catc.example"), None] {
        deliver_normalized(catalyst_center::normalize(SOURCE, &request, base_url));
    }
}

pub fn webhook_thousandeyes(data: &[u8]) {
    let body = body(data);
    deliver_normalized(thousandeyes::normalize(
        SOURCE,
        &verify::open(&HeaderMap::new(), &body, now()),
    ));
}

pub fn webhook_intersight(data: &[u8]) {
    let body = body(data);
    deliver_normalized(intersight::normalize(
        SOURCE,
        &verify::open(&HeaderMap::new(), &body, now()),
    ));
}

pub fn webhook_webex(data: &[u8]) {
    let body = body(data);
    deliver_normalized(webex::normalize(
        SOURCE,
        &verify::open(&HeaderMap::new(), &body, now()),
    ));
}

/// The provider-neutral receivers on one body: Standard Webhooks, CloudEvents in binary and in
/// structured mode, and a generic mapping with pointers and a template.
pub fn webhook_generic(data: &[u8]) {
    static HEADERS: OnceLock<[HeaderMap; 2]> = OnceLock::new();
    let [binary, structured] = HEADERS.get_or_init(|| {
        let mut binary = HeaderMap::new();
        for (name, value) in [
            ("webhook-id", "msg_1"),
            ("webhook-timestamp", "1649367553"),
            ("ce-specversion", "1.0"),
            ("ce-id", "1"),
            ("ce-source", "/s"),
            ("ce-type", "t"),
            ("ce-time", "2022-04-07T21:39:13Z"),
            ("ce-severity", "major"),
        ] {
            binary.insert(name, HeaderValue::from_static(value));
        }
        let mut structured = HeaderMap::new();
        structured.insert(
            "content-type",
            HeaderValue::from_static("application/cloudevents+json; charset=utf-8"),
        );
        [binary, structured]
    });
    let body = body(data);
    let binary = verify::open(binary, &body, now());
    let structured = verify::open(structured, &body, now());
    deliver_normalized(generic::standard_webhook(SOURCE, &binary));
    deliver_normalized(generic::cloudevent(SOURCE, &binary));
    deliver_normalized(generic::cloudevent(SOURCE, &structured));
    static MAPPING: OnceLock<mapping::Mapping> = OnceLock::new();
    let mapping = MAPPING.get_or_init(|| {
        let config = GenericMapping {
            id: Some("/id".into()),
            time: Some("/time".into()),
            device: Some("/data/id".into()),
            kind: Some("{{ type }}".into()),
            summary: Some("{{ type }} {{ data | tojson }}".into()),
            subject: Some("/subject".into()),
            link: Some("/link".into()),
            severity: Some("/severity".into()),
            alarm_key: Some("/id".into()),
            alarm_state: Some("/state".into()),
            ..Default::default()
        };
        mapping::Mapping::new(SOURCE, &config).expect("the mapping compiles")
    });
    deliver_normalized(mapping.normalize(SOURCE, &binary));
}

/// Every verifier on a hostile request (`name: value` lines, an empty line, the body; see
/// [`request`]), then the normalizers that read headers, on the same request.
pub fn webhook_verify(data: &[u8]) {
    let (headers, body) = request(data);
    let signed = Signed {
        method: "POST",
        path_and_query: "/hooks/fuzz?x=1",
        headers: &headers,
        body,
        now: now(),
    };
    for verifier in verifiers() {
        let _ = verifier.check_headers(&headers);
        let _ = verifier.check_body(&signed);
        let _ = verifier.shared_secret_matches(&headers, std::str::from_utf8(body).ok());
    }
    let body = self::body(body);
    let request = verify::open(&headers, &body, now());
    deliver_normalized(generic::standard_webhook(SOURCE, &request));
    deliver_normalized(generic::cloudevent(SOURCE, &request));
}

/// One verifier of each scheme, with the secrets of the test vectors kept in the corpus (Webex's
/// documented example, the Standard Webhooks vector, an Intersight request signed for `now`).
pub(super) fn verifiers() -> &'static [Verifier] {
    static VERIFIERS: OnceLock<Vec<Verifier>> = OnceLock::new();
    VERIFIERS.get_or_init(|| {
        let secret = |text: &str| SecretValue {
            secret: Some(Secret::new(text)),
            secret_file: None,
        };
        let hmac = |header: &str, algorithm, encoding, prefix: &str, key: &str| WebhookAuth {
            hmac: Some(HmacAuth {
                header: header.into(),
                algorithm,
                encoding,
                prefix: prefix.into(),
                secret: Some(Secret::new(key)),
                secret_file: None,
            }),
            ..WebhookAuth::default()
        };
        let schemes = [
            WebhookAuth {
                basic: Some(BasicAuth {
                    username: "user".into(),
                    password: Some(Secret::new("pass")),
                    password_file: None,
                }),
                ..WebhookAuth::default()
            },
            WebhookAuth {
                bearer: Some(secret("token")),
                ..WebhookAuth::default()
            },
            WebhookAuth {
                header: Some(HeaderToken {
                    name: "X-Auth-Token".into(),
                    secret: Some(Secret::new("token")),
                    secret_file: None,
                }),
                ..WebhookAuth::default()
            },
            WebhookAuth {
                shared_secret: Some(secret("meraki-secret")),
                ..WebhookAuth::default()
            },
            hmac(
                "X-Spark-Signature",
                HmacAlgorithm::Sha1,
                DigestEncoding::Hex,
                "",
                "webhook-secret-from-post-v1-webhooks",
            ),
            hmac(
                "X-Hub-Signature-256",
                HmacAlgorithm::Sha256,
                DigestEncoding::Hex,
                "sha256=",
                "secret",
            ),
            hmac(
                "X-Signature",
                HmacAlgorithm::Sha512,
                DigestEncoding::Base64,
                "",
                "secret",
            ),
            WebhookAuth {
                http_signature: Some(HttpSignatureAuth {
                    secret: Some(Secret::new("intersight-secret")),
                    secret_file: None,
                    max_skew: Duration::from_secs(300),
                }),
                ..WebhookAuth::default()
            },
            WebhookAuth {
                standard_webhooks: Some(StandardWebhooksAuth {
                    secrets: vec![Secret::new("whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD")],
                    tolerance: Duration::from_secs(300),
                }),
                ..WebhookAuth::default()
            },
        ];
        schemes
            .iter()
            .map(|auth| Verifier::new(Some(auth)))
            .collect()
    })
}
