//! Bringing the replica back to the source when it may have missed something: a pass (the
//! initial sync, or a reconcile after a filter change or on demand) copies every selected
//! record and removes what it did not see; a catch-up (on start, and when cxhooks' request log
//! shows notifications that failed) applies what changed and what was deleted since a point.

use crate::replica::Replica;
use crate::{Options, Progress, Receiver, SyncError};
use serde_json::Value;
use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

/// How far before its last known point a catch-up starts: changes committed out of order
/// (several nodes, clocks a little apart) are within it.
const OVERLAP: Duration = Duration::from_secs(300);

/// The pass to run under `filter` and the cursor it starts from (`None`: it is done). A new
/// replica, a changed filter, a replica that does not record its filter, or `--reconcile`
/// starts a new pass from the first page; otherwise the pass resumes where it stopped.
pub(crate) async fn choose(
    replica: &Replica,
    o: &Options,
    filter: &str,
) -> Result<(i64, Option<String>), SyncError> {
    let standing = replica.standing(&o.entity).await?;
    let entity = &o.entity;
    if standing.cursor.is_none() {
        return Ok((
            replica.start_pass(entity, filter).await?,
            Some(String::new()),
        ));
    }
    let why = match &standing.filter {
        _ if o.reconcile => Some(format!(
            "reconciling {entity} on demand (--reconcile): every record the filter selects is \
             fetched again, any other removed"
        )),
        Some(f) if f == filter => None,
        Some(f) => Some(format!(
            "the filter of {entity} changed (was: {f}; now: {filter}): reconciling: what is \
             newly in is fetched, what is now out removed"
        )),
        None => Some(format!(
            "the replica does not record the filter it was made with: reconciling {entity} \
             under {filter}"
        )),
    };
    if let Some(why) = why {
        replica.log("initial", &why).await?;
        let pass = replica.start_pass(entity, filter).await?;
        return Ok((pass, Some(String::new())));
    }
    let cursor = match standing.cursor.as_deref() {
        Some("done") => None,
        c => {
            replica
                .log(
                    "initial",
                    &if standing.pass <= 1 {
                        format!("resuming the initial sync of {entity} where it stopped")
                    } else {
                        format!("resuming the reconcile of {entity} where it stopped")
                    },
                )
                .await?;
            c.map(str::to_owned)
        }
    };
    Ok((standing.pass, cursor))
}

/// One page of `GET /data/v1/{entity}?filter=…`: the records and the next cursor.
/// With `count`, also the total the source counts (`total`), if it does.
async fn page_of(
    r: &Receiver,
    filter: &str,
    limit: u32,
    cursor: &str,
    count: bool,
) -> Result<(Vec<Value>, Option<String>, Option<u64>), SyncError> {
    let limit = limit.to_string();
    let mut pairs = vec![
        ("limit", limit.as_str()),
        ("filter", filter),
        ("cursor", cursor),
    ];
    if count {
        pairs.push(("count", "true"));
    }
    let query = serde_urlencoded::to_string(pairs).expect("text pairs encode");
    let page = r
        .api
        .ok(
            reqwest::Method::GET,
            &format!("/data/v1/{}?{query}", r.entity),
            None,
        )
        .await?;
    let items = page["items"].as_array().cloned().unwrap_or_default();
    Ok((
        items,
        page["nextCursor"].as_str().map(str::to_owned),
        page["total"].as_u64(),
    ))
}

/// The latest `modificationdate` among `records`.
fn latest(records: &[Value]) -> Option<&str> {
    records
        .iter()
        .filter_map(|r| r["modificationdate"].as_str())
        .max()
}

