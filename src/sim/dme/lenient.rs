//! A read-side wrapper that percent-encodes the few characters of an HTTP/1.1 request target that
//! the `http` crate refuses (`"`, `<`, `>`, `` ` ``, `#`, space, control bytes) before hyper parses
//! the request.
//!
//! The devices accept `query-target-filter=eq(l1PhysIf.id,"eth1/1")` with a raw `"` — curl sends
//! it as typed and Go clients such as aci-containers build raw queries on purpose ("properly
//! encoding the URI query parameters breaks APIC") — while hyper answers 400 to a raw `"` in a
//! query. The query parser percent-decodes everything anyway, so encoding here changes nothing
//! for the handlers.
//!
//! It follows HTTP/1.1 framing just enough to find each request line: headers up to the empty
//! line, then `Content-Length` bytes of body. After a chunked body or an upgrade (the WebSocket)
//! it steps aside for the rest of the connection, at no cost.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// A request line or header longer than this is passed on untouched (hyper rejects it anyway).
const MAX_LINE_BYTES: usize = 64 * 1024;

#[derive(Debug, PartialEq, Eq)]
enum Framing {
    RequestLine,
    Headers {
        content_length: u64,
        steps_aside: bool,
    },
    Body {
        remaining: u64,
    },
    PassThrough,
}

/// See the module documentation.
pub struct LenientTarget<Io> {
    inner: Io,
    framing: Framing,
    line: Vec<u8>,
    pending: Vec<u8>,
}

impl<Io> LenientTarget<Io> {
    pub fn new(inner: Io) -> LenientTarget<Io> {
        LenientTarget {
            inner,
            framing: Framing::RequestLine,
            line: Vec::new(),
            pending: Vec::new(),
        }
    }

    /// Runs `input` through the framing state machine, appending the output to `pending`.
    fn process(&mut self, mut input: &[u8]) {
        while !input.is_empty() {
            match &mut self.framing {
                Framing::PassThrough => {
                    self.pending.extend_from_slice(input);
                    return;
                }
                Framing::Body { remaining } => {
                    let taken = input
                        .len()
                        .min(usize::try_from(*remaining).unwrap_or(usize::MAX));
                    self.pending.extend_from_slice(&input[..taken]);
                    *remaining -= taken as u64;
                    input = &input[taken..];
                    if *remaining == 0 {
                        self.framing = Framing::RequestLine;
                    }
                }
                Framing::RequestLine | Framing::Headers { .. } => {
                    let end = input.iter().position(|byte| *byte == b'\n');
                    let taken = end.map_or(input.len(), |index| index + 1);
                    self.line.extend_from_slice(&input[..taken]);
                    input = &input[taken..];
                    if end.is_some() {
                        self.finish_line();
                    } else if self.line.len() > MAX_LINE_BYTES {
                        self.step_aside();
                    }
                }
            }
        }
    }

    /// Handles one complete line (ending in `\n`) of the request head.
    fn finish_line(&mut self) {
        let line = std::mem::take(&mut self.line);
        match &mut self.framing {
            Framing::RequestLine if line == b"\r\n" || line == b"\n" => {
                self.pending.extend_from_slice(&line)
            }
            Framing::RequestLine => {
                self.pending.extend_from_slice(&encode_request_line(&line));
                self.framing = Framing::Headers {
                    content_length: 0,
                    steps_aside: false,
                };
            }
            Framing::Headers {
                content_length,
                steps_aside,
            } => {
                self.pending.extend_from_slice(&line);
                if line == b"\r\n" || line == b"\n" {
                    self.framing = match (*steps_aside, *content_length) {
                        (true, _) => Framing::PassThrough,
                        (false, 0) => Framing::RequestLine,
                        (false, remaining) => Framing::Body { remaining },
                    };
                    return;
                }
                let text = String::from_utf8_lossy(&line);
                let Some((name, value)) = text.split_once(':') else {
                    return;
                };
                let (name, value) = (
                    name.trim().to_ascii_lowercase(),
                    value.trim().to_ascii_lowercase(),
                );
                match name.as_str() {
                    "content-length" => match value.parse() {
                        Ok(length) => *content_length = length,
                        Err(_) => *steps_aside = true,
                    },
                    "transfer-encoding" | "upgrade" => *steps_aside = true,
                    _ => {}
                }
            }
            Framing::Body { .. } | Framing::PassThrough => self.pending.extend_from_slice(&line),
        }
    }

    fn step_aside(&mut self) {
        self.pending.append(&mut self.line);
        self.framing = Framing::PassThrough;
    }
}

