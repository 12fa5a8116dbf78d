//! The worker's side of cards: the card a notification or an alarm's message carries, recording
//! it once posted, and a click on one of its buttons (`actions.rs` decides; this does the IO:
//! the store, `GET /v1/attachment/actions`, `GET /v1/people`, the Operator, the thread reply).

use serde_json::Value;

use super::{Step, Worker};
use crate::event::Event;
use crate::operator::{Actor, Via};
use crate::route::Notification;
use crate::sink::webex::actions::{self, Click, Outcome, Refusal};
use crate::sink::webex::card::{self, Buttons};
use crate::sink::webex::client::{Created, SendResult};
use crate::store::{CardRow, Delivery, Reader};
use crate::webex_api::Resource;

/// A thread reply waiting to be posted.
pub(super) struct Reply {
    room: String,
    markdown: String,
    parent: Option<String>,
}

impl Worker {
    fn buttons(&self, open: Option<String>) -> Option<Buttons> {
        let actions = self.actions.as_ref()?;
        Some(Buttons {
            silences: actions.silence_buttons.clone(),
            open,
        })
    }

    /// The card attachment of a notification, when the sink has `actions:` and the notification
    /// has alarms to act on.
    pub(super) fn notification_card(&self, notification: &Notification) -> Option<Value> {
        if !card::wants_card(notification) {
            return None;
        }
        let buttons = self.buttons(self.groups.dashboard_link(notification))?;
        Some(card::attachment(card::notification_card(
            notification,
            &buttons,
        )))
    }

    /// The card attachment of an event's own message, when it raises an alarm.
    pub(super) fn event_card(&self, event: &Event) -> Option<Value> {
        if !card::event_wants_card(event) {
            return None;
        }
        let buttons = self.buttons(event.link.clone())?;
        Some(card::attachment(card::event_card(event, &buttons)))
    }

    /// Records a posted card (`webex_cards`), so that its clicks are recognized. A failure is
    /// logged: the card is in the room, but its buttons will be refused as not netpulse's.
    pub(super) async fn record_card(&self, created: Option<Created>, seq: u64) {
        let sink = &self.outbox.sink;
        let created = created.unwrap_or_default();
        let room = created.room_id.or_else(|| self.room_id.clone());
        let (Some(message_id), Some(room)) = (created.id, room) else {
            tracing::warn!(
                sink,
                seq,
                "a card was posted but Webex answered no message or room id: its buttons cannot be recognized"
            );
            return;
        };
        let row = CardRow {
            message_id,
            sink: sink.clone(),
            room,
            seq,
        };
        let (message_id, room) = (row.message_id.clone(), row.room.clone());
        if let Err(error) = self.outbox.store.record_card(row).await {
            tracing::error!(sink, seq, %error, "cannot record a posted card: its buttons will be refused");
        }
        self.outbox.recorder.card(&message_id, &room, seq).await;
    }

    /// A click on a card's button: checked, applied through the Operator, answered in the card's
    /// thread. Refusals are done with (not retried); a Webex or store failure is retried.
    pub(super) async fn click(&mut self, delivery: &Delivery) -> Step {
        if let Some(reply) = self.replies.remove(&delivery.id) {
            return self.post_reply(delivery, reply).await;
        }
        if self.actions.is_none() {
            // A click reaches every interactive sink; one without buttons has none of its own.
            self.count("not_a_command");
            self.outbox.delivered_one(delivery).await;
            return Step::Delivered;
        }
        match self.check_and_apply(delivery).await {
            Ok(Ok(Some(reply))) => self.post_reply(delivery, reply).await,
            Ok(Ok(None)) => {
                self.count_action("unchanged");
                tracing::info!(sink = %self.outbox.sink, seq = delivery.seq, "card button pressed again: already done, nothing posted");
                self.outbox.delivered_one(delivery).await;
                Step::Delivered
            }
            Ok(Err(refusal)) => {
                self.count_action(refusal.as_str());
                tracing::warn!(sink = %self.outbox.sink, seq = delivery.seq, outcome = refusal.as_str(), "card button press not acted on: {}", why(refusal));
                self.outbox.delivered_one(delivery).await;
                Step::Delivered
            }
            Err(error) => {
                self.count_action("retry");
                self.failed(delivery, SendResult::Retry(error)).await
            }
        }
    }

