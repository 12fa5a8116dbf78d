//! The live feed: committed events fanned out to the clients of `/api/v1/stream` (WebSocket) and
//! `/api/v1/events/stream` (SSE), each with its own filter, resumable by seq with no gap and no
//! duplicate.
//!
//! The store's writer announces every committed event, in seq order, to the [`Hub`] (only while a
//! client is subscribed), through a queue of at most [`HUB_QUEUE`] events that it never waits on.
//! The hub's task checks each client's filter and hands the event to the matching clients'
//! bounded queues without ever waiting: a client whose queue is full is dropped from the hub
//! (marked lagged), so a slow client never slows ingest or the other clients. If the hub itself
//! falls so far behind that the writer's queue is full, the announcements that do not fit are
//! dropped and every client is told to resume, as a slow one is: what was dropped is in the store.
//!
//! A [`Cursor`] is one client's position. It subscribes first, then reads what the client missed
//! from the store, then the live queue, skipping seqs it has already sent: an event committed
//! before the subscription is in the store query, one committed after is in the queue.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::mpsc;

use crate::store::{
    Announcements, CommitTap, Committed, EventFilter, EventQuery, Order, ReaderPool,
};

/// Events read from the store per query while a client catches up.
const CATCH_UP_PAGE: usize = 500;

/// The most committed events that wait for the hub (a few MB of event JSON): eight of the writer's
/// largest batches, far more than a hub that keeps up ever holds.
pub const HUB_QUEUE: usize = 4096;

/// Registers clients and fans committed events out to them.
#[derive(Clone)]
pub struct Hub {
    inner: Arc<HubInner>,
}

struct HubInner {
    /// Live subscriptions; the writer builds announcements only while this is above zero.
    listeners: Arc<AtomicUsize>,
    subscribers: Mutex<Vec<Subscriber>>,
    next_id: AtomicU64,
    buffer: usize,
    /// Set at shutdown: every client's feed ends and new ones end at once.
    closed: AtomicBool,
}

struct Subscriber {
    id: u64,
    filter: EventFilter,
    queue: mpsc::Sender<Arc<Committed>>,
    lagged: Arc<AtomicBool>,
}

impl Hub {
    /// A hub whose clients queue up to `buffer` events, and the tap to give the store.
    pub fn new(buffer: usize) -> (Hub, CommitTap, Announcements) {
        let listeners = Arc::new(AtomicUsize::new(0));
        let (tap, announcements) = CommitTap::new(listeners.clone(), HUB_QUEUE);
        let hub = Hub {
            inner: Arc::new(HubInner {
                listeners,
                subscribers: Mutex::new(Vec::new()),
                next_id: AtomicU64::new(1),
                buffer: buffer.max(1),
                closed: AtomicBool::new(false),
            }),
        };
        (hub, tap, announcements)
    }

    /// Fans announcements out until the store closes its end.
    pub async fn run(self, mut announcements: Announcements) {
        let mut batch = Vec::with_capacity(256);
        while announcements.recv_many(&mut batch, 256).await > 0 {
            let mut subscribers = self.inner.subscribers.lock().expect("hub lock");
            if announcements.overflowed() {
                // Some events were never announced: no client can be handed the next ones
                // without a gap. Each is told to resume after the last seq it got.
                tracing::warn!(
                    clients = subscribers.len(),
                    "the feed hub fell behind the store and dropped announcements: every client is told to resume"
                );
                subscribers
                    .drain(..)
                    .for_each(|subscriber| subscriber.lag());
                batch.clear();
                continue;
            }
            for event in batch.drain(..) {
                subscribers.retain(|subscriber| subscriber.offer(&event));
            }
        }
        self.close();
    }

    /// Ends every client's feed (shutdown): their cursors return [`FeedItem::Shutdown`].
    pub fn close(&self) {
        self.inner.closed.store(true, Ordering::SeqCst);
        self.inner.subscribers.lock().expect("hub lock").clear();
    }

    /// Clients subscribed now.
    pub fn clients(&self) -> usize {
        self.inner.listeners.load(Ordering::SeqCst)
    }

