//! The dispatcher and the completer.

use super::policy;
use super::registry::HookInfo;
use crate::state::AppState;
use cxhooks_signing::PrivateKey;
use cxhooks_store::{
    AttemptRecord, Claimed, Completion, DeliveryStatus, Lease, NewDelivery, Next, WebhookStatus,
};
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};
use tokio::task::JoinSet;

/// Sends in flight on this node at most.
const MAX_IN_FLIGHT: usize = 1024;
/// Deliveries claimed per round at most.
const CLAIM_BATCH: usize = 256;
/// Claimed deliveries waiting for a signing thread below which the dispatcher claims whatever
/// room there is. Above it, it waits until it can claim a whole [`CLAIM_BATCH`]: the signing
/// threads have work meanwhile, and one claim of 256 writes far fewer pages than twelve of 21
/// (the rows of a batch share pages), in one transaction instead of twelve.
const SIGN_LOW_WATER: usize = 64;
/// Deliveries of one webhook a node may hold claimed, as a multiple of those it may be sending.
const CLAIM_AHEAD: usize = 16;
/// Outcomes written per transaction at most.
const COMPLETION_BATCH: usize = 512;
/// Batches of outcomes written at once on PostgreSQL: one writer at a time left a single node
/// unable to record outcomes as fast as it sent them.
const COMPLETION_WRITERS: usize = 4;
/// How long the completer waits for more outcomes when fewer are queued than it could write
/// at once: one transaction for many outcomes writes each page they share once, and SQLite
/// syncs once. Measured in `cxhooks bench` on SQLite: 107–115 µs of CPU per delivery outside
/// signing with 5 ms, 115–121 without; later, 66.1 µs on average with 10 ms against 69.7 with 5
/// (four alternating runs each), and no less with 20. The outcomes' node permits are held
/// meanwhile, which [`MAX_IN_FLIGHT`] leaves ample room for; the webhook's send and claim
/// permits are given back as soon as the answer is in, so a receiver is not waited on.
const COMPLETION_LINGER: Duration = Duration::from_millis(10);
/// How often the store is asked for due retries when nothing wakes the dispatcher.
const POLL: Duration = Duration::from_millis(200);

fn now_us() -> i64 {
    chrono::Utc::now().timestamp_micros()
}

fn us(d: Duration) -> i64 {
    i64::try_from(d.as_micros()).unwrap_or(i64::MAX)
}

/// Starts the dispatcher and the completer; they stop when the returned set is dropped.
pub async fn spawn(state: AppState) -> JoinSet<()> {
    if state.store.backend() == "sqlite" {
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
    let per_hook_limit = state.config.delivery.max_in_flight_per_webhook.max(1) as usize;
    let pipeline = Pipeline {
        completions: tx,
        backlog: Arc::new(AtomicUsize::new(0)),
        global: Arc::new(Semaphore::new(MAX_IN_FLIGHT)),
        per_hook: std::sync::Mutex::new(HashMap::new()),
        per_hook_limit,
        per_hook_claims: per_hook_limit * CLAIM_AHEAD,
        wants_room: AtomicBool::new(true),
    };
    if state.delivery.pipeline.set(pipeline).is_err() {
        tracing::error!("the delivery workers of this node were already started");
    }
    let mut set = JoinSet::new();
    set.spawn(complete_loop(state.clone(), rx));
    set.spawn(watch_config(state.clone()));
    set.spawn(watch_due(state.clone()));
    if state.store.backend() == "postgres" && state.config.store.vacuum {
        set.spawn(vacuum_churned(state.clone()));
    }
    set.spawn(dispatch_loop(state));
    set
}

/// A webhook's slots on this node: (deliveries it may hold, sends it may have open).
type HookSlots = (Arc<Semaphore>, Arc<Semaphore>);

/// What the dispatcher shares with the publishes that hand it their deliveries directly.
pub struct Pipeline {
    completions: mpsc::Sender<Done>,
    /// Jobs handed to the signing threads and not yet taken by one.
    backlog: Arc<AtomicUsize>,
    /// Deliveries this node holds (claimed or handed over) and has not recorded the outcome
    /// of: at most [`MAX_IN_FLIGHT`].
    global: Arc<Semaphore>,
    /// Per webhook: how many of its deliveries this node may hold, and how many it may be
    /// sending. Holding a few times more than it sends keeps every webhook's pipe full without
    /// claiming and releasing work it cannot send yet.
    per_hook: std::sync::Mutex<HashMap<uuid::Uuid, HookSlots>>,
    per_hook_limit: usize,
    per_hook_claims: usize,
    /// Whether the dispatcher's last claim may have left due work behind for want of room (a
    /// whole batch claimed, webhooks skipped as full, claims given back): then a recorded
    /// outcome, which frees room, wakes it. Otherwise nothing is due until a publish, another
    /// node's notification or the next poll says so, and outcomes do not wake it: at 500
    /// single-change publishes a second, nine claims in ten found nothing, each a statement on
    /// SQLite's one writer that publishes waited behind.
    wants_room: AtomicBool,
}

impl std::fmt::Debug for Pipeline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pipeline")
            .field("free", &self.global.available_permits())
            .finish_non_exhaustive()
    }
}

