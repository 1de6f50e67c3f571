//! The console's operators and sign-in sessions, and the request-log chart.

use crate::error::conflict;
use crate::model::*;
use crate::{ApplicationId, Store, StoreError, on_pool};

/// A person who signs in to the console of one tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Operator {
    /// The tenant the operator manages.
    pub tenant: TenantName,
    /// Sign-in name (an e-mail address, lower-cased).
    pub email: String,
    /// Argon2id hash in PHC string format.
    pub password_hash: String,
    /// When it was created, µs.
    pub created_at: i64,
}

/// A signed-in console session, found by the keyed hash of its id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsoleSession {
    /// The tenant.
    pub tenant: TenantName,
    /// The operator.
    pub email: String,
    /// When it stops being accepted, µs.
    pub expires_at: i64,
    /// Whether the tenant's webhooks feature is on (read with the session; ignored when a
    /// session is created).
    pub webhooks_enabled: bool,
}

/// One hour of the request-log chart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HourCount {
    /// Hours since the Unix epoch.
    pub hour: i64,
    /// Attempts made in that hour.
    pub attempts: i64,
    /// Of those, attempts that did not get a 2xx answer.
    pub failed: i64,
}

/// How one webhook's attempts went over the last day and hour (the webhooks list's health).
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct WebhookHealth {
    /// The webhook (as text).
    #[sqlx(try_from = "crate::id::IdText")]
    pub webhook_id: String,
    /// Attempts over the last day…
    pub day_attempts: i64,
    /// …of which got a 2xx answer.
    pub day_ok: i64,
    /// Attempts over the last hour…
    pub hour_attempts: i64,
    /// …of which got a 2xx answer.
    pub hour_ok: i64,
    /// The latest attempt, µs.
    pub last_at: i64,
    /// Its HTTP status; 0 when no answer came.
    pub last_status: i64,
}

#[derive(sqlx::FromRow)]
struct OperatorRow {
    tenant: String,
    email: String,
    password_hash: String,
    created_at: i64,
}

impl Store {
    /// Creates an operator; a conflict if the tenant already has one with this e-mail.
    pub async fn create_operator(&self, op: &Operator) -> Result<(), StoreError> {
        on_pool!(self, |pool| sqlx::query(
            "INSERT INTO operators (tenant, email, password_hash, created_at) VALUES ($1, $2, $3, $4)"
        )
        .bind(op.tenant.as_str())
        .bind(&op.email)
        .bind(&op.password_hash)
        .bind(op.created_at)
        .execute(pool)
        .await
        .map(|_| ()))
        .map_err(conflict(format!("operator '{}'", op.email)))
    }

    /// Replaces an operator's password hash and ends its sessions; false if there is no such
    /// operator.
    pub async fn set_operator_password(
        &self,
        tenant: &TenantName,
        email: &str,
        password_hash: &str,
    ) -> Result<bool, StoreError> {
        on_pool!(self, |pool| {
            let mut tx = crate::BeginWrite::begin_write(pool).await?;
            let n = sqlx::query(
                "UPDATE operators SET password_hash = $3 WHERE tenant = $1 AND email = $2",
            )
            .bind(tenant.as_str())
            .bind(email)
            .bind(password_hash)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            sqlx::query("DELETE FROM console_sessions WHERE tenant = $1 AND email = $2")
                .bind(tenant.as_str())
                .bind(email)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(n == 1)
        })
    }

    /// One operator of a tenant.
    pub async fn operator(
        &self,
        tenant: &TenantName,
        email: &str,
    ) -> Result<Option<Operator>, StoreError> {
        let row: Option<OperatorRow> = on_pool!(self, |pool| {
            sqlx::query_as(
            "SELECT tenant, email, password_hash, created_at FROM operators WHERE tenant = $1 AND email = $2"
        )
        .bind(tenant.as_str())
        .bind(email)
        .fetch_optional(pool)
        .await
        })?;
        row.map(|r| {
            Ok(Operator {
                tenant: TenantName::parse(&r.tenant)?,
                email: r.email,
                password_hash: r.password_hash,
                created_at: r.created_at,
            })
        })
        .transpose()
    }

    /// The operators of a tenant, by e-mail.
    pub async fn operators(&self, tenant: &TenantName) -> Result<Vec<String>, StoreError> {
        on_pool!(self, |pool| sqlx::query_scalar(
            "SELECT email FROM operators WHERE tenant = $1 ORDER BY email"
        )
        .bind(tenant.as_str())
        .fetch_all(pool)
        .await)
        .map_err(StoreError::from)
    }

    /// Deletes an operator and its sessions; false if there was none.
    pub async fn delete_operator(
        &self,
        tenant: &TenantName,
        email: &str,
    ) -> Result<bool, StoreError> {
        let n = on_pool!(self, |pool| sqlx::query(
            "DELETE FROM operators WHERE tenant = $1 AND email = $2"
        )
        .bind(tenant.as_str())
        .bind(email)
        .execute(pool)
        .await
        .map(|r| r.rows_affected()))?;
        Ok(n == 1)
    }

