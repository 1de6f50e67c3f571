//! The signing threads' queue: one lane per webhook, taken round-robin, so that a webhook with
//! hundreds of deliveries waiting to be signed (a backlog draining) delays another webhook's
//! next delivery by one signature per lane ahead of it, not by its whole queue. Measured with
//! `cxhooks bench --faulty 1 --fault hang --faulty-backlog 100000 --recover-after 10`: one
//! FIFO queue left the healthy tenants' p99 at 126 ms while the backlog drained.

use cxhooks_store::WebhookId;
use std::collections::{HashMap, VecDeque};
use std::sync::{Condvar, Mutex};

/// Tasks queued per webhook, handed out one lane at a time in turn.
pub(super) struct FairQueue<T> {
    lanes: Mutex<Lanes<T>>,
    ready: Condvar,
}

struct Lanes<T> {
    queued: HashMap<WebhookId, VecDeque<T>>,
    /// The lanes with something queued, in the order they are served.
    turn: VecDeque<WebhookId>,
}

impl<T> Lanes<T> {
    fn pop(&mut self) -> Option<T> {
        let lane = self.turn.pop_front()?;
        let queued = self.queued.get_mut(&lane)?;
        let task = queued.pop_front();
        if queued.is_empty() {
            self.queued.remove(&lane);
        } else {
            self.turn.push_back(lane);
        }
        task
    }
}

impl<T> Default for FairQueue<T> {
    fn default() -> Self {
        Self {
            lanes: Mutex::new(Lanes {
                queued: HashMap::new(),
                turn: VecDeque::new(),
            }),
            ready: Condvar::new(),
        }
    }
}

impl<T> FairQueue<T> {
    /// Queues `task` in `lane`'s lane and wakes a waiting taker.
    pub(super) fn push(&self, lane: WebhookId, task: T) {
        {
            let mut lanes = self.lanes.lock().expect("not poisoned");
            let queued = lanes.queued.entry(lane).or_default();
            if queued.is_empty() {
                lanes.turn.push_back(lane);
            }
            lanes
                .queued
                .get_mut(&lane)
                .expect("just made")
                .push_back(task);
        }
        self.ready.notify_one();
    }

    /// The next task in turn, if any is queued.
    pub(super) fn try_pop(&self) -> Option<T> {
        self.lanes.lock().expect("not poisoned").pop()
    }

    /// The next task in turn, waiting for one.
    pub(super) fn pop(&self) -> T {
        let mut lanes = self.lanes.lock().expect("not poisoned");
        loop {
            if let Some(task) = lanes.pop() {
                return task;
            }
            lanes = self.ready.wait(lanes).expect("not poisoned");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lanes_are_served_in_turn_and_each_in_order() {
        let q = FairQueue::default();
        let (a, b) = (WebhookId::now_v7(), WebhookId::now_v7());
        for n in 0..5 {
            q.push(a, ("a", n));
        }
        q.push(b, ("b", 0));
        q.push(b, ("b", 1));
        let order: Vec<_> = std::iter::from_fn(|| q.try_pop()).collect();
        assert_eq!(
            order,
            [
                ("a", 0),
                ("b", 0),
                ("a", 1),
                ("b", 1),
                ("a", 2),
                ("a", 3),
                ("a", 4)
            ]
        );
        q.push(b, ("b", 2));
        assert_eq!(q.pop(), ("b", 2));
        assert_eq!(q.try_pop(), None);
    }
}
