//! What the writer announces after each commit, for the live feed: every newly stored event, in
//! seq order, with the fields a feed filters on and its JSON with the right `seq`. Nothing is
//! built unless somebody listens, so ingest pays nothing for a feed nobody reads.

use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use tokio::sync::mpsc;

use crate::event::{AlarmState, Event, Severity};

/// One committed event.
#[derive(Debug, Clone, PartialEq)]
pub struct Committed {
    pub seq: u64,
    /// The event's time (the device's), epoch milliseconds.
    pub time_ms: i64,
    /// The source's name (the CloudEvents `source` without `/netpulse/`).
    pub source: String,
    pub device: String,
    /// The CloudEvents `type`.
    pub kind: String,
    pub severity: Severity,
    pub alarmstate: AlarmState,
    pub subject: Option<String>,
    /// The CloudEvents JSON of the event, `seq` included.
    pub json: String,
}

/// The writer's end of the announcements: a count of listeners, and a bounded queue to the hub.
#[derive(Debug, Clone)]
pub struct CommitTap {
    listeners: Arc<AtomicUsize>,
    sender: mpsc::Sender<Arc<Committed>>,
    /// Set when an announcement did not fit in the queue (see [`Announcements::overflowed`]).
    overflowed: Arc<AtomicBool>,
}

/// The hub's end: the announcements, in seq order, and whether some were dropped.
#[derive(Debug)]
pub struct Announcements {
    receiver: mpsc::Receiver<Arc<Committed>>,
    overflowed: Arc<AtomicBool>,
}

impl CommitTap {
    /// A tap and the receiving end that the feed hub drains, holding at most `capacity`
    /// announcements. `listeners` is the hub's count of subscribers: while it is zero the writer
    /// builds nothing.
    pub fn new(listeners: Arc<AtomicUsize>, capacity: usize) -> (CommitTap, Announcements) {
        let (sender, receiver) = mpsc::channel(capacity.max(1));
        let overflowed = Arc::new(AtomicBool::new(false));
        let tap = CommitTap {
            listeners,
            sender,
            overflowed: overflowed.clone(),
        };
        (
            tap,
            Announcements {
                receiver,
                overflowed,
            },
        )
    }

    /// True when a subscriber may want the events committed now. SeqCst pairs with the
    /// subscriber's increment: an event committed before a subscriber counted itself is found by
    /// that subscriber's catch-up query, one committed after is announced.
    pub(super) fn active(&self) -> bool {
        self.listeners.load(Ordering::SeqCst) > 0
    }

    /// Hands `committed` to the hub without waiting: the writer never waits for the feed. When
    /// the queue is full the announcement is dropped and the hub told so; it then tells every
    /// client to resume, which reads what was dropped from the store.
    pub(super) fn announce(&self, committed: Committed) {
        match self.sender.try_send(Arc::new(committed)) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(_)) => {
                // Before any later announcement is sent, so the hub sees the flag no later than
                // the first announcement after the gap.
                self.overflowed.store(true, Ordering::SeqCst);
                metrics::counter!("netpulse_feed_announcements_dropped_total").increment(1);
            }
            // The hub only goes away at shutdown; nothing to do then.
            Err(mpsc::error::TrySendError::Closed(_)) => {}
        }
    }
}

impl Announcements {
    /// Waits for announcements and moves up to `limit` of them into `buffer`; 0 once the store has
    /// closed its end.
    pub async fn recv_many(&mut self, buffer: &mut Vec<Arc<Committed>>, limit: usize) -> usize {
        self.receiver.recv_many(buffer, limit).await
    }

    /// True (once) when announcements were dropped since the last call because the queue was
    /// full: whatever was received since may follow a gap. Call it after receiving.
    pub fn overflowed(&self) -> bool {
        self.overflowed.swap(false, Ordering::SeqCst)
    }

    /// Announcements waiting.
    pub fn len(&self) -> usize {
        self.receiver.len()
    }

    pub fn is_empty(&self) -> bool {
        self.receiver.is_empty()
    }
}

/// `body` (an event serialized with any `seq`) with its `seq` set to `seq`.
///
/// The envelope's `seq` is the first `,"seq":` in the text: the fields serialized before it
/// (`specversion`, `id`, `source`, `type`, `time`, `subject`, `datacontenttype`) are strings, in
/// which a quote is always escaped, and `data` comes last. A body without it is parsed instead.
pub fn with_seq(body: &str, seq: u64) -> String {
    const KEY: &str = ",\"seq\":";
    if let Some(at) = body.find(KEY) {
        let start = at + KEY.len();
        let digits = body[start..].bytes().take_while(u8::is_ascii_digit).count();
        if digits > 0 {
            let mut json = String::with_capacity(body.len() + 20);
            json.push_str(&body[..start]);
            let _ = write!(json, "{seq}");
            json.push_str(&body[start + digits..]);
            return json;
        }
    }
    match serde_json::from_str::<Event>(body) {
        Ok(mut event) => {
            event.seq = seq;
            serde_json::to_string(&event).unwrap_or_else(|_| body.to_owned())
        }
        Err(_) => body.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_envelope_seq_is_set_and_lookalikes_in_strings_and_data_are_left_alone() {
        let mut event = Event::new(
            "leaf1",
            "com.example.test",
            jiff::Timestamp::UNIX_EPOCH,
            serde_json::json!({"seq": 5, "text": ",\"seq\":7"}),
        );
        event.subject = Some(",\"seq\":9,".to_owned());
        event.seq = 0;
        let body = serde_json::to_string(&event).unwrap();
        let json = with_seq(&body, 1234);
        let parsed: Event = serde_json::from_str(&json).unwrap();
        assert_eq!(parsed.seq, 1234);
        assert_eq!(parsed.subject, event.subject);
        assert_eq!(parsed.data, event.data);
    }
}
