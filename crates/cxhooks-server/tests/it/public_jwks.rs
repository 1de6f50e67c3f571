//! Application keys for anyone (issue 29, item 3): an application that opts in serves its JWKS
//! without a token at its `jwksUrl`; the consumer crate's `RemoteKeys` fetches it, picks the
//! key by `Cx-Signature-Key-Id`, keeps it for the answer's `max-age`, and fetches again for a
//! key id it does not hold (a rotation).

use crate::delivery::{Setup, candidate_change, config, setup};
use crate::harness::assert_problem;
use crate::receiver::TestReceiver;
use cxhooks_consumer::{RemoteError, RemoteKeys, VerifyError};
use cxhooks_store::testing::Backend;
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

impl Setup {
    async fn patch_app(&self, body: Value) -> crate::harness::Answer {
        let path = format!("/webhooks/v1/applications/{}", self.app_id);
        self.app.json("PATCH", &path, &self.manager, &body).await
    }
}

/// A loopback server in front of `upstream` that counts the JWKS fetches it passes on.
async fn counting_proxy(upstream: String) -> (String, Arc<AtomicUsize>) {
    let fetches = Arc::new(AtomicUsize::new(0));
    let counted = fetches.clone();
    let app = axum::Router::new().fallback(move || {
        let (upstream, counted) = (upstream.clone(), counted.clone());
        async move {
            counted.fetch_add(1, Ordering::SeqCst);
            let answer = reqwest::get(&upstream).await.unwrap();
            let cache = answer.headers()["cache-control"]
                .to_str()
                .unwrap()
                .to_owned();
            let body = answer.text().await.unwrap();
            (
                [
                    ("cache-control", cache),
                    ("content-type", "application/json".into()),
                ],
                body,
            )
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/jwks", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, fetches)
}

async fn an_application_opts_in_to_a_public_jwks(backend: Backend) {
    let receiver = TestReceiver::ok().await;
    let s = setup(backend, config(), &receiver.url).await;
    let app = s
        .app
        .get_json(
            &format!("/webhooks/v1/applications/{}", s.app_id),
            Some(&s.manager),
        )
        .await;
    assert_eq!(app["publicJwks"], false);
    assert_eq!(app["jwksUrl"], Value::Null);
    let public_path = format!("/webhooks/v1/public/acme/applications/{}/jwks", s.app_id);
    let closed = s.app.get(&public_path, None).await;
    assert_eq!(closed.status(), 404, "not opted in");
    let closed_text = closed.text().await.unwrap();

    let on = s.patch_app(json!({"publicJwks": true})).await;
    assert_eq!(on.status, 200, "{}", on.text);
    let url = on.body["jwksUrl"].as_str().unwrap().to_owned();
    assert_eq!(url, format!("{}{public_path}", s.app.url));
    let open = s.app.get(&public_path, None).await;
    assert_eq!(open.status(), 200);
    assert_eq!(open.headers()["cache-control"], "public, max-age=60");
    let public: Value = open.json().await.unwrap();
    assert_eq!(public, s.read("jwks").await, "the application's JWKS");
    assert_eq!(public["keys"][0]["kid"], on.body["keyId"]);
    assert!(public["keys"][0].get("d").is_none(), "public keys only");

    // Another tenant, an unknown application and text that is no id answer as a closed one.
    for path in [
        format!("/webhooks/v1/public/other/applications/{}/jwks", s.app_id),
        format!(
            "/webhooks/v1/public/acme/applications/{}/jwks",
            uuid::Uuid::new_v4()
        ),
        "/webhooks/v1/public/acme/applications/nope/jwks".to_owned(),
        "/webhooks/v1/public/NOT%20A%20TENANT/applications/nope/jwks".to_owned(),
    ] {
        let a = s.app.get(&path, None).await;
        assert_eq!(a.status(), 404, "{path}");
        let text = a.text().await.unwrap();
        assert!(text.contains("public JWKS of application"), "{text}");
    }
    assert!(closed_text.contains("public JWKS of application"));
    assert_problem(
        &s.patch_app(json!({"publicJwks": "yes"})).await,
        400,
        "/publicJwks",
        "",
    );
    assert_problem(
        &s.patch_app(json!({"jwksUrl": "https://x.example/"})).await,
        400,
        "/jwksUrl",
        "",
    );

    // Deliveries verify with the fetched keys, the key picked by id; the keys are cached.
    let (proxy, fetches) = counting_proxy(url.clone()).await;
    let keys = RemoteKeys::new(proxy.clone());
    assert_eq!(s.publish(&candidate_change("1")).await.status, 202);
    assert_eq!(s.publish(&candidate_change("2")).await.status, 202);
    let got = receiver.wait_for(2).await;
    for d in &got {
        let kid = d.header("cx-signature-key-id");
        keys.verify(Some(kid), &d.body, d.header("cx-signature"))
            .await
            .unwrap();
    }
    assert_eq!(
        fetches.load(Ordering::SeqCst),
        1,
        "fetched once, then cached"
    );
    let mut tampered = got[0].body.to_vec();
    tampered.push(b' ');
    let err = keys
        .verify(
            Some(got[0].header("cx-signature-key-id")),
            &tampered,
            got[0].header("cx-signature"),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, RemoteError::Verify(VerifyError::Mismatch)),
        "{err}"
    );
    keys.verify(None, &got[0].body, got[0].header("cx-signature"))
        .await
        .unwrap();

    // A rotation: the next delivery names a key the cache does not hold, which fetches again.
    let r = s
        .app
        .call(
            "POST",
            &format!("/webhooks/v1/applications/{}/rotate-secret", s.app_id),
            &s.manager,
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["jwksUrl"], url.as_str(), "rotation keeps the opt-in");
    tokio::time::sleep(RemoteKeys::REFETCH_AFTER).await;
    assert_eq!(s.publish(&candidate_change("3")).await.status, 202);
    let third = receiver.wait_for(3).await.remove(2);
    let new_kid = third.header("cx-signature-key-id");
    assert_eq!(new_kid, r.body["keyId"]);
    keys.verify(Some(new_kid), &third.body, third.header("cx-signature"))
        .await
        .unwrap();
    assert_eq!(
        fetches.load(Ordering::SeqCst),
        2,
        "fetched again for the new key id"
    );
    // A key id nobody has: one more fetch at most per REFETCH_AFTER, then refused.
    for _ in 0..3 {
        let err = keys
            .verify(
                Some("no-such-key"),
                &third.body,
                third.header("cx-signature"),
            )
            .await
            .unwrap_err();
        assert!(
            matches!(err, RemoteError::Verify(VerifyError::UnknownKey(_))),
            "{err}"
        );
    }
    assert!(
        fetches.load(Ordering::SeqCst) <= 3,
        "unknown ids do not fetch each time"
    );

    // Opting out closes it again.
    let off = s.patch_app(json!({"publicJwks": false})).await;
    assert_eq!(off.body["jwksUrl"], Value::Null);
    assert_eq!(s.app.get(&public_path, None).await.status(), 404);
    let err = RemoteKeys::new(url)
        .verify(None, &third.body, "x")
        .await
        .unwrap_err();
    assert!(matches!(err, RemoteError::Fetch { .. }), "{err}");
}

/// The console's Applications page publishes and withdraws the public JWKS, and shows its URL.
async fn the_console_publishes_the_jwks(backend: Backend) {
    let receiver = TestReceiver::ok().await;
    let s = setup(backend, config(), &receiver.url).await;
    let (mut b, csrf) = crate::console::signed_in(&s.app, "acme").await;
    let url = format!(
        "{}/webhooks/v1/public/acme/applications/{}/jwks",
        s.app.url, s.app_id
    );
    let page = b.get("/console/applications").await;
    assert!(page.text.contains("Publish JWKS"), "{}", page.text);
    assert!(!page.text.contains(&url));
    let action = format!("/console/applications/{}/public-jwks", s.app_id);
    let on = b.post(&action, &[("csrf", &csrf), ("on", "true")]).await;
    assert_eq!(on.status, 303, "{}", on.text);
    let page = b.get("/console/applications?done=public-jwks-on").await;
    assert!(page.text.contains(&url), "{}", page.text);
    assert!(page.text.contains("Public JWKS on"), "{}", page.text);
    assert_eq!(
        s.app.get(&url.replace(&s.app.url, ""), None).await.status(),
        200
    );
    let off = b.post(&action, &[("csrf", &csrf), ("on", "false")]).await;
    assert_eq!(off.status, 303);
    assert_eq!(
        s.app.get(&url.replace(&s.app.url, ""), None).await.status(),
        404
    );
    // Without the form's token: refused.
    assert_eq!(b.post(&action, &[("on", "true")]).await.status, 403);
}

cxhooks_store::both_backends!(
    an_application_opts_in_to_a_public_jwks,
    the_console_publishes_the_jwks,
);
