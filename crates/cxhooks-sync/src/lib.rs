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
pub mod replica;
mod setup;

pub use setup::status_type;
use setup::{SetUp, set_up};

use api::Api;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use check::Failure;
use cxhooks_condition::CompiledCondition;
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

struct Receiver {
    api: Api,
    replica: Replica,
    /// The application's keys by id, fetched again when a notification names a key they lack
    /// (a rotation), at most once a second; with when they were last fetched.
    keys: tokio::sync::Mutex<(cxhooks_consumer::KeySet, Option<std::time::Instant>)>,
    /// The application's id.
    app: String,
    entity: String,
    filter: CompiledCondition,
    /// The reconcile pass under way or last finished: records written carry it.
    pass: std::sync::atomic::AtomicI64,
    /// Records notified while the initial sync runs, fetched again when it ends.
    recheck: Mutex<Option<BTreeSet<String>>>,
    /// With `--attachments`: the attachment field that names an owner of `entity`.
    attachments: Option<&'static str>,
}

impl Receiver {
    /// Verifies a notification with the key it names (`Cx-Signature-Key-Id`), fetching the
    /// application's JWKS first when the key is unknown; without a key id, with any key.
    async fn verify(
        &self,
        kid: Option<&str>,
        body: &[u8],
        signature: &str,
    ) -> Result<cxhooks_consumer::Notification, cxhooks_consumer::VerifyError> {
        let mut keys = self.keys.lock().await;
        if let Some(kid) = kid
            && !keys.0.has(kid)
            && keys
                .1
                .is_none_or(|at| at.elapsed() >= std::time::Duration::from_secs(1))
        {
            keys.1 = Some(std::time::Instant::now());
            let path = format!("/webhooks/v1/applications/{}/jwks", self.app);
            let fetched = self.api.ok(reqwest::Method::GET, &path, None).await;
            match fetched.map(|jwks| cxhooks_consumer::KeySet::from_jwks(&jwks)) {
                Ok(Ok(set)) => {
                    keys.0 = set;
                    let _ = self
                        .replica
                        .log(
                            "run",
                            &format!("a notification named key {kid}: the application's keys fetched again"),
                        )
                        .await;
                }
                Ok(Err(e)) => {
                    let _ = self.replica.log("error", &format!("{path}: {e}")).await;
                }
                Err(e) => {
                    let _ = self.replica.log("error", &e.to_string()).await;
                }
            }
        }
        match kid {
            Some(kid) => cxhooks_consumer::Notification::parse_with(&keys.0, kid, body, signature),
            None => {
                keys.0.verify_any(body, signature)?;
                Ok(serde_json::from_slice(body)?)
            }
        }
    }

    /// Fetches a record and makes the replica agree: upsert if the filter selects it, delete if
    /// not or if it is gone.
    async fn settle(&self, id: &str) -> Result<&'static str, String> {
        let (status, record) = self
            .api
            .call(
                reqwest::Method::GET,
                &format!("/data/v1/{}/{id}", self.entity),
                None,
            )
            .await
            .map_err(|e| e.to_string())?;
        if let Some(seen) = record["modificationdate"]
            .as_str()
            .filter(|_| status == 200)
        {
            self.replica
                .advance_mark(&self.entity, seen)
                .await
                .map_err(|e| e.to_string())?;
        }
        let keep = match status {
            200 => self.filter.matches_record(&record),
            404 => false,
            other => return Err(format!("fetching {} {id} answered {other}", self.entity)),
        };
        if keep {
            let new = self.attachments.is_some()
                && !self
                    .replica
                    .has(&self.entity, id)
                    .await
                    .map_err(|e| e.to_string())?;
            self.replica
                .upsert(
                    &self.entity,
                    &[(id.to_owned(), record.to_string())],
                    self.pass.load(std::sync::atomic::Ordering::SeqCst),
                )
                .await
                .map_err(|e| e.to_string())?;
            // Newly replicated: its attachments come along.
            if let Some(field) = self.attachments.filter(|_| new) {
                attachments::copy(&self.api, &self.replica, (&self.entity, field), Some(id))
                    .await?;
            }
            Ok("upserted")
        } else {
            self.replica
                .delete(&self.entity, id)
                .await
                .map_err(|e| e.to_string())?;
            if self.attachments.is_some() {
                self.replica
                    .delete_attachments(None, Some(id))
                    .await
                    .map_err(|e| e.to_string())?;
            }
            Ok("removed")
        }
    }
}

