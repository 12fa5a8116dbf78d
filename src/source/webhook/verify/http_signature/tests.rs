//! The HTTP Signature verifier against RFC 4231's HMAC vectors and requests signed here by hand.

use axum::http::HeaderValue;
use base64::Engine as _;

use super::*;

const ALARM_FIXTURE: &str = "webhookresult-cond-alarm-modified-trimmed.json";

fn read_fixture(file: &str) -> Vec<u8> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/intersight")
        .join(file);
    std::fs::read(&path).unwrap_or_else(|error| panic!("{}: {error}", path.display()))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

#[test]
fn hmac_sha256_matches_rfc_4231() {
    // Test case 2.
    assert_eq!(
        hex(&hmac_sha256(b"Jefe", b"what do ya want for nothing?")),
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
    );
    // Test case 1 (20-byte key).
    assert_eq!(
        hex(&hmac_sha256(&[0x0b; 20], b"Hi There")),
        "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"
    );
    // Test case 6: a key longer than the block is hashed first.
    assert_eq!(
        hex(&hmac_sha256(
            &[0xaa; 131],
            b"Test Using Larger Than Block-Size Key - Hash Key First"
        )),
        "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
    );
}

#[test]
fn the_digest_of_the_alarm_fixture_is_the_reference_one() {
    let body = read_fixture(ALARM_FIXTURE);
    assert_eq!(body.len(), 1337, "the fixture's exact bytes");
    assert_eq!(
        digest_header(&body),
        "SHA-256=1GedoBzBG6j5ay5T1NeaCJQE0sfcq6Jhh+JMbNCIwoo="
    );
}

const SECRET: &[u8] = b"intersight webhook secret";
const PATH: &str = "/hooks/intersight?tenant=a";
/// A Saturday, though the draft-cavage examples call it Tuesday: the weekday is not checked.
const DATE: &str = "Tue, 07 Jun 2014 20:51:35 GMT";

fn date_time() -> jiff::Timestamp {
    "2014-06-07T20:51:35Z".parse().unwrap()
}

/// The signing string for `(request-target) host date digest`, written out by hand.
fn signing_string(digest: &str) -> String {
    format!("(request-target): post {PATH}\nhost: gw.example:8443\ndate: {DATE}\ndigest: {digest}")
}

fn sign(text: &str, secret: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(hmac_sha256(secret, text.as_bytes()))
}

/// A request as Intersight would sign it, with the parameters in `Authorization`.
fn signed_request(body: &[u8]) -> HeaderMap {
    let digest = "SHA-256=1GedoBzBG6j5ay5T1NeaCJQE0sfcq6Jhh+JMbNCIwoo=";
    assert_eq!(
        digest,
        digest_header(body),
        "these tests sign the alarm fixture"
    );
    let signature = sign(&signing_string(digest), SECRET);
    let mut headers = HeaderMap::new();
    headers.insert("host", HeaderValue::from_static("gw.example:8443"));
    headers.insert("date", HeaderValue::from_static(DATE));
    headers.insert("digest", HeaderValue::from_str(digest).unwrap());
    headers.insert("content-type", HeaderValue::from_static("application/json"));
    let authorization = format!(
        r#"Signature keyId="webhook-key",algorithm="hmac-sha256",headers="(request-target) host date digest",signature="{signature}""#
    );
    headers.insert(
        "authorization",
        HeaderValue::from_str(&authorization).unwrap(),
    );
    headers
}

fn verify(headers: &HeaderMap, body: &[u8]) -> Result<(), SignatureError> {
    verify_at(
        headers,
        body,
        date_time() + jiff::SignedDuration::from_secs(30),
    )
}

fn verify_at(headers: &HeaderMap, body: &[u8], now: jiff::Timestamp) -> Result<(), SignatureError> {
    verify_signature(
        "POST",
        PATH,
        headers,
        body,
        SECRET,
        now,
        Duration::from_secs(300),
    )
}

fn with_parameters(headers: &HeaderMap, parameters: &str) -> HeaderMap {
    let mut headers = headers.clone();
    headers.insert(
        "authorization",
        HeaderValue::from_str(&format!("Signature {parameters}")).unwrap(),
    );
    headers
}

