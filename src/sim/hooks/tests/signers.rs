//! The signers against published test vectors and the gateway's verifiers.

use super::*;

#[test]
fn the_standard_webhooks_signer_reproduces_the_specification_vector() {
    let body = include_bytes!(
        "../../../../tests/data/generic/standard-webhooks-test-vector-body-exact-bytes.json"
    );
    let key = sign::standard_webhooks_key(WHSEC).unwrap();
    assert_eq!(
        sign::standard_webhooks_signature(
            &key,
            "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk",
            "1649367553",
            body
        ),
        "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw="
    );
    assert!(sign::standard_webhooks_key("whsec_").is_err());
    assert!(sign::standard_webhooks_key("whsec_not base64!").is_err());
}

pub(super) fn standard_webhooks_verifier(secret: &str) -> Verifier {
    Verifier::new(Some(&WebhookAuth {
        standard_webhooks: Some(StandardWebhooksAuth {
            secrets: vec![Secret::new(secret)],
            tolerance: Duration::from_secs(300),
        }),
        ..WebhookAuth::default()
    }))
}

pub(super) fn header_map(headers: &[(String, String)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in headers {
        map.insert(
            axum::http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
            value.parse().unwrap(),
        );
    }
    map
}

#[test]
fn a_standard_webhooks_request_verifies_with_the_gateway_and_the_same_secret_only() {
    let mut generator = payloads(Provider::StandardWebhooks, options(), 3, 5);
    let payload = generator.next_payload();
    let url = reqwest::Url::parse("http://127.0.0.1:5001/hooks/sw").unwrap();
    let now = jiff::Timestamp::now();
    let auth = Auth::StandardWebhooks {
        key: sign::standard_webhooks_key(WHSEC).unwrap(),
    };
    let headers = header_map(&auth.headers(&sign::Outgoing {
        method: "POST",
        url: &url,
        body: &payload.body,
        content_type: payload.content_type,
        message_id: &payload.notification,
        now,
    }));
    assert!(payload.notification.starts_with("msg_"));
    assert_eq!(headers["webhook-id"], payload.notification.as_str());
    let signed = |body: &[u8], now| {
        let request = Signed {
            method: "POST",
            path_and_query: "/hooks/sw",
            headers: &headers,
            body,
            now,
        };
        (
            standard_webhooks_verifier(WHSEC).check_body(&request),
            standard_webhooks_verifier(OTHER_WHSEC).check_body(&request),
        )
    };
    let (same, other) = signed(&payload.body, now);
    assert_eq!(same, Ok(()));
    assert_eq!(other.unwrap_err().outcome, "bad_signature");
    let mut tampered = payload.body.clone();
    tampered.push(b' ');
    assert_eq!(
        signed(&tampered, now).0.unwrap_err().outcome,
        "bad_signature"
    );
    let later = now + jiff::SignedDuration::from_secs(600);
    assert_eq!(signed(&payload.body, later).0.unwrap_err().outcome, "stale");
}

#[test]
fn the_hmac_sha1_helper_reproduces_the_webex_vector() {
    let body = include_bytes!(
        "../../../../tests/data/webex/webhook-messages-created-doc-example-compact-exact-bytes.json"
    );
    assert_eq!(
        sign::hmac_sha1_hex(b"webhook-secret-from-post-v1-webhooks", body),
        "4a7d8a9f8adc87192c16b10d8e4345022c74f2ab"
    );
}

#[test]
fn the_intersight_digest_of_the_fixture_is_the_published_one() {
    let body = include_bytes!(
        "../../../../tests/data/intersight/webhookresult-cond-alarm-modified-trimmed.json"
    );
    assert_eq!(body.len(), 1337);
    assert_eq!(
        sign::digest_header(body),
        "SHA-256=1GedoBzBG6j5ay5T1NeaCJQE0sfcq6Jhh+JMbNCIwoo="
    );
}

#[test]
fn the_http_date_is_imf_fixdate_in_gmt() {
    let time: jiff::Timestamp = "1994-11-06T08:49:37Z".parse().unwrap();
    assert_eq!(sign::http_date(time), "Sun, 06 Nov 1994 08:49:37 GMT");
    let url = reqwest::Url::parse("https://example.net/hooks/i?x=1").unwrap();
    assert_eq!(sign::host_header(&url), "example.net");
    assert_eq!(sign::request_target(&url), "/hooks/i?x=1");
    let url = reqwest::Url::parse("http://127.0.0.1:8080/h").unwrap();
    assert_eq!(sign::host_header(&url), "127.0.0.1:8080");
}

/// The Authorization header's `name="value"` parameters.
fn signature_parameters(authorization: &str) -> HashMap<String, String> {
    let parameters = authorization
        .strip_prefix("Signature ")
        .expect("Authorization: Signature ...");
    parameters
        .split("\",")
        .map(|part| {
            let (name, value) = part.split_once("=\"").expect("name=\"value\"");
            (name.to_owned(), value.trim_end_matches('"').to_owned())
        })
        .collect()
}

/// An Intersight request as received, checked twice: by a recomputation written here from the
/// request as it arrived (not from the signer's inputs), and by the gateway's verifier.
pub(super) fn check_intersight_request(
    method: &str,
    path_and_query: &str,
    headers: &HeaderMap,
    body: &[u8],
    secret: &[u8],
) {
    let text = |name: &str| headers[name].to_str().unwrap().to_owned();
    let parameters = signature_parameters(&text("authorization"));
    assert_eq!(parameters["keyId"], "netpulse-sim");
    assert_eq!(parameters["algorithm"], "hmac-sha256");
    assert_eq!(
        parameters["headers"],
        "(request-target) host date digest content-type content-length"
    );
    let digest = sha2::Digest::finalize(sha2::Digest::chain_update(
        <sha2::Sha256 as sha2::Digest>::new(),
        body,
    ));
    assert_eq!(
        text("digest"),
        format!(
            "SHA-256={}",
            base64::engine::general_purpose::STANDARD.encode(digest)
        )
    );
    let signing = parameters["headers"]
        .split(' ')
        .map(|name| match name {
            "(request-target)" => format!(
                "(request-target): {} {path_and_query}",
                method.to_lowercase()
            ),
            name => format!("{name}: {}", text(name)),
        })
        .collect::<Vec<_>>()
        .join("\n");
    let mac = <hmac::Hmac<sha2::Sha256> as hmac::Mac>::new_from_slice(secret).unwrap();
    let expected = base64::engine::general_purpose::STANDARD
        .encode(hmac::Mac::finalize(hmac::Mac::chain_update(mac, signing.as_bytes())).into_bytes());
    assert_eq!(
        parameters["signature"], expected,
        "signing string:\n{signing}"
    );
    let date = jiff::fmt::rfc2822::parse(&text("date"))
        .unwrap()
        .timestamp();
    assert!((jiff::Timestamp::now() - date).as_secs().abs() < 60);
    assert_eq!(text("content-length"), body.len().to_string());
    crate::source::webhook::verify::http_signature::verify_signature(
        method,
        path_and_query,
        headers,
        body,
        secret,
        jiff::Timestamp::now(),
        Duration::from_secs(300),
    )
    .expect("the gateway verifies the simulator's signature");
    assert!(
        crate::source::webhook::verify::http_signature::verify_signature(
            method,
            path_and_query,
            headers,
            body,
            b"another secret",
            jiff::Timestamp::now(),
            Duration::from_secs(300),
        )
        .is_err(),
        "another secret does not verify"
    );
}

#[test]
fn an_intersight_signature_verifies_and_names_exactly_the_published_signing_string() {
    let body = br#"{"ClassId":"mo.WebhookResult"}"#;
    let url = reqwest::Url::parse("http://127.0.0.1:8443/hooks/intersight?x=1").unwrap();
    let now: jiff::Timestamp = "2024-05-01T10:00:00Z".parse().unwrap();
    let headers = Auth::HttpSignature {
        key_id: "netpulse-sim".to_owned(),
        secret: b"s3cret".to_vec(),
    }
    .headers(&sign::Outgoing {
        method: "POST",
        url: &url,
        body,
        content_type: "application/json",
        message_id: "",
        now,
    });
    assert_eq!(header(&headers, "host"), Some("127.0.0.1:8443"));
    assert_eq!(
        header(&headers, "date"),
        Some("Wed, 01 May 2024 10:00:00 GMT")
    );
    let signing = "(request-target): post /hooks/intersight?x=1\nhost: 127.0.0.1:8443\ndate: Wed, 01 May 2024 10:00:00 GMT\ndigest: ".to_owned()
        + &sign::digest_header(body)
        + "\ncontent-type: application/json\ncontent-length: 30";
    let expected = base64::engine::general_purpose::STANDARD
        .encode(sign::hmac_sha256(b"s3cret", signing.as_bytes()));
    let authorization = header(&headers, "authorization").unwrap();
    assert_eq!(signature_parameters(authorization)["signature"], expected);
    assert_eq!(
        authorization,
        format!(
            "Signature keyId=\"netpulse-sim\",algorithm=\"hmac-sha256\",headers=\"(request-target) host date digest content-type content-length\",signature=\"{expected}\""
        )
    );
}

// ---- payloads ------------------------------------------------------------------------------
