//! A publish's fresh deliveries, taken on by this node: stored already leased to it and sent
//! from memory after the commit.

use super::signer::sign_and_send;
use super::{HookInfo, ReadyDelivery, SIGN_LOW_WATER, Taken, needs, us};
use crate::state::AppState;
use cxhooks_store::{ClaimedDelivery, DeliveryStatus, Lease, NewDelivery, WebhookStatus};
use std::sync::Arc;
use std::sync::atomic::Ordering;

/// Fresh deliveries a publish hands to this node's dispatcher: stored already leased to the
/// node ([`cxhooks_store::Lease`]) and sent from memory after the commit, with no claim to
/// write and read back. Those the node has no room for are stored unclaimed and claimed later.
pub struct Handoff {
    node: String,
    lease_until: i64,
    taken: Vec<bool>,
    slots: Vec<Option<(Arc<HookInfo>, Taken)>>,
}

impl std::fmt::Debug for Handoff {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Handoff")
            .field("lease_until", &self.lease_until)
            .field("taken", &self.taken)
            .finish_non_exhaustive()
    }
}

impl Handoff {
    /// Takes room for what of `deliveries` this node can send now; none when it has no room,
    /// is backlogged (but for webhooks it holds fewer of than it sends at once), or runs no dispatcher.
    pub fn reserve(state: &AppState, deliveries: &[NewDelivery]) -> Option<Self> {
        let pipeline = state.delivery.pipeline.get()?;
        // Backlogged: what is stored unclaimed already goes first, and permits freed by finished
        // sends go to the dispatcher, which has work for the signers now, not to a publish that
        // holds them until its commit (handing over regardless took PostgreSQL's flat-out bench
        // from 4,424 to 4,027 deliveries/s). Except for a webhook this node holds fewer of than it
        // may send at once: it has no backlog of its own to overtake, and waiting for the next
        // claim behind another webhook's drain is what fair claims are there to prevent (issue 25).
        let backlogged = pipeline.backlog.load(Ordering::Relaxed) >= SIGN_LOW_WATER;
        let slots: Vec<_> = deliveries
            .iter()
            .map(|d| {
                let hook = state
                    .delivery
                    .registry
                    .hook(d.webhook_id)
                    // An ordered webhook's deliveries wait for their entity's turn: claimed.
                    .filter(|h| h.status == WebhookStatus::Enabled && !h.ordered && !h.pull)
                    .filter(|h| !backlogged || pipeline.unqueued(h))?;
                let taken = pipeline.take(&hook)?;
                Some((hook, taken))
            })
            .collect();
        if slots.iter().all(Option::is_none) {
            return None;
        }
        Some(Self {
            node: state.delivery.node.clone(),
            lease_until: state.clock.now_us() + us(state.config.delivery.lease),
            taken: slots.iter().map(Option::is_some).collect(),
            slots,
        })
    }

    /// The lease to store the deliveries with.
    pub fn lease(&self) -> Lease<'_> {
        Lease {
            node: &self.node,
            until: self.lease_until,
            taken: &self.taken,
        }
    }

    /// Whether every delivery was taken (nothing is left for the dispatcher to claim).
    pub fn took_all(&self) -> bool {
        self.taken.iter().all(|t| *t)
    }

    /// After the commit: signs and sends the deliveries taken that were stored pending
    /// (`statuses` as the store answered, in order).
    pub async fn start(
        self,
        state: &AppState,
        tenant: &str,
        deliveries: Vec<NewDelivery>,
        statuses: &[DeliveryStatus],
    ) {
        let Some(pipeline) = state.delivery.pipeline.get() else {
            return;
        };
        let mut jobs = Vec::new();
        for ((d, slot), status) in deliveries.into_iter().zip(self.slots).zip(statuses) {
            let Some((hook, taken)) = slot.filter(|_| *status == DeliveryStatus::Pending) else {
                continue;
            };
            let claimed = ClaimedDelivery {
                id: d.id,
                tenant: tenant.to_owned(),
                application_id: d.application_id,
                webhook_id: d.webhook_id,
                payload: d.payload,
                signature: None,
                attempts: 0,
                series_attempts: 0,
                series_started: None,
            };
            let Some(keys) = needs(state, &pipeline.outcomes, &hook, &claimed).await else {
                continue;
            };
            jobs.push(ReadyDelivery {
                claimed,
                hook,
                keys,
                signature: None,
                permits: taken.permits,
                sends: taken.sends,
                lease_until: self.lease_until,
            });
        }
        sign_and_send(state, &pipeline.outcomes, &pipeline.backlog, jobs);
    }
}
