//! How a webhook sender proves who it is. SD-WAN Manager sends HTTP Basic with the username and
//! password of the notification rule; the other providers' schemes (shared secrets, HMAC
//! signatures) join this module later.
//!
//! Secrets are compared in constant time: both sides are hashed with SHA-256 first, so neither the
//! position of the first differing byte nor the length of the expected secret shows in the timing.

use base64::Engine as _;
use sha2::{Digest, Sha256};

use crate::config::BasicAuth;

/// The expected Basic credentials, kept only as a digest of `username:password`.
pub struct BasicCredentials {
    digest: [u8; 32],
}

impl BasicCredentials {
    pub fn new(config: &BasicAuth) -> BasicCredentials {
        BasicCredentials {
            digest: digest_pair(config.username.as_bytes(), config.password().as_bytes()),
        }
    }

    /// Checks an `Authorization` header value. `false` for anything but matching Basic
    /// credentials: no header, another scheme, bad base64, no colon, a wrong user or password.
    pub fn verify(&self, authorization: Option<&[u8]>) -> bool {
        let Some(pair) = authorization.and_then(decode_basic) else {
            return false;
        };
        let Some(colon) = pair.iter().position(|byte| *byte == b':') else {
            return false;
        };
        let given = digest_pair(&pair[..colon], &pair[colon + 1..]);
        constant_time_eq(&given, &self.digest)
    }
}

/// The decoded `user:password` of a `Basic <base64>` header value (scheme case-insensitive).
fn decode_basic(value: &[u8]) -> Option<Vec<u8>> {
    let text = std::str::from_utf8(value).ok()?.trim();
    let (scheme, encoded) = text.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()
}

/// The username and password are hashed separately and then together, so `a:b:c` cannot be read
/// two ways.
fn digest_pair(username: &[u8], password: &[u8]) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(Sha256::digest(username));
    hasher.update(Sha256::digest(password));
    hasher.finalize().into()
}

/// The key of a Standard Webhooks secret: decoding a configured value is the configuration's.
pub use crate::config::standard_webhooks_key;

/// Compares every byte whatever the first difference, so the time taken says nothing about where
/// the values differ.
pub fn constant_time_eq(a: &[u8; 32], b: &[u8; 32]) -> bool {
    let difference = a
        .iter()
        .zip(b)
        .fold(0u8, |difference, (x, y)| difference | (x ^ y));
    std::hint::black_box(difference) == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Secret;

    fn credentials() -> BasicCredentials {
        BasicCredentials::new(&BasicAuth {
            username: "sevt".to_owned(),
            password: Some(Secret::new("sevt")),
            password_file: None,
        })
    }

    #[test]
    fn accepts_the_rule_credentials_as_sd_wan_manager_sends_them() {
        // `Authorization: Basic c2V2dDpzZXZ0` is sevt/sevt, as in the DevNet lab (reference §1.2).
        assert!(credentials().verify(Some(b"Basic c2V2dDpzZXZ0")));
        assert!(credentials().verify(Some(b"basic c2V2dDpzZXZ0")));
    }

    #[test]
    fn refuses_everything_else() {
        let refused: [Option<&[u8]>; 7] = [
            None,
            Some(b""),
            Some(b"Bearer c2V2dDpzZXZ0"),
            Some(b"Basic !!!"),
            Some(b"Basic c2V2dHNldnQ="),     // "sevtsevt": no colon
            Some(b"Basic c2V2dDpzZXZ1"),     // sevt:sevu
            Some(b"Basic c2V2dDpzZXZ0Og=="), // sevt:sevt:
        ];
        for value in refused {
            assert!(!credentials().verify(value), "{value:?}");
        }
    }
}