/// `METHOD target HTTP/x.y` with the target's offending bytes percent-encoded; spaces inside the
/// target (a line with more than two spaces) become `%20`. Anything else is returned unchanged.
fn encode_request_line(line: &[u8]) -> Vec<u8> {
    let body_end = line.len() - if line.ends_with(b"\r\n") { 2 } else { 1 };
    let body = &line[..body_end];
    let (Some(first), Some(last)) = (
        body.iter().position(|byte| *byte == b' '),
        body.iter().rposition(|byte| *byte == b' '),
    ) else {
        return line.to_vec();
    };
    if first == last || !body[last + 1..].starts_with(b"HTTP/") {
        return line.to_vec();
    }
    let mut out = Vec::with_capacity(line.len() + 16);
    out.extend_from_slice(&body[..=first]);
    for byte in &body[first + 1..last] {
        match byte {
            b'"' | b'#' | b'<' | b'>' | b'`' | 0..=b' ' | 0x7F => {
                out.extend_from_slice(format!("%{byte:02X}").as_bytes())
            }
            other => out.push(*other),
        }
    }
    out.extend_from_slice(&line[last..]);
    out
}

impl<Io: AsyncRead + Unpin> AsyncRead for LenientTarget<Io> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if buf.remaining() == 0 {
            return Poll::Ready(Ok(()));
        }
        loop {
            if !this.pending.is_empty() {
                let count = this.pending.len().min(buf.remaining());
                buf.put_slice(&this.pending[..count]);
                this.pending.drain(..count);
                return Poll::Ready(Ok(()));
            }
            if this.framing == Framing::PassThrough && this.line.is_empty() {
                return Pin::new(&mut this.inner).poll_read(cx, buf);
            }
            let before = buf.filled().len();
            ready!(Pin::new(&mut this.inner).poll_read(cx, buf))?;
            if buf.filled().len() == before {
                // End of stream: hand over a partial line as it is.
                this.pending.append(&mut this.line);
                if this.pending.is_empty() {
                    return Poll::Ready(Ok(()));
                }
                continue;
            }
            let input = buf.filled()[before..].to_vec();
            buf.set_filled(before);
            this.process(&input);
        }
    }
}

impl<Io: AsyncWrite + Unpin> AsyncWrite for LenientTarget<Io> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, data)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buffers: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, buffers)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::AsyncReadExt;

    use super::*;

    async fn through(input: &[u8]) -> String {
        let mut output = Vec::new();
        LenientTarget::new(input)
            .read_to_end(&mut output)
            .await
            .unwrap();
        String::from_utf8(output).unwrap()
    }

    #[tokio::test]
    async fn encodes_quotes_in_targets_only() {
        let input = "GET /api/class/l2BD.json?query-target-filter=eq(l2BD.id,\"101\") HTTP/1.1\r\nX-Quote: \"kept\"\r\n\r\n";
        let expected = "GET /api/class/l2BD.json?query-target-filter=eq(l2BD.id,%22101%22) HTTP/1.1\r\nX-Quote: \"kept\"\r\n\r\n";
        assert_eq!(through(input.as_bytes()).await, expected);
    }

    #[tokio::test]
    async fn skips_bodies_and_handles_keep_alive() {
        let body = "{\"a\":\"GET /x\\\"y HTTP/1.1\"}";
        let input = format!(
            "POST /api/aaaLogin.json HTTP/1.1\r\nContent-Length: {}\r\n\r\n{body}GET /a?b=\"c d\" HTTP/1.1\r\n\r\n",
            body.len()
        );
        let expected = format!(
            "POST /api/aaaLogin.json HTTP/1.1\r\nContent-Length: {}\r\n\r\n{body}GET /a?b=%22c%20d%22 HTTP/1.1\r\n\r\n",
            body.len()
        );
        assert_eq!(through(input.as_bytes()).await, expected);
    }

    #[tokio::test]
    async fn steps_aside_after_an_upgrade() {
        let input =
            "GET /socketab/c+d= HTTP/1.1\r\nUpgrade: websocket\r\n\r\nGET /\"raw\" HTTP/1.1\r\n";
        assert_eq!(through(input.as_bytes()).await, input);
    }

    #[test]
    fn leaves_odd_lines_alone() {
        assert_eq!(encode_request_line(b"garbage\r\n"), b"garbage\r\n");
        assert_eq!(encode_request_line(b"GET /x\r\n"), b"GET /x\r\n");
        assert_eq!(encode_request_line(b"GET /a b c\r\n"), b"GET /a b c\r\n");
    }
}
