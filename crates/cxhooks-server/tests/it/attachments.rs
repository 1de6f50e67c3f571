//! Attachments (seed 004's roadmap: "webhooks when an attachment is added"): `crattachment`
//! records with their file, `created`/`updated`/`deleted` events with conditions on the owner
//! and label, the bytes at `…/content`, and the size limit.

use crate::delivery::{Setup, config, setup, verify_with_seed_snippets};
use crate::harness::{Answer, assert_problem};
use crate::receiver::TestReceiver;
use base64::Engine as _;
use cxhooks_store::testing::Backend;
use serde_json::{Value, json};
use std::time::Duration;

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn sha256(bytes: &[u8]) -> String {
    let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, bytes);
    format!(
        "sha256:{}",
        d.as_ref()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    )
}

async fn call(s: &Setup, method: &str, path: &str, body: Option<Value>) -> Answer {
    match body {
        Some(b) => s.app.json(method, path, &s.manager, &b).await,
        None => s.app.call(method, path, &s.manager, None).await,
    }
}

async fn an_added_cv_is_delivered_and_its_file_is_served(backend: Backend) {
    let receiver = TestReceiver::ok().await;
    let mut c = config();
    c.limits.max_attachment_bytes = 1024;
    let s = setup(backend, c, &receiver.url).await;
    let hook = call(
        &s,
        "POST",
        &format!("/webhooks/v1/applications/{}/webhooks", s.app_id),
        Some(json!({"url": receiver.url, "filters": [
            {"eventType": "crattachment:created", "condition": "data.label eq 'CV' and data.toemployee exists"},
            {"eventType": "crattachment:updated", "condition": "metadata.paths has any of ['checksum']"},
            {"eventType": "crattachment:deleted"}]})),
    )
    .await;
    assert_eq!(hook.status, 201, "{}", hook.text);
    assert!(
        hook.body.get("warnings").is_none(),
        "the catalog knows crattachment's fields: {}",
        hook.text
    );
    let candidate = call(
        &s,
        "POST",
        "/data/v1/cremployee",
        Some(json!({"touser": {"lastname": "Jansen"}})),
    )
    .await;
    let owner = candidate.body["_id"].as_str().unwrap().to_owned();

    let pdf = b"%PDF-1.4 a very short curriculum vitae".to_vec();
    let created = call(
        &s,
        "POST",
        "/data/v1/crattachment",
        Some(json!({
        "toemployee": owner.parse::<i64>().unwrap(), "label": "CV", "filename": "cv jansen.pdf",
        "contenttype": "application/pdf", "content": b64(&pdf)})),
    )
    .await;
    assert_eq!(created.status, 201, "{}", created.text);
    assert_eq!(created.body["size"], pdf.len());
    assert_eq!(created.body["checksum"], sha256(&pdf));
    assert!(
        created.body.get("content").is_none(),
        "the file is not part of the record"
    );
    let location = created.headers["location"].to_str().unwrap().to_owned();

    // The CV is delivered; a photo of no one is not (its label is not CV).
    let photo = call(
        &s,
        "POST",
        "/data/v1/crattachment",
        Some(json!({"label": "Photo", "content": b64(b"jpeg")})),
    )
    .await;
    assert_eq!(photo.status, 201, "{}", photo.text);
    let first = receiver.wait_for(1).await.remove(0);
    assert_eq!(first.json()["type"], "crattachment:created");
    assert_eq!(first.json()["data"]["entityId"], created.body["_id"]);
    verify_with_seed_snippets(&s, &first.body, first.header("cx-signature"));

    // The record and the tombstone list answer beside the file's route.
    assert_eq!(call(&s, "GET", &location, None).await.body["label"], "CV");
    let since = (chrono::Utc::now() - chrono::Duration::days(1)).format("%Y-%m-%dT%H:%M:%SZ");
    let deleted_since = format!("/data/v1/crattachment/deleted?since={since}");
    let tombstones = call(&s, "GET", &deleted_since, None).await;
    assert_eq!(tombstones.status, 200, "{}", tombstones.text);

    // The file, as it was sent.
    let file = s
        .app
        .get(&format!("{location}/content"), Some(&s.manager))
        .await;
    assert_eq!(file.status(), 200);
    assert_eq!(file.headers()["content-type"], "application/pdf");
    assert_eq!(
        file.headers()["content-disposition"],
        "attachment; filename=\"cv jansen.pdf\""
    );
    assert_eq!(file.headers()["x-content-type-options"], "nosniff");
    assert_eq!(file.bytes().await.unwrap().as_ref(), pdf.as_slice());

    // A new file changes size and checksum: delivered as an update naming them.
    let newer = b"%PDF-1.4 a longer curriculum vitae, with a second job".to_vec();
    let patched = call(
        &s,
        "PATCH",
        &location,
        Some(json!({"content": b64(&newer)})),
    )
    .await;
    assert_eq!(patched.status, 200, "{}", patched.text);
    assert_eq!(patched.body["checksum"], sha256(&newer));
    let update = receiver.wait_for(2).await.remove(1).json();
    assert_eq!(update["type"], "crattachment:updated");
    let fields = update["data"]["changedFields"].as_array().unwrap();
    assert!(
        fields.contains(&json!("checksum")) && fields.contains(&json!("size")),
        "{update}"
    );
    let file = s
        .app
        .get(&format!("{location}/content"), Some(&s.manager))
        .await;
    assert_eq!(file.bytes().await.unwrap().as_ref(), newer.as_slice());
    // A new label alone keeps the file.
    let relabelled = call(
        &s,
        "PUT",
        &location,
        Some(json!({"toemployee": 1, "label": "CV (old)", "filename": "cv.pdf"})),
    )
    .await;
    assert_eq!(relabelled.status, 200, "{}", relabelled.text);
    assert_eq!(relabelled.body["checksum"], sha256(&newer));

    // Refusals: past the size limit, not base64, another entity's content, no records scope.
    let big = call(
        &s,
        "POST",
        "/data/v1/crattachment",
        Some(json!({"label": "CV", "content": b64(&[7u8; 2000])})),
    )
    .await;
    assert_problem(
        &big,
        413,
        "/content",
        "2000 bytes, more than the 1024 allowed",
    );
    let garbled = call(
        &s,
        "POST",
        "/data/v1/crattachment",
        Some(json!({"content": "not base64!"})),
    )
    .await;
    assert_problem(&garbled, 400, "/content", "is not base64");
    let number = call(
        &s,
        "POST",
        "/data/v1/crattachment",
        Some(json!({"content": 7})),
    )
    .await;
    assert_problem(&number, 400, "/content", "must be a string");
    let other = call(
        &s,
        "GET",
        &format!("/data/v1/cremployee/{owner}/content"),
        None,
    )
    .await;
    assert_problem(
        &other,
        404,
        "",
        "there is no route for GET /data/v1/cremployee",
    );
    let stranger = s
        .app
        .call("GET", &format!("{location}/content"), &s.publisher, None)
        .await;
    assert_eq!(stranger.status, 403, "{}", stranger.text);

    // Deleted: delivered, and its file is gone.
    let deleted = call(&s, "DELETE", &location, None).await;
    assert_eq!(deleted.status, 204, "{}", deleted.text);
    let gone = receiver.wait_for(3).await.remove(2).json();
    assert_eq!(gone["type"], "crattachment:deleted");
    let none = call(&s, "GET", &format!("{location}/content"), None).await;
    assert_eq!(none.status, 404, "{}", none.text);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        receiver.received().len(),
        3,
        "the photo was never delivered"
    );
}

