//! Webex's public ids ("Hydra" ids): `base64("ciscospark://<cluster>/<KIND>/<uuid>")`, written
//! without padding in the standard or the URL-safe alphabet. An id that comes from a peer is
//! checked to be one before it goes into a URL.

use base64::Engine as _;

/// Longer than any Webex id (a message id is 76 characters).
const MAX_ID_CHARS: usize = 512;

/// Why a text is not a Webex id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{text:?} is not a Webex id ({reason})")]
pub struct NotAnId {
    /// The text, cut to 80 characters.
    pub text: String,
    pub reason: &'static str,
}

/// `id` when it is base64 of a `ciscospark://` URI.
pub fn check(id: &str) -> Result<&str, NotAnId> {
    let refuse = |reason| NotAnId {
        text: id.chars().take(80).collect(),
        reason,
    };
    if id.is_empty() || id.len() > MAX_ID_CHARS {
        return Err(refuse("empty or too long"));
    }
    let unpadded = id.trim_end_matches('=');
    let engine = if unpadded.contains(['-', '_']) {
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
    } else {
        &base64::engine::general_purpose::STANDARD_NO_PAD
    };
    let decoded = engine.decode(unpadded).map_err(|_| refuse("not base64"))?;
    if !decoded.starts_with(b"ciscospark://") {
        return Err(refuse("not a ciscospark:// URI"));
    }
    // What follows the scheme is `<cluster>/<KIND>/<id>`, printable text with no path tricks.
    let uri = std::str::from_utf8(&decoded).map_err(|_| refuse("not text"))?;
    if uri
        .bytes()
        .any(|byte| byte.is_ascii_control() || byte == b' ')
        || uri.contains("/../")
        || uri.split('/').count() < 5
    {
        return Err(refuse("not a ciscospark://<cluster>/<kind>/<id> URI"));
    }
    Ok(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn webex_ids_pass_and_everything_else_is_refused() {
        // From Webex's documentation (the message of the webhook example) and as Webex writes
        // an activity's id.
        let documented =
            "Y2lzY29zcGFyazovL3VzL01FU1NBR0UvOTJkYjNiZTAtNDNiZC0xMWU2LThhZTktZGQ1YjNkZmM1NjVk";
        assert_eq!(check(documented), Ok(documented));
        let padded = base64::engine::general_purpose::STANDARD.encode("ciscospark://us/ROOM/a1");
        assert!(padded.ends_with('='));
        assert!(check(&padded).is_ok());
        let url_safe = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode("ciscospark://us/MESSAGE/???>>>");
        assert!(url_safe.contains(['-', '_']), "{url_safe}");
        assert!(check(&url_safe).is_ok());
        for bad in [
            "",
            "../rooms",
            "..%2Frooms",
            "abc/def",
            "a?b=c",
            "Y2lzY29zcGFyazovL3Vz",
            &base64::engine::general_purpose::STANDARD.encode("https://evil/MESSAGE/1"),
            &base64::engine::general_purpose::STANDARD.encode("ciscospark://us/../../rooms"),
            &"A".repeat(600),
        ] {
            assert!(check(bad).is_err(), "{bad:?} passed");
        }
        assert_eq!(
            check("../rooms").unwrap_err().to_string(),
            "\"../rooms\" is not a Webex id (not base64)"
        );
    }
}
