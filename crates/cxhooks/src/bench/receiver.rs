//! The receivers on loopback: the healthy one answers 200 at once; the faulty one (`--faulty`)
//! hangs, answers 503, refuses connections or answers after 2 s until it recovers
//! (`--recover-after`). Both note each delivery they answer 2xx in their [`Seen`].

use super::measure::Seen;
use axum::body::Bytes;
use axum::http::StatusCode;
use clap::ValueEnum;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

/// How the faulty tenants' receivers fail.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Fault {
    /// Accept the connection and the request, never answer: the service's delivery timeout
    /// (`--delivery-timeout`) ends each attempt.
    Hang,
    /// Answer 503 at once.
    #[value(name = "503")]
    Unavailable,
    /// Refuse connections: the webhooks point at a loopback port that is bound but not
    /// listening.
    Refused,
    /// Answer 200 after 2 s.
    Slow,
    /// No fault: answer 200 at once, as the healthy receivers do. The fault-free run to compare
    /// with, with the same tenants reported apart.
    None,
}

impl Fault {
    pub(super) fn name(self) -> &'static str {
        match self {
            Fault::Hang => "hang",
            Fault::Unavailable => "503",
            Fault::Refused => "refused",
            Fault::Slow => "slow",
            Fault::None => "none",
        }
    }
}

/// How long `slow` takes to answer.
pub(super) const SLOW: Duration = Duration::from_secs(2);

/// The faulty receivers' state: their fault, whether they have recovered, the requests they got.
pub(super) struct Faulty {
    fault: Fault,
    recovered: AtomicBool,
    /// Woken when they recover, for `refused` to start listening.
    recovery: tokio::sync::Notify,
    /// Requests that reached them, answered or not.
    pub(super) attempts: AtomicU64,
    /// The deliveries they answered 2xx.
    pub(super) seen: Arc<Seen>,
}

impl Faulty {
    pub(super) fn new(fault: Fault, seen: Arc<Seen>) -> Self {
        Self {
            fault,
            recovered: AtomicBool::new(false),
            recovery: tokio::sync::Notify::new(),
            attempts: AtomicU64::new(0),
            seen,
        }
    }

    /// From now on they answer 200 at once. Requests already hanging go on hanging until the
    /// service gives up on them, as they would at a receiver that came back.
    pub(super) fn recover(&self) {
        self.recovered.store(true, Ordering::Relaxed);
        self.recovery.notify_one();
    }

    async fn answer(&self, body: Bytes) -> StatusCode {
        self.attempts.fetch_add(1, Ordering::Relaxed);
        if !self.recovered.load(Ordering::Relaxed) {
            match self.fault {
                Fault::Hang => std::future::pending::<()>().await,
                Fault::Unavailable => return StatusCode::SERVICE_UNAVAILABLE,
                Fault::Slow => tokio::time::sleep(SLOW).await,
                Fault::Refused | Fault::None => {}
            }
        }
        self.seen.receive(&body);
        StatusCode::OK
    }
}

/// The healthy receiver: answers 200 at once and notes each delivery in `seen`. Served on the
/// load runtime; with `receiver_down`, a port that is closed instead. Returns the webhooks' URL.
pub(super) fn start_receiver(
    load: &tokio::runtime::Runtime,
    seen: &Arc<Seen>,
    receiver_down: bool,
) -> Result<String, String> {
    let counting = seen.clone();
    let receiver = axum::Router::new().fallback(move |body: Bytes| {
        let seen = counting.clone();
        async move {
            seen.receive(&body);
            ""
        }
    });
    let receiver_listener =
        std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    receiver_listener
        .set_nonblocking(true)
        .map_err(|e| e.to_string())?;
    let mut hook_url = format!(
        "http://{}/hook",
        receiver_listener.local_addr().map_err(|e| e.to_string())?
    );
    if receiver_down {
        // A port that was just free and is closed again: every attempt is refused.
        drop(receiver_listener);
        hook_url = format!("{}/down", hook_url.trim_end_matches("/hook"));
    } else {
        load.spawn(async move {
            let listener = tokio::net::TcpListener::from_std(receiver_listener)?;
            axum::serve(listener, receiver).await
        });
    }
    Ok(hook_url)
}

/// The faulty receiver, served on the load runtime. Returns the faulty webhooks' URL.
pub(super) fn start_faulty_receiver(
    load: &tokio::runtime::Runtime,
    faulty: &Arc<Faulty>,
) -> Result<String, String> {
    let answering = faulty.clone();
    let receiver = axum::Router::new().fallback(move |body: Bytes| {
        let faulty = answering.clone();
        async move { faulty.answer(body).await }
    });
    let socket = tokio::net::TcpSocket::new_v4().map_err(|e| e.to_string())?;
    socket
        .bind(([127, 0, 0, 1], 0).into())
        .map_err(|e| e.to_string())?;
    let hook_url = format!(
        "http://{}/faulty",
        socket.local_addr().map_err(|e| e.to_string())?
    );
    let faulty = faulty.clone();
    load.spawn(async move {
        if faulty.fault == Fault::Refused {
            // Bound but not listening: the port stays this receiver's, and the kernel refuses
            // every connection to it until it listens.
            while !faulty.recovered.load(Ordering::Relaxed) {
                faulty.recovery.notified().await;
            }
        }
        axum::serve(socket.listen(1024)?, receiver).await
    });
    Ok(hook_url)
}
