//! Standard Webhooks as an option (`signatureScheme: "cx+standard"`): deliveries also carry
//! `webhook-id`, `webhook-timestamp` and `webhook-signature`, which the official
//! `standardwebhooks` package accepts (tests/standardwebhooks/verify.sh), each attempt signed at
//! its own time; the `whsec_` secret is shown once and rotates.

use crate::delivery::{Setup, candidate_change, setup_on, verify_with_seed_snippets};
use crate::harness::*;
use crate::receiver::{Received, Reply, TestReceiver};
use base64::Engine as _;
use cxhooks_server::clock::Clock;
use cxhooks_server::delivery::worker::step;
use cxhooks_server::{Config, Dispatcher};
use cxhooks_store::testing::Backend;
use serde_json::{Value, json};
use std::time::Duration;

const TEN_MINUTES: Duration = Duration::from_secs(600);

/// What the official verifier says of each delivery, at this machine's time: "ok" or its error.
fn official_verdicts(secret: &str, deliveries: &[&Received]) -> Vec<String> {
    use std::io::Write as _;
    let messages: Vec<Value> = deliveries
        .iter()
        .map(|r| {
            let headers: serde_json::Map<String, Value> = r
                .headers
                .iter()
                .map(|(k, v)| (k.to_string(), json!(v.to_str().unwrap())))
                .collect();
            let body = base64::engine::general_purpose::STANDARD.encode(&r.body);
            json!({"headers": headers, "body": body})
        })
        .collect();
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/standardwebhooks/verify.sh"
    );
    let mut child = std::process::Command::new("bash")
        .arg(script)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("bash runs the verifier");
    let request = json!({"secret": secret, "messages": messages}).to_string();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(request.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "the verifier did not run: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("a JSON list")
}

fn config() -> Config {
    let mut c = crate::delivery::config();
    c.delivery.retry_schedule = vec![Duration::from_secs(3), Duration::from_secs(18)];
    c.delivery.timeout = Duration::from_secs(2);
    c
}

/// Puts the setup's application under `scheme`; the answer.
async fn set_scheme(s: &Setup, scheme: &str) -> Answer {
    s.app
        .call(
            "PATCH",
            &format!("/webhooks/v1/applications/{}", s.app_id),
            &s.manager,
            Some(&json!({"signatureScheme": scheme}).to_string()),
        )
        .await
}

