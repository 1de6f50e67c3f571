//! Taking due deliveries under a lease and giving them back; starting a delivery over; the
//! queue's depth.

use super::ClaimedDelivery;
use super::rows::CHUNK;
use crate::id::Id;
use crate::{ApplicationId, DeliveryId, Store, StoreError, TenantName, WebhookId, on_pool};

/// The condition, on a delivery `d`, that it is next in its entity's order: it is not about an
/// entity in order (`entity_key` is set only for ordered webhooks), or no live delivery of the
/// same webhook and entity is for an earlier change (index `deliveries_entity`).
macro_rules! in_entity_order {
    () => {
        "(d.entity_key IS NULL OR NOT EXISTS (SELECT 1 FROM deliveries e \
           WHERE e.webhook_id = d.webhook_id AND e.entity_key = d.entity_key \
           AND e.entity_key IS NOT NULL AND e.status IN ('pending', 'retrying') \
           AND e.change_id < d.change_id))"
    };
}
pub(crate) use in_entity_order;
use sqlx::AssertSqlSafe;

/// Who claims, when, and what to leave to others: see [`Store::claim_due`].
pub(crate) struct Claim<'a> {
    pub(crate) node: &'a str,
    pub(crate) now: i64,
    pub(crate) lease_until: i64,
    pub(crate) skip_webhooks: &'a [WebhookId],
}

/// Webhooks with deliveries waiting that one claim looks at, at most: each costs a seek or two
/// in `deliveries_ready` however long its queue. A claim that looked at this many without
/// filling its limit leaves the rest to the next one, which starts where it stopped.
const VISIT: u32 = 64;

/// What a fair claim took, and where the next one starts.
#[derive(Debug, Default)]
pub struct Claimed {
    /// The deliveries claimed.
    pub deliveries: Vec<ClaimedDelivery>,
    /// The webhook the next claim starts after (round-robin over the ready ones).
    pub after: Option<WebhookId>,
    /// Whether due work was left behind that the node could take now: a webhook with room had
    /// more due than it got (for want of the claim's limit), or more webhooks may be ready
    /// than were looked at.
    pub more: bool,
    /// Webhooks with due work the node had no room for: room frees when their own sends end.
    pub blocked: Vec<WebhookId>,
    /// The earliest time (µs) after the claim's `now` at which a delivery of the webhooks
    /// looked at falls due (a retry): when to look again if nothing else happens.
    pub next_due: Option<i64>,
}

/// A webhook with due deliveries nobody holds, as a claim sees it.
struct Ready {
    webhook: WebhookId,
    /// Due and claimable now, counted up to the claim's limit.
    due: u32,
    /// When its next delivery not due yet falls due, µs.
    later: Option<i64>,
}

/// `limit` dealt out one at a time, round-robin in `ready`'s order, to each webhook up to the
/// lesser of its due deliveries and its room (`rooms`, in the same order): every ready webhook
/// gets its share however long the others' queues are (weighted by nothing: webhooks are
/// equals).
fn deal(ready: &[Ready], rooms: &[u32], limit: u32) -> Vec<u32> {
    let wants: Vec<u32> = ready
        .iter()
        .zip(rooms)
        .map(|(r, room)| r.due.min(*room))
        .collect();
    let mut given = vec![0u32; ready.len()];
    let mut left = limit;
    while left > 0 {
        let mut dealt = false;
        for (g, want) in given.iter_mut().zip(&wants) {
            if left > 0 && *g < *want {
                *g += 1;
                left -= 1;
                dealt = true;
            }
        }
        if !dealt {
            break;
        }
    }
    given
}