    fn subscribe(&self, filter: &EventFilter) -> Subscription {
        let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        let (queue, receiver) = mpsc::channel(self.inner.buffer);
        let lagged = Arc::new(AtomicBool::new(false));
        // Counted before it is listed: see `CommitTap::active`.
        let clients = self.inner.listeners.fetch_add(1, Ordering::SeqCst) + 1;
        metrics::gauge!("netpulse_feed_clients").set(clients as f64);
        let mut subscribers = self.inner.subscribers.lock().expect("hub lock");
        // After shutdown the queue's sender is dropped at once: the cursor ends.
        if !self.inner.closed.load(Ordering::SeqCst) {
            subscribers.push(Subscriber {
                id,
                filter: filter.clone(),
                queue,
                lagged: lagged.clone(),
            });
        }
        drop(subscribers);
        Subscription {
            id,
            receiver,
            lagged,
            hub: self.clone(),
        }
    }
}

impl Subscriber {
    /// Queues `event` if the filter takes it; false when the subscriber must be dropped (its
    /// queue is full, or its client is gone).
    fn offer(&self, event: &Arc<Committed>) -> bool {
        if !self.filter.matches(event) {
            return true;
        }
        match self.queue.try_send(event.clone()) {
            Ok(()) => true,
            Err(mpsc::error::TrySendError::Full(_)) => {
                tracing::debug!(
                    subscriber = self.id,
                    "a feed client's queue is full: it is dropped and will be told to resume"
                );
                self.lag();
                false
            }
            Err(mpsc::error::TrySendError::Closed(_)) => false,
        }
    }

    /// Marks the subscriber as fallen behind: once it has taken what its queue holds, its cursor
    /// says so (or, while catching up, subscribes again and reads on from the store).
    fn lag(&self) {
        self.lagged.store(true, Ordering::SeqCst);
        metrics::counter!("netpulse_feed_clients_lagged_total").increment(1);
    }
}

/// One client's place in the hub; leaving it (drop) unsubscribes.
struct Subscription {
    id: u64,
    receiver: mpsc::Receiver<Arc<Committed>>,
    lagged: Arc<AtomicBool>,
    hub: Hub,
}

impl Drop for Subscription {
    fn drop(&mut self) {
        let inner = &self.hub.inner;
        if let Ok(mut subscribers) = inner.subscribers.lock() {
            subscribers.retain(|subscriber| subscriber.id != self.id);
        }
        let clients = inner.listeners.fetch_sub(1, Ordering::SeqCst) - 1;
        metrics::gauge!("netpulse_feed_clients").set(clients as f64);
    }
}

/// What a client is sent next.
#[derive(Debug, Clone, PartialEq)]
pub enum FeedItem {
    /// One event, as JSON with its seq.
    Event { seq: u64, json: Arc<str> },
    /// Something the client should know, then the feed goes on (events it asked for were pruned).
    Notice { code: &'static str, message: String },
    /// The feed ends: the client fell too far behind. It may resume after `last_seq`.
    Lagged { last_seq: u64, message: String },
    /// The feed ends: netpulse is stopping. The client may resume after `last_seq` later.
    Shutdown { last_seq: u64 },
}

/// One client's position in the feed.
pub struct Cursor {
    hub: Hub,
    pool: ReaderPool,
    filter: EventFilter,
    /// The last seq sent (or skipped as already sent).
    last_seq: u64,
    subscription: Option<Subscription>,
    /// Events read from the store, not yet handed out.
    stored: std::collections::VecDeque<(u64, String)>,
    catching_up: bool,
    notices: Vec<FeedItem>,
}

impl Cursor {
    /// A cursor over events matching `filter`: those after `after` first (from the store), then
    /// live ones; without `after`, live ones only.
    pub async fn open(
        hub: &Hub,
        pool: &ReaderPool,
        filter: EventFilter,
        after: Option<u64>,
    ) -> anyhow::Result<Cursor> {
        let subscription = hub.subscribe(&filter);
        let (oldest, newest) = pool.read(|reader| reader.seq_range()).await?;
        let mut notices = Vec::new();
        let last_seq = match after {
            None => newest,
            Some(after) if after > newest => {
                notices.push(FeedItem::Notice {
                    code: "ahead",
                    message: format!(
                        "seq {after} has not been assigned yet (the latest is {newest}); starting after {newest}"
                    ),
                });
                newest
            }
            Some(after) if after.saturating_add(1) < oldest => {
                notices.push(FeedItem::Notice {
                    code: "retention",
                    message: format!(
                        "events {} to {} were deleted by retention (store.retention); starting at {oldest}, the oldest kept",
                        after + 1,
                        oldest - 1
                    ),
                });
                oldest - 1
            }
            Some(after) => after,
        };
        Ok(Cursor {
            hub: hub.clone(),
            pool: pool.clone(),
            filter,
            last_seq,
            subscription: Some(subscription),
            stored: Default::default(),
            catching_up: after.is_some(),
            notices,
        })
    }

