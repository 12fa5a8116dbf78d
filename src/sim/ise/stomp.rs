//! STOMP 1.2 as the simulated node speaks it, written from the specification
//! (<https://stomp.github.io/stomp-specification-1.2.html>) alone. netpulse's own codec
//! (`source::pxgrid::stomp`) is what the simulator tests, so it must not share a line with it: a
//! bug mirrored on both sides would be seen by no test.
//!
//! What the specification says, and where this file does it:
//! - "Frames and Headers": a frame is a command, an end of line, headers each ended by an end of
//!   line, an empty line, the body, and a NUL octet; an end of line is LF or CR LF
//!   ([`Cursor::line`]). Any number of end-of-line octets may follow a frame.
//! - "Value Encoding": in header names and values, `\r`, `\n`, `:` and `\` are written `\r`,
//!   `\n`, `\c` and `\\`; any other escape is a fatal error; CONNECT and CONNECTED frames are not
//!   escaped ([`escaped`]).
//! - "Header content-length": when present, exactly that many octets are the body, which may hold
//!   NULs, and a NUL must follow them; when absent, the body runs to the first NUL.
//! - "Repeated Header Entries": only the first value of a repeated header counts ([`Frame::first`]).
//! - "Heart-beating": `heart-beat: cx,cy`, and a heart-beat on the wire is an end of line sent
//!   between frames ([`HeartBeat`], [`Received::HeartBeat`]).

use std::fmt;
use std::time::Duration;

/// The octets of one heart-beat: a single LF.
pub const HEART_BEAT: &[u8] = b"\n";

/// One frame, headers in the order they came or were added.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    pub command: String,
    headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// What one WebSocket message held, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Received {
    HeartBeat,
    Frame(Frame),
}

/// Why a message is not STOMP 1.2: the text goes into the ERROR frame the client is sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StompError(String);

impl fmt::Display for StompError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(&self.0)
    }
}

fn fail<T>(reason: impl Into<String>) -> Result<T, StompError> {
    Err(StompError(reason.into()))
}

/// Header octets are escaped in every frame but these two ("Value Encoding").
fn escaped(command: &str) -> bool {
    command != "CONNECT" && command != "CONNECTED"
}

impl Frame {
    pub fn new(command: &str) -> Frame {
        Frame {
            command: command.to_owned(),
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    pub fn with(mut self, name: &str, value: impl ToString) -> Frame {
        self.headers.push((name.to_owned(), value.to_string()));
        self
    }

    /// Sets the body and a `content-length` header that counts it.
    pub fn with_body(self, body: &[u8]) -> Frame {
        let mut frame = self.with("content-length", body.len());
        frame.body = body.to_vec();
        frame
    }

    /// The value of the first header called `name`.
    pub fn first(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find_map(|(key, value)| (key == name).then_some(value.as_str()))
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let escape = escaped(&self.command);
        let mut wire = Vec::with_capacity(self.command.len() + self.body.len() + 128);
        wire.extend_from_slice(self.command.as_bytes());
        wire.push(b'\n');
        for (name, value) in &self.headers {
            put_header_text(&mut wire, name, escape);
            wire.push(b':');
            put_header_text(&mut wire, value, escape);
            wire.push(b'\n');
        }
        wire.push(b'\n');
        wire.extend_from_slice(&self.body);
        wire.push(b'\0');
        wire
    }
}

fn put_header_text(wire: &mut Vec<u8>, text: &str, escape: bool) {
    if !escape {
        wire.extend_from_slice(text.as_bytes());
        return;
    }
    for character in text.chars() {
        match character {
            '\r' => wire.extend_from_slice(br"\r"),
            '\n' => wire.extend_from_slice(br"\n"),
            ':' => wire.extend_from_slice(br"\c"),
            '\\' => wire.extend_from_slice(br"\\"),
            other => {
                let mut utf8 = [0; 4];
                wire.extend_from_slice(other.encode_utf8(&mut utf8).as_bytes());
            }
        }
    }
}

/// Reads every frame and heart-beat of one WebSocket message.
pub fn parse_message(message: &[u8]) -> Result<Vec<Received>, StompError> {
    let mut cursor = Cursor {
        octets: message,
        at: 0,
    };
    let mut received = Vec::new();
    while !cursor.done() {
        if cursor.end_of_line() {
            received.push(Received::HeartBeat);
        } else {
            received.push(Received::Frame(cursor.frame()?));
        }
    }
    Ok(received)
}

/// A position in a message being read.
struct Cursor<'a> {
    octets: &'a [u8],
    at: usize,
}

impl<'a> Cursor<'a> {
    fn done(&self) -> bool {
        self.at >= self.octets.len()
    }

