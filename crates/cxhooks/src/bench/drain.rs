//! `--recover-after`: when the faulty receivers recover, how fast the faulty tenants' backlog
//! drains, and what the healthy tenants' latency is before the recovery and while the drain
//! runs.
//!
//! The drain's end is known only afterwards, so the faulty deliveries after the recovery are
//! counted in 100 ms steps and the healthy ones' latencies kept one by one from the recovery
//! on (12 bytes each: some MB for a drain of minutes); the window is cut when the run is over.

use super::measure::{Latencies, round};
use serde_json::{Value, json};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// Which tenants a receiver serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Side {
    Healthy,
    Faulty,
}

/// The drain's share of the drained deliveries: the last 1 % are the stragglers that waited
/// for their retry schedule, not the drain's pace.
const DRAINED_SHARE: f64 = 0.99;

/// Faulty deliveries are counted per this many ms after the recovery.
const STEP_MS: u64 = 100;

/// What the receivers saw around the recovery.
#[derive(Default)]
pub(super) struct Drain {
    /// When the faulty receivers recovered (µs); 0 until then.
    recovered_at_us: AtomicU64,
    /// The healthy deliveries' latencies from the publish request and from the `202` (µs),
    /// before the recovery.
    before_us: Latencies,
    before_after_ack_us: Latencies,
    /// From the recovery on: (ms after it, latency µs, after-ack µs or `u32::MAX`).
    healthy_since: Mutex<Vec<[u32; 3]>>,
    /// Faulty deliveries in each step after the recovery.
    faulty_steps: Mutex<Vec<u64>>,
}

impl Drain {
    /// The faulty receivers answer at once from `now_us` on.
    pub(super) fn recover(&self, now_us: u64) {
        self.recovered_at_us.store(now_us, Ordering::Relaxed);
    }

    pub(super) fn recovered(&self) -> bool {
        self.recovered_at_us.load(Ordering::Relaxed) != 0
    }

    /// A delivery to `side` arrived at `now_us`, with its latencies (µs) when it is measured.
    pub(super) fn received(&self, side: Side, now_us: u64, latency: Option<(u64, Option<u64>)>) {
        let recovered_at = self.recovered_at_us.load(Ordering::Relaxed);
        let since_ms =
            (recovered_at != 0 && now_us >= recovered_at).then(|| (now_us - recovered_at) / 1000);
        match (side, since_ms, latency) {
            (Side::Healthy, None, Some((latency, after_ack))) => {
                self.before_us.record(latency);
                if let Some(after) = after_ack {
                    self.before_after_ack_us.record(after);
                }
            }
            (Side::Healthy, Some(ms), Some((latency, after_ack))) => {
                let small = |us: u64| u32::try_from(us).unwrap_or(u32::MAX - 1);
                let sample = [small(ms), small(latency), after_ack.map_or(u32::MAX, small)];
                self.healthy_since
                    .lock()
                    .expect("not poisoned")
                    .push(sample);
            }
            (Side::Faulty, Some(ms), _) => {
                let step = usize::try_from(ms / STEP_MS).unwrap_or(usize::MAX);
                let mut steps = self.faulty_steps.lock().expect("not poisoned");
                if steps.len() <= step {
                    steps.resize(step + 1, 0);
                }
                steps[step] += 1;
            }
            _ => {}
        }
    }

    /// Faulty deliveries since the recovery.
    pub(super) fn drained(&self) -> u64 {
        self.faulty_steps.lock().expect("not poisoned").iter().sum()
    }

    /// The line's `recovery` object: the drain, and the healthy tenants' deliveries before the
    /// recovery and during the drain.
    pub(super) fn report(&self, after_s: u64, pending_at_recovery: Option<i64>) -> Value {
        let steps = self.faulty_steps.lock().expect("not poisoned").clone();
        let drained: u64 = steps.iter().sum();
        // The drain ends at the step in which DRAINED_SHARE of the drained deliveries had arrived.
        let target = (drained as f64 * DRAINED_SHARE).ceil() as u64;
        let mut so_far = 0;
        let end_step = steps.iter().position(|&n| {
            so_far += n;
            drained > 0 && so_far >= target
        });
        let drain_ms = end_step.map(|s| (s as u64 + 1) * STEP_MS);
        let last_ms = steps
            .iter()
            .rposition(|&n| n > 0)
            .map(|s| (s as u64 + 1) * STEP_MS);
        let (during, during_after_ack) = (Latencies::default(), Latencies::default());
        for &[ms, latency, after_ack] in self.healthy_since.lock().expect("not poisoned").iter() {
            if drain_ms.is_some_and(|end| u64::from(ms) < end) {
                during.record(u64::from(latency));
                if after_ack != u32::MAX {
                    during_after_ack.record(u64::from(after_ack));
                }
            }
        }
        let s = |ms: Option<u64>| ms.map(|ms| round(ms as f64 / 1000.0));
        json!({
            "after_s": after_s,
            "pending_at_recovery": pending_at_recovery,
            "drained": drained,
            "drain_s": s(drain_ms),
            "drain_deliveries_per_s": drain_ms.map(|ms| round(target as f64 * 1000.0 / ms as f64)),
            "last_delivery_s": s(last_ms),
            "healthy_before": {
                "deliveries": self.before_us.len(),
                "latency_ms": self.before_us.percentiles(),
                "after_ack_latency_ms": self.before_after_ack_us.percentiles(),
            },
            "healthy_during_drain": {
                "deliveries": during.len(),
                "latency_ms": during.percentiles(),
                "after_ack_latency_ms": during_after_ack.percentiles(),
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::{Drain, Side};

    #[test]
    fn the_drain_ends_when_nearly_all_of_it_has_arrived() {
        let drain = Drain::default();
        let at = 1_000_000_000;
        drain.received(Side::Healthy, at - 1, Some((5_000, Some(1_000))));
        drain.recover(at);
        // 99 faulty deliveries in the first 0.5 s, one straggler at 20 s.
        for i in 0..99 {
            drain.received(Side::Faulty, at + i * 5_000, None);
        }
        drain.received(Side::Faulty, at + 20_000_000, None);
        drain.received(Side::Healthy, at + 100_000, Some((50_000, Some(40_000))));
        drain.received(Side::Healthy, at + 10_000_000, Some((9_000, Some(8_000))));
        let r = drain.report(30, Some(1234));
        assert_eq!(r["drained"], 100, "{r}");
        assert_eq!(r["drain_s"], 0.5, "{r}");
        assert_eq!(r["drain_deliveries_per_s"], 198.0, "{r}");
        assert_eq!(r["last_delivery_s"], 20.1, "{r}");
        assert_eq!(r["healthy_before"]["deliveries"], 1, "{r}");
        assert_eq!(r["healthy_during_drain"]["deliveries"], 1, "{r}");
        assert_eq!(r["healthy_during_drain"]["latency_ms"]["p99"], 50.0, "{r}");
    }
}
