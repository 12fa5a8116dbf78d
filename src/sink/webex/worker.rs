//! The Webex sink's delivery loop. Deliveries go out one at a time in outbox order, so a raise and
//! its clear reach the room in the order they happened, at most `rate_limit` messages per second.
//!
//! When Webex answers 429 (or 423) the whole sink waits exactly as long as Retry-After says: no
//! request at all leaves before then. A 5xx or network error is retried with exponential backoff
//! and jitter, the sink pausing for the same time (the other deliveries would meet the same outage),
//! until `retry.max_attempts`; other 4xx are dead-lettered with Webex's error body. A message over
//! the size limit is sent as several, in order; the parts already sent are remembered across
//! retries so that a failure halfway does not repeat them.
//!
//! A group's notification (an `io.netpulse.notification` event) gets the built-in group message
//! (`group.rs`, never the sink's own `template`) and goes in its group's thread (`thread.rs`).

use std::collections::HashMap;
use std::time::Duration;

use tokio::time::Instant;

use super::actions::Acting;
use super::client::{Created, MessagesClient, SendResult};
use super::commands::Gate;
use super::group::{GroupTemplates, notification_of};
use super::render::Templates;
use super::split::{MAX_MESSAGE_BYTES, split_capped};
use super::thread::{self, Thread};
use crate::cluster::sinks::RecordError;
use crate::config::{ActionsConfig, CommandsConfig, RetryConfig, WebexSinkConfig};
use crate::operator::Operator;
use crate::route::Notification;
use crate::sink::Outbox;
use crate::store::{Delivery, Failed};
use crate::throttle::Throttle;

/// Deliveries claimed at once. One: the next claim is made when the previous message is out, so
/// a click or a command that arrived meanwhile goes next, ahead of the notifications still
/// queued (see `next_interactions_first`). A claim per message costs little next to the sink's
/// rate limit (messages/s), which is what paces this worker.
const BATCH: usize = 1;
/// Long enough for a batch at a low rate limit plus the request timeouts.
const LEASE: Duration = Duration::from_secs(300);
/// Pause after the cluster's stream could not record a delivery before it.
const RECORD_PAUSE: Duration = Duration::from_secs(1);
/// How many recent messages are read to find one an earlier process may have posted.
const RECENT_MESSAGES: usize = 50;
/// Messages one event may take at most; a longer one is cut and links to the whole event.
const MAX_PARTS: usize = 2;
/// What ends the plain text of a notification cut for length (the Markdown says more).
const TEXT_CUT: &str = "\n\n… cut: too long for Webex";

mod answer;
mod clicks;
mod lease;

/// Starts the sink. `operator` applies what the room asks (card buttons, write commands); without
/// it (a tool that delivers only) those are refused.
pub fn spawn(
    config: &WebexSinkConfig,
    outbox: Outbox,
    operator: Option<Operator>,
) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    let operator = operator.map(Acting::Operator);
    spawn_acting(config, outbox, operator)
}

/// [`spawn`] with what the room acts through (a test's fake operator).
pub(crate) fn spawn_acting(
    config: &WebexSinkConfig,
    outbox: Outbox,
    operator: Option<Acting>,
) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    let timezone = jiff::tz::TimeZone::get(&config.timezone)?;
    let templates = Templates::new(config.template.as_deref(), timezone)
        .map_err(|error| anyhow::anyhow!("sink {}: template: {error:#}", config.name))?;
    let groups = GroupTemplates::new(config.public_url.as_deref())
        .map_err(|error| anyhow::anyhow!("sink {}: group template: {error:#}", config.name))?;
    let client = MessagesClient::new(config)
        .map_err(|error| anyhow::anyhow!("sink {}: {error:#}", config.name))?;
    if config.base_url.starts_with("http://") {
        tracing::warn!(sink = %config.name, base_url = %config.base_url, "the Webex API is reached without TLS: the bot token crosses the network in clear (fine for the simulator on loopback)");
    }
    let worker = Worker {
        outbox,
        client,
        templates,
        groups,
        threads: HashMap::new(),
        retry: config.retry.clone(),
        interval: Duration::from_secs_f64(1.0 / config.rate_limit),
        next_send: Instant::now(),
        parts_sent: HashMap::new(),
        // With `actions:` alone, commands are answered in the sink's room only (the defaults).
        commands: match (&config.commands, &config.actions) {
            (Some(commands), _) => Some(Gate::new(config.room_id.as_deref(), commands)),
            (None, Some(_)) => Some(Gate::new(
                config.room_id.as_deref(),
                &CommandsConfig::default(),
            )),
            (None, None) => None,
        },
        actions: config.actions.clone(),
        room_id: config.room_id.clone(),
        operator,
        replies: HashMap::new(),
        me: None,
        tenure: None,
        unrecorded: Throttle::new(),
        refused: Throttle::new(),
        public_url: config
            .public_url
            .as_deref()
            .map(|url| url.trim_end_matches('/').to_owned()),
    };
    Ok(tokio::spawn(worker.run()))
}

