//! Groups (seed 004's roadmap: "if group 'Do not send Emails' is changed » notification"):
//! the record store works out the groups a write added and removed, the change carries them
//! with their labels, and conditions select on them by id or label.

use crate::delivery::{Setup, config, setup, verify_with_seed_snippets};
use crate::harness::{Answer, assert_problem};
use crate::receiver::TestReceiver;
use cxhooks_store::testing::Backend;
use serde_json::{Value, json};
use std::time::Duration;

async fn webhook(s: &Setup, url: &str, condition: &str) -> Answer {
    s.webhook_on_updates(url, condition).await
}

async fn write(s: &Setup, method: &str, path: &str, body: Value) -> Answer {
    let a = s.app.json(method, path, &s.manager, &body).await;
    assert!(a.status < 300, "{method} {path}: {}", a.text);
    a
}

async fn groups_added_and_removed_select_deliveries_by_id_and_label(backend: Backend) {
    let receiver = TestReceiver::ok().await;
    let s = setup(backend, config(), &receiver.url).await;
    for (id, label) in [(501, "Do not send Emails"), (502, "VIP")] {
        write(
            &s,
            "POST",
            "/data/v1/crdatanode",
            json!({"datanodeid": id, "value": label, "type": "Group"}),
        )
        .await;
    }
    // Another lookup type with the same label is not a group.
    write(
        &s,
        "POST",
        "/data/v1/crdatanode",
        json!({"datanodeid": 9, "value": "Gold", "type": "Candidate status"}),
    )
    .await;
    let mut hooks = Vec::new();
    for condition in [
        "metadata.groupsAdded has any of ['Do not send Emails']",
        "metadata.groupsRemoved has any of ['502']",
        "data.touser.groupnodes has any of [502] and metadata.paths has any of ['touser.groupnodes']",
    ] {
        let a = webhook(&s, &receiver.url, condition).await;
        assert_eq!(a.status, 201, "{}", a.text);
        hooks.push(a.body["_id"].as_str().unwrap().to_owned());
    }
    let unknown = webhook(
        &s,
        &receiver.url,
        "metadata.groupsAdded has any of ['Gold']",
    )
    .await;
    assert_problem(
        &unknown,
        400,
        "/filters/0/condition",
        "no group 'Gold'; groups are Do not send Emails, VIP",
    );

    let created = write(
        &s,
        "POST",
        "/data/v1/cremployee",
        json!({"touser": {"lastname": "Jansen", "groupnodes": [502]}}),
    )
    .await;
    let path = format!(
        "/data/v1/cremployee/{}",
        created.body["_id"].as_str().unwrap()
    );
    write(
        &s,
        "PATCH",
        &path,
        json!({"touser": {"groupnodes": [502, 501]}}),
    )
    .await; // added 501: hooks 0 and 2
    receiver.wait_for(2).await;
    write(&s, "PATCH", &path, json!({"touser": {"groupnodes": [501]}})).await; // removed 502: hook 1
    receiver.wait_for(3).await;
    write(&s, "PATCH", &path, json!({"hascar": 1})).await; // no group changed: none
    tokio::time::sleep(Duration::from_millis(300)).await;
    let got = receiver.received();
    let to = |hook: &str| got.iter().filter(|r| r.json()["webhookId"] == hook).count();
    assert_eq!(
        (to(&hooks[0]), to(&hooks[1]), to(&hooks[2]), got.len()),
        (1, 1, 1, 3),
        "{:?}",
        got.iter().map(|r| r.json()).collect::<Vec<_>>()
    );
    verify_with_seed_snippets(&s, &got[0].body, got[0].header("cx-signature"));

    // A source system publishing through the API names the groups itself.
    let published = s
        .app
        .json(
            "POST",
            "/webhooks/v1/changes",
            &s.publisher,
            &json!({"type": "cremployee:updated", "entityId": "77", "data": {}, "metadata": {"paths": ["touser.groupnodes"], "groupsAdded": ["Do not send Emails", 501]}}),
        )
        .await;
    assert_eq!(published.status, 202, "{}", published.text);
    let all = receiver.wait_for(4).await;
    assert_eq!(all[3].json()["webhookId"], hooks[0].as_str());
    assert_eq!(all[3].json()["data"]["entityId"], "77");
    let bad = s
        .app
        .json(
            "POST",
            "/webhooks/v1/changes",
            &s.publisher,
            &json!({"type": "cremployee:updated", "entityId": "78", "data": {}, "metadata": {"groupsRemoved": [true]}}),
        )
        .await;
    assert_problem(&bad, 400, "/metadata/groupsRemoved/0", "its id");
}

cxhooks_store::both_backends!(groups_added_and_removed_select_deliveries_by_id_and_label);
