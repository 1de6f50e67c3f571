//! The completer: writes outcomes back in batches, one transaction each, and applies their
//! effects (webhooks set to `error`, metrics, waiters).

use super::{Done, OUTCOME_BATCH, OUTCOME_LINGER, OUTCOME_WRITERS, us};
use crate::state::AppState;
use cxhooks_store::{DeliveryOutcome, Next};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;
use tokio::sync::{Semaphore, mpsc};
use tokio::task::JoinSet;

pub(super) async fn complete_loop(state: AppState, mut rx: mpsc::Receiver<Done>) {
    let error_after = &state.config.delivery.error_after;
    let (after_us, after_n) = (
        us(error_after.failing_for),
        i64::from(error_after.deliveries),
    );
    // SQLite has one writer: batches are written one at a time, and lingering for a larger one
    // saves pages and syncs. PostgreSQL commits transactions side by side: several batches are
    // written at once, without lingering (which there only held permits longer: 3,120–3,482
    // deliveries/s flat out with it, 4,424 without).
    let one_writer = state.store.kind().single_writer();
    let linger_for = if one_writer {
        OUTCOME_LINGER
    } else {
        Duration::ZERO
    };
    let writers = Arc::new(Semaphore::new(OUTCOME_WRITERS));
    // Batches being written; dropped (and their transactions rolled back) with the loop.
    let mut recording = JoinSet::new();
    while let Some(first) = rx.recv().await {
        // An ordered webhook's next delivery of the entity waits for this outcome: no lingering
        // (it halved ordered throughput: docs/performance.md, per-entity order).
        let in_order = state
            .delivery
            .registry
            .hook(first.0.webhook_id)
            .is_some_and(|h| h.ordered);
        let mut done = vec![first];
        let linger =
            tokio::time::Instant::now() + if in_order { Duration::ZERO } else { linger_for };
        while done.len() < OUTCOME_BATCH {
            match rx.try_recv() {
                Ok(c) => done.push(c),
                Err(_) => match tokio::time::timeout_at(linger, rx.recv()).await {
                    Ok(Some(c)) => done.push(c),
                    _ => break,
                },
            }
        }
        let (batch, held): (Vec<DeliveryOutcome>, Vec<_>) = done.into_iter().unzip();
        if one_writer {
            // The one writer, in this task: no hand-off to another.
            record(&state, &batch, after_us, after_n).await;
            drop(held);
            wake_for(&state, &batch);
            continue;
        }
        // Wait for a writer; outcomes that arrive meanwhile make the next batch.
        let Ok(writer) = writers.clone().acquire_owned().await else {
            return;
        };
        while recording.try_join_next().is_some() {}
        let state = state.clone();
        recording.spawn(async move {
            record(&state, &batch, after_us, after_n).await;
            drop(writer);
            // The permits are free again: the dispatcher may claim more of these webhooks.
            drop(held);
            wake_for(&state, &batch);
        });
    }
}

/// Wakes the dispatcher after a batch of outcomes is recorded if it is waiting for room (for
/// any webhook, or for one of these outcomes' webhooks), if the batch scheduled retries (due
/// soon, with a short schedule), or if it finished a delivery of an ordered webhook (the next
/// of its entity is due now).
fn wake_for(state: &AppState, batch: &[DeliveryOutcome]) {
    let pipeline = state.delivery.pipeline.get();
    let wants_room = pipeline.is_none_or(|p| {
        p.wants_room.load(Ordering::Relaxed) || batch.iter().any(|c| p.is_blocked(c.webhook_id))
    });
    let registry = &state.delivery.registry;
    let next_in_order = |c: &DeliveryOutcome| {
        !matches!(c.next, Next::Retry(_)) && registry.hook(c.webhook_id).is_some_and(|h| h.ordered)
    };
    if wants_room
        || batch.iter().any(|c| matches!(c.next, Next::Retry(_)))
        || batch.iter().any(next_in_order)
    {
        state.delivery.wake.notify_one();
    }
}

/// Writes one batch of outcomes, retrying until the store takes it, and applies its effects.
async fn record(state: &AppState, batch: &[DeliveryOutcome], after_us: i64, after_n: i64) {
    let effects = loop {
        match state
            .store
            .complete(batch, state.clock.now_us(), after_us, after_n)
            .await
        {
            Ok(effects) => break effects,
            Err(e) => {
                // Keep the outcomes: if the store never comes back, the leases expire and the
                // deliveries are sent again (at least once).
                tracing::error!(error = %e, n = batch.len(), "recording attempts failed; retrying");
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
    };
    for id in effects.errored {
        tracing::warn!(webhook = %id, "webhook set to error");
        state.delivery.registry.set_error(id);
    }
    for c in batch {
        let outcome = match c.next {
            Next::Delivered => "delivered",
            Next::Retry(_) => "retrying",
            Next::Failed => "failed",
            Next::Gone => "gone",
            Next::Cancelled => "cancelled",
        };
        state.metrics.delivery(outcome);
        if state.metrics.per_owner()
            && let Some(hook) = state.delivery.registry.hook(c.webhook_id)
        {
            let webhook = c.webhook_id.to_string();
            state.metrics.owned(hook.tenant.as_str(), &webhook, outcome);
        }
        if let Some(a) = &c.attempt {
            state
                .metrics
                .attempt_seconds
                .observe(a.duration_us as f64 / 1e6);
            state.delivery.attempted(c.delivery_id, a);
        }
    }
}
