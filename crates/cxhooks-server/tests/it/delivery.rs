//! The delivery pipeline end to end: publish → match → sign → store → send → retry → log.

use crate::harness::*;
use crate::receiver::{Reply, TestReceiver};
use cxhooks_server::Config;
use cxhooks_store::testing::Backend;
use cxhooks_store::{TenantName, WebhookStatus};
use serde_json::{Value, json};
use std::time::Duration;

pub const PUBLISH: &str = "urn:cx/webhooks:events:publish";

/// A tenant with a publisher token, a managing client's token, an application and a webhook
/// (filter on candidate updates of `touser.lastname`) pointing at `url`.
pub struct Setup {
    pub app: TestApp,
    pub publisher: String,
    pub manager: String,
    pub app_id: String,
    pub hook_id: String,
    pub secret: String,
    pub raw_secret: String,
}

pub fn config() -> Config {
    let mut c = Config::default();
    c.delivery.allow_private_targets = true;
    c.delivery.retry_schedule = vec![
        Duration::from_millis(200),
        Duration::from_millis(400),
        Duration::from_millis(600),
    ];
    c.delivery.timeout = Duration::from_millis(800);
    c.delivery.lease = Duration::from_secs(5);
    c
}

pub async fn setup(backend: Backend, config: Config, url: &str) -> Setup {
    setup_on(spawn_app_with(backend, config).await, url).await
}

/// [`setup`] on a server already started.
pub async fn setup_on(app: TestApp, url: &str) -> Setup {
    app.tenant("acme").await;
    let (_, publisher) = app.client_token("acme", PUBLISH, "").await;
    let (_, manager) = app
        .client_token(
            "acme",
            ALL_SCOPES,
            "create=on,read=all,update=all,delete=all",
        )
        .await;
    let created = app
        .json(
            "POST",
            "/webhooks/v1/applications",
            &manager,
            &json!({"name": "receiver"}),
        )
        .await;
    let app_id = created.body["_id"].as_str().unwrap().to_owned();
    let secret = created.body["secret"].as_str().unwrap().to_owned();
    let raw_secret = raw_secret(&created.text);
    let hook = json!({"url": url, "filters": [
        {"eventType": "cremployee:updated", "condition": "metadata.paths has any of ['touser.lastname']"},
        {"eventType": "crjob:created"}],
        "customHeaders": [{"name": "Custom-Signature", "value": "FE: Basic Y3g1"}]});
    let a = app
        .json(
            "POST",
            &format!("/webhooks/v1/applications/{app_id}/webhooks"),
            &manager,
            &hook,
        )
        .await;
    assert_eq!(a.status, 201, "{}", a.text);
    let hook_id = a.body["_id"].as_str().unwrap().to_owned();
    Setup {
        app,
        publisher,
        manager,
        app_id,
        hook_id,
        secret,
        raw_secret,
    }
}