struct Worker {
    outbox: Outbox,
    client: MessagesClient,
    templates: Templates,
    /// The built-in messages of group notifications.
    groups: GroupTemplates,
    /// The thread of each notification whose parts are not all posted yet, by outbox row.
    threads: HashMap<i64, Thread>,
    retry: RetryConfig,
    /// The least time between two requests (the rate limit).
    interval: Duration,
    /// No request leaves before this instant (rate limit, Retry-After, backoff).
    next_send: Instant,
    /// Parts of a split message already posted, by outbox row.
    parts_sent: HashMap<i64, usize>,
    /// Answer the commands posted to the bot instead of relaying its messages: where and how
    /// often.
    commands: Option<Gate>,
    /// The log line of a command left unanswered (a flood of questions would repeat it).
    refused: Throttle,
    /// netpulse's address for the room's readers (`public_url`), without a trailing slash.
    public_url: Option<String>,
    /// Cards with buttons, and who may press them (`actions:`).
    actions: Option<ActionsConfig>,
    /// The sink's room, where a card goes when Webex's answer does not say.
    room_id: Option<String>,
    operator: Option<Acting>,
    /// The thread reply of a click already applied whose post failed, by outbox row: a retry
    /// posts it without applying again (which would find it done and say nothing).
    replies: HashMap<i64, clicks::Reply>,
    /// The bot's own person id, once known (`people/me`): its own messages are never commands.
    me: Option<String>,
    /// The log line of a delivery held back because the cluster's stream is unreachable (it
    /// would repeat every second while NATS is down).
    unrecorded: Throttle,
    /// The lease revision this worker delivers under (a shared sink in cluster mode), once it
    /// has taken the sink over; `None` otherwise.
    tenure: Option<u64>,
}

/// What became of one delivery.
enum Step {
    Delivered,
    /// Wait before any further request; the delivery stays pending.
    Pause(Duration),
    Dead,
}

impl Worker {
    async fn run(mut self) {
        loop {
            // After a pause, claim only once it is over: the delivery that caused it is due again
            // by then and comes first, so the room still sees messages in order.
            tokio::select! {
                () = tokio::time::sleep_until(self.next_send) => {}
                () = self.outbox.drain.cancelled() => return,
            }
            // In cluster mode, only the node holding the sink's lease delivers.
            if !self.hold().await {
                return;
            }
            // A click or a command is answered before the notifications queued ahead of it:
            // they go out at the sink's rate, a person waits for their Acknowledge.
            let Some(batch) = self.outbox.next_interactions_first(BATCH, LEASE).await else {
                return;
            };
            let mut rows = batch.into_iter();
            while let Some(delivery) = rows.next() {
                if self.outbox.drain.is_cancelled() {
                    // Shutting down: what is left stays in the outbox for the next start.
                    let ids = std::iter::once(delivery.id)
                        .chain(rows.map(|row| row.id))
                        .collect();
                    self.outbox.release(ids).await;
                    return;
                }
                // A planned handover of the sink's lease waits until this row's outcome is in.
                let _delivering = self.outbox.recorder.delivering().await;
                // Recorded (and confirmed by the stream) before anything is posted: a node that
                // takes the sink over after this one stopped knows the message may be in the room.
                if let Err(error) = self
                    .outbox
                    .recorder
                    .inflight(delivery.seq, self.tenure)
                    .await
                {
                    let ids = std::iter::once(delivery.id)
                        .chain(rows.map(|row| row.id))
                        .collect();
                    self.outbox.release(ids).await;
                    if let RecordError::Unavailable(_) = error {
                        if let Some(left_out) = self.unrecorded.admit(std::time::Instant::now()) {
                            tracing::warn!(sink = %self.outbox.sink, seq = delivery.seq, %error, left_out, "message not sent: its delivery could not be recorded in the cluster's stream first; trying again every second");
                        }
                        self.next_send = Instant::now() + RECORD_PAUSE;
                    }
                    break;
                }
                match self.deliver(&delivery).await {
                    Step::Delivered | Step::Dead => {}
                    Step::Pause(pause) => {
                        // Give back the rest unattempted; they are claimed again, in order, once
                        // the pause is over.
                        self.outbox.release(rows.map(|row| row.id).collect()).await;
                        self.next_send = self.next_send.max(Instant::now() + pause);
                        break;
                    }
                }
            }
        }
    }

