//! The bot's write commands and the silences list, applied through the Operator ([`Act`]):
//! `ack <alarm>`, `silence device=edge-004 2h change CHG0042`, `unsilence <id>`, `silences?`.
//! Each answers in Markdown what it did, or what was already so, or why it did nothing. The
//! worker has checked the room (the command gate), `actions:` and the person before.

use super::actions::{Act, command_silence_id, describe};
use super::card::duration_words;
use super::commands::{Command, SilenceRequest};
use super::markdown::escape;
use crate::operator::{Actor, Applied, OperatorError, OperatorStateKind};
use crate::route::{Mute, MuteKind};

/// Silences listed in one answer at most.
const MAX_LISTED: usize = 25;

/// Runs `command` as `actor`. `message`: the command's message id (a silence's id is made from
/// it); `active`: the keys of the active alarms, to find the one `ack` names by its start. A
/// store error is returned (the delivery is retried).
pub async fn run<A: Act>(
    act: &A,
    command: &Command,
    actor: &Actor,
    message: Option<&str>,
    active: &[String],
    now: jiff::Timestamp,
) -> Result<String, OperatorError> {
    match command {
        Command::Ack(alarm) => {
            let key = match resolve_alarm(alarm, active) {
                Ok(key) => key,
                Err(why) => return Ok(format!("❔ {why}")),
            };
            acknowledge(act, &key, actor).await
        }
        Command::Silence(request) => silence(act, request, actor, message, now).await,
        Command::Unsilence(id) => match act.end_mute(id, actor).await {
            Ok(Applied::Done { .. }) => Ok(format!(
                "🔔 Silence {} ended by {}",
                escape(id),
                escape(&actor.name)
            )),
            Ok(Applied::AlreadySo(_)) => Ok(format!("Silence {} had already ended", escape(id))),
            Err(OperatorError::NotFound(why) | OperatorError::Conflict(why)) => {
                Ok(format!("❔ {}", escape(&why)))
            }
            Err(error) => Err(error),
        },
        Command::Silences => Ok(list(&act.silences().await?, now)),
        Command::Alarms | Command::Help | Command::Invalid(_) => {
            Ok("❔ nothing to do. Say **help** for the commands.".to_owned())
        }
    }
}

/// The alarm `ack` names: a key as given when it is an active one, else the one active key it
/// starts (`sdwan:edge-1` for `sdwan:edge-1:bfd-3`), else the text as a key (an alarm no longer
/// active can be acknowledged too; the Operator says when there is none).
pub fn resolve_alarm(alarm: &str, active: &[String]) -> Result<String, String> {
    if active.iter().any(|key| key == alarm) {
        return Ok(alarm.to_owned());
    }
    let starting: Vec<&String> = active.iter().filter(|key| key.starts_with(alarm)).collect();
    match starting.as_slice() {
        [] => Ok(alarm.to_owned()),
        [one] => Ok((*one).clone()),
        many => Err(format!(
            "{} active alarms start with {}: give more of the key (e.g. {})",
            many.len(),
            escape(alarm),
            escape(many[0])
        )),
    }
}

async fn acknowledge<A: Act>(act: &A, key: &str, actor: &Actor) -> Result<String, OperatorError> {
    match act.acknowledge(key, actor, "").await {
        Ok(Applied::Done { .. }) => Ok(format!(
            "✅ Acknowledged {} by {}",
            escape(key),
            escape(&actor.name)
        )),
        Ok(Applied::AlreadySo(state)) => {
            let what = match state.state {
                OperatorStateKind::Acknowledged => "acknowledged",
                OperatorStateKind::Closed => "closed",
            };
            Ok(format!(
                "{} was already {what} by {} ({})",
                escape(key),
                escape(&state.by),
                state.at.strftime("%Y-%m-%d %H:%M UTC")
            ))
        }
        Err(OperatorError::NotFound(why) | OperatorError::Conflict(why)) => {
            Ok(format!("❔ {}", escape(&why)))
        }
        Err(error) => Err(error),
    }
}

async fn silence<A: Act>(
    act: &A,
    request: &SilenceRequest,
    actor: &Actor,
    message: Option<&str>,
    now: jiff::Timestamp,
) -> Result<String, OperatorError> {
    let id = match message {
        Some(message) => command_silence_id(message),
        None => format!("webex-{}", crate::event::new_event_id()),
    };
    let span = jiff::SignedDuration::try_from(request.duration).unwrap_or_default();
    let comment = if request.comment.trim().is_empty() {
        format!("from Webex, by {}", actor.name)
    } else {
        request.comment.trim().to_owned()
    };
    let mute = Mute {
        id,
        kind: MuteKind::Silence,
        matcher: request.matcher.clone(),
        starts_at: now,
        ends_at: now.saturating_add(span).unwrap_or(now),
        comment,
        created_by: actor.name.clone(),
        created_at: now,
        expired_by: None,
    };
    match act.create_mute(mute, actor).await {
        Ok(Applied::Done { value, .. }) => Ok(format!(
            "🔕 Silenced for {} by {} (until {}, id {}): {} · {}",
            duration_words(request.duration),
            escape(&actor.name),
            value.ends_at.strftime("%Y-%m-%d %H:%M UTC"),
            escape(&value.id),
            escape(&describe(&value.matcher)),
            escape(&value.comment)
        )),
        Ok(Applied::AlreadySo(existing)) => Ok(format!(
            "Already silenced (id {}, until {})",
            escape(&existing.id),
            existing.ends_at.strftime("%Y-%m-%d %H:%M UTC")
        )),
        Err(OperatorError::NotFound(why) | OperatorError::Conflict(why)) => {
            Ok(format!("❔ {}", escape(&why)))
        }
        Err(error) => Err(error),
    }
}

/// `silences?`: the silences active now or later, soonest ending first.
pub fn list(silences: &[Mute], now: jiff::Timestamp) -> String {
    let mut silences: Vec<&Mute> = silences
        .iter()
        .filter(|mute| mute.expired_by.is_none() && mute.ends_at > now)
        .collect();
    if silences.is_empty() {
        return "🔔 No active silence.".to_owned();
    }
    silences.sort_by_key(|mute| (mute.ends_at, mute.id.clone()));
    let more = if silences.len() > MAX_LISTED { "+" } else { "" };
    let mut out = format!("🔕 **Silences: {}{more}**", silences.len().min(MAX_LISTED));
    for mute in silences.iter().take(MAX_LISTED) {
        let starts = if mute.starts_at > now {
            format!("from {} ", mute.starts_at.strftime("%Y-%m-%d %H:%M UTC"))
        } else {
            String::new()
        };
        out.push_str(&format!(
            "\n- **{}** · {} · {starts}until {} · by {}{}",
            escape(&mute.id),
            escape(&describe(&mute.matcher)),
            mute.ends_at.strftime("%Y-%m-%d %H:%M UTC"),
            escape(&mute.created_by),
            if mute.comment.is_empty() {
                String::new()
            } else {
                format!(" · {}", escape(&mute.comment))
            }
        ));
    }
    out
}

#[cfg(test)]
mod tests;
