//! Retrying the server: exponential backoff with jitter, so that a hundred
//! agents cut off by the same outage do not all knock again in the same
//! second when it ends.

use std::time::Duration;

/// The first retry waits this long.
pub const MIN_DELAY: Duration = Duration::from_secs(1);
/// No retry waits longer.
pub const MAX_DELAY: Duration = Duration::from_secs(30);

/// Failures in a row and the wait they earn: the ceiling doubles with every
/// failure from `min` up to `max`, and the wait is drawn between half the
/// ceiling and the ceiling ("equal jitter"), never below `min`.
#[derive(Debug, Clone)]
pub struct Backoff {
    failures: u32,
    min: Duration,
    max: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff::new(MIN_DELAY, MAX_DELAY)
    }
}

impl Backoff {
    pub fn new(min: Duration, max: Duration) -> Self {
        Backoff {
            failures: 0,
            min,
            max: max.max(min),
        }
    }

    /// The server answered: the next failure starts over from `min`.
    pub fn reset(&mut self) {
        self.failures = 0;
    }

    /// Failures since the last success.
    pub fn failures(&self) -> u32 {
        self.failures
    }

    /// Counts one more failure and returns how long to wait before trying
    /// again, drawing the jitter from the system's random source.
    pub fn fail(&mut self) -> Duration {
        let mut bytes = [0u8; 8];
        // Without randomness the wait is the ceiling: still bounded, only not spread.
        let random = match getrandom::fill(&mut bytes) {
            Ok(()) => (u64::from_le_bytes(bytes) >> 11) as f64 / (1u64 << 53) as f64,
            Err(_) => 1.0,
        };
        self.fail_with(random)
    }

    /// As [`Backoff::fail`], with `random` (0 to 1) as the jitter.
    pub fn fail_with(&mut self, random: f64) -> Duration {
        let ceiling = self.ceiling();
        self.failures = self.failures.saturating_add(1);
        let share = 0.5 + 0.5 * random.clamp(0.0, 1.0);
        ceiling.mul_f64(share).max(self.min)
    }

    /// The longest wait the next failure may earn.
    fn ceiling(&self) -> Duration {
        // 2^16 times the minimum is past any sensible maximum already.
        let factor = 1u32 << self.failures.min(16);
        self.min.saturating_mul(factor).min(self.max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ceiling_doubles_from_one_second_up_to_thirty() {
        let mut backoff = Backoff::default();
        let longest: Vec<u64> = (0..8).map(|_| backoff.fail_with(1.0).as_secs()).collect();
        assert_eq!(longest, [1, 2, 4, 8, 16, 30, 30, 30]);
    }

    #[test]
    fn jitter_spreads_each_wait_between_half_the_ceiling_and_the_ceiling() {
        let mut shortest = Backoff::default();
        let waits: Vec<f64> = (0..7)
            .map(|_| shortest.fail_with(0.0).as_secs_f64())
            .collect();
        assert_eq!(waits, [1.0, 1.0, 2.0, 4.0, 8.0, 15.0, 15.0]);

        let mut drawn = Backoff::default();
        for _ in 0..200 {
            let wait = drawn.fail();
            assert!(
                (MIN_DELAY..=MAX_DELAY).contains(&wait),
                "{wait:?} is outside 1 s to 30 s"
            );
        }
        // Two hundred draws at the 30 s ceiling do not all land on one value.
        let spread: std::collections::BTreeSet<u128> =
            (0..200).map(|_| drawn.fail().as_millis()).collect();
        assert!(spread.len() > 1, "the jitter never varies: {spread:?}");
    }

    #[test]
    fn a_success_starts_over_from_the_minimum() {
        let mut backoff = Backoff::default();
        for _ in 0..10 {
            backoff.fail_with(1.0);
        }
        assert_eq!(backoff.failures(), 10);
        backoff.reset();
        assert_eq!(backoff.failures(), 0);
        assert_eq!(backoff.fail_with(1.0), MIN_DELAY);
    }
}