    /// `Ok(Ok(Some(reply)))`: applied, this goes in the thread; `Ok(Ok(None))`: already so;
    /// `Ok(Err(_))`: refused; `Err(_)`: retry later.
    async fn check_and_apply(
        &mut self,
        delivery: &Delivery,
    ) -> Result<Result<Option<Reply>, Refusal>, String> {
        let click = match self.the_click(&delivery.event).await? {
            Some(click) => click,
            None => return Ok(Err(Refusal::Missing)),
        };
        let path = self.outbox.store.path().to_owned();
        let message_id = click.message_id.clone();
        let card = blocking(move || Reader::open(&path)?.card(&message_id)).await?;
        let card = match card {
            Some(card) if card.sink == self.outbox.sink => card,
            _ => return Ok(Err(Refusal::NotOurCard)),
        };
        if card.room != click.room_id {
            return Ok(Err(Refusal::WrongRoom));
        }
        let actions = self.actions.as_ref().expect("checked by the caller");
        let Some(button) = actions::button(&click.inputs, &actions.silence_buttons) else {
            return Ok(Err(Refusal::UnknownButton));
        };
        let email = self
            .client
            .api()
            .person_email(&click.person_id)
            .await
            .map_err(|error| format!("cannot look up who clicked: {error:#}"))?;
        let Some(email) = email else {
            return Ok(Err(Refusal::UnknownPerson));
        };
        if !actions::permits(&actions.allow, &email) {
            tracing::info!(sink = %self.outbox.sink, person = %email, "not in actions.allow");
            return Ok(Err(Refusal::NotAllowed));
        }
        let path = self.outbox.store.path().to_owned();
        let seq = card.seq;
        let (event, alarms) = blocking(move || {
            let reader = Reader::open(&path)?;
            Ok((reader.event(seq)?, reader.event_alarms(seq)?))
        })
        .await?;
        let Some(event) = event else {
            return Ok(Err(Refusal::NotOurCard));
        };
        let targets = actions::targets(&event, &alarms);
        let actor = Actor {
            name: email,
            via: Via::Webex {
                sink: self.outbox.sink.clone(),
                room: card.room.clone(),
                message: Some(card.message_id.clone()),
            },
        };
        let Some(operator) = &self.operator else {
            tracing::error!(sink = %self.outbox.sink, "no operator service: card buttons cannot act");
            return Ok(Err(Refusal::NothingToActOn));
        };
        let outcome = actions::apply(
            operator,
            button,
            &targets,
            &actor,
            &card.message_id,
            jiff::Timestamp::now(),
        )
        .await
        .map_err(|error| format!("{error:#}"))?;
        tracing::info!(sink = %self.outbox.sink, seq = delivery.seq, card = %card.message_id, button = %button.code(), by = %actor.name, ?outcome, "card button pressed");
        match outcome {
            Err(refusal) => Ok(Err(refusal)),
            Ok(Outcome::Unchanged) => Ok(Ok(None)),
            Ok(Outcome::Changed(markdown)) => {
                let parent = self.thread_of(&card.message_id).await;
                Ok(Ok(Some(Reply {
                    room: card.room,
                    markdown,
                    parent: Some(parent),
                })))
            }
        }
    }

    /// The click the event carries, fetched again when the source could not fetch it.
    async fn the_click(&self, event: &Event) -> Result<Option<Click>, String> {
        match actions::click_of(event) {
            Ok(click) => Ok(Some(click)),
            Err(None) => Ok(None),
            Err(Some(id)) => match self
                .client
                .api()
                .fetch(Resource::AttachmentActions, &id)
                .await
            {
                Ok(Some(action)) => Ok(actions::click_of_action(action)),
                Ok(None) => Ok(None),
                Err(error) => Err(format!("cannot fetch the card action: {error:#}")),
            },
        }
    }

    /// The thread a card is in: its parent when it is itself a reply (Webex threads are one
    /// level deep), else the card. A failure to look is the card itself.
    async fn thread_of(&self, message_id: &str) -> String {
        match self
            .client
            .api()
            .fetch(Resource::Messages, message_id)
            .await
        {
            Ok(Some(message)) => message["parentId"]
                .as_str()
                .unwrap_or(message_id)
                .to_owned(),
            _ => message_id.to_owned(),
        }
    }

    async fn post_reply(&mut self, delivery: &Delivery, reply: Reply) -> Step {
        self.pace().await;
        let mut result = self
            .client
            .post_in_room(&reply.room, &reply.markdown, reply.parent.as_deref())
            .await;
        if matches!(result, SendResult::Rejected(_)) && reply.parent.is_some() {
            self.pace().await;
            result = self
                .client
                .post_in_room(&reply.room, &reply.markdown, None)
                .await;
        }
        match result {
            SendResult::Sent => {
                self.count_action("applied");
                self.outbox.delivered_one(delivery).await;
                Step::Delivered
            }
            failure => {
                self.replies.insert(delivery.id, reply);
                self.failed(delivery, failure).await
            }
        }
    }

    fn count_action(&self, outcome: &'static str) {
        metrics::counter!("netpulse_webex_actions_total", "sink" => self.outbox.sink.clone(), "outcome" => outcome).increment(1);
    }
}

fn why(refusal: Refusal) -> &'static str {
    match refusal {
        Refusal::Missing => "the card action could not be fetched and names no id",
        Refusal::NotOurCard => {
            "the message is not a card this sink posted (or retention deleted it)"
        }
        Refusal::WrongRoom => "clicked in another room than the card's",
        Refusal::UnknownButton => "the inputs name no button of the card",
        Refusal::UnknownPerson => "Webex knows no email for the person",
        Refusal::NotAllowed => "the person is not in actions.allow",
        Refusal::NothingToActOn => "the card's event names nothing to act on",
    }
}

/// Runs a store read off the async runtime.
async fn blocking<T: Send + 'static>(
    read: impl FnOnce() -> anyhow::Result<T> + Send + 'static,
) -> Result<T, String> {
    tokio::task::spawn_blocking(read)
        .await
        .map_err(|error| format!("a store read panicked: {error}"))?
        .map_err(|error| format!("cannot read the store: {error:#}"))
}
