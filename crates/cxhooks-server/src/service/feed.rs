//! A pull webhook's feed: its held deliveries after a cursor, in order, each with the body and
//! the headers it would have been sent with (signed now, with the application's current key),
//! long-polling up to `wait` seconds when there is nothing yet.

use super::webhooks;
use crate::error::ApiError;
use crate::service::access::{Caller, Verb};
use crate::state::AppState;
use axum::http::StatusCode;
use cxhooks_store::{FeedEntry, FeedRead, Webhook};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::time::Duration;
use utoipa::{IntoParams, ToSchema};

/// Longest long poll, seconds.
pub const MAX_WAIT: u64 = 60;
/// Most entries per answer.
pub const MAX_LIMIT: u32 = 1000;
const DEFAULT_LIMIT: u32 = 100;
/// How often a long poll looks at the store besides this node's own commits: another node's
/// commits (PostgreSQL) reach it within this.
const POLL: Duration = Duration::from_millis(500);

/// The feed's query.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct FeedQuery {
    /// The last `seq` read (the answer's `cursor`); entries after it are answered. Absent: from
    /// the oldest entry kept. `0`: from the first entry ever (410 if retention removed it).
    #[param(value_type = Option<u64>, example = 0)]
    pub cursor: Option<String>,
    /// Seconds to wait for an entry when there is none after `cursor` yet, 0 to 60 (default 0).
    #[param(value_type = Option<u64>, maximum = 60, example = 30)]
    pub wait: Option<String>,
    /// Entries per answer at most, 1 to 1000 (default 100).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 1000)]
    pub limit: Option<String>,
}

/// One notification of the feed.
#[derive(Debug, Serialize, ToSchema)]
pub struct FeedItem {
    /// Its number: send it back as `cursor` once it is handled.
    pub seq: i64,
    /// The notification id (`id` of the payload).
    pub id: uuid::Uuid,
    /// Event type.
    #[serde(rename = "eventType")]
    pub event_type: String,
    /// The change it notifies; null for a ping.
    #[serde(rename = "changeId")]
    #[schema(required = true)]
    pub change_id: Option<uuid::Uuid>,
    /// When it was accepted.
    #[serde(rename = "createdAt")]
    pub created_at: String,
    /// The exact body a push webhook would have been sent: the bytes `cx-signature` signs.
    pub payload: String,
    /// The headers it would have been sent with, by lower-case name: `cx-signature`,
    /// `cx-signature-key-id`, `cx-payload-schema-version`, and Standard Webhooks' `webhook-*`
    /// under `cx+standard`.
    #[schema(value_type = Object)]
    pub headers: BTreeMap<&'static str, String>,
    /// The record it was about was erased: `payload` is its tombstone.
    pub erased: bool,
}

/// A page of the feed.
#[derive(Debug, Serialize, ToSchema)]
pub struct Feed {
    /// The entries after the cursor, in order.
    pub data: Vec<FeedItem>,
    /// The cursor to send next: the last `seq` answered (the cursor sent when none).
    pub cursor: i64,
    /// The feed's last number now: more entries wait when it is above `cursor`.
    #[serde(rename = "lastSeq")]
    pub last_seq: i64,
}

/// The query, checked.
struct Checked {
    cursor: Option<i64>,
    wait: Duration,
    limit: u32,
}

fn bad(field: &str, detail: String) -> ApiError {
    super::list::bad(&format!("?{field}"), detail)
}

fn number(field: &str, text: Option<&str>, max: u64, what: &str) -> Result<Option<u64>, ApiError> {
    let Some(text) = text else {
        return Ok(None);
    };
    match text.parse::<u64>() {
        Ok(n) if n <= max => Ok(Some(n)),
        _ => Err(bad(
            field,
            format!("'{field}' must be {what}, 0 to {max}, not '{text}'"),
        )),
    }
}

impl FeedQuery {
    fn check(&self) -> Result<Checked, ApiError> {
        let cursor = number(
            "cursor",
            self.cursor.as_deref(),
            i64::MAX as u64,
            "a number the feed answered (`cursor` or an entry's `seq`)",
        )?;
        let wait = number("wait", self.wait.as_deref(), MAX_WAIT, "whole seconds")?;
        let limit = number(
            "limit",
            self.limit.as_deref(),
            u64::from(MAX_LIMIT),
            "a number of entries",
        )?;
        if limit == Some(0) {
            return Err(bad(
                "limit",
                format!("'limit' must be 1 to {MAX_LIMIT}, not 0"),
            ));
        }
        Ok(Checked {
            cursor: cursor.map(|c| c as i64),
            wait: Duration::from_secs(wait.unwrap_or(0)),
            limit: limit.map_or(DEFAULT_LIMIT, |l| l as u32),
        })
    }
}

/// The webhook at `(app_id, id)` if the caller may read it and it is a pull webhook.
pub async fn pull_webhook(
    state: &AppState,
    caller: &Caller,
    ids: (&str, &str),
) -> Result<Webhook, ApiError> {
    let (app, hook) = webhooks::load_for(state, caller, ids, Verb::Read).await?;
    caller.may(Verb::Read, "application", &app.audit.created_by)?;
    if !hook.is_pull() {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "not-a-pull-webhook",
            "Not a pull webhook",
            format!(
                "webhook {} pushes its deliveries to its url: it has no feed (its deliveries are \
                 in the request log, `…/events?webhookId={}`); a pull webhook is one created \
                 without a url",
                hook.id, hook.id
            ),
        ));
    }
    Ok(hook)
}

