//! Guessing throttled: console sign-in backs off per account and per address, and the token
//! endpoint counts each client's requests against the API's per-client rate.

use crate::console::{Browser, PASSWORD, Page, operator};
use crate::harness::*;
use cxhooks_server::Config;
use cxhooks_store::testing::Backend;
use serde_json::Value;
use std::time::Duration;

const WRONG: &str = "not the password";
const OPS: &str = "ops@acme.example";

/// A server whose first sign-in back-off is a minute, so that no back-off ends while a test
/// runs: the test moves `state.clock` past it instead.
async fn console_app(backend: Backend) -> TestApp {
    let mut cfg = Config::default();
    cfg.limits.sign_in_backoff = Duration::from_secs(60);
    let app = spawn_app_with(backend, cfg).await;
    app.tenant("acme").await;
    operator(&app, "acme").await;
    app
}

fn assert_wrong(page: &Page, what: &str) {
    assert_eq!(page.status, 401, "{what}: {}", page.text);
    assert!(
        page.text.contains("Tenant, e-mail or password is wrong."),
        "{what}: {}",
        page.text
    );
}

/// Checks a throttled answer and returns its `Retry-After`.
fn assert_throttled(page: &Page, whose: &str, what: &str) -> u64 {
    assert_eq!(page.status, 429, "{what}: {}", page.text);
    let says = format!("Too many failed sign-ins {whose}: try again in");
    assert!(page.text.contains(&says), "{what}: {}", page.text);
    page.headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap()
}

async fn wrong_passwords_back_off_per_account(backend: Backend) {
    let app = console_app(backend).await;
    let mut b = Browser::new(&app.url);

    // 30 wrong passwords in a row: five are checked, then each attempt waits out the back-off.
    for i in 1..=30 {
        let page = b.sign_in("acme", OPS, WRONG).await;
        if i <= 5 {
            assert_wrong(&page, &format!("attempt {i}"));
        } else {
            let retry = assert_throttled(&page, "for this account", &format!("attempt {i}"));
            assert!((1..=60).contains(&retry), "attempt {i}: {retry}");
        }
    }
    // During the back-off the right password is refused too, unchecked.
    let page = b.sign_in("acme", OPS, PASSWORD).await;
    assert_throttled(&page, "for this account", "the right password");
    assert!(b.cookie("cxhooks_session").is_none());

    // An account nobody has gets the same answers: they do not tell which accounts exist. Its
    // e-mail is counted lower-cased, as sign-in compares it.
    for i in 1..=6 {
        let email = if i % 2 == 0 {
            "nobody@acme.example"
        } else {
            "NoBody@acme.example"
        };
        let page = b.sign_in("acme", email, WRONG).await;
        if i <= 5 {
            assert_wrong(&page, &format!("nobody, attempt {i}"));
        } else {
            assert_throttled(&page, "for this account", &format!("nobody, attempt {i}"));
        }
    }

    // Once the minute has passed one more guess is checked, and the next wait is twice as long.
    app.state.clock.advance(Duration::from_secs(60));
    assert_wrong(&b.sign_in("acme", OPS, WRONG).await, "after the back-off");
    let page = b.sign_in("acme", OPS, PASSWORD).await;
    let retry = assert_throttled(&page, "for this account", "the second back-off");
    assert!((61..=120).contains(&retry), "{retry}");

    // After it the right password signs in, and the account starts afresh.
    app.state.clock.advance(Duration::from_secs(120));
    let page = b.sign_in("acme", OPS, PASSWORD).await;
    assert_eq!(page.status, 303, "{}", page.text);
    let mut b = Browser::new(&app.url);
    for i in 1..=5 {
        assert_wrong(
            &b.sign_in("acme", OPS, WRONG).await,
            &format!("afresh, attempt {i}"),
        );
    }
    assert_throttled(
        &b.sign_in("acme", OPS, WRONG).await,
        "for this account",
        "afresh",
    );
}

async fn many_accounts_from_one_address_back_off(backend: Backend) {
    let app = console_app(backend).await;
    let mut b = Browser::new(&app.url);

    // 20 failures from 127.0.0.1, each for another account: none reaches its own limit.
    for i in 1..=20 {
        let page = b
            .sign_in("acme", &format!("guess{i}@acme.example"), WRONG)
            .await;
        assert_wrong(&page, &format!("guess {i}"));
    }
    // Then every attempt from the address waits, for any account, with any password.
    let page = b.sign_in("acme", OPS, PASSWORD).await;
    let retry = assert_throttled(&page, "from this address", "the right password");
    assert!((1..=60).contains(&retry), "{retry}");
    let page = b.sign_in("acme", "fresh@acme.example", WRONG).await;
    assert_throttled(&page, "from this address", "a fresh account");

    // After the back-off the operator signs in. A success takes back only its own count: the
    // address keeps its twenty failures, so the next one doubles the back-off.
    app.state.clock.advance(Duration::from_secs(60));
    assert_eq!(b.sign_in("acme", OPS, PASSWORD).await.status, 303);
    let mut b = Browser::new(&app.url);
    assert_wrong(
        &b.sign_in("acme", "guess21@acme.example", WRONG).await,
        "guess 21",
    );
    let page = b.sign_in("acme", "guess22@acme.example", WRONG).await;
    let retry = assert_throttled(&page, "from this address", "guess 22");
    assert!((61..=120).contains(&retry), "{retry}");
}

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

cxhooks_store::both_backends!(
    wrong_passwords_back_off_per_account,
    many_accounts_from_one_address_back_off,
    token_requests_are_limited_per_client,
);
