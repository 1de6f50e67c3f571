//! An external OpenID Connect issuer (`[auth.issuers.acme]`): a real, certified provider
//! (`oidc-provider` from npm, tests/oidc) runs on loopback with client-credentials clients and
//! JWT access tokens. Its tokens work on the management API for the clients registered with
//! `--external`; a token of another key, another issuer, expired, for another audience, of an
//! unregistered client or without the scope is refused as cxhooks' own would be; a rotated key
//! is followed without a restart; with the issuer down, cached keys keep working and new key
//! ids get 401, not 500.

use crate::harness::*;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use cxhooks_server::Config;
use cxhooks_server::config::ExternalIssuer;
use cxhooks_server::identity::admin::{self, NewClient};
use cxhooks_signing::{PrivateKey, RsaBits};
use cxhooks_store::testing::Backend;
use cxhooks_store::{ClientCode, Permissions, ScopeSet, TenantName};
use serde_json::{Value, json};
use std::io::BufRead as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

const AUDIENCE: &str = "https://cxhooks.example/api";
const MANAGE: &str = "urn:cx/webhooks:data:manage urn:cx/cx5Acl:data:manage";

/// One oidc-provider process; killed when dropped.
struct Provider {
    issuer: String,
    port: u16,
    keys: PathBuf,
    child: std::process::Child,
}

impl Drop for Provider {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn clients() -> String {
    json!([
        {"client_id": "hr-sync", "client_secret": "hr-secret", "scope": MANAGE},
        {"client_id": "reader", "client_secret": "reader-secret", "scope": "urn:cx/cx5Acl:data:manage"},
        {"client_id": "stranger", "client_secret": "stranger-secret", "scope": MANAGE},
    ])
    .to_string()
}

impl Provider {
    /// Starts a provider with its keys in `keys` (a new key in front when `rotate`), on `port`
    /// (0: any).
    fn start(keys: &Path, port: u16, rotate: bool) -> Self {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/oidc/start.sh");
        let mut child = std::process::Command::new("bash")
            .arg(script)
            .env("CX_OIDC_PORT", port.to_string())
            .env("CX_OIDC_KEYS", keys)
            .env("CX_OIDC_ROTATE", if rotate { "1" } else { "0" })
            .env("CX_OIDC_AUDIENCE", AUDIENCE)
            .env("CX_OIDC_CLIENTS", clients())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("bash starts the provider");
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let issuer = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("the provider did not start: {line:?}"))
            .to_owned();
        let port = issuer.rsplit(':').next().unwrap().parse().unwrap();
        Provider {
            issuer,
            port,
            keys: keys.to_owned(),
            child,
        }
    }

    /// An access token of `client` (client_secret_basic), as any OAuth library would get it.
    async fn token(&self, client: &str, secret: &str, scope: &str) -> String {
        let answer: Value = reqwest::Client::new()
            .post(format!("{}/token", self.issuer))
            .basic_auth(client, Some(secret))
            .form(&[("grant_type", "client_credentials"), ("scope", scope)])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        answer["access_token"]
            .as_str()
            .unwrap_or_else(|| panic!("no token: {answer}"))
            .to_owned()
    }

    /// The provider's current signing key and its kid.
    fn signing_key(&self) -> (PrivateKey, String) {
        let pem = std::fs::read_to_string(self.keys.with_extension("json.pem")).unwrap();
        let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
        let der = base64::engine::general_purpose::STANDARD
            .decode(body)
            .unwrap();
        let kid = std::fs::read_to_string(self.keys.with_extension("json.kid")).unwrap();
        (PrivateKey::from_pkcs8_der(&der).unwrap(), kid)
    }
}

/// A JWT signed with `key` (RS256) under `kid`, with `claims`.
fn forge(key: &PrivateKey, kid: &str, claims: &Value) -> String {
    let header = json!({"alg": "RS256", "typ": "at+jwt", "kid": kid});
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let signature = key.sign(input.as_bytes()).unwrap();
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature))
}

fn claims(issuer: &str, client: &str, exp_in: i64, aud: &str) -> Value {
    let now = chrono::Utc::now().timestamp();
    json!({"iss": issuer, "sub": client, "client_id": client, "aud": aud,
        "scope": MANAGE, "iat": now, "exp": now + exp_in, "jti": uuid::Uuid::new_v4().to_string()})
}

