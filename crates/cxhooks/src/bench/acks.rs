//! The publish side of a run, shared by the publishers and the receivers: from when changes
//! count in the latencies (`--warmup`), how long publishes took to be answered, and when each
//! batch was answered, so a receiver can tell how long a delivery took after its `202`.

use super::measure::Latencies;
use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// What the publishers saw, and when each batch still awaiting deliveries was answered.
#[derive(Default)]
pub(super) struct Acks {
    /// Changes published before this time (µs) are left out of the latencies (`--warmup`).
    pub(super) measure_from_us: AtomicU64,
    /// How long each publish took to be answered (µs).
    pub(super) acks_us: Latencies,
    /// Batches with deliveries still to come, by batch number. An entry lives from just before
    /// its publish is sent until its last delivery arrives, so the map holds the batches in
    /// flight and never the whole run (a soak publishes 900,000), except for the batches of
    /// tenants whose receivers never answer.
    open: Mutex<HashMap<u64, Open>>,
}

struct Open {
    /// When its `202` arrived (µs); `None` until then.
    acked_us: Option<u64>,
    /// Deliveries still to arrive.
    left: u64,
}

impl Acks {
    /// Batch `b` is about to be published and will be delivered `deliveries` times.
    pub(super) fn sending(&self, b: u64, deliveries: u64) {
        let open = Open {
            acked_us: None,
            left: deliveries,
        };
        self.open.lock().expect("not poisoned").insert(b, open);
    }

    /// Batch `b`, sent at `sent_us`, was answered `202` at `at_us`.
    pub(super) fn acked(&self, b: u64, sent_us: u64, at_us: u64) {
        if sent_us >= self.measure_from_us.load(Ordering::Relaxed) {
            self.acks_us.record(at_us.saturating_sub(sent_us));
        }
        let mut open = self.open.lock().expect("not poisoned");
        if let Some(o) = open.get_mut(&b) {
            if o.left == 0 {
                open.remove(&b);
            } else {
                o.acked_us = Some(at_us);
            }
        }
    }

    /// A delivery of batch `b` arrived at `now_us`: how long after its `202` (µs). A delivery
    /// can arrive before the publisher has read its `202` (the service dispatches once the
    /// change is committed, before the answer is on the wire): that counts as 0. `None` for a
    /// batch the publishers did not send (the backlog preload's).
    pub(super) fn delivered(&self, b: u64, now_us: u64) -> Option<u64> {
        let mut open = self.open.lock().expect("not poisoned");
        let o = open.get_mut(&b)?;
        o.left = o.left.saturating_sub(1);
        let after = o.acked_us.map_or(0, |at| now_us.saturating_sub(at));
        if o.left == 0 && o.acked_us.is_some() {
            open.remove(&b);
        }
        Some(after)
    }
}

#[cfg(test)]
mod tests {
    use super::Acks;

    #[test]
    fn deliveries_are_timed_from_the_ack_and_finished_batches_are_forgotten() {
        let acks = Acks::default();
        acks.sending(1, 2);
        acks.acked(1, 100, 150);
        assert_eq!(acks.delivered(1, 190), Some(40));
        assert_eq!(acks.delivered(1, 250), Some(100));
        assert!(acks.open.lock().unwrap().is_empty());
        // Delivered before the ack was read: 0, and forgotten once the ack arrives.
        acks.sending(2, 1);
        assert_eq!(acks.delivered(2, 120), Some(0));
        acks.acked(2, 100, 130);
        assert!(acks.open.lock().unwrap().is_empty());
        assert_eq!(acks.delivered(3, 10), None);
    }
}
