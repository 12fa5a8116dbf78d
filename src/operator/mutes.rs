//! Silences and one-off maintenance windows ([`Mute`]s) as an operator makes and ends them. A
//! mute lives in the alerting router's state: rows keyed [`MUTE_KEY_PREFIX`]`<id>`, folded by the
//! router from the `silence.*` / `window.*` operator events this module appends.

use serde_json::{Value, json};

use super::{Actor, Applied, Operator, OperatorError, via_text};
use crate::event::Event;
use crate::route::{Matcher, Mute, MuteKind, OWN_SOURCE, operator_types};

/// The engine's state rows that hold a mute: `mute/<id>`, with the [`Mute`] in the value (see
/// [`stored_mute`]). The engine (`route::state::MUTE`) names its rows so; if that changes, this
/// prefix is the one place to change here.
pub const MUTE_KEY_PREFIX: &str = "mute/";

/// The longest a silence or window may last: a mute forgotten for months hides real outages.
/// Longer recurring quiet hours belong in the configuration's `time_intervals`.
pub const MAX_SPAN: jiff::SignedDuration = jiff::SignedDuration::from_hours(90 * 24);

/// What a kind of mute is called in summaries, and its operator event types.
struct Words {
    singular: &'static str,
    created: &'static str,
    ended: &'static str,
    /// `expired`, `deleted`.
    ended_word: &'static str,
}

fn words(kind: MuteKind) -> Words {
    match kind {
        MuteKind::Silence => Words {
            singular: "silence",
            created: operator_types::SILENCE_CREATED,
            ended: operator_types::SILENCE_EXPIRED,
            ended_word: "expired",
        },
        MuteKind::Window => Words {
            singular: "window",
            created: operator_types::WINDOW_CREATED,
            ended: operator_types::WINDOW_DELETED,
            ended_word: "deleted",
        },
    }
}

impl Operator {
    /// Creates a silence or a window (`mute.id` chosen by the caller: a deterministic id makes a
    /// repeated request idempotent). `created_by` becomes the actor's name.
    pub async fn create_mute(
        &self,
        mut mute: Mute,
        actor: &Actor,
    ) -> Result<Applied<Mute>, OperatorError> {
        let now = jiff::Timestamp::now();
        check_mute(&mute, now).map_err(OperatorError::Conflict)?;
        mute.created_by = actor.name.clone();
        mute.expired_by = None;
        // Held until the router has applied the event: the next request's check reads the
        // router's state, so it must see this mute.
        let _guard = self.shared.lock.lock().await;
        let current = self.mutes(mute.kind).await?;
        if let Some(existing) = current.into_iter().find(|existing| existing.id == mute.id) {
            return Ok(Applied::AlreadySo(existing));
        }
        let words = words(mute.kind);
        let mut data = serde_json::to_value(&mute).expect("a mute is plain data");
        data["via"] = json!(actor.via);
        let mut event = Event::new(OWN_SOURCE, words.created, now, data);
        event.summary = created_summary(&words, &mute, actor);
        let seq = self.append(event).await?;
        let routed = self.wait_routed(seq).await;
        tracing::info!(
            id = %mute.id,
            by = %actor.name,
            kind = words.singular,
            starts_at = %mute.starts_at,
            ends_at = %mute.ends_at,
            "mute created"
        );
        Ok(Applied::Done {
            seq,
            routed,
            value: mute,
        })
    }

    /// Ends a silence (expires it now) or deletes a window.
    pub async fn end_mute(
        &self,
        kind: MuteKind,
        id: &str,
        actor: &Actor,
    ) -> Result<Applied<Mute>, OperatorError> {
        let words = words(kind);
        let _guard = self.shared.lock.lock().await;
        let current = self.mutes(kind).await?;
        let Some(mut mute) = current.into_iter().find(|mute| mute.id == id) else {
            return Err(OperatorError::NotFound(format!(
                "there is no active or future {} with id {id:?}",
                words.singular
            )));
        };
        let data = json!({"id": id, "by": actor.name, "via": actor.via});
        let mut event = Event::new(OWN_SOURCE, words.ended, jiff::Timestamp::now(), data);
        let was = if mute.comment.is_empty() {
            String::new()
        } else {
            format!(" (was: {})", mute.comment)
        };
        event.summary = format!(
            "{} {id} {} by {} {}{was}",
            words.singular,
            words.ended_word,
            actor.name,
            via_text(&actor.via)
        );
        let seq = self.append(event).await?;
        let routed = self.wait_routed(seq).await;
        tracing::info!(%id, by = %actor.name, kind = words.singular, "mute ended");
        mute.expired_by = Some(actor.name.clone());
        Ok(Applied::Done {
            seq,
            routed,
            value: mute,
        })
    }