    /// Steps over one end of line (LF or CR LF) if one is next.
    fn end_of_line(&mut self) -> bool {
        let rest = &self.octets[self.at..];
        let length = if rest.starts_with(b"\n") {
            1
        } else if rest.starts_with(b"\r\n") {
            2
        } else {
            return false;
        };
        self.at += length;
        true
    }

    /// The octets up to the next end of line, which is stepped over.
    fn line(&mut self) -> Result<&'a [u8], StompError> {
        let rest = &self.octets[self.at..];
        let Some(lf) = rest.iter().position(|octet| *octet == b'\n') else {
            return fail("the frame ends before its headers do");
        };
        self.at += lf + 1;
        let line = &rest[..lf];
        Ok(line.strip_suffix(b"\r").unwrap_or(line))
    }

    fn frame(&mut self) -> Result<Frame, StompError> {
        let command = self.line()?;
        if command.is_empty() || !command.iter().all(u8::is_ascii_alphabetic) {
            return fail(format!(
                "{:?} is not a STOMP command",
                String::from_utf8_lossy(command)
            ));
        }
        let mut frame = Frame::new(&String::from_utf8_lossy(command));
        let escape = escaped(&frame.command);
        loop {
            let line = self.line()?;
            if line.is_empty() {
                break;
            }
            let Some(colon) = line.iter().position(|octet| *octet == b':') else {
                return fail("a header line has no ':'");
            };
            let name = header_text(&line[..colon], escape)?;
            let value = header_text(&line[colon + 1..], escape)?;
            frame.headers.push((name, value));
        }
        frame.body = self.body(frame.first("content-length"))?;
        Ok(frame)
    }

    /// The body and the NUL after it.
    fn body(&mut self, content_length: Option<&str>) -> Result<Vec<u8>, StompError> {
        let rest = &self.octets[self.at..];
        let length = match content_length {
            Some(text) => match text.parse::<usize>() {
                Ok(length) if length < rest.len() && rest[length] == b'\0' => length,
                Ok(_) => return fail("no NUL where content-length says the body ends"),
                Err(_) => return fail(format!("content-length {text:?} is not a number")),
            },
            None => match rest.iter().position(|octet| *octet == b'\0') {
                Some(nul) => nul,
                None => return fail("the frame has no terminating NUL"),
            },
        };
        self.at += length + 1;
        Ok(rest[..length].to_vec())
    }
}

/// A header name or value as text: unescaped in frames that escape, UTF-8 in every frame.
fn header_text(raw: &[u8], escape: bool) -> Result<String, StompError> {
    let mut octets = Vec::with_capacity(raw.len());
    let mut iter = raw.iter();
    while let Some(&octet) = iter.next() {
        if !escape || octet != b'\\' {
            octets.push(octet);
            continue;
        }
        octets.push(match iter.next() {
            Some(b'r') => b'\r',
            Some(b'n') => b'\n',
            Some(b'c') => b':',
            Some(b'\\') => b'\\',
            Some(other) => {
                return fail(format!(
                    "undefined escape sequence \\{}",
                    char::from(*other)
                ));
            }
            None => return fail("a header ends with a lone backslash"),
        });
    }
    String::from_utf8(octets).map_err(|_| StompError("a header is not UTF-8".to_owned()))
}

/// One side's `heart-beat` header: the smallest interval it can send at, and the one it wants
/// to receive at; 0 means never.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct HeartBeat {
    pub can_send: Duration,
    pub wants: Duration,
}

