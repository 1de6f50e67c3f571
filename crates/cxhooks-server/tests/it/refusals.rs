//! What the service refuses at its boundary, and how it says so: bodies with a key given twice,
//! bodies not sent as JSON, request heads hyper will not read, tokens without the scope, and
//! changes for another tenant. Every refusal is problem+json.

use crate::delivery::{PUBLISH, candidate_change};
use crate::harness::*;
use cxhooks_store::testing::Backend;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Sends `body` as `content_type` (none if `None`).
async fn send(
    app: &TestApp,
    method: &str,
    path: &str,
    token: &str,
    content_type: Option<&str>,
    body: &str,
) -> Answer {
    let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let mut r = app
        .http
        .request(method, format!("{}{path}", app.url))
        .bearer_auth(token)
        .body(body.to_owned());
    if let Some(ct) = content_type {
        r = r.header("content-type", ct);
    }
    let r = r.send().await.unwrap();
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    let text = r.text().await.unwrap();
    let body = serde_json::from_str(&text).unwrap_or(Value::Null);
    Answer {
        status,
        body,
        text,
        headers,
    }
}

/// A tenant `acme` with a token for everything, an application and a webhook, and a
/// publisher's token.
async fn acme(app: &TestApp) -> (String, String, String, String) {
    app.tenant("acme").await;
    let (_, token) = app
        .client_token(
            "acme",
            ALL_SCOPES,
            "create=on,read=all,update=all,delete=all",
        )
        .await;
    let (_, publisher) = app.client_token("acme", PUBLISH, "").await;
    let app_id = app.application(&token, "a").await;
    let hook_id = app.webhook(&token, &app_id).await;
    (token, publisher, app_id, hook_id)
}

async fn duplicate_keys_are_refused_on_every_json_route(backend: Backend) {
    let app = spawn_app(backend).await;
    let (token, publisher, app_id, hook_id) = acme(&app).await;
    let apps = "/webhooks/v1/applications".to_owned();
    let application = format!("{apps}/{app_id}");
    let hooks = format!("{application}/webhooks");
    let hook = format!("{hooks}/{hook_id}");
    let filters = r#"[{"eventType": "crmatch:created"}]"#;
    let cases = [
        (
            "POST",
            &apps,
            &token,
            r#"{"name": "a", "name": "b"}"#.to_owned(),
            "/name",
        ),
        (
            "PATCH",
            &application,
            &token,
            r#"{"name": "a", "name": "b"}"#.to_owned(),
            "/name",
        ),
        (
            "POST",
            &hooks,
            &token,
            format!(
                r#"{{"url": "https://a.example/", "url": "https://b.example/", "filters": {filters}}}"#
            ),
            "/url",
        ),
        (
            "PUT",
            &hook,
            &token,
            r#"{"url": "https://a.example/", "filters": [{"eventType": "crmatch:created", "eventType": "crjob:created"}]}"#
                .to_owned(),
            "/filters/0/eventType",
        ),
        (
            "PATCH",
            &hook,
            &token,
            r#"{"url": "https://a.example/", "url": "https://b.example/"}"#.to_owned(),
            "/url",
        ),
        (
            "POST",
            &"/webhooks/v1/changes".to_owned(),
            &publisher,
            r#"[{"type": "cremployee:updated", "entityId": "1", "data": {}},
                {"type": "cremployee:updated", "entityId": "2", "entityId": "3", "data": {}}]"#
                .to_owned(),
            "/1/entityId",
        ),
        (
            "POST",
            &"/data/v1/cremployee".to_owned(),
            &token,
            r#"{"touser": {"lastname": "A", "lastname": "B"}}"#.to_owned(),
            "/touser/lastname",
        ),
    ];
    for (method, path, token, body, pointer) in &cases {
        let a = app.call(method, path, token, Some(body)).await;
        assert_problem(&a, 400, pointer, "given twice");
        assert!(
            a.body["detail"].as_str().unwrap().contains(pointer),
            "{method} {path}: {}",
            a.text
        );
    }
    // Nothing was written: the application and the webhook are as they were.
    let a = app.call("GET", &application, &token, None).await;
    assert_eq!(a.body["name"], "a");
    let a = app.call("GET", &hook, &token, None).await;
    assert_eq!(a.body["url"], "https://example.com/hook");
    let a = app.call("GET", "/data/v1/cremployee", &token, None).await;
    assert_eq!(a.body["items"], json!([]), "{}", a.text);
}

