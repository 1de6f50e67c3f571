//! When to try again: retries are offsets from the first attempt of a series (SPEC §6:
//! +3 s, +18 s, +108 s, +648 s, +1 h, +2 h), so 7 attempts at most within 2 hours.

use cxhooks_store::Next;
use std::time::Duration;

fn us(d: Duration) -> i64 {
    i64::try_from(d.as_micros()).unwrap_or(i64::MAX)
}

/// What follows a failed attempt.
///
/// - `series_started`: the first attempt of this series (µs);
/// - `attempts`: attempts made in this series, the failed one included;
/// - `retry_after`: a receiver's `Retry-After` (429/503) as an absolute time (µs). It moves the
///   next attempt later, never past the schedule's last slot.
pub fn after_failure(
    schedule: &[Duration],
    series_started: i64,
    attempts: u32,
    now: i64,
    retry_after: Option<i64>,
) -> Next {
    let k = attempts as usize;
    if k == 0 || k > schedule.len() {
        return Next::Failed;
    }
    let mut next = series_started.saturating_add(us(schedule[k - 1]));
    if let Some(at) = retry_after {
        let last = series_started.saturating_add(us(*schedule.last().expect("non-empty")));
        next = next.max(at).min(last);
    }
    Next::Retry(next.max(now))
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: i64 = 1_000_000;

    fn schedule() -> Vec<Duration> {
        [3, 18, 108, 648, 3600, 7200]
            .map(Duration::from_secs)
            .to_vec()
    }

    #[test]
    fn offsets_count_from_the_first_attempt() {
        let start = 1_000 * S;
        // Attempt 1 failed at +0.2 s: attempt 2 at +3 s; attempt 2 failed: attempt 3 at +18 s …
        assert_eq!(
            after_failure(&schedule(), start, 1, start + S / 5, None),
            Next::Retry(start + 3 * S)
        );
        assert_eq!(
            after_failure(&schedule(), start, 2, start + 3 * S, None),
            Next::Retry(start + 18 * S)
        );
        assert_eq!(
            after_failure(&schedule(), start, 6, start + 3600 * S, None),
            Next::Retry(start + 7200 * S)
        );
        // The 7th attempt is the last.
        assert_eq!(
            after_failure(&schedule(), start, 7, start + 7200 * S, None),
            Next::Failed
        );
    }

    #[test]
    fn late_attempts_go_now_and_retry_after_is_bounded() {
        let start = 0;
        // A worker that was down: the slot has passed, so at once.
        assert_eq!(
            after_failure(&schedule(), start, 1, 60 * S, None),
            Next::Retry(60 * S)
        );
        // Retry-After later than the slot moves it…
        assert_eq!(
            after_failure(&schedule(), start, 1, S, Some(30 * S)),
            Next::Retry(30 * S)
        );
        // …never earlier…
        assert_eq!(
            after_failure(&schedule(), start, 2, 3 * S, Some(4 * S)),
            Next::Retry(18 * S)
        );
        // …and never past the last slot.
        assert_eq!(
            after_failure(&schedule(), start, 1, S, Some(99_999 * S)),
            Next::Retry(7200 * S)
        );
        assert_eq!(after_failure(&[], start, 1, S, None), Next::Failed);
    }
}
