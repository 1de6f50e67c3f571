//! Bulk recovery, as Svix's "recover": every failed delivery of one webhook created since a
//! time (and before another) delivered again, oldest first, at `delivery.recover_per_s`. The
//! node that accepts the request runs it and writes its progress to the store after every
//! second of work, so any node can show it.

use super::access::{Caller, Verb};
use super::deliveries::time_param;
use super::input::Problems;
use super::{not_found, parse_id, rfc3339, webhooks};
use crate::error::ApiError;
use crate::state::AppState;
use axum::http::StatusCode;
use cxhooks_store::{
    Application, ApplicationId, DeliveryId, RecoveryRecord, TenantName, Webhook, WebhookStatus,
    from_micros,
};
use serde::Serialize;
use serde_json::Value;
use std::time::{Duration, Instant};
use utoipa::ToSchema;

/// At most this many deliveries per recovery; a second recovery takes the rest.
pub const MAX_DELIVERIES: u32 = 100_000;

/// A running recovery whose node wrote nothing for this long is taken as interrupted.
const STALE_US: i64 = 60_000_000;

/// What to recover.
#[derive(Debug, ToSchema)]
#[schema(as = RecoverIn)]
#[allow(dead_code)]
pub struct RecoverDoc {
    /// Failed deliveries created at or after this time (RFC 3339) are delivered again.
    since: String,
    /// …and before this one (RFC 3339); default: now.
    until: Option<String>,
}

/// A bulk recovery and its progress.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = Recovery)]
pub struct RecoveryOut {
    /// `Recovery`.
    #[serde(rename = "_kind")]
    #[schema(pattern = "^Recovery$")]
    pub kind: &'static str,
    /// Its id.
    #[serde(rename = "_id")]
    pub id: String,
    /// The application.
    pub application_id: String,
    /// The webhook whose failed deliveries it delivers again.
    pub webhook_id: String,
    /// Deliveries created at or after this time…
    pub since: String,
    /// …and before this one.
    pub until: String,
    /// `running`, `done`, `failed` (see `error`) or `interrupted` (its node stopped; start
    /// another: what this one redelivered is no longer failed).
    pub status: String,
    /// Failed deliveries found when it started (at most 100,000).
    pub total: i64,
    /// Of those, handled so far.
    pub processed: i64,
    /// Of those, delivered again (the others were no longer failed: redelivered meanwhile).
    pub redelivered: i64,
    /// Why it failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// When it started.
    #[serde(rename = "_createdAt")]
    pub created_at: String,
    /// The client that started it.
    #[serde(rename = "_createdBy")]
    pub created_by: String,
    /// When it ended.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<String>,
}

/// The recovery as the API shows it, a stale `running` read as `interrupted`.
pub fn view(r: &RecoveryRecord, now_us: i64) -> RecoveryOut {
    let status = if r.status == "running" && r.heartbeat_at < now_us - STALE_US {
        "interrupted".to_owned()
    } else {
        r.status.clone()
    };
    RecoveryOut {
        kind: "Recovery",
        id: r.id.clone(),
        application_id: r.application_id.clone(),
        webhook_id: r.webhook_id.clone(),
        since: rfc3339(from_micros(r.since_us)),
        until: rfc3339(from_micros(r.until_us)),
        status,
        total: r.total,
        processed: r.processed,
        redelivered: r.redelivered,
        error: r.error.clone(),
        created_at: rfc3339(from_micros(r.created_at)),
        created_by: r.created_by.clone(),
        finished_at: r.finished_at.map(|t| rfc3339(from_micros(t))),
    }
}

/// The webhook a recovery is about, which the caller may update.
async fn webhook(
    state: &AppState,
    caller: &Caller,
    app_id: &str,
    webhook_id: &str,
) -> Result<(Application, Webhook), ApiError> {
    let app = webhooks::application(state, caller, app_id).await?;
    caller.may(Verb::Read, "application", &app.audit.created_by)?;
    let id = parse_id(webhook_id).ok_or_else(|| not_found("webhook", webhook_id))?;
    let hook = state
        .store
        .webhook(&app.tenant, app.id, id)
        .await?
        .ok_or_else(|| not_found("webhook", webhook_id))?;
    Ok((app, hook))
}

