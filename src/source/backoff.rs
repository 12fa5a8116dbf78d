//! Reconnect delays shared by every session-holding source: exponential with "equal jitter", each
//! delay half fixed and half random, so that many devices failing together do not all come back
//! in the same instant.

use std::time::Duration;

use crate::config::BackoffConfig;

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
}
