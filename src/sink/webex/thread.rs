//! Where a group's notifications go in a Webex room: the first one (number 1) starts a thread,
//! and its message id is stored (`Store::set_thread`); the later ones reply in that thread
//! (`parentId`), found again with `Reader::thread`, so a raise and its clear stay together. Every
//! part of a message split for length replies in the thread too, the first part of a thread's
//! first message being its parent.
//!
//! When no thread is known for a later notification (the group's first one was dead-lettered, or
//! the store lost it) the notification is posted unthreaded and starts the thread itself, so the
//! group's next notifications gather under it. When Webex refuses the parent (the message was
//! deleted from the room), the part is posted unthreaded and starts a new thread the same way: a
//! notification is never lost for want of its thread.

use crate::store::{Reader, Store};

/// The thread of one notification's delivery: the message its parts reply to, if any yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Thread {
    parent: Option<String>,
}

impl Thread {
    /// For notification `number` of its group, given the thread the store knows for the group
    /// (looked up for `number > 1` only: a group's first notification always starts a thread,
    /// replacing the thread of an earlier life of the same group).
    pub fn new(number: u32, stored: Option<String>) -> Thread {
        Thread {
            parent: if number > 1 { stored } else { None },
        }
    }

    /// The message the next part replies to; `None`: it is posted unthreaded.
    pub fn parent(&self) -> Option<&str> {
        self.parent.as_deref()
    }

    /// A part was posted as message `id`. When it was posted unthreaded it starts the thread:
    /// the later parts reply to it, and the answer is the id the store must remember as the
    /// group's thread.
    pub fn posted(&mut self, id: Option<String>) -> Option<String> {
        if self.parent.is_some() {
            return None;
        }
        self.parent = id.clone();
        id
    }

    /// Webex refused the parent: the next part is posted unthreaded (and starts a new thread).
    pub fn parent_refused(&mut self) {
        self.parent = None;
    }
}

/// The message that starts `group`'s thread in `sink`, read off the async runtime.
pub async fn stored(store: &Store, sink: &str, group: &str) -> anyhow::Result<Option<String>> {
    let path = store.path().to_owned();
    let (sink, group) = (sink.to_owned(), group.to_owned());
    tokio::task::spawn_blocking(move || Reader::open(&path)?.thread(&sink, &group))
        .await
        .map_err(|error| anyhow::anyhow!("the thread lookup panicked: {error}"))?
}

/// Remembers `message_id` as the start of `group`'s thread in `sink`. A failure is logged and
/// otherwise ignored: the message is in the room, and only the group's later notifications lose
/// their thread (they are posted unthreaded and start one).
pub async fn remember(store: &Store, sink: &str, group: &str, message_id: &str) {
    if let Err(error) = store.set_thread(sink, group, message_id).await {
        tracing::error!(sink, group, %error, "cannot store the thread of a group: its next notifications will not reply in it");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_first_notification_starts_a_thread_that_its_later_parts_reply_in() {
        let mut thread = Thread::new(1, Some("old-life".to_owned()));
        assert_eq!(thread.parent(), None, "a new life of a group starts afresh");
        assert_eq!(thread.posted(Some("m1".to_owned())), Some("m1".to_owned()));
        assert_eq!(thread.parent(), Some("m1"));
        assert_eq!(thread.posted(Some("m2".to_owned())), None);
        assert_eq!(thread.parent(), Some("m1"));
    }

    #[test]
    fn a_later_notification_replies_in_the_stored_thread_or_starts_one() {
        let mut thread = Thread::new(2, Some("m1".to_owned()));
        assert_eq!(thread.parent(), Some("m1"));
        assert_eq!(thread.posted(Some("m5".to_owned())), None);
        assert_eq!(thread.parent(), Some("m1"));

        let mut orphan = Thread::new(3, None);
        assert_eq!(orphan.parent(), None);
        assert_eq!(orphan.posted(Some("m7".to_owned())), Some("m7".to_owned()));
        assert_eq!(orphan.parent(), Some("m7"));
    }

    #[test]
    fn a_refused_parent_is_dropped_and_the_next_post_starts_a_new_thread() {
        let mut thread = Thread::new(2, Some("deleted".to_owned()));
        thread.parent_refused();
        assert_eq!(thread.parent(), None);
        assert_eq!(thread.posted(Some("m9".to_owned())), Some("m9".to_owned()));
        assert_eq!(thread.parent(), Some("m9"));
        // An answer without an id leaves the thread unstarted.
        let mut unknown = Thread::new(1, None);
        assert_eq!(unknown.posted(None), None);
        assert_eq!(unknown.parent(), None);
    }
}
