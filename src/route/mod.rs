//! Routing: which sinks take an event. Pure functions over events and the plain data of the
//! configuration (a sink's `match:`, [`crate::config::SinkMatch`]); no IO, no store. The alarm
//! policy (grouping, deduplication, silences) will grow here.

mod matcher;

pub use matcher::{Routes, matches};
