//! A webhook's share of a node: how many of its deliveries the node may hold and send at once
//! (`maxInFlight`, or `delivery.max_in_flight_per_webhook`), and how many it may start per
//! second (`maxPerSecond`). Deliveries past either wait in the store, unclaimed.

use super::super::registry::HookInfo;
use std::sync::{Arc, Mutex};
use std::time::Instant;
use tokio::sync::Semaphore;

/// Deliveries of one webhook a node may hold claimed, as a multiple of those it may be sending.
const CLAIM_AHEAD: usize = 16;

/// One webhook's slots on this node.
#[derive(Clone)]
pub(super) struct HookSlots {
    /// Deliveries it may hold (claimed or handed over, not yet answered).
    pub(super) claims: Arc<Semaphore>,
    /// Requests it may have open.
    pub(super) sends: Arc<Semaphore>,
    /// The size of `sends`.
    limit: usize,
    /// Its start rate, if it has one.
    rate: Option<Arc<Mutex<Bucket>>>,
    /// The settings these slots were made for: other settings make new slots.
    made_for: (usize, Option<u64>),
}

impl HookSlots {
    /// Slots for `hook`, its own send limit or `default_limit`.
    pub(super) fn new(hook: &HookInfo, default_limit: usize) -> Self {
        let made_for = Self::settings(hook, default_limit);
        let limit = made_for.0;
        Self {
            claims: Arc::new(Semaphore::new(limit * CLAIM_AHEAD)),
            sends: Arc::new(Semaphore::new(limit)),
            limit,
            rate: hook
                .max_per_second
                .map(|per_s| Arc::new(Mutex::new(Bucket::new(per_s)))),
            made_for,
        }
    }

    fn settings(hook: &HookInfo, default_limit: usize) -> (usize, Option<u64>) {
        let limit = hook
            .max_in_flight
            .map_or(default_limit, |n| n as usize)
            .max(1);
        (limit, hook.max_per_second.map(f64::to_bits))
    }

    /// Whether these slots were made for `hook`'s current settings.
    pub(super) fn fit(&self, hook: &HookInfo, default_limit: usize) -> bool {
        self.made_for == Self::settings(hook, default_limit)
    }

    /// Whether nothing of the webhook is held: the slots can be dropped.
    pub(super) fn idle(&self) -> bool {
        self.claims.available_permits() == self.limit * CLAIM_AHEAD
    }

    /// Whether fewer of its deliveries are held than it may send at once: none of them waits
    /// in the node for a send slot, so it has no backlog here for a new delivery to overtake.
    pub(super) fn unqueued(&self) -> bool {
        let held = (self.limit * CLAIM_AHEAD).saturating_sub(self.claims.available_permits());
        held < self.limit
    }

    /// How many more of its deliveries the node may take now: what its claim slots leave, but
    /// while every send slot is busy (a slow or hung receiver) no more than one round of sends
    /// waiting, so that a hung webhook holds its own concurrency and little more, and no claim
    /// waits past its lease for a send slot; and no more than its rate allows now.
    pub(super) fn room(&self) -> usize {
        let free = self.claims.available_permits();
        let room = if self.sends.available_permits() > 0 {
            free
        } else {
            let held = (self.limit * CLAIM_AHEAD).saturating_sub(free);
            let waiting = held.saturating_sub(self.limit);
            free.min(self.limit.saturating_sub(waiting))
        };
        match &self.rate {
            Some(rate) => room.min(rate.lock().expect("not poisoned").available()),
            None => room,
        }
    }

    /// Counts one delivery started against the rate.
    pub(super) fn start_one(&self) {
        if let Some(rate) = &self.rate {
            rate.lock().expect("not poisoned").take();
        }
    }
}

/// A token bucket holding one second's worth of starts (at least one).
struct Bucket {
    per_s: f64,
    tokens: f64,
    at: Instant,
}

impl Bucket {
    fn new(per_s: f64) -> Self {
        Self {
            per_s,
            tokens: Self::capacity(per_s),
            at: Instant::now(),
        }
    }

    fn capacity(per_s: f64) -> f64 {
        per_s.max(1.0)
    }

    fn refill(&mut self) {
        let now = Instant::now();
        let gained = now.duration_since(self.at).as_secs_f64() * self.per_s;
        self.tokens = (self.tokens + gained).min(Self::capacity(self.per_s));
        self.at = now;
    }

    /// Whole starts available now.
    fn available(&mut self) -> usize {
        self.refill();
        self.tokens.max(0.0).floor() as usize
    }

    fn take(&mut self) {
        self.refill();
        self.tokens -= 1.0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_holds_a_second_and_refills_at_its_rate() {
        let mut b = Bucket::new(4.0);
        assert_eq!(b.available(), 4);
        for _ in 0..4 {
            b.take();
        }
        assert_eq!(b.available(), 0);
        b.at -= std::time::Duration::from_millis(500);
        assert_eq!(b.available(), 2);
        let mut slow = Bucket::new(0.5);
        assert_eq!(slow.available(), 1, "at least one start");
        slow.take();
        slow.at -= std::time::Duration::from_secs(1);
        assert_eq!(slow.available(), 0, "half a start is not one");
        slow.at -= std::time::Duration::from_secs(1);
        assert_eq!(slow.available(), 1);
    }
}