impl Store {
    /// Claims up to `limit` due deliveries for `node` until `lease_until` (µs), fairly: the
    /// webhooks with due deliveries nobody holds are taken round-robin, starting after `after`,
    /// each getting an equal share up to `room(webhook)` (how many more of its deliveries the
    /// node can take now; 0 skips it). What a claim costs depends on the number of webhooks
    /// it looks at (at most [`VISIT`]), not on how many deliveries any of them has waiting.
    pub async fn claim_fair(
        &self,
        node: &str,
        now: i64,
        lease_until: i64,
        limit: u32,
        after: Option<WebhookId>,
        room: &(dyn Fn(WebhookId) -> u32 + Sync),
    ) -> Result<Claimed, StoreError> {
        let mut ready = self.ready_webhooks(after, now, VISIT, limit).await?;
        let mut looked = u32::try_from(ready.len()).unwrap_or(VISIT);
        if let Some(after) = after.filter(|_| looked < VISIT) {
            // Round the end: those up to and including where the last claim stopped.
            let rest = self
                .ready_webhooks(None, now, VISIT - looked, limit)
                .await?;
            looked += u32::try_from(rest.len()).unwrap_or(VISIT);
            ready.extend(rest.into_iter().take_while(|r| r.webhook <= after));
        }
        let next_due = ready.iter().filter_map(|r| r.later).min();
        ready.retain(|r| r.due > 0);
        let rooms: Vec<u32> = ready.iter().map(|r| room(r.webhook)).collect();
        let given = deal(&ready, &rooms, limit);
        let more = looked >= VISIT
            || ready
                .iter()
                .zip(&given)
                .zip(&rooms)
                .any(|((r, g), room)| *room > 0 && r.due > *g);
        let blocked = ready
            .iter()
            .zip(&rooms)
            .filter(|(_, room)| **room == 0)
            .map(|(r, _)| r.webhook)
            .collect();
        let take: Vec<(WebhookId, u32)> = ready
            .iter()
            .zip(&given)
            .filter(|(_, g)| **g > 0)
            .map(|(r, g)| (r.webhook, *g))
            .collect();
        let next_after = take.last().map(|(w, _)| *w).or(after);
        if take.is_empty() {
            return Ok(Claimed {
                deliveries: Vec::new(),
                after: next_after,
                more,
                blocked,
                next_due,
            });
        }
        let claim = Claim {
            node,
            now,
            lease_until,
            skip_webhooks: &[],
        };
        let deliveries = match &self.writer {
            crate::Pool::Sqlite(pool) => crate::sqlite::claim_from(pool, &claim, &take).await?,
            crate::Pool::Postgres(pool) => crate::postgres::claim_from(pool, &claim, &take).await?,
        };
        Ok(Claimed {
            deliveries,
            after: next_after,
            more,
            blocked,
            next_due,
        })
    }

    /// Up to `visit` webhooks with deliveries nobody holds, in id order after `after`, each
    /// with how many of them are due at `now` (counted up to `cap`) and when the first not due
    /// yet falls due. A loose scan of `deliveries_ready`: one seek per webhook to the next
    /// webhook id, its due rows counted from the front of its own part of the index, and one
    /// seek past them.
    async fn ready_webhooks(
        &self,
        after: Option<WebhookId>,
        now: i64,
        visit: u32,
        cap: u32,
    ) -> Result<Vec<Ready>, StoreError> {
        let start = after.unwrap_or_else(|| WebhookId::from(uuid::Uuid::nil()));
        let sql = concat!(
            "WITH RECURSIVE hooks(w, n) AS (\
               SELECT (SELECT webhook_id FROM deliveries WHERE status IN ('pending', 'retrying') \
                       AND lease_owner IS NULL AND webhook_id > $1 ORDER BY webhook_id LIMIT 1), 1 \
               UNION ALL \
               SELECT (SELECT webhook_id FROM deliveries WHERE status IN ('pending', 'retrying') \
                       AND lease_owner IS NULL AND webhook_id > hooks.w ORDER BY webhook_id LIMIT 1), n + 1 \
               FROM hooks WHERE hooks.w IS NOT NULL AND n < $2) \
             SELECT w, (SELECT COUNT(*) FROM (SELECT 1 FROM deliveries d WHERE d.webhook_id = hooks.w \
                 AND d.status IN ('pending', 'retrying') AND d.lease_owner IS NULL \
                 AND d.next_attempt_at <= $3 AND ",
            in_entity_order!(),
            " LIMIT $4) due), (SELECT MIN(next_attempt_at) FROM deliveries \
                 WHERE webhook_id = hooks.w AND status IN ('pending', 'retrying') \
                 AND lease_owner IS NULL AND next_attempt_at > $3) \
             FROM hooks WHERE w IS NOT NULL"
        );
        let rows: Vec<(crate::id::IdText, i64, Option<i64>)> = on_pool!(self, |pool| {
            sqlx::query_as(sql)
                .bind(Id::from(start))
                .bind(i64::from(visit))
                .bind(now)
                .bind(i64::from(cap))
                .fetch_all(pool)
                .await
        })?;
        rows.into_iter()
            .map(|(w, due, later)| {
                let webhook = WebhookId::try_from(w)
                    .map_err(|e| StoreError::Corrupt(format!("a stored webhook id: {e}")))?;
                Ok(Ready {
                    webhook,
                    due: u32::try_from(due).unwrap_or(u32::MAX),
                    later,
                })
            })
            .collect()
    }

    /// Claims up to `limit` due deliveries for `node` until `lease_until` (µs), leaving those
    /// of `skip_webhooks` (webhooks the node cannot take more of now) to other nodes: a
    /// [`Store::claim_fair`] from the first webhook, every other webhook's room unbounded.
    /// With `expired_too`, deliveries whose lease ran out (their node died) fill what room is
    /// left: a second statement, which callers need not run on every claim.
    pub async fn claim_due(
        &self,
        node: &str,
        now: i64,
        lease_until: i64,
        limit: u32,
        skip_webhooks: &[WebhookId],
        expired_too: bool,
    ) -> Result<Vec<ClaimedDelivery>, StoreError> {
        let room = |w: WebhookId| {
            if skip_webhooks.contains(&w) { 0 } else { limit }
        };
        let mut rows = self
            .claim_fair(node, now, lease_until, limit, None, &room)
            .await?
            .deliveries;
        let room = limit.saturating_sub(u32::try_from(rows.len()).unwrap_or(u32::MAX));
        if expired_too && room > 0 {
            rows.extend(
                self.claim_expired(node, now, lease_until, room, skip_webhooks)
                    .await?,
            );
        }
        Ok(rows)
    }