fn config(issuer: &str) -> Config {
    let mut c = Config::default();
    c.auth.issuers.insert(
        "acme".into(),
        ExternalIssuer {
            issuer: issuer.to_owned(),
            audience: Some(AUDIENCE.into()),
            refetch_interval: Duration::from_secs(1),
            ..ExternalIssuer::default()
        },
    );
    c
}

async fn register(app: &TestApp, client_id: &str, scopes: &str, issuer: &str) {
    let new = NewClient {
        name: client_id.into(),
        code: ClientCode::parse("urn:example/hr").unwrap(),
        scopes: ScopeSet::parse(scopes).unwrap(),
        permissions: Permissions::parse("create=on,read=all,update=all,delete=all").unwrap(),
    };
    let tenant = TenantName::parse("acme").unwrap();
    admin::create_external_client(app.store(), &tenant, new, issuer, client_id)
        .await
        .unwrap();
}

/// The status of `GET /webhooks/v1/applications` with `token`, and its answer.
async fn list(app: &TestApp, token: &str) -> Answer {
    app.call("GET", "/webhooks/v1/applications", token, None)
        .await
}

fn refused(a: &Answer, says: &str) {
    assert_eq!(a.status, 401, "{}", a.text);
    assert!(a.text.contains(says), "expected '{says}' in {}", a.text);
}