    /// The last seq handed out.
    pub fn last_seq(&self) -> u64 {
        self.last_seq
    }

    /// The next item; waits for a live event when there is none. After [`FeedItem::Lagged`] the
    /// cursor is done.
    pub async fn next(&mut self) -> anyhow::Result<FeedItem> {
        if !self.notices.is_empty() {
            return Ok(self.notices.remove(0));
        }
        loop {
            if let Some((seq, json)) = self.stored.pop_front() {
                self.last_seq = seq;
                return Ok(FeedItem::Event {
                    seq,
                    json: json.into(),
                });
            }
            if self.catching_up {
                self.catch_up().await?;
                continue;
            }
            let Some(subscription) = self.subscription.as_mut() else {
                return Ok(self.ended());
            };
            match subscription.receiver.recv().await {
                Some(event) if event.seq <= self.last_seq => continue,
                Some(event) => {
                    self.last_seq = event.seq;
                    return Ok(FeedItem::Event {
                        seq: event.seq,
                        json: event.json.as_str().into(),
                    });
                }
                None => {
                    self.subscription = None;
                    return Ok(self.ended());
                }
            }
        }
    }

    /// The next live event if one is already queued, without waiting: lets a writer put several
    /// events in one write. None while catching up or when nothing is queued.
    pub fn try_next(&mut self) -> Option<FeedItem> {
        if self.catching_up || !self.notices.is_empty() || !self.stored.is_empty() {
            return None;
        }
        let subscription = self.subscription.as_mut()?;
        while let Ok(event) = subscription.receiver.try_recv() {
            if event.seq > self.last_seq {
                self.last_seq = event.seq;
                return Some(FeedItem::Event {
                    seq: event.seq,
                    json: event.json.as_str().into(),
                });
            }
        }
        None
    }

    /// Reads the next page after `last_seq` from the store. When the store has nothing more the
    /// live queue takes over, unless it overflowed meanwhile: then the cursor subscribes again
    /// and keeps reading the store, which has everything the queue dropped.
    async fn catch_up(&mut self) -> anyhow::Result<()> {
        let query = EventQuery {
            filter: self.filter.clone(),
            after_seq: Some(self.last_seq),
            order: Some(Order::Oldest),
            limit: CATCH_UP_PAGE,
            ..EventQuery::default()
        };
        let page = self
            .pool
            .read(move |reader| reader.event_json(&query))
            .await?;
        let complete = page.len() < CATCH_UP_PAGE;
        self.stored.extend(page);
        if complete {
            let overflowed = self
                .subscription
                .as_ref()
                .is_none_or(|subscription| subscription.lagged.load(Ordering::SeqCst));
            if overflowed {
                self.subscription = None;
                self.subscription = Some(self.hub.subscribe(&self.filter));
            } else {
                self.catching_up = false;
            }
        }
        Ok(())
    }

    /// Why the live queue ended: shutdown, or the hub dropped a client that fell behind.
    fn ended(&self) -> FeedItem {
        if self.hub.inner.closed.load(Ordering::SeqCst) {
            return FeedItem::Shutdown {
                last_seq: self.last_seq,
            };
        }
        FeedItem::Lagged {
            last_seq: self.last_seq,
            message: format!(
                "too slow: more events waited for this client than its buffer (api.feed.client_buffer) holds, or for the feed than it holds; resume after seq {}",
                self.last_seq
            ),
        }
    }
}

#[cfg(test)]
mod tests;
