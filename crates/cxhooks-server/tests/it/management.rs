//! Management API: applications, webhooks, validation, pagination, fair usage, OpenAPI.

use crate::harness::*;
use cxhooks_server::Config;
use cxhooks_server::seal::application_key_context;
use cxhooks_signing::PrivateKey;
use cxhooks_store::TenantName;
use cxhooks_store::testing::Backend;
use serde_json::{Value, json};

/// Runs the seed 004 reference verifiers (tests/verifiers) on one signed body.
pub(crate) fn reference_verify(
    lang: &str,
    secret_file_text: &str,
    signature: &str,
    body: &[u8],
) -> (i32, String) {
    let dir = tempfile::tempdir().unwrap();
    let (s, g, b) = (
        dir.path().join("secret"),
        dir.path().join("sig"),
        dir.path().join("body"),
    );
    std::fs::write(&s, secret_file_text).unwrap();
    std::fs::write(&g, signature).unwrap();
    std::fs::write(&b, body).unwrap();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/verifiers/run.sh");
    let out = std::process::Command::new("bash")
        .arg(script)
        .arg(lang)
        .args([&s, &g, &b])
        .output()
        .unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), said)
}

async fn app_private_key(app: &TestApp, tenant: &str, id: &str) -> PrivateKey {
    let tenant = TenantName::parse(tenant).unwrap();
    let stored = app
        .store()
        .application(&tenant, id.parse().unwrap())
        .await
        .unwrap()
        .unwrap();
    let der = app
        .state
        .master
        .open(
            &application_key_context(&tenant, stored.id),
            &stored.sealed_private_key,
        )
        .unwrap();
    PrivateKey::from_pkcs8_der(&der).unwrap()
}

