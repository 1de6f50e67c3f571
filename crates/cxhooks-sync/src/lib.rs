//! `cxhooks sync`: keep a replica of one entity's records in step with cxhooks (SPEC §8), as
//! HireData and Recrubo do for their customers (seeds 000–002).
//!
//! # Layout
//! - [`check`]: the connection check: token, scopes, permissions, each problem with its fix.
//! - [`api`]: the cxhooks endpoints the sync calls.
//! - [`replica`]: the local replica (SQLite file or PostgreSQL), seen ids, progress, timeline.
//! - `setup`: the filter, the receiver's listener, the application and its webhook.
//! - this file: [`run`]: the receiver that applies notifications, and the resumable initial
//!   sync.
//!
//! Order matters: the receiver and webhook come first, then the initial sync, so that no change
//! made during the initial sync is missed; records notified during it are fetched again when it
//! ends, so that an older page never overwrites a newer change.
#![warn(missing_docs)]

pub mod api;
pub mod attachments;
pub mod check;
mod pass;
mod pull;
mod receiver;
pub mod replica;
mod setup;

use receiver::{Receiver, receive};
pub use setup::status_type;
use setup::{SetUp, set_up};

use api::Api;
use check::Failure;
use replica::Replica;
use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

/// What to sync, from where, into what.
#[derive(Debug, Clone)]
pub struct Options {
    /// Base URL of cxhooks.
    pub base_url: String,
    /// Tenant.
    pub tenant: String,
    /// Client id.
    pub client_id: String,
    /// Client secret.
    pub client_secret: String,
    /// Entity (`cremployee`).
    pub entity: String,
    /// A condition over `data.*`; with `statuses`, or alone.
    pub filter: Option<String>,
    /// Status labels (`Active,New`), resolved through the `crdatanode` lookup records.
    pub statuses: Vec<String>,
    /// `sqlite:FILE` or `postgres://…`.
    pub into: String,
    /// Where the sync's receiver listens.
    pub listen: String,
    /// The URL cxhooks delivers to (defaults to `http://{listen}/webhook`).
    pub public_url: Option<String>,
    /// Read notifications from a pull webhook's feed instead of receiving them (no listener).
    pub pull: bool,
    /// Records per page of the initial sync.
    pub page_size: u32,
    /// Reconcile now: fetch every record the filter selects again and remove any other.
    pub reconcile: bool,
    /// How often cxhooks' request log is read for notifications that failed (then the sync
    /// catches up).
    pub watch_every: std::time::Duration,
    /// Follow the attachments (`crattachment`) of the replicated records, with their files.
    pub attachments: bool,
}

/// Why a sync stopped.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// The connection check failed.
    #[error("{0}")]
    Connection(Failure),
    /// The filter or statuses are unusable.
    #[error("{0}")]
    Filter(String),
    /// The replica failed.
    #[error(transparent)]
    Replica(#[from] replica::ReplicaError),
    /// An API call failed.
    #[error(transparent)]
    Api(#[from] api::ApiError),
    /// The receiver could not listen.
    #[error("cannot listen on {0}")]
    Listen(String),
}

/// Runs the connection check: a usable token and every scope and permission.
pub async fn check(api: &Api) -> Result<(), Failure> {
    let (_, scopes) = api.authenticate().await?;
    let me = match api.call(reqwest::Method::GET, "/acl/v1/me", None).await {
        Ok((200, v)) => Some(v),
        _ => None,
    };
    let problems = check::diagnose(api.tenant(), api.client_id(), &scopes, me.as_ref());
    if problems.is_empty() {
        Ok(())
    } else {
        Err(Failure::Access(problems))
    }
}

/// What the sync reports while it runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    /// A pass (the initial sync or a reconcile) starts, with how many records the filter
    /// selects in all when the source says (`None` when it does not count).
    Started(Option<u64>),
    /// The initial sync has copied this many records so far (after each page).
    Copied(usize),
    /// The initial sync is done (or was done before): notifications keep the replica in step.
    RealTime,
}

