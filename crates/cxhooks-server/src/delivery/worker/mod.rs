//! The delivery workers of a node: from a stored (or handed-off) delivery to its recorded
//! outcome.
//!
//! - `dispatcher`: claims due deliveries with a lease, within the node's and each webhook's
//!   room, and passes them on.
//! - `handoff`: a publish's fresh deliveries, taken on by this node before the commit and sent
//!   from memory after it.
//! - `signer`: the signing threads (off the async workers, fed round-robin per webhook by
//!   `fair_queue`), then one HTTP attempt each.
//! - `completer`: writes outcomes back in batches, one transaction each, and applies them.
//!
//! A delivery's way: `claim_due` → `ReadyDelivery` → `sign_and_send` → `send` → `attempt` →
//! `completer` → `Store::complete`.

mod completer;
mod dispatcher;
mod fair_queue;
mod handoff;
mod signer;
mod slots;

pub use dispatcher::{Stepped, step};
pub use handoff::Handoff;

use super::registry::{AppKeys, HookInfo};
use crate::state::{AppState, Dispatcher};
use cxhooks_store::{ClaimedDelivery, DeliveryOutcome, Next, WebhookId};
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize};
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};
use tokio::task::JoinSet;

/// Sends in flight on this node at most.
const MAX_IN_FLIGHT: usize = 1024;
/// Deliveries claimed per round at most.
const CLAIM_BATCH: usize = 256;
/// ClaimedDelivery deliveries waiting for a signing thread below which the dispatcher claims whatever
/// room there is. Above it, it waits until it can claim a whole [`CLAIM_BATCH`]: the signing
/// threads have work meanwhile, and one claim of 256 writes far fewer pages than twelve of 21
/// (the rows of a batch share pages), in one transaction instead of twelve.
const SIGN_LOW_WATER: usize = 64;
/// Outcomes written per transaction at most.
const OUTCOME_BATCH: usize = 512;
/// Batches of outcomes written at once on PostgreSQL: one writer at a time left a single node
/// unable to record outcomes as fast as it sent them.
const OUTCOME_WRITERS: usize = 4;
/// How long the completer waits for more outcomes when fewer are queued than it could write
/// at once: one transaction for many outcomes writes each page they share once, and SQLite
/// syncs once. Measured in `cxhooks bench` on SQLite: 107–115 µs of CPU per delivery outside
/// signing with 5 ms, 115–121 without; later, 66.1 µs on average with 10 ms against 69.7 with 5
/// (four alternating runs each), and no less with 20. The outcomes' node permits are held
/// meanwhile, which [`MAX_IN_FLIGHT`] leaves ample room for; the webhook's send and claim
/// permits are given back as soon as the answer is in, so a receiver is not waited on.
const OUTCOME_LINGER: Duration = Duration::from_millis(10);
/// How often the store is asked for due retries when nothing wakes the dispatcher.
const POLL: Duration = Duration::from_millis(200);

fn us(d: Duration) -> i64 {
    i64::try_from(d.as_micros()).unwrap_or(i64::MAX)
}

/// Starts the dispatcher (unless the node is [`Dispatcher::Stepped`]) and the completer; they
/// stop when the returned set is dropped.
pub async fn spawn(state: AppState) -> JoinSet<()> {
    if state.store.kind().single_node() {
        // One node per SQLite store: leases left by a killed process are this node's to take.
        match state.store.release_all_leases().await {
            Ok(0) => {}
            Ok(n) => tracing::info!(
                deliveries = n,
                "resuming deliveries claimed before a restart"
            ),
            Err(e) => tracing::error!(error = %e, "cannot release old leases"),
        }
    }
    let (tx, rx) = mpsc::channel(4096);
    let default_limit = state.config.delivery.max_in_flight_per_webhook.max(1) as usize;
    let pipeline = Pipeline {
        outcomes: tx,
        backlog: Arc::new(AtomicUsize::new(0)),
        global: Arc::new(Semaphore::new(MAX_IN_FLIGHT)),
        per_hook: std::sync::Mutex::new(HashMap::new()),
        default_limit,
        wants_room: AtomicBool::new(true),
        blocked: std::sync::Mutex::new(std::collections::HashSet::new()),
    };
    if state.delivery.pipeline.set(pipeline).is_err() {
        tracing::error!("the delivery workers of this node were already started");
    }
    let mut set = JoinSet::new();
    set.spawn(completer::complete_loop(state.clone(), rx));
    if state.dispatcher == Dispatcher::Loop {
        set.spawn(dispatcher::watch_due(state.clone()));
        set.spawn(dispatcher::dispatch_loop(state));
    }
    set
}