async fn application_secret_verifies_with_the_seed_snippets(backend: Backend) {
    let app = spawn_app(backend).await;
    app.tenant("acme").await;
    let (client, token) = app.client_token("acme", ALL_SCOPES, SEED_PERMISSIONS).await;
    let created = app
        .json(
            "POST",
            "/webhooks/v1/applications",
            &token,
            &json!({"name": "verify me"}),
        )
        .await;
    assert_eq!(created.status, 201);
    assert_eq!(
        created.headers["location"],
        format!(
            "/webhooks/v1/applications/{}",
            created.body["_id"].as_str().unwrap()
        )
    );
    let b = &created.body;
    let id = b["_id"].as_str().unwrap();
    let secret = b["secret"].as_str().unwrap();
    assert!(
        secret.starts_with("-----BEGIN PUBLIC KEY-----\n")
            && secret.ends_with("-----END PUBLIC KEY-----\n")
    );
    assert_eq!(
        b["signatureVerification"],
        json!({"algorithm": "RSA-SHA256", "publicKey": secret})
    );
    assert_eq!(
        (b["_createdBy"].as_str(), b["_updatedBy"].as_str()),
        (Some(client.id.as_str()), Some(client.id.as_str()))
    );
    assert!(b["_createdAt"].as_str().unwrap().ends_with('Z'));

    // A body signed with the application's key, as deliveries will be.
    let body = json!({"id": "8469bf71-4942-45ea-98b8-393077288785", "time": "2024-02-14T14:24:40Z",
        "type": "cremployee:updated", "tenant": "acme", "data": {"entityId": "1", "changedFields": ["touser", "touser.lastname"]},
        "note": "Müller / Zoë +"})
    .to_string();
    let key = app_private_key(&app, "acme", id).await;
    let signature = key.sign_base64(body.as_bytes()).unwrap();
    // Node.js and PHP take `secret` as returned; Java takes it as it stands in the raw JSON text.
    let (code, said) = reference_verify("node", secret, &signature, body.as_bytes());
    assert_eq!(code, 0, "node: {said}");
    let (code, said) = reference_verify("php", secret, &signature, body.as_bytes());
    assert_eq!(code, 0, "php: {said}");
    let raw = created
        .text
        .split("\"secret\":\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap();
    assert!(raw.contains("\\n"));
    let (code, said) = reference_verify("java-json", raw, &signature, body.as_bytes());
    assert_eq!(code, 0, "java: {said}");
    // And all three refuse a tampered body.
    let (code, said) = reference_verify(
        "all",
        secret,
        &signature,
        body.replace("Zoë", "Zoe").as_bytes(),
    );
    assert_eq!(code, 1, "{said}");

    // Rotation: a new secret; the old one no longer verifies what the new key signs.
    let rotated = app
        .call(
            "POST",
            &format!("/webhooks/v1/applications/{id}/rotate-secret"),
            &token,
            None,
        )
        .await;
    assert_eq!(rotated.status, 200);
    let new_secret = rotated.body["secret"].as_str().unwrap();
    assert_ne!(new_secret, secret);
    let new_key = app_private_key(&app, "acme", id).await;
    let signature = new_key.sign_base64(body.as_bytes()).unwrap();
    assert_eq!(
        reference_verify("node", new_secret, &signature, body.as_bytes()).0,
        0
    );
    assert_eq!(
        reference_verify("node", secret, &signature, body.as_bytes()).0,
        1
    );
}

async fn key_size_follows_configuration(backend: Backend) {
    let mut config = Config::default();
    config.keys.rsa_bits = 3072;
    let app = spawn_app_with(backend, config).await;
    app.tenant("acme").await;
    let (_, token) = app.client_token("acme", ALL_SCOPES, SEED_PERMISSIONS).await;
    let id = app.application(&token, "big").await;
    assert_eq!(app_private_key(&app, "acme", &id).await.bits(), 3072);
    // Private keys are sealed at rest.
    let stored = app
        .store()
        .application(&TenantName::parse("acme").unwrap(), id.parse().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert!(PrivateKey::from_pkcs8_der(&stored.sealed_private_key).is_err());
}

async fn application_lifecycle(backend: Backend) {
    let app = spawn_app(backend).await;
    app.tenant("acme").await;
    let (_, token) = app.client_token("acme", ALL_SCOPES, SEED_PERMISSIONS).await;
    let id = app.application(&token, "first").await;
    let path = format!("/webhooks/v1/applications/{id}");
    let got = app.call("GET", &path, &token, None).await;
    assert_eq!(got.body["name"], "first");

    // PATCH renames; read-only fields may come back unchanged, not changed.
    let mut echoed = got.body.clone();
    echoed["name"] = json!("renamed");
    let a = app.json("PATCH", &path, &token, &echoed).await;
    assert_eq!(a.status, 200, "{}", a.text);
    assert_eq!(a.body["name"], "renamed");
    assert_eq!(a.body["secret"], got.body["secret"]);
    let a = app
        .json(
            "PATCH",
            &path,
            &token,
            &json!({"_id": "00000000-0000-0000-0000-000000000000"}),
        )
        .await;
    assert_problem(&a, 400, "/_id", "read-only");
    let a = app.json("PATCH", &path, &token, &json!({"name": ""})).await;
    assert_problem(&a, 400, "/name", "1 to 200 characters");
    let a = app
        .json("PATCH", &path, &token, &json!({"name": null}))
        .await;
    assert_problem(&a, 400, "/name", "'name' is required");

    // Bad bodies for create.
    let apps = "/webhooks/v1/applications";
    assert_problem(
        &app.json(
            "POST",
            apps,
            &token,
            &json!({"_kind": "Webhook", "name": "x"}),
        )
        .await,
        400,
        "/_kind",
        "must be 'Application'",
    );
    assert_problem(
        &app.json("POST", apps, &token, &json!({"name": 5})).await,
        400,
        "/name",
        "must be a string",
    );
    assert_problem(
        &app.json("POST", apps, &token, &json!([1])).await,
        400,
        "",
        "expected an Application object",
    );
    assert_problem(
        &app.call("POST", apps, &token, Some("")).await,
        400,
        "",
        "empty",
    );
    let r = app
        .http
        .post(format!("{}{apps}", app.url))
        .bearer_auth(&token)
        .header("content-type", "text/plain")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 415);

    // Deleting an application deletes its webhooks.
    let hook = app.webhook(&token, &id).await;
    assert_eq!(app.call("DELETE", &path, &token, None).await.status, 204);
    assert_eq!(app.call("GET", &path, &token, None).await.status, 404);
    assert_eq!(
        app.call("GET", &format!("{path}/webhooks/{hook}"), &token, None)
            .await
            .status,
        404
    );
    assert_eq!(app.call("DELETE", &path, &token, None).await.status, 404);
    assert_eq!(
        app.call("GET", "/webhooks/v1/applications/not-a-uuid", &token, None)
            .await
            .status,
        404
    );
}

async fn webhook_lifecycle(backend: Backend) {
    let app = spawn_app(backend).await;
    app.tenant("acme").await;
    let (_, token) = app.client_token("acme", ALL_SCOPES, SEED_PERMISSIONS).await;
    let app_id = app.application(&token, "a").await;
    let hooks = format!("/webhooks/v1/applications/{app_id}/webhooks");
    let body = json!({"_kind": "Webhook", "url": "https://example.com/in", "filters": [{"eventType": "crjob:updated"}],
        "customHeaders": [{"name": "X-Api-Key", "value": "s3cret"}]});
    let created = app.json("POST", &hooks, &token, &body).await;
    assert_eq!(created.status, 201, "{}", created.text);
    let id = created.body["_id"].as_str().unwrap();
    assert_eq!(created.body["applicationId"], app_id);
    assert_eq!(
        created.body["customHeaders"],
        json!([{"name": "X-Api-Key", "value": "s3cret"}])
    );
    let path = format!("{hooks}/{id}");

    // Custom header values are sealed at rest.
    let stored = app
        .store()
        .webhook(
            &TenantName::parse("acme").unwrap(),
            app_id.parse().unwrap(),
            id.parse().unwrap(),
        )
        .await
        .unwrap()
        .unwrap();
    assert!(!String::from_utf8_lossy(&stored.sealed_custom_headers).contains("s3cret"));

    // PUT of what GET returned, with a change; PUT that changes a read-only field.
    let mut whole = app.call("GET", &path, &token, None).await.body;
    whole["url"] = json!("https://example.com/new");
    let a = app.json("PUT", &path, &token, &whole).await;
    assert_eq!(
        (a.status, a.body["url"].as_str()),
        (200, Some("https://example.com/new")),
        "{}",
        a.text
    );
    whole["status"] = json!("error");
    assert_problem(
        &app.json("PUT", &path, &token, &whole).await,
        400,
        "/status",
        "read-only",
    );
    assert_problem(
        &app.json("PUT", &path, &token, &json!({"url": "https://example.com"}))
            .await,
        400,
        "/filters",
        "required",
    );

    // PATCH merges: replacing filters, removing headers with null.
    let a = app.json("PATCH", &path, &token, &json!({"filters": [{"eventType": "crmatch:updated", "condition": "data.statusinfo eq '1234'"}], "customHeaders": null})).await;
    assert_eq!(a.status, 200, "{}", a.text);
    assert_eq!(
        a.body["filters"],
        json!([{"eventType": "crmatch:updated", "condition": "data.statusinfo eq '1234'"}])
    );
    assert_eq!(a.body["customHeaders"], json!([]));
    assert_eq!(a.body["url"], "https://example.com/new");
    assert_problem(
        &app.json(
            "PATCH",
            &path,
            &token,
            &json!({"filters": [{"eventType": "crmatch:moved"}]}),
        )
        .await,
        400,
        "/filters/0/eventType",
        "unknown action 'moved'",
    );

    // Enable / disable.
    let a = app
        .call("POST", &format!("{path}/disable"), &token, None)
        .await;
    assert_eq!(a.body["status"], "disabled");
    let a = app
        .call("POST", &format!("{path}/enable/"), &token, None)
        .await;
    assert_eq!(a.body["status"], "enabled");

    assert_eq!(app.call("DELETE", &path, &token, None).await.status, 204);
    assert_eq!(app.call("GET", &path, &token, None).await.status, 404);
    assert_eq!(
        app.call("POST", &format!("{path}/enable"), &token, None)
            .await
            .status,
        404
    );
}

async fn validation_reports_every_problem(backend: Backend) {
    let mut config = Config::default();
    config.limits.max_filters_per_webhook = 2;
    let app = spawn_app_with(backend, config).await;
    app.tenant("acme").await;
    let (_, token) = app.client_token("acme", ALL_SCOPES, SEED_PERMISSIONS).await;
    let app_id = app.application(&token, "a").await;
    let hooks = format!("/webhooks/v1/applications/{app_id}/webhooks");
    let bad = json!({
        "_kind": "Application", "url": "ftp://example.com", "extra": true,
        "filters": [{"eventType": "candidate:updated"}, {"eventType": "cremployee:updated", "condition": "data.tostatusnode", "x": 1}],
        "customHeaders": [{"name": "content-TYPE", "value": "a"}, {"name": "X-A", "value": "1"}, {"name": "x-a", "value": "2"},
            {"name": "Transfer-Encoding", "value": "chunked"}, {"name": "X-B", "value": "a\nb"}],
    });
    let a = app.json("POST", &hooks, &token, &bad).await;
    assert_problem(&a, 400, "/extra", "unknown field 'extra'");
    assert_problem(&a, 400, "/_kind", "must be 'Webhook'");
    assert_problem(&a, 400, "/url", "http or https");
    assert_problem(
        &a,
        400,
        "/filters/0/eventType",
        "valid entities: cremployee, cruser, crcompany, crvacancy, crjob, crmatch, crpublication, crcampaign",
    );
    assert_problem(&a, 400, "/filters/1/condition", "at column 18");
    assert_problem(&a, 400, "/filters/1/x", "unknown field 'x'");
    assert_problem(&a, 400, "/customHeaders/0/name", "reserved");
    assert_problem(&a, 400, "/customHeaders/2/name", "given twice");
    assert_problem(&a, 400, "/customHeaders/3/name", "reserved");
    assert_problem(&a, 400, "/customHeaders/4/value", "without line breaks");
    assert_eq!(a.body["errors"].as_array().unwrap().len(), 10, "{}", a.text);

    for (url, says) in [
        ("/relative", "absolute"),
        ("http://127.0.0.1:8080/x", "loopback"),
        ("http://localhost/x", "loopback"),
        ("http://10.0.0.5/x", "private"),
        ("http://169.254.169.254/latest/meta-data", "metadata"),
        ("http://[::1]/x", "loopback"),
        ("https://user:pw@example.com/x", "credentials"),
    ] {
        let a = app
            .json(
                "POST",
                &hooks,
                &token,
                &json!({"url": url, "filters": [{"eventType": "crjob:created"}]}),
            )
            .await;
        assert_problem(&a, 400, "/url", says);
    }
    let three = json!({"url": "https://e.com", "filters": [{"eventType": "crjob:created"}, {"eventType": "crjob:updated"}, {"eventType": "crjob:deleted"}]});
    assert_problem(
        &app.json("POST", &hooks, &token, &three).await,
        400,
        "/filters",
        "at most 2 filters",
    );
    assert_problem(
        &app.json(
            "POST",
            &hooks,
            &token,
            &json!({"url": "https://e.com", "filters": []}),
        )
        .await,
        400,
        "/filters",
        "at least one filter",
    );
    let meta = json!({"url": "https://e.com", "filters": [{"eventType": "cremployee:updated", "condition": "metadata.changedFields has any of ['x']"}]});
    assert_problem(
        &app.json("POST", &hooks, &token, &meta).await,
        400,
        "/filters/0/condition",
        "metadata.paths",
    );

    // An unlisted data path is accepted, with a warning that says where.
    let warn = json!({"url": "https://e.com", "filters": [{"eventType": "cremployee:updated", "condition": "data.shoesize eq 44"}]});
    let a = app.json("POST", &hooks, &token, &warn).await;
    assert_eq!(a.status, 201, "{}", a.text);
    let w = &a.body["warnings"][0];
    assert_eq!(w["path"], "/filters/0/condition");
    assert!(
        w["message"].as_str().unwrap().contains("data.shoesize"),
        "{w}"
    );
    // Flags compare with true/false.
    let flag = json!({"url": "https://e.com", "filters": [{"eventType": "cremployee:updated", "condition": "data.hascar eq true"}]});
    let a = app.json("POST", &hooks, &token, &flag).await;
    assert!(
        a.status == 201 && a.body.get("warnings").is_none(),
        "{}",
        a.text
    );
}

async fn private_targets_when_allowed(backend: Backend) {
    let mut config = Config::default();
    config.delivery.allow_private_targets = true;
    let app = spawn_app_with(backend, config).await;
    app.tenant("acme").await;
    let (_, token) = app.client_token("acme", ALL_SCOPES, SEED_PERMISSIONS).await;
    let app_id = app.application(&token, "a").await;
    let a = app.json("POST", &format!("/webhooks/v1/applications/{app_id}/webhooks"), &token,
        &json!({"url": "http://127.0.0.1:9999/in", "filters": [{"eventType": "crjob:created"}]})).await;
    assert_eq!(a.status, 201, "{}", a.text);
}

async fn pagination_and_fields(backend: Backend) {
    let app = spawn_app(backend).await;
    app.tenant("acme").await;
    let (_, token) = app.client_token("acme", ALL_SCOPES, SEED_PERMISSIONS).await;
    let mut ids = Vec::new();
    for i in 0..5 {
        ids.push(app.application(&token, &format!("app {i}")).await);
    }
    let mut seen = Vec::new();
    let mut cursor = String::new();
    let mut pages = 0;
    loop {
        let a = app
            .call(
                "GET",
                &format!("/webhooks/v1/applications?limit=2&cursor={cursor}&fields=name"),
                &token,
                None,
            )
            .await;
        assert_eq!(a.status, 200, "{}", a.text);
        assert_eq!(a.body["_kind"], "List");
        pages += 1;
        for item in a.body["items"].as_array().unwrap() {
            let keys: Vec<_> = item.as_object().unwrap().keys().cloned().collect();
            assert_eq!(keys, ["_kind", "_id", "name"]);
            seen.push(item["_id"].as_str().unwrap().to_owned());
        }
        match a.body["nextCursor"].as_str() {
            Some(c) => cursor = c.to_owned(),
            None => break,
        }
    }
    assert_eq!((pages, &seen), (3, &ids));
    let one = app
        .call(
            "GET",
            &format!("/webhooks/v1/applications/{}?fields=name,secret", ids[0]),
            &token,
            None,
        )
        .await;
    assert_eq!(one.body.as_object().unwrap().len(), 4);
    assert_problem(
        &app.call("GET", "/webhooks/v1/applications?limit=0", &token, None)
            .await,
        400,
        "?limit",
        "1 to 500",
    );
    assert_problem(
        &app.call("GET", "/webhooks/v1/applications?limit=501", &token, None)
            .await,
        400,
        "?limit",
        "1 to 500",
    );
    assert_problem(
        &app.call(
            "GET",
            "/webhooks/v1/applications?cursor=bogus",
            &token,
            None,
        )
        .await,
        400,
        "?cursor",
        "nextCursor",
    );
    assert_problem(
        &app.call("GET", "/webhooks/v1/applications?fields=nme", &token, None)
            .await,
        400,
        "?fields",
        "valid fields are",
    );
    let all = app
        .call("GET", "/webhooks/v1/applications", &token, None)
        .await;
    assert_eq!(
        (
            all.body["items"].as_array().unwrap().len(),
            &all.body["nextCursor"]
        ),
        (5, &Value::Null)
    );
}

async fn fair_usage_limits_webhooks_per_client(backend: Backend) {
    let mut config = Config::default();
    config.limits.max_webhooks_per_client = 2;
    let app = spawn_app_with(backend, config).await;
    app.tenant("acme").await;
    let (_, token) = app.client_token("acme", ALL_SCOPES, SEED_PERMISSIONS).await;
    let (_, other) = app.client_token("acme", ALL_SCOPES, SEED_PERMISSIONS).await;
    let app_id = app.application(&token, "a").await;
    app.webhook(&token, &app_id).await;
    app.webhook(&token, &app_id).await;
    let body =
        json!({"url": "https://example.com/hook", "filters": [{"eventType": "crmatch:created"}]});
    let a = app
        .json(
            "POST",
            &format!("/webhooks/v1/applications/{app_id}/webhooks"),
            &token,
            &body,
        )
        .await;
    assert_problem(&a, 429, "", "already has 2 webhooks");
    assert_eq!(a.body["limit"], 2);
    // The limit is per client: another client of the tenant may still create (in an
    // application it may update: its own).
    let its_own = app.application(&other, "b").await;
    app.webhook(&other, &its_own).await;
}

/// Webhooks created by four clients at once while changes are published: every one is created
/// (on SQLite a transaction that read before writing used to fail at once with "database is
/// locked", a 500, instead of waiting for the writer; schemathesis found it).
async fn concurrent_writes_never_answer_500(backend: Backend) {
    let app = std::sync::Arc::new(spawn_app(backend).await);
    app.tenant("acme").await;
    let (_, owner) = app.client_token("acme", ALL_SCOPES, SEED_PERMISSIONS).await;
    let app_id = app.application(&owner, "a").await;
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..4 {
        // Adding webhooks to the owner's application needs the right to update it.
        let perms = "create=on,read=all,update=all,delete=owner";
        let (_, token) = app.client_token("acme", ALL_SCOPES, perms).await;
        let (app, app_id) = (app.clone(), app_id.clone());
        tasks.spawn(async move {
            let body = json!({"url": "https://example.com/hook",
                "filters": [{"eventType": "crjob:created"}]});
            let path = format!("/webhooks/v1/applications/{app_id}/webhooks");
            let mut statuses = Vec::new();
            for _ in 0..15 {
                statuses.push(app.json("POST", &path, &token, &body).await.status);
            }
            statuses
        });
    }
    let (_, publisher) = app
        .client_token("acme", "urn:cx/webhooks:events:publish", SEED_PERMISSIONS)
        .await;
    for p in 0..2 {
        let (app, token) = (app.clone(), publisher.clone());
        tasks.spawn(async move {
            let mut statuses = Vec::new();
            for b in 0..15 {
                let body =
                    json!([{"type": "crjob:created", "entityId": format!("{p}-{b}"), "data": {}}]);
                let a = app
                    .json("POST", "/webhooks/v1/changes", &token, &body)
                    .await;
                statuses.push(a.status);
            }
            statuses
        });
    }
    let mut all = Vec::new();
    while let Some(statuses) = tasks.join_next().await {
        all.extend(statuses.unwrap());
    }
    assert_eq!(all.iter().filter(|s| **s == 201).count(), 60, "{all:?}");
    assert_eq!(all.iter().filter(|s| **s == 202).count(), 30, "{all:?}");
    let listed = app
        .call(
            "GET",
            &format!("/webhooks/v1/applications/{app_id}/webhooks?limit=100"),
            &owner,
            None,
        )
        .await;
    assert_eq!(
        listed.body["items"].as_array().map(Vec::len),
        Some(60),
        "{}",
        listed.text
    );
}

async fn event_type_catalog(backend: Backend) {
    let app = spawn_app(backend).await;
    app.tenant("acme").await;
    let (_, token) = app
        .client_token(
            "acme",
            "urn:cx/webhooks:data/webhooks:manage",
            SEED_PERMISSIONS,
        )
        .await;
    let a = app
        .call("GET", "/webhooks/v1/event-types", &token, None)
        .await;
    assert_eq!(a.status, 200, "{}", a.text);
    assert_eq!(a.body["actions"], json!(["created", "updated", "deleted"]));
    let entities = a.body["entities"].as_array().unwrap();
    let names: Vec<_> = entities
        .iter()
        .map(|e| e["entity"].as_str().unwrap())
        .collect();
    for e in [
        "cremployee",
        "cruser",
        "crcompany",
        "crvacancy",
        "crjob",
        "crmatch",
        "crpublication",
        "crcampaign",
    ] {
        assert!(names.contains(&e), "{e}");
    }
    let candidate = entities
        .iter()
        .find(|e| e["entity"] == "cremployee")
        .unwrap();
    assert_eq!(
        candidate["eventTypes"],
        json!([
            "cremployee:created",
            "cremployee:updated",
            "cremployee:deleted"
        ])
    );
    let hascar = candidate["fields"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["path"] == "hascar")
        .unwrap();
    assert_eq!(
        (hascar["type"].as_str(), hascar["label"].as_str()),
        (Some("boolean"), Some("Owns a car"))
    );
    let fields: usize = entities
        .iter()
        .map(|e| e["fields"].as_array().unwrap().len())
        .sum();
    assert!(fields >= 360, "{fields}");
    let (_, acl_only) = app
        .client_token("acme", "urn:cx/cx5Acl:data:manage", SEED_PERMISSIONS)
        .await;
    assert_eq!(
        app.call("GET", "/webhooks/v1/event-types", &acl_only, None)
            .await
            .status,
        403
    );
}

async fn openapi_documents_every_route(backend: Backend) {
    let app = spawn_app(backend).await;
    let doc: Value = app
        .http
        .get(format!("{}/openapi.json", app.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
    let mut documented = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            documented.push(format!("{} {path}", method.to_uppercase()));
        }
    }
    // Every route of SPEC §2-§3 that exists so far is documented …
    let expected = [
        "POST /auth/realms/{tenant}/protocol/openid-connect/token",
        "GET /auth/realms/{tenant}/protocol/openid-connect/certs",
        "GET /auth/realms/{tenant}/.well-known/openid-configuration",
        "GET /auth/realms/{tenant}/protocol/openid-connect/userinfo",
        "POST /auth/realms/{tenant}/protocol/openid-connect/userinfo",
        "GET /acl/v1/me",
        "POST /webhooks/v1/applications",
        "GET /webhooks/v1/applications",
        "GET /webhooks/v1/applications/{appId}",
        "PATCH /webhooks/v1/applications/{appId}",
        "DELETE /webhooks/v1/applications/{appId}",
        "POST /webhooks/v1/applications/{appId}/rotate-secret",
        "POST /webhooks/v1/applications/{appId}/rotate-standard-secret",
        "GET /webhooks/v1/applications/{appId}/jwks",
        "POST /webhooks/v1/applications/{appId}/webhooks",
        "GET /webhooks/v1/applications/{appId}/webhooks",
        "GET /webhooks/v1/applications/{appId}/webhooks/{webhookId}",
        "PUT /webhooks/v1/applications/{appId}/webhooks/{webhookId}",
        "PATCH /webhooks/v1/applications/{appId}/webhooks/{webhookId}",
        "DELETE /webhooks/v1/applications/{appId}/webhooks/{webhookId}",
        "POST /webhooks/v1/applications/{appId}/webhooks/{webhookId}/enable",
        "POST /webhooks/v1/applications/{appId}/webhooks/{webhookId}/disable",
        "GET /webhooks/v1/event-types",
        "POST /webhooks/v1/changes",
        "GET /webhooks/v1/applications/{appId}/events",
        "GET /webhooks/v1/applications/{appId}/events/{eventId}",
        "POST /webhooks/v1/applications/{appId}/events/{eventId}/redeliver",
        "POST /webhooks/v1/applications/{appId}/webhooks/{webhookId}/test",
        "POST /webhooks/v1/applications/{appId}/webhooks/{webhookId}/recover",
        "GET /data/v1/crattachment/{attachmentId}/content",
        "GET /webhooks/v1/additional-fields",
        "POST /webhooks/v1/additional-fields",
        "GET /webhooks/v1/additional-fields/{entity}/{key}",
        "DELETE /webhooks/v1/additional-fields/{entity}/{key}",
        "GET /webhooks/v1/applications/{appId}/webhooks/{webhookId}/recoveries",
        "GET /webhooks/v1/applications/{appId}/webhooks/{webhookId}/recoveries/{recoveryId}",
        "POST /data/v1/{entity}",
        "GET /data/v1/{entity}",
        "GET /data/v1/{entity}/{id}",
        "PUT /data/v1/{entity}/{id}",
        "PATCH /data/v1/{entity}/{id}",
        "DELETE /data/v1/{entity}/{id}",
        "GET /data/v1/{entity}/deleted",
        "POST /webhooks/v1/applications/{appId}/webhooks/backtest",
        "POST /webhooks/v1/applications/{appId}/webhooks/{webhookId}/backtest",
        "GET /webhooks/v1/applications/{appId}/webhooks/{webhookId}/feed",
        "GET /webhooks/v1/public/{tenant}/applications/{appId}/jwks",
        "GET /healthz",
        "GET /readyz",
        "GET /metrics",
    ];
    for op in expected {
        assert!(
            documented.iter().any(|d| d == op),
            "{op} is not in /openapi.json"
        );
    }
    // … and every documented operation is routed (not the fallback) with its errors described.
    for op in &documented {
        let (method, path) = op.split_once(' ').unwrap();
        let concrete = path
            .replace("{tenant}", "acme")
            .replace("{appId}", "x")
            .replace("{webhookId}", "y")
            .replace("{eventId}", "z")
            .replace("{recoveryId}", "r")
            .replace("{key}", "k")
            .replace("{attachmentId}", "1")
            .replace("{entity}", "crjob")
            .replace("{id}", "1");
        let r = app
            .http
            .request(method.parse().unwrap(), format!("{}{concrete}", app.url))
            .send()
            .await
            .unwrap();
        let text = r.text().await.unwrap();
        assert!(
            !text.contains("there is no route"),
            "{op} is documented but not routed"
        );
        let responses = &doc["paths"][path][method.to_lowercase()]["responses"];
        // Every response described (OpenAPI requires it; generators refuse a document without).
        for (status, response) in responses.as_object().unwrap() {
            assert!(
                response["description"].is_string(),
                "{op} {status} has no description"
            );
        }
        if ["/healthz", "/readyz", "/metrics"].contains(&path) {
            continue; // no input, so no 4xx
        }
        assert!(
            responses
                .as_object()
                .unwrap()
                .keys()
                .any(|k| k.starts_with('4')),
            "{op} documents no error"
        );
    }
    assert_eq!(documented.len(), expected.len(), "{documented:?}");
}

cxhooks_store::both_backends!(
    application_secret_verifies_with_the_seed_snippets,
    key_size_follows_configuration,
    application_lifecycle,
    webhook_lifecycle,
    validation_reports_every_problem,
    private_targets_when_allowed,
    pagination_and_fields,
    fair_usage_limits_webhooks_per_client,
    concurrent_writes_never_answer_500,
    event_type_catalog,
    openapi_documents_every_route,
);
