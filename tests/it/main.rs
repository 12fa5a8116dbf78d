//! The integration tests: one binary (see matklad, "Delete Cargo Integration Tests"). Each test
//! runs the real gateway in-process against the device simulators, over real TLS and WebSockets
//! on loopback.

mod alarm_actions;
mod alerting_api;
mod api;
mod apic;
mod bad_input;
mod browser;
mod cli;
mod cluster;
mod cluster_lease;
mod cluster_log;
mod cluster_sinks;
mod crash;
mod dme;
mod dme_topology;
mod providers;
mod pxgrid;
mod reload;
mod restart_view;
mod subscription_health;
mod support;
mod topology_storm;
mod webex;
mod webex_cards;
mod webex_console;
mod webex_events;
mod webex_threads;
mod webhooks;