/// Runs pass `pass` from `cursor` to its end, page by page (each page and its cursor commit
/// together; the last page removes what the pass did not see).
pub(crate) async fn copy(
    r: &Receiver,
    filter: &str,
    page_size: u32,
    mut cursor: String,
    progress: &impl Fn(Progress),
) -> Result<(), SyncError> {
    let pass = r.pass.load(Ordering::SeqCst);
    let (mut copied, mut removed) = (0usize, 0u64);
    // A resumed pass has no total: the count would include what earlier runs copied.
    let mut first = cursor.is_empty();
    if !first {
        progress(Progress::Started(None));
    }
    loop {
        let (records, next, total) = page_of(r, filter, page_size, &cursor, first).await?;
        if std::mem::take(&mut first) {
            progress(Progress::Started(total));
        }
        if let Some(seen) = latest(&records) {
            r.replica.advance_mark(&r.entity, seen).await?;
        }
        let rows: Vec<(String, String)> = records
            .iter()
            .map(|v| {
                (
                    v["_id"].as_str().unwrap_or_default().to_owned(),
                    v.to_string(),
                )
            })
            .collect();
        removed += r
            .replica
            .page(&r.entity, &rows, next.as_deref(), pass)
            .await?;
        copied += rows.len();
        progress(Progress::Copied(copied));
        match next {
            Some(c) => cursor = c,
            None => break,
        }
    }
    let said = if pass == 1 && removed == 0 {
        format!("initial sync of {}: {copied} records copied", r.entity)
    } else {
        format!(
            "reconciled {}: {copied} records fetched, {removed} removed",
            r.entity
        )
    };
    r.replica.log("initial", &said).await?;
    Ok(())
}

/// What a catch-up found.
pub(crate) enum CatchUp {
    /// Applied: records changed and deleted since the point.
    Done,
    /// Deletions that far back are no longer known (or nothing marks a point): only a pass
    /// can repair the replica.
    TooOld(String),
}