/// Starts a recovery of webhook `webhook_id`'s failed deliveries described by `body`
/// (`{since, until}`), and answers with it.
pub async fn start(
    state: &AppState,
    caller: &Caller,
    app_id: &str,
    webhook_id: &str,
    body: &Value,
) -> Result<RecoveryOut, ApiError> {
    let (app, hook) = webhook(state, caller, app_id, webhook_id).await?;
    caller.may(Verb::Update, "webhook", &hook.audit.created_by)?;
    let now = state.clock.now_us();
    let (since, until) = range(body, now)?;
    if hook.status != WebhookStatus::Enabled {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "webhook-not-enabled",
            "Webhook not enabled",
            format!(
                "the webhook is {}: enable it first, then recover its failed deliveries",
                hook.status.as_str()
            ),
        ));
    }
    let running = |detail: String| {
        ApiError::new(
            StatusCode::CONFLICT,
            "recovery-running",
            "A recovery is running",
            detail,
        )
    };
    if let Some(mut latest) = state
        .store
        .recoveries(&app.tenant, hook.id, 1)
        .await?
        .pop()
        .filter(|r| r.status == "running")
    {
        let shown = view(&latest, now);
        if shown.status == "running" {
            return Err(running(format!(
                "recovery {} of this webhook is still running ({} of {} handled): wait for it, \
                 or follow it at …/recoveries/{}",
                shown.id, shown.processed, shown.total, shown.id
            )));
        }
        // Its node stopped: recorded as interrupted, so that this one may run.
        latest.status = "interrupted".into();
        state.store.recovery_progress(&latest).await?;
    }
    let ids = state
        .store
        .failed_deliveries(&app.tenant, app.id, hook.id, (since, until), MAX_DELIVERIES)
        .await?;
    let record = RecoveryRecord {
        id: uuid::Uuid::now_v7().to_string(),
        tenant: app.tenant.as_str().to_owned(),
        application_id: app.id.to_string(),
        webhook_id: hook.id.to_string(),
        since_us: since,
        until_us: until,
        status: if ids.is_empty() { "done" } else { "running" }.into(),
        total: ids.len() as i64,
        processed: 0,
        redelivered: 0,
        error: None,
        created_by: caller.client.client_id.clone(),
        created_at: now,
        heartbeat_at: now,
        finished_at: ids.is_empty().then_some(now),
    };
    match state.store.insert_recovery(&record).await {
        Ok(()) => {}
        // Another node started one at the same moment.
        Err(cxhooks_store::StoreError::Conflict(_)) => {
            return Err(running(
                "a recovery of this webhook started at the same moment is running: follow it at …/recoveries".into(),
            ));
        }
        Err(e) => return Err(e.into()),
    }
    let out = view(&record, now);
    if !ids.is_empty() {
        tokio::spawn(run(
            state.clone(),
            record,
            (app.tenant.clone(), app.id),
            ids,
        ));
    }
    Ok(out)
}

/// `since` and `until` of a recovery body, in µs.
fn range(body: &Value, now: i64) -> Result<(i64, i64), ApiError> {
    let mut p = Problems::default();
    let map = p.object(body, "", "recovery", &["since", "until"]);
    let read = |p: &mut Problems, key: &str, required: bool| {
        let text = map.and_then(|m| p.string(m, "", key, required))?;
        match time_param(&format!("/{key}"), Some(text)) {
            Ok(t) => t,
            Err(_) => {
                p.add(
                    format!("/{key}"),
                    format!("'{text}' is not an RFC 3339 time like 2026-11-23T10:00:00Z"),
                );
                None
            }
        }
    };
    let since = read(&mut p, "since", true);
    let until = read(&mut p, "until", false);
    if let Some(s) = since {
        if s > now {
            p.add(
                "/since",
                "'since' is in the future: nothing has failed there yet",
            );
        }
        if until.is_some_and(|u| u <= s) {
            p.add("/until", "'until' must be after 'since'");
        }
    }
    p.finish("recovery")?;
    Ok((since.unwrap_or(now), until.unwrap_or(now + 1)))
}