async fn json_routes_read_only_the_documented_media_types(backend: Backend) {
    let app = spawn_app(backend).await;
    let (token, publisher, app_id, _) = acme(&app).await;
    let apps = "/webhooks/v1/applications";
    let application = format!("{apps}/{app_id}");
    let body = r#"{"name": "b"}"#;
    for ct in [
        None,
        Some("application/evil+json"),
        Some("text/plain"),
        Some("application/merge-patch+json"),
    ] {
        let a = send(&app, "POST", apps, &token, ct, body).await;
        assert_problem(&a, 415, "", "Content-Type: application/json");
    }
    for ct in [
        None,
        Some("application/evil+json"),
        Some("application/x-www-form-urlencoded"),
    ] {
        let a = send(&app, "PATCH", &application, &token, ct, body).await;
        assert_problem(&a, 415, "", "application/merge-patch+json");
        assert_eq!(
            a.headers["accept-patch"],
            "application/json, application/merge-patch+json"
        );
    }
    let change = candidate_change("1").to_string();
    for (path, token) in [
        ("/webhooks/v1/changes", &publisher),
        ("/data/v1/cremployee", &token),
    ] {
        let a = send(&app, "POST", path, token, None, &change).await;
        assert_problem(&a, 415, "", "without a Content-Type");
        let a = send(
            &app,
            "POST",
            path,
            token,
            Some("application/vnd.evil+json"),
            &change,
        )
        .await;
        assert_problem(&a, 415, "", "'application/vnd.evil+json'");
    }
    // Nothing was written by the refused requests; the documented types are read.
    let a = app.call("GET", "/data/v1/cremployee", &token, None).await;
    assert_eq!(a.body["items"], json!([]), "{}", a.text);
    let a = app.call("GET", &application, &token, None).await;
    assert_eq!(a.body["name"], "a");
    let a = send(
        &app,
        "PATCH",
        &application,
        &token,
        Some("application/merge-patch+json"),
        body,
    )
    .await;
    assert_eq!(
        (a.status, a.body["name"].as_str()),
        (200, Some("b")),
        "{}",
        a.text
    );
    let a = send(
        &app,
        "POST",
        apps,
        &token,
        Some("application/json; charset=utf-8"),
        body,
    )
    .await;
    assert_eq!(a.status, 201, "{}", a.text);

    // The OpenAPI document says so for every operation that takes a JSON body.
    let doc: Value = app.get("/openapi.json", None).await.json().await.unwrap();
    for (path, method) in [
        ("/webhooks/v1/applications", "post"),
        ("/webhooks/v1/applications/{appId}", "patch"),
        (
            "/webhooks/v1/applications/{appId}/webhooks/{webhookId}",
            "put",
        ),
        ("/webhooks/v1/changes", "post"),
        ("/data/v1/{entity}/{id}", "patch"),
    ] {
        let answer = &doc["paths"][path][method]["responses"]["415"];
        assert!(
            answer["content"]["application/problem+json"].is_object(),
            "{method} {path}: {answer}"
        );
    }
}

/// One raw HTTP/1.1 exchange: hyper's limits are past what an HTTP client library will send.
async fn raw(app: &TestApp, request: &[u8]) -> (u16, String, Value) {
    let addr = app.url.strip_prefix("http://").unwrap();
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.write_all(request).await.unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.unwrap();
    let answer = String::from_utf8(answer).unwrap();
    let (head, body) = answer.split_once("\r\n\r\n").unwrap();
    let status = head[9..12].parse().unwrap();
    (
        status,
        head.to_ascii_lowercase(),
        serde_json::from_str(body).unwrap_or(Value::Null),
    )
}