impl Pipeline {
    /// The webhook's (holding, sending) slots.
    fn hook_slots(&self, id: uuid::Uuid) -> HookSlots {
        let mut per_hook = self.per_hook.lock().expect("not poisoned");
        // Idle webhooks' slots are dropped now and then, so the map does not grow without bound.
        if per_hook.len() > 10_000 {
            per_hook.retain(|_, (claims, _)| claims.available_permits() < self.per_hook_claims);
        }
        per_hook
            .entry(id)
            .or_insert_with(|| {
                (
                    Arc::new(Semaphore::new(self.per_hook_claims)),
                    Arc::new(Semaphore::new(self.per_hook_limit)),
                )
            })
            .clone()
    }

    /// Room for one more delivery of `hook`, if the node has it.
    fn take(&self, hook: &HookInfo) -> Option<Taken> {
        let (claims, sends) = self.hook_slots(hook.id);
        let hook_permit = claims.try_acquire_owned().ok()?;
        let global_permit = self.global.clone().try_acquire_owned().ok()?;
        Some(Taken {
            permits: (hook_permit, global_permit),
            sends,
        })
    }
}

/// Room taken in the pipeline for one delivery.
struct Taken {
    permits: (OwnedSemaphorePermit, OwnedSemaphorePermit),
    sends: Arc<Semaphore>,
}

/// Fresh deliveries a publish hands to this node's dispatcher: stored already leased to the
/// node ([`cxhooks_store::Lease`]) and sent from memory after the commit, with no claim to
/// write and read back. Those the node has no room for are stored unclaimed and claimed later.
pub struct Handoff {
    owner: String,
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
    /// is backlogged, or runs no dispatcher.
    pub fn reserve(state: &AppState, deliveries: &[NewDelivery]) -> Option<Self> {
        let pipeline = state.delivery.pipeline.get()?;
        if pipeline.backlog.load(Ordering::Relaxed) >= SIGN_LOW_WATER {
            // Backlogged: what is stored unclaimed already goes first, in order, and permits
            // freed by finished sends go to the dispatcher, which has work for the signers now,
            // not to a publish that holds them until its commit. (Handing over regardless took
            // PostgreSQL's flat-out bench from 4,424 to 4,027 deliveries/s.)
            return None;
        }
        let slots: Vec<_> = deliveries
            .iter()
            .map(|d| {
                let hook = state
                    .delivery
                    .registry
                    .hook(d.webhook_id)
                    .filter(|h| h.status == WebhookStatus::Enabled)?;
                let taken = pipeline.take(&hook)?;
                Some((hook, taken))
            })
            .collect();
        if slots.iter().all(Option::is_none) {
            return None;
        }
        Some(Self {
            owner: state.delivery.node.clone(),
            lease_until: now_us() + us(state.config.delivery.lease),
            taken: slots.iter().map(Option::is_some).collect(),
            slots,
        })
    }

