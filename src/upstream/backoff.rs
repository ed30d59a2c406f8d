//! The agent's retry schedule while the upstream fails: capped exponential backoff with
//! jitter, reset by a success.
//!
//! # Why this shape
//!
//! A dead link must cost almost nothing: one connection attempt per step, the steps
//! doubling from the floor (`upstream.retry_min_seconds`, 30 s) to the cap
//! (`upstream.retry_max_seconds`, 30 min). The jitter (each wait drawn from 3/4 to 5/4 of
//! its step) keeps many agents that lost the same central server at the same moment from
//! coming back in lockstep; it is clamped so no wait is ever shorter than the floor or
//! longer than the cap.

use std::time::Duration;

/// The retry schedule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    floor: Duration,
    cap: Duration,
}

impl Backoff {
    /// Waits from `floor` doubling up to `cap` (a cap below the floor is the floor).
    pub fn new(floor: Duration, cap: Duration) -> Self {
        Self { floor, cap: cap.max(floor) }
    }

    /// The step after the `failures`-th failure in a row (1 or more), before the jitter.
    pub fn step(&self, failures: u32) -> Duration {
        let doublings = failures.saturating_sub(1).min(31);
        self.floor.saturating_mul(1u32 << doublings).min(self.cap)
    }

    /// The wait after the `failures`-th failure in a row, with `jitter` in `[0, 1)`
    /// choosing where it falls between 3/4 and 5/4 of the step, that span first narrowed
    /// to floor..=cap (so a wait at the floor or the cap still spreads, rather than
    /// collapsing onto the bound for half the draws).
    pub fn delay(&self, failures: u32, jitter: f64) -> Duration {
        let jitter = if jitter.is_finite() { jitter.clamp(0.0, 1.0) } else { 0.5 };
        let step = self.step(failures);
        let low = step.mul_f64(0.75).clamp(self.floor, self.cap);
        let high = step.mul_f64(1.25).clamp(self.floor, self.cap);
        low + (high - low).mul_f64(jitter)
    }
}

/// A random number in `[0, 1)` for the jitter (the OS's generator; 0.5 if it fails).
pub fn jitter() -> f64 {
    let mut bytes = [0u8; 8];
    match getrandom::fill(&mut bytes) {
        Ok(()) => (u64::from_le_bytes(bytes) >> 11) as f64 / (1u64 << 53) as f64,
        Err(_) => 0.5,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: fn(u64) -> Duration = Duration::from_secs;

    #[test]
    fn steps_double_from_the_floor_to_the_cap() {
        let backoff = Backoff::new(S(30), S(1800));
        let steps: Vec<u64> = (1..=9).map(|n| backoff.step(n).as_secs()).collect();
        assert_eq!(steps, [30, 60, 120, 240, 480, 960, 1800, 1800, 1800]);
        assert_eq!(backoff.step(u32::MAX), S(1800), "no overflow after many failures");
    }

    #[test]
    fn jitter_stays_within_the_floor_and_the_cap() {
        let backoff = Backoff::new(S(30), S(1800));
        assert_eq!(backoff.delay(1, 0.0), S(30), "3/4 of the first step is below the floor");
        assert_eq!(backoff.delay(1, 0.999_999).as_secs(), 37);
        assert_eq!(backoff.delay(3, 0.0), S(90));
        assert_eq!(backoff.delay(3, 0.5), S(120));
        // At the cap the waits spread over 3/4 of it to the cap, never collapse onto it.
        assert_eq!(backoff.delay(20, 0.0), S(1350));
        assert_eq!(backoff.delay(20, 0.5), S(1575));
        assert!(backoff.delay(20, 0.999) <= S(1800) && backoff.delay(20, 0.999) > S(1799));
        // At the floor likewise: the first step spreads over 30 s to 37.5 s.
        assert_eq!(backoff.delay(1, 0.5).as_millis(), 33_750);
        assert_eq!(backoff.delay(2, f64::NAN), S(60));
        for _ in 0..1000 {
            let d = backoff.delay(4, jitter());
            assert!(d >= S(180) && d < S(300), "{d:?}");
        }
    }

    #[test]
    fn a_cap_below_the_floor_is_the_floor() {
        let backoff = Backoff::new(S(60), S(10));
        assert_eq!(backoff.delay(5, 0.9), S(60));
    }
}