async fn request_heads_hyper_refuses_are_problems(backend: Backend) {
    let app = spawn_app(backend).await;
    let long = format!(
        "GET /webhooks/v1/applications?q={} HTTP/1.1\r\nhost: x\r\n\r\n",
        "a".repeat(70_000)
    );
    let (status, head, body) = raw(&app, long.as_bytes()).await;
    assert_eq!(status, 414, "{head}");
    assert!(
        head.contains("content-type: application/problem+json"),
        "{head}"
    );
    assert_eq!(body["status"], 414);
    assert_eq!(body["type"], "urn:cxhooks:problem:uri-too-long");
    assert!(
        body["detail"].as_str().unwrap().contains("64 KiB"),
        "{body}"
    );

    let mut many = "GET /healthz HTTP/1.1\r\nhost: x\r\n".to_owned();
    for i in 0..120 {
        many.push_str(&format!("x-h{i}: v\r\n"));
    }
    many.push_str("\r\n");
    let (status, head, body) = raw(&app, many.as_bytes()).await;
    assert_eq!(status, 431, "{head}");
    assert!(
        head.contains("content-type: application/problem+json"),
        "{head}"
    );
    assert!(
        head.contains(&format!("content-length: {}", body.to_string().len())),
        "{head}"
    );
    assert_eq!(body["status"], 431);
    assert_eq!(body["title"], "Request header fields too large");

    // The server is still there, and its own answers are untouched.
    let (status, _, _) = raw(
        &app,
        b"GET /healthz HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(status, 200);
}

async fn insufficient_scope_names_one_real_scope(backend: Backend) {
    let app = spawn_app(backend).await;
    app.tenant("acme").await;
    let (_, records_only) = app
        .client_token("acme", "urn:cx/cx5Wrapper:data:manage", SEED_PERMISSIONS)
        .await;
    for (path, named, other) in [
        (
            "/webhooks/v1/applications",
            "urn:cx/webhooks:data/applications:manage",
            "urn:cx/webhooks:data/webhooks:manage",
        ),
        (
            "/webhooks/v1/event-types",
            "urn:cx/webhooks:data/webhooks:manage",
            "urn:cx/webhooks:data:manage",
        ),
    ] {
        let a = app.call("GET", path, &records_only, None).await;
        assert_eq!(a.status, 403, "{}", a.text);
        // RFC 6750 §3: `scope` is a space-delimited list of scopes; every word must be one.
        let challenge = a.headers["www-authenticate"].to_str().unwrap();
        assert_eq!(
            challenge,
            format!("Bearer realm=\"cxhooks\", error=\"insufficient_scope\", scope=\"{named}\""),
        );
        assert_eq!(a.body["requiredScope"], named);
        let accepted: Vec<&str> = a.body["acceptedScopes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s.as_str().unwrap())
            .collect();
        assert_eq!(accepted[0], named);
        assert!(accepted.contains(&other), "{}", a.text);
        let detail = a.body["detail"].as_str().unwrap();
        assert!(detail.contains("either of the scopes"), "{detail}");
        assert!(detail.contains(&format!("{named} or ")), "{detail}");
    }
    // One needed scope: no list.
    let a = app.call("GET", "/acl/v1/me", &records_only, None).await;
    assert_eq!(a.body["requiredScope"], "urn:cx/cx5Acl:data:manage");
    assert!(a.body.get("acceptedScopes").is_none(), "{}", a.text);
}

async fn a_filter_with_an_unknown_entity_still_reports_its_condition(backend: Backend) {
    let app = spawn_app(backend).await;
    let (token, _, app_id, _) = acme(&app).await;
    let hooks = format!("/webhooks/v1/applications/{app_id}/webhooks");
    let body = json!({"url": "https://example.com/hook", "filters": [
        {"eventType": "crnothing:updated", "condition": "data.x eq"},
        {"eventType": "crnothing:updated", "condition": "metadata.bogus eq 1"},
        {"condition": "data.x eq 1 and"},
        {"eventType": "crnothing:updated", "condition": "data.anything eq 1"},
    ]});
    let a = app.json("POST", &hooks, &token, &body).await;
    assert_problem(&a, 400, "/filters/0/eventType", "crnothing");
    assert_problem(&a, 400, "/filters/0/condition", "column 10");
    assert_problem(&a, 400, "/filters/1/condition", "metadata.bogus");
    assert_problem(&a, 400, "/filters/2/eventType", "'eventType' is required");
    assert_problem(&a, 400, "/filters/2/condition", "column");
    // A condition that parses is not reported for the event type's sake.
    let errors = a.body["errors"].as_array().unwrap();
    assert!(
        !errors.iter().any(|e| e["path"] == "/filters/3/condition"),
        "{}",
        a.text
    );
}

async fn a_change_for_another_tenant_is_named(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_, publisher, _, _) = acme(&app).await;
    let mut change = candidate_change("7");
    change["tenant"] = json!("beta");
    let a = app
        .json("POST", "/webhooks/v1/changes", &publisher, &change)
        .await;
    assert_problem(
        &a,
        403,
        "",
        "the change (entityId '7') is for tenant 'beta', but this token was issued for tenant 'acme'",
    );
    let a = app
        .json(
            "POST",
            "/webhooks/v1/changes",
            &publisher,
            &json!([candidate_change("6"), change]),
        )
        .await;
    assert_problem(
        &a,
        403,
        "",
        "the change at /1 (entityId '7') is for tenant 'beta'",
    );
}

cxhooks_store::both_backends!(
    duplicate_keys_are_refused_on_every_json_route,
    json_routes_read_only_the_documented_media_types,
    insufficient_scope_names_one_real_scope,
    a_filter_with_an_unknown_entity_still_reports_its_condition,
    a_change_for_another_tenant_is_named,
);

/// Transport only: the store plays no part.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_heads_hyper_refuses_are_problem_json() {
    request_heads_hyper_refuses_are_problems(Backend::Sqlite).await;
}