    /// The lease to store the deliveries with.
    pub fn lease(&self) -> Lease<'_> {
        Lease {
            owner: &self.owner,
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
            let claimed = Claimed {
                id: d.id.to_string(),
                tenant: tenant.to_owned(),
                application_id: d.application_id.to_string(),
                webhook_id: d.webhook_id.to_string(),
                payload: d.payload,
                signature: None,
                attempts: 0,
                series_attempts: 0,
                series_started: None,
            };
            let Some(key) = key_for(state, &pipeline.completions, &hook, &claimed).await else {
                continue;
            };
            jobs.push(Job {
                claimed,
                hook,
                key: Some(key),
                signature: None,
                permits: taken.permits,
                sends: taken.sends,
                lease_until: self.lease_until,
            });
        }
        sign_and_send(state, &pipeline.completions, &pipeline.backlog, jobs);
    }
}

struct Job {
    claimed: Claimed,
    hook: Arc<HookInfo>,
    key: Option<Arc<PrivateKey>>,
    signature: Option<String>,
    permits: (OwnedSemaphorePermit, OwnedSemaphorePermit),
    /// The webhook's send slots (`delivery.max_in_flight_per_webhook`).
    sends: Arc<Semaphore>,
    /// When this node's claim ends (µs): past it, another node may send the delivery.
    lease_until: i64,
}

fn cancelled(state: &AppState, c: &Claimed) -> Completion {
    Completion {
        delivery_id: c.id.clone(),
        webhook_id: c.webhook_id.clone(),
        lease_owner: state.delivery.node.clone(),
        attempt: None,
        signature: None,
        next: Next::Cancelled,
        series_started: c.series_started.unwrap_or_else(now_us),
    }
}

/// The signing key of `c`'s application; when there is none (the application is gone), `c` is
/// recorded as cancelled and there is nothing to send.
async fn key_for(
    state: &AppState,
    completions: &mpsc::Sender<Done>,
    hook: &HookInfo,
    c: &Claimed,
) -> Option<Arc<PrivateKey>> {
    let key = state
        .delivery
        .registry
        .key(
            &state.store,
            &state.master,
            &hook.tenant,
            hook.application_id,
        )
        .await;
    if key.is_none() {
        let _ = completions.send((cancelled(state, c), None)).await;
    }
    key
}