    /// The active and future mutes of a kind, as the router holds them, soonest first.
    pub async fn mutes(&self, kind: MuteKind) -> Result<Vec<Mute>, OperatorError> {
        let (_, rows) = self
            .shared
            .pool
            .read(|reader| reader.route_state())
            .await
            .map_err(OperatorError::Store)?;
        Ok(mutes_in_state(&rows, kind, jiff::Timestamp::now()))
    }
}

/// What makes a mute unusable, said for the person who asked: the API's parser says the same
/// with field names, this guards every other channel.
fn check_mute(mute: &Mute, now: jiff::Timestamp) -> Result<(), String> {
    if mute.id.trim().is_empty() {
        return Err("a mute needs an id".to_owned());
    }
    if mute.matcher == crate::config::EventMatcher::default() {
        return Err("the matchers are empty, which would mute every event".to_owned());
    }
    Matcher::new(&mute.matcher).map_err(|error| format!("matchers: {error}"))?;
    if mute.ends_at <= mute.starts_at {
        return Err(format!(
            "it ends ({}) before it starts ({})",
            mute.ends_at, mute.starts_at
        ));
    }
    if mute.ends_at <= now {
        return Err(format!("it ends ({}) in the past", mute.ends_at));
    }
    if mute.starts_at.duration_until(mute.ends_at) > MAX_SPAN {
        return Err(format!(
            "a mute lasts at most {} days",
            MAX_SPAN.as_hours() / 24
        ));
    }
    Ok(())
}

/// "silence by alice (2026-… to 2026-…): change 1234", with where it came from unless the API.
fn created_summary(words: &Words, mute: &Mute, actor: &Actor) -> String {
    let round = |time: jiff::Timestamp| time.round(jiff::Unit::Second).unwrap_or(time);
    let via = match actor.via {
        super::Via::Api { .. } => String::new(),
        super::Via::Webex { .. } => format!(" {}", via_text(&actor.via)),
    };
    format!(
        "{} by {}{via} ({} to {}): {}",
        words.singular,
        mute.created_by,
        round(mute.starts_at),
        round(mute.ends_at),
        mute.comment
    )
}

/// The mutes of `kind` among the router's state rows that are active at `now` or start later
/// and were not ended early, ordered by start then end.
pub fn mutes_in_state(
    rows: &[(String, String)],
    kind: MuteKind,
    now: jiff::Timestamp,
) -> Vec<Mute> {
    let mut mutes: Vec<Mute> = rows
        .iter()
        .filter(|(key, _)| key.starts_with(MUTE_KEY_PREFIX))
        .filter_map(|(key, value)| match stored_mute(value) {
            Ok(mute) => Some(mute),
            Err(error) => {
                tracing::warn!(%key, %error, "a mute in the router's state is not valid JSON");
                None
            }
        })
        .filter(|mute| mute.kind == kind && mute.expired_by.is_none() && mute.ends_at > now)
        .collect();
    mutes.sort_by(|a, b| (a.starts_at, a.ends_at, &a.id).cmp(&(b.starts_at, b.ends_at, &b.id)));
    mutes
}

/// A mute row's value: the engine keeps the [`Mute`] with its own bookkeeping beside it
/// (`{"mute": Mute, "started": bool}`); a bare `Mute` is taken too.
fn stored_mute(value: &str) -> Result<Mute, serde_json::Error> {
    let mut value: Value = serde_json::from_str(value)?;
    match value.get_mut("mute") {
        Some(mute) if mute.is_object() => serde_json::from_value(mute.take()),
        _ => serde_json::from_value(value),
    }
}
