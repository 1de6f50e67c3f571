//! Any source system (issue 29, item 6): an operator's catalog file (`catalog.file`) adds two
//! entities of an HR system, checked at start and merged with Carerix's. Their records are
//! stored, published, filtered with conditions checked against their fields, delivered signed,
//! and replicated by `cxhooks sync`.

use crate::env::Env;
use crate::sync::source_with;
use cxhooks_store::testing::Backend;
use serde_json::{Value, json};
use std::collections::BTreeMap;

const CATALOG: &str = r#"{"entities": {
  "hrperson": {"label": "Person", "fields": [
    {"path": "name", "label": "Name", "type": "string"},
    {"path": "department", "label": "Department", "type": "string"},
    {"path": "salary", "label": "Salary", "type": "number"}]},
  "hrcontract": {"label": "Contract", "fields": [
    {"path": "person", "label": "Person", "type": "relation", "target": "hrperson"},
    {"path": "hours", "label": "Hours a week", "type": "integer"}]}}}"#;

async fn an_operators_entities_are_published_filtered_delivered_and_synced(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("hr-catalog.json");
    std::fs::write(&file, CATALOG).unwrap();
    let path = file.to_str().unwrap().to_owned();
    let s = source_with(backend, &[("CXHOOKS_CATALOG__FILE", &path)]).await;

    // The catalog lists them beside Carerix's entities.
    let types = s
        .call(
            reqwest::Method::GET,
            "/webhooks/v1/event-types",
            Value::Null,
        )
        .await;
    let names: Vec<&str> = types["entities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["entity"].as_str().unwrap_or(""))
        .collect();
    assert!(
        names.contains(&"hrperson") && names.contains(&"hrcontract"),
        "{types}"
    );
    assert!(
        names.contains(&"cremployee"),
        "merged with Carerix's: {names:?}"
    );

    // Records of the new entities, in and out of the filter.
    for (name, department) in [("Ada", "Sales"), ("Bob", "Ops"), ("Cy", "Sales")] {
        s.call(
            reqwest::Method::POST,
            "/data/v1/hrperson",
            json!({"name": name, "department": department, "salary": 4000}),
        )
        .await;
    }
    // A sync of the Sales people: the filter is checked against the operator's fields.
    let filter = "data.department eq 'Sales'";
    let (_sync, _) = s.sync_as(
        "",
        &[
            "--entity",
            "hrperson",
            "--filter",
            filter,
            "--catalog",
            &path,
        ],
    );
    s.until_timeline("run now in real time").await;
    let names_in = |replica: &BTreeMap<String, Value>| {
        let mut n: Vec<String> = replica
            .values()
            .map(|r| r["name"].as_str().unwrap().to_owned())
            .collect();
        n.sort();
        n
    };
    let replica = s.replica_of("hrperson").await;
    assert_eq!(names_in(&replica), ["Ada", "Cy"]);

    // In real time: a new Sales person is delivered (signed; the sync verifies it) and kept.
    s.call(
        reqwest::Method::POST,
        "/data/v1/hrperson",
        json!({"name": "Dee", "department": "Sales"}),
    )
    .await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let replica = s.replica_of("hrperson").await;
        if names_in(&replica) == ["Ada", "Cy", "Dee"] {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{replica:?}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let timeline = s.timeline().await;
    assert!(
        timeline
            .iter()
            .any(|l| l.starts_with("applied hrperson") && l.contains("hrperson:created")),
        "{timeline:?}"
    );
    assert!(
        !timeline.iter().any(|l| l.starts_with("error")),
        "{timeline:?}"
    );

    // A webhook on the other entity: its conditions are checked against its fields.
    let app = s
        .call(
            reqwest::Method::POST,
            "/webhooks/v1/applications",
            json!({"name": "hr"}),
        )
        .await;
    let app_id = app["_id"].as_str().unwrap();
    let hooks = format!("/webhooks/v1/applications/{app_id}/webhooks");
    let made = s
        .call(
            reqwest::Method::POST,
            &hooks,
            json!({"url": "http://127.0.0.1:9/none", "filters": [
                {"eventType": "hrcontract:created", "condition": "data.hours gt 30"},
                {"eventType": "hrcontract:updated", "condition": "data.overtime eq 1"}]}),
        )
        .await;
    let warnings = made["warnings"].to_string();
    assert!(
        warnings.contains("/filters/1/condition") && !warnings.contains("/filters/0/condition"),
        "a field the entity does not have warns, one it has does not: {warnings}"
    );
    // Its records publish their changes, matched by those conditions: 36 hours is, 20 is not.
    for hours in [36, 20] {
        s.call(
            reqwest::Method::POST,
            "/data/v1/hrcontract",
            json!({"person": 1, "hours": hours}),
        )
        .await;
    }
    let log = s
        .call(
            reqwest::Method::GET,
            &format!("/webhooks/v1/applications/{app_id}/events?type=hrcontract:created"),
            Value::Null,
        )
        .await;
    assert_eq!(log["items"].as_array().unwrap().len(), 1, "{log}");
}

/// A catalog file that cannot be used stops the server at start, saying which and why.
#[tokio::test]
async fn a_bad_catalog_file_stops_the_server_at_start() {
    let env = Env::new(Backend::Sqlite).await;
    for (content, says) in [
        (
            "{\"entities\": {\"HR Person\": {\"label\": \"x\", \"fields\": []}}}",
            "HR Person",
        ),
        (
            "{\"entities\": {\"cremployee\": {\"label\": \"x\", \"fields\": [{\"path\": \"hascar\", \"label\": \"x\", \"type\": \"number\"}]}}}",
            "hascar",
        ),
        ("not json", "carerix-fields.json"),
    ] {
        let file = env.dir.path().join("catalog.json");
        std::fs::write(&file, content).unwrap();
        let out = env
            .command(&["serve", "--listen", "127.0.0.1:0"])
            .env("CXHOOKS_CATALOG__FILE", &file)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{content}: {stderr}");
        assert!(stderr.contains("catalog.file"), "{stderr}");
        assert!(stderr.contains(says), "{says}: {stderr}");
    }
}

cxhooks_store::both_backends!(an_operators_entities_are_published_filtered_delivered_and_synced);
