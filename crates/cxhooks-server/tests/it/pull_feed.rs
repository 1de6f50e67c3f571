//! Pull webhooks (issue 29, item 2): a webhook made without a url keeps its notifications for
//! its feed, which hands them out in order after a cursor, each with the body and
//! `cx-signature` it would have been sent with (the seed's verifiers accept them), long-polls,
//! and answers 410 for a cursor whose next entry retention removed.

use crate::delivery::{Setup, candidate_change, config, setup};
use crate::harness::{Answer, assert_problem};
use crate::management::reference_verify;
use crate::receiver::TestReceiver;
use cxhooks_store::testing::Backend;
use serde_json::{Value, json};

impl Setup {
    async fn pull_webhook(&self, body: &Value) -> Answer {
        let path = format!("/webhooks/v1/applications/{}/webhooks", self.app_id);
        self.app.json("POST", &path, &self.manager, body).await
    }

    async fn feed(&self, hook: &str, query: &str) -> Answer {
        let path = format!(
            "/webhooks/v1/applications/{}/webhooks/{hook}/feed{query}",
            self.app_id
        );
        self.app.call("GET", &path, &self.manager, None).await
    }
}

fn seqs(a: &Answer) -> Vec<i64> {
    a.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["seq"].as_i64().unwrap())
        .collect()
}

async fn a_pull_webhook_hands_out_its_notifications_from_its_feed(backend: Backend) {
    let receiver = TestReceiver::ok().await;
    let s = setup(backend, config(), &receiver.url).await;
    let created = s
        .pull_webhook(&json!({"description": "behind a firewall",
            "filters": [{"eventType": "cremployee:updated"}]}))
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    assert_eq!(created.body["mode"], "pull");
    assert!(created.body["url"].is_null());
    let hook = created.body["_id"].as_str().unwrap().to_owned();
    let feed_url = created.body["feedUrl"].as_str().unwrap();
    assert!(
        feed_url.ends_with(&format!(
            "/webhooks/v1/applications/{}/webhooks/{hook}/feed",
            s.app_id
        )),
        "{feed_url}"
    );

    // Nothing yet: an empty page at cursor 0.
    let empty = s.feed(&hook, "").await;
    assert_eq!(empty.status, 200, "{}", empty.text);
    assert_eq!(empty.body["data"], json!([]));
    assert_eq!(
        (empty.body["cursor"].clone(), empty.body["lastSeq"].clone()),
        (json!(0), json!(0))
    );

    for id in ["1", "2", "3"] {
        let a = s.publish(&candidate_change(id)).await;
        assert_eq!(a.status, 202, "{}", a.text);
    }
    let page = s.feed(&hook, "?limit=2").await;
    assert_eq!(page.status, 200, "{}", page.text);
    assert_eq!(seqs(&page), [1, 2]);
    assert_eq!(
        (page.body["cursor"].clone(), page.body["lastSeq"].clone()),
        (json!(2), json!(3))
    );
    let rest = s.feed(&hook, "?cursor=2").await;
    assert_eq!(seqs(&rest), [3]);
    let all = s.feed(&hook, "?cursor=0").await;
    let entries = all.body["data"].as_array().unwrap().clone();
    let ids: Vec<&str> = entries
        .iter()
        .map(|e| {
            let payload: Value = serde_json::from_str(e["payload"].as_str().unwrap()).unwrap();
            assert_eq!(payload["id"], e["id"]);
            assert_eq!(payload["webhookId"], hook.as_str());
            assert_eq!(e["eventType"], "cremployee:updated");
            assert_eq!(e["erased"], false);
            e["payload"].as_str().unwrap()
        })
        .collect();
    assert!(ids[0].contains("\"entityId\":\"1\"") && ids[2].contains("\"entityId\":\"3\""));

    // Signed as a push would be: the seed's verifiers accept the body and `cx-signature`.
    let first = &entries[0];
    let body = first["payload"].as_str().unwrap().as_bytes();
    let signature = first["headers"]["cx-signature"].as_str().unwrap();
    for lang in ["node", "php"] {
        let (code, said) = reference_verify(lang, &s.secret, signature, body);
        assert_eq!(code, 0, "{lang}: {said}");
    }
    let (code, _) = reference_verify("node", &s.secret, signature, b"{\"tampered\":1}");
    assert_ne!(code, 0, "a tampered body verifies");
    let jwks = s
        .app
        .get_json(
            &format!("/webhooks/v1/applications/{}/jwks", s.app_id),
            Some(&s.manager),
        )
        .await;
    let keys = cxhooks_consumer::KeySet::from_jwks(&jwks).unwrap();
    let kid = first["headers"]["cx-signature-key-id"].as_str().unwrap();
    let n = cxhooks_consumer::Notification::parse_with(&keys, kid, body, signature).unwrap();
    assert_eq!(n.data.entity_id, "1");

    // Held, never sent: the request log lists them as held, and redelivering one is refused.
    let log = s.log(&format!("?webhookId={hook}")).await;
    assert_eq!(log.len(), 3);
    assert!(log.iter().all(|e| e["status"] == "held"), "{log:?}");
    let event = first["id"].as_str().unwrap();
    let again = s
        .app
        .call(
            "POST",
            &format!(
                "/webhooks/v1/applications/{}/events/{event}/redeliver",
                s.app_id
            ),
            &s.manager,
            None,
        )
        .await;
    assert_problem(&again, 409, "", "pull webhook's feed");

    // A long poll at the end waits for the next notification and answers it.
    let waiting = s.feed(&hook, "?cursor=3&wait=20");
    let publishing = async {
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        s.publish(&candidate_change("4")).await
    };
    let (woken, published) = tokio::join!(waiting, publishing);
    assert_eq!(published.status, 202, "{}", published.text);
    assert_eq!(seqs(&woken), [4], "{}", woken.text);

    // A ping goes into the feed too.
    let ping = s
        .app
        .call(
            "POST",
            &format!(
                "/webhooks/v1/applications/{}/webhooks/{hook}/test",
                s.app_id
            ),
            &s.manager,
            None,
        )
        .await;
    assert!(ping.status < 300, "{}", ping.text);
    let pinged = s.feed(&hook, "?cursor=4").await;
    assert_eq!(pinged.body["data"][0]["eventType"], "cxhooks:ping");

    // The pushing webhook of the same application got the candidates, not the ping.
    receiver.wait_for(4).await;
}

