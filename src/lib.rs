//! netpulse: a gateway that turns device subscriptions and webhooks into one normalized, durable
//! stream of events for applications.
//!
//! # Layout
//! - [`backoff`]: the one retry delay (exponential, jittered) of sessions and deliveries.
//! - [`cluster`]: cluster mode on NATS JetStream: the wire contract, leases, the local test cluster.
//! - [`config`]: the YAML configuration, parsed and validated with every error reported at once.
//! - [`event`]: the normalized, CloudEvents-compatible [`event::Event`]; plain data, no IO.
//! - [`source`]: inputs, one module per protocol (`dme` for NX-OS / APIC WebSocket subscriptions),
//!   the session-holding ones run by the one `source::lifecycle`.
//! - [`route`]: which sinks take an event; pure functions over events and the configuration.
//! - [`pipeline`]: routes each event and appends it with its outbox rows, then wakes the sinks.
//! - [`store`]: the embedded durable store (SQLite, WAL, group commit): event log, alarms, outbox.
//! - [`feed`]: the live feed: committed events fanned out to clients that resume by seq.
//! - [`sink`]: outputs, one module per kind (`file`, `stdout`, `webex`), each reading the outbox.
//! - [`http`]: the one HTTP server: webhook routes, `/api/v1`, the dashboard, metrics, health.
//! - [`gateway`]: wires sources to sinks, owns shutdown and configuration reload.
//! - [`sim`]: device simulators, also a product feature (`netpulse sim dme`).
//! - [`demo`]: `netpulse demo`, a simulated switch and the gateway wired together.
//! - [`tls`]: the client TLS policy shared by every outgoing connection, and the one HTTP client
//!   builder.
//! - [`webex_api`]: the one Webex REST client, shared by the Webex source, webhook and sink.
//! - [`secret`]: the constant-time comparison of secrets (API tokens, webhook credentials).
//! - [`throttle`]: log lines a flood would repeat, at most one per interval.
//! - [`duration`]: the configuration's durations (`30s`, `5m`).

pub mod backoff;
pub mod cluster;
pub mod config;
pub mod demo;
pub mod duration;
pub mod event;
pub mod feed;
#[doc(hidden)]
pub mod fuzz_targets;
pub mod gateway;
pub mod http;
pub mod operator;
pub mod pipeline;
pub mod route;
pub mod secret;
pub mod sim;
pub mod sink;
pub mod source;
pub mod store;
pub mod throttle;
pub mod tls;
pub mod webex_api;

pub use gateway::{Gateway, run};
