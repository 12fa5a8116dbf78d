//! `type: webex`: a Markdown message per event (with its plain text beside it), posted by a bot
//! to a room or a person through the Webex Messages API. `render` makes the message from a
//! template (escaping untrusted text), `split` cuts one that is too long, `client` speaks the API,
//! `worker` runs the delivery loop. A group's notification gets the built-in message of `group`,
//! in its group's thread (`thread`).

pub mod actions;
pub mod card;
pub mod client;
pub mod commands;
pub mod group;
pub mod markdown;
pub mod operate;
pub mod render;
pub mod split;
pub mod templates;
pub mod thread;
mod worker;

pub use worker::spawn;
