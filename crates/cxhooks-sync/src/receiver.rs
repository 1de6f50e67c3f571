//! The receiver: a notification verified with the application's keys (fetched again for a key
//! id it lacks), then applied to the replica: the record fetched and kept or removed as the
//! filter says, or an erasure's record removed at once. Notifications come over HTTP
//! ([`receive`]) or from a pull webhook's feed (`pull`); both go through [`apply`].

use crate::{api::Api, attachments, replica::Replica};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use cxhooks_condition::CompiledCondition;
use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

pub(crate) struct Receiver {
    pub(crate) api: Api,
    pub(crate) replica: Replica,
    /// The application's keys by id, fetched again when a notification names a key they lack
    /// (a rotation), at most once a second; with when they were last fetched.
    pub(crate) keys: tokio::sync::Mutex<(cxhooks_consumer::KeySet, Option<std::time::Instant>)>,
    /// The application's id.
    pub(crate) app: String,
    pub(crate) entity: String,
    pub(crate) filter: CompiledCondition,
    /// The reconcile pass under way or last finished: records written carry it.
    pub(crate) pass: std::sync::atomic::AtomicI64,
    /// Records notified while the initial sync runs, fetched again when it ends.
    pub(crate) recheck: Mutex<Option<BTreeSet<String>>>,
    /// With `--attachments`: the attachment field that names an owner of `entity`.
    pub(crate) attachments: Option<&'static str>,
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
    pub(crate) async fn settle(&self, id: &str) -> Result<&'static str, String> {
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

/// The HTTP receiver: a pushed notification, answered with [`apply`]'s status.
pub(crate) async fn receive(
    State(r): State<Arc<Receiver>>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let signature = header("cx-signature").unwrap_or("");
    apply(&r, header("cx-signature-key-id"), signature, &body).await
}

/// Verifies and applies one notification: 200 applied (or nothing to do), 401 refused (a bad
/// signature), 503 not applied now (its id forgotten, so that it is applied when it comes again).
pub(crate) async fn apply(
    r: &Receiver,
    kid: Option<&str>,
    signature: &str,
    body: &[u8],
) -> StatusCode {
    let n = match r.verify(kid, body, signature).await {
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
        return erase(r, &n, &id).await;
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
        Err(e) => not_applied(r, &n, &e).await,
    }
}
