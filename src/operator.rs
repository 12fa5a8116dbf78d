//! What an operator does to alarms and mutes, whichever way they asked: the API, a Webex card's
//! button or a command to the bot. Every action is an operator event appended to the log (source
//! `netpulse`), so history, the feed and every node see who did what, where; the alarm's operator
//! state (`alarms.operator`) and the router's mutes are folds of those events.
//!
//! Each action is idempotent: acknowledging an alarm that is already acknowledged, or creating a
//! silence whose id exists, appends nothing and says what was already so.

use serde::{Deserialize, Serialize};

use crate::gateway::router::RouterHandle;
use crate::pipeline::Pipeline;
use crate::route::{Mute, MuteKind};

/// Who acted, as the channel knows them: a token's name, or a Webex person's email.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Actor {
    pub name: String,
    pub via: Via,
}

/// Where an action came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "channel", rename_all = "snake_case")]
pub enum Via {
    /// The HTTP API, with this token (its name, never the secret).
    Api { token: String },
    /// A Webex room: a card's button (`message`: the card's message id) or a command (`message`:
    /// the command's message id).
    Webex {
        sink: String,
        room: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        message: Option<String>,
    },
}

/// The operator side of one alarm, as stored in `alarms.operator`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OperatorState {
    pub state: OperatorStateKind,
    pub by: String,
    pub at: jiff::Timestamp,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub note: String,
    pub via: Via,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OperatorStateKind {
    Acknowledged,
    Closed,
}

/// The `data` of an `alarm.acknowledged` or `alarm.closed` operator event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlarmAction {
    /// The alarm key.
    pub key: String,
    pub by: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub note: String,
    pub via: Via,
}

/// What an action did.
#[derive(Debug, Clone, PartialEq)]
pub enum Applied<T> {
    /// Appended as the event `seq`; `routed`: the router applied it within its timeout (a list
    /// right now shows it).
    Done { seq: u64, routed: bool, value: T },
    /// It was already so; nothing appended.
    AlreadySo(T),
}

#[derive(Debug, thiserror::Error)]
pub enum OperatorError {
    /// No such alarm, mute...: the message says what to look up instead.
    #[error("{0}")]
    NotFound(String),
    /// The request makes no sense for this alarm (closing one that is not raised...).
    #[error("{0}")]
    Conflict(String),
    #[error("the store: {0:#}")]
    Store(anyhow::Error),
}

/// The one way to act on alarms and mutes.
#[derive(Clone)]
pub struct Operator {
    pipeline: Pipeline,
    router: Option<RouterHandle>,
}

impl Operator {
    pub fn new(pipeline: Pipeline, router: Option<RouterHandle>) -> Operator {
        Operator { pipeline, router }
    }

    pub fn pipeline(&self) -> &Pipeline {
        &self.pipeline
    }

    pub fn router(&self) -> Option<&RouterHandle> {
        self.router.as_ref()
    }

    /// Acknowledges the alarm `key` (raised or not): an `alarm.acknowledged` event, unless it is
    /// already acknowledged or closed (then `AlreadySo` with who did).
    pub async fn acknowledge(
        &self,
        _key: &str,
        _actor: &Actor,
        _note: &str,
    ) -> Result<Applied<OperatorState>, OperatorError> {
        todo!("issue 21: operator state")
    }

    /// Closes the alarm `key`: it leaves the active list until a new raise.
    pub async fn close(
        &self,
        _key: &str,
        _actor: &Actor,
        _note: &str,
    ) -> Result<Applied<OperatorState>, OperatorError> {
        todo!("issue 21: operator state")
    }

    /// Creates a silence or a window (`mute.id` chosen by the caller: a deterministic id makes a
    /// repeated request idempotent).
    pub async fn create_mute(
        &self,
        _mute: Mute,
        _actor: &Actor,
    ) -> Result<Applied<Mute>, OperatorError> {
        todo!("issue 21: operator state")
    }

    /// Ends a silence (expires it now) or deletes a window.
    pub async fn end_mute(
        &self,
        _kind: MuteKind,
        _id: &str,
        _actor: &Actor,
    ) -> Result<Applied<Mute>, OperatorError> {
        todo!("issue 21: operator state")
    }

    /// The active and future mutes of a kind, as the router holds them.
    pub async fn mutes(&self, _kind: MuteKind) -> Result<Vec<Mute>, OperatorError> {
        todo!("issue 21: operator state")
    }
}
