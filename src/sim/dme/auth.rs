//! Sessions over HTTP: `aaaLogin` (and its `/api/mo/` and `/api/class/` spellings), `aaaRefresh`,
//! `aaaLogout`, and the `APIC-cookie` check that every other request goes through.

use axum::body::Body;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use tokio::time::Instant;
use tracing::{debug, info};

use super::device::DeviceInner;
use super::http::{error, json, refresh_delay};
use super::query::decode;
use super::render;
use super::session::{CloseReason, log_prefix, new_session_id, new_token};

pub const TOKEN_INVALID_TEXT: &str = "Token was invalid (Error: Token timeout)";
pub const LOGIN_FAILED_TEXT: &str =
    "Username or password is incorrect - FAILED local authentication";
/// The simulator's own 503 answer to refused logins; its text is invented (a real device in that
/// state may not answer at all).
pub const LOGINS_REFUSED_TEXT: &str =
    "Service Unavailable: logins are temporarily refused (simulated)";
/// The text of a 400 answer to a malformed login body is UNKNOWN.
pub const BAD_LOGIN_TEXT: &str = r#"Failed to parse login request: expected {"aaaUser":{"attributes":{"name":"..","pwd":".."}}}"#;
/// The device's `version` attribute in login answers (NX-OS release string).
const LOGIN_VERSION: &str = "10.3(4a)";
const MAX_LOGIN_BODY_BYTES: usize = 64 * 1024;

pub async fn login(device: &DeviceInner, body: Body) -> Response {
    let refused = device
        .lock()
        .faults
        .refuse_logins_until
        .is_some_and(|until| Instant::now() < until);
    if refused {
        device.lock().table.counters.logins_failed += 1;
        return error(StatusCode::SERVICE_UNAVAILABLE, LOGINS_REFUSED_TEXT);
    }
    let Ok(body) = axum::body::to_bytes(body, MAX_LOGIN_BODY_BYTES).await else {
        return error(StatusCode::BAD_REQUEST, BAD_LOGIN_TEXT);
    };
    let Some((user, password)) = login_credentials(&body) else {
        return error(StatusCode::BAD_REQUEST, BAD_LOGIN_TEXT);
    };
    let settings = &device.settings;
    if !(constant_time_eq(user.as_bytes(), settings.username.as_bytes())
        & constant_time_eq(password.as_bytes(), settings.password.as_bytes()))
    {
        device.lock().table.counters.logins_failed += 1;
        info!(device = %device.name, user = %user, "login rejected: wrong credentials");
        return error(StatusCode::UNAUTHORIZED, LOGIN_FAILED_TEXT);
    }
    let token = new_token();
    let session_id = new_session_id();
    let created_unix = jiff::Timestamp::now().as_second();
    let expires_at = Instant::now() + settings.refresh_timeout;
    device.lock().table.login(
        &user,
        token.clone(),
        session_id.clone(),
        created_unix,
        expires_at,
    );
    info!(device = %device.name, user = %user, session = %log_prefix(&session_id), "login");
    login_response(device, &token, &session_id, &user, created_unix)
}

fn login_credentials(body: &[u8]) -> Option<(String, String)> {
    let value: serde_json::Value = serde_json::from_slice(body).ok()?;
    let attributes = value.get("aaaUser")?.get("attributes")?;
    let user = attributes.get("name")?.as_str()?.to_owned();
    let password = attributes.get("pwd")?.as_str()?.to_owned();
    Some((user, password))
}

/// Compares without an early exit on the first differing byte.
fn constant_time_eq(left: &[u8], right: &[u8]) -> bool {
    left.len() == right.len()
        && left
            .iter()
            .zip(right)
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
}

