//! Reconnect delays shared by every session-holding source: exponential with "equal jitter", each
//! delay half fixed and half random, so that many devices failing together do not all come back
//! in the same instant.

use std::time::Duration;

use crate::config::BackoffConfig;
use crate::source::{ConnectionState, SourceContext};

pub(crate) struct Backoff {
    initial: Duration,
    max: Duration,
    attempt: u32,
}

impl Backoff {
    pub(crate) fn new(config: &BackoffConfig) -> Backoff {
        Backoff {
            initial: config.initial,
            max: config.max,
            attempt: 0,
        }
    }

    pub(crate) fn reset(&mut self) {
        self.attempt = 0;
    }

    pub(crate) fn next_delay(&mut self) -> Duration {
        let factor = 2u32.saturating_pow(self.attempt.min(20));
        let base = self.initial.saturating_mul(factor).min(self.max);
        self.attempt += 1;
        let half = base / 2;
        half + half.mul_f64(fastrand::f64())
    }
}

/// Between two sessions: says so in the log and the source's status, waits `delay`, and counts
/// the reconnect. False when the gateway shuts down meanwhile (nothing is counted then).
pub(crate) async fn wait_to_reconnect(
    context: &SourceContext,
    delay: Duration,
    reconnects: &metrics::Counter,
) -> bool {
    tracing::info!(source = %context.name, delay_ms = delay.as_millis() as u64, "reconnecting after backoff");
    context.status.set_state(ConnectionState::Backoff);
    tokio::select! {
        _ = context.shutdown.cancelled() => return false,
        _ = tokio::time::sleep(delay) => {}
    }
    reconnects.increment(1);
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_to_its_cap_with_jitter_and_resets() {
        let config = BackoffConfig {
            initial: Duration::from_millis(100),
            max: Duration::from_secs(1),
        };
        let mut backoff = Backoff::new(&config);
        let delays: Vec<_> = (0..8).map(|_| backoff.next_delay()).collect();
        for (attempt, delay) in delays.iter().enumerate() {
            let base =
                (Duration::from_millis(100) * 2u32.pow(attempt as u32)).min(Duration::from_secs(1));
            assert!(
                *delay >= base / 2 && *delay <= base,
                "attempt {attempt}: {delay:?} not in [{:?}, {base:?}]",
                base / 2
            );
        }
        backoff.reset();
        assert!(backoff.next_delay() <= Duration::from_millis(100));
    }

    fn context() -> SourceContext {
        SourceContext {
            name: "leaf1".to_owned(),
            events: tokio::sync::mpsc::channel(1).0,
            shutdown: tokio_util::sync::CancellationToken::new(),
            status: std::sync::Arc::new(crate::source::SourceStatus::default()),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn the_wait_between_sessions_shows_in_the_status_and_ends_early_at_shutdown() {
        let context = context();
        let counter = metrics::Counter::noop();
        let waited = tokio::time::Instant::now();
        assert!(wait_to_reconnect(&context, Duration::from_secs(3), &counter).await);
        assert_eq!(waited.elapsed(), Duration::from_secs(3));
        assert_eq!(context.status.snapshot().state, ConnectionState::Backoff);

        let shutdown = context.shutdown.clone();
        let waiting = tokio::spawn(async move {
            wait_to_reconnect(&context, Duration::from_secs(3600), &counter).await
        });
        tokio::time::sleep(Duration::from_secs(1)).await;
        shutdown.cancel();
        let started = tokio::time::Instant::now();
        assert!(
            !waiting.await.unwrap(),
            "a shutdown ends the wait with false"
        );
        assert!(started.elapsed() < Duration::from_secs(1));
    }
}
