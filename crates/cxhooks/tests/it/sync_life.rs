//! `cxhooks sync` when real life happens: the filter changes, a reconcile is asked for, the
//! receiver moves. Each ends with the replica equal to the source, field for field.

use crate::sync::{Source, source, source_with};
use base64::Engine as _;
use cxhooks_store::testing::Backend;
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// Active is status 1001, New 1002 (see `Source::candidates`).
async fn a_changed_filter_reconciles_the_replica(backend: Backend) {
    let s = source(backend).await;
    s.candidates(600).await;

    // Active only: 150 of the 600.
    let (first, _) = s.sync_as("Active", &[]);
    s.until_timeline("run now in real time").await;
    s.converge_in(&[1001]).await;
    drop(first);

    // Widened to Active and New: the 150 New ones are fetched; changes made while no sync ran
    // are picked up by the pass.
    s.burst().await;
    let (wider, _) = s.sync_as("Active,New", &["--page-size", "40"]);
    let changed = s
        .until_timeline("initial the filter of cremployee changed")
        .await;
    assert!(
        changed.contains("in [1001]") && changed.contains("in [1001, 1002]"),
        "{changed}"
    );
    s.until_timeline("initial reconciled cremployee").await;
    s.converge_in(&[1001, 1002]).await;
    // Real time goes on under the new filter.
    s.burst().await;
    s.converge_in(&[1001, 1002]).await;
    drop(wider);

    // Narrowed to New: the Active ones are removed.
    let before = s.replica().await.len();
    let (_narrower, _) = s.sync_as("New", &[]);
    s.converge_in(&[1002]).await;
    let after = s.replica().await.len();
    assert!(after < before, "nothing was removed: {before} then {after}");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let said = loop {
        let reconciled: Vec<String> = s
            .timeline()
            .await
            .into_iter()
            .filter(|l| l.starts_with("initial reconciled cremployee"))
            .collect();
        if reconciled.len() == 2 {
            break reconciled[0].clone();
        }
        assert!(std::time::Instant::now() < deadline, "{reconciled:?}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    // Notifications of the earlier burst may still arrive and remove some first.
    let removed: u64 = said
        .split(", ")
        .nth(1)
        .and_then(|part| part.strip_suffix(" removed"))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{said}"));
    assert!(
        removed > 0 && removed <= (before - after) as u64,
        "{said} (had {before}, has {after})"
    );
}

/// `--reconcile` repairs a replica that went wrong behind the sync's back (here: rows edited
/// and removed, a stray one added, directly in the replica database).
async fn reconcile_on_demand_repairs_a_damaged_replica(backend: Backend) {
    let s = source(backend).await;
    s.candidates(200).await;
    let first = s.synced(&[]).await;
    drop(first);

    let replica = cxhooks_sync::replica::Replica::open(&s.replica_url())
        .await
        .unwrap();
    let have = s.replica().await;
    let mut ids = have.keys();
    let (edited, removed) = (ids.next().unwrap().clone(), ids.next().unwrap().clone());
    let pass = replica.standing("cremployee").await.unwrap().pass;
    replica
        .upsert(
            "cremployee",
            &[
                (edited, r#"{"stale": true}"#.to_owned()),
                ("999999".to_owned(), "{}".to_owned()),
            ],
            pass,
        )
        .await
        .unwrap();
    replica.delete("cremployee", &removed).await.unwrap();
    assert_ne!(s.replica().await, s.expected_in(&[1001, 1002]).await);

    let (_again, _) = s.sync(&["--reconcile"]);
    s.until_timeline("initial reconciling cremployee on demand")
        .await;
    s.until_timeline("initial reconciled cremployee").await;
    s.converge().await;
}

/// A run with another receiver url moves the sync's own webhook (described
/// `cxhooks-sync:{replicaId}:{entity}`) instead of adding one; changes made while no sync ran
/// reach the replica.
async fn a_new_receiver_url_moves_the_syncs_own_webhook(backend: Backend) {
    let s = source(backend).await;
    s.candidates(200).await;
    let first = s.synced(&[]).await;
    drop(first);

    s.burst().await;
    let (_second, url) = s.sync(&[]);
    s.converge().await;

    let hooks = sync_webhooks(&s).await;
    assert_eq!(hooks.len(), 1, "one webhook, not one per run: {hooks:?}");
    let replica = cxhooks_sync::replica::Replica::open(&s.replica_url())
        .await
        .unwrap();
    assert_eq!(hooks[0]["url"], url.as_str());
    assert_eq!(
        hooks[0]["description"],
        format!("cxhooks-sync:{}:cremployee", replica.id().await.unwrap()).as_str()
    );
}

/// The webhooks of the sync's application.
async fn sync_webhooks(s: &Source) -> Vec<Value> {
    let app = s.sync_application().await;
    let hooks = s
        .call(
            reqwest::Method::GET,
            &format!("/webhooks/v1/applications/{app}/webhooks"),
            Value::Null,
        )
        .await;
    hooks["items"].as_array().unwrap().clone()
}

/// A retry schedule of 0.3 s: a sync down for longer than it, as one down for more than the
/// default 2 h would be.
const SHORT_RETRIES: [(&str, &str); 1] = [("CXHOOKS_DELIVERY__RETRY_SCHEDULE", "100ms,200ms")];

/// Waits until every delivery of the sync's application has ended (none pending or retrying)
/// and at least one failed; answers how many failed.
async fn until_all_failed(s: &Source) -> usize {
    let app = s.sync_application().await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let count = |status: &'static str| {
            let path = format!("/webhooks/v1/applications/{app}/events?status={status}&limit=500");
            async move {
                s.call(reqwest::Method::GET, &path, Value::Null).await["items"]
                    .as_array()
                    .unwrap()
                    .len()
            }
        };
        let (live, failed) = (
            count("pending").await + count("retrying").await,
            count("failed").await,
        );
        if live == 0 && failed > 0 {
            return failed;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{live} deliveries still live, {failed} failed"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// Down longer than the retry schedule: the notifications of the updates, creations and
/// deletions made meanwhile failed for good. On start the sync catches up (changed records by
/// `modificationdate`, deletions from the tombstones).
async fn a_long_downtime_is_caught_up_on_start(backend: Backend) {
    let s = source_with(backend, &SHORT_RETRIES).await;
    s.candidates(300).await;
    let first = s.synced(&[]).await;
    drop(first);

    s.burst().await;
    until_all_failed(&s).await;
    let (_second, _) = s.sync(&[]);
    let caught = s.until_timeline("initial caught up on cremployee").await;
    assert!(!caught.contains(" 0 deletions"), "{caught}");
    s.converge().await;
}

/// While the sync runs, notifications that cxhooks could not deliver (here: to a public url
/// nothing listens on) show as failed in the request log; the sync reads it and catches up.
async fn failed_notifications_seen_in_the_request_log_are_caught_up(backend: Backend) {
    let s = source_with(backend, &SHORT_RETRIES).await;
    s.candidates(300).await;
    let dead = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let dead = format!("http://{dead}/webhook");
    let (_sync, _) = s.sync(&["--public-url", &dead, "--watch-every", "300ms"]);
    s.until_timeline("run now in real time").await;
    s.converge().await;

    s.burst().await;
    s.until_timeline("initial caught up on cremployee").await;
    s.converge().await;
    let timeline = s.timeline().await;
    assert!(
        timeline
            .iter()
            .any(|l| l.contains("failed in cxhooks' request log")),
        "{timeline:?}"
    );
}

/// "Rotate secret" on the sync's application while it runs: notifications name the new key,
/// the sync fetches the application's JWKS and goes on, without a restart or a rejection.
async fn a_key_rotation_does_not_stop_the_sync(backend: Backend) {
    let s = source(backend).await;
    s.candidates(200).await;
    let _sync = s.synced(&[]).await;

    let app = s.sync_application().await;
    s.call(
        reqwest::Method::POST,
        &format!("/webhooks/v1/applications/{app}/rotate-secret"),
        Value::Null,
    )
    .await;
    s.burst().await;
    s.converge().await;
    s.until_timeline("run a notification named key").await;
    let timeline = s.timeline().await;
    let rejected: Vec<_> = timeline.iter().filter(|l| l.starts_with("error")).collect();
    assert!(rejected.is_empty(), "{rejected:?}");
}

/// The replica's attachments (id → owner, file) once `done` holds for them (or panics after
/// 30 s).
async fn attachments_when(
    s: &Source,
    done: impl Fn(&BTreeMap<String, (String, String)>) -> bool,
) -> BTreeMap<String, (String, String)> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let replica = cxhooks_sync::replica::Replica::open(&s.replica_url())
            .await
            .unwrap();
        let got: BTreeMap<String, (String, String)> = replica
            .attachments()
            .await
            .unwrap()
            .into_iter()
            .map(|(id, owner, _, content)| {
                let file = base64::engine::general_purpose::STANDARD
                    .decode(content.unwrap_or_default())
                    .unwrap();
                (id, (owner, String::from_utf8(file).unwrap()))
            })
            .collect();
        if done(&got) {
            return got;
        }
        assert!(std::time::Instant::now() < deadline, "{got:?}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// `--attachments`: the CVs of the replicated candidates come along with their files, follow
/// them in real time, and leave with them.
async fn attachments_follow_the_replicated_records(backend: Backend) {
    let s = source(backend).await;
    s.candidates(8).await;
    let kept: Vec<String> = s.expected_in(&[1001, 1002]).await.into_keys().collect();
    assert_eq!(kept.len(), 4);
    let cv = |owner: &str| {
        json!({"toemployee": owner.parse::<i64>().unwrap(), "label": "CV", "filename": "cv.txt",
            "contenttype": "text/plain", "content": base64::engine::general_purpose::STANDARD.encode(format!("cv of {owner}"))})
    };
    for owner in 1..=8 {
        s.call(
            reqwest::Method::POST,
            "/data/v1/crattachment",
            cv(&owner.to_string()),
        )
        .await;
    }
    let (sync, _) = s.sync(&["--attachments"]);
    s.until_timeline("run attachments: 4 stored").await;
    let first = attachments_when(&s, |a| a.len() == 4).await;
    for (owner, file) in first.values() {
        assert!(kept.contains(owner), "{owner} is not replicated");
        assert_eq!(*file, format!("cv of {owner}"));
    }
    s.until_timeline("run now in real time").await;

    // In real time: a new CV of a replicated candidate comes, one of another does not.
    let outsider = (1..=8)
        .map(|i| i.to_string())
        .find(|i| !kept.contains(i))
        .unwrap();
    let added = s
        .call(reqwest::Method::POST, "/data/v1/crattachment", cv(&kept[0]))
        .await;
    s.call(
        reqwest::Method::POST,
        "/data/v1/crattachment",
        cv(&outsider),
    )
    .await;
    let added_id = added["_id"].as_str().unwrap().to_owned();
    attachments_when(&s, |a| a.contains_key(&added_id)).await;
    // Deleted at the source, deleted here.
    let gone = first.keys().next().unwrap().clone();
    s.call(
        reqwest::Method::DELETE,
        &format!("/data/v1/crattachment/{gone}"),
        Value::Null,
    )
    .await;
    attachments_when(&s, |a| !a.contains_key(&gone)).await;
    // A candidate the filter no longer selects takes its attachments with it.
    let leaving = kept[0].clone();
    s.call(
        reqwest::Method::PATCH,
        &format!("/data/v1/cremployee/{leaving}"),
        json!({"touser": {"tosinglestatusnode": 1000}}),
    )
    .await;
    let last = attachments_when(&s, |a| a.values().all(|(o, _)| *o != leaving)).await;
    assert!(last.values().all(|(o, _)| kept.contains(o)), "{last:?}");
    assert!(!last.values().any(|(o, _)| *o == outsider), "{last:?}");

    // Deleted while no sync ran: gone after the next start.
    drop(sync);
    let missed = last.keys().next().unwrap().clone();
    s.call(
        reqwest::Method::DELETE,
        &format!("/data/v1/crattachment/{missed}"),
        Value::Null,
    )
    .await;
    let (_again, _) = s.sync(&["--attachments"]);
    attachments_when(&s, |a| {
        !a.contains_key(&missed) && a.len() == last.len() - 1
    })
    .await;
}

/// An erasure at the source (`?erase=true`) erases the replica's copy: the notification's
/// `metadata.erased` removes it without a fetch, and the replica's file keeps nothing of it.
async fn an_erased_record_leaves_the_replica(backend: Backend) {
    let s = source(backend).await;
    s.candidates(8).await;
    let (name, email) = ("Xerasablename", "xerasable@erase.example");
    let marked = s
        .call(
            reqwest::Method::POST,
            "/data/v1/cremployee",
            json!({"touser": {"lastname": name, "emailaddress": email, "tosinglestatusnode": 1001}}),
        )
        .await;
    let id = marked["_id"].as_str().unwrap().to_owned();
    let _sync = s.synced(&[]).await;
    assert!(s.replica().await.contains_key(&id));
    let said = s.erase("cremployee", &id);
    assert!(said.contains(&format!("erased cremployee {id}")), "{said}");
    s.until_timeline(&format!("applied cremployee {id} erased"))
        .await;
    s.converge().await;
    assert!(!s.replica().await.contains_key(&id));
    let url = s.replica_url();
    if let Some(path) = url.strip_prefix("sqlite:") {
        for file in [path.to_owned(), format!("{path}-wal")] {
            let bytes = std::fs::read(&file).unwrap_or_default();
            for needle in [name, email] {
                assert!(
                    !bytes.windows(needle.len()).any(|w| w == needle.as_bytes()),
                    "{needle} is still in {file}"
                );
            }
        }
    }
    let replica = cxhooks_sync::replica::Replica::open(&url).await.unwrap();
    for (_, data) in replica.records("cremployee").await.unwrap() {
        assert!(!data.contains(name) && !data.contains(email), "{data}");
    }
}

/// `--pull`: the sync reads its notifications from its pull webhook's feed and listens on no
/// port. A sync that pushed before moves to a pull webhook (one of the sync's own, not two);
/// bursts and an erasure reach the replica; a restart goes on from the cursor it kept.
async fn a_pulling_sync_needs_no_inbound_port(backend: Backend) {
    let s = source(backend).await;
    s.candidates(120).await;
    let pushed = s.synced(&[]).await;
    drop(pushed);

    let (pulling, listen_url) = s.sync(&["--pull"]);
    s.until_timeline("run reading the feed of pull webhook")
        .await;
    s.burst().await;
    s.converge().await;
    // Nothing listens where a receiver would.
    let listen = listen_url
        .trim_start_matches("http://")
        .trim_end_matches("/webhook")
        .to_owned();
    assert!(
        std::net::TcpStream::connect(&listen).is_err(),
        "{listen} is listened on"
    );
    let hooks = sync_webhooks(&s).await;
    assert_eq!(hooks.len(), 1, "the pushing webhook replaced: {hooks:?}");
    assert_eq!(hooks[0]["mode"], "pull");
    let hook = hooks[0]["_id"].as_str().unwrap().to_owned();

    // An erasure comes through the feed too.
    let some = s.replica().await.into_keys().next().unwrap();
    let said = s.erase("cremployee", &some);
    assert!(said.contains("erased"), "{said}");
    s.until_timeline(&format!("applied cremployee {some} erased"))
        .await;
    s.converge().await;

    // Stopped, changed meanwhile, started again: it reads on from its cursor.
    drop(pulling);
    let replica = cxhooks_sync::replica::Replica::open(&s.replica_url())
        .await
        .unwrap();
    let kept = replica.feed_cursor(&hook).await.unwrap().unwrap();
    assert!(kept > 0, "cursor {kept}");
    s.burst().await;
    let _again = s.sync(&["--pull"]);
    s.converge().await;
    // (On start it catches up from the source too: the feed's entries are then applied again,
    // as duplicates, and the cursor moves past them.)
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let read = replica.feed_cursor(&hook).await.unwrap().unwrap();
        if read > kept {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the cursor stays at {read}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    s.converge().await;
}

cxhooks_store::both_backends!(
    a_pulling_sync_needs_no_inbound_port,
    an_erased_record_leaves_the_replica,
    attachments_follow_the_replicated_records,
    a_key_rotation_does_not_stop_the_sync,
    a_long_downtime_is_caught_up_on_start,
    failed_notifications_seen_in_the_request_log_are_caught_up,
    a_new_receiver_url_moves_the_syncs_own_webhook,
    a_changed_filter_reconciles_the_replica,
    reconcile_on_demand_repairs_a_damaged_replica,
);
