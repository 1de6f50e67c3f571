//! The dispatcher: claims due deliveries with a lease, within the node's and each webhook's
//! room, and passes them to the signers.

use super::signer::sign_and_send;
use super::{CLAIM_BATCH, POLL, ReadyDelivery, SIGN_LOW_WATER, cancelled, needs, us};
use crate::state::AppState;
use cxhooks_store::{ClaimedDelivery, DeliveryId, WebhookId, WebhookStatus};
use std::sync::atomic::Ordering;
use std::time::Duration;

/// Claims and passes on due deliveries until the node stops.
pub(super) async fn dispatch_loop(state: AppState) {
    let pipeline = state
        .delivery
        .pipeline
        .get()
        .expect("set before the loop starts");
    let (global, outcomes, backlog) = (&pipeline.global, &pipeline.outcomes, &pipeline.backlog);
    let lease = us(state.config.delivery.lease);
    let mut last_expired_check = std::time::Instant::now() - POLL;
    let mut last_forced_reload = std::time::Instant::now() - POLL;
    // Where the last claim's round over the ready webhooks stopped.
    let mut after: Option<WebhookId> = None;
    loop {
        let free = global.available_permits().min(CLAIM_BATCH);
        if free == 0 {
            // Wait for a send to finish.
            drop(global.clone().acquire_owned().await);
            continue;
        }
        if free < CLAIM_BATCH && backlog.load(Ordering::Relaxed) >= SIGN_LOW_WATER {
            // Busy: let finished jobs free a whole batch's room while the signers work.
            tokio::select! {
                _ = state.delivery.wake.notified() => {}
                _ = tokio::time::sleep(POLL) => {}
            }
            continue;
        }
        let now = state.clock.now_us();
        // Webhooks this node does not know (yet) get a claim's share; `prepare` sorts them out.
        let room = |w: WebhookId| {
            state
                .delivery
                .registry
                .hook(w)
                .map_or(CLAIM_BATCH as u32, |hook| pipeline.room(&hook))
        };
        let claimed = match state
            .store
            .claim_fair(
                &state.delivery.node,
                now,
                now + lease,
                free as u32,
                after,
                &room,
            )
            .await
        {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(error = %e, "claiming deliveries failed; retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        after = claimed.after;
        // Nothing else waking it, the dispatcher looks again when the next retry falls due
        // (sooner than a poll with a short retry schedule).
        let wait = claimed.next_due.map_or(POLL, |at| {
            POLL.min(Duration::from_micros(u64::try_from(at - now).unwrap_or(0)))
                .max(Duration::from_millis(1))
        });
        *pipeline.blocked.lock().expect("not poisoned") = claimed.blocked.into_iter().collect();
        let (mut claimed, left_behind) = (claimed.deliveries, claimed.more);
        // Leases that ran out (a dead node's work) are looked for once per poll interval, not on
        // every claim: a lease lasts seconds, so a fraction of a second more costs nothing.
        if last_expired_check.elapsed() >= POLL && claimed.len() < free {
            last_expired_check = std::time::Instant::now();
            let full = pipeline.full_hooks();
            match state
                .store
                .claim_expired(
                    &state.delivery.node,
                    now,
                    now + lease,
                    (free - claimed.len()) as u32,
                    &full,
                )
                .await
            {
                Ok(expired) => claimed.extend(expired),
                Err(e) => tracing::error!(error = %e, "claiming expired leases failed"),
            }
        }
        let claimed_n = claimed.len();
        if claimed.is_empty() {
            pipeline.wants_room.store(left_behind, Ordering::Relaxed);
            // Woken by a publish on this node, a notification from another node, or a finished
            // job (its webhook may take more now).
            tokio::select! {
                _ = state.delivery.wake.notified() => {}
                _ = tokio::time::sleep(wait) => {}
            }
            continue;
        }
        let mut jobs = Vec::with_capacity(claimed.len());
        let mut release = Vec::new();
        let mut reloads = Reloads {
            last: &mut last_forced_reload,
            done: false,
        };
        for c in claimed {
            match prepare(&state, pipeline, c, now + lease, &mut reloads).await {
                Prepared::ReadyDelivery(job) => jobs.push(job),
                Prepared::Release(id) => release.push(id),
                Prepared::Finished => {}
            }
        }
        let drained = claimed_n < free && !left_behind && release.is_empty();
        pipeline.wants_room.store(!drained, Ordering::Relaxed);
        if !release.is_empty()
            && let Err(e) = state.store.release(&state.delivery.node, &release).await
        {
            tracing::warn!(error = %e, "releasing claims failed; their leases will expire");
        }
        if jobs.is_empty() && !release.is_empty() {
            // Nothing could be taken on (a race with the limits): wait for a job to finish
            // rather than claim the same work again at once.
            tokio::select! {
                _ = state.delivery.wake.notified() => {}
                _ = tokio::time::sleep(POLL) => {}
            }
        }
        // Signing and sending go on while the next batch is claimed: the permits the jobs hold
        // bound how much is in flight.
        sign_and_send(&state, outcomes, backlog, jobs);
    }
}

/// Wakes the dispatcher when another node sharing the store accepts changes.
pub(super) async fn watch_due(state: AppState) {
    loop {
        let wake = || state.delivery.wake.notify_one();
        if let Err(e) = state.store.watch_due(wake).await {
            tracing::warn!(error = %e, "listening for new deliveries failed; polling meanwhile");
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// The gate on forced registry reloads: at most one per [`POLL`], and one per claim.
struct Reloads<'a> {
    last: &'a mut std::time::Instant,
    done: bool,
}

/// What became of one claimed delivery.
// Unboxed: moved once per delivery on the hot path, where a Box would be an allocation more.
#[allow(clippy::large_enum_variant)]
enum Prepared {
    /// To sign (if not signed yet) and send.
    ReadyDelivery(ReadyDelivery),
    /// Not this node's to send now: give the claim back.
    Release(DeliveryId),
    /// Recorded already: cancelled (its webhook or application is gone) or deferred.
    Finished,
}

/// Takes on one claimed delivery within its webhook's room on this node, with its
/// application's key if it still needs signing.
async fn prepare(
    state: &AppState,
    pipeline: &super::Pipeline,
    c: ClaimedDelivery,
    lease_until: i64,
    reloads: &mut Reloads<'_>,
) -> Prepared {
    let hook_id = c.webhook_id;
    let enabled = |state: &AppState| {
        state
            .delivery
            .registry
            .hook(hook_id)
            .filter(|h| h.status == WebhookStatus::Enabled)
    };
    let mut hook = enabled(state);
    if hook.is_none() && !reloads.done && reloads.last.elapsed() >= POLL {
        // Unknown or not enabled here, but this node's registry may be behind the store
        // (another node created or enabled the webhook less than a poll ago): ask the store
        // before cancelling anything, at most once per poll interval.
        *reloads.last = std::time::Instant::now();
        reloads.done = true;
        // Only the delivery's tenant: its webhooks are all this needs to know.
        let (registry, store, master) = (&state.delivery.registry, &state.store, &state.master);
        let reloaded = match cxhooks_store::TenantName::parse(&c.tenant) {
            Ok(tenant) => registry.reload_tenants(store, master, &[tenant]).await,
            Err(_) => registry.reload(store, master).await,
        };
        if let Err(e) = reloaded {
            tracing::warn!(error = %e, "reloading webhooks failed");
            reloads.done = false;
        }
        hook = enabled(state);
    }
    let Some(hook) = hook else {
        if reloads.done {
            // Deleted, disabled or in error, as the store says: not sent, visible as
            // cancelled.
            let _ = pipeline.outcomes.send((cancelled(state, &c), None)).await;
            return Prepared::Finished;
        }
        // Not sure yet: give it back, to be decided after the next reload.
        state.metrics.released("unknown_webhook", 1);
        return Prepared::Release(c.id);
    };
    let Some(taken) = pipeline.take(&hook) else {
        state.metrics.released("no_room", 1);
        return Prepared::Release(c.id);
    };
    let Some(keys) = needs(state, &pipeline.outcomes, &hook, &c).await else {
        return Prepared::Finished;
    };
    let signature = c.signature.clone();
    Prepared::ReadyDelivery(ReadyDelivery {
        claimed: c,
        hook,
        keys,
        signature,
        permits: taken.permits,
        sends: taken.sends,
        lease_until,
    })
}

/// What one [`step`] did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Stepped {
    /// Deliveries due at the clock's now and claimed.
    pub claimed: usize,
    /// Attempts made and recorded.
    pub attempted: usize,
}

/// One round of the dispatcher, driven by the caller instead of the loop (a node started with
/// [`crate::state::Dispatcher::Stepped`], for tests that move the clock): claims what is due at
/// the clock's now, signs and sends it, and returns once every attempt is recorded.
pub async fn step(state: &AppState) -> Result<Stepped, cxhooks_store::StoreError> {
    let pipeline = state
        .delivery
        .pipeline
        .get()
        .expect("the workers are started");
    let now = state.clock.now_us();
    let lease_until = now + us(state.config.delivery.lease);
    let claimed = state
        .store
        .claim_due(
            &state.delivery.node,
            now,
            lease_until,
            CLAIM_BATCH as u32,
            &[],
            true,
        )
        .await?;
    let mut last = std::time::Instant::now() - POLL;
    let mut reloads = Reloads {
        last: &mut last,
        done: false,
    };
    let stepped = Stepped {
        claimed: claimed.len(),
        attempted: 0,
    };
    let (mut jobs, mut release) = (Vec::new(), Vec::new());
    for c in claimed {
        match prepare(state, pipeline, c, lease_until, &mut reloads).await {
            Prepared::ReadyDelivery(job) => jobs.push(job),
            Prepared::Release(id) => release.push(id),
            Prepared::Finished => {}
        }
    }
    if !release.is_empty() {
        state.store.release(&state.delivery.node, &release).await?;
    }
    let outcomes: Vec<_> = jobs
        .iter()
        .map(|j| state.delivery.wait_for_attempt(j.claimed.id))
        .collect();
    sign_and_send(state, &pipeline.outcomes, &pipeline.backlog, jobs);
    let mut attempted = 0;
    for outcome in outcomes {
        if outcome.await.is_ok() {
            attempted += 1;
        }
    }
    Ok(Stepped {
        attempted,
        ..stepped
    })
}
