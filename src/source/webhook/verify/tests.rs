//! The verifiers against the published test vectors and independently computed signatures.

use super::*;
use crate::config::{
    HmacAuth, HttpSignatureAuth, Secret, SecretValue, StandardWebhooksAuth, WebhookAuth,
};

use crate::source::webhook::testing::{data, header_map as headers};

fn signed<'a>(headers: &'a HeaderMap, body: &'a [u8], now: jiff::Timestamp) -> Signed<'a> {
    Signed {
        method: "POST",
        path_and_query: "/hooks/x",
        headers,
        body,
        now,
    }
}

fn webex(secret: &str) -> Verifier {
    Verifier::new(Some(&WebhookAuth {
        hmac: Some(HmacAuth {
            header: "X-Spark-Signature".into(),
            algorithm: HmacAlgorithm::Sha1,
            encoding: DigestEncoding::Hex,
            prefix: String::new(),
            secret: Some(Secret::new(secret)),
            secret_file: None,
        }),
        ..WebhookAuth::default()
    }))
}

#[test]
fn the_webex_test_vector_verifies_and_a_tampered_body_or_wrong_secret_does_not() {
    let body = data("webex/webhook-messages-created-doc-example-compact-exact-bytes.json");
    let now = jiff::Timestamp::now();
    let good = headers(&[(
        "x-spark-signature",
        "4a7d8a9f8adc87192c16b10d8e4345022c74f2ab",
    )]);
    let verifier = webex("webhook-secret-from-post-v1-webhooks");
    assert_eq!(verifier.check_body(&signed(&good, &body, now)), Ok(()));

    let mut tampered = body.clone();
    tampered[10] ^= 1;
    let refused = verifier
        .check_body(&signed(&good, &tampered, now))
        .unwrap_err();
    assert_eq!(refused.outcome, "bad_signature");
    assert!(
        webex("another-secret")
            .check_body(&signed(&good, &body, now))
            .is_err()
    );
    let none = HeaderMap::new();
    assert!(verifier.check_body(&signed(&none, &body, now)).is_err());
}

fn standard(secrets: &[&str]) -> Verifier {
    Verifier::new(Some(&WebhookAuth {
        standard_webhooks: Some(StandardWebhooksAuth {
            secrets: secrets.iter().map(|s| Secret::new(*s)).collect(),
            tolerance: Duration::from_secs(300),
        }),
        ..WebhookAuth::default()
    }))
}

const SW_SECRET: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
const SW_ID: &str = "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk";
const SW_SIGNATURE: &str = "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw=";

#[test]
fn the_standard_webhooks_test_vector_verifies_within_the_tolerance_only() {
    let body = data("generic/standard-webhooks-test-vector-body-exact-bytes.json");
    let at = jiff::Timestamp::from_second(1_649_367_553).unwrap();
    let good = headers(&[
        ("webhook-id", SW_ID),
        ("webhook-timestamp", "1649367553"),
        ("webhook-signature", SW_SIGNATURE),
    ]);
    assert_eq!(
        standard(&[SW_SECRET]).check_body(&signed(&good, &body, at)),
        Ok(())
    );
    // Rotation: the signing key is the second one configured; several signatures in the header.
    let other = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    let rotated = headers(&[
        ("webhook-id", SW_ID),
        ("webhook-timestamp", "1649367553"),
        (
            "webhook-signature",
            &format!("v1,Zm9v {SW_SIGNATURE} v1a,xyz"),
        ),
    ]);
    assert_eq!(
        standard(&[other, SW_SECRET]).check_body(&signed(&rotated, &body, at)),
        Ok(())
    );

    let later = at + jiff::SignedDuration::from_secs(301);
    let refused = standard(&[SW_SECRET])
        .check_body(&signed(&good, &body, later))
        .unwrap_err();
    assert_eq!(refused.outcome, "stale");
    let earlier = at - jiff::SignedDuration::from_secs(301);
    assert_eq!(
        standard(&[SW_SECRET])
            .check_body(&signed(&good, &body, earlier))
            .unwrap_err()
            .outcome,
        "stale"
    );

    let mut tampered = body.clone();
    tampered[3] ^= 1;
    assert_eq!(
        standard(&[SW_SECRET])
            .check_body(&signed(&good, &tampered, at))
            .unwrap_err()
            .outcome,
        "bad_signature"
    );
    let other_id = headers(&[
        ("webhook-id", "msg_other"),
        ("webhook-timestamp", "1649367553"),
        ("webhook-signature", SW_SIGNATURE),
    ]);
    assert!(
        standard(&[SW_SECRET])
            .check_body(&signed(&other_id, &body, at))
            .is_err()
    );
    assert!(
        standard(&[other])
            .check_body(&signed(&good, &body, at))
            .is_err()
    );
}

