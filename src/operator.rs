//! What an operator does to alarms and mutes, whichever way they asked: the API, a Webex card's
//! button or a command to the bot. Every action is an operator event appended to the log (source
//! `netpulse`), so history, the feed and every node see who did what, where; the alarm's operator
//! state (`alarms.operator`) and the router's mutes are folds of those events.
//!
//! Each action is idempotent: acknowledging an alarm that is already acknowledged, or creating a
//! silence whose id exists, appends nothing and says what was already so.

mod mutes;
#[cfg(test)]
mod tests;

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::event::Event;
use crate::gateway::router::RouterHandle;
use crate::pipeline::Pipeline;
use crate::route::{OWN_SOURCE, operator_types};
use crate::store::{AlarmView, NewEvent, ReaderPool};

pub use mutes::{MAX_SPAN, MUTE_KEY_PREFIX, mutes_in_state};

/// How long an action waits for the alerting router to apply its operator event (so that what
/// the router does with it, a mute, an acknowledged line, is in force when the caller hears).
pub const APPLY_TIMEOUT: Duration = Duration::from_secs(5);

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
    shared: Arc<Shared>,
}

/// What the clones of an [`Operator`] share (the gateway makes one, for the API and every Webex
/// sink): the lock that makes check-and-append one step, so that two clicks on one button cannot
/// both append, and the connections to read with.
struct Shared {
    lock: tokio::sync::Mutex<()>,
    pool: ReaderPool,
}

impl Operator {
    pub fn new(pipeline: Pipeline, router: Option<RouterHandle>) -> Operator {
        let shared = Arc::new(Shared {
            lock: tokio::sync::Mutex::new(()),
            pool: ReaderPool::new(pipeline.store().path()),
        });
        Operator {
            pipeline,
            router,
            shared,
        }
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
        key: &str,
        actor: &Actor,
        note: &str,
    ) -> Result<Applied<OperatorState>, OperatorError> {
        self.act_on_alarm(key, actor, note, OperatorStateKind::Acknowledged)
            .await
    }

    /// Closes the alarm `key`: it leaves the active list until a new raise.
    pub async fn close(
        &self,
        key: &str,
        actor: &Actor,
        note: &str,
    ) -> Result<Applied<OperatorState>, OperatorError> {
        self.act_on_alarm(key, actor, note, OperatorStateKind::Closed)
            .await
    }

    /// The alarm `key` as the alarms API shows it (operator state included), if the store has it.
    pub async fn alarm(&self, key: &str) -> Result<Option<AlarmView>, OperatorError> {
        let key = key.to_owned();
        self.shared
            .pool
            .read(move |reader| reader.alarm_view(&key))
            .await
            .map_err(OperatorError::Store)
    }

    async fn act_on_alarm(
        &self,
        key: &str,
        actor: &Actor,
        note: &str,
        wanted: OperatorStateKind,
    ) -> Result<Applied<OperatorState>, OperatorError> {
        let guard = self.shared.lock.lock().await;
        let Some(alarm) = self.alarm(key).await? else {
            return Err(OperatorError::NotFound(format!(
                "there is no alarm {key:?}: an alarm is known from the first event that raises or clears it (list them with GET /api/v1/alarms?state=all)"
            )));
        };
        match &alarm.operator {
            // Closed stays closed until a new raise; acknowledged stays with its first
            // acknowledger.
            Some(state)
                if state.state == OperatorStateKind::Closed
                    || wanted == OperatorStateKind::Acknowledged =>
            {
                return Ok(Applied::AlreadySo(state.clone()));
            }
            _ => {}
        }
        if wanted == OperatorStateKind::Closed && !alarm.row.raised {
            return Err(OperatorError::Conflict(format!(
                "alarm {key} is cleared: there is nothing to close"
            )));
        }
        let action = AlarmAction {
            key: key.to_owned(),
            by: actor.name.clone(),
            note: note.trim().to_owned(),
            via: actor.via.clone(),
        };
        let kind = match wanted {
            OperatorStateKind::Acknowledged => operator_types::ALARM_ACKNOWLEDGED,
            OperatorStateKind::Closed => operator_types::ALARM_CLOSED,
        };
        let data = serde_json::to_value(&action).expect("an action is plain data");
        let mut event = Event::new(OWN_SOURCE, kind, jiff::Timestamp::now(), data);
        // The alarm's device, so that a sink's `match: device` takes the action with the alarm.
        event.device = alarm.device.unwrap_or_default();
        event.summary = alarm_summary(&action, wanted);
        let at = event.time;
        let seq = self.append(event).await?;
        drop(guard);
        tracing::info!(%key, by = %actor.name, state = ?wanted, seq, "alarm acted on by an operator");
        let routed = self.wait_routed(seq).await;
        let value = OperatorState {
            state: wanted,
            by: action.by,
            at,
            note: action.note,
            via: action.via,
        };
        Ok(Applied::Done { seq, routed, value })
    }

    /// Appends an operator event through the pipeline (the feed, the history and sinks'
    /// `match:` see it): its seq.
    async fn append(&self, event: Event) -> Result<u64, OperatorError> {
        let mut items = [NewEvent::new(event)];
        let appended = self
            .pipeline
            .ingest(&mut items)
            .await
            .map_err(|error| OperatorError::Store(anyhow::anyhow!(error)))?;
        let seq = appended.first().map_or(0, |appended| appended.seq);
        // In cluster mode the event reaches this node's store through the projection: the
        // next action (under the same lock) must see it, or an alarm could be acknowledged
        // twice.
        if !self.pipeline.wait_stored(seq, APPLY_TIMEOUT).await {
            tracing::warn!(
                seq,
                "an operator event is not in this node's store yet (cluster mode: spooled, or the projection lags)"
            );
        }
        Ok(seq)
    }

    /// Waits for the router to apply the event `seq`, at most [`APPLY_TIMEOUT`]; false when it
    /// has not (or no router runs).
    async fn wait_routed(&self, seq: u64) -> bool {
        let Some(router) = &self.router else {
            return false;
        };
        let applied = router.wait_applied(seq, APPLY_TIMEOUT).await;
        if !applied {
            tracing::warn!(
                seq,
                "the alerting router has not applied an operator event within {APPLY_TIMEOUT:?}"
            );
        }
        applied
    }
}

/// "alarm K acknowledged by alice@example.com via Webex room R (sink S): the note".
fn alarm_summary(action: &AlarmAction, state: OperatorStateKind) -> String {
    let verb = match state {
        OperatorStateKind::Acknowledged => "acknowledged",
        OperatorStateKind::Closed => "closed",
    };
    let note = if action.note.is_empty() {
        String::new()
    } else {
        format!(": {}", action.note)
    };
    format!(
        "alarm {} {verb} by {} {}{note}",
        action.key,
        action.by,
        via_text(&action.via)
    )
}

/// Where an action came from, as a summary says it.
pub fn via_text(via: &Via) -> String {
    match via {
        Via::Api { token } => format!("via the API (token {token})"),
        Via::Webex { sink, room, .. } => format!("via Webex room {room} (sink {sink})"),
    }
}