    async fn deliver(&mut self, delivery: &Delivery) -> Step {
        if super::actions::is_click(&delivery.event) {
            return self.click(delivery).await;
        }
        if self.commands.is_some() && delivery.event.kind.starts_with("com.cisco.webex.message") {
            return self.answer(delivery).await;
        }
        if let Some(notification) = notification_of(&delivery.event) {
            return self.notify(delivery, notification).await;
        }
        let sink = self.outbox.sink.clone();
        let markdown = match self.templates.render(&delivery.event) {
            Ok(markdown) => markdown,
            Err(error) => {
                let error = format!("the template failed: {error:#}");
                tracing::error!(sink, seq = delivery.seq, %error, "message not sent (dead letter)");
                self.count("dead");
                self.outbox
                    .failed(delivery, error, Duration::ZERO, Failed::Dead)
                    .await;
                return Step::Dead;
            }
        };
        if markdown.trim().is_empty() {
            // Webex refuses an empty message; say why here rather than relay its 400.
            let error = "the template rendered an empty message".to_owned();
            tracing::error!(
                sink,
                seq = delivery.seq,
                "message not sent (dead letter): the template rendered nothing"
            );
            self.count("dead");
            self.outbox
                .failed(delivery, error, Duration::ZERO, Failed::Dead)
                .await;
            return Step::Dead;
        }
        let tail = self.cut_notice(delivery);
        let parts = split_capped(&markdown, MAX_MESSAGE_BYTES, MAX_PARTS, &tail);
        if delivery.uncertain && self.already_posted(&parts).await {
            tracing::info!(
                sink,
                seq = delivery.seq,
                "message found in the room: it was posted before netpulse last stopped; not sent again"
            );
            self.count("found_posted");
            self.outbox.delivered_one(delivery).await;
            return Step::Delivered;
        }
        let first = self.parts_sent.get(&delivery.id).copied().unwrap_or(0);
        let card = self.event_card(&delivery.event);
        for (index, part) in parts.iter().enumerate().skip(first) {
            self.pace().await;
            let result = match card.as_ref().filter(|_| index == 0) {
                None => self.client.post(part).await,
                Some(card) => {
                    let text = super::markdown::plain(part);
                    let (result, created) = self
                        .client
                        .post_card(part, Some(&text), None, Some(card))
                        .await;
                    if result == SendResult::Sent {
                        self.record_card(created, delivery.seq).await;
                    }
                    result
                }
            };
            match result {
                SendResult::Sent => {
                    self.parts_sent.insert(delivery.id, index + 1);
                }
                failure => return self.failed(delivery, failure).await,
            }
        }
        self.parts_sent.remove(&delivery.id);
        self.count("delivered");
        tracing::debug!(
            sink,
            seq = delivery.seq,
            parts = parts.len(),
            "message posted"
        );
        self.outbox.delivered_one(delivery).await;
        Step::Delivered
    }

