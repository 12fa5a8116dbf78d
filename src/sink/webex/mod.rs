//! `type: webex`: a Markdown message per event, posted by a bot to a room or a person through the
//! Webex Messages API.

pub mod client;
mod worker;

pub use worker::spawn;