    /// Claims up to `limit` deliveries whose lease ran out (their node died or gave up on
    /// them), oldest lease first (index `deliveries_leased`), except those of `skip_webhooks`.
    pub async fn claim_expired(
        &self,
        node: &str,
        now: i64,
        lease_until: i64,
        limit: u32,
        skip_webhooks: &[WebhookId],
    ) -> Result<Vec<ClaimedDelivery>, StoreError> {
        let claim = Claim {
            node,
            now,
            lease_until,
            skip_webhooks,
        };
        match &self.writer {
            crate::Pool::Sqlite(pool) => crate::sqlite::claim_expired(pool, &claim, limit).await,
            crate::Pool::Postgres(pool) => {
                crate::postgres::claim_expired(pool, &claim, limit).await
            }
        }
    }

    /// Gives back claims that will not be worked on now (e.g. the webhook's in-flight limit).
    pub async fn release(&self, node: &str, ids: &[DeliveryId]) -> Result<(), StoreError> {
        for chunk in ids.chunks(CHUNK) {
            let sql = format!(
                "UPDATE deliveries SET lease_until = NULL, lease_owner = NULL WHERE lease_owner = $1 AND id IN ({})",
                (2..chunk.len() + 2)
                    .map(|i| format!("${i}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            crate::on_writer!(self, |pool| {
                let mut q = sqlx::query(AssertSqlSafe(sql.clone())).bind(node);
                for id in chunk {
                    q = q.bind(Id::from(id));
                }
                q.execute(pool).await.map(|_| ())
            })?;
        }
        Ok(())
    }

    /// Drops every lease: for a single-node store at start-up, where no other process can hold
    /// one, so that work claimed by a killed process is resumed at once rather than after its
    /// lease expires.
    pub async fn release_all_leases(&self) -> Result<u64, StoreError> {
        let n = on_pool!(self, |pool| {
            sqlx::query(
            "UPDATE deliveries SET lease_until = NULL, lease_owner = NULL WHERE lease_until IS NOT NULL"
        )
        .execute(pool)
        .await
        .map(|r| r.rows_affected())
        })?;
        Ok(n)
    }

    /// Starts a new attempt series now for a delivery, signed anew (with the current key).
    pub async fn redeliver(
        &self,
        tenant: &TenantName,
        app_id: ApplicationId,
        id: DeliveryId,
        now: i64,
    ) -> Result<bool, StoreError> {
        macro_rules! restart {
            ($on:expr) => {
                sqlx::query(
                    "UPDATE deliveries SET status = 'pending', series_attempts = 0, series_started = NULL, \
                     signature = NULL, next_attempt_at = $4, lease_until = NULL, lease_owner = NULL, \
                     updated_at = $4 WHERE tenant = $1 AND application_id = $2 AND id = $3 \
                     AND status <> 'held'",
                )
                .bind(tenant.as_str())
                .bind(Id::from(app_id))
                .bind(Id::from(id))
                .bind(now)
                .execute($on)
                .await?
                .rows_affected()
            };
        }
        let n = match &self.pool {
            crate::Pool::Sqlite(pool) => restart!(pool),
            crate::Pool::Postgres(pool) => {
                // A finished delivery is in the log: back to the queue first.
                let mut tx = pool.begin().await?;
                Self::unlog(&mut tx, tenant, app_id, id).await?;
                let n = restart!(&mut *tx);
                tx.commit().await?;
                n
            }
        };
        Ok(n == 1)
    }

    /// Queue depth (deliveries pending or retrying) and when the oldest of them was created (µs).
    pub async fn queue_stats(&self) -> Result<(i64, Option<i64>), StoreError> {
        on_pool!(self, |pool| sqlx::query_as(
            "SELECT COUNT(*), MIN(created_at) FROM deliveries WHERE status IN ('pending', 'retrying')"
        )
        .fetch_one(pool)
        .await)
        .map_err(StoreError::from)
    }

    /// How many deliveries are pending or retrying (queue depth).
    pub async fn pending_count(&self) -> Result<i64, StoreError> {
        on_pool!(self, |pool| sqlx::query_scalar(
            "SELECT COUNT(*) FROM deliveries WHERE status IN ('pending', 'retrying')"
        )
        .fetch_one(pool)
        .await)
        .map_err(StoreError::from)
    }
}
