//! The record store: CRUD, changed paths, filters, pagination, and the changes it publishes.

use crate::delivery::{PUBLISH, config};
use crate::harness::*;
use crate::receiver::TestReceiver;
use cxhooks_store::testing::Backend;
use serde_json::{Value, json};

const RECORDS: &str = "urn:cx/cx5Wrapper:data:manage";

async fn setup(backend: Backend, receiver: &TestReceiver, filter: Value) -> (TestApp, String) {
    let app = spawn_app_with(backend, config()).await;
    app.tenant("acme").await;
    let scopes = format!("{ALL_SCOPES} {PUBLISH} {RECORDS}");
    let (_, token) = app
        .client_token("acme", &scopes, "create=on,read=all,update=all,delete=all")
        .await;
    let app_id = app.application(&token, "sync").await;
    let hook = json!({"url": receiver.url, "filters": filter});
    let a = app
        .json(
            "POST",
            &format!("/webhooks/v1/applications/{app_id}/webhooks"),
            &token,
            &hook,
        )
        .await;
    assert_eq!(a.status, 201, "{}", a.text);
    (app, token)
}

async fn patching_a_last_name_gives_the_seed_paths(backend: Backend) {
    let receiver = TestReceiver::ok().await;
    let filter = json!([{"eventType": "cremployee:updated", "condition": "metadata.paths has any of ['touser.lastname']"}]);
    let (app, token) = setup(backend, &receiver, filter).await;
    let created = app
        .json(
            "POST",
            "/data/v1/cremployee",
            &token,
            &json!({"touser": {"firstname": "Eva", "lastname": "Jansen"}, "hascar": 1}),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    assert_eq!(
        (created.body["_kind"].as_str(), created.body["_id"].as_str()),
        (Some("cremployee"), Some("1"))
    );
    // A change of another field is not selected by the filter on metadata.paths.
    let a = app
        .json(
            "PATCH",
            "/data/v1/cremployee/1",
            &token,
            &json!({"notes": "called"}),
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.text);
    let a = app
        .json(
            "PATCH",
            "/data/v1/cremployee/1",
            &token,
            &json!({"touser": {"lastname": "Müller"}}),
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.text);
    assert_eq!(a.body["touser"]["lastname"], "Müller");
    assert_eq!(a.body["touser"]["firstname"], "Eva");
    assert!(a.body["touser"]["modificationdate"].is_string());

    let got = receiver.wait_for(1).await;
    let n = got[0].json();
    assert_eq!(n["type"], "cremployee:updated");
    assert_eq!(n["data"]["entityId"], "1");
    assert_eq!(
        n["data"]["changedFields"],
        json!([
            "modificationdate",
            "touser",
            "touser.lastname",
            "touser.modificationdate"
        ])
    );
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(
        receiver.received().len(),
        1,
        "only the last-name change matches"
    );
    // A PATCH that changes nothing publishes nothing.
    let a = app
        .json(
            "PATCH",
            "/data/v1/cremployee/1",
            &token,
            &json!({"hascar": 1}),
        )
        .await;
    assert_eq!(a.status, 200);
}

async fn crud_and_the_events_it_publishes(backend: Backend) {
    let receiver = TestReceiver::ok().await;
    let filter = json!([{"eventType": "crvacancy:created"}, {"eventType": "crvacancy:updated"}, {"eventType": "crvacancy:deleted"}]);
    let (app, token) = setup(backend, &receiver, filter).await;
    let a = app
        .json(
            "POST",
            "/data/v1/crvacancy",
            &token,
            &json!({"jobtitle": "Nurse", "startdate": "2027-01-01"}),
        )
        .await;
    assert_eq!(a.status, 201);
    let created_at = a.body["creationdate"].clone();
    assert!(created_at.is_string());
    assert_eq!(
        app.json(
            "POST",
            "/data/v1/crvacancy",
            &token,
            &json!({"jobtitle": "Doctor"})
        )
        .await
        .body["_id"],
        "2"
    );
    // Ids are per entity.
    assert_eq!(
        app.json(
            "POST",
            "/data/v1/crcompany",
            &token,
            &json!({"name": "Acme"})
        )
        .await
        .body["_id"],
        "1"
    );

    let got = app.call("GET", "/data/v1/crvacancy/1", &token, None).await;
    assert_eq!(
        (got.status, got.body["jobtitle"].as_str()),
        (200, Some("Nurse"))
    );
    // PUT replaces (creationdate kept), DELETE publishes the record as it was.
    let a = app
        .json(
            "PUT",
            "/data/v1/crvacancy/1/",
            &token,
            &json!({"_id": "1", "jobtitle": "ICU nurse"}),
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.text);
    assert_eq!(
        (a.body["creationdate"].clone(), a.body.get("startdate")),
        (created_at, None)
    );
    assert_eq!(
        app.call("DELETE", "/data/v1/crvacancy/1", &token, None)
            .await
            .status,
        204
    );
    assert_eq!(
        app.call("GET", "/data/v1/crvacancy/1", &token, None)
            .await
            .status,
        404
    );
    assert_eq!(
        app.call("DELETE", "/data/v1/crvacancy/1", &token, None)
            .await
            .status,
        404
    );

    let got = receiver.wait_for(4).await;
    let mut types: Vec<(String, String)> = got
        .iter()
        .map(|r| {
            (
                r.json()["type"].as_str().unwrap().to_owned(),
                r.json()["data"]["entityId"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    types.sort();
    assert_eq!(
        types,
        [
            ("crvacancy:created".into(), "1".into()),
            ("crvacancy:created".into(), "2".into()),
            ("crvacancy:deleted".into(), "1".into()),
            ("crvacancy:updated".into(), "1".into())
        ]
    );
    let update = got
        .iter()
        .map(|r| r.json())
        .find(|n| n["type"] == "crvacancy:updated")
        .unwrap();
    assert_eq!(
        update["data"]["changedFields"],
        json!(["jobtitle", "modificationdate", "startdate"])
    );
    let created = got
        .iter()
        .map(|r| r.json())
        .find(|n| n["type"] == "crvacancy:created" && n["data"]["entityId"] == "1")
        .unwrap();
    assert_eq!(
        created["data"]["changedFields"],
        json!(["creationdate", "jobtitle", "modificationdate", "startdate"])
    );
}

async fn filters_and_pages(backend: Backend) {
    let receiver = TestReceiver::ok().await;
    let (app, token) = setup(backend, &receiver, json!([{"eventType": "crjob:created"}])).await;
    for (i, status) in [1001, 1002, 1003, 1001, 1002, 1001, 1004]
        .iter()
        .enumerate()
    {
        let body = json!({"touser": {"lastname": format!("C{i}"), "tosinglestatusnode": status}, "hascar": i % 2});
        assert_eq!(
            app.json("POST", "/data/v1/cremployee", &token, &body)
                .await
                .status,
            201
        );
    }
    let filter = "data.touser.tosinglestatusnode in [1001, 1002]";
    let mut ids = Vec::new();
    let mut cursor = String::new();
    loop {
        let url = format!(
            "/data/v1/cremployee?limit=2&cursor={cursor}&filter={}",
            urlencode(filter)
        );
        let a = app.call("GET", &url, &token, None).await;
        assert_eq!(a.status, 200, "{}", a.text);
        ids.extend(
            a.body["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|i| i["_id"].as_str().unwrap().to_owned()),
        );
        match a.body["nextCursor"].as_str() {
            Some(c) => cursor = c.to_owned(),
            None => break,
        }
    }
    assert_eq!(ids, ["1", "2", "4", "5", "6"]);
    let a = app
        .call(
            "GET",
            &format!(
                "/data/v1/cremployee?filter={}",
                urlencode("data.hascar eq true")
            ),
            &token,
            None,
        )
        .await;
    assert_eq!(a.body["items"].as_array().unwrap().len(), 3);
    let a = app.call("GET", "/data/v1/cremployee", &token, None).await;
    assert_eq!(a.body["items"].as_array().unwrap().len(), 7);
    // A filter that does not parse says where; metadata has no meaning for stored records.
    let a = app
        .call(
            "GET",
            &format!("/data/v1/cremployee?filter={}", urlencode("data.hascar eq")),
            &token,
            None,
        )
        .await;
    assert_problem(&a, 400, "?filter", "column 15");
    let a = app
        .call(
            "GET",
            &format!(
                "/data/v1/cremployee?filter={}",
                urlencode("metadata.paths has any of ['x']")
            ),
            &token,
            None,
        )
        .await;
    assert_eq!(a.status, 400, "{}", a.text);
    assert_problem(
        &app.call("GET", "/data/v1/cremployee?cursor=zzz", &token, None)
            .await,
        400,
        "?cursor",
        "nextCursor",
    );
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

async fn bad_input_and_isolation(backend: Backend) {
    let receiver = TestReceiver::ok().await;
    let (app, token) = setup(backend, &receiver, json!([{"eventType": "crjob:created"}])).await;
    let a = app
        .json("POST", "/data/v1/candidates", &token, &json!({}))
        .await;
    assert_problem(&a, 404, "", "entities are cremployee, cruser");
    let a = app
        .json(
            "POST",
            "/data/v1/crjob",
            &token,
            &json!({"startdate": "01-02-2027"}),
        )
        .await;
    assert_problem(&a, 400, "/startdate", "not dd-mm-jjjj");
    let a = app
        .json(
            "POST",
            "/data/v1/crjob",
            &token,
            &json!({"_id": "9", "jobtitle": "x"}),
        )
        .await;
    assert_problem(&a, 400, "/_id", "assigned by the server");
    assert_problem(
        &app.json("POST", "/data/v1/crjob", &token, &json!([1]))
            .await,
        400,
        "",
        "expected an object",
    );
    assert_problem(
        &app.call("POST", "/data/v1/crjob", &token, Some("{\"a\": 1,}"))
            .await,
        400,
        "",
        "trailing comma",
    );
    assert_eq!(
        app.call("GET", "/data/v1/crjob/abc", &token, None)
            .await
            .status,
        404
    );
    // Without the record scope: 403 naming it.
    let (_, webhooks_only) = app
        .client_token("acme", ALL_SCOPES.split(' ').next().unwrap(), "")
        .await;
    let a = app
        .call("GET", "/data/v1/crjob", &webhooks_only, None)
        .await;
    assert_eq!(
        (a.status, a.body["requiredScope"].as_str()),
        (403, Some(RECORDS))
    );
    // Another tenant's records are not there.
    assert_eq!(
        app.json("POST", "/data/v1/crjob", &token, &json!({"jobtitle": "x"}))
            .await
            .status,
        201
    );
    app.tenant("beta").await;
    let (_, beta) = app.client_token("beta", RECORDS, "").await;
    assert_eq!(
        app.call("GET", "/data/v1/crjob/1", &beta, None)
            .await
            .status,
        404
    );
    assert!(
        app.call("GET", "/data/v1/crjob", &beta, None).await.body["items"]
            .as_array()
            .unwrap()
            .is_empty()
    );
}

async fn concurrent_patches_all_apply(backend: Backend) {
    let receiver = TestReceiver::ok().await;
    let filter = json!([{"eventType": "cremployee:updated"}]);
    let (app, token) = setup(backend, &receiver, filter).await;
    app.json(
        "POST",
        "/data/v1/cremployee",
        &token,
        &json!({"touser": {"lastname": "X"}}),
    )
    .await;
    let app = std::sync::Arc::new(app);
    let mut tasks = Vec::new();
    for i in 0..8 {
        let (app, token) = (app.clone(), token.clone());
        tasks.push(tokio::spawn(async move {
            let a = app
                .json(
                    "PATCH",
                    "/data/v1/cremployee/1",
                    &token,
                    &json!({format!("field{i}"): i}),
                )
                .await;
            assert_eq!(a.status, 200, "{}", a.text);
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let record = app
        .call("GET", "/data/v1/cremployee/1", &token, None)
        .await
        .body;
    for i in 0..8 {
        assert_eq!(
            record[format!("field{i}")],
            json!(i),
            "a concurrent write was lost: {record}"
        );
    }
    // Each update names exactly its own field (besides modificationdate).
    let got = receiver.wait_for(8).await;
    let mut fields: Vec<String> = got
        .iter()
        .map(|r| {
            let paths: Vec<String> =
                serde_json::from_value(r.json()["data"]["changedFields"].clone()).unwrap();
            assert_eq!(paths.len(), 2, "{paths:?}");
            paths.into_iter().find(|p| p != "modificationdate").unwrap()
        })
        .collect();
    fields.sort();
    assert_eq!(
        fields,
        (0..8).map(|i| format!("field{i}")).collect::<Vec<_>>()
    );
}

cxhooks_store::both_backends!(
    patching_a_last_name_gives_the_seed_paths,
    crud_and_the_events_it_publishes,
    filters_and_pages,
    bad_input_and_isolation,
    concurrent_patches_all_apply,
);
