//! The signing threads, and one HTTP attempt per signed delivery.

use super::super::policy;
use super::super::sender::StandardHeaders;
use super::fair_queue::FairQueue;
use super::{Done, ReadyDelivery, SIGN_LOW_WATER, us};
use crate::state::AppState;
use crate::telemetry::AttemptSpan;
use cxhooks_store::{AttemptRecord, DeliveryOutcome, Next};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use tokio::sync::mpsc;

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

/// The signing threads, one per core ([`crate::delivery::signing_threads`], as many as `cxhooks bench
/// --sign-only` measures with), fed by one queue with a lane per webhook ([`FairQueue`]). A
/// thread that finishes a signature takes the next at once, so no core idles between
/// signatures (blocking tasks per chunk left about a tenth of the machine idle:
/// docs/performance.md, "What was tried").
fn signing_queue() -> &'static Arc<FairQueue<SignTask>> {
    static QUEUE: std::sync::OnceLock<Arc<FairQueue<SignTask>>> = std::sync::OnceLock::new();
    QUEUE.get_or_init(|| {
        let queue = Arc::new(FairQueue::default());
        for n in 0..super::super::signing_threads() {
            let queue = queue.clone();
            std::thread::Builder::new()
                .name(format!("cxhooks-sign-{n}"))
                .spawn(move || sign_loop(&queue))
                .expect("a signing thread can be started");
        }
        queue
    })
}

