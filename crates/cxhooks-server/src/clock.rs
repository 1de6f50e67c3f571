//! The time the delivery pipeline runs by: due deliveries, retry slots, leases, attempt times
//! and acceptance times all come from one [`Clock`], so a test can move it forward instead of
//! sleeping (`tests/it/schedule.rs`).

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

/// The system clock, plus an offset only a test sets (at the start) and moves (never backwards).
#[derive(Debug, Clone, Default)]
pub struct Clock {
    offset_us: Arc<AtomicI64>,
}

impl Clock {
    /// The system clock.
    pub fn system() -> Self {
        Self::default()
    }

    /// A clock `by` behind the system's, for tests whose moved clock must end at the real time
    /// (an outside verifier checks an attempt's time against its own clock). It then only
    /// moves forward, like any other.
    pub fn behind(by: Duration) -> Self {
        let by = i64::try_from(by.as_micros()).unwrap_or(i64::MAX);
        Self {
            offset_us: Arc::new(AtomicI64::new(-by)),
        }
    }

    /// Now.
    pub fn now(&self) -> chrono::DateTime<chrono::Utc> {
        chrono::Utc::now() + chrono::Duration::microseconds(self.offset_us.load(Ordering::Relaxed))
    }

    /// Now, in microseconds since the epoch (how the store keeps time).
    pub fn now_us(&self) -> i64 {
        self.now().timestamp_micros()
    }

    /// Moves this clock (and every copy of it) forward by `by`.
    pub fn advance(&self, by: Duration) {
        let by = i64::try_from(by.as_micros()).unwrap_or(i64::MAX);
        self.offset_us.fetch_add(by, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn advancing_moves_every_copy() {
        let clock = Clock::system();
        let copy = clock.clone();
        let before = copy.now_us();
        clock.advance(Duration::from_secs(18));
        let after = copy.now_us();
        assert!(after - before >= 18_000_000, "{before} → {after}");
        assert!(after - before < 19_000_000, "{before} → {after}");
    }
}
