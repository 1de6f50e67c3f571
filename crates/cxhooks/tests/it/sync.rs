//! `cxhooks sync`: replica equality, diagnosis, forged notifications, restarts.

use crate::env::{Env, Proc};
use cxhooks_store::testing::Backend;
use cxhooks_sync::replica::Replica;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const SCOPES: &str =
    "urn:cx/webhooks:data:manage urn:cx/cx5Wrapper:data:manage urn:cx/cx5Acl:data:manage";
const SERVER: [(&str, &str); 1] = [("CXHOOKS_DELIVERY__ALLOW_PRIVATE_TARGETS", "true")];

pub(crate) struct Source {
    env: Env,
    _server: Proc,
    url: String,
    id: String,
    secret: String,
    http: reqwest::Client,
    token: String,
}

fn client(env: &Env, scopes: &str, permissions: &str) -> (String, String) {
    let c: Value = serde_json::from_str(&env.ok(&[
        "client",
        "create",
        "--tenant",
        "acme",
        "--name",
        "HireData",
        "--code",
        "urn:hiredata/hiredata",
        "--scopes",
        scopes,
        "--permissions",
        permissions,
        "--json",
    ]))
    .unwrap();
    (
        c["clientId"].as_str().unwrap().to_owned(),
        c["clientSecret"].as_str().unwrap().to_owned(),
    )
}

pub(crate) async fn source(backend: Backend) -> Source {
    source_with(backend, &[]).await
}

