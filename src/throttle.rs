//! Log lines that a flood would repeat thousands of times a second (every webhook refused while the
//! disk is full, every connection over the limit): the first one is logged, then at most one per
//! interval, each saying how many like it were left out in between.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The interval of the throttled log lines.
pub const EVERY: Duration = Duration::from_secs(10);

/// One kind of repeated log line.
#[derive(Debug, Default)]
pub struct Throttle {
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    last: Option<Instant>,
    suppressed: u64,
}

impl Throttle {
    pub const fn new() -> Throttle {
        Throttle {
            state: Mutex::new(State {
                last: None,
                suppressed: 0,
            }),
        }
    }

    /// `Some(n)` when this occurrence should be logged, `n` being how many were left out since
    /// the last line; `None` when it is left out (and counted).
    pub fn admit(&self, now: Instant) -> Option<u64> {
        let mut state = self
            .state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if state
            .last
            .is_some_and(|last| now.duration_since(last) < EVERY)
        {
            state.suppressed += 1;
            return None;
        }
        state.last = Some(now);
        Some(std::mem::take(&mut state.suppressed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_line_passes_then_one_per_interval_with_the_count_left_out() {
        let throttle = Throttle::new();
        let start = Instant::now();
        assert_eq!(throttle.admit(start), Some(0));
        for millis in [1, 500, 9_999] {
            assert_eq!(throttle.admit(start + Duration::from_millis(millis)), None);
        }
        assert_eq!(throttle.admit(start + EVERY), Some(3));
        assert_eq!(throttle.admit(start + EVERY + Duration::from_secs(1)), None);
        assert_eq!(throttle.admit(start + EVERY * 3), Some(1));
    }
}