async fn a_feed_refuses_what_it_cannot_answer(backend: Backend) {
    let receiver = TestReceiver::ok().await;
    let s = setup(backend, config(), &receiver.url).await;
    // Custom headers have nowhere to go without a url.
    let headers = s
        .pull_webhook(&json!({"filters": [{"eventType": "crjob:created"}],
            "customHeaders": [{"name": "X-Key", "value": "k"}]}))
        .await;
    assert_problem(&headers, 400, "/customHeaders", "pull webhook");
    // `mode`, if given, agrees with the url.
    let filters = json!([{"eventType": "crjob:created"}]);
    for (body, says) in [
        (
            json!({"mode": "pull", "url": receiver.url, "filters": filters}),
            "leave 'url' out",
        ),
        (
            json!({"mode": "push", "filters": filters}),
            "give the 'url'",
        ),
        (
            json!({"mode": "sideways", "filters": filters}),
            "not 'sideways'",
        ),
    ] {
        assert_problem(&s.pull_webhook(&body).await, 400, "/mode", says);
    }
    let created = s
        .pull_webhook(&json!({"mode": "pull", "filters": filters}))
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    let hook = created.body["_id"].as_str().unwrap().to_owned();
    let path = format!("/webhooks/v1/applications/{}/webhooks/{hook}", s.app_id);
    // Pulling is set when the webhook is made.
    let to_push = s
        .app
        .json("PATCH", &path, &s.manager, &json!({"url": receiver.url}))
        .await;
    assert_problem(&to_push, 400, "/url", "pull webhook");
    let pushing = format!(
        "/webhooks/v1/applications/{}/webhooks/{}",
        s.app_id, s.hook_id
    );
    let to_pull = s
        .app
        .json("PATCH", &pushing, &s.manager, &json!({"url": null}))
        .await;
    assert_problem(&to_pull, 400, "/url", "'url' is required");

    for (query, path, says) in [
        ("?cursor=abc", "?cursor", "not 'abc'"),
        ("?cursor=-1", "?cursor", "not '-1'"),
        ("?wait=61", "?wait", "0 to 60"),
        ("?limit=0", "?limit", "1 to 1000"),
        ("?limit=1001", "?limit", "0 to 1000"),
        ("?cursor=5", "?cursor", "past the feed's last entry (0)"),
    ] {
        let a = s.feed(&hook, query).await;
        assert_problem(&a, 400, path, says);
    }
    // A pushing webhook has no feed; another tenant's webhook is not found.
    let push = s.feed(&s.hook_id, "").await;
    assert_problem(&push, 409, "", "pushes its deliveries");
    assert_eq!(push.body["type"], "urn:cxhooks:problem:not-a-pull-webhook");
    s.app.tenant("other").await;
    let (_, stranger) = s
        .app
        .client_token(
            "other",
            crate::harness::ALL_SCOPES,
            "create=on,read=all,update=all,delete=all",
        )
        .await;
    let foreign = s
        .app
        .call(
            "GET",
            &format!(
                "/webhooks/v1/applications/{}/webhooks/{hook}/feed",
                s.app_id
            ),
            &stranger,
            None,
        )
        .await;
    assert_eq!(foreign.status, 404, "{}", foreign.text);

    // Retention: once the first entries are purged, a cursor before them is gone (410, naming
    // the oldest kept); without a cursor the feed starts at the oldest kept.
    for i in 0..3 {
        let a = s
            .publish(&json!({"type": "crjob:created", "entityId": i.to_string(), "data": {}}))
            .await;
        assert_eq!(a.status, 202, "{}", a.text);
    }
    assert_eq!(seqs(&s.feed(&hook, "?cursor=0").await), [1, 2, 3]);
    let first_two: Vec<String> = s.feed(&hook, "?cursor=0&limit=2").await.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_str().unwrap().to_owned())
        .collect();
    // What the purge deletes (it purges by time; these three were made within a moment).
    let ids: Vec<String> = first_two.iter().map(|id| format!("'{id}'")).collect();
    let sql = format!("DELETE FROM deliveries WHERE id IN ({})", ids.join(", "));
    cxhooks_store::testing::execute(s.app.store(), &sql).await;
    let gone = s.feed(&hook, "?cursor=0").await;
    assert_problem(&gone, 410, "", "past their retention");
    assert_eq!(gone.body["oldest"], 3);
    assert_eq!(seqs(&s.feed(&hook, "").await), [3]);
    assert_eq!(seqs(&s.feed(&hook, "?cursor=2").await), [3]);
}

cxhooks_store::both_backends!(
    a_pull_webhook_hands_out_its_notifications_from_its_feed,
    a_feed_refuses_what_it_cannot_answer
);
