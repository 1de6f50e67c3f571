//! `--pull`: the sync's webhook is a pull webhook, and its notifications are read from its feed
//! (no inbound port, for a replica behind a firewall): long polls from the cursor the replica
//! keeps, each notification verified and applied as the receiver would, the cursor kept after
//! each page. A notification not applied now is read again; one that does not verify, or a
//! cursor past retention, is caught up on from the source.

use crate::pass::{CatchUp, catch_up};
use crate::receiver::{Receiver, apply};
use axum::http::StatusCode;
use std::sync::Arc;
use std::time::Duration;

/// Seconds each long poll waits for a notification.
const WAIT: &str = "30";
/// How long to wait after a failure before reading again.
const PAUSE: Duration = Duration::from_secs(2);

async fn log(r: &Receiver, kind: &str, text: &str) {
    let _ = r.replica.log(kind, text).await;
}

/// Catches up on what changed since `since` (RFC 3339; `None`: the replica's mark), for
/// notifications that were missed; whether it did (if not, the caller reads the same entries
/// again later, so nothing is passed over).
async fn catch_up_since(r: &Receiver, since: Option<&str>, why: &str) -> bool {
    let mark = match since {
        Some(s) => Some(s.to_owned()),
        None => r.replica.mark(&r.entity).await.ok().flatten(),
    };
    let Some(mark) = mark else {
        log(
            r,
            "error",
            &format!("{why}; nothing to catch up from: run the sync with --reconcile"),
        )
        .await;
        return true;
    };
    log(r, "initial", &format!("{why}: catching up since {mark}")).await;
    match catch_up(r, &mark).await {
        Ok(CatchUp::Done) => true,
        Ok(CatchUp::TooOld(e)) => {
            // Nothing more can be had from the source: only a reconcile repairs it.
            let says = format!("cannot catch up ({e}): run the sync with --reconcile");
            log(r, "error", &says).await;
            true
        }
        Err(e) => {
            log(r, "error", &format!("catching up: {e}")).await;
            false
        }
    }
}

/// Reads the feed of webhook `hook` of application `app` and applies what it holds, for ever.
pub(crate) async fn follow(r: Arc<Receiver>, app: String, hook: String) {
    let path = format!("/webhooks/v1/applications/{app}/webhooks/{hook}/feed");
    let mut cursor = r.replica.feed_cursor(&hook).await.ok().flatten();
    loop {
        let mut query = vec![("wait", WAIT.to_owned()), ("limit", "100".to_owned())];
        if let Some(c) = cursor {
            query.push(("cursor", c.to_string()));
        }
        let query = serde_urlencoded::to_string(&query).expect("text pairs encode");
        let (status, page) = match r
            .api
            .call(reqwest::Method::GET, &format!("{path}?{query}"), None)
            .await
        {
            Ok(answer) => answer,
            Err(e) => {
                log(&r, "error", &format!("reading the feed: {e}")).await;
                tokio::time::sleep(PAUSE).await;
                continue;
            }
        };
        // A cursor past the feed's end (the server's store restored from a backup) is as lost
        // as one past retention.
        let ahead = status == 400
            && page["errors"]
                .as_array()
                .is_some_and(|e| e.iter().any(|e| e["path"] == "?cursor"));
        match status {
            200 => {}
            _ if status == 410 || ahead => {
                let why = format!(
                    "the feed no longer holds what followed cursor {}: {}",
                    cursor.unwrap_or(0),
                    crate::api::problem_text(&page)
                );
                if catch_up_since(&r, None, &why).await {
                    cursor = None;
                    let _ = r.replica.set_feed_cursor(&hook, None).await;
                } else {
                    tokio::time::sleep(PAUSE).await;
                }
                continue;
            }
            other => {
                log(
                    &r,
                    "error",
                    &format!(
                        "reading the feed: {other} {}",
                        crate::api::problem_text(&page)
                    ),
                )
                .await;
                tokio::time::sleep(PAUSE).await;
                continue;
            }
        }
        let mut stalled = false;
        for item in page["data"].as_array().into_iter().flatten() {
            let Some(seq) = item["seq"].as_i64() else {
                continue;
            };
            // An erased record's tombstone: its erasure comes as a notification of its own.
            if item["erased"] != true {
                let headers = &item["headers"];
                let payload = item["payload"].as_str().unwrap_or_default();
                let applied = apply(
                    &r,
                    headers["cx-signature-key-id"].as_str(),
                    headers["cx-signature"].as_str().unwrap_or_default(),
                    payload.as_bytes(),
                )
                .await;
                match applied {
                    StatusCode::OK => {}
                    StatusCode::UNAUTHORIZED => {
                        let why = format!("feed entry {seq} did not verify");
                        if !catch_up_since(&r, item["createdAt"].as_str(), &why).await {
                            stalled = true;
                            break;
                        }
                    }
                    _ => {
                        // Not applied now: read again from here after a pause.
                        stalled = true;
                        break;
                    }
                }
            }
            cursor = Some(seq);
        }
        if let Some(c) = cursor
            && let Err(e) = r.replica.set_feed_cursor(&hook, Some(c)).await
        {
            log(&r, "error", &format!("keeping the feed's cursor: {e}")).await;
        }
        if stalled {
            tokio::time::sleep(PAUSE).await;
        }
    }
}
