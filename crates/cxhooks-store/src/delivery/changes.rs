//! Reading stored changes back, newest first, with what they kept of their publish (their
//! [`ChangeBody`]): for backtests of a filter, a page at a time.

use super::ChangeBody;
use super::purge::first_id_at;
use crate::ChangeId;
use crate::id::Id;
use crate::model::TenantName;
use crate::{Store, StoreError, on_pool};

/// Which stored changes to read: those accepted in `[since, until)` (µs), older than the
/// change `before` (the last one of the previous page), at most `limit`.
#[derive(Debug, Clone, Copy)]
pub struct ChangePage {
    /// Accepted at or after (µs).
    pub since: i64,
    /// Accepted before (µs).
    pub until: i64,
    /// Only changes older than this one (by id: ids are time-ordered).
    pub before: Option<ChangeId>,
    /// At most this many.
    pub limit: u32,
}

/// A stored change with its body.
#[derive(Debug, Clone)]
pub struct StoredChange {
    /// Its id.
    pub id: ChangeId,
    /// `{entity}:{action}`.
    pub event_type: String,
    /// The record's id.
    pub entity_id: String,
    /// Acceptance time, µs.
    pub accepted_at: i64,
    /// Its data and metadata.
    pub body: ChangeBody,
}

#[derive(sqlx::FromRow)]
struct Row {
    #[sqlx(try_from = "crate::id::IdText")]
    id: String,
    r#type: String,
    entity_id: String,
    accepted_at: i64,
    body: Vec<u8>,
}

impl Store {
    /// The changes of `tenant` that kept their body (every change stored since the body was
    /// kept, until `retention.changes` purges it), newest first.
    pub async fn stored_changes(
        &self,
        tenant: &TenantName,
        page: ChangePage,
    ) -> Result<Vec<StoredChange>, StoreError> {
        // Ids are time-ordered (version 7): the time range is a range of the primary key. An id
        // is made after its change's acceptance time (a large batch is matched first), so the
        // key's upper bound leaves a minute; `accepted_at` bounds exactly.
        let mut upper = first_id_at(page.until.saturating_add(60_000_000));
        if let Some(before) = page.before {
            upper = upper.min(before.uuid());
        }
        let rows: Vec<Row> = on_pool!(self, |pool| sqlx::query_as(
            "SELECT id, type, entity_id, accepted_at, body FROM changes \
             WHERE tenant = $1 AND id >= $2 AND id < $3 AND accepted_at >= $4 AND accepted_at < $5 \
             AND length(body) > 0 ORDER BY id DESC LIMIT $6"
        )
        .bind(tenant.as_str())
        .bind(Id::from(first_id_at(page.since)))
        .bind(Id::from(upper))
        .bind(page.since)
        .bind(page.until)
        .bind(i64::from(page.limit))
        .fetch_all(pool)
        .await)?;
        // A body that does not read (damaged, or larger than `pack` unpacks) is left out, with
        // a warning, rather than failing every page that holds it.
        Ok(rows
            .into_iter()
            .filter_map(|row| {
                let id = uuid::Uuid::parse_str(&row.id).ok()?;
                let body = crate::pack::unpack(row.body)
                    .and_then(|json| Ok(serde_json::from_slice(&json)?))
                    .map_err(|e| tracing::warn!(change = %id, error = %e, "a stored change's body does not read; left out"))
                    .ok()?;
                Some(StoredChange {
                    id: id.into(),
                    event_type: row.r#type,
                    entity_id: row.entity_id,
                    accepted_at: row.accepted_at,
                    body,
                })
            })
            .collect())
    }
}