fn login_response(
    device: &DeviceInner,
    token: &str,
    session_id: &str,
    user: &str,
    created_unix: i64,
) -> Response {
    let refresh_seconds = device
        .settings
        .refresh_timeout
        .as_millis()
        .div_ceil(1000)
        .to_string();
    let created = created_unix.to_string();
    let body = render::login_body(&[
        ("token", token),
        ("siteFingerprint", ""),
        ("refreshTimeoutSeconds", &refresh_seconds),
        ("guiIdleTimeoutSeconds", "1200"),
        ("restTimeoutSeconds", "300"),
        ("creationTime", &created),
        ("firstLoginTime", &created),
        ("userName", user),
        ("remoteUser", "false"),
        ("unixUserId", "0"),
        ("sessionId", session_id),
        ("lastName", ""),
        ("firstName", ""),
        ("version", LOGIN_VERSION),
        ("buildTime", "Sat Jan 01 00:00:00 UTC 2000"),
        ("controllerId", "0"),
    ]);
    let secure = if device.tls { "; Secure" } else { "" };
    let cookie = format!("APIC-cookie={token}; path=/; HttpOnly{secure}");
    let mut response = json(StatusCode::OK, body);
    if let Ok(value) = cookie.parse() {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    response
}

/// The live session named by the request's `APIC-cookie`; without one the device answers
/// [`forbidden`].
pub fn authenticate(device: &DeviceInner, headers: &HeaderMap) -> Option<u64> {
    let now = Instant::now();
    let mut state = device.lock();
    cookie_tokens(headers)
        .iter()
        .find_map(|token| state.table.authenticate(token, now))
}

/// The device's answer to a missing, unknown or expired token.
pub fn forbidden() -> Response {
    error(StatusCode::FORBIDDEN, TOKEN_INVALID_TEXT)
}

/// Every `APIC-cookie` value in the request's `Cookie` headers, in order, each also in
/// percent-decoded form for clients that encode cookie values.
fn cookie_tokens(headers: &HeaderMap) -> Vec<String> {
    let mut tokens = Vec::new();
    for value in headers.get_all(header::COOKIE) {
        let Ok(text) = value.to_str() else { continue };
        for pair in text.split(';') {
            let Some((name, token)) = pair.trim().split_once('=') else {
                continue;
            };
            if name.trim() == "APIC-cookie" {
                let token = token.trim().trim_matches('"');
                tokens.push(token.to_owned());
                let decoded = decode(token);
                if decoded != token {
                    tokens.push(decoded);
                }
            }
        }
    }
    tokens
}

pub async fn refresh_session(device: &DeviceInner, headers: &HeaderMap) -> Response {
    let Some(key) = authenticate(device, headers) else {
        return forbidden();
    };
    refresh_delay(device).await;
    let new_token = device.settings.rotate_token_on_refresh.then(new_token);
    let expires_at = Instant::now() + device.settings.refresh_timeout;
    let session = device
        .lock()
        .table
        .refresh_session(key, expires_at, new_token)
        .map(|session| {
            (
                session.token.clone(),
                session.session_id.clone(),
                session.user.clone(),
                session.created_unix,
            )
        });
    match session {
        Some((token, session_id, user, created_unix)) => {
            debug!(device = %device.name, session = %log_prefix(&session_id), "session refreshed");
            login_response(device, &token, &session_id, &user, created_unix)
        }
        None => forbidden(),
    }
}

pub fn logout(device: &DeviceInner, headers: &HeaderMap) -> Response {
    match authenticate(device, headers) {
        Some(key) => {
            device
                .lock()
                .table
                .end_session(key, CloseReason::SessionEnded);
            info!(device = %device.name, "logout");
            json(
                StatusCode::OK,
                r#"{"totalCount":"0","imdata":[]}"#.to_owned(),
            )
        }
        None => forbidden(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookie_parsing_finds_the_token_among_others() {
        let mut headers = HeaderMap::new();
        headers.append(
            header::COOKIE,
            "theme=dark; APIC-cookie=ab/c+d=; other=1".parse().unwrap(),
        );
        headers.append(header::COOKIE, "APIC-cookie=%2Fx".parse().unwrap());
        assert_eq!(cookie_tokens(&headers), vec!["ab/c+d=", "%2Fx", "/x"]);
        assert!(cookie_tokens(&HeaderMap::new()).is_empty());
    }

    #[test]
    fn login_body_parsing() {
        let body = br#"{"aaaUser":{"attributes":{"name":"admin","pwd":"Admin_1234!"}}}"#;
        assert_eq!(
            login_credentials(body),
            Some(("admin".into(), "Admin_1234!".into()))
        );
        assert_eq!(
            login_credentials(br#"{"aaaUser":{"attributes":{"name":"admin"}}}"#),
            None
        );
        assert_eq!(login_credentials(b"not json"), None);
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
    }
}
