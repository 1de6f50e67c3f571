//! Stored changes keep their data and metadata, packed, in the publish's transaction, and read
//! back newest first by page and time range; a change without a body (stored before bodies
//! were kept) is left out; retention takes the body with its change.

use super::{store_unleased, tenant};
use cxhooks_store::testing::Backend;
use cxhooks_store::*;

const S: i64 = 1_000_000;

fn change(n: usize, at: i64) -> NewChange {
    let body = ChangeBody {
        data: serde_json::json!({"touser": {"lastname": format!("Jansen {n}")}, "n": n}),
        paths: vec!["touser.lastname".into()],
        groups_added: if n == 0 { vec!["502".into()] } else { vec![] },
        groups_removed: vec![],
        erased: false,
    };
    NewChange {
        // A version-7 id of its time, as a publish makes it.
        id: uuid::Uuid::new_v7(uuid::Timestamp::from_unix(
            uuid::NoContext,
            (at / S) as u64,
            (at % S) as u32 * 1_000,
        ))
        .into(),
        event_type: "cremployee:updated".into(),
        entity_id: n.to_string(),
        accepted_at: at,
        body: pack::pack(&serde_json::to_vec(&body).unwrap()),
    }
}

async fn stored_changes_read_back_newest_first_with_their_bodies(backend: Backend) {
    let (store, _loc) = backend.store().await;
    let (acme, key) = tenant("acme");
    store.create_tenant(&acme, &key).await.unwrap();
    let (other, key) = tenant("other");
    store.create_tenant(&other, &key).await.unwrap();
    let now = chrono::Utc::now().timestamp_micros();
    // Five changes a second apart, one of another tenant, one without a body.
    let changes: Vec<NewChange> = (0..5).map(|n| change(n, now + n as i64 * S)).collect();
    for c in &changes {
        store_unleased(&store, &acme, std::slice::from_ref(c), &[], c.accepted_at).await;
    }
    store_unleased(&store, &other, &[change(9, now)], &[], now).await;
    let mut bare = change(7, now);
    bare.body = Vec::new();
    store_unleased(&store, &acme, &[bare], &[], now).await;

    let page = |since, until, before, limit| ChangePage {
        since,
        until,
        before,
        limit,
    };
    let all = store
        .stored_changes(&acme.name, page(0, i64::MAX / 2, None, 100))
        .await
        .unwrap();
    let ids: Vec<ChangeId> = all.iter().map(|c| c.id).collect();
    let expected: Vec<ChangeId> = changes.iter().rev().map(|c| c.id).collect();
    assert_eq!(ids, expected, "newest first, this tenant's, with a body");
    assert_eq!(all[4].body.data["touser"]["lastname"], "Jansen 0");
    assert_eq!(all[4].body.paths, ["touser.lastname"]);
    assert_eq!(all[4].body.groups_added, ["502"]);
    assert_eq!(all[0].entity_id, "4");
    assert_eq!(all[0].event_type, "cremployee:updated");

    // Pages: two at a time, each after the last of the one before.
    let first = store
        .stored_changes(&acme.name, page(0, i64::MAX / 2, None, 2))
        .await
        .unwrap();
    let second = store
        .stored_changes(&acme.name, page(0, i64::MAX / 2, Some(first[1].id), 2))
        .await
        .unwrap();
    assert_eq!(
        second.iter().map(|c| c.id).collect::<Vec<_>>(),
        expected[2..4]
    );

    // A time range: [now + 1 s, now + 3 s) holds changes 1 and 2.
    let ranged = store
        .stored_changes(&acme.name, page(now + S, now + 3 * S, None, 100))
        .await
        .unwrap();
    assert_eq!(
        ranged
            .iter()
            .map(|c| c.entity_id.as_str())
            .collect::<Vec<_>>(),
        ["2", "1"]
    );

    // Retention takes the change and its body.
    store.purge_changes(now + 2 * S, 100).await.unwrap();
    let left = store
        .stored_changes(&acme.name, page(0, i64::MAX / 2, None, 100))
        .await
        .unwrap();
    assert_eq!(
        left.iter()
            .map(|c| c.entity_id.as_str())
            .collect::<Vec<_>>(),
        ["4", "3", "2"]
    );
}

cxhooks_store::both_backends!(stored_changes_read_back_newest_first_with_their_bodies);