    /// Records a new session (also dropping sessions that have expired).
    pub async fn create_console_session(
        &self,
        id_hash: &[u8],
        session: &ConsoleSession,
        now: i64,
    ) -> Result<(), StoreError> {
        on_pool!(self, |pool| {
            let mut tx = crate::BeginWrite::begin_write(pool).await?;
            sqlx::query("DELETE FROM console_sessions WHERE expires_at <= $1")
                .bind(now)
                .execute(&mut *tx)
                .await?;
            sqlx::query(
                "INSERT INTO console_sessions (id_hash, tenant, email, created_at, expires_at) \
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(id_hash)
            .bind(session.tenant.as_str())
            .bind(&session.email)
            .bind(now)
            .bind(session.expires_at)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok(())
        })
    }

    /// The session with this id hash, if it has not expired.
    pub async fn console_session(
        &self,
        id_hash: &[u8],
        now: i64,
    ) -> Result<Option<ConsoleSession>, StoreError> {
        let row: Option<(String, String, i64, bool)> = on_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT s.tenant, s.email, s.expires_at, t.webhooks_enabled FROM console_sessions s \
                 JOIN tenants t ON t.name = s.tenant WHERE s.id_hash = $1 AND s.expires_at > $2",
            )
        .bind(id_hash)
        .bind(now)
        .fetch_optional(pool)
        .await
        })?;
        row.map(|(tenant, email, expires_at, webhooks_enabled)| {
            Ok(ConsoleSession {
                tenant: TenantName::parse(&tenant)?,
                email,
                expires_at,
                webhooks_enabled,
            })
        })
        .transpose()
    }

    /// Ends a session.
    pub async fn delete_console_session(&self, id_hash: &[u8]) -> Result<(), StoreError> {
        on_pool!(self, |pool| sqlx::query(
            "DELETE FROM console_sessions WHERE id_hash = $1"
        )
        .bind(id_hash)
        .execute(pool)
        .await
        .map(|_| ()))
        .map_err(StoreError::from)
    }

    /// Attempts per hour made for an application's deliveries since `since` (µs), oldest
    /// first; hours without attempts are absent.
    pub async fn attempts_per_hour(
        &self,
        tenant: &TenantName,
        app_id: ApplicationId,
        since: i64,
    ) -> Result<Vec<HourCount>, StoreError> {
        let rows: Vec<(i64, i64, i64)> = on_pool!(self, |pool| {
            sqlx::query_as(
            // Earlier attempts are rows of `attempts`, each delivery's latest is in its row.
            "SELECT a.at / 3600000000 AS hour, COUNT(*) AS attempts, \
             SUM(CASE WHEN a.status_code >= 200 AND a.status_code < 300 THEN 0 ELSE 1 END) AS failed \
             FROM (SELECT e.at, e.status_code FROM attempts e JOIN all_deliveries d ON d.id = e.delivery_id \
             WHERE d.tenant = $1 AND d.application_id = $2 AND e.at >= $3 \
             UNION ALL SELECT attempt_at, attempt_status_code FROM all_deliveries \
             WHERE tenant = $1 AND application_id = $2 AND attempt_at >= $3) a \
             GROUP BY a.at / 3600000000 ORDER BY hour"
        )
        .bind(tenant.as_str())
        .bind(crate::id::Id::from(app_id))
        .bind(since)
        .fetch_all(pool)
        .await
        })?;
        Ok(rows
            .into_iter()
            .map(|(hour, attempts, failed)| HourCount {
                hour,
                attempts,
                failed,
            })
            .collect())
    }

    /// Per webhook of an application with attempts since `day` (µs): attempts and 2xx answers
    /// since `day` and since `hour`, and the latest attempt's time and status.
    pub async fn webhook_health(
        &self,
        tenant: &TenantName,
        app_id: ApplicationId,
        day: i64,
        hour: i64,
    ) -> Result<Vec<WebhookHealth>, StoreError> {
        on_pool!(self, |pool| {
            sqlx::query_as(
                // The latest attempt's status rides in one aggregate: MAX(at * 1000 + status) is the
                // latest attempt's time with its status (0 to 999) in the last three digits.
                "SELECT webhook_id, COUNT(*) AS day_attempts, SUM(ok) AS day_ok, \
             SUM(CASE WHEN at >= $4 THEN 1 ELSE 0 END) AS hour_attempts, \
             SUM(CASE WHEN at >= $4 THEN ok ELSE 0 END) AS hour_ok, \
             MAX(at * 1000 + code) / 1000 AS last_at, MAX(at * 1000 + code) % 1000 AS last_status \
             FROM (SELECT d.webhook_id, e.at, COALESCE(e.status_code, 0) AS code, \
             CASE WHEN e.status_code >= 200 AND e.status_code < 300 THEN 1 ELSE 0 END AS ok \
             FROM attempts e JOIN all_deliveries d ON d.id = e.delivery_id \
             WHERE d.tenant = $1 AND d.application_id = $2 AND e.at >= $3 \
             UNION ALL SELECT webhook_id, attempt_at, COALESCE(attempt_status_code, 0), \
             CASE WHEN attempt_status_code >= 200 AND attempt_status_code < 300 THEN 1 ELSE 0 END \
             FROM all_deliveries WHERE tenant = $1 AND application_id = $2 AND attempt_at >= $3) a \
             GROUP BY webhook_id",
            )
            .bind(tenant.as_str())
            .bind(crate::id::Id::from(app_id))
            .bind(day)
            .bind(hour)
            .fetch_all(pool)
            .await
        })
        .map_err(StoreError::from)
    }
}