/// A source whose server also has the variables `vars` (a shorter retry schedule, …).
pub(crate) async fn source_with(backend: Backend, vars: &[(&str, &str)]) -> Source {
    let env = Env::new(backend).await;
    env.ok(&["tenant", "create", "acme"]);
    let (id, secret) = client(&env, SCOPES, "create=on,read=all,update=owner,delete=owner");
    let vars: Vec<(&str, &str)> = SERVER.iter().chain(vars).copied().collect();
    let (server, url) = env.serve_with(&vars);
    let http = reqwest::Client::new();
    let t: Value = http
        .post(format!(
            "{url}/auth/realms/acme/protocol/openid-connect/token"
        ))
        .basic_auth(&id, Some(&secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = t["access_token"].as_str().unwrap().to_owned();
    Source {
        env,
        _server: server,
        url,
        id,
        secret,
        http,
        token,
    }
}

impl Source {
    /// `cxhooks erase {entity} {id}` as this source's client; answers what it printed.
    pub(crate) fn erase(&self, entity: &str, id: &str) -> String {
        let out = self
            .env
            .command(&["erase", entity, id, "--url", &self.url, "--tenant", "acme"])
            .args(["--client-id", &self.id])
            .env("CXHOOKS_CLIENT_SECRET", &self.secret)
            .output()
            .unwrap();
        let said = String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{said}");
        said
    }

    pub(crate) async fn call(&self, method: reqwest::Method, path: &str, body: Value) -> Value {
        let r = self
            .http
            .request(method, format!("{}{path}", self.url))
            .bearer_auth(&self.token)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "{path}: {}", r.status());
        r.json().await.unwrap_or(Value::Null)
    }

    /// Creates `n` candidates, statuses cycling over 1000..=1003, eight writers at once. The
    /// lookup records first: a vacancy status "Active" (another type), then 505 other
    /// candidate statuses, so that "Active" and "New" of the candidates are on the second page.
    pub(crate) async fn candidates(&self, n: usize) {
        self.call(
            reqwest::Method::POST,
            "/data/v1/crdatanode",
            json!({"datanodeid": 2001, "value": "Active", "type": "Vacancy status"}),
        )
        .await;
        self.post_all(505, |i| {
            ("crdatanode", json!({"datanodeid": 3000 + i, "value": format!("Other {i:03}"), "type": "Candidate status"}))
        })
        .await;
        self.call(
            reqwest::Method::POST,
            "/data/v1/crdatanode",
            json!({"datanodeid": 1001, "value": "Active", "type": "Candidate status"}),
        )
        .await;
        self.call(
            reqwest::Method::POST,
            "/data/v1/crdatanode",
            json!({"datanodeid": 1002, "value": "New", "type": "Candidate status"}),
        )
        .await;
        self.post_all(n, |i| {
            ("cremployee", json!({"touser": {"lastname": format!("C{i}"), "tosinglestatusnode": 1000 + (i % 4)}, "hascar": i % 2}))
        })
        .await;
    }

    /// Posts `n` records, `record(i)` naming the entity and body, eight writers at once.
    pub(crate) async fn post_all(
        &self,
        n: usize,
        record: impl Fn(usize) -> (&'static str, Value) + Send + Sync + 'static,
    ) {
        let record = std::sync::Arc::new(record);
        let mut tasks = Vec::new();
        for w in 0..8 {
            let (http, url, token) = (self.http.clone(), self.url.clone(), self.token.clone());
            let record = record.clone();
            tasks.push(tokio::spawn(async move {
                for i in (w..n).step_by(8) {
                    let (entity, body) = record(i);
                    let r = http
                        .post(format!("{url}/data/v1/{entity}"))
                        .bearer_auth(&token)
                        .json(&body)
                        .send()
                        .await
                        .unwrap();
                    assert_eq!(r.status(), 201);
                }
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
    }

    /// What the replica should hold: the source's records with a status among `statuses`.
    pub(crate) async fn expected_in(&self, statuses: &[u32]) -> BTreeMap<String, Value> {
        let mut out = BTreeMap::new();
        let mut cursor = String::new();
        let ids: Vec<String> = statuses.iter().map(u32::to_string).collect();
        let filter = format!("data.touser.tosinglestatusnode in [{}]", ids.join(", "));
        loop {
            let query = reqwest::Url::parse_with_params(
                "http://x/",
                [("limit", "500"), ("cursor", &cursor), ("filter", &filter)],
            )
            .unwrap()
            .query()
            .unwrap_or_default()
            .to_owned();
            let page = self
                .call(
                    reqwest::Method::GET,
                    &format!("/data/v1/cremployee?{query}"),
                    Value::Null,
                )
                .await;
            for r in page["items"].as_array().unwrap() {
                out.insert(r["_id"].as_str().unwrap().to_owned(), r.clone());
            }
            match page["nextCursor"].as_str() {
                Some(c) => cursor = c.to_owned(),
                None => return out,
            }
        }
    }

    pub(crate) fn replica_url(&self) -> String {
        // A PostgreSQL replica for the PostgreSQL run (in the test's own schema), a file otherwise.
        match &self.env.database_url {
            Some(url) => url.clone(),
            None => format!(
                "sqlite:{}",
                self.env.dir.path().join("replica.db").display()
            ),
        }
    }

    pub(crate) fn sync(&self, extra: &[&str]) -> (Proc, String) {
        self.sync_as("Active,New", extra)
    }

    /// A sync of the candidates with these statuses (labels, comma-separated; none: no
    /// `--status`, for `extra` to say what to keep).
    pub(crate) fn sync_as(&self, statuses: &str, extra: &[&str]) -> (Proc, String) {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let listen = format!("127.0.0.1:{port}");
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_cxhooks"));
        cmd.args([
            "sync",
            "--base-url",
            &self.url,
            "--tenant",
            "acme",
            "--client-id",
            &self.id,
            "--into",
            &self.replica_url(),
            "--listen",
            &listen,
        ])
        .args(if statuses.is_empty() {
            vec![]
        } else {
            vec!["--status", statuses]
        })
        .args(extra)
        .env("CXHOOKS_CLIENT_SECRET", &self.secret)
        .stdout(Stdio::null())
        .stderr(Stdio::inherit());
        (
            Proc(cmd.spawn().unwrap()),
            format!("http://{listen}/webhook"),
        )
    }

    pub(crate) async fn replica(&self) -> BTreeMap<String, Value> {
        self.replica_of("cremployee").await
    }

    /// The replica's records of `entity`, by id.
    pub(crate) async fn replica_of(&self, entity: &str) -> BTreeMap<String, Value> {
        let replica = Replica::open(&self.replica_url()).await.unwrap();
        replica
            .records(entity)
            .await
            .unwrap()
            .into_iter()
            .map(|(id, data)| (id, serde_json::from_str(&data).unwrap()))
            .collect()
    }

    pub(crate) async fn timeline(&self) -> Vec<String> {
        let replica = Replica::open(&self.replica_url()).await.unwrap();
        replica
            .timeline(1000)
            .await
            .unwrap()
            .into_iter()
            .map(|e| format!("{} {}", e.kind, e.message))
            .collect()
    }

    /// Starts a sync (`extra` arguments), waits until it is in real time and the replica
    /// equals the source; answers the running sync.
    pub(crate) async fn synced(&self, extra: &[&str]) -> Proc {
        let (sync, _) = self.sync(extra);
        self.until_timeline("run now in real time").await;
        self.converge().await;
        sync
    }

    /// The id of the sync's application (`cxhooks-sync cremployee`).
    pub(crate) async fn sync_application(&self) -> String {
        let apps = self
            .call(
                reqwest::Method::GET,
                "/webhooks/v1/applications?limit=500",
                Value::Null,
            )
            .await;
        apps["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["name"] == "cxhooks-sync cremployee")
            .unwrap()["_id"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// Waits until a timeline line starts with `prefix` (or panics after 90 s); answers it.
    pub(crate) async fn until_timeline(&self, prefix: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(90);
        loop {
            let timeline = self.timeline().await;
            if let Some(l) = timeline.iter().find(|l| l.starts_with(prefix)) {
                return l.clone();
            }
            assert!(Instant::now() < deadline, "no '{prefix}' in {timeline:?}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// A burst of concurrent changes: statuses in and out of the filter, new records,
    /// deletions; eight writers, 320 changes.
    pub(crate) async fn burst(&self) {
        let mut tasks = Vec::new();
        for w in 0..8u64 {
            let (http, url, token) = (self.http.clone(), self.url.clone(), self.token.clone());
            tasks.push(tokio::spawn(async move {
                for k in 0..40u64 {
                    let id = 1 + (w * 97 + k * 31) % 2000;
                    let r = match k % 5 {
                        0 => http.delete(format!("{url}/data/v1/cremployee/{id}")).bearer_auth(&token).send().await.unwrap(),
                        1 => http.post(format!("{url}/data/v1/cremployee")).bearer_auth(&token).json(&json!({"touser": {"lastname": "New", "tosinglestatusnode": 1001}})).send().await.unwrap(),
                        _ => http
                            .patch(format!("{url}/data/v1/cremployee/{id}"))
                            .bearer_auth(&token)
                            .json(&json!({"touser": {"tosinglestatusnode": 1000 + (k % 4), "lastname": format!("W{w}K{k}")}}))
                            .send()
                            .await
                            .unwrap(),
                    };
                    assert!(r.status().is_success() || r.status() == 404, "{}", r.status());
                }
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
    }

    pub(crate) async fn converge(&self) {
        self.converge_in(&[1001, 1002]).await
    }

    /// Waits until the replica holds exactly the source's records with a status among
    /// `statuses`, field for field (or panics after 90 s with what differs).
    pub(crate) async fn converge_in(&self, statuses: &[u32]) {
        let deadline = Instant::now() + Duration::from_secs(90);
        loop {
            let (want, have) = (self.expected_in(statuses).await, self.replica().await);
            if want == have {
                return;
            }
            if Instant::now() > deadline {
                let missing: Vec<_> = want.keys().filter(|k| !have.contains_key(*k)).collect();
                let extra: Vec<_> = have.keys().filter(|k| !want.contains_key(*k)).collect();
                let stale: Vec<_> = want
                    .iter()
                    .filter(|(k, v)| have.get(*k).is_some_and(|h| h != *v))
                    .map(|(k, _)| k)
                    .collect();
                panic!("replica differs: missing {missing:?}, extra {extra:?}, stale {stale:?}");
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

async fn replica_equals_the_source_after_initial_sync_and_a_burst(backend: Backend) {
    let s = source(backend).await;
    s.candidates(2000).await;
    let (_sync, _) = s.sync(&[]);
    let deadline = Instant::now() + Duration::from_secs(60);
    while !s
        .timeline()
        .await
        .iter()
        .any(|l| l.starts_with("initial initial sync of cremployee"))
    {
        assert!(
            Instant::now() < deadline,
            "the initial sync did not finish: {:?}",
            s.timeline().await
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(s.replica().await.len(), 1000);
    // Then it says it is in real time (after re-checking what was notified meanwhile).
    while !s
        .timeline()
        .await
        .iter()
        .any(|l| l.starts_with("run now in real time"))
    {
        assert!(Instant::now() < deadline, "{:?}", s.timeline().await);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    s.burst().await;
    s.converge().await;
    let timeline = s.timeline().await;
    assert!(
        timeline
            .iter()
            .any(|l| l.starts_with("applied cremployee") && l.contains("removed")),
        "{timeline:?}"
    );
    // The burst's notifications arrive at once: none failed on the replica's own lock.
    let failed: Vec<_> = timeline.iter().filter(|l| l.starts_with("error")).collect();
    assert!(failed.is_empty(), "{failed:?}");
}

/// The receiver's writes and the initial sync's pages share the replica: a burst while small
/// pages are still being copied fails nothing (writes queue in the process, they do not
/// collide on SQLite's lock).
async fn a_burst_during_the_initial_sync_fails_nothing(backend: Backend) {
    let s = source(backend).await;
    s.candidates(2000).await;
    let (_sync, _) = s.sync(&["--page-size", "5"]);
    let deadline = Instant::now() + Duration::from_secs(60);
    while s.replica().await.is_empty() {
        assert!(Instant::now() < deadline, "the initial sync did not start");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    s.burst().await;
    s.converge().await;
    let timeline = s.timeline().await;
    let failed: Vec<_> = timeline.iter().filter(|l| l.starts_with("error")).collect();
    assert!(failed.is_empty(), "{failed:?}");
}

async fn restart_in_the_middle_of_the_initial_sync(backend: Backend) {
    let s = source(backend).await;
    s.candidates(600).await;
    let (mut sync, _) = s.sync(&["--page-size", "3"]);
    // Kill it once some pages are in, before the last.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let n = s.replica().await.len();
        if n >= 30 {
            assert!(
                n < 300,
                "the initial sync finished before it could be interrupted"
            );
            break;
        }
        assert!(Instant::now() < deadline, "the initial sync did not start");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    sync.kill().unwrap();
    sync.wait().unwrap();
    let (_sync, _) = s.sync(&["--page-size", "50"]);
    s.converge().await;
    let timeline = s.timeline().await;
    assert!(
        timeline
            .iter()
            .any(|l| l.contains("resuming the initial sync")),
        "{timeline:?}"
    );
}

async fn forged_notifications_are_rejected_and_in_the_timeline(backend: Backend) {
    let s = source(backend).await;
    s.candidates(10).await;
    let (_sync, receiver) = s.sync(&[]);
    s.converge().await;
    let forged = json!({"id": "f", "time": "2026-11-23T10:00:00Z", "type": "cremployee:deleted", "applicationId": "a",
        "webhookId": "w", "tenant": "acme", "data": {"entityId": "1", "changedFields": []}});
    let r = s
        .http
        .post(&receiver)
        .header("cx-signature", "AAAA")
        .json(&forged)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    // Nothing was removed; the timeline says why.
    s.converge().await;
    let out = s
        .env
        .command(&["sync", "--timeline", "--json", "--into", &s.replica_url()])
        .output()
        .unwrap();
    let lines: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines[0]["kind"], "error", "newest first: {lines:?}");
    assert!(
        lines[0]["message"]
            .as_str()
            .unwrap()
            .contains("rejected a notification: Cx-Signature does not match"),
        "{lines:?}"
    );

    // A redelivery carries the same id: applied once, then skipped.
    let app = s.sync_application().await;
    // A candidate the filter selects (ids follow arrival order, statuses cycle).
    let selected = s.replica().await.into_keys().next().unwrap();
    s.call(
        reqwest::Method::PATCH,
        &format!("/data/v1/cremployee/{selected}"),
        json!({"touser": {"lastname": "Again"}}),
    )
    .await;
    let deadline = Instant::now() + Duration::from_secs(30);
    let event = loop {
        let events = s.call(reqwest::Method::GET, &format!("/webhooks/v1/applications/{app}/events?status=delivered&type=cremployee:updated"), Value::Null).await;
        if let Some(e) = events["items"].as_array().unwrap().first() {
            break e["_id"].as_str().unwrap().to_owned();
        }
        if Instant::now() > deadline {
            let all = s
                .call(
                    reqwest::Method::GET,
                    &format!("/webhooks/v1/applications/{app}/events"),
                    Value::Null,
                )
                .await;
            panic!("the update was never delivered: {all}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    s.call(
        reqwest::Method::POST,
        &format!("/webhooks/v1/applications/{app}/events/{event}/redeliver"),
        Value::Null,
    )
    .await;
    let deadline = Instant::now() + Duration::from_secs(30);
    while !s
        .timeline()
        .await
        .iter()
        .any(|l| l == &format!("skipped notification {event} already applied"))
    {
        assert!(
            Instant::now() < deadline,
            "the duplicate was not skipped: {:?}",
            s.timeline().await
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn missing_scopes_are_diagnosed_by_name(backend: Backend) {
    let s = source(backend).await;
    let (id, secret) = client(
        &s.env,
        "urn:cx/cx5Wrapper:data:manage urn:cx/cx5Acl:data:manage",
        "create=on,read=all,update=owner",
    );
    let run = |id: &str, secret: &str, url: &str| {
        s.env
            .command(&[
                "sync",
                "--check",
                "--base-url",
                url,
                "--tenant",
                "acme",
                "--client-id",
                id,
                "--status",
                "Active",
            ])
            .env("CXHOOKS_CLIENT_SECRET", secret)
            .output()
            .unwrap()
    };
    let out = run(&id, &secret, &s.url);
    let said = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(5), "{said}");
    assert!(said.contains("403: Forbidden"), "{said}");
    assert!(
        said.contains("missing scope urn:cx/webhooks:data:manage"),
        "{said}"
    );
    assert!(
        said.contains("add `urn:cx/webhooks:data:manage` to the client's default scopes"),
        "{said}"
    );
    // A permission below what the sync needs is named too.
    let (weak, weak_secret) = client(&s.env, SCOPES, "create=off,read=all,update=owner");
    let out = run(&weak, &weak_secret, &s.url);
    assert_eq!(out.status.code(), Some(5));
    assert!(String::from_utf8_lossy(&out.stderr).contains("the Webhooks permission create is off"));
    // Wrong secret, unreachable server: other exit codes.
    assert_eq!(run(&s.id, "wrong", &s.url).status.code(), Some(4));
    assert_eq!(
        run(&s.id, &s.secret, "http://127.0.0.1:9").status.code(),
        Some(3)
    );
    assert_eq!(run(&s.id, &s.secret, &s.url).status.code(), Some(0));
}

/// A status label is looked up among the entity's own statuses, through every page, and an
/// unknown one is refused with the valid ones.
async fn an_unknown_status_label_names_the_valid_ones(backend: Backend) {
    let s = source(backend).await;
    s.candidates(0).await;
    let out = s
        .env
        .command(&[
            "sync",
            "--base-url",
            &s.url,
            "--tenant",
            "acme",
            "--client-id",
            &s.id,
            "--status",
            "Active,Nope",
            "--into",
            &s.replica_url(),
            "--listen",
            "127.0.0.1:0",
        ])
        .env("CXHOOKS_CLIENT_SECRET", &s.secret)
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{said}");
    assert!(
        said.contains(
            "no status 'Nope' among the crdatanode records of type 'Candidate status'; valid \
             (507): Active, New, Other 000, Other 001,"
        ),
        "{said}"
    );
    assert!(said.contains("Other 017, …"), "{said}");
    // A failed set-up is in the timeline, with its cause.
    let timeline = s.timeline().await;
    assert!(
        timeline
            .iter()
            .any(|l| l.starts_with("error set-up failed: no status 'Nope'")),
        "{timeline:?}"
    );
}

cxhooks_store::both_backends!(
    an_unknown_status_label_names_the_valid_ones,
    a_burst_during_the_initial_sync_fails_nothing,
    replica_equals_the_source_after_initial_sync_and_a_burst,
    restart_in_the_middle_of_the_initial_sync,
    forged_notifications_are_rejected_and_in_the_timeline,
    missing_scopes_are_diagnosed_by_name,
);