/// Delivers `ids` again in batches at `delivery.recover_per_s`, writing progress at least once
/// a second. A store error is retried for a while (nothing is cancelled on a guess), then ends
/// the recovery as `failed`; the deliveries not reached stay failed and can be recovered again.
async fn run(
    state: AppState,
    mut rec: RecoveryRecord,
    (tenant, app): (TenantName, ApplicationId),
    ids: Vec<DeliveryId>,
) {
    let rate = state.config.delivery.recover_per_s.max(1) as usize;
    // A tenth of a second's worth per statement, at most 500 ids (SQLite binds each one).
    let batch = (rate / 10).clamp(1, 500);
    let mut tick = tokio::time::interval(Duration::from_secs_f64(batch as f64 / rate as f64));
    let mut written = Instant::now();
    'batches: for chunk in ids.chunks(batch) {
        tick.tick().await;
        let mut tries = 0;
        loop {
            match state
                .store
                .redeliver_failed(&tenant, app, chunk, state.clock.now_us())
                .await
            {
                Ok(n) => {
                    rec.redelivered += n as i64;
                    rec.processed += chunk.len() as i64;
                    if n > 0 {
                        state.delivery.wake.notify_one();
                    }
                    break;
                }
                Err(e) if tries < 10 => {
                    tries += 1;
                    tracing::warn!(recovery = %rec.id, error = %e, "recovery: redelivery failed, trying again");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
                Err(e) => {
                    tracing::error!(recovery = %rec.id, error = %e, "recovery stopped");
                    rec.status = "failed".into();
                    rec.error = Some(
                        "the store refused the redeliveries for 10 seconds; what was not reached \
                         is still failed: start another recovery"
                            .into(),
                    );
                    break 'batches;
                }
            }
        }
        if written.elapsed() >= Duration::from_secs(1) {
            rec.heartbeat_at = state.clock.now_us();
            if let Err(e) = state.store.recovery_progress(&rec).await {
                tracing::warn!(recovery = %rec.id, error = %e, "recovery: progress not written");
            }
            written = Instant::now();
        }
    }
    if rec.status == "running" {
        rec.status = "done".into();
    }
    let now = state.clock.now_us();
    rec.heartbeat_at = now;
    rec.finished_at = Some(now);
    // The end must be recorded, or the recovery would read as interrupted: retry until it is.
    let mut wait = Duration::from_millis(100);
    while let Err(e) = state.store.recovery_progress(&rec).await {
        tracing::warn!(recovery = %rec.id, error = %e, "recovery: its end not written yet");
        tokio::time::sleep(wait).await;
        wait = (wait * 2).min(Duration::from_secs(10));
    }
}

/// The recoveries of a webhook, newest first (at most 20).
pub async fn list(
    state: &AppState,
    caller: &Caller,
    app_id: &str,
    webhook_id: &str,
) -> Result<Vec<RecoveryOut>, ApiError> {
    let (app, hook) = webhook(state, caller, app_id, webhook_id).await?;
    let now = state.clock.now_us();
    Ok(state
        .store
        .recoveries(&app.tenant, hook.id, 20)
        .await?
        .iter()
        .map(|r| view(r, now))
        .collect())
}

/// One recovery of a webhook.
pub async fn get(
    state: &AppState,
    caller: &Caller,
    app_id: &str,
    webhook_id: &str,
    recovery_id: &str,
) -> Result<RecoveryOut, ApiError> {
    let (app, hook) = webhook(state, caller, app_id, webhook_id).await?;
    let record = state
        .store
        .recovery(&app.tenant, hook.id, recovery_id)
        .await?
        .ok_or_else(|| not_found("recovery", recovery_id))?;
    Ok(view(&record, state.clock.now_us()))
}