/// What the dispatcher shares with the publishes that hand it their deliveries directly.
pub struct Pipeline {
    outcomes: mpsc::Sender<Done>,
    /// Jobs handed to the signing threads and not yet taken by one.
    backlog: Arc<AtomicUsize>,
    /// Deliveries this node holds (claimed or handed over) and has not recorded the outcome
    /// of: at most [`MAX_IN_FLIGHT`].
    global: Arc<Semaphore>,
    /// Per webhook: how many of its deliveries this node may hold, and how many it may be
    /// sending. Holding a few times more than it sends keeps every webhook's pipe full without
    /// claiming and releasing work it cannot send yet.
    per_hook: std::sync::Mutex<HashMap<WebhookId, slots::HookSlots>>,
    /// `delivery.max_in_flight_per_webhook`: the send slots of a webhook without its own.
    default_limit: usize,
    /// Whether the dispatcher's last claim may have left due work behind for want of room (a
    /// whole batch claimed, webhooks skipped as full, claims given back): then a recorded
    /// outcome, which frees room, wakes it. Otherwise nothing is due until a publish, another
    /// node's notification or the next poll says so, and outcomes do not wake it: at 500
    /// single-change publishes a second, nine claims in ten found nothing, each a statement on
    /// SQLite's one writer that publishes waited behind.
    wants_room: AtomicBool,
    /// Webhooks the last claim found due work of but no room for: an outcome of one of them
    /// frees room, and wakes the dispatcher (other outcomes do not, unless `wants_room`).
    blocked: std::sync::Mutex<std::collections::HashSet<WebhookId>>,
}

impl std::fmt::Debug for Pipeline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pipeline")
            .field("free", &self.global.available_permits())
            .finish_non_exhaustive()
    }
}

impl Pipeline {
    /// The webhook's slots, made anew when its settings changed.
    fn hook_slots(&self, hook: &HookInfo) -> slots::HookSlots {
        let mut per_hook = self.per_hook.lock().expect("not poisoned");
        // Idle webhooks' slots are dropped now and then, so the map does not grow without bound.
        if per_hook.len() > 10_000 {
            per_hook.retain(|_, slots| !slots.idle());
        }
        let slots = per_hook
            .entry(hook.id)
            .or_insert_with(|| slots::HookSlots::new(hook, self.default_limit));
        if !slots.fit(hook, self.default_limit) {
            // What is in flight keeps the old slots' permits until it is done.
            *slots = slots::HookSlots::new(hook, self.default_limit);
        }
        slots.clone()
    }

    /// How many more deliveries of `hook` this node may take now ([`slots::HookSlots::room`]).
    pub(super) fn room(&self, hook: &HookInfo) -> u32 {
        u32::try_from(self.hook_slots(hook).room()).unwrap_or(u32::MAX)
    }

    /// Whether this node holds fewer of `hook`'s deliveries (claimed, signing or sending) than
    /// it may send at once ([`slots::HookSlots::unqueued`]).
    pub(super) fn unqueued(&self, hook: &HookInfo) -> bool {
        self.hook_slots(hook).unqueued()
    }

    /// Whether the last claim left due work of webhook `id` for want of room.
    pub(super) fn is_blocked(&self, id: WebhookId) -> bool {
        self.blocked.lock().expect("not poisoned").contains(&id)
    }

    /// The webhooks this node may take no more of now.
    pub(super) fn full_hooks(&self) -> Vec<WebhookId> {
        let per_hook = self.per_hook.lock().expect("not poisoned");
        per_hook
            .iter()
            .filter(|(_, slots)| slots.room() == 0)
            .map(|(id, _)| *id)
            .collect()
    }