async fn dispatch_loop(state: AppState) {
    let pipeline = state
        .delivery
        .pipeline
        .get()
        .expect("set before the loop starts");
    let (global, completions, backlog) =
        (&pipeline.global, &pipeline.completions, &pipeline.backlog);
    let lease = us(state.config.delivery.lease);
    let mut last_expired_check = std::time::Instant::now() - POLL;
    let mut last_forced_reload = std::time::Instant::now() - POLL;
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
        // Webhooks this node holds all it may of are left to other nodes (or to later).
        let full: Vec<String> = pipeline
            .per_hook
            .lock()
            .expect("not poisoned")
            .iter()
            .filter(|(_, (claims, _))| claims.available_permits() == 0)
            .map(|(id, _)| id.to_string())
            .collect();
        let now = now_us();
        // Leases that ran out (a dead node's work) are looked for once per poll interval, not on
        // every claim: a lease lasts seconds, so a fraction of a second more costs nothing.
        let expired_too = last_expired_check.elapsed() >= POLL;
        if expired_too {
            last_expired_check = std::time::Instant::now();
        }
        let claimed = match state
            .store
            .claim_due(
                &state.delivery.node,
                now,
                now + lease,
                free as u32,
                &full,
                expired_too,
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
        let claimed_n = claimed.len();
        if claimed.is_empty() {
            pipeline
                .wants_room
                .store(!full.is_empty(), Ordering::Relaxed);
            // Woken by a publish on this node, a notification from another node, or a finished
            // job (its webhook may take more now).
            tokio::select! {
                _ = state.delivery.wake.notified() => {}
                _ = tokio::time::sleep(POLL) => {}
            }
            continue;
        }
        let mut jobs = Vec::with_capacity(claimed.len());
        let mut release = Vec::new();
        let mut reloaded = false;
        for c in claimed {
            let hook_id = uuid::Uuid::parse_str(&c.webhook_id).ok();
            let enabled = |state: &AppState| {
                hook_id
                    .and_then(|id| state.delivery.registry.hook(id))
                    .filter(|h| h.status == WebhookStatus::Enabled)
            };
            let mut hook = enabled(&state);
            if hook.is_none() && !reloaded {
                // Unknown or not enabled here, but this node's registry may be behind the store
                // (another node created or enabled the webhook less than a poll ago): ask the
                // store before cancelling anything, at most once per poll interval.
                if last_forced_reload.elapsed() >= POLL {
                    last_forced_reload = std::time::Instant::now();
                    reloaded = true;
                    if let Err(e) = state
                        .delivery
                        .registry
                        .reload(&state.store, &state.master)
                        .await
                    {
                        tracing::warn!(error = %e, "reloading webhooks failed");
                        reloaded = false;
                    }
                    hook = enabled(&state);
                }
            }
            let Some(hook) = hook else {
                if reloaded {
                    // Deleted, disabled or in error, as the store says: not sent, visible as
                    // cancelled.
                    let _ = completions.send((cancelled(&state, &c), None)).await;
                } else {
                    // Not sure yet: give it back, to be decided after the next reload.
                    release.push(c.id);
                }
                continue;
            };
            let Some(taken) = pipeline.take(&hook) else {
                release.push(c.id);
                continue;
            };
            let key = if c.signature.is_none() {
                let Some(key) = key_for(&state, completions, &hook, &c).await else {
                    continue;
                };
                Some(key)
            } else {
                None
            };
            let signature = c.signature.clone();
            jobs.push(Job {
                claimed: c,
                hook,
                key,
                signature,
                permits: taken.permits,
                sends: taken.sends,
                lease_until: now + lease,
            });
        }
        let drained = claimed_n < free && full.is_empty() && release.is_empty();
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
        sign_and_send(&state, completions, backlog, jobs);
    }
}

/// A signed delivery ready to send, with the runtime it is to be sent on.
type Signed = (
    tokio::runtime::Handle,
    std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>,
);

/// Work for the signing threads.
type SignTask = Box<dyn FnOnce() -> Signed + Send>;

/// Signed deliveries a signing thread gives the async runtime at once while more wait to be
/// signed. One spawn per delivery woke the async worker once per delivery (each wake-up a
/// context switch that also interrupts the other signing thread); one per four costs a send at
/// most three signatures (under a millisecond) of waiting, and only under load: a thread that
/// finds nothing more to sign hands over what it has at once.
const HAND_OVER: usize = 4;

/// Spawns the signed sends, one task per runtime for the lot.
fn hand_over(signed: &mut Vec<Signed>) {
    let mut signed = signed.drain(..).peekable();
    while let Some((runtime, first)) = signed.next() {
        let mut sends = vec![first];
        while let Some((_, send)) = signed.next_if(|(r, _)| r.id() == runtime.id()) {
            sends.push(send);
        }
        runtime.spawn(async move {
            for send in sends {
                tokio::spawn(send);
            }
        });
    }
}

