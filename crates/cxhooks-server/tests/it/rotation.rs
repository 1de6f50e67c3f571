//! Key rotation with an overlap: `Cx-Signature-Key-Id` on every delivery, the application's
//! JWKS (current key and those in their grace period, `kid` = RFC 7638 thumbprint), and a
//! retry after a rotation signed again with the new key, which the seed verifiers accept.

use crate::delivery::{candidate_change, config, setup, verify_with_seed_snippets};
use crate::receiver::{Reply, TestReceiver};
use cxhooks_consumer::KeySet;
use cxhooks_store::testing::Backend;
use serde_json::Value;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

const GRACE: Duration = Duration::from_secs(4);

async fn jwks(s: &crate::delivery::Setup) -> Value {
    s.read("jwks").await
}

fn kids(jwks: &Value) -> Vec<String> {
    jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_owned())
        .collect()
}

async fn a_rotation_keeps_the_old_key_for_its_grace_and_retries_use_the_new(backend: Backend) {
    // The receiver accepts the first delivery, then refuses until the key is rotated.
    let rotated = Arc::new(AtomicBool::new(false));
    let open = rotated.clone();
    let receiver = TestReceiver::start(move |n| {
        if n == 0 || open.load(Ordering::SeqCst) {
            Reply::Status(200)
        } else {
            Reply::Status(503)
        }
    })
    .await;
    let mut c = config();
    c.delivery.retry_schedule = [300, 1000, 2000, 3000].map(Duration::from_millis).to_vec();
    c.keys.rotation_grace = GRACE;
    let mut s = setup(backend, c, &receiver.url).await;

    // Before: one key, named by its thumbprint (jsonwebtoken computes the same one).
    let before = jwks(&s).await;
    let app = s
        .app
        .get_json(
            &format!("/webhooks/v1/applications/{}", s.app_id),
            Some(&s.manager),
        )
        .await;
    let first_kid = app["keyId"].as_str().unwrap().to_owned();
    assert_eq!(kids(&before), std::slice::from_ref(&first_kid));
    let jwk: jsonwebtoken::jwk::Jwk = serde_json::from_value(before["keys"][0].clone()).unwrap();
    assert_eq!(
        jwk.thumbprint(jsonwebtoken::jwk::ThumbprintHash::SHA256)
            .unwrap(),
        first_kid
    );

    // Every delivery names its key.
    assert_eq!(s.publish(&candidate_change("1")).await.status, 202);
    let first = receiver.wait_for(1).await.remove(0);
    assert_eq!(first.header("cx-signature-key-id"), first_kid);
    verify_with_seed_snippets(&s, &first.body, first.header("cx-signature"));

    // A delivery refused once, then the key rotated: its retry is signed with the new key.
    assert_eq!(s.publish(&candidate_change("2")).await.status, 202);
    let refused = receiver.wait_for(2).await.remove(1);
    assert_eq!(refused.header("cx-signature-key-id"), first_kid);
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
    let rotated_at = Instant::now();
    rotated.store(true, Ordering::SeqCst);
    let new_kid = r.body["keyId"].as_str().unwrap().to_owned();
    assert_ne!(new_kid, first_kid);
    let old_secret =
        std::mem::replace(&mut s.secret, r.body["secret"].as_str().unwrap().to_owned());
    s.raw_secret = crate::delivery::raw_secret(&r.text);
    let retried = receiver.wait_for(3).await.remove(2);
    assert_eq!(
        retried.json()["id"],
        refused.json()["id"],
        "the same delivery"
    );
    assert_eq!(retried.header("cx-signature-key-id"), new_kid);
    verify_with_seed_snippets(&s, &retried.body, retried.header("cx-signature"));
    assert!(
        cxhooks_consumer::verify_signature(
            &old_secret,
            &retried.body,
            retried.header("cx-signature")
        )
        .is_err(),
        "not signed with the withdrawn key"
    );

    // During the grace period the JWKS has both, newest first; each verifies what it signed.
    let during = jwks(&s).await;
    assert_eq!(kids(&during), [new_kid.clone(), first_kid.clone()]);
    let set = KeySet::from_jwks(&during).unwrap();
    for d in [&first, &retried] {
        set.verify(
            d.header("cx-signature-key-id"),
            &d.body,
            d.header("cx-signature"),
        )
        .unwrap();
    }
    // After it, only the current key.
    tokio::time::sleep(GRACE.saturating_sub(rotated_at.elapsed()) + Duration::from_millis(200))
        .await;
    assert_eq!(kids(&jwks(&s).await), [new_kid]);
}

/// The JWKS is the application's: another tenant's client gets 404, a client without a
/// webhooks scope 403.
async fn the_jwks_is_guarded_like_the_application(backend: Backend) {
    let receiver = TestReceiver::ok().await;
    let s = setup(backend, config(), &receiver.url).await;
    let path = format!("/webhooks/v1/applications/{}/jwks", s.app_id);
    s.app.tenant("other").await;
    let (_, stranger) = s
        .app
        .client_token("other", crate::harness::ALL_SCOPES, "create=on,read=all")
        .await;
    assert_eq!(s.app.call("GET", &path, &stranger, None).await.status, 404);
    assert_eq!(
        s.app.call("GET", &path, &s.publisher, None).await.status,
        403
    );
    let unknown = s
        .app
        .call(
            "GET",
            "/webhooks/v1/applications/nope/jwks",
            &s.manager,
            None,
        )
        .await;
    assert_eq!(unknown.status, 404, "{}", unknown.text);
}

cxhooks_store::both_backends!(
    a_rotation_keeps_the_old_key_for_its_grace_and_retries_use_the_new,
    the_jwks_is_guarded_like_the_application,
);
