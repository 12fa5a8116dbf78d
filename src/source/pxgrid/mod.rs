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

use crate::config::PxgridSourceConfig;
use crate::source::lifecycle::{Ended, Link, Next, Protocol};

mod client;
pub mod protocol;
mod session;
pub mod stomp;

use client::{PxgridClient, SessionError};

/// Makes the source's protocol half; the lifecycle runs it.
pub(crate) fn consumer(config: &PxgridSourceConfig) -> anyhow::Result<Pxgrid> {
    Ok(Pxgrid {
        client: PxgridClient::new(config)?,
        password: config.password().map(str::to_owned),
        config: config.clone(),
        known: HashMap::new(),
    })
}

/// Cisco: "For DISABLED state, the recommended wait time between AccountActivate calls is at
/// least 5 minutes"; with the PENDING wait at its recommended 60 s, that is five polls.
const DISABLED_POLLS: u32 = 5;

/// One pxGrid consumer: its client, and what outlives sessions.
pub(crate) struct Pxgrid {
    config: PxgridSourceConfig,
    client: PxgridClient,
    /// The configured password, or the one `AccountCreate` returned.
    password: Option<String>,
    /// Per session (by MAC), the state and time last reported, so that a session seen again
    /// (by a resync overlapping live messages) is not reported twice.
    known: HashMap<String, (String, String)>,
}

impl Protocol for Pxgrid {
    type Error = SessionError;

    async fn session(&mut self, link: &mut Link) -> Ended<SessionError> {
        self.run_session(link).await
    }

    fn record_failure(&self, link: &Link, error: &SessionError) {
        let name = &link.name;
        let address = &self.config.address;
        match error {
            SessionError::Unauthorized(_) | SessionError::Disabled(_) => {
                link.counters.login_failures.increment(1);
                link.status.update(|status| status.login_failures += 1);
                tracing::error!(source = %name, address = %address, node_name = %self.config.node_name, error = %error, "pxGrid refused the account");
            }
            _ => {
                tracing::warn!(source = %name, address = %address, kind = error.kind(), error = %error, "pxGrid session failed")
            }
        }
    }

    fn after_failure(&mut self, error: &SessionError) -> Next {
        match error {
            SessionError::Disabled(_) => {
                Next::BackoffAtLeast(self.config.activation_poll * DISABLED_POLLS)
            }
            _ => Next::Backoff,
        }
    }
}
