//! The Webex sink's delivery loop. Deliveries go out one at a time in outbox order, so a raise and
//! its clear reach the room in the order they happened, at most `rate_limit` messages per second.
//!
//! When Webex answers 429 (or 423) the whole sink waits exactly as long as Retry-After says: no
//! request at all leaves before then. A 5xx or network error is retried with exponential backoff
//! and jitter, the sink pausing for the same time (the other deliveries would meet the same outage),
//! until `retry.max_attempts`; other 4xx are dead-lettered with Webex's error body. A message over
//! the size limit is sent as several, in order; the parts already sent are remembered across
//! retries so that a failure halfway does not repeat them.

use std::collections::HashMap;
use std::time::Duration;

use tokio::time::Instant;

use super::client::{SendResult, WebexClient};
use super::commands::Gate;
use super::render::Templates;
use super::split::{MAX_MESSAGE_BYTES, split_capped};
use crate::config::{RetryConfig, WebexSinkConfig};
use crate::sink::Outbox;
use crate::store::{Delivery, Failed};
use crate::throttle::Throttle;

/// Deliveries claimed at once; they are sent one by one.
const BATCH: usize = 16;
/// Long enough for a batch at a low rate limit plus the request timeouts.
const LEASE: Duration = Duration::from_secs(300);
/// How many recent messages are read to find one an earlier process may have posted.
const RECENT_MESSAGES: usize = 50;
/// Messages one event may take at most; a longer one is cut and links to the whole event.
const MAX_PARTS: usize = 2;

pub fn spawn(
    config: &WebexSinkConfig,
    outbox: Outbox,
) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    let timezone = jiff::tz::TimeZone::get(&config.timezone)?;
    let templates = Templates::new(config.template.as_deref(), timezone)
        .map_err(|error| anyhow::anyhow!("sink {}: template: {error:#}", config.name))?;
    let client = WebexClient::new(config)
        .map_err(|error| anyhow::anyhow!("sink {}: {error:#}", config.name))?;
    if config.base_url.starts_with("http://") {
        tracing::warn!(sink = %config.name, base_url = %config.base_url, "the Webex API is reached without TLS: the bot token crosses the network in clear (fine for the simulator on loopback)");
    }
    let worker = Worker {
        outbox,
        client,
        templates,
        retry: config.retry.clone(),
        interval: Duration::from_secs_f64(1.0 / config.rate_limit),
        next_send: Instant::now(),
        parts_sent: HashMap::new(),
        commands: config
            .commands
            .as_ref()
            .map(|commands| Gate::new(config.room_id.as_deref(), commands)),
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
    client: WebexClient,
    templates: Templates,
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
            let Some(batch) = self.outbox.next(BATCH, LEASE).await else {
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
        if self.commands.is_some() && delivery.event.kind.starts_with("com.cisco.webex.message") {
            return self.answer(delivery).await;
        }
        let sink = self.outbox.sink.clone();
        let markdown = match self.templates.render(&delivery.event) {
            Ok(markdown) => markdown,
            Err(error) => {
                let error = format!("the template failed: {error:#}");
                tracing::error!(sink, seq = delivery.seq, %error, "message not sent (dead letter)");
                self.count("dead");
                self.outbox
                    .failed(delivery.id, error, Duration::ZERO, Failed::Dead)
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
                .failed(delivery.id, error, Duration::ZERO, Failed::Dead)
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
            self.outbox.delivered(vec![delivery.id]).await;
            return Step::Delivered;
        }
        let first = self.parts_sent.get(&delivery.id).copied().unwrap_or(0);
        for (index, part) in parts.iter().enumerate().skip(first) {
            self.pace().await;
            match self.client.post(part).await {
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
        self.outbox.delivered(vec![delivery.id]).await;
        Step::Delivered
    }

    /// A message posted to the bot: the answer to its command goes to the room it came from, if
    /// the gate lets it; a message that is no command, or one the gate refuses, is done with,
    /// unanswered.
    async fn answer(&mut self, delivery: &Delivery) -> Step {
        let Some(request) = super::commands::parse(&delivery.event) else {
            self.count("not_a_command");
            self.outbox.delivered(vec![delivery.id]).await;
            return Step::Delivered;
        };
        let admitted = match &mut self.commands {
            Some(gate) => gate.admit(&request, Instant::now()),
            None => Ok(()),
        };
        if let Err(refusal) = admitted {
            self.count("command_refused");
            metrics::counter!("netpulse_bot_commands_refused_total", "sink" => self.outbox.sink.clone(), "reason" => refusal.as_str()).increment(1);
            if let Some(left_out) = self.refused.admit(std::time::Instant::now()) {
                let why = match refusal {
                    super::commands::Refusal::Room => {
                        "the room is neither the sink's nor in commands.rooms"
                    }
                    super::commands::Refusal::Direct => "a direct room, and commands.direct is off",
                    super::commands::Refusal::Rate => {
                        "the room asked more than commands.per_minute times in a minute"
                    }
                };
                tracing::warn!(sink = %self.outbox.sink, room = %request.room, reason = refusal.as_str(), left_out, "bot command not answered: {why}");
            }
            self.outbox.delivered(vec![delivery.id]).await;
            return Step::Delivered;
        }
        let (room, command) = (request.room, request.command);
        let markdown = match super::commands::answer(command, &self.outbox.store).await {
            Ok(markdown) => markdown,
            Err(error) => {
                tracing::warn!(sink = %self.outbox.sink, error = %format!("{error:#}"), "cannot read the alarms to answer a command; retrying");
                return self
                    .failed(delivery, SendResult::Retry(format!("{error:#}")))
                    .await;
            }
        };
        self.pace().await;
        match self.client.post_to_room(&room, &markdown).await {
            SendResult::Sent => {
                self.count("answered");
                tracing::info!(sink = %self.outbox.sink, seq = delivery.seq, ?command, "bot command answered");
                self.outbox.delivered(vec![delivery.id]).await;
                Step::Delivered
            }
            failure => self.failed(delivery, failure).await,
        }
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
                    .failed(delivery.id, error, wait, Failed::Deferred)
                    .await;
                Step::Pause(wait)
            }
            SendResult::Retry(error) if attempt < self.retry.max_attempts => {
                let wait = backoff(&self.retry, delivery.attempts);
                tracing::warn!(sink, seq = delivery.seq, attempt, retry_in = ?wait, %error, "message not sent; retrying");
                self.count("retry");
                self.outbox
                    .failed(delivery.id, error, wait, Failed::Retry)
                    .await;
                Step::Pause(wait)
            }
            SendResult::Retry(error) | SendResult::Rejected(error) => {
                tracing::error!(sink, seq = delivery.seq, attempt, %error, "message not sent and not retried (dead letter)");
                self.count("dead");
                self.parts_sent.remove(&delivery.id);
                self.outbox
                    .failed(delivery.id, error, Duration::ZERO, Failed::Dead)
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
