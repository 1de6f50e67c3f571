//! `spawn_app`: a real server on port 0 with a fresh store, and helpers to set up identities.

use cxhooks_server::identity::admin::{self, NewClient};
use cxhooks_server::{AppState, Config, Dispatcher};
use cxhooks_signing::MasterKey;
use cxhooks_store::testing::{Backend, TestLocation};
use cxhooks_store::{ClientCode, Permissions, ScopeSet, Store, TenantName};
use std::sync::Arc;
use tokio::sync::oneshot;

pub struct TestApp {
    pub url: String,
    pub state: AppState,
    pub http: reqwest::Client,
    _location: Option<TestLocation>,
    _stop: oneshot::Sender<()>,
}

pub struct TestClient {
    pub tenant: String,
    pub id: String,
    pub secret: String,
}

pub async fn spawn_app(backend: Backend) -> TestApp {
    spawn_app_with(backend, Config::default()).await
}

pub async fn spawn_app_with(backend: Backend, config: Config) -> TestApp {
    spawn_app_dispatched(backend, config, Dispatcher::Loop).await
}

/// A server whose dispatcher runs as `dispatcher` says: [`Dispatcher::Stepped`] leaves claims to
/// the test (`cxhooks_server::delivery::worker::step`), which moves `state.clock` instead of
/// sleeping.
pub async fn spawn_app_dispatched(
    backend: Backend,
    config: Config,
    dispatcher: Dispatcher,
) -> TestApp {
    let (store, location) = backend.store().await;
    let master = Arc::new(MasterKey::from_bytes(&MasterKey::generate_bytes()).unwrap());
    let mut app = start(store, master, config, dispatcher).await;
    app._location = Some(location);
    app
}

/// [`spawn_app_dispatched`] with the node running by `clock` (e.g. `Clock::behind`).
pub async fn spawn_app_clocked(
    backend: Backend,
    config: Config,
    dispatcher: Dispatcher,
    clock: cxhooks_server::clock::Clock,
) -> TestApp {
    let (store, location) = backend.store().await;
    let master = Arc::new(MasterKey::from_bytes(&MasterKey::generate_bytes()).unwrap());
    let mut app = start_clocked(store, master, config, dispatcher, clock).await;
    app._location = Some(location);
    app
}

/// A node on an existing store and master key (a second node of a cluster).
pub async fn spawn_node(store: Store, master: Arc<MasterKey>, config: Config) -> TestApp {
    start(store, master, config, Dispatcher::Loop).await
}

async fn start(
    store: Store,
    master: Arc<MasterKey>,
    config: Config,
    dispatcher: Dispatcher,
) -> TestApp {
    let clock = cxhooks_server::clock::Clock::system();
    start_clocked(store, master, config, dispatcher, clock).await
}

async fn start_clocked(
    store: Store,
    master: Arc<MasterKey>,
    config: Config,
    dispatcher: Dispatcher,
    clock: cxhooks_server::clock::Clock,
) -> TestApp {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let bound = listener.local_addr().unwrap();
    let mut state = AppState::new(store, master, config, bound).await.unwrap();
    state.dispatcher = dispatcher;
    state.clock = clock;
    let (stop, stopped) = oneshot::channel::<()>();
    let serving = state.clone();
    tokio::spawn(async move {
        cxhooks_server::run(serving, listener, async {
            let _ = stopped.await;
        })
        .await
        .unwrap();
    });
    TestApp {
        url: format!("http://{bound}"),
        state,
        http: reqwest::Client::new(),
        _location: None,
        _stop: stop,
    }
}

impl TestApp {
    pub fn store(&self) -> &Store {
        &self.state.store
    }

    /// The SQLite store's database file, if the store is SQLite.
    pub fn sqlite_file(&self) -> Option<std::path::PathBuf> {
        match &self._location.as_ref()?.location {
            cxhooks_store::StoreLocation::Sqlite { path } => Some(path.clone()),
            _ => None,
        }
    }

    pub async fn tenant(&self, name: &str) -> TenantName {
        let name = TenantName::parse(name).unwrap();
        admin::create_tenant(self.store(), &self.state.master, &name, true)
            .await
            .unwrap();
        name
    }

    pub async fn client(&self, tenant: &str, scopes: &str, permissions: &str) -> TestClient {
        let name = TenantName::parse(tenant).unwrap();
        let new = NewClient {
            name: "HireData".into(),
            code: ClientCode::parse("urn:hiredata/hiredata").unwrap(),
            scopes: ScopeSet::parse(scopes).unwrap(),
            permissions: Permissions::parse(permissions).unwrap(),
        };
        let (client, secret) = admin::create_client(self.store(), &self.state.master, &name, new)
            .await
            .unwrap();
        TestClient {
            tenant: tenant.into(),
            id: client.client_id,
            secret,
        }
    }

    pub fn token_url(&self, tenant: &str) -> String {
        format!(
            "{}/auth/realms/{tenant}/protocol/openid-connect/token",
            self.url
        )
    }