/// `secret` as it stands in an answer's raw JSON text (`\n` escaped): what the seed's Java
/// snippet is given.
pub fn raw_secret(answer: &str) -> String {
    answer
        .split("\"secret\":\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_owned()
}

pub fn candidate_change(id: &str) -> Value {
    json!({"type": "cremployee:updated", "entityId": id, "time": "2024-02-14T14:24:40Z",
        "data": {"touser": {"lastname": "Müller", "tosinglestatusnode": 1234}, "hascar": 1},
        "metadata": {"paths": ["touser", "touser.lastname", "modificationdate", "touser.modificationdate"]}})
}

impl Setup {
    pub async fn publish(&self, body: &Value) -> Answer {
        self.app
            .json("POST", "/webhooks/v1/changes", &self.publisher, body)
            .await
    }

    /// Adds a webhook at `url` with one filter of `cremployee:updated` and `condition`;
    /// answers the API's answer, whatever its status.
    pub async fn webhook_on_updates(&self, url: &str, condition: &str) -> Answer {
        self.app
            .json(
                "POST",
                &format!("/webhooks/v1/applications/{}/webhooks", self.app_id),
                &self.manager,
                &json!({"url": url, "filters": [{"eventType": "cremployee:updated", "condition": condition}]}),
            )
            .await
    }

    /// The request log's answer to `query`, whatever its status.
    pub async fn log_answer(&self, query: &str) -> Answer {
        self.app
            .call(
                "GET",
                &format!("/webhooks/v1/applications/{}/events{query}", self.app_id),
                &self.manager,
                None,
            )
            .await
    }

    pub async fn log(&self, query: &str) -> Vec<Value> {
        let a = self.log_answer(query).await;
        assert_eq!(a.status, 200, "{}", a.text);
        a.body["items"].as_array().unwrap().clone()
    }

    pub async fn event(&self, id: &str) -> Value {
        self.read(&format!("events/{id}")).await
    }

    /// `GET /webhooks/v1/applications/{app}/{path}` as the manager, which must answer 200.
    pub async fn read(&self, path: &str) -> Value {
        let a = self
            .app
            .call(
                "GET",
                &format!("/webhooks/v1/applications/{}/{path}", self.app_id),
                &self.manager,
                None,
            )
            .await;
        assert_eq!(a.status, 200, "{}", a.text);
        a.body
    }

    /// Waits until the delivery `id` has `status` (or panics after 20 s).
    pub async fn wait_status(&self, id: &str, status: &str) -> Value {
        for _ in 0..400 {
            let e = self.event(id).await;
            if e["status"] == status {
                return e;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!(
            "delivery {id} never reached {status}: {}",
            self.event(id).await
        );
    }
}

pub fn verify_with_seed_snippets(s: &Setup, body: &[u8], signature: &str) {
    let dir = tempfile::tempdir().unwrap();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/verifiers/run.sh");
    std::fs::write(dir.path().join("sig"), signature).unwrap();
    std::fs::write(dir.path().join("body"), body).unwrap();
    for (lang, secret) in [
        ("node", &s.secret),
        ("php", &s.secret),
        ("java-json", &s.raw_secret),
    ] {
        std::fs::write(dir.path().join("secret"), secret).unwrap();
        let out = std::process::Command::new("bash")
            .arg(script)
            .arg(lang)
            .args([
                dir.path().join("secret"),
                dir.path().join("sig"),
                dir.path().join("body"),
            ])
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{lang} rejected a delivery: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

async fn delivered_body_and_headers_field_by_field(backend: Backend) {
    let receiver = TestReceiver::ok().await;
    let s = setup(backend, config(), &receiver.url).await;
    let a = s.publish(&candidate_change("1")).await;
    assert_eq!(a.status, 202, "{}", a.text);
    assert_eq!(a.body["accepted"], 1);
    let change_id = a.body["ids"][0].as_str().unwrap().to_owned();
    // A change no filter selects produces no delivery.
    let other = json!({"type": "cremployee:updated", "entityId": "2", "data": {}, "metadata": {"paths": ["notes"]}});
    assert_eq!(s.publish(&other).await.status, 202);

    let got = receiver.wait_for(1).await;
    let r = &got[0];
    let body = r.json();
    let text = std::str::from_utf8(&r.body).unwrap();
    // Exactly the payload of SPEC §6, in its order.
    let keys: Vec<_> = body.as_object().unwrap().keys().cloned().collect();
    assert_eq!(
        keys,
        [
            "id",
            "time",
            "type",
            "applicationId",
            "webhookId",
            "tenant",
            "data"
        ]
    );
    assert!(text.starts_with("{\"id\":\""), "{text}");
    assert_eq!(body["time"], "2024-02-14T14:24:40Z");
    assert_eq!(body["type"], "cremployee:updated");
    assert_eq!(body["applicationId"], s.app_id);
    assert_eq!(body["webhookId"], s.hook_id);
    assert_eq!(body["tenant"], "acme");
    assert_eq!(
        body["data"],
        json!({"entityId": "1", "changedFields": ["touser", "touser.lastname", "modificationdate", "touser.modificationdate"]})
    );
    let id = body["id"].as_str().unwrap();
    assert!(uuid::Uuid::parse_str(id).is_ok());
    // Headers.
    assert_eq!(r.header("content-type"), "application/json");
    assert_eq!(r.header("cx-payload-schema-version"), "1");
    assert!(r.header("user-agent").starts_with("cxhooks/"));
    assert_eq!(r.header("custom-signature"), "FE: Basic Y3g1");
    verify_with_seed_snippets(&s, &r.body, r.header("cx-signature"));

    // The request log.
    let e = s.wait_status(id, "delivered").await;
    assert_eq!(e["changeId"], change_id);
    assert_eq!(e["attemptCount"], 1);
    assert_eq!(e["payload"], body);
    assert_eq!(e["headers"]["Custom-Signature"], "***");
    assert!(
        !e.to_string().contains("Y3g1"),
        "a custom header value leaked into the log"
    );
    assert_eq!(e["attempts"][0]["statusCode"], 200);
    assert_eq!(e["attempts"][0]["responseBody"], "answer 0");
    assert_eq!(s.log("?status=delivered").await.len(), 1);
    assert_eq!(s.log("?status=failed").await.len(), 0);
    assert_eq!(
        s.log(&format!("?webhookId={}&type=cremployee:updated", s.hook_id))
            .await
            .len(),
        1
    );
    assert_eq!(s.log("?webhookId=hook-1").await.len(), 0, "no such webhook");
    // A cursor the log did not hand out (base64 of `1:zzz`) is refused, on both stores alike.
    let forged = s.log_answer("?cursor=MTp6eno").await;
    assert_eq!(forged.status, 400, "{}", forged.text);
    assert!(forged.text.contains("?cursor"), "{}", forged.text);
}

async fn fails_twice_then_succeeds(backend: Backend) {
    let receiver = TestReceiver::start(|n| {
        if n < 2 {
            Reply::Status(500)
        } else {
            Reply::Status(204)
        }
    })
    .await;
    let s = setup(backend, config(), &receiver.url).await;
    assert_eq!(s.publish(&json!([candidate_change("7")])).await.status, 202);
    let got = receiver.wait_for(3).await;
    let ids: Vec<_> = got
        .iter()
        .map(|r| r.json()["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        (ids[0] == ids[1], ids[1] == ids[2]),
        (true, true),
        "one id across retries"
    );
    // The same bytes and signature each time.
    assert!(got.iter().all(
        |r| r.body == got[0].body && r.header("cx-signature") == got[0].header("cx-signature")
    ));
    let e = s.wait_status(&ids[0], "delivered").await;
    let codes: Vec<_> = e["attempts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["statusCode"].as_i64().unwrap())
        .collect();
    assert_eq!(codes, [500, 500, 204]);
    // That nothing follows a success is `schedule.rs`'s to show, with the clock moved past
    // every slot: here it could only be a sleep that a slow pipeline would pass too.
}

async fn always_failing_ends_failed_then_redelivers(backend: Backend) {
    let receiver = TestReceiver::start(|n| {
        if n < 4 {
            Reply::Status(503)
        } else {
            Reply::Status(200)
        }
    })
    .await;
    let s = setup(backend, config(), &receiver.url).await;
    s.publish(&candidate_change("9")).await;
    // 1 + 3 retries with the shortened schedule, then failed.
    let got = receiver.wait_for(4).await;
    let id = got[0].json()["id"].as_str().unwrap().to_owned();
    let e = s.wait_status(&id, "failed").await;
    assert_eq!(e["attemptCount"], 4);
    // No attempt after the last slot: `schedule.rs`, with the clock moved past it.
    // Redelivery: a new series, same id.
    let a = s
        .app
        .call(
            "POST",
            &format!(
                "/webhooks/v1/applications/{}/events/{id}/redeliver",
                s.app_id
            ),
            &s.manager,
            None,
        )
        .await;
    assert_eq!(a.status, 202, "{}", a.text);
    let got = receiver.wait_for(5).await;
    assert_eq!(got[4].json()["id"], id);
    let e = s.wait_status(&id, "delivered").await;
    assert_eq!(e["attemptCount"], 5);
}

async fn network_failures_are_recorded(backend: Backend) {
    // A timeout, a redirect (not followed), then a refused connection.
    let slow = TestReceiver::start(|_| Reply::Sleep(Duration::from_secs(3))).await;
    let s = setup(backend, config(), &slow.url).await;
    s.publish(&candidate_change("1")).await;
    let id = slow.wait_for(1).await[0].json()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let e = s.wait_status(&id, "retrying").await;
    let a = &e["attempts"][0];
    assert!(
        a["error"]
            .as_str()
            .unwrap()
            .contains("timed out after 800ms"),
        "{a}"
    );
    assert_eq!(a["statusCode"], Value::Null);

    let moved = TestReceiver::start(|_| Reply::Redirect("http://127.0.0.1:9/elsewhere")).await;
    let path = format!(
        "/webhooks/v1/applications/{}/webhooks/{}",
        s.app_id, s.hook_id
    );
    assert_eq!(
        s.app
            .json("PATCH", &path, &s.manager, &json!({"url": moved.url}))
            .await
            .status,
        200
    );
    s.publish(&candidate_change("2")).await;
    // The timed-out delivery's retry may reach this receiver first: pick change 2's.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let id = loop {
        assert!(
            std::time::Instant::now() < deadline,
            "change 2 never reached the receiver"
        );
        let got = moved.wait_for(1).await;
        if let Some(r) = got.iter().find(|r| r.json()["data"]["entityId"] == "2") {
            break r.json()["id"].as_str().unwrap().to_owned();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let e = s.wait_status(&id, "retrying").await;
    let a = &e["attempts"][0];
    assert_eq!(a["statusCode"], 302);
    assert!(
        a["error"]
            .as_str()
            .unwrap()
            .contains("redirect to http://127.0.0.1:9/elsewhere not followed"),
        "{a}"
    );

    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let url = format!("http://{closed}/hook");
    assert_eq!(
        s.app
            .json("PATCH", &path, &s.manager, &json!({"url": url}))
            .await
            .status,
        200
    );
    let a = s.publish(&candidate_change("3")).await;
    assert_eq!(a.status, 202);
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let items = s.log("?status=retrying").await;
        if let Some(e) = items.iter().find(|e| {
            e["webhookId"] == s.hook_id
                && e["attemptCount"] == 1
                && e["changeId"] == a.body["ids"][0]
        }) {
            let e = s.event(e["_id"].as_str().unwrap()).await;
            assert!(
                e["attempts"][0]["error"]
                    .as_str()
                    .unwrap()
                    .contains("connection failed"),
                "{e}"
            );
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no refused attempt recorded"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn disabled_webhooks_get_nothing_and_deletes_cancel(backend: Backend) {
    let receiver = TestReceiver::start(|_| Reply::Status(500)).await;
    let mut cfg = config();
    cfg.delivery.retry_schedule = vec![Duration::from_secs(30), Duration::from_secs(60)];
    let s = setup(backend, cfg, &receiver.url).await;
    let hook_path = format!(
        "/webhooks/v1/applications/{}/webhooks/{}",
        s.app_id, s.hook_id
    );

    // Disabled: a change produces no delivery.
    s.app
        .call("POST", &format!("{hook_path}/disable"), &s.manager, None)
        .await;
    assert_eq!(s.publish(&candidate_change("1")).await.status, 202);
    // Deliveries are stored with their change, before the 202: none stored, none to send.
    assert!(s.log("").await.is_empty());
    assert!(receiver.received().is_empty());

    // Enabled again; the first attempt fails, a retry waits 30 s; deleting the webhook cancels it.
    s.app
        .call("POST", &format!("{hook_path}/enable"), &s.manager, None)
        .await;
    s.publish(&candidate_change("2")).await;
    let id = receiver.wait_for(1).await[0].json()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    s.wait_status(&id, "retrying").await;
    assert_eq!(
        s.app
            .call("DELETE", &hook_path, &s.manager, None)
            .await
            .status,
        204
    );
    let e = s.event(&id).await;
    assert_eq!(e["status"], "cancelled");

    // A deleted application's pending deliveries are cancelled too.
    let hook = json!({"url": receiver.url, "filters": [{"eventType": "crjob:created"}]});
    let a = s
        .app
        .json(
            "POST",
            &format!("/webhooks/v1/applications/{}/webhooks", s.app_id),
            &s.manager,
            &hook,
        )
        .await;
    let hook2 = a.body["_id"].as_str().unwrap().to_owned();
    s.publish(&json!({"type": "crjob:created", "entityId": "5", "data": {}}))
        .await;
    let got = receiver.wait_for(2).await;
    let id = got[1].json()["id"].as_str().unwrap().to_owned();
    s.wait_status(&id, "retrying").await;
    assert_eq!(
        s.app
            .call(
                "DELETE",
                &format!("/webhooks/v1/applications/{}", s.app_id),
                &s.manager,
                None
            )
            .await
            .status,
        204
    );
    let tenant = TenantName::parse("acme").unwrap();
    let stored = s
        .app
        .store()
        .delivery(&tenant, s.app_id.parse().unwrap(), id.parse().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (stored.status.as_str(), stored.webhook_id.to_string()),
        ("cancelled", hook2.clone())
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(receiver.received().len(), 2);
}

async fn gone_errors_the_webhook_and_retry_after_is_honoured(backend: Backend) {
    let receiver = TestReceiver::start(|n| match n {
        0 => Reply::RetryAfter(503, 2),
        1 => Reply::Status(200),
        _ => Reply::Status(410),
    })
    .await;
    let s = setup(backend, config(), &receiver.url).await;
    s.publish(&candidate_change("1")).await;
    let first = receiver.wait_for(1).await;
    let id = first[0].json()["id"].as_str().unwrap().to_owned();
    let e = s.wait_status(&id, "retrying").await;
    // Retry-After: 2 moves the next attempt from +200 ms to ≥ +2 s (the last slot is +600 ms,
    // so it is bounded there).
    let at =
        chrono::DateTime::parse_from_rfc3339(e["attempts"][0]["at"].as_str().unwrap()).unwrap();
    let next = chrono::DateTime::parse_from_rfc3339(e["nextAttemptAt"].as_str().unwrap()).unwrap();
    let gap = (next - at).num_milliseconds();
    assert!(
        (550..=650).contains(&gap),
        "next attempt {gap} ms after the first: bounded by the last slot"
    );
    s.wait_status(&id, "delivered").await;

    // 410 Gone: the delivery fails at once and the webhook goes to error.
    s.publish(&candidate_change("2")).await;
    let got = receiver.wait_for(3).await;
    let gone_id = got[2].json()["id"].as_str().unwrap().to_owned();
    let e = s.wait_status(&gone_id, "failed").await;
    assert_eq!(e["attemptCount"], 1);
    let hook_path = format!(
        "/webhooks/v1/applications/{}/webhooks/{}",
        s.app_id, s.hook_id
    );
    let mut status = Value::Null;
    for _ in 0..100 {
        status = s.app.call("GET", &hook_path, &s.manager, None).await.body["status"].clone();
        if status == "error" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(status, "error");
    // In error, it receives nothing new; enable brings it back.
    s.publish(&candidate_change("3")).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(receiver.received().len(), 3);
    let a = s
        .app
        .call("POST", &format!("{hook_path}/enable"), &s.manager, None)
        .await;
    assert_eq!(a.body["status"], "enabled");
}

/// One retry, a minute away, and a webhook in `error` after two failing deliveries.
fn error_after_two_failures() -> Config {
    let mut cfg = config();
    cfg.delivery.retry_schedule = vec![Duration::from_secs(60)];
    cfg.delivery.error_after = cxhooks_server::config::ErrorAfter {
        failing_for: Duration::ZERO,
        deliveries: 2,
    };
    cfg
}

async fn failing_past_the_threshold_sets_error(backend: Backend) {
    let receiver = TestReceiver::start(|_| Reply::Status(500)).await;
    let s = setup(backend, error_after_two_failures(), &receiver.url).await;
    s.publish(&json!([candidate_change("1"), candidate_change("2")]))
        .await;
    receiver.wait_for(2).await;
    let tenant = TenantName::parse("acme").unwrap();
    for _ in 0..100 {
        let hook = s
            .app
            .store()
            .webhook(
                &tenant,
                s.app_id.parse().unwrap(),
                s.hook_id.parse().unwrap(),
            )
            .await
            .unwrap()
            .unwrap();
        if hook.status == WebhookStatus::Error {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the webhook did not go to error after 2 failing deliveries");
}

/// A success clears a webhook's failure streak: failing, delivered, failing again is one failing
/// delivery since the last success, short of the two that put the webhook in `error`.
async fn a_success_clears_the_failure_streak(backend: Backend) {
    let receiver = TestReceiver::start(|n| {
        if n == 1 {
            Reply::Status(204)
        } else {
            Reply::Status(500)
        }
    })
    .await;
    let s = setup(backend, error_after_two_failures(), &receiver.url).await;
    for (n, status) in [(1, "retrying"), (2, "delivered"), (3, "retrying")] {
        let a = s.publish(&json!([candidate_change(&n.to_string())])).await;
        assert_eq!(a.status, 202);
        let got = receiver.wait_for(n).await;
        let id = got[n - 1].json()["id"].as_str().unwrap().to_owned();
        // The outcome, the failure count and the webhook's health commit together.
        s.wait_status(&id, status).await;
    }
    let hook = s
        .app
        .store()
        .webhook(
            &TenantName::parse("acme").unwrap(),
            s.app_id.parse().unwrap(),
            s.hook_id.parse().unwrap(),
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(hook.status, WebhookStatus::Enabled);
}

async fn publish_validation_idempotency_and_quota(backend: Backend) {
    let receiver = TestReceiver::ok().await;
    let mut cfg = config();
    cfg.limits.monthly_notifications_per_client = 2;
    cfg.limits.max_body_bytes = 64 * 1024;
    let s = setup(backend, cfg, &receiver.url).await;

    // A batch is all or nothing, with errors pointing at the change.
    let batch = json!([candidate_change("1"), candidate_change("2"), candidate_change("3"),
        {"type": "cremployee:moved", "entityId": "", "data": [], "metadata": {"paths": [1]}, "x": 1}]);
    let a = s.publish(&batch).await;
    assert_problem(&a, 400, "/3/type", "unknown action 'moved'");
    assert_problem(&a, 400, "/3/entityId", "non-empty string");
    assert_problem(&a, 400, "/3/data", "must be an object");
    assert_problem(&a, 400, "/3/metadata/paths/0", "string");
    assert_problem(&a, 400, "/3/x", "unknown field");
    assert_problem(
        &s.publish(&json!({"type": "crjob:created", "entityId": "1"}))
            .await,
        400,
        "/data",
        "required",
    );
    assert_problem(
        &s.publish(
            &json!({"type": "crjob:created", "entityId": "1", "data": {}, "time": "yesterday"}),
        )
        .await,
        400,
        "/time",
        "RFC 3339",
    );
    assert_problem(&s.publish(&json!([])).await, 400, "", "1 to 1000 changes");
    let too_many: Vec<Value> = (0..1001)
        .map(|i| json!({"type": "crjob:created", "entityId": i, "data": {}}))
        .collect();
    let a = s
        .app
        .call(
            "POST",
            "/webhooks/v1/changes",
            &s.publisher,
            Some(&serde_json::to_string(&too_many).unwrap()),
        )
        .await;
    assert!(a.status == 400 || a.status == 413, "{}", a.status);
    let big =
        json!({"type": "crjob:created", "entityId": "1", "data": {"notes": "x".repeat(70_000)}});
    let a = s.publish(&big).await;
    assert_problem(&a, 413, "", "limits.max_body_bytes");
    assert!(
        receiver.received().is_empty(),
        "a rejected batch delivers nothing"
    );
    // Another tenant in the body: 403. No publish scope: 403.
    let mut other = candidate_change("1");
    other["tenant"] = json!("beta");
    assert_problem(
        &s.publish(&other).await,
        403,
        "",
        "issued for tenant 'acme'",
    );
    let a = s
        .app
        .json(
            "POST",
            "/webhooks/v1/changes",
            &s.manager,
            &candidate_change("1"),
        )
        .await;
    assert_eq!(
        (a.status, a.body["requiredScope"].as_str()),
        (403, Some("urn:cx/webhooks:events:publish"))
    );

    // Idempotency-Key: a retried publish answers the first answer and publishes nothing more.
    let send = |key: &'static str| {
        s.app
            .http
            .post(format!("{}/webhooks/v1/changes", s.app.url))
            .bearer_auth(&s.publisher)
            .header("idempotency-key", key)
            .json(&candidate_change("42"))
            .send()
    };
    let first: Value = send("k1").await.unwrap().json().await.unwrap();
    let again = send("k1").await.unwrap();
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    assert_eq!(again.json::<Value>().await.unwrap(), first);
    // Quota 2: the third notification of the month is recorded as quota_exceeded, not sent.
    s.publish(&json!({"type": "crjob:created", "entityId": "8", "data": {}}))
        .await;
    s.publish(&json!({"type": "crjob:created", "entityId": "9", "data": {}}))
        .await;
    receiver.wait_for(2).await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(receiver.received().len(), 2);
    let exceeded = s.log("?status=quota_exceeded").await;
    assert_eq!(exceeded.len(), 1);
    assert_eq!(exceeded[0]["type"], "crjob:created");
}

/// Publishes racing with one `Idempotency-Key`: one is stored and delivered, the others answer
/// as it did and deliver nothing, though each had taken room on the node for its delivery
/// before its commit; nor is a delivery stored past the monthly quota sent.
async fn racing_publishes_with_one_key_are_delivered_once(backend: Backend) {
    let receiver = TestReceiver::ok().await;
    let mut cfg = config();
    cfg.limits.monthly_notifications_per_client = 3;
    let s = setup(backend, cfg, &receiver.url).await;
    s.publish(&candidate_change("1")).await;
    receiver.wait_for(1).await;
    for round in 0..2 {
        let key = format!("race-{round}");
        let mut racing = tokio::task::JoinSet::new();
        for _ in 0..8 {
            let request = s
                .app
                .http
                .post(format!("{}/webhooks/v1/changes", s.app.url))
                .bearer_auth(&s.publisher)
                .header("idempotency-key", &key)
                .json(&candidate_change(&format!("race-{round}")));
            racing.spawn(async move {
                let answer = request.send().await.unwrap();
                assert_eq!(answer.status(), 202);
                answer.json::<Value>().await.unwrap()["ids"].clone()
            });
        }
        let ids: Vec<Value> = racing.join_all().await;
        assert!(
            ids.iter().all(|i| *i == ids[0]),
            "one answer for all: {ids:?}"
        );
        receiver.wait_for(2 + round).await;
    }
    // The quota (3) is used up: this one is stored past it and not sent.
    s.publish(&candidate_change("over")).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let entities: Vec<String> = receiver
        .received()
        .iter()
        .map(|r| {
            r.json()["data"]["entityId"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        })
        .collect();
    assert_eq!(entities, ["1", "race-0", "race-1"]);
    assert_eq!(s.log("?status=quota_exceeded").await.len(), 1);
}

/// An `Idempotency-Key` is its client's own and replays only the request it came with: another
/// client's publish with the same key is a publish of its own, and the same client's different
/// request with a used key is a 409, never a 202 with the first answer.
async fn idempotency_keys_are_per_client_and_per_request(backend: Backend) {
    let receiver = TestReceiver::ok().await;
    let s = setup(backend, config(), &receiver.url).await;
    let (_, other) = s.app.client_token("acme", PUBLISH, "").await;
    let send = |token: &str, body: &str| {
        s.app
            .http
            .post(format!("{}/webhooks/v1/changes", s.app.url))
            .bearer_auth(token)
            .header("idempotency-key", "k")
            .header("content-type", "application/json")
            .body(body.to_owned())
            .send()
    };
    let a_body = candidate_change("from-a").to_string();
    let a = send(&s.publisher, &a_body).await.unwrap();
    assert_eq!(a.status(), 202);
    let a: Value = a.json().await.unwrap();

    let b = send(&other, &candidate_change("from-b").to_string())
        .await
        .unwrap();
    assert_eq!(b.status(), 202);
    assert!(
        b.headers().get("idempotent-replayed").is_none(),
        "not A's answer"
    );
    let b: Value = b.json().await.unwrap();
    assert_ne!(a["ids"], b["ids"]);

    // The same request, its keys in another order and spaced differently: a replay.
    let original = candidate_change("from-a");
    let reversed: serde_json::Map<String, Value> = original
        .as_object()
        .unwrap()
        .iter()
        .rev()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let reordered = serde_json::to_string_pretty(&reversed).unwrap();
    assert_ne!(reordered, a_body);
    let again = send(&s.publisher, &reordered).await.unwrap();
    assert_eq!(again.status(), 202);
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    assert_eq!(again.json::<Value>().await.unwrap(), a);

    // A different change with A's used key: refused, naming the key.
    let clash = send(&s.publisher, &candidate_change("other").to_string())
        .await
        .unwrap();
    assert_eq!(clash.status(), 409);
    assert_eq!(clash.headers()["content-type"], "application/problem+json");
    let problem: Value = clash.json().await.unwrap();
    assert!(
        problem["detail"].as_str().unwrap().contains("'k'"),
        "{problem}"
    );

    let mut entities: Vec<String> = receiver
        .wait_for(2)
        .await
        .iter()
        .map(|r| r.json()["data"]["entityId"].as_str().unwrap().to_owned())
        .collect();
    entities.sort();
    assert_eq!(entities, ["from-a", "from-b"], "both stored and delivered");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(receiver.received().len(), 2, "nothing more");
}

async fn test_endpoint_sends_a_ping(backend: Backend) {
    let receiver = TestReceiver::ok().await;
    let s = setup(backend, config(), &receiver.url).await;
    let a = s
        .app
        .call(
            "POST",
            &format!(
                "/webhooks/v1/applications/{}/webhooks/{}/test",
                s.app_id, s.hook_id
            ),
            &s.manager,
            None,
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.text);
    assert_eq!(a.body["type"], "cxhooks:ping");
    assert_eq!(a.body["attempt"]["statusCode"], 200, "{}", a.text);
    let got = receiver.wait_for(1).await;
    let ping = got[0].json();
    assert_eq!(ping["type"], "cxhooks:ping");
    assert_eq!(ping["data"], json!({"entityId": "", "changedFields": []}));
    assert_eq!(ping["id"], a.body["_id"]);
    verify_with_seed_snippets(&s, &got[0].body, got[0].header("cx-signature"));
    // The webhook must be enabled.
    let hook_path = format!(
        "/webhooks/v1/applications/{}/webhooks/{}",
        s.app_id, s.hook_id
    );
    s.app
        .call("POST", &format!("{hook_path}/disable"), &s.manager, None)
        .await;
    assert_eq!(
        s.app
            .call("POST", &format!("{hook_path}/test"), &s.manager, None)
            .await
            .status,
        409
    );
}

async fn rotation_signs_new_deliveries_with_the_new_key(backend: Backend) {
    let receiver = TestReceiver::ok().await;
    let mut s = setup(backend, config(), &receiver.url).await;
    let rotated = s
        .app
        .call(
            "POST",
            &format!("/webhooks/v1/applications/{}/rotate-secret", s.app_id),
            &s.manager,
            None,
        )
        .await;
    s.secret = rotated.body["secret"].as_str().unwrap().to_owned();
    s.raw_secret = raw_secret(&rotated.text);
    s.publish(&candidate_change("1")).await;
    let got = receiver.wait_for(1).await;
    verify_with_seed_snippets(&s, &got[0].body, got[0].header("cx-signature"));
}

/// A publish hands its node what the node has room for (sent from memory, stored leased to it)
/// and stores the rest unclaimed, for the dispatcher to claim as room frees up. With room for
/// 16 of a webhook's deliveries (one send at a time, 16 held), a batch of 40 goes both ways:
/// every notification arrives exactly once, each signed.
async fn a_batch_larger_than_the_node_holds_is_delivered_once_each(backend: Backend) {
    let receiver = TestReceiver::start(|_| Reply::Sleep(Duration::from_millis(20))).await;
    let mut c = config();
    c.delivery.max_in_flight_per_webhook = 1;
    let s = setup(backend, c, &receiver.url).await;
    let batch: Vec<Value> = (0..40).map(|i| candidate_change(&i.to_string())).collect();
    assert_eq!(s.publish(&json!(batch)).await.status, 202);
    let got = receiver.wait_for(40).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let got_after = receiver.received();
    assert_eq!(got_after.len(), 40, "nothing sent twice");
    let mut entities: Vec<String> = got
        .iter()
        .map(|r| r.json()["data"]["entityId"].as_str().unwrap().to_owned())
        .collect();
    entities.sort();
    entities.dedup();
    assert_eq!(entities.len(), 40, "each change once");
    verify_with_seed_snippets(&s, &got[39].body, got[39].header("cx-signature"));
    assert_eq!(s.log("?limit=100").await.len(), 40);
    let mut delivered = 0;
    for _ in 0..100 {
        delivered = s.log("?status=delivered&limit=100").await.len();
        if delivered == 40 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(delivered, 40, "every outcome recorded");
}

cxhooks_store::both_backends!(
    idempotency_keys_are_per_client_and_per_request,
    a_batch_larger_than_the_node_holds_is_delivered_once_each,
    delivered_body_and_headers_field_by_field,
    fails_twice_then_succeeds,
    always_failing_ends_failed_then_redelivers,
    network_failures_are_recorded,
    disabled_webhooks_get_nothing_and_deletes_cancel,
    gone_errors_the_webhook_and_retry_after_is_honoured,
    failing_past_the_threshold_sets_error,
    a_success_clears_the_failure_streak,
    publish_validation_idempotency_and_quota,
    racing_publishes_with_one_key_are_delivered_once,
    test_endpoint_sends_a_ping,
    rotation_signs_new_deliveries_with_the_new_key,
);