    /// Room for one more delivery of `hook`, if the node has it; counted against its rate.
    fn take(&self, hook: &HookInfo) -> Option<Taken> {
        let slots = self.hook_slots(hook);
        if slots.room() == 0 {
            return None;
        }
        let hook_permit = slots.claims.clone().try_acquire_owned().ok()?;
        let global_permit = self.global.clone().try_acquire_owned().ok()?;
        slots.start_one();
        Some(Taken {
            permits: (hook_permit, global_permit),
            sends: slots.sends,
        })
    }
}

/// Room taken in the pipeline for one delivery.
struct Taken {
    permits: (OwnedSemaphorePermit, OwnedSemaphorePermit),
    sends: Arc<Semaphore>,
}

struct ReadyDelivery {
    claimed: ClaimedDelivery,
    hook: Arc<HookInfo>,
    /// The application's keys: the RSA key signs `Cx-Signature` if the delivery is not signed
    /// yet; the Standard Webhooks secret, if any, signs each attempt at its own time.
    keys: Arc<AppKeys>,
    signature: Option<String>,
    permits: (OwnedSemaphorePermit, OwnedSemaphorePermit),
    /// The webhook's send slots (`delivery.max_in_flight_per_webhook`).
    sends: Arc<Semaphore>,
    /// When this node's claim ends (µs): past it, another node may send the delivery.
    lease_until: i64,
}

fn cancelled(state: &AppState, c: &ClaimedDelivery) -> DeliveryOutcome {
    DeliveryOutcome {
        delivery_id: c.id,
        webhook_id: c.webhook_id,
        node: state.delivery.node.clone(),
        attempt: None,
        signature: None,
        next: Next::Cancelled,
        series_started: c.series_started.unwrap_or_else(|| state.clock.now_us()),
    }
}

/// How long a delivery waits when what sending it needs could not be had (the store did not
/// answer, a seal did not open): long enough not to spin on a lasting fault, short against the
/// retry schedule's first slot.
const DEFER: Duration = Duration::from_secs(5);

/// `c` put off by a fault of this node, not by its receiver: nothing sent, nothing counted
/// against its attempts, due again after [`DEFER`].
fn deferred(state: &AppState, c: &ClaimedDelivery) -> DeliveryOutcome {
    let now = state.clock.now_us();
    DeliveryOutcome {
        next: Next::Retry(now + us(DEFER)),
        series_started: c.series_started.unwrap_or(now),
        ..cancelled(state, c)
    }
}

/// What sending `c` to `hook` needs besides the payload: its webhook's custom headers and its
/// application's keys (to sign `Cx-Signature` if `c` is not signed yet, and every attempt's
/// Standard Webhooks signature). Only a definite fact (the application is gone) cancels `c`;
/// any other failure defers it (logged and counted), so that it is never lost nor sent
/// half-built. `None`: `c` is recorded already, there is nothing to send.
async fn needs(
    state: &AppState,
    outcomes: &mpsc::Sender<Done>,
    hook: &HookInfo,
    c: &ClaimedDelivery,
) -> Option<Arc<AppKeys>> {
    let outcome = if hook.headers.is_none() {
        defer(state, "headers", c)
    } else if !hook.auth_opened {
        defer(state, "auth", c)
    } else {
        let registry = &state.delivery.registry;
        match registry
            .key(
                &state.store,
                &state.master,
                &hook.tenant,
                hook.application_id,
            )
            .await
        {
            Ok(Some(keys)) => return Some(keys),
            Ok(None) => cancelled(state, c),
            Err(e) => {
                tracing::warn!(delivery = %c.id, application = %hook.application_id, error = %e, "no signing key now; the delivery waits");
                defer(state, "key", c)
            }
        }
    };
    let _ = outcomes.send((outcome, None)).await;
    None
}

/// [`deferred`], counted by `cause`.
fn defer(state: &AppState, cause: &'static str, c: &ClaimedDelivery) -> DeliveryOutcome {
    state.metrics.deferred(cause);
    deferred(state, c)
}

/// A finished job: its outcome, and its permit of the node's [`MAX_IN_FLIGHT`] (released once
/// the outcome is stored; the webhook's share was given back when the answer came in).
type Done = (DeliveryOutcome, Option<OwnedSemaphorePermit>);