async fn an_external_issuers_tokens_work_and_only_they(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("keys.json");
    let provider = Provider::start(&keys, 0, false);
    let other = Provider::start(&dir.path().join("other.json"), 0, false);
    let app = spawn_app_with(backend, config(&provider.issuer)).await;
    app.tenant("acme").await;
    register(&app, "hr-sync", MANAGE, &provider.issuer).await;
    register(&app, "reader", MANAGE, &provider.issuer).await;

    // The issuer's token works on the management API, as its registered client.
    let token = provider.token("hr-sync", "hr-secret", MANAGE).await;
    assert_eq!(list(&app, &token).await.status, 200);
    let created = app
        .json(
            "POST",
            "/webhooks/v1/applications",
            &token,
            &json!({"name": "from Keycloak"}),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    assert_eq!(created.body["_createdBy"], "hr-sync");
    let me = app.call("GET", "/acl/v1/me", &token, None).await;
    assert_eq!(me.status, 200, "{}", me.text);

    // Without the needed scope: the same 403 a token of cxhooks' own gets.
    let narrow = provider
        .token("reader", "reader-secret", "urn:cx/cx5Acl:data:manage")
        .await;
    let forbidden = list(&app, &narrow).await;
    let (_, own) = app
        .client_token("acme", "urn:cx/cx5Acl:data:manage", "")
        .await;
    let own_forbidden = list(&app, &own).await;
    assert_eq!(forbidden.status, 403, "{}", forbidden.text);
    assert_eq!(
        forbidden.body["requiredScope"],
        own_forbidden.body["requiredScope"]
    );
    assert_eq!(
        forbidden.headers.get("www-authenticate"),
        own_forbidden.headers.get("www-authenticate")
    );

    // A client the issuer knows but cxhooks does not.
    let stranger = provider.token("stranger", "stranger-secret", MANAGE).await;
    refused(&list(&app, &stranger).await, "not registered in cxhooks");
    refused(
        &list(&app, &stranger).await,
        &format!(
            "--external --issuer {} --client-id stranger",
            provider.issuer
        ),
    );
    // Another issuer, with a client of the same name: not configured, so not taken.
    let foreign = other.token("hr-sync", "hr-secret", MANAGE).await;
    assert_eq!(list(&app, &foreign).await.status, 401);
    // Signed by another key under a kid the issuer does not have.
    let stray = PrivateKey::generate(RsaBits::B2048).unwrap();
    let forged = forge(
        &stray,
        "not-a-kid",
        &claims(&provider.issuer, "hr-sync", 300, AUDIENCE),
    );
    refused(&list(&app, &forged).await, "not among the keys");
    // Signed by another key under the issuer's own kid.
    let (key, kid) = provider.signing_key();
    let forged = forge(
        &stray,
        &kid,
        &claims(&provider.issuer, "hr-sync", 300, AUDIENCE),
    );
    refused(&list(&app, &forged).await, "signature does not verify");
    // The issuer's own key, but expired, or for another audience.
    let expired = forge(
        &key,
        &kid,
        &claims(&provider.issuer, "hr-sync", -120, AUDIENCE),
    );
    refused(&list(&app, &expired).await, "expired");
    let elsewhere = forge(
        &key,
        &kid,
        &claims(&provider.issuer, "hr-sync", 300, "https://other.example"),
    );
    refused(&list(&app, &elsewhere).await, "another audience");
    // The same key and claims, right: taken (the refusals above were for what they say).
    let right = forge(
        &key,
        &kid,
        &claims(&provider.issuer, "hr-sync", 300, AUDIENCE),
    );
    assert_eq!(list(&app, &right).await.status, 200);

    // Revocation works as for any client: deleted, its tokens stop.
    let tenant = TenantName::parse("acme").unwrap();
    admin::delete_client(app.store(), &tenant, "reader")
        .await
        .unwrap();
    app.state.standings.forget_all();
    refused(&list(&app, &narrow).await, "not registered in cxhooks");
}

async fn key_rotation_is_followed_and_an_issuer_outage_costs_only_new_keys(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("keys.json");
    let provider = Provider::start(&keys, 0, false);
    let app = spawn_app_with(backend, config(&provider.issuer)).await;
    app.tenant("acme").await;
    register(&app, "hr-sync", MANAGE, &provider.issuer).await;
    let before = provider.token("hr-sync", "hr-secret", MANAGE).await;
    assert_eq!(list(&app, &before).await.status, 200);

    // The issuer rotates: it restarts on the same address and signs with a new key.
    let (port, issuer) = (provider.port, provider.issuer.clone());
    drop(provider);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let rotated = Provider::start(&keys, port, true);
    assert_eq!(rotated.issuer, issuer);
    let after = rotated.token("hr-sync", "hr-secret", MANAGE).await;
    let kid = |t: &str| jsonwebtoken::decode_header(t).unwrap().kid.unwrap();
    assert_ne!(
        kid(&after),
        kid(&before),
        "the new token is signed by the new key"
    );
    assert_eq!(
        list(&app, &after).await.status,
        200,
        "the new key is fetched"
    );
    assert_eq!(
        list(&app, &before).await.status,
        200,
        "the old key still listed"
    );

    // The issuer goes down: known keys keep working; a new kid gets 401, not 500.
    let (key, _) = rotated.signing_key();
    drop(rotated);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let unknown = forge(
        &key,
        "a-kid-from-later",
        &claims(&issuer, "hr-sync", 300, AUDIENCE),
    );
    refused(&list(&app, &unknown).await, "not among the keys");
    assert_eq!(
        list(&app, &after).await.status,
        200,
        "cached keys outlive the outage"
    );
    assert_eq!(list(&app, &before).await.status, 200);
}

/// An issuer that counts how often its keys are fetched: discovery and an empty JWKS.
async fn counting_issuer() -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let issuer = format!("http://{}", listener.local_addr().unwrap());
    let fetches = std::sync::Arc::new(AtomicUsize::new(0));
    let discovery = json!({"issuer": issuer, "jwks_uri": format!("{issuer}/jwks")});
    let counted = fetches.clone();
    let app = axum::Router::new()
        .route(
            "/.well-known/openid-configuration",
            axum::routing::get(move || async move { axum::Json(discovery) }),
        )
        .route(
            "/jwks",
            axum::routing::get(move || async move {
                counted.fetch_add(1, Ordering::SeqCst);
                axum::Json(json!({"keys": []}))
            }),
        );
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (issuer, fetches)
}

/// Tokens with made-up key ids make cxhooks fetch the issuer's keys at most once per
/// `refetch_interval`, however many arrive.
async fn unknown_key_ids_fetch_the_keys_at_most_once_per_interval(backend: Backend) {
    use std::sync::atomic::Ordering;
    let (issuer, fetches) = counting_issuer().await;
    let mut c = config(&issuer);
    c.auth.issuers.get_mut("acme").unwrap().refetch_interval = Duration::from_secs(3600);
    let app = spawn_app_with(backend, c).await;
    app.tenant("acme").await;
    let stray = PrivateKey::generate(RsaBits::B2048).unwrap();
    for n in 0..5 {
        let token = forge(
            &stray,
            &format!("made-up-{n}"),
            &claims(&issuer, "hr-sync", 300, AUDIENCE),
        );
        refused(&list(&app, &token).await, "not among the keys");
    }
    assert_eq!(
        fetches.load(Ordering::SeqCst),
        1,
        "one fetch for five unknown key ids"
    );
}

cxhooks_store::both_backends!(
    unknown_key_ids_fetch_the_keys_at_most_once_per_interval,
    an_external_issuers_tokens_work_and_only_they,
    key_rotation_is_followed_and_an_issuer_outage_costs_only_new_keys,
);