/// The signing threads, one per core ([`super::signing_threads`], as many as `cxhooks bench
/// --sign-only` measures with), fed by one queue. A thread that finishes a signature takes the
/// next at once. Before, each chunk of 8 went to a blocking task of the runtime: the round trip
/// (a task waiting for a signing slot, then a blocking thread woken for the chunk) left a core
/// idle between chunks, about a tenth of the machine in the bench.
fn signing_queue() -> &'static std::sync::mpsc::Sender<SignTask> {
    static QUEUE: std::sync::OnceLock<std::sync::mpsc::Sender<SignTask>> =
        std::sync::OnceLock::new();
    QUEUE.get_or_init(|| {
        let (tx, rx) = std::sync::mpsc::channel::<SignTask>();
        let rx = Arc::new(std::sync::Mutex::new(rx));
        for n in 0..super::signing_threads() {
            let rx = rx.clone();
            std::thread::Builder::new()
                .name(format!("cxhooks-sign-{n}"))
                .spawn(move || sign_loop(&rx))
                .expect("a signing thread can be started");
        }
        tx
    })
}

/// One signing thread's work: takes tasks from the shared queue until it closes, and hands what
/// it signed to the runtime [`HAND_OVER`] at a time, or at once when the queue is empty.
fn sign_loop(rx: &std::sync::Mutex<std::sync::mpsc::Receiver<SignTask>>) {
    let mut signed: Vec<Signed> = Vec::with_capacity(HAND_OVER);
    loop {
        // Never wait on the lock with sends in hand: the other thread may hold
        // it, waiting for a task that never comes.
        let queued = match rx.try_lock() {
            Ok(rx) => match rx.try_recv() {
                Ok(task) => Some(task),
                Err(std::sync::mpsc::TryRecvError::Empty) => None,
                Err(std::sync::mpsc::TryRecvError::Disconnected) => break,
            },
            Err(std::sync::TryLockError::WouldBlock) => None,
            Err(std::sync::TryLockError::Poisoned(_)) => break,
        };
        let task = match queued {
            Some(task) => task,
            None => {
                // Nothing more to sign: what is signed goes now.
                hand_over(&mut signed);
                // The lock is held only while waiting for the next task.
                let Ok(task) = rx
                    .lock()
                    .map_err(drop)
                    .and_then(|rx| rx.recv().map_err(drop))
                else {
                    break;
                };
                task
            }
        };
        // A panicking task drops its job and its permits; the lease expires
        // and the delivery is claimed again. The thread goes on.
        if let Ok(done) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(task)) {
            signed.push(done);
        }
        if signed.len() >= HAND_OVER {
            hand_over(&mut signed);
        }
    }
    hand_over(&mut signed);
}

/// Signs the jobs that need it on the signing threads, off the async workers, and sends each as
/// soon as it is signed.
fn sign_and_send(
    state: &AppState,
    completions: &mpsc::Sender<Done>,
    backlog: &Arc<AtomicUsize>,
    jobs: Vec<Job>,
) {
    let runtime = tokio::runtime::Handle::current();
    for mut job in jobs {
        let (state, completions) = (state.clone(), completions.clone());
        let Some(key) = job.key.clone().filter(|_| job.signature.is_none()) else {
            tokio::spawn(send(state, completions, job));
            continue;
        };
        let (runtime, backlog) = (runtime.clone(), backlog.clone());
        backlog.fetch_add(1, Ordering::Relaxed);
        let task: SignTask = Box::new(move || {
            if backlog.fetch_sub(1, Ordering::Relaxed) == SIGN_LOW_WATER {
                // The dispatcher may be waiting for a whole batch's room while the signers
                // work: it claims what room there is before they run dry.
                state.delivery.wake.notify_one();
            }
            job.signature = key.sign_base64(&job.claimed.payload).ok();
            (runtime, Box::pin(send(state, completions, job)))
        });
        // The threads live as long as the process: the queue is never closed.
        let _ = signing_queue().send(task);
    }
}