    /// A group's notification: its built-in message, posted in its group's thread (a reply to
    /// the group's first message when `number > 1`), the first message's id stored as the thread.
    async fn notify(
        &mut self,
        delivery: &Delivery,
        notification: anyhow::Result<Notification>,
    ) -> Step {
        let sink = self.outbox.sink.clone();
        let rendered = notification.and_then(|notification| {
            let message = self.groups.render(&notification)?;
            Ok((notification, message))
        });
        let (notification, message) = match rendered {
            Ok(rendered) => rendered,
            Err(error) => {
                let error = format!("the notification cannot be shown: {error:#}");
                tracing::error!(sink, seq = delivery.seq, %error, "notification not sent (dead letter)");
                self.count("dead");
                self.outbox
                    .failed(delivery, error, Duration::ZERO, Failed::Dead)
                    .await;
                return Step::Dead;
            }
        };
        let group = notification.group.as_str();
        let tail = self.cut_notice(delivery);
        let parts = split_capped(&message.markdown, MAX_MESSAGE_BYTES, MAX_PARTS, &tail);
        let texts = split_capped(&message.text, MAX_MESSAGE_BYTES, MAX_PARTS, TEXT_CUT);
        let mut thread = match self.threads.remove(&delivery.id) {
            Some(thread) => thread,
            None if notification.number > 1 => {
                match thread::stored(&self.outbox.store, &sink, group).await {
                    Ok(stored) => Thread::new(notification.number, stored),
                    Err(error) => {
                        let error = format!("cannot read the group's thread: {error:#}");
                        return self.failed(delivery, SendResult::Retry(error)).await;
                    }
                }
            }
            None => Thread::new(notification.number, None),
        };
        let first = self.parts_sent.get(&delivery.id).copied().unwrap_or(0);
        let card = self.notification_card(&notification);
        if delivery.uncertain
            && first == 0
            && let Some(found) = self.posted_before(&parts).await
        {
            if card.is_some() {
                let created = Created {
                    id: found.clone(),
                    room_id: None,
                };
                self.record_card(Some(created), delivery.seq).await;
            }
            tracing::info!(
                sink,
                seq = delivery.seq,
                group,
                "notification found in the room: it was posted before netpulse last stopped; not sent again"
            );
            if let Some(started) = thread.posted(found) {
                self.remember_thread(group, &started).await;
            }
            self.count("found_posted");
            self.outbox.delivered_one(delivery).await;
            return Step::Delivered;
        }
        for (index, part) in parts.iter().enumerate().skip(first) {
            let text = texts.get(index).map(String::as_str);
            // Webex takes one card per message: the first part carries it.
            let attachment = card.as_ref().filter(|_| index == 0);
            self.pace().await;
            let (mut result, mut created) = self
                .client
                .post_card(part, text, thread.parent(), attachment)
                .await;
            if let (SendResult::Rejected(error), Some(parent)) = (&result, thread.parent()) {
                tracing::warn!(sink, seq = delivery.seq, group, parent, %error, "Webex refused the reply in the group's thread; posting the notification unthreaded");
                thread.parent_refused();
                self.pace().await;
                (result, created) = self.client.post_card(part, text, None, attachment).await;
            }
            let id = created.as_ref().and_then(|created| created.id.clone());
            match result {
                SendResult::Sent => {
                    if attachment.is_some() {
                        self.record_card(created, delivery.seq).await;
                    }
                    self.parts_sent.insert(delivery.id, index + 1);
                    if let Some(started) = thread.posted(id) {
                        self.remember_thread(group, &started).await;
                    }
                }
                failure => {
                    self.threads.insert(delivery.id, thread);
                    return self.failed(delivery, failure).await;
                }
            }
        }
        self.parts_sent.remove(&delivery.id);
        self.count("delivered");
        tracing::debug!(
            sink,
            seq = delivery.seq,
            group,
            number = notification.number,
            parent = thread.parent(),
            parts = parts.len(),
            "notification posted"
        );
        self.outbox.delivered_one(delivery).await;
        Step::Delivered
    }

    async fn failed(&mut self, delivery: &Delivery, failure: SendResult) -> Step {
        let sink = self.outbox.sink.clone();
        let attempt = delivery.attempts + 1;
        match failure {
            SendResult::RateLimited(wait) => {
                tracing::warn!(sink, seq = delivery.seq, wait = ?wait, "Webex asks to slow down (429): no request before Retry-After");
                self.count("rate_limited");
                let error = format!("rate limited, Retry-After {}s", wait.as_secs());
                // Not an attempt: a long storm must not use up max_attempts or lengthen backoff.
                self.outbox
                    .failed(delivery, error, wait, Failed::Deferred)
                    .await;
                Step::Pause(wait)
            }
            SendResult::Retry(error) if attempt < self.retry.max_attempts => {
                let wait = backoff(&self.retry, delivery.attempts);
                tracing::warn!(sink, seq = delivery.seq, attempt, retry_in = ?wait, %error, "message not sent; retrying");
                self.count("retry");
                self.outbox
                    .failed(delivery, error, wait, Failed::Retry)
                    .await;
                Step::Pause(wait)
            }
            SendResult::Retry(error) | SendResult::Rejected(error) => {
                tracing::error!(sink, seq = delivery.seq, attempt, %error, "message not sent and not retried (dead letter)");
                self.count("dead");
                self.parts_sent.remove(&delivery.id);
                self.threads.remove(&delivery.id);
                self.outbox
                    .failed(delivery, error, Duration::ZERO, Failed::Dead)
                    .await;
                Step::Dead
            }
            SendResult::Sent => Step::Delivered,
        }
    }

