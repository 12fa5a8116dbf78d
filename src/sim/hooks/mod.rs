//! Webhook senders of the platforms netpulse receives from (`netpulse sim meraki`,
//! `catalyst-center`, `thousandeyes`, `intersight`, `standard-webhooks`, `cloudevents`): real
//! payloads (the fixtures, embedded in the binary) re-dated and re-identified, spread over N
//! simulated devices, each alarm raised then cleared with the same identity, authenticated or
//! signed as the platform does (`protocols-webhooks.md` §2, §3, §4, §6, §9.1, §9.2). The signers
//! in [`sign`] are written independently of the gateway's verifiers, so each tests the other.

mod cli;
pub mod payloads;
mod sender;
pub mod sign;
#[cfg(test)]
mod tests;

pub use crate::sim::load::Report;
pub use cli::{
    CatalystCenterSimArgs, CloudeventsSimArgs, CommonArgs, DestinationMethod, HookArgs,
    IntersightSimArgs, MerakiSimArgs, SecretIn, StandardWebhooksSimArgs, ThousandeyesSimArgs,
    run_cli,
};
pub use payloads::{CloudEventsMode, Payload, PayloadOptions, Payloads, Provider, payloads};
pub use sender::{HookSimConfig, default_cloudevents_source, run};
pub use sign::Auth;