/// Sends one signed job within its webhook's send slots, and hands the outcome to the completer.
async fn send(state: AppState, completions: mpsc::Sender<Done>, job: Job) {
    let Ok(_sending) = job.sends.clone().acquire_owned().await else {
        return;
    };
    // Never send what another node may claim before the answer is recorded: a claim that waited
    // too long for a send slot is given back. The margin covers the send (up to the timeout)
    // and recording its answer.
    let lease = us(state.config.delivery.lease);
    let margin = us(state.config.delivery.timeout) + lease / 4;
    if now_us() + margin >= job.lease_until {
        let id = [job.claimed.id.clone()];
        if let Err(e) = state.store.release(&state.delivery.node, &id).await {
            tracing::warn!(error = %e, "releasing a stale claim failed; its lease expires");
        }
        return;
    }
    let completion = attempt(&state, &job).await;
    drop(_sending);
    let (for_hook, for_node) = job.permits;
    // The webhook's share of the node is free again once its answer is in: what that share
    // bounds is what waits to be sent to one receiver. Held until the answer was recorded, it
    // left a node with one busy webhook idle for a tenth of the time, its slots taken by
    // outcomes waiting for their batch.
    drop(for_hook);
    // The node's permit is held until the answer is recorded, so a node never claims faster
    // than it records: unrecorded work (whose lease is running) stays bounded.
    let _ = completions.send((completion, Some(for_node))).await;
}

async fn attempt(state: &AppState, job: &Job) -> Completion {
    let c = &job.claimed;
    let signature = job.signature.clone().unwrap_or_default();
    let observed = state
        .delivery
        .sender
        .send(&job.hook, &c.payload, &signature)
        .await;
    let series_started = c.series_started.unwrap_or(observed.at);
    let series_attempts = u32::try_from(c.series_attempts + 1).unwrap_or(u32::MAX);
    let next = if observed.succeeded() {
        Next::Delivered
    } else if observed.status == Some(410) {
        Next::Gone
    } else {
        policy::after_failure(
            &state.config.delivery.retry_schedule,
            series_started,
            series_attempts,
            now_us(),
            observed.retry_after,
        )
    };
    Completion {
        delivery_id: c.id.clone(),
        webhook_id: c.webhook_id.clone(),
        lease_owner: state.delivery.node.clone(),
        attempt: Some(AttemptRecord {
            n: c.attempts + 1,
            at: observed.at,
            duration_us: observed.duration_us,
            status_code: observed.status.map(i64::from),
            error: observed.error,
            response_body: observed.body,
        }),
        // Not kept: RSASSA-PKCS1-v1_5 is deterministic, so a retry signs to the same bytes, and
        // keeping 344 bytes per delivery to save 0.4 ms on the rare retry is a bad trade.
        signature: None,
        next,
        series_started,
    }
}

