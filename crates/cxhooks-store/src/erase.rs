//! Erasure (GDPR art. 17): what a record's erasing delete removes besides the record, in the
//! delete's own transaction ([`erase_traces!`]). The record's changes keep their ids, types
//! and times but lose their data; their deliveries keep ids and times, their payloads become a
//! [`tombstone`], every stored answer and error of their attempts is cleared, and those not
//! delivered are cancelled; publishes' `Idempotency-Key` answers naming the changes are
//! forgotten. The statements hold SQLite's writer while they run (publishes wait).
//!
//! The deliveries are found through the record's changes (`changes_entity`), then by
//! `change_id` across the whole log: an erasure reads every delivery row of the store once
//! (there is no index on `change_id`: it would cost every publish; docs/records.md, Erasure).

/// The payload a finished delivery of erased record `entity_id` keeps: the record's id (the
/// request log lists it) and that it was erased.
pub fn tombstone(entity_id: &str) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({"erased": true, "data": {"entityId": entity_id}}))
        .expect("serialisable")
}

/// The deliveries of the erased record's changes (`$1` tenant, `$2` entity id, `$3` type
/// pattern `{entity}:%`).
macro_rules! of_the_record {
    () => {
        "change_id IN (SELECT id FROM changes WHERE tenant = $1 AND entity_id = $2 AND type LIKE $3)"
    };
}

/// Erases the traces of record `$id` of `$entity` inside the transaction `$tx`.
macro_rules! erase_traces {
    ($is_postgres:expr, $tx:expr, $tenant:expr, $entity:expr, $id:expr) => {{
        let entity_id = $id.to_string();
        let pattern = format!("{}:%", $entity);
        let bind = |sql: &'static str| {
            sqlx::query(sql)
                .bind($tenant.as_str())
                .bind(entity_id.clone())
                .bind(pattern.clone())
        };
        let change_ids: Vec<String> = {
            let rows: Vec<$crate::erase::ChangeIdRow> = sqlx::query_as(
                "SELECT id FROM changes WHERE tenant = $1 AND entity_id = $2 AND type LIKE $3",
            )
            .bind($tenant.as_str())
            .bind(entity_id.clone())
            .bind(pattern.clone())
            .fetch_all(&mut *$tx)
            .await?;
            rows.into_iter().map(|r| r.id).collect()
        };
        bind(concat!(
            "UPDATE attempts SET response_body = '', error = NULL WHERE delivery_id IN \
             (SELECT id FROM all_deliveries WHERE tenant = $1 AND ",
            $crate::erase::of_the_record!(),
            ")"
        ))
        .execute(&mut *$tx)
        .await?;
        let tables: &[&str] = if $is_postgres {
            &["deliveries", "delivery_log"]
        } else {
            &["deliveries"]
        };
        for table in tables {
            // Every attempt's answer and error, and every payload. One still to be sent, or
            // failed, is cancelled (the record is gone: a definite fact), so that nothing sends
            // a tombstone; its lease is taken back, so that an attempt in flight cannot record
            // the receiver's answer after the erasure.
            let sql = format!(
                "UPDATE {table} SET attempt_response_body = CASE WHEN attempt_response_body IS NULL \
                 THEN NULL ELSE '' END, attempt_error = NULL, payload = $4, signature = NULL, \
                 status = CASE WHEN status IN ('pending', 'retrying', 'failed') THEN 'cancelled' \
                 ELSE status END, lease_until = NULL, lease_owner = NULL \
                 WHERE tenant = $1 AND {}",
                $crate::erase::of_the_record!()
            );
            sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind($tenant.as_str())
                .bind(entity_id.clone())
                .bind(pattern.clone())
                .bind($crate::erase::tombstone(&entity_id))
                .execute(&mut *$tx)
                .await?;
        }
        bind("UPDATE changes SET body = NULL WHERE tenant = $1 AND entity_id = $2 AND type LIKE $3")
            .execute(&mut *$tx)
            .await?;
        for ids in change_ids.chunks(100) {
            let likes: Vec<String> = (0..ids.len())
                .map(|i| format!("answer LIKE ${}", i + 2))
                .collect();
            let sql = format!(
                "DELETE FROM idempotency WHERE tenant = $1 AND ({})",
                likes.join(" OR ")
            );
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql)).bind($tenant.as_str());
            for id in ids {
                q = q.bind(format!("%{id}%"));
            }
            q.execute(&mut *$tx).await?;
        }
    }};
}
pub(crate) use erase_traces;
pub(crate) use of_the_record;

/// A change id as the store gives it back.
#[derive(sqlx::FromRow)]
pub(crate) struct ChangeIdRow {
    #[sqlx(try_from = "crate::id::IdText")]
    pub(crate) id: String,
}

impl crate::Store {
    /// After an erasure: on SQLite, writes the WAL back into the database file and empties it,
    /// so that the pages as they were before (which the WAL still holds) are gone from disk
    /// too; the file's freed space is zeroed already (`secure_delete`). While readers hold
    /// older snapshots it cannot: it tries again for up to a second, then answers false.
    /// Nothing to do on PostgreSQL, whose old row versions are vacuumed.
    pub async fn checkpoint(&self) -> Result<bool, crate::StoreError> {
        let crate::Pool::Sqlite(pool) = &self.writer else {
            return Ok(true);
        };
        for _ in 0..50 {
            let (busy, _, _): (i64, i64, i64) = sqlx::query_as("PRAGMA wal_checkpoint(TRUNCATE)")
                .fetch_one(pool)
                .await?;
            if busy == 0 {
                return Ok(true);
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        Ok(false)
    }

    /// Erases the traces of a record that is no longer stored (deleted before, or only ever
    /// published): as [`erase_traces!`] does in an erasing delete. Answers whether the store
    /// knew anything of it (a change or a tombstone).
    pub async fn erase_traces(
        &self,
        tenant: &crate::model::TenantName,
        entity: &str,
        id: i64,
    ) -> Result<bool, crate::StoreError> {
        let is_postgres = self.kind() == crate::Backend::Postgres;
        let known = "SELECT (SELECT COUNT(*) FROM changes WHERE tenant = $1 AND entity_id = $2 \
                     AND type LIKE $3) + (SELECT COUNT(*) FROM record_tombstones WHERE tenant = $1 \
                     AND entity = $4 AND id = $5)";
        macro_rules! run {
            ($tx:ident) => {{
                let n: i64 = sqlx::query_scalar(known)
                    .bind(tenant.as_str())
                    .bind(id.to_string())
                    .bind(format!("{entity}:%"))
                    .bind(entity)
                    .bind(id)
                    .fetch_one(&mut *$tx)
                    .await?;
                if n > 0 {
                    erase_traces!(is_postgres, $tx, tenant, entity, id);
                }
                $tx.commit().await?;
                Ok(n > 0)
            }};
        }
        match &self.writer {
            crate::Pool::Postgres(pool) => {
                let mut tx = pool.begin().await?;
                run!(tx)
            }
            crate::Pool::Sqlite(pool) => {
                let mut tx = crate::BeginWrite::begin_write(pool).await?;
                run!(tx)
            }
        }
    }
}
