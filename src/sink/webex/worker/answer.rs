//! The worker's side of commands: a message posted to the bot is answered in the room it came
//! from, if the gate lets it; a message that is no command, the bot's own, or one the gate
//! refuses, is done with, unanswered. Write commands (`ack`, `silence`, `unsilence`) also need
//! `actions:` and a person it allows; otherwise the answer says why.

use tokio::time::Instant;

use super::{Step, Worker};
use crate::operator::{Actor, Via};
use crate::sink::webex::actions::permits;
use crate::sink::webex::client::SendResult;
use crate::sink::webex::commands::{self, Refusal, Request};
use crate::sink::webex::operate;
use crate::store::Delivery;

/// Active alarm keys read to find the one `ack` names by its start.
const MAX_ACTIVE_KEYS: usize = 2000;

impl Worker {
    pub(super) async fn answer(&mut self, delivery: &Delivery) -> Step {
        let request = match commands::parse(&delivery.event) {
            Some(request) if !self.is_own(&request).await => request,
            _ => {
                self.count("not_a_command");
                self.outbox.delivered_one(delivery).await;
                return Step::Delivered;
            }
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
                    Refusal::Room => "the room is neither the sink's nor in commands.rooms",
                    Refusal::Direct => "a direct room, and commands.direct is off",
                    Refusal::Rate => {
                        "the room asked more than commands.per_minute times in a minute"
                    }
                };
                tracing::warn!(sink = %self.outbox.sink, room = %request.room, reason = refusal.as_str(), left_out, "bot command not answered: {why}");
            }
            self.outbox.delivered_one(delivery).await;
            return Step::Delivered;
        }
        let markdown = match self.reply_to(&request).await {
            Ok(markdown) => markdown,
            Err(error) => {
                tracing::warn!(sink = %self.outbox.sink, %error, command = request.command.name(), "cannot answer a command now; retrying");
                return self.failed(delivery, SendResult::Retry(error)).await;
            }
        };
        self.pace().await;
        match self.client.post_to_room(&request.room, &markdown).await {
            SendResult::Sent => {
                self.count("answered");
                tracing::info!(sink = %self.outbox.sink, seq = delivery.seq, command = request.command.name(), by = ?request.person, "bot command answered");
                self.outbox.delivered_one(delivery).await;
                Step::Delivered
            }
            failure => self.failed(delivery, failure).await,
        }
    }

    /// The answer's Markdown; `Err`: the store (or the Operator's) failed, retry later.
    async fn reply_to(&mut self, request: &Request) -> Result<String, String> {
        let command = &request.command;
        if let Some(markdown) = commands::answer(command, &self.outbox.store)
            .await
            .map_err(|error| format!("cannot read the alarms: {error:#}"))?
        {
            return Ok(markdown);
        }
        if command.writes() {
            let Some(actions) = &self.actions else {
                return Ok("❔ This sink does not act on alarms: `actions:` is not set in its configuration. Say **help** for what I answer.".to_owned());
            };
            let Some(person) = &request.person else {
                return Ok("❔ Webex did not say who asked, so I cannot act on it.".to_owned());
            };
            if !permits(&actions.allow, person) {
                tracing::info!(sink = %self.outbox.sink, %person, command = command.name(), "not in actions.allow");
                return Ok(format!(
                    "❔ {} may not act on alarms here (see the sink's `actions.allow`).",
                    crate::sink::webex::markdown::escape(person)
                ));
            }
        }
        let Some(operator) = self.operator.clone() else {
            return Ok("❔ Acting on alarms is not available in this process.".to_owned());
        };
        let active: Vec<String> = if matches!(command, commands::Command::Ack(_)) {
            commands::active_alarms(&self.outbox.store, MAX_ACTIVE_KEYS)
                .await
                .map_err(|error| format!("cannot read the alarms: {error:#}"))?
                .into_iter()
                .map(|alarm| alarm.row.key)
                .collect()
        } else {
            Vec::new()
        };
        let actor = Actor {
            name: request.person.clone().unwrap_or_default(),
            via: Via::Webex {
                sink: self.outbox.sink.clone(),
                room: request.room.clone(),
                message: request.message.clone(),
            },
        };
        operate::run(
            &operator,
            command,
            &actor,
            request.message.as_deref(),
            &active,
            jiff::Timestamp::now(),
        )
        .await
        .map_err(|error| format!("{error:#}"))
    }

    /// Whether the message is the bot's own (its person id is the bot's, `people/me`, looked up
    /// once). When the lookup fails the message is taken as someone else's: the bot's answers
    /// are never commands anyway (`commands::parse`).
    async fn is_own(&mut self, request: &Request) -> bool {
        let Some(person_id) = &request.person_id else {
            return false;
        };
        if self.me.is_none() {
            match self.client.api().me().await {
                Ok(me) => self.me = Some(me),
                Err(error) => {
                    tracing::debug!(sink = %self.outbox.sink, error = %format!("{error:#}"), "cannot look up the bot's own id");
                    return false;
                }
            }
        }
        self.me.as_deref() == Some(person_id.as_str())
    }
}
