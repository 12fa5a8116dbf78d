//! What the writer announces after each commit, for the live feed: every newly stored event, in
//! seq order, with the fields a feed filters on and its JSON with the right `seq`. Nothing is
//! built unless somebody listens, so ingest pays nothing for a feed nobody reads.

use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

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

/// The writer's end of the announcements: a count of listeners, and where to send.
#[derive(Debug, Clone)]
pub struct CommitTap {
    listeners: Arc<AtomicUsize>,
    sender: mpsc::UnboundedSender<Arc<Committed>>,
}

impl CommitTap {
    /// A tap and the receiving end that the feed hub drains. `listeners` is the hub's count of
    /// subscribers: while it is zero the writer builds nothing.
    pub fn new(
        listeners: Arc<AtomicUsize>,
    ) -> (CommitTap, mpsc::UnboundedReceiver<Arc<Committed>>) {
        let (sender, receiver) = mpsc::unbounded_channel();
        (CommitTap { listeners, sender }, receiver)
    }

    /// True when a subscriber may want the events committed now. SeqCst pairs with the
    /// subscriber's increment: an event committed before a subscriber counted itself is found by
    /// that subscriber's catch-up query, one committed after is announced.
    pub(super) fn active(&self) -> bool {
        self.listeners.load(Ordering::SeqCst) > 0
    }

    pub(super) fn announce(&self, committed: Committed) {
        // The hub only goes away at shutdown; nothing to do then.
        let _ = self.sender.send(Arc::new(committed));
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