impl HeartBeat {
    /// An absent header is `0,0`.
    pub fn from_header(value: Option<&str>) -> Result<HeartBeat, StompError> {
        let Some(value) = value else {
            return Ok(HeartBeat::default());
        };
        let millis = |text: &str| text.trim().parse::<u64>().map(Duration::from_millis);
        match value.split(',').collect::<Vec<_>>()[..] {
            [can_send, wants] => match (millis(can_send), millis(wants)) {
                (Ok(can_send), Ok(wants)) => Ok(HeartBeat { can_send, wants }),
                _ => fail(format!("heart-beat {value:?} is not two numbers")),
            },
            _ => fail(format!("heart-beat {value:?} is not two numbers")),
        }
    }

    pub fn header_value(&self) -> String {
        format!("{},{}", self.can_send.as_millis(), self.wants.as_millis())
    }

    /// How often a sender whose header is `self` sends to a receiver whose header is
    /// `receiver`: never when either says 0, else the larger of the two ("Heart-beating").
    pub fn sending_to(&self, receiver: &HeartBeat) -> Option<Duration> {
        if self.can_send.is_zero() || receiver.wants.is_zero() {
            None
        } else {
            Some(self.can_send.max(receiver.wants))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frames(message: &[u8]) -> Vec<Frame> {
        parse_message(message)
            .unwrap()
            .into_iter()
            .filter_map(|item| match item {
                Received::Frame(frame) => Some(frame),
                Received::HeartBeat => None,
            })
            .collect()
    }

    #[test]
    fn the_specification_s_examples_read_as_written() {
        // "Frames and Headers" and "SUBSCRIBE" in the specification.
        let connect = b"CONNECT\naccept-version:1.2\nhost:stomp.github.org\n\n\0";
        let frame = &frames(connect)[0];
        assert_eq!(frame.command, "CONNECT");
        assert_eq!(frame.first("accept-version"), Some("1.2"));
        assert_eq!(frame.first("host"), Some("stomp.github.org"));
        let subscribe = b"SUBSCRIBE\nid:0\ndestination:/queue/foo\nack:client\n\n\0";
        assert_eq!(
            frames(subscribe)[0].first("destination"),
            Some("/queue/foo")
        );
    }

    #[test]
    fn a_message_is_written_with_its_content_length_and_a_nul() {
        let frame = Frame::new("MESSAGE")
            .with("subscription", 0)
            .with("destination", "/topic/a")
            .with_body(b"{}");
        assert_eq!(
            frame.to_bytes(),
            b"MESSAGE\nsubscription:0\ndestination:/topic/a\ncontent-length:2\n\n{}\0"
        );
    }

    #[test]
    fn header_octets_are_escaped_except_in_connect_and_connected() {
        let frame = Frame::new("RECEIPT").with("receipt-id", "a:b\\c\r\nd");
        let wire = frame.to_bytes();
        assert_eq!(wire, b"RECEIPT\nreceipt-id:a\\cb\\\\c\\r\\nd\n\n\0");
        assert_eq!(frames(&wire), vec![frame]);
        // "CONNECT and CONNECTED frames do not escape": the backslash is a backslash.
        let connected = Frame::new("CONNECTED").with("server", "a\\nb");
        assert_eq!(connected.to_bytes(), b"CONNECTED\nserver:a\\nb\n\n\0");
        assert_eq!(
            frames(b"CONNECT\nlogin:a\\tb\n\n\0")[0].first("login"),
            Some("a\\tb")
        );
    }

    #[test]
    fn an_undefined_escape_is_fatal() {
        let error = parse_message(b"SEND\ndestination:a\\tb\n\n\0").unwrap_err();
        assert_eq!(error.to_string(), "undefined escape sequence \\t");
        assert!(parse_message(b"SEND\ndestination:a\\\n\n\0").is_err());
    }

    #[test]
    fn content_length_counts_octets_including_nuls() {
        assert_eq!(frames(b"SEND\ncontent-length:3\n\na\0b\0")[0].body, b"a\0b");
        assert!(parse_message(b"SEND\ncontent-length:2\n\na\0b\0").is_err());
        assert!(parse_message(b"SEND\ncontent-length:9\n\nab\0").is_err());
        assert!(parse_message(b"SEND\ncontent-length:x\n\nab\0").is_err());
    }

    #[test]
    fn heart_beats_and_frames_share_a_message_and_cr_lf_ends_lines() {
        let message = b"\r\n\nSEND\r\ndestination:/a\r\n\r\nhi\0\n\nDISCONNECT\nreceipt:7\n\n\0";
        let received = parse_message(message).unwrap();
        assert_eq!(received.len(), 6);
        assert_eq!(received[..2], [Received::HeartBeat, Received::HeartBeat]);
        assert!(
            matches!(&received[2], Received::Frame(frame) if frame.body == b"hi" && frame.first("destination") == Some("/a"))
        );
        assert_eq!(received[3..5], [Received::HeartBeat, Received::HeartBeat]);
        assert!(
            matches!(&received[5], Received::Frame(frame) if frame.first("receipt") == Some("7"))
        );
        assert_eq!(parse_message(HEART_BEAT).unwrap(), [Received::HeartBeat]);
    }

    #[test]
    fn the_first_of_repeated_headers_counts() {
        let frame = &frames(b"MESSAGE\nfoo:World\nfoo:Hello\n\n\0")[0];
        assert_eq!(frame.first("foo"), Some("World"));
    }

    #[test]
    fn broken_frames_are_refused() {
        for broken in [
            &b"SEND\ndestination:/a\n\nno nul"[..],
            b"SEND\ndestination:/a",
            b"SEND\nno colon\n\n\0",
            b"se nd\n\n\0",
            b"\0",
        ] {
            assert!(parse_message(broken).is_err(), "{broken:?}");
        }
    }

    #[test]
    fn heart_beats_are_negotiated_as_the_specification_says() {
        let client = HeartBeat::from_header(Some("0,1000")).unwrap();
        let server = HeartBeat::from_header(Some("500,0")).unwrap();
        // The server sends every max(500, 1000) ms; the client, which can send none, never.
        assert_eq!(
            server.sending_to(&client),
            Some(Duration::from_millis(1000))
        );
        assert_eq!(client.sending_to(&server), None);
        assert_eq!(HeartBeat::from_header(None).unwrap(), HeartBeat::default());
        assert!(HeartBeat::from_header(Some("1,2,3")).is_err());
        assert!(HeartBeat::from_header(Some("a,b")).is_err());
        assert_eq!(server.header_value(), "500,0");
    }

    /// Written apart, the two codecs must still agree on the wire: each reads what the other
    /// writes, escapes, NULs in bodies and heart-beats included. (A test may compare with
    /// netpulse's codec; the simulator itself never uses it.)
    #[test]
    fn netpulse_s_codec_and_this_one_read_each_other() {
        use crate::source::pxgrid::stomp as netpulse;
        let ours = Frame::new("MESSAGE")
            .with("destination", "/topic/a:b")
            .with("x-odd", "back\\slash\nnew\rline")
            .with_body(b"{\"sessions\":[]}\0tail");
        let mut wire = HEART_BEAT.to_vec();
        wire.extend(ours.to_bytes());
        let read = netpulse::decode(&wire).unwrap();
        assert_eq!(read[0], netpulse::Item::Heartbeat);
        let netpulse::Item::Frame(theirs) = &read[1] else {
            panic!("{read:?}")
        };
        assert_eq!(theirs.command, "MESSAGE");
        assert_eq!(theirs.get("destination"), Some("/topic/a:b"));
        assert_eq!(theirs.get("x-odd"), Some("back\\slash\nnew\rline"));
        assert_eq!(theirs.body, ours.body);

        let subscribe = netpulse::Frame::new("SUBSCRIBE")
            .header("destination", "/topic/com.cisco.ise.session")
            .header("id", "0:1");
        let connect = netpulse::Frame::new("CONNECT").header("host", "ise:8910");
        let mut wire = connect.encode();
        wire.extend(b"\r\n");
        wire.extend(subscribe.encode());
        let frames = frames(&wire);
        assert_eq!(frames[0].first("host"), Some("ise:8910"));
        assert_eq!(frames[1].first("id"), Some("0:1"));
        assert_eq!(
            frames[1].first("destination"),
            Some("/topic/com.cisco.ise.session")
        );
    }
}