fn signature_of(headers: &HeaderMap) -> String {
    let value = headers["authorization"].to_str().unwrap();
    value
        .split("signature=\"")
        .nth(1)
        .unwrap()
        .trim_end_matches('"')
        .to_owned()
}

#[test]
fn a_correctly_signed_request_verifies() {
    let body = read_fixture(ALARM_FIXTURE);
    let headers = signed_request(&body);
    assert_eq!(verify(&headers, &body), Ok(()));
    // The same parameters in a `Signature:` header.
    let mut moved = headers.clone();
    let parameters = moved.remove("authorization").unwrap();
    let parameters = parameters
        .to_str()
        .unwrap()
        .strip_prefix("Signature ")
        .unwrap()
        .to_owned();
    moved.insert("signature", HeaderValue::from_str(&parameters).unwrap());
    assert_eq!(verify(&moved, &body), Ok(()));
    // Basic in Authorization does not hide a `Signature:` header.
    moved.insert("authorization", HeaderValue::from_static("Basic dTpw"));
    assert_eq!(verify(&moved, &body), Ok(()));
    // Spaces after commas, `hs2019`, and bare values are read too.
    let signature = signature_of(&headers);
    let relaxed = with_parameters(
        &headers,
        &format!(
            r#"keyId=k, algorithm=hs2019, headers="(request-target) host date digest", signature="{signature}""#
        ),
    );
    assert_eq!(verify(&relaxed, &body), Ok(()));
    // Just inside the allowed skew, either way.
    for seconds in [-300, 300] {
        let now = date_time() + jiff::SignedDuration::from_secs(seconds);
        assert_eq!(verify_at(&headers, &body, now), Ok(()), "{seconds}");
    }
}

#[test]
fn a_changed_body_is_a_bad_digest() {
    let body = read_fixture(ALARM_FIXTURE);
    let headers = signed_request(&body);
    let mut tampered = body.clone();
    tampered[100] ^= 1;
    assert_eq!(verify(&headers, &tampered), Err(SignatureError::BadDigest));
    assert_eq!(verify(&headers, b""), Err(SignatureError::BadDigest));
    // A new Digest for the new body does not help: the old signature covers the old Digest.
    let mut redigested = headers.clone();
    redigested.insert(
        "digest",
        HeaderValue::from_str(&digest_header(&tampered)).unwrap(),
    );
    assert_eq!(
        verify(&redigested, &tampered),
        Err(SignatureError::BadSignature)
    );
}

#[test]
fn a_wrong_secret_or_changed_header_is_a_bad_signature() {
    let body = read_fixture(ALARM_FIXTURE);
    let headers = signed_request(&body);
    let now = date_time();
    assert_eq!(
        verify_signature(
            "POST",
            PATH,
            &headers,
            &body,
            b"another secret",
            now,
            Duration::from_secs(300)
        ),
        Err(SignatureError::BadSignature)
    );
    assert_eq!(
        verify_signature(
            "POST",
            "/hooks/other",
            &headers,
            &body,
            SECRET,
            now,
            Duration::from_secs(300)
        ),
        Err(SignatureError::BadSignature)
    );
    let mut other_host = headers.clone();
    other_host.insert("host", HeaderValue::from_static("evil.example"));
    assert_eq!(
        verify(&other_host, &body),
        Err(SignatureError::BadSignature)
    );
    // The header list reordered, the values still signed in the original order.
    let signature = signature_of(&headers);
    let reordered = with_parameters(
        &headers,
        &format!(
            r#"keyId="webhook-key",algorithm="hmac-sha256",headers="date (request-target) host digest",signature="{signature}""#
        ),
    );
    assert_eq!(verify(&reordered, &body), Err(SignatureError::BadSignature));
    // A signature of the wrong length.
    let short = with_parameters(
        &headers,
        r#"headers="(request-target) host date digest",signature="AAAA""#,
    );
    assert_eq!(verify(&short, &body), Err(SignatureError::BadSignature));
}

#[test]
fn an_old_or_future_date_is_stale() {
    let body = read_fixture(ALARM_FIXTURE);
    let headers = signed_request(&body);
    for seconds in [-301, 301, 86_400] {
        let now = date_time() + jiff::SignedDuration::from_secs(seconds);
        let result = verify_at(&headers, &body, now);
        assert!(
            matches!(result, Err(SignatureError::Stale(_))),
            "{seconds}: {result:?}"
        );
    }
}

