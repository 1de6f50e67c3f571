//! Guessing throttled: console sign-in backs off per account and per address, and the token
//! endpoint counts each client's requests against the API's per-client rate.

use crate::harness::*;
use cxhooks_server::Config;
use cxhooks_store::testing::Backend;
use serde_json::Value;

/// Asks for a token with HTTP Basic; returns status, `Retry-After` and body.
async fn ask_token(app: &TestApp, id: &str, secret: &str) -> (u16, Option<u64>, Value) {
    let r = app
        .http
        .post(app.token_url("acme"))
        .basic_auth(id, Some(secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    let retry = r
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().parse().unwrap());
    (r.status().as_u16(), retry, r.json().await.unwrap())
}

async fn token_requests_are_limited_per_client(backend: Backend) {
    let mut cfg = Config::default();
    cfg.limits.api_requests_per_client_per_s = 1;
    let app = spawn_app_with(backend, cfg).await;
    app.tenant("acme").await;
    let busy = app.client("acme", ALL_SCOPES, SEED_PERMISSIONS).await;
    let quiet = app.client("acme", ALL_SCOPES, SEED_PERMISSIONS).await;

    // The one request a second the limit allows is spent on a wrong secret: it counts too.
    let (status, _, body) = ask_token(&app, &busy.id, "not the secret").await;
    assert_eq!(status, 401, "{body}");
    // Past the limit the secret is not checked: the right one is refused as well.
    let (status, retry, body) = ask_token(&app, &busy.id, &busy.secret).await;
    assert_eq!(status, 429, "{body}");
    assert_eq!(body["error"], "temporarily_unavailable", "{body}");
    let description = body["error_description"].as_str().unwrap();
    assert!(
        description.contains("limits.api_requests_per_client_per_s"),
        "{description}"
    );
    let retry = retry.expect("a 429 says when to ask again");
    assert_eq!(retry, 1, "one request a second refills within a second");
    // Client ids nobody has are counted the same way.
    assert_eq!(ask_token(&app, "made-up", "x").await.0, 401);
    assert_eq!(ask_token(&app, "made-up", "x").await.0, 429);

    // Another client has its own bucket, and asking for a token does not take from its API
    // budget (one request a second here).
    let token = app.token(&quiet).await;
    let a = app
        .call("GET", "/webhooks/v1/applications", &token, None)
        .await;
    assert_eq!(a.status, 200, "{}", a.text);

    tokio::time::sleep(std::time::Duration::from_secs(retry)).await;
    let (status, _, body) = ask_token(&app, &busy.id, &busy.secret).await;
    assert_eq!(
        status, 200,
        "after Retry-After the client gets its token: {body}"
    );
}

cxhooks_store::both_backends!(token_requests_are_limited_per_client);