#[test]
fn a_standard_webhooks_secret_must_be_whsec_and_base64_of_24_to_64_bytes() {
    assert!(standard_webhooks_key(SW_SECRET).is_some());
    assert!(standard_webhooks_key("C2FVsBQIhrscChlQIMV+b5sSYspob7oD").is_none());
    assert!(standard_webhooks_key("whsec_").is_none());
    assert!(standard_webhooks_key("whsec_c2hvcnQ=").is_none());
}

#[test]
fn a_meraki_shared_secret_is_taken_from_the_body_or_the_template_headers() {
    let verifier = Verifier::new(Some(&WebhookAuth {
        shared_secret: Some(SecretValue {
            secret: Some(Secret::new("meraki-secret")),
            secret_file: None,
        }),
        ..WebhookAuth::default()
    }));
    let none = HeaderMap::new();
    assert!(verifier.shared_secret_matches(&none, Some("meraki-secret")));
    assert!(!verifier.shared_secret_matches(&none, Some("wrong")));
    assert!(!verifier.shared_secret_matches(&none, Some("")));
    assert!(!verifier.shared_secret_matches(&none, None));
    for header in [
        "Bearer meraki-secret",
        "Splunk meraki-secret",
        "Basic bWVyYWtpLXNlY3JldA==",
    ] {
        let headers = headers(&[("authorization", header)]);
        assert!(verifier.shared_secret_matches(&headers, None), "{header}");
    }
    let wrong = headers(&[("authorization", "Bearer nope")]);
    assert!(!verifier.shared_secret_matches(&wrong, None));
}

#[test]
fn bearer_and_header_tokens_are_checked_before_the_body() {
    let bearer = Verifier::new(Some(&WebhookAuth {
        bearer: Some(SecretValue {
            secret: Some(Secret::new("tok-123")),
            secret_file: None,
        }),
        ..WebhookAuth::default()
    }));
    assert!(
        bearer
            .check_headers(&headers(&[("authorization", "Bearer tok-123")]))
            .is_ok()
    );
    assert!(
        bearer
            .check_headers(&headers(&[("authorization", "Bearer tok-12")]))
            .is_err()
    );
    assert!(bearer.check_headers(&HeaderMap::new()).is_err());
    let header = Verifier::new(Some(&WebhookAuth {
        header: Some(crate::config::HeaderToken {
            name: "X-Auth-Token".into(),
            secret: Some(Secret::new("tok-456")),
            secret_file: None,
        }),
        ..WebhookAuth::default()
    }));
    assert!(
        header
            .check_headers(&headers(&[("x-auth-token", "tok-456")]))
            .is_ok()
    );
    assert!(
        header
            .check_headers(&headers(&[("x-auth-token", "tok-4567")]))
            .is_err()
    );
    let _ = HttpSignatureAuth {
        secret: None,
        secret_file: None,
        max_skew: Duration::from_secs(1),
    };
}

#[test]
fn a_webhook_timestamp_at_the_ends_of_i64_is_stale_not_an_overflow() {
    let body = data("generic/standard-webhooks-test-vector-body-exact-bytes.json");
    let now = jiff::Timestamp::now();
    for timestamp in [i64::MIN.to_string(), i64::MAX.to_string()] {
        let request = headers(&[
            ("webhook-id", SW_ID),
            ("webhook-timestamp", &timestamp),
            ("webhook-signature", SW_SIGNATURE),
        ]);
        let refused = standard(&[SW_SECRET])
            .check_body(&signed(&request, &body, now))
            .unwrap_err();
        assert_eq!(refused.outcome, "stale", "{timestamp}: {}", refused.reason);
    }
}

#[test]
fn a_meraki_body_passes_only_with_the_secret_and_is_never_parsed_further_to_say_why_not() {
    let verifier = Verifier::new(Some(&WebhookAuth {
        shared_secret: Some(SecretValue {
            secret: Some(Secret::new("meraki-secret")),
            secret_file: None,
        }),
        ..WebhookAuth::default()
    }));
    let now = jiff::Timestamp::now();
    let none = HeaderMap::new();
    let body = br#"{"alertId": "1", "sharedSecret": "meraki-secret"}"#;
    assert_eq!(verifier.check_body(&signed(&none, body, now)), Ok(()));
    let refusals: Vec<Refused> = [
        &b"not JSON"[..],
        b"[\"meraki-secret\"]",
        br#"{"sharedSecret": ["meraki-secret"]}"#,
        br#"{"sharedSecret": "meraki-secret", "sharedSecret": "meraki-secret"}"#,
        br#"{"alertId": "1"}"#,
    ]
    .iter()
    .map(|body| verifier.check_body(&signed(&none, body, now)).unwrap_err())
    .collect();
    assert!(
        refusals.windows(2).all(|pair| pair[0] == pair[1]),
        "one answer whatever the body: {refusals:?}"
    );
    assert_eq!(refusals[0].outcome, "unauthorized");
    // The secret in a header is enough, whatever the body.
    let bearer = headers(&[("authorization", "Bearer meraki-secret")]);
    assert_eq!(
        verifier.check_body(&signed(&bearer, b"not JSON", now)),
        Ok(())
    );
}