async fn each_attempt_is_signed_at_its_time_and_the_official_verifier_accepts_it(backend: Backend) {
    let receiver = TestReceiver::start(|n| {
        if n < 1 {
            Reply::Status(500)
        } else {
            Reply::Status(204)
        }
    })
    .await;
    // The node's clock starts ten minutes behind, so that the retry ten minutes later is sent
    // at the real time, which is what the official verifier checks timestamps against.
    let app = spawn_app_clocked(
        backend,
        config(),
        Dispatcher::Stepped,
        Clock::behind(TEN_MINUTES),
    )
    .await;
    let s = setup_on(app, &receiver.url).await;
    let switched = set_scheme(&s, "cx+standard").await;
    assert_eq!(switched.status, 200, "{}", switched.text);
    assert_eq!(switched.body["signatureScheme"], "cx+standard");
    let secret = switched.body["standardSecret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("whsec_"), "{secret}");

    assert_eq!(s.publish(&candidate_change("7")).await.status, 202);
    let first = receiver.wait_for(1).await.remove(0);
    let id = first.json()["id"].as_str().unwrap().to_owned();
    s.wait_status(&id, "retrying").await;
    s.app.state.clock.advance(TEN_MINUTES);
    let stepped = step(&s.app.state).await.expect("a step");
    assert_eq!(stepped.attempted, 1, "the retry, ten minutes later");
    let got = receiver.wait_for(2).await;
    let retry = &got[1];
    s.wait_status(&id, "delivered").await;

    for r in [&first, retry] {
        assert_eq!(
            r.header("webhook-id"),
            id,
            "webhook-id is the delivery's id"
        );
        assert!(r.header("webhook-signature").starts_with("v1,"));
        // Cx-Signature is there too, and the seed's verifiers take it.
        verify_with_seed_snippets(&s, &r.body, r.header("cx-signature"));
    }
    let at = |r: &Received| r.header("webhook-timestamp").parse::<i64>().unwrap();
    assert!(
        at(retry) - at(&first) >= 600,
        "the retry is signed at its own time: {} then {}",
        at(&first),
        at(retry)
    );
    assert_eq!(
        official_verdicts(&secret, &[retry, &first]),
        ["ok", "Message timestamp too old"],
        "the retry verifies now; the first attempt's signature is ten minutes old"
    );

    // A rotated secret signs from the next delivery on; the old one no longer verifies.
    let rotated = s
        .app
        .call(
            "POST",
            &format!(
                "/webhooks/v1/applications/{}/rotate-standard-secret",
                s.app_id
            ),
            &s.manager,
            None,
        )
        .await;
    assert_eq!(rotated.status, 200, "{}", rotated.text);
    let new_secret = rotated.body["standardSecret"].as_str().unwrap().to_owned();
    assert_ne!(new_secret, secret);
    assert_eq!(s.publish(&candidate_change("8")).await.status, 202);
    let third = receiver.wait_for(3).await.remove(2);
    assert_eq!(official_verdicts(&new_secret, &[&third]), ["ok"]);
    assert_eq!(
        official_verdicts(&secret, &[&third]),
        ["No matching signature found"]
    );
}

async fn the_secret_is_shown_once_and_the_scheme_is_checked(backend: Backend) {
    let receiver = TestReceiver::ok().await;
    let app = spawn_app_with(backend, config()).await;
    let s = setup_on(app, &receiver.url).await;
    let path = format!("/webhooks/v1/applications/{}", s.app_id);
    let rotate = format!("{path}/rotate-standard-secret");

    // The default is the seed's scheme: Cx-Signature only, no secret, nothing to rotate.
    let read = s.app.call("GET", &path, &s.manager, None).await;
    assert_eq!(read.body["signatureScheme"], "cx");
    assert!(read.body.get("standardSecret").is_none(), "{}", read.text);
    let refused = s.app.call("POST", &rotate, &s.manager, None).await;
    assert_problem(
        &refused,
        409,
        "",
        "set its signatureScheme to 'cx+standard'",
    );
    assert_eq!(s.publish(&candidate_change("1")).await.status, 202);
    let plain = receiver.wait_for(1).await.remove(0);
    assert!(plain.headers.get("webhook-signature").is_none());
    assert!(plain.headers.get("webhook-id").is_none());

    let bad = set_scheme(&s, "standard").await;
    assert_problem(
        &bad,
        400,
        "/signatureScheme",
        "'cx' (Cx-Signature only) or 'cx+standard'",
    );

    // Created with it: the secret is in the 201 and nowhere after.
    let created = s
        .app
        .json(
            "POST",
            "/webhooks/v1/applications",
            &s.manager,
            &json!({"name": "standard", "signatureScheme": "cx+standard"}),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    let secret = created.body["standardSecret"].as_str().unwrap();
    assert!(secret.starts_with("whsec_"));
    let other = created.body["_id"].as_str().unwrap();
    let again = s
        .app
        .call(
            "GET",
            &format!("/webhooks/v1/applications/{other}"),
            &s.manager,
            None,
        )
        .await;
    assert_eq!(again.body["signatureScheme"], "cx+standard");
    assert!(!again.text.contains("whsec_"), "{}", again.text);
    let listed = s
        .app
        .call("GET", "/webhooks/v1/applications", &s.manager, None)
        .await;
    assert!(!listed.text.contains("whsec_"), "{}", listed.text);

    // Switching makes a secret once; patching it again keeps it, unshown; back to cx drops it.
    let switched = set_scheme(&s, "cx+standard").await;
    assert!(
        switched.body["standardSecret"].as_str().is_some(),
        "{}",
        switched.text
    );
    let renamed = s
        .app
        .call("PATCH", &path, &s.manager, Some(r#"{"name": "renamed"}"#))
        .await;
    assert_eq!(renamed.status, 200, "{}", renamed.text);
    assert_eq!(renamed.body["signatureScheme"], "cx+standard");
    assert!(
        renamed.body.get("standardSecret").is_none(),
        "{}",
        renamed.text
    );
    let back = set_scheme(&s, "cx").await;
    assert_eq!(back.body["signatureScheme"], "cx");
    let refused = s.app.call("POST", &rotate, &s.manager, None).await;
    assert_eq!(refused.status, 409, "{}", refused.text);
}

cxhooks_store::both_backends!(
    each_attempt_is_signed_at_its_time_and_the_official_verifier_accepts_it,
    the_secret_is_shown_once_and_the_scheme_is_checked,
);
