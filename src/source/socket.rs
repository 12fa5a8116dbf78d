//! What the session-holding protocols share about their WebSocket: reading it while a REST call
//! is in flight, so that pushes arriving meanwhile are kept in order instead of piling up.

use std::future::Future;

use futures_util::{Stream, StreamExt};
use tokio_tungstenite::tungstenite::{Error, Message};

/// Why the socket ended while a call was in flight.
#[derive(Debug, PartialEq)]
pub(crate) enum Interrupted {
    /// A close frame, or the end of the stream.
    Closed,
    Failed(String),
}

impl Interrupted {
    /// The protocol's error: `closed` or `failed` with the text (empty for a plain close).
    pub fn into_error<E>(self, closed: fn(String) -> E, failed: fn(String) -> E) -> E {
        match self {
            Interrupted::Closed => closed(String::new()),
            Interrupted::Failed(error) => failed(error),
        }
    }
}

/// Awaits `call` while reading `socket`: each message `keep` takes is pushed to `buffer`, in
/// order; others (pings, pongs) are skipped. A socket that ends or fails ends the wait.
pub(crate) async fn while_reading<F, S, T>(
    call: F,
    socket: &mut S,
    buffer: &mut Vec<T>,
    keep: fn(Message) -> Option<T>,
) -> Result<F::Output, Interrupted>
where
    F: Future,
    S: Stream<Item = Result<Message, Error>> + Unpin,
{
    tokio::pin!(call);
    loop {
        tokio::select! {
            output = &mut call => return Ok(output),
            message = socket.next() => match message {
                Some(Ok(Message::Close(_))) | None => return Err(Interrupted::Closed),
                Some(Ok(message)) => buffer.extend(keep(message)),
                Some(Err(error)) => return Err(Interrupted::Failed(error.to_string())),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(message: Message) -> Option<String> {
        match message {
            Message::Text(text) => Some(text.as_str().to_owned()),
            _ => None,
        }
    }

    /// A socket that yields `messages`, then stays open and silent.
    fn socket(
        messages: Vec<Result<Message, Error>>,
    ) -> impl Stream<Item = Result<Message, Error>> + Unpin {
        futures_util::stream::iter(messages).chain(futures_util::stream::pending())
    }

    #[tokio::test]
    async fn messages_that_arrive_during_the_call_are_kept_in_order() {
        let mut socket = socket(vec![
            Ok(Message::text("a")),
            Ok(Message::Ping(Vec::new().into())),
            Ok(Message::text("b")),
        ]);
        let mut buffer = Vec::new();
        let call = async {
            for _ in 0..10 {
                tokio::task::yield_now().await;
            }
            7
        };
        let output = while_reading(call, &mut socket, &mut buffer, text).await;
        assert_eq!(output, Ok(7));
        assert_eq!(buffer, ["a", "b"], "texts in order, the ping skipped");
    }

    #[tokio::test]
    async fn a_closed_ended_or_failed_socket_ends_the_wait() {
        let mut buffer = Vec::new();
        let mut closed = socket(vec![Ok(Message::Close(None))]);
        let ended = while_reading(std::future::pending::<()>(), &mut closed, &mut buffer, text);
        assert_eq!(ended.await, Err(Interrupted::Closed));

        let mut failed = socket(vec![Err(Error::ConnectionClosed)]);
        let ended = while_reading(std::future::pending::<()>(), &mut failed, &mut buffer, text);
        assert!(matches!(ended.await, Err(Interrupted::Failed(_))));

        let mut gone = futures_util::stream::empty();
        let ended = while_reading(std::future::pending::<()>(), &mut gone, &mut buffer, text);
        assert_eq!(
            ended.await,
            Err(Interrupted::Closed),
            "the end of the stream"
        );
    }
}
