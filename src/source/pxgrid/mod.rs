//! The pxGrid source (`type: pxgrid`): a Cisco ISE pxGrid 2.0 consumer.
//!
//! The session follows the order of Cisco's samples: `AccountActivate` until the administrator
//! approves the account (polling while PENDING), `ServiceLookup` of the session service (its
//! `sessionTopic`, `restBaseUrl` and pubsub service) and of the pubsub service (`wsUrl`),
//! `AccessSecret` for the pubsub node, then STOMP 1.2 over the WebSocket: CONNECT, SUBSCRIBE and
//! MESSAGE frames, with heart-beats (or WebSocket pings) both ways. On any failure it reconnects
//! with jittered exponential backoff; after a reconnect it emits a gap event and resynchronises
//! through `getSessions` since the gap began, suppressing sessions it has already reported.
//!
//! # Layout
//! - [`stomp`]: the STOMP frame codec (shared with the ISE simulator).
//! - [`protocol`]: control API bodies and session → event, no IO.
//! - `client`: the REST and WebSocket calls; `session`: one session from activation to failure.

use std::collections::HashMap;

use tokio_util::task::TaskTracker;

use crate::config::PxgridSourceConfig;
use crate::source::backoff::{Backoff, wait_to_reconnect};
use crate::source::{ConnectionState, Counters, Gap, SourceContext};

mod client;
pub mod protocol;
mod session;
pub mod stomp;

use client::{PxgridClient, SessionError};

/// What the gateway keeps of a running pxGrid source.
pub struct PxgridHandle;

/// Starts the source's session task.
pub fn spawn(
    config: &PxgridSourceConfig,
    context: SourceContext,
    tracker: &TaskTracker,
) -> anyhow::Result<PxgridHandle> {
    let client = PxgridClient::new(config)?;
    let source = Pxgrid {
        counters: Counters::new(&context.name),
        password: config.password().map(str::to_owned),
        config: config.clone(),
        client,
        context,
        known: HashMap::new(),
        connected_once: false,
    };
    tracker.spawn(source.run());
    Ok(PxgridHandle)
}

/// How a session ended.
enum Ended {
    Shutdown,
    Failed {
        error: SessionError,
        healthy_until: Option<jiff::Timestamp>,
        was_live: bool,
    },
}

/// Cisco: "For DISABLED state, the recommended wait time between AccountActivate calls is at
/// least 5 minutes"; with the PENDING wait at its recommended 60 s, that is five polls.
const DISABLED_POLLS: u32 = 5;

struct Pxgrid {
    config: PxgridSourceConfig,
    client: PxgridClient,
    context: SourceContext,
    counters: Counters,
    /// The configured password, or the one `AccountCreate` returned.
    password: Option<String>,
    /// Per session (by MAC), the state and time last reported, so that a session seen again
    /// (by a resync overlapping live messages) is not reported twice.
    known: HashMap<String, (String, String)>,
    /// False until the first subscription: only later connects follow a gap.
    connected_once: bool,
}

impl Pxgrid {
    async fn run(mut self) {
        let mut backoff = Backoff::new(&self.config.backoff);
        let mut gap: Option<Gap> = None;
        loop {
            let (error, healthy_until, was_live) = match self.session(&mut gap).await {
                Ended::Shutdown => break,
                Ended::Failed {
                    error,
                    healthy_until,
                    was_live,
                } => (error, healthy_until, was_live),
            };
            if was_live {
                backoff.reset();
            }
            self.record_failure(&error);
            if self.connected_once && gap.is_none() {
                gap = Some(Gap {
                    since: healthy_until.unwrap_or_else(jiff::Timestamp::now),
                    reason: error.to_string(),
                });
            }
            let mut delay = backoff.next_delay();
            if matches!(error, SessionError::Disabled(_)) {
                delay = delay.max(self.config.activation_poll * DISABLED_POLLS);
            }
            if !wait_to_reconnect(&self.context, delay, &self.counters.reconnects).await {
                break;
            }
        }
        self.context.status.set_state(ConnectionState::Stopped);
    }

    fn record_failure(&self, error: &SessionError) {
        let name = &self.context.name;
        let address = &self.config.address;
        match error {
            SessionError::Unauthorized(_) | SessionError::Disabled(_) => {
                self.counters.login_failures.increment(1);
                self.context
                    .status
                    .update(|status| status.login_failures += 1);
                tracing::error!(source = %name, address = %address, node_name = %self.config.node_name, error = %error, "pxGrid refused the account");
            }
            _ => {
                tracing::warn!(source = %name, address = %address, kind = error.kind(), error = %error, "pxGrid session failed")
            }
        }
        self.context.status.set_error(&error.to_string());
    }
}
