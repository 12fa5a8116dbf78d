//! STOMP 1.2 frames as pxGrid carries them in binary WebSocket messages: pure encoding and
//! decoding, no IO, used by the pxGrid source (the ISE simulator has its own, `sim::ise::stomp`).
//!
//! A frame is `COMMAND\n`, `name:value\n` headers, an empty line, the body and a NUL. Header names
//! and values are escaped (`\\`, `\n`, `\r`, `\c` for `:`) in every frame but `CONNECT` and
//! `CONNECTED`, as STOMP 1.2 says. A bare end of line between frames is a heart-beat.

use std::fmt;

/// One STOMP frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    pub command: String,
    /// In order, repeated names kept; [`Frame::header`] returns the first, as STOMP 1.2 says.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// What a WebSocket message holds: heart-beats (end-of-line bytes) and frames, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item {
    Heartbeat,
    Frame(Frame),
}

/// Why bytes are not STOMP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError(pub String);

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid STOMP frame: {}", self.0)
    }
}

impl std::error::Error for DecodeError {}

/// The bytes of one heart-beat.
pub const HEARTBEAT: &[u8] = b"\n";

impl Frame {
    pub fn new(command: &str) -> Frame {
        Frame {
            command: command.to_owned(),
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    pub fn header(mut self, name: &str, value: impl Into<String>) -> Frame {
        self.headers.push((name.to_owned(), value.into()));
        self
    }

    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Frame {
        self.body = body.into();
        self
    }

    /// The first value of header `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }

    /// The topic a MESSAGE belongs to: `topics[i]` for `subscription: i` (topic i is subscribed
    /// with id i), else its `destination` header, else "".
    pub fn topic<'a>(&'a self, topics: &'a [String]) -> &'a str {
        self.get("subscription")
            .and_then(|id| id.parse::<usize>().ok())
            .and_then(|index| topics.get(index))
            .map(String::as_str)
            .or(self.get("destination"))
            .unwrap_or_default()
    }

    /// CONNECT and CONNECTED headers are not escaped (STOMP 1.2, "Value Encoding").
    fn escapes(&self) -> bool {
        !matches!(self.command.as_str(), "CONNECT" | "CONNECTED")
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(64 + self.body.len());
        out.extend_from_slice(self.command.as_bytes());
        out.push(b'\n');
        for (name, value) in &self.headers {
            if self.escapes() {
                escape_into(name, &mut out);
                out.push(b':');
                escape_into(value, &mut out);
            } else {
                out.extend_from_slice(name.as_bytes());
                out.push(b':');
                out.extend_from_slice(value.as_bytes());
            }
            out.push(b'\n');
        }
        out.push(b'\n');
        out.extend_from_slice(&self.body);
        out.push(0);
        out
    }
}

fn escape_into(text: &str, out: &mut Vec<u8>) {
    for byte in text.bytes() {
        match byte {
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b':' => out.extend_from_slice(b"\\c"),
            other => out.push(other),
        }
    }
}

fn unescape(raw: &[u8]) -> Result<String, DecodeError> {
    let mut out = Vec::with_capacity(raw.len());
    let mut bytes = raw.iter();
    while let Some(&byte) = bytes.next() {
        if byte != b'\\' {
            out.push(byte);
            continue;
        }
        match bytes.next() {
            Some(b'\\') => out.push(b'\\'),
            Some(b'n') => out.push(b'\n'),
            Some(b'r') => out.push(b'\r'),
            Some(b'c') => out.push(b':'),
            // STOMP 1.2: "Undefined escape sequences ... MUST be treated as a fatal error".
            other => {
                return Err(DecodeError(format!(
                    "undefined escape sequence \\{}",
                    other
                        .map(|b| char::from(*b).to_string())
                        .unwrap_or_default()
                )));
            }
        }
    }
    String::from_utf8(out).map_err(|_| DecodeError("header is not UTF-8".into()))
}

/// Decodes every heart-beat and frame of one WebSocket message.
pub fn decode(mut bytes: &[u8]) -> Result<Vec<Item>, DecodeError> {
    let mut items = Vec::new();
    loop {
        match bytes {
            [] => return Ok(items),
            [b'\n', rest @ ..] | [b'\r', b'\n', rest @ ..] => {
                items.push(Item::Heartbeat);
                bytes = rest;
            }
            _ => {
                let (frame, rest) = decode_frame(bytes)?;
                items.push(Item::Frame(frame));
                bytes = rest;
            }
        }
    }
}

/// Splits off one line (without its `\n` or `\r\n`).
fn line(bytes: &[u8]) -> Result<(&[u8], &[u8]), DecodeError> {
    let end = bytes
        .iter()
        .position(|b| *b == b'\n')
        .ok_or_else(|| DecodeError("frame ends inside its headers".into()))?;
    let text = bytes[..end].strip_suffix(b"\r").unwrap_or(&bytes[..end]);
    Ok((text, &bytes[end + 1..]))
}

fn decode_frame(bytes: &[u8]) -> Result<(Frame, &[u8]), DecodeError> {
    let (command, mut rest) = line(bytes)?;
    let command = std::str::from_utf8(command)
        .map_err(|_| DecodeError("command is not UTF-8".into()))?
        .to_owned();
    if command.is_empty() || !command.bytes().all(|b| b.is_ascii_uppercase()) {
        return Err(DecodeError(format!("bad command {command:?}")));
    }
    let mut frame = Frame::new(&command);
    let escapes = frame.escapes();
    loop {
        let (header, after) = line(rest)?;
        rest = after;
        if header.is_empty() {
            break;
        }
        let colon = header
            .iter()
            .position(|b| *b == b':')
            .ok_or_else(|| DecodeError("header without ':'".into()))?;
        let (name, value) = (&header[..colon], &header[colon + 1..]);
        let (name, value) = if escapes {
            (unescape(name)?, unescape(value)?)
        } else {
            let text = |raw: &[u8]| {
                String::from_utf8(raw.to_vec())
                    .map_err(|_| DecodeError("header is not UTF-8".into()))
            };
            (text(name)?, text(value)?)
        };
        frame.headers.push((name, value));
    }
    let body_end = match frame.get("content-length") {
        Some(length) => {
            let length: usize = length
                .trim()
                .parse()
                .map_err(|_| DecodeError(format!("bad content-length {length:?}")))?;
            if rest.get(length) != Some(&0) {
                return Err(DecodeError(
                    "body is not followed by NUL at content-length".into(),
                ));
            }
            length
        }
        None => rest
            .iter()
            .position(|b| *b == 0)
            .ok_or_else(|| DecodeError("frame is not NUL-terminated".into()))?,
    };
    frame.body = rest[..body_end].to_vec();
    Ok((frame, &rest[body_end + 1..]))
}

/// The `heart-beat` header value `cx,cy` in milliseconds; absent means `0,0`.
pub fn parse_heartbeat(value: Option<&str>) -> Result<(u64, u64), DecodeError> {
    let Some(value) = value else {
        return Ok((0, 0));
    };
    let bad = || DecodeError(format!("bad heart-beat {value:?}"));
    let (first, second) = value.split_once(',').ok_or_else(bad)?;
    let first = first.trim().parse().map_err(|_| bad())?;
    let second = second.trim().parse().map_err(|_| bad())?;
    Ok((first, second))
}

/// How often one side must send, given what it can send (`can`, from its own header) and what
/// the other side wants (`wants`, from the other header): 0 when either is 0, else the larger.
pub fn negotiate(can: u64, wants: u64) -> u64 {
    if can == 0 || wants == 0 {
        0
    } else {
        can.max(wants)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_a_subscribe_frame_nul_terminated() {
        let frame = Frame::new("SUBSCRIBE")
            .header("destination", "/topic/com.cisco.ise.session")
            .header("id", "my-id");
        assert_eq!(
            frame.encode(),
            b"SUBSCRIBE\ndestination:/topic/com.cisco.ise.session\nid:my-id\n\n\0"
        );
    }

    #[test]
    fn round_trips_a_message_with_a_body() {
        let body = br#"{"sessions":[{"state":"STARTED"}]}"#;
        let frame = Frame::new("MESSAGE")
            .header("subscription", "0")
            .header("message-id", "7")
            .header("content-length", body.len().to_string())
            .body(body.to_vec());
        let decoded = decode(&frame.encode()).unwrap();
        assert_eq!(decoded, vec![Item::Frame(frame)]);
    }

    #[test]
    fn escapes_headers_except_in_connect_frames() {
        let frame = Frame::new("MESSAGE").header("filter", "a:b\\c\nd\re");
        let bytes = frame.encode();
        assert!(bytes.starts_with(b"MESSAGE\nfilter:a\\cb\\\\c\\nd\\re\n\n"));
        assert_eq!(decode(&bytes).unwrap(), vec![Item::Frame(frame)]);

        let connect = Frame::new("CONNECT").header("host", "ise:8910");
        assert_eq!(connect.encode(), b"CONNECT\nhost:ise:8910\n\n\0");
        assert_eq!(
            decode(&connect.encode()).unwrap(),
            vec![Item::Frame(connect)]
        );
    }

    #[test]
    fn undefined_escape_is_an_error() {
        assert!(decode(b"MESSAGE\nkey:a\\tb\n\n\0").is_err());
    }

    #[test]
    fn heartbeats_and_several_frames_in_one_message() {
        let items = decode(b"\n\r\nRECEIPT\nreceipt-id:1\n\n\0\nERROR\n\nbad\0").unwrap();
        assert_eq!(items.len(), 5);
        assert_eq!(items[0], Item::Heartbeat);
        assert_eq!(items[1], Item::Heartbeat);
        assert!(matches!(&items[2], Item::Frame(f) if f.get("receipt-id") == Some("1")));
        assert_eq!(items[3], Item::Heartbeat);
        assert!(matches!(&items[4], Item::Frame(f) if f.command == "ERROR" && f.body == b"bad"));
        assert_eq!(decode(HEARTBEAT).unwrap(), vec![Item::Heartbeat]);
    }

    #[test]
    fn content_length_allows_nul_in_the_body_and_crlf_lines_are_accepted() {
        let items = decode(b"MESSAGE\r\ncontent-length:3\r\n\r\na\0b\0").unwrap();
        assert!(matches!(&items[0], Item::Frame(f) if f.body == b"a\0b"));
        assert!(decode(b"MESSAGE\ncontent-length:5\n\nab\0").is_err());
    }

    #[test]
    fn rejects_truncated_frames() {
        assert!(decode(b"MESSAGE\nid:1\n\n{}").is_err(), "no NUL");
        assert!(decode(b"MESSAGE\nid:1").is_err(), "no end of headers");
        assert!(decode(b"message\n\n\0").is_err(), "lower-case command");
    }

    #[test]
    fn first_of_repeated_headers_wins() {
        let items = decode(b"MESSAGE\nid:1\nid:2\n\n\0").unwrap();
        assert!(matches!(&items[0], Item::Frame(f) if f.get("id") == Some("1")));
    }

    #[test]
    fn heart_beat_negotiation() {
        assert_eq!(parse_heartbeat(Some("10000,5000")), Ok((10000, 5000)));
        assert_eq!(parse_heartbeat(None), Ok((0, 0)));
        assert!(parse_heartbeat(Some("x")).is_err());
        assert_eq!(negotiate(10000, 5000), 10000);
        assert_eq!(negotiate(0, 5000), 0);
        assert_eq!(negotiate(1000, 0), 0);
    }
}