/// Runs the sync until `shutdown` resolves: check, set-up, receiver, initial sync, real time.
/// `progress` hears of each page of the initial sync and of the switch to real time. A failed
/// check or set-up is written to the timeline with its cause.
pub async fn run(
    o: &Options,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    progress: impl Fn(Progress),
) -> Result<(), SyncError> {
    let owner_field = match (o.attachments, attachments::owner_field(&o.entity)) {
        (false, _) => None,
        (true, Some(field)) => Some(field),
        (true, None) => {
            let entities: Vec<&str> = attachments::OWNERS.iter().map(|(e, _)| *e).collect();
            return Err(SyncError::Filter(format!(
                "--attachments: attachments belong to {}, not to {}",
                entities.join(", "),
                o.entity
            )));
        }
    };
    let replica = Replica::open(&o.into).await?;
    replica
        .log(
            "run",
            &format!(
                "sync of {} from {} (tenant {}) started",
                o.entity, o.base_url, o.tenant
            ),
        )
        .await?;
    let api = Api::new(&o.base_url, &o.tenant, &o.client_id, &o.client_secret);
    if let Err(e) = check(&api).await {
        replica
            .log(
                "error",
                &format!("connection check failed: {}", e.to_string().trim_end()),
            )
            .await?;
        return Err(SyncError::Connection(e));
    }
    let SetUp {
        filter_text,
        filter,
        listener,
        keys,
        app,
        hook,
    } = match set_up(o, &api, &replica.id().await?).await {
        Ok(done) => done,
        Err(e) => {
            replica.log("error", &format!("set-up failed: {e}")).await?;
            return Err(e);
        }
    };
    let source = match &listener {
        Some((_, url)) => format!("receiving at {url}"),
        None => format!("reading the feed of pull webhook {hook}"),
    };
    replica
        .log("run", &format!("{source}; filter: {filter_text}"))
        .await?;

    let (pass, mut cursor) = pass::choose(&replica, o, &filter_text).await?;
    let receiver = Arc::new(Receiver {
        api: api.clone(),
        replica: replica.clone(),
        keys: tokio::sync::Mutex::new((keys, None)),
        app: app.clone(),
        entity: o.entity.clone(),
        filter,
        pass: pass.into(),
        recheck: Mutex::new(Some(BTreeSet::new())),
        attachments: owner_field,
    });
    let server = match listener {
        Some((listener, _)) => {
            let router = axum::Router::new()
                .fallback(receive)
                .with_state(receiver.clone());
            tokio::spawn(async move {
                axum::serve(listener, router)
                    .with_graceful_shutdown(shutdown)
                    .await
            })
        }
        None => {
            let follow = pull::follow(receiver.clone(), app.clone(), hook.clone());
            tokio::spawn(async move {
                tokio::select! {
                    () = shutdown => {}
                    () = follow => {}
                }
                Ok(())
            })
        }
    };

    // A replica whose pass is done may have missed changes while no sync ran: catch up.
    if cursor.is_none() {
        cursor = pass::on_start(&receiver, o, &filter_text).await?;
    }
    // The pass (initial sync or reconcile), resumable page by page.
    if let Some(c) = cursor {
        pass::copy(&receiver, &filter_text, o.page_size, c, &progress).await?;
    }
    // Records notified during the initial sync: fetch them again, now that no page can follow.
    let recheck = receiver
        .recheck
        .lock()
        .expect("lock")
        .take()
        .unwrap_or_default();
    for id in recheck {
        if let Err(e) = receiver.settle(&id).await {
            replica
                .log("error", &format!("re-checking {} {id}: {e}", o.entity))
                .await?;
        }
    }
    if let Some(field) = owner_field {
        match attachments::copy(&api, &replica, (&o.entity, field), None).await {
            Ok(n) => {
                replica
                    .log("run", &format!("attachments: {n} stored with their files"))
                    .await?
            }
            Err(e) => {
                replica
                    .log("error", &format!("copying the attachments: {e}"))
                    .await?
            }
        }
    }
    replica
        .log(
            "run",
            &format!(
                "now in real time: {} changes apply as they are notified",
                o.entity
            ),
        )
        .await?;
    progress(Progress::RealTime);
    let since = replica
        .mark(&o.entity)
        .await?
        .unwrap_or_else(|| chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true));
    // A feed's notifications never fail: only pushed ones are watched for.
    let watch = tokio::spawn(pass::watch(
        receiver.clone(),
        app,
        hook,
        o.watch_every,
        since,
    ))
    .abort_handle();
    if o.pull {
        watch.abort();
    }
    let _ = server.await;
    watch.abort();
    replica.log("run", "sync stopped").await?;
    Ok(())
}

/// Prints nothing: a progress callback for quiet runs.
pub fn quiet(_: Progress) {}