    /// Whether the first part of this message is among the room's recent messages. A failure to
    /// look (a bot may not be allowed to list a group room's messages) counts as "not found":
    /// the message is sent, at the risk of a duplicate, rather than lost.
    async fn already_posted(&mut self, parts: &[String]) -> bool {
        let Some(first) = parts.first() else {
            return false;
        };
        self.pace().await;
        match self.client.recent_markdown(RECENT_MESSAGES).await {
            Ok(recent) => recent.iter().any(|markdown| markdown == first),
            Err(error) => {
                tracing::warn!(sink = %self.outbox.sink, %error, "cannot list recent messages to check for a message posted before the restart; sending it");
                false
            }
        }
    }

    /// The id of the room's recent message that is the first of these parts, when there is one
    /// (`Some(None)`: found, but the listing gave no id). Like `already_posted`, a failure to
    /// look counts as "not found".
    async fn posted_before(&mut self, parts: &[String]) -> Option<Option<String>> {
        let first = parts.first()?;
        self.pace().await;
        match self.client.recent_messages(RECENT_MESSAGES).await {
            Ok(recent) => recent
                .into_iter()
                .find(|message| message.markdown.as_ref() == Some(first))
                .map(|message| message.id),
            Err(error) => {
                tracing::warn!(sink = %self.outbox.sink, %error, "cannot list recent messages to check for a notification posted before the restart; sending it");
                None
            }
        }
    }

    /// What ends a message cut for length: that it was cut, and a link to the whole event (its
    /// own link, else the event in netpulse's API at `public_url`), else its seq.
    fn cut_notice(&self, delivery: &Delivery) -> String {
        let own = delivery
            .event
            .link
            .as_deref()
            .and_then(super::render::safe_link);
        let in_api = || {
            let base = self.public_url.as_deref()?;
            super::render::safe_link(&format!(
                "{base}/api/v1/events?order=oldest&after={}&limit=1",
                delivery.seq.saturating_sub(1)
            ))
        };
        match own.or_else(in_api) {
            Some(link) => format!("\n\n… *cut: too long for Webex* · [Full event]({link})"),
            None => format!(
                "\n\n… *cut: too long for Webex* · full event: seq {} in netpulse",
                delivery.seq
            ),
        }
    }

    /// Remembers the message that starts `group`'s thread: in the store, and in the stream when
    /// the sink is shared (the next deliverer replies in it).
    async fn remember_thread(&self, group: &str, message_id: &str) {
        thread::remember(&self.outbox.store, &self.outbox.sink, group, message_id).await;
        self.outbox.recorder.thread(group, message_id).await;
    }

    /// Waits until the next request may leave.
    async fn pace(&mut self) {
        tokio::time::sleep_until(self.next_send).await;
        self.next_send = Instant::now() + self.interval;
    }

    fn count(&self, outcome: &'static str) {
        metrics::counter!("netpulse_sink_deliveries_total", "sink" => self.outbox.sink.clone(), "outcome" => outcome).increment(1);
    }
}

/// The delay before the next attempt: netpulse's one backoff (exponential, equal jitter).
fn backoff(retry: &RetryConfig, attempts: u32) -> Duration {
    crate::backoff::delay(retry.initial, retry.max, attempts)
}

#[cfg(test)]
mod click_tests;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_exponentially_with_jitter_up_to_the_maximum() {
        let retry = RetryConfig {
            initial: Duration::from_secs(1),
            max: Duration::from_secs(60),
            max_attempts: 10,
        };
        for attempts in 0..12 {
            let ceiling = Duration::from_secs(1 << attempts.min(6)).min(Duration::from_secs(60));
            let delay = backoff(&retry, attempts);
            assert!(
                delay >= ceiling / 2 && delay <= ceiling,
                "{attempts}: {delay:?}"
            );
        }
    }
}
