//! Mentions in the Webex simulator: `<@personEmail:…>` and `<@personId:…>` in a message's
//! Markdown become its `mentionedPeople`, the `mentionedPeople` webhook filter and list
//! parameter read them, and, when the simulator is started with `bot_mentions_only`, a bot
//! sees a group room's messages only when they mention it, as Webex documents for bots ("Bots
//! must include this parameter to list messages in group rooms"): its webhooks, its `GET`s.
//! Off by default, so that a bot sees every message of its rooms.

use super::people::Person;
use super::{Inner, SimMessage};

/// The Hydra ids of the people `markdown` mentions, in order, once each; unknown emails and
/// ids are left out (Webex's handling of them is UNKNOWN).
pub(super) fn mentioned(markdown: &str, everyone: &[Person]) -> Vec<String> {
    let mut ids: Vec<String> = Vec::new();
    let mut rest = markdown;
    while let Some(start) = rest.find("<@") {
        rest = &rest[start + 2..];
        let Some(end) = rest.find('>') else {
            break;
        };
        let tag = &rest[..end];
        let target = tag.split('|').next().unwrap_or_default();
        let found = match target.split_once(':') {
            Some(("personEmail", email)) => everyone
                .iter()
                .find(|person| person.email.eq_ignore_ascii_case(email)),
            Some(("personId", id)) => everyone.iter().find(|person| person.hydra_id() == id),
            _ => None,
        };
        if let Some(person) = found {
            let id = person.hydra_id();
            if !ids.contains(&id) {
                ids.push(id);
            }
        }
        rest = &rest[end..];
    }
    ids
}

/// Whether `message` mentions `person`.
pub(super) fn mentions(message: &SimMessage, person: &Person) -> bool {
    let id = person.hydra_id();
    message.mentioned_people.contains(&id)
}

/// Whether the bot rule lets `person` see `message`: anyone but a bot, a bot's own message, a
/// direct message, or one that mentions it, unless the simulator runs without the rule.
pub(super) fn bot_sees(inner: &Inner, person: &Person, message: &SimMessage) -> bool {
    !inner.bot_mentions_only
        || person.kind != "ROBOT"
        || message.room_id.is_none()
        || message.person_id == person.hydra_id()
        || mentions(message, person)
}