/// A tenant deleted and made again under its name finds none of the old files, though its
/// attachment ids start at 1 again.
async fn a_deleted_tenants_files_go_with_it(backend: Backend) {
    let receiver = TestReceiver::ok().await;
    let s = setup(backend, config(), &receiver.url).await;
    let cv = json!({"label": "CV", "size": 99, "content": b64(b"the old tenant's CV")});
    let first = call(&s, "POST", "/data/v1/crattachment", Some(cv)).await;
    assert_eq!(first.headers["location"], "/data/v1/crattachment/1");
    assert_eq!(
        first.body["size"], 19,
        "size is the store's, not the client's"
    );
    let acme = cxhooks_store::TenantName::parse("acme").unwrap();
    assert!(s.app.store().delete_tenant(&acme).await.unwrap());
    s.app.tenant("acme").await;
    let (_, token) = s
        .app
        .client_token("acme", crate::harness::ALL_SCOPES, "create=on,read=all")
        .await;
    let again = s
        .app
        .json(
            "POST",
            "/data/v1/crattachment",
            &token,
            &json!({"label": "CV", "size": 5, "checksum": "sha256:00"}),
        )
        .await;
    assert_eq!(again.headers["location"], "/data/v1/crattachment/1");
    assert!(
        again.body.get("size").is_none() && again.body.get("checksum").is_none(),
        "{}",
        again.text
    );
    let file = s
        .app
        .call("GET", "/data/v1/crattachment/1/content", &token, None)
        .await;
    assert_problem(&file, 404, "", "has no file");
}

cxhooks_store::both_backends!(
    an_added_cv_is_delivered_and_its_file_is_served,
    a_deleted_tenants_files_go_with_it,
);