#[test]
fn missing_headers_and_parameters() {
    let body = read_fixture(ALARM_FIXTURE);
    let headers = signed_request(&body);
    let missing = |headers: &HeaderMap| match verify(headers, &body) {
        Err(SignatureError::Missing(what)) => what,
        other => panic!("{other:?}"),
    };
    assert!(missing(&HeaderMap::new()).contains("Signature"));
    for name in ["digest", "date", "host"] {
        let mut without = headers.clone();
        without.remove(name);
        assert_eq!(missing(&without), format!("the `{name}` header"));
    }
    let mut without = headers.clone();
    without.remove("authorization");
    assert!(missing(&without).contains("Authorization"));
    let no_signature = with_parameters(
        &headers,
        r#"keyId="k",headers="(request-target) host date digest""#,
    );
    assert!(missing(&no_signature).contains("`signature`"));
    // `content-type` is present, `content-length` is not.
    let signature = signature_of(&headers);
    let unsent = with_parameters(
        &headers,
        &format!(
            r#"headers="(request-target) host date digest content-length",signature="{signature}""#
        ),
    );
    assert_eq!(missing(&unsent), "the `content-length` header");
}

#[test]
fn malformed_parameters_and_unsigned_date_or_digest() {
    let body = read_fixture(ALARM_FIXTURE);
    let headers = signed_request(&body);
    let signature = signature_of(&headers);
    for parameters in [
        format!(r#"headers="(request-target) host digest",signature="{signature}""#),
        format!(r#"headers="(request-target) host date",signature="{signature}""#),
        // draft-cavage: no `headers` means `date` only.
        format!(r#"signature="{signature}""#),
        format!(r#"algorithm="rsa-sha256",headers="date digest",signature="{signature}""#),
        format!(r#"headers="date digest",signature="{signature}"#),
        format!(r#"headers="date digest" signature="{signature}""#),
        format!(r#"headers="date digest",headers="date digest",signature="{signature}""#),
        r#"headers="date digest",signature="not base64!""#.to_owned(),
        "garbage".to_owned(),
        "=x".to_owned(),
    ] {
        let result = verify(&with_parameters(&headers, &parameters), &body);
        assert!(
            matches!(result, Err(SignatureError::Malformed(_))),
            "{parameters}: {result:?}"
        );
    }
    let mut bad_date = headers.clone();
    bad_date.insert("date", HeaderValue::from_static("yesterday"));
    // Re-sign so that only the date is wrong.
    let text = signing_string(&digest_header(&body)).replace(DATE, "yesterday");
    let signed = with_parameters(
        &bad_date,
        &format!(
            r#"headers="(request-target) host date digest",signature="{}""#,
            sign(&text, SECRET)
        ),
    );
    assert!(matches!(
        verify(&signed, &body),
        Err(SignatureError::Malformed(_))
    ));
    let mut no_sha256 = headers.clone();
    no_sha256.insert("digest", HeaderValue::from_static("MD5=abc"));
    assert!(matches!(
        verify(&no_sha256, &body),
        Err(SignatureError::Malformed(_))
    ));
}

#[test]
fn odd_header_values_never_panic() {
    let body = read_fixture(ALARM_FIXTURE);
    let headers = signed_request(&body);
    let authorization = headers["authorization"].as_bytes().to_vec();
    let mut rng = fastrand::Rng::with_seed(0x5160);
    for end in 0..authorization.len() {
        let mut cut = headers.clone();
        cut.insert(
            "authorization",
            HeaderValue::from_bytes(&authorization[..end]).unwrap(),
        );
        assert!(verify(&cut, &body).is_err());
    }
    for _ in 0..2000 {
        let mut flipped = authorization.clone();
        let index = rng.usize(..flipped.len());
        flipped[index] = rng.u8(..);
        if let Ok(value) = HeaderValue::from_bytes(&flipped) {
            let mut changed = headers.clone();
            changed.insert("authorization", value);
            let _ = verify(&changed, &body);
        }
    }
    let mut binary = headers.clone();
    binary.insert("date", HeaderValue::from_bytes(b"\xff\xfe").unwrap());
    assert!(matches!(
        verify(&binary, &body),
        Err(SignatureError::Malformed(_))
    ));
}
