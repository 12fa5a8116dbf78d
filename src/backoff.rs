//! The one retry delay of netpulse: exponential with "equal jitter", each delay half fixed and
//! half random, so that many sessions (or deliveries) failing together do not all come back in the
//! same instant. Used by every session-holding source between two sessions and by the Webex sink
//! between two attempts of a delivery. Pure: no IO, no clock.

use std::time::Duration;

/// The delay before retry number `attempt` (0 for the first retry): `initial × 2^attempt`, at most
/// `max`, of which the upper half is random.
pub fn delay(initial: Duration, max: Duration, attempt: u32) -> Duration {
    let base = initial
        .saturating_mul(2u32.saturating_pow(attempt.min(30)))
        .min(max);
    let half = base / 2;
    half + half.mul_f64(fastrand::f64())
}

/// The delays of one series of attempts: [`delay`] with the attempt counted, and reset once an
/// attempt has succeeded for long enough.
#[derive(Debug, Clone)]
pub struct Backoff {
    initial: Duration,
    max: Duration,
    attempt: u32,
}

impl Backoff {
    pub fn new(initial: Duration, max: Duration) -> Backoff {
        Backoff {
            initial,
            max,
            attempt: 0,
        }
    }

    /// The next delay starts again from `initial`.
    pub fn reset(&mut self) {
        self.attempt = 0;
    }

    pub fn next_delay(&mut self) -> Duration {
        let delay = delay(self.initial, self.max, self.attempt);
        self.attempt = self.attempt.saturating_add(1);
        delay
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_to_its_cap_with_jitter_and_resets() {
        let mut backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(1));
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

    #[test]
    fn a_huge_attempt_count_stays_at_the_cap_without_overflow() {
        let max = Duration::from_secs(300);
        for attempt in [31, 1000, u32::MAX] {
            let delay = delay(Duration::from_secs(1), max, attempt);
            assert!(delay >= max / 2 && delay <= max, "{attempt}: {delay:?}");
        }
        let mut backoff = Backoff::new(Duration::from_secs(1), max);
        backoff.attempt = u32::MAX;
        assert!(backoff.next_delay() <= max);
        assert!(backoff.next_delay() <= max, "the count saturates");
    }
}