    /// Asks for a token with HTTP Basic client authentication; returns status and body.
    pub async fn request_token(
        &self,
        c: &TestClient,
        scope: Option<&str>,
    ) -> (u16, serde_json::Value) {
        let mut form = vec![("grant_type", "client_credentials")];
        if let Some(scope) = scope {
            form.push(("scope", scope));
        }
        let r = self
            .http
            .post(self.token_url(&c.tenant))
            .basic_auth(&c.id, Some(&c.secret))
            .form(&form)
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.json().await.unwrap())
    }

    pub async fn token(&self, c: &TestClient) -> String {
        let (status, body) = self.request_token(c, None).await;
        assert_eq!(status, 200, "{body}");
        body["access_token"].as_str().unwrap().to_owned()
    }

    /// `GET path`'s JSON body.
    pub async fn get_json(&self, path: &str, token: Option<&str>) -> serde_json::Value {
        self.get(path, token).await.json().await.unwrap()
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> reqwest::Response {
        let mut r = self.http.get(format!("{}{path}", self.url));
        if let Some(t) = token {
            r = r.bearer_auth(t);
        }
        r.send().await.unwrap()
    }
}

pub const ALL_SCOPES: &str =
    "urn:cx/webhooks:data:manage urn:cx/cx5Wrapper:data:manage urn:cx/cx5Acl:data:manage";
pub const SEED_PERMISSIONS: &str = "create=on,read=all,update=owner,delete=owner";

/// An answer: status, JSON body (Null if none), raw text and headers.
pub struct Answer {
    pub status: u16,
    pub body: serde_json::Value,
    pub text: String,
    pub headers: reqwest::header::HeaderMap,
}

impl TestApp {
    /// Sends `body` (raw text, sent as application/json) with a bearer token.
    pub async fn call(&self, method: &str, path: &str, token: &str, body: Option<&str>) -> Answer {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut r = self
            .http
            .request(method, format!("{}{path}", self.url))
            .bearer_auth(token);
        if let Some(body) = body {
            r = r
                .header("content-type", "application/json")
                .body(body.to_owned());
        }
        let r = r.send().await.unwrap();
        let status = r.status().as_u16();
        let headers = r.headers().clone();
        let text = r.text().await.unwrap();
        let body = serde_json::from_str(&text).unwrap_or(serde_json::Value::Null);
        Answer {
            status,
            body,
            text,
            headers,
        }
    }

    pub async fn json(
        &self,
        method: &str,
        path: &str,
        token: &str,
        body: &serde_json::Value,
    ) -> Answer {
        self.call(method, path, token, Some(&body.to_string()))
            .await
    }

    /// A token for a new client of `tenant` with the given scopes and permissions.
    pub async fn client_token(
        &self,
        tenant: &str,
        scopes: &str,
        permissions: &str,
    ) -> (TestClient, String) {
        let c = self.client(tenant, scopes, permissions).await;
        let t = self.token(&c).await;
        (c, t)
    }

    /// Creates an application and returns its id.
    pub async fn application(&self, token: &str, name: &str) -> String {
        let a = self
            .json(
                "POST",
                "/webhooks/v1/applications",
                token,
                &serde_json::json!({"name": name}),
            )
            .await;
        assert_eq!(a.status, 201, "{}", a.text);
        a.body["_id"].as_str().unwrap().to_owned()
    }

    /// Creates a webhook and returns its id.
    pub async fn webhook(&self, token: &str, app: &str) -> String {
        let body = serde_json::json!({"url": "https://example.com/hook", "filters": [{"eventType": "crmatch:created"}]});
        let a = self
            .json(
                "POST",
                &format!("/webhooks/v1/applications/{app}/webhooks"),
                token,
                &body,
            )
            .await;
        assert_eq!(a.status, 201, "{}", a.text);
        a.body["_id"].as_str().unwrap().to_owned()
    }
}

/// Checks a problem+json answer: status, and that some error (or the detail) says `says` at `path`.
pub fn assert_problem(a: &Answer, status: u16, path: &str, says: &str) {
    assert_eq!(a.status, status, "{}", a.text);
    assert_eq!(a.headers["content-type"], "application/problem+json");
    let errors = a.body["errors"].as_array().cloned().unwrap_or_default();
    let hit = errors
        .iter()
        .any(|e| e["path"] == path && e["message"].as_str().unwrap_or("").contains(says))
        || (path.is_empty() && a.body["detail"].as_str().unwrap_or("").contains(says));
    assert!(hit, "expected '{says}' at '{path}' in {}", a.text);
}

/// Taken by the tests that load both cores flat out for a minute (10,000 ordered deliveries
/// through failures) and by those that bound how long something takes (revocation within
/// 10 s), so that neither runs beside the other: side by side, a revocation test once waited
/// out its bound while the ordered test held both cores and the database.
pub static FLAT_OUT: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