/// `seen` minus [`OVERLAP`], in the source's format.
fn before(seen: &str) -> Option<String> {
    let t = chrono::DateTime::parse_from_rfc3339(seen).ok()?;
    let t = t.to_utc() - chrono::Duration::from_std(OVERLAP).expect("small");
    Some(t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
}

/// Applies what changed at or after `since` (RFC 3339; the overlap is taken off here):
/// deletions from the tombstones, then every record modified since, kept or removed as the
/// filter says. Records notified meanwhile are settled again by the caller's re-check.
pub(crate) async fn catch_up(r: &Receiver, since: &str) -> Result<CatchUp, SyncError> {
    let Some(since) = before(since) else {
        return Ok(CatchUp::TooOld(format!("'{since}' is not a time")));
    };
    let entity = &r.entity;
    let (mut deleted, mut cursor) = (0usize, String::new());
    loop {
        let query = serde_urlencoded::to_string([
            ("since", since.as_str()),
            ("limit", "500"),
            ("cursor", &cursor),
        ])
        .expect("text pairs encode");
        let (status, page) = r
            .api
            .call(
                reqwest::Method::GET,
                &format!("/data/v1/{entity}/deleted?{query}"),
                None,
            )
            .await?;
        match status {
            200 => {}
            410 => return Ok(CatchUp::TooOld(crate::api::problem_text(&page))),
            other => {
                return Err(crate::api::ApiError(format!(
                    "/data/v1/{entity}/deleted: {other} {}",
                    crate::api::problem_text(&page)
                ))
                .into());
            }
        }
        for t in page["items"].as_array().into_iter().flatten() {
            if let Some(id) = t["_id"].as_str() {
                r.replica.delete(entity, id).await?;
                deleted += 1;
            }
            if let Some(at) = t["deletedAt"].as_str() {
                r.replica.advance_mark(entity, at).await?;
            }
        }
        match page["nextCursor"].as_str() {
            Some(c) => cursor = c.to_owned(),
            None => break,
        }
    }
    let changed_since = format!("data.modificationdate ge '{since}'");
    let (mut kept, mut dropped, mut cursor) = (0usize, 0usize, String::new());
    let pass = r.pass.load(Ordering::SeqCst);
    loop {
        let (records, next, _) = page_of(r, &changed_since, 500, &cursor, false).await?;
        for v in &records {
            let id = v["_id"].as_str().unwrap_or_default();
            if r.filter.matches_record(v) {
                r.replica
                    .upsert(entity, &[(id.to_owned(), v.to_string())], pass)
                    .await?;
                kept += 1;
            } else {
                r.replica.delete(entity, id).await?;
                dropped += 1;
            }
        }
        if let Some(seen) = latest(&records) {
            r.replica.advance_mark(entity, seen).await?;
        }
        match next {
            Some(c) => cursor = c,
            None => break,
        }
    }
    r.replica
        .log(
            "initial",
            &format!(
                "caught up on {entity} since {since}: {kept} changed records kept, {dropped} \
                 out of the filter, {deleted} deletions"
            ),
        )
        .await?;
    Ok(CatchUp::Done)
}

/// Catches up on start: since the last known point, or by a new pass if there is none or the
/// source no longer knows the deletions that far back. Answers the cursor of a pass to run.
pub(crate) async fn on_start(
    r: &Receiver,
    o: &Options,
    filter: &str,
) -> Result<Option<String>, SyncError> {
    let why = match r.replica.mark(&r.entity).await? {
        None => "the replica records no point to catch up from".to_owned(),
        Some(mark) => match catch_up(r, &mark).await? {
            CatchUp::Done => return Ok(None),
            CatchUp::TooOld(why) => why,
        },
    };
    r.replica
        .log(
            "initial",
            &format!("cannot catch up on {} ({why}): reconciling", o.entity),
        )
        .await?;
    let pass = r.replica.start_pass(&o.entity, filter).await?;
    r.pass.store(pass, Ordering::SeqCst);
    Ok(Some(String::new()))
}

/// Every `every`, looks in cxhooks' request log for notifications to the sync's webhook that
/// failed (every attempt of the retry schedule) since `since`; catches up from the oldest new
/// one. Runs until aborted.
pub(crate) async fn watch(
    r: Arc<Receiver>,
    app: String,
    hook: String,
    every: Duration,
    since: String,
) {
    let mut handled = BTreeSet::new();
    loop {
        tokio::time::sleep(every).await;
        let query = serde_urlencoded::to_string([
            ("webhookId", hook.as_str()),
            ("status", "failed"),
            ("since", since.as_str()),
            ("limit", "500"),
        ])
        .expect("text pairs encode");
        let page = match r
            .api
            .ok(
                reqwest::Method::GET,
                &format!("/webhooks/v1/applications/{app}/events?{query}"),
                None,
            )
            .await
        {
            Ok(page) => page,
            Err(e) => {
                let _ = r
                    .replica
                    .log("error", &format!("reading the request log: {e}"))
                    .await;
                continue;
            }
        };
        let missed: Vec<(String, String)> = page["items"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|e| {
                Some((
                    e["_id"].as_str()?.to_owned(),
                    e["_createdAt"].as_str()?.to_owned(),
                ))
            })
            .filter(|(id, _)| !handled.contains(id))
            .collect();
        let Some(oldest) = missed.iter().map(|(_, at)| at.as_str()).min() else {
            continue;
        };
        let _ = r
            .replica
            .log(
                "initial",
                &format!(
                    "{} notifications failed in cxhooks' request log (oldest {oldest}): catching up",
                    missed.len()
                ),
            )
            .await;
        match catch_up(&r, oldest).await {
            Ok(CatchUp::Done) => handled.extend(missed.into_iter().map(|(id, _)| id)),
            Ok(CatchUp::TooOld(why)) => {
                let _ = r
                    .replica
                    .log(
                        "error",
                        &format!("cannot catch up ({why}): run the sync with --reconcile"),
                    )
                    .await;
                handled.extend(missed.into_iter().map(|(id, _)| id));
            }
            Err(e) => {
                let _ = r.replica.log("error", &format!("catching up: {e}")).await;
            }
        }
    }
}
