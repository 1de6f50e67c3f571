//! Erasure (issue 29, item 4; GDPR art. 17): `DELETE /data/v1/{entity}/{id}?erase=true`
//! removes the record and its traces (its changes' data, its deliveries' payloads and the
//! receivers' answers, its idempotency answers) and notifies `{entity}:deleted` with
//! `metadata.erased`. Afterwards the record's personal data is found nowhere: not in any column
//! of any table through SQL (packed columns unpacked), and not in the SQLite file's bytes.

use crate::delivery::{Setup, config, setup, verify_with_seed_snippets};
use crate::harness::assert_problem;
use axum::body::Bytes;
use axum::http::HeaderMap;
use cxhooks_store::testing::{Backend, find_everywhere};
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Personal data of the erased candidate: its last names and e-mail address.
const NAME: &str = "Zyxwvutsrq";
const NEW_NAME: &str = "Qponmlkjih";
const EMAIL: &str = "zyxwv@erase.example";

type Seen = Arc<Mutex<Vec<(HeaderMap, Bytes)>>>;
type EchoFor = Arc<Mutex<Option<String>>>;

/// A receiver that answers 200, and for a change of the record `EchoFor` names (unless it is
/// the erasure itself) with a body repeating the candidate's name, as a careless one might:
/// the request log stores that answer.
async fn echoing_receiver() -> (String, Seen, EchoFor) {
    let (seen, echo_for): (Seen, EchoFor) = Default::default();
    let (keep, echo) = (seen.clone(), echo_for.clone());
    let app = axum::Router::new().fallback(move |headers: HeaderMap, body: Bytes| {
        let (keep, echo) = (keep.clone(), echo.clone());
        async move {
            let n: Value = serde_json::from_slice(&body).unwrap_or_default();
            keep.lock().unwrap().push((headers, body));
            let about = n["data"]["entityId"].as_str().map(str::to_owned);
            if about.is_some() && about == *echo.lock().unwrap() && n.get("metadata").is_none() {
                format!("ok, got it for {NAME} <{EMAIL}>")
            } else {
                "ok".to_owned()
            }
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, seen, echo_for)
}

async fn wait_for(seen: &Seen, n: usize) -> Vec<(HeaderMap, Bytes)> {
    for _ in 0..400 {
        if seen.lock().unwrap().len() >= n {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let got = seen.lock().unwrap().clone();
    assert!(got.len() >= n, "{} of {n} deliveries arrived", got.len());
    got
}

async fn records_token(s: &Setup) -> String {
    let (_, token) = s
        .app
        .client_token("acme", "urn:cx/cx5Wrapper:data:manage", "")
        .await;
    token
}

/// Where the store still holds any of the candidate's personal data.
async fn traces(s: &Setup) -> Vec<String> {
    let mut found = Vec::new();
    for needle in [NAME, NEW_NAME, EMAIL] {
        for hit in find_everywhere(s.app.store(), needle).await {
            found.push(format!("{needle} in {hit}"));
        }
        if let Some(file) = s.app.sqlite_file() {
            for suffix in ["", "-wal"] {
                let path = format!("{}{suffix}", file.display());
                let bytes = std::fs::read(&path).unwrap_or_default();
                if bytes.windows(needle.len()).any(|w| w == needle.as_bytes()) {
                    found.push(format!("{needle} in the bytes of {path}"));
                }
            }
        }
    }
    found
}

async fn an_erased_record_leaves_no_personal_data_behind(backend: Backend) {
    let (url, seen, echo_for) = echoing_receiver().await;
    let s = setup(backend, config(), &url).await;
    let hook = json!({"url": url, "filters": [{"eventType": "cremployee:created"},
        {"eventType": "cremployee:updated"}, {"eventType": "cremployee:deleted"}]});
    let a = s
        .app
        .json(
            "POST",
            &format!("/webhooks/v1/applications/{}/webhooks", s.app_id),
            &s.manager,
            &hook,
        )
        .await;
    assert_eq!(a.status, 201, "{}", a.text);
    let records = records_token(&s).await;
    let created = s
        .app
        .json(
            "POST",
            "/data/v1/cremployee",
            &records,
            &json!({"touser": {"lastname": NAME, "emailaddress": EMAIL}}),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    let id = created.body["_id"].as_str().unwrap().to_owned();
    *echo_for.lock().unwrap() = Some(id.clone());
    let path = format!("/data/v1/cremployee/{id}");
    let updated = s
        .app
        .json(
            "PATCH",
            &path,
            &records,
            &json!({"touser": {"lastname": NEW_NAME}}),
        )
        .await;
    assert_eq!(updated.status, 200, "{}", updated.text);
    // A publish about the same record, with an Idempotency-Key, as a source system sends one.
    let published = s
        .app
        .http
        .post(format!("{}/webhooks/v1/changes", s.app.url))
        .bearer_auth(&s.publisher)
        .header("idempotency-key", "erase-me-1")
        .json(&json!({"type": "cremployee:updated", "entityId": id,
            "data": {"touser": {"lastname": NAME}}, "metadata": {"paths": ["touser.lastname"]}}))
        .send()
        .await
        .unwrap();
    assert_eq!(published.status(), 202);
    // Another candidate stays as it is.
    let other = s
        .app
        .json(
            "POST",
            "/data/v1/cremployee",
            &records,
            &json!({"touser": {"lastname": "Keepme"}}),
        )
        .await;
    assert_eq!(other.status, 201);
    wait_for(&seen, 4).await;
    for _ in 0..100 {
        if s.log("?limit=100")
            .await
            .iter()
            .all(|d| d["status"] == "delivered")
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Before: the data is in the store (the record, the changes, the receivers' answers): the
    // search finds it, so that finding nothing afterwards means something.
    let before = traces(&s).await;
    assert!(
        before.iter().any(|t| t.contains("records.data")),
        "{before:?}"
    );
    assert!(
        before.iter().any(|t| t.contains("changes.body")),
        "{before:?}"
    );
    assert!(
        before.iter().any(|t| t.contains("response_body")),
        "{before:?}"
    );

    assert_problem(
        &s.app
            .call("DELETE", &format!("{path}?erase=yes"), &records, None)
            .await,
        400,
        "?erase",
        "'yes' is not true or false",
    );
    let erased = s
        .app
        .call("DELETE", &format!("{path}?erase=true"), &records, None)
        .await;
    assert_eq!(erased.status, 204, "{}", erased.text);
    assert_eq!(s.app.call("GET", &path, &records, None).await.status, 404);

    // Subscribers are told: a signed deleted with metadata.erased, and nothing of the record.
    // (Delivery is at least once: an earlier notification may come again, after it, when a
    // loaded machine timed out its answer; the erasure's is the one of type deleted.)
    let deleted = |got: &[(HeaderMap, Bytes)]| {
        got.iter()
            .find(|(_, body)| {
                serde_json::from_slice::<Value>(body)
                    .is_ok_and(|n| n["type"] == "cremployee:deleted")
            })
            .cloned()
    };
    let mut found = None;
    for _ in 0..400 {
        found = deleted(&seen.lock().unwrap());
        if found.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (headers, body) = found.expect("the erasure's deleted notification arrives");
    let (headers, body) = (&headers, &body);
    let n: Value = serde_json::from_slice(body).unwrap();
    assert_eq!(n["type"], "cremployee:deleted");
    assert_eq!(n["data"]["entityId"], id.as_str());
    assert_eq!(n["metadata"], json!({"erased": true}));
    verify_with_seed_snippets(&s, body, headers["cx-signature"].to_str().unwrap());
    let parsed: cxhooks_consumer::Notification = serde_json::from_slice(body).unwrap();
    assert!(parsed.is_erased());
    tokio::time::sleep(Duration::from_millis(300)).await;

    // Afterwards: nowhere, through SQL or in the file.
    let after = traces(&s).await;
    assert!(after.is_empty(), "personal data left: {after:?}");
    // The request log keeps tombstones: ids, type, status and times.
    let log = s.log("?limit=100").await;
    assert!(log.len() >= 5, "{log:?}");
    let tomb = log
        .iter()
        .find(|d| d["type"] == "cremployee:created" && d["entityId"] == id.as_str())
        .unwrap()["_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let detail = s.event(&tomb).await;
    assert_eq!(detail["status"], "delivered");
    assert_eq!(
        detail["payload"],
        json!({"erased": true, "data": {"entityId": id}}),
        "{detail}"
    );
    assert_eq!(detail["attempts"][0]["responseBody"], "", "{detail}");
    // It is no longer a delivery to send: redelivering it is refused.
    let again = s
        .app
        .call(
            "POST",
            &format!(
                "/webhooks/v1/applications/{}/events/{tomb}/redeliver",
                s.app_id
            ),
            &s.manager,
            None,
        )
        .await;
    assert_problem(&again, 409, "", "erased");
    // The other candidate is untouched, and the idempotency key is forgotten: the same publish
    // again is a new one.
    assert!(traces_of(&s, "Keepme").await);
    let again = s
        .app
        .http
        .post(format!("{}/webhooks/v1/changes", s.app.url))
        .bearer_auth(&s.publisher)
        .header("idempotency-key", "erase-me-1")
        .json(&json!({"type": "cremployee:updated", "entityId": "other",
            "data": {}, "metadata": {"paths": []}}))
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 202, "a new publish, not a replay or a 409");
    // Erasing it again finds nothing left to erase, and says it is done; an id the store
    // never knew is a 404.
    assert_eq!(
        s.app
            .call("DELETE", &format!("{path}?erase=true"), &records, None)
            .await
            .status,
        204
    );
    assert_eq!(
        s.app
            .call(
                "DELETE",
                "/data/v1/cremployee/987654?erase=true",
                &records,
                None
            )
            .await
            .status,
        404
    );

    // A record deleted before without erasure: its deleted change kept it; erasing its id
    // afterwards removes that too.
    const LATE: &str = "Lateerasurename";
    let late = s
        .app
        .json(
            "POST",
            "/data/v1/cremployee",
            &records,
            &json!({"touser": {"lastname": LATE}}),
        )
        .await;
    let late_path = format!("/data/v1/cremployee/{}", late.body["_id"].as_str().unwrap());
    assert_eq!(
        s.app
            .call("DELETE", &late_path, &records, None)
            .await
            .status,
        204
    );
    assert!(
        traces_of(&s, LATE).await,
        "the deleted change keeps the record"
    );
    assert_eq!(
        s.app
            .call("DELETE", &format!("{late_path}?erase=true"), &records, None)
            .await
            .status,
        204
    );
    assert!(!traces_of(&s, LATE).await, "erased after its deletion");
}

async fn traces_of(s: &Setup, needle: &str) -> bool {
    !find_everywhere(s.app.store(), needle).await.is_empty()
}

cxhooks_store::both_backends!(an_erased_record_leaves_no_personal_data_behind);