/// One signing thread's work: takes tasks from the shared queue for good, and hands what it
/// signed to the runtime [`HAND_OVER`] at a time, or at once when the queue is empty.
fn sign_loop(queue: &FairQueue<SignTask>) {
    let mut signed: Vec<Signed> = Vec::with_capacity(HAND_OVER);
    loop {
        let task = match queue.try_pop() {
            Some(task) => task,
            None => {
                // Nothing more to sign: what is signed goes now, then wait for more.
                hand_over(&mut signed);
                queue.pop()
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
}

/// Signs the jobs that need it on the signing threads, off the async workers, and sends each as
/// soon as it is signed.
pub(super) fn sign_and_send(
    state: &AppState,
    outcomes: &mpsc::Sender<Done>,
    backlog: &Arc<AtomicUsize>,
    jobs: Vec<ReadyDelivery>,
) {
    let runtime = tokio::runtime::Handle::current();
    for mut job in jobs {
        let (state, outcomes) = (state.clone(), outcomes.clone());
        // A signature carried over (a delivery of an older release) is sent only if the
        // current key made it: after a rotation the withdrawn key's is made again.
        if let Some(signature) = &job.signature {
            if job
                .keys
                .public
                .verify_base64(&job.claimed.payload, signature)
            {
                tokio::spawn(send(state, outcomes, job));
                continue;
            }
            job.signature = None;
        }
        let (runtime, backlog) = (runtime.clone(), backlog.clone());
        let lane = job.claimed.webhook_id;
        backlog.fetch_add(1, Ordering::Relaxed);
        let task: SignTask = Box::new(move || {
            if backlog.fetch_sub(1, Ordering::Relaxed) == SIGN_LOW_WATER {
                // The dispatcher may be waiting for a whole batch's room while the signers
                // work: it claims what room there is before they run dry.
                state.delivery.wake.notify_one();
            }
            job.signature = job
                .keys
                .rsa
                .sign_base64(&job.claimed.payload)
                .inspect_err(|e| tracing::error!(delivery = %job.claimed.id, error = %e, "signing failed; the delivery waits"))
                .ok();
            (runtime, Box::pin(send(state, outcomes, job)))
        });
        signing_queue().push(lane, task);
    }
}

/// Sends one signed job within its webhook's send slots, and hands the outcome to the completer.
async fn send(state: AppState, outcomes: mpsc::Sender<Done>, job: ReadyDelivery) {
    let Ok(_sending) = job.sends.clone().acquire_owned().await else {
        return;
    };
    // Never send what another node may claim before the answer is recorded: a claim that waited
    // too long for a send slot is given back. The margin covers the send (up to the timeout)
    // and recording its answer.
    let lease = us(state.config.delivery.lease);
    let margin = us(state.config.delivery.timeout) + lease / 4;
    if state.clock.now_us() + margin >= job.lease_until {
        state.metrics.released("stale", 1);
        let id = [job.claimed.id];
        if let Err(e) = state.store.release(&state.delivery.node, &id).await {
            tracing::warn!(error = %e, "releasing a stale claim failed; its lease expires");
        }
        return;
    }
    // Unsigned (signing failed) is never sent: the delivery waits, like any fault of this node.
    let outcome = match job.signature.as_deref() {
        Some(signature) => attempt(&state, &job, signature).await,
        None => super::defer(&state, "signing", &job.claimed),
    };
    drop(_sending);
    let (for_hook, for_node) = job.permits;
    // The webhook's share of the node is free again once its answer is in: what that share
    // bounds is what waits to be sent to one receiver, not outcomes waiting for their batch
    // (which left a node with one busy webhook idle a tenth of the time).
    drop(for_hook);
    // The node's permit is held until the answer is recorded, so a node never claims faster
    // than it records: unrecorded work (whose lease is running) stays bounded.
    let _ = outcomes.send((outcome, Some(for_node))).await;
}

async fn attempt(state: &AppState, job: &ReadyDelivery, signature: &str) -> DeliveryOutcome {
    let c = &job.claimed;
    let at = state.clock.now_us();
    // Standard Webhooks' signature covers the attempt's own time: the official verifiers
    // refuse a timestamp more than 5 minutes old, so a retry is signed again when it is sent.
    let standard = job.keys.standard.as_ref().map(|key| {
        let id = c.id.to_string();
        let timestamp = at.div_euclid(1_000_000);
        let signature = key.sign(&id, timestamp, &c.payload);
        StandardHeaders {
            id,
            timestamp,
            signature,
        }
    });
    let observed = state
        .delivery
        .sender
        .send(
            &job.hook,
            &c.payload,
            signature,
            &job.keys.kid,
            standard.as_ref(),
            at,
        )
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
            state.clock.now_us(),
            observed.retry_after,
        )
    };
    if let Some(telemetry) = &state.telemetry {
        telemetry.attempt(&AttemptSpan {
            tenant: &c.tenant,
            application: c.application_id.to_string(),
            webhook: c.webhook_id.to_string(),
            delivery: c.id.to_string(),
            attempt: c.attempts + 1,
            at_us: observed.at,
            duration_us: observed.duration_us,
            status_code: observed.status,
            error: observed.error.as_deref(),
            outcome: match next {
                Next::Delivered => "delivered",
                Next::Retry(_) => "retrying",
                Next::Gone => "gone",
                Next::Failed | Next::Cancelled => "failed",
            },
        });
    }
    DeliveryOutcome {
        delivery_id: c.id,
        webhook_id: c.webhook_id,
        node: state.delivery.node.clone(),
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

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
    /// the queue (an earlier version waited for the queue's lock, sends in hand, for good).
    /// Then a burst that is not a multiple of [`HAND_OVER`].
    #[tokio::test]
    async fn signing_threads_hand_over_everything_they_sign() {
        let queue = Arc::new(FairQueue::default());
        for _ in 0..2 {
            let queue = queue.clone();
            std::thread::spawn(move || sign_loop(&queue));
        }
        let lane = cxhooks_store::WebhookId::now_v7();
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
            queue.push(lane, task(&sent));
            assert!(reaches(&sent, n).await, "send {n} was held back");
        }
        for _ in 0..9 {
            queue.push(lane, task(&sent));
        }
        assert!(
            reaches(&sent, 12).await,
            "{} of 12 sent",
            sent.load(Ordering::SeqCst)
        );
    }
}
