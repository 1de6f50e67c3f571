//! The replica's own bookkeeping: the notification ids it applied (duplicates are skipped)
//! and the timeline of what it did.

use super::{Pool, Replica, ReplicaError};

/// One timeline entry.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, sqlx::FromRow)]
pub struct Entry {
    /// When, RFC 3339.
    pub at: String,
    /// `run`, `initial`, `applied`, `skipped` or `error`.
    pub kind: String,
    /// What happened.
    pub message: String,
}

impl Replica {
    /// Records a notification id; false if it was already there (a duplicate).
    pub async fn first_time(&self, id: &str) -> Result<bool, ReplicaError> {
        let n = on_pool!(self, |pool| sqlx::query(
            "INSERT INTO replica_seen (id) VALUES ($1) ON CONFLICT (id) DO NOTHING"
        )
        .bind(id)
        .execute(pool)
        .await
        .map(|r| r.rows_affected()))?;
        Ok(n == 1)
    }

    /// Forgets a notification id (its application failed: let the retry apply it).
    pub async fn forget(&self, id: &str) -> Result<(), ReplicaError> {
        on_pool!(self, |pool| sqlx::query(
            "DELETE FROM replica_seen WHERE id = $1"
        )
        .bind(id)
        .execute(pool)
        .await
        .map(|_| ()))?;
        Ok(())
    }

    /// Appends to the timeline.
    pub async fn log(&self, kind: &str, message: &str) -> Result<(), ReplicaError> {
        let now = chrono::Utc::now();
        on_pool!(self, |pool| sqlx::query(
            "INSERT INTO replica_timeline (n, at, kind, message) VALUES ($1, $2, $3, $4)"
        )
        .bind(now.timestamp_micros())
        .bind(now.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
        .bind(kind)
        .bind(message)
        .execute(pool)
        .await
        .map(|_| ()))?;
        Ok(())
    }

    /// The timeline, newest first.
    pub async fn timeline(&self, limit: i64) -> Result<Vec<Entry>, ReplicaError> {
        Ok(on_pool!(self, |pool| sqlx::query_as(
            "SELECT at, kind, message FROM replica_timeline ORDER BY n DESC LIMIT $1"
        )
        .bind(limit)
        .fetch_all(pool)
        .await)?)
    }
}