fn gone(cursor: i64, oldest: Option<i64>, state: &AppState) -> ApiError {
    let kept = match oldest {
        Some(o) => format!(
            "the next entry kept is {o}: read on from cursor {} (or leave `cursor` out to start at \
             the oldest entry kept)",
            o - 1
        ),
        None => "no entry after it is kept: leave `cursor` out to read from now on".to_owned(),
    };
    ApiError::new(
        StatusCode::GONE,
        "cursor-expired",
        "Cursor too old",
        format!(
            "the entries after cursor {cursor} are past their retention (retention.delivered, {}) \
             and were removed; {kept}. What they notified was missed: reconcile (cxhooks sync \
             --reconcile) to catch up",
            humantime::format_duration(state.config.retention.delivered)
        ),
    )
    .with("oldest", json!(oldest))
}

/// Reads `hook`'s feed after the query's cursor, waiting up to its `wait` for an entry.
pub async fn read(state: &AppState, hook: &Webhook, query: &FeedQuery) -> Result<Feed, ApiError> {
    let q = query.check()?;
    let mut held = state.delivery.held.subscribe();
    let deadline = tokio::time::Instant::now() + q.wait;
    let (cursor, entries, last) = loop {
        held.borrow_and_update();
        let last = state.store.number_feed(&hook.tenant, hook.id).await?;
        let cursor = match q.cursor {
            Some(c) if c > last => {
                return Err(bad(
                    "cursor",
                    format!(
                        "cursor {c} is past the feed's last entry ({last}): send back a cursor \
                         this feed answered"
                    ),
                ));
            }
            Some(c) => c,
            None => match state
                .store
                .read_feed(&hook.tenant, hook.id, (0, last), 1)
                .await?
            {
                FeedRead::Gone { oldest: Some(o) } => o - 1,
                FeedRead::Gone { oldest: None } => last,
                FeedRead::Entries(_) => 0,
            },
        };
        match state
            .store
            .read_feed(&hook.tenant, hook.id, (cursor, last), q.limit)
            .await?
        {
            FeedRead::Gone { oldest } => return Err(gone(cursor, oldest, state)),
            FeedRead::Entries(entries)
                if !entries.is_empty() || tokio::time::Instant::now() >= deadline =>
            {
                break (cursor, entries, last);
            }
            FeedRead::Entries(_) => {
                let nap = POLL.min(deadline - tokio::time::Instant::now());
                tokio::select! {
                    _ = held.changed() => {}
                    () = tokio::time::sleep(nap) => {}
                }
            }
        }
    };
    if q.cursor.is_some() {
        state
            .store
            .feed_read_to(hook.id, cursor, state.clock.now_us())
            .await?;
    }
    let next = entries.last().map_or(cursor, |e| e.seq);
    let data = sign(state, hook, entries).await?;
    Ok(Feed {
        data,
        cursor: next,
        last_seq: last.max(next),
    })
}

/// The entries with the headers they would have been sent with, signed off the async workers.
async fn sign(
    state: &AppState,
    hook: &Webhook,
    entries: Vec<FeedEntry>,
) -> Result<Vec<FeedItem>, ApiError> {
    if entries.is_empty() {
        return Ok(Vec::new());
    }
    let keys = state
        .delivery
        .registry
        .key(
            &state.store,
            &state.master,
            &hook.tenant,
            hook.application_id,
        )
        .await
        .map_err(|e| {
            ApiError::unavailable(&format!(
                "the signing key of webhook {}'s feed: {e}",
                hook.id
            ))
        })?
        .ok_or_else(|| super::not_found("application", &hook.application_id.to_string()))?;
    let now = state.clock.now_us();
    let signed = tokio::task::spawn_blocking(move || {
        entries
            .into_iter()
            .map(|e| {
                let signature = keys
                    .rsa
                    .sign_base64(&e.payload)
                    .map_err(|err| err.to_string())?;
                let mut headers = BTreeMap::new();
                headers.insert("cx-signature", signature);
                headers.insert(
                    "cx-signature-key-id",
                    keys.kid.to_str().unwrap_or_default().to_owned(),
                );
                headers.insert("cx-payload-schema-version", "1".to_owned());
                if let Some(key) = &keys.standard {
                    let id = e.id.to_string();
                    let timestamp = now.div_euclid(1_000_000);
                    headers.insert("webhook-signature", key.sign(&id, timestamp, &e.payload));
                    headers.insert("webhook-timestamp", timestamp.to_string());
                    headers.insert("webhook-id", id);
                }
                let payload = String::from_utf8_lossy(&e.payload).into_owned();
                let erased = serde_json::from_str::<Value>(&payload)
                    .is_ok_and(|p| p.get("erased") == Some(&Value::Bool(true)));
                Ok(FeedItem {
                    seq: e.seq,
                    id: e.id.uuid(),
                    event_type: e.event_type,
                    change_id: e.change_id.map(|c| c.uuid()),
                    created_at: chrono::DateTime::from_timestamp_micros(e.created_at)
                        .map(super::rfc3339)
                        .unwrap_or_default(),
                    payload,
                    headers,
                    erased,
                })
            })
            .collect::<Result<Vec<_>, String>>()
    })
    .await
    .map_err(|e| ApiError::internal(format!("signing a feed page: {e}")))?;
    signed.map_err(|e| ApiError::internal(format!("signing a feed entry: {e}")))
}
