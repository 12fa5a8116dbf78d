//! Webhook receivers: the ingress of every `type: webhook` source, one module per provider.
//!
//! One request goes through one room: [`WebhookReceiver::receive`] runs every check in order and
//! returns the request's [`Outcome`]; the HTTP handler (`crate::http::hooks`) only turns the
//! outcome into a response. The verifier ([`verify`]) turns a request that passed every check into
//! a [`verify::Verified`] request, the only thing a provider's normalizer accepts, so no
//! normalizer ever sees an unverified body.
//!
//! A provider module is a pure core: it turns one verified request into [`Normalized`] (the event,
//! its redelivery key and its alarm updates), with no IO; its special cases (Catalyst Center's
//! relative links, Meraki's secret in the body, SD-WAN's body kept as the data) stay inside it.
//! The one exception is Webex, whose notification names a message to fetch (`webex_api::Fetcher`).
//!
//! Every alarm key and redelivery key a provider makes starts with the source's name and `:`
//! ([`scoped`]): one source's requests can neither change another source's alarms nor make
//! another source's events look like redeliveries.

pub mod auth;
pub mod catalyst_center;
mod fields;
#[cfg(test)]
mod fuzz;
pub mod generic;
pub mod intersight;
mod lenient;
pub mod mapping;
pub mod meraki;
mod outcome;
pub mod receiver;
pub mod sdwan;
#[cfg(test)]
mod snapshots;
#[cfg(test)]
pub(crate) mod testing;
pub mod thousandeyes;
pub mod verify;
pub mod webex;

pub use outcome::{OUTCOMES, Outcome};
pub use receiver::WebhookReceiver;

use crate::event::{AlarmUpdate, Event};

/// Why a body cannot become an event: answered 400 with this text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}")]
pub struct Invalid {
    /// A short label for metrics: `malformed`, `not_an_alarm` or `unrecognized`.
    pub kind: &'static str,
    pub reason: String,
}

impl Invalid {
    /// The body is not JSON (or not the encoding the provider uses).
    pub fn malformed(reason: impl Into<String>) -> Invalid {
        Invalid {
            kind: "malformed",
            reason: reason.into(),
        }
    }

    /// The body is JSON but not a document of this provider.
    pub fn unrecognized(reason: impl Into<String>) -> Invalid {
        Invalid {
            kind: "unrecognized",
            reason: reason.into(),
        }
    }
}

/// What a provider makes of one verified request, every provider alike: the event, the key that
/// makes a redelivery of the same notification a duplicate, and the alarm states it sets.
///
/// Every provider module (`sdwan.rs`, `meraki.rs`, ...) is a pure function from a
/// [`verify::Verified`] request to this: no IO, no clock (the receipt time comes with the
/// request), no tokio, no store.
#[derive(Debug, Clone, PartialEq)]
pub struct Normalized {
    pub event: Event,
    /// The event's `data` as the JSON text it arrived in, when the provider keeps the body as it
    /// is (SD-WAN): `event.data` is then `null`, and the store writes this text in its place. A
    /// reference to the received bytes, not a copy.
    pub raw_data: Option<bytes::Bytes>,
    /// `<source>:<provider>:<natural id>`: a later request with the same key is a redelivery.
    pub idempotency_key: Option<String>,
    /// The alarms this event raises or clears, each keyed `<source>:...`.
    pub alarms: Vec<AlarmUpdate>,
}

/// Whether `key` belongs to the source `source_name`: it starts with the name and `:`.
pub fn scoped(key: &str, source_name: &str) -> bool {
    key.strip_prefix(source_name)
        .is_some_and(|rest| rest.starts_with(':'))
}