/// An erasure's `deleted`: the record and its attachments leave the replica at once, without
/// asking the source (which has nothing left), and the file keeps nothing of them.
async fn erase(r: &Receiver, n: &cxhooks_consumer::Notification, id: &str) -> StatusCode {
    let erased = async {
        r.replica.delete(&r.entity, id).await?;
        if r.attachments.is_some() {
            r.replica.delete_attachments(None, Some(id)).await?;
        }
        r.replica.checkpoint().await
    }
    .await;
    match erased {
        Ok(()) => {
            let _ = r
                .replica
                .log(
                    "applied",
                    &format!("{} {id} erased ({})", n.entity(), n.event_type),
                )
                .await;
            StatusCode::OK
        }
        Err(e) => not_applied(r, n, &e.to_string()).await,
    }
}

/// A notification that could not be applied: its id is forgotten so that cxhooks' retry
/// applies it, and the timeline says why; cxhooks is answered 503.
async fn not_applied(r: &Receiver, n: &cxhooks_consumer::Notification, why: &str) -> StatusCode {
    let _ = r.replica.forget(&n.id).await;
    let _ = r
        .replica
        .log(
            "error",
            &format!("notification {} not applied: {why}", n.id),
        )
        .await;
    StatusCode::SERVICE_UNAVAILABLE
}

async fn receive(State(r): State<Arc<Receiver>>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let signature = headers
        .get("cx-signature")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let kid = headers
        .get("cx-signature-key-id")
        .and_then(|v| v.to_str().ok());
    let n = match r.verify(kid, &body, signature).await {
        Ok(n) => n,
        Err(e) => {
            let _ = r
                .replica
                .log("error", &format!("rejected a notification: {e}"))
                .await;
            return StatusCode::UNAUTHORIZED;
        }
    };
    let attachment = r.attachments.filter(|_| n.entity() == attachments::ENTITY);
    if n.is_ping() || (n.entity() != r.entity && attachment.is_none()) {
        return StatusCode::OK;
    }
    match r.replica.first_time(&n.id).await {
        Ok(true) => {}
        Ok(false) => {
            let _ = r
                .replica
                .log("skipped", &format!("notification {} already applied", n.id))
                .await;
            return StatusCode::OK;
        }
        Err(_) => return StatusCode::SERVICE_UNAVAILABLE,
    }
    let id = n.data.entity_id.clone();
    if n.is_erased() && attachment.is_none() {
        // A page of the initial sync read before the erasure must not bring it back.
        if let Some(set) = r.recheck.lock().expect("lock").as_mut() {
            set.insert(id.clone());
        }
        return erase(&r, &n, &id).await;
    }
    let settled = match attachment {
        Some(field) => attachments::settle(&r.api, &r.replica, (&r.entity, field), &id).await,
        None => {
            if let Some(set) = r.recheck.lock().expect("lock").as_mut() {
                set.insert(id.clone());
            }
            r.settle(&id).await
        }
    };
    match settled {
        Ok(what) => {
            let fields = n.data.changed_fields.join(", ");
            let _ = r
                .replica
                .log(
                    "applied",
                    &format!(
                        "{} {id} {what} ({}; changed: {fields})",
                        n.entity(),
                        n.event_type
                    ),
                )
                .await;
            StatusCode::OK
        }
        Err(e) => not_applied(&r, &n, &e).await,
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
        url,
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
    replica
        .log("run", &format!("receiving at {url}; filter: {filter_text}"))
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
    let router = axum::Router::new()
        .fallback(receive)
        .with_state(receiver.clone());
    let server = tokio::spawn(async move {
        axum::serve(listener, router)
            .with_graceful_shutdown(shutdown)
            .await
    });

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
    let watch = tokio::spawn(pass::watch(
        receiver.clone(),
        app,
        hook,
        o.watch_every,
        since,
    ));
    let _ = server.await;
    watch.abort();
    replica.log("run", "sync stopped").await?;
    Ok(())
}

/// Prints nothing: a progress callback for quiet runs.
pub fn quiet(_: Progress) {}