/// Wakes the dispatcher when another node sharing the store accepts changes.
async fn watch_due(state: AppState) {
    loop {
        let wake = || state.delivery.wake.notify_one();
        if let Err(e) = state.store.watch_due(wake).await {
            tracing::warn!(error = %e, "listening for new deliveries failed; polling meanwhile");
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// How often a PostgreSQL node looks for tables to vacuum.
const VACUUM_EVERY: Duration = Duration::from_secs(1);
/// A table is vacuumed once its dead row versions outnumber this many plus
/// [`VACUUM_SHARE`] of its live rows (autovacuum's defaults: 50 and 20 %).
const VACUUM_MIN_DEAD: i64 = 1_000;
const VACUUM_SHARE: f64 = 0.05;
/// How often at most a node warns that vacuum cannot free dead row versions.
const HELD_WARNING: Duration = Duration::from_secs(60);
/// How long the oldest snapshot's transaction must have been open for the node to blame it:
/// under a heavy load the versions that die while a vacuum runs may leave a table over the
/// threshold, with the nodes' own short transactions the oldest.
const HELD_BY_AGE_S: f64 = 10.0;

/// Vacuums the store's tables that updates have churned, every [`VACUUM_EVERY`]. Every
/// delivery row is written pending and then updated done; PostgreSQL keeps the old versions
/// until vacuum frees their space, which autovacuum does only after a fifth of the table has
/// changed (and not at all where it is off). Freed early, the space holds the next deliveries.
async fn vacuum_churned(state: AppState) {
    // Tables already reported as not the connected role's, so that each is warned about once.
    let mut not_owned = std::collections::BTreeSet::new();
    // When vacuum last found it could not free dead versions, which is warned about at most
    // every HELD_WARNING.
    let mut held_warned: Option<tokio::time::Instant> = None;
    loop {
        tokio::time::sleep(VACUUM_EVERY).await;
        match state
            .store
            .vacuum_churned(VACUUM_MIN_DEAD, VACUUM_SHARE)
            .await
        {
            Ok(done) => {
                for table in done.vacuumed {
                    tracing::debug!(table, "vacuumed");
                    let table = crate::metrics::Table { table };
                    state.metrics.store_vacuums.get_or_create(&table).inc();
                }
                for table in done.skipped {
                    tracing::debug!(table, "not vacuumed: another session holds it");
                }
                if let Some(holder) = done.holder.filter(|h| h.open_s >= HELD_BY_AGE_S)
                    && held_warned.is_none_or(|at| at.elapsed() >= HELD_WARNING)
                {
                    held_warned = Some(tokio::time::Instant::now());
                    tracing::warn!(
                        tables = done.held.join(", "),
                        "vacuum cannot free these tables' dead row versions, so the store \
                         grows: {holder}; end that transaction (or pg_terminate_backend({}))",
                        holder.pid
                    );
                }
                for table in done.not_owned {
                    if not_owned.insert(table.clone()) {
                        tracing::warn!(
                            table,
                            "cannot vacuum this table: the role cxhooks connects as owns neither \
                             it nor the database; leaving it to autovacuum (make that role its \
                             owner, or set store.vacuum = false to silence this)"
                        );
                    }
                }
            }
            Err(e) => tracing::warn!(error = %e, "vacuuming the store failed; trying again"),
        }
    }
}

/// How often the store's configuration version is polled.
const CONFIG_POLL: Duration = Duration::from_secs(1);

/// Reloads the webhook registry when another node (or this one) changed webhooks or
/// applications: the bound on how long nodes sharing a store may disagree.
async fn watch_config(state: AppState) {
    let mut seen = state.store.config_version().await.ok();
    loop {
        tokio::time::sleep(CONFIG_POLL).await;
        let Ok(now) = state.store.config_version().await else {
            continue;
        };
        if seen == Some(now) {
            continue;
        }
        match state
            .delivery
            .registry
            .reload(&state.store, &state.master)
            .await
        {
            Ok(()) => seen = Some(now),
            Err(e) => tracing::warn!(error = %e, "reloading webhooks failed; retrying"),
        }
    }
}

/// A finished job: its outcome, and its permit of the node's [`MAX_IN_FLIGHT`] (released once
/// the outcome is stored; the webhook's share was given back when the answer came in).
type Done = (Completion, Option<OwnedSemaphorePermit>);

async fn complete_loop(state: AppState, mut rx: mpsc::Receiver<Done>) {
    let error_after = &state.config.delivery.error_after;
    let (after_us, after_n) = (
        us(error_after.failing_for),
        i64::from(error_after.deliveries),
    );
    // SQLite has one writer: batches are written one at a time, and lingering for a larger one
    // saves pages and syncs. PostgreSQL commits transactions side by side: several batches are
    // written at once, without lingering (which there only held permits longer: 3,120–3,482
    // deliveries/s flat out with it, 4,424 without).
    let sqlite = state.store.backend() == "sqlite";
    let linger_for = if sqlite {
        COMPLETION_LINGER
    } else {
        Duration::ZERO
    };
    let writers = Arc::new(Semaphore::new(COMPLETION_WRITERS));
    // Batches being written; dropped (and their transactions rolled back) with the loop.
    let mut recording = JoinSet::new();
    while let Some(first) = rx.recv().await {
        let mut done = vec![first];
        let linger = tokio::time::Instant::now() + linger_for;
        while done.len() < COMPLETION_BATCH {
            match rx.try_recv() {
                Ok(c) => done.push(c),
                Err(_) => match tokio::time::timeout_at(linger, rx.recv()).await {
                    Ok(Some(c)) => done.push(c),
                    _ => break,
                },
            }
        }
        let (batch, held): (Vec<Completion>, Vec<_>) = done.into_iter().unzip();
        if sqlite {
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

/// Wakes the dispatcher after a batch of outcomes is recorded if it is waiting for room, or if
/// the batch scheduled retries (due soon, with a short schedule).
fn wake_for(state: &AppState, batch: &[Completion]) {
    let wants_room = state
        .delivery
        .pipeline
        .get()
        .is_none_or(|p| p.wants_room.load(Ordering::Relaxed));
    if wants_room || batch.iter().any(|c| matches!(c.next, Next::Retry(_))) {
        state.delivery.wake.notify_one();
    }
}

/// Writes one batch of outcomes, retrying until the store takes it, and applies its effects.
async fn record(state: &AppState, batch: &[Completion], after_us: i64, after_n: i64) {
    let effects = loop {
        match state
            .store
            .complete(batch, now_us(), after_us, after_n)
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
        if let Ok(id) = uuid::Uuid::parse_str(&id) {
            tracing::warn!(webhook = %id, "webhook set to error");
            state.delivery.registry.set_error(id);
        }
    }
    for c in batch {
        state.metrics.delivery(match c.next {
            Next::Delivered => "delivered",
            Next::Retry(_) => "retrying",
            Next::Failed => "failed",
            Next::Gone => "gone",
            Next::Cancelled => "cancelled",
        });
        if let Some(a) = &c.attempt {
            state
                .metrics
                .attempt_seconds
                .observe(a.duration_us as f64 / 1e6);
            state.delivery.attempted(&c.delivery_id, a);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Waits up to 5 s for `sent` to reach `n`.
    async fn reaches(sent: &AtomicUsize, n: usize) -> bool {
        for _ in 0..500 {
            if sent.load(Ordering::SeqCst) >= n {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        false
    }

    /// Nothing signed is held back. Tasks come one at a time, each after both threads have gone
    /// idle: the thread that signs one holds fewer than [`HAND_OVER`] while the other waits for
    /// the queue holding its lock (the first version waited for that lock, sends in hand, for
    /// good). Then a burst that is not a multiple of [`HAND_OVER`].
    #[tokio::test]
    async fn signing_threads_hand_over_everything_they_sign() {
        let (tx, rx) = std::sync::mpsc::channel::<SignTask>();
        let rx = Arc::new(std::sync::Mutex::new(rx));
        for _ in 0..2 {
            let rx = rx.clone();
            std::thread::spawn(move || sign_loop(&rx));
        }
        let sent = Arc::new(AtomicUsize::new(0));
        let task = |sent: &Arc<AtomicUsize>| -> SignTask {
            let (sent, runtime) = (sent.clone(), tokio::runtime::Handle::current());
            Box::new(move || {
                // Signing takes a while: the other thread is waiting on the queue by then.
                std::thread::sleep(Duration::from_millis(20));
                let send = async move {
                    sent.fetch_add(1, Ordering::SeqCst);
                };
                (runtime, Box::pin(send) as _)
            })
        };
        for n in 1..=3 {
            tx.send(task(&sent)).unwrap();
            assert!(reaches(&sent, n).await, "send {n} was held back");
        }
        for _ in 0..9 {
            tx.send(task(&sent)).unwrap();
        }
        assert!(
            reaches(&sent, 12).await,
            "{} of 12 sent",
            sent.load(Ordering::SeqCst)
        );
    }
}
