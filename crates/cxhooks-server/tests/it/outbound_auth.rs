//! Outbound authentication (issue 29, item 5): a webhook authenticates to its receiver with
//! OAuth2 client credentials (a token fetched from the receiver's token endpoint, kept until it
//! expires, fetched again once on a 401) or with a client certificate (mutual TLS). Receivers
//! and a token endpoint started on loopback require each; secrets never appear in answers, the
//! request log, the console or the store's plaintext.

use crate::console::signed_in;
use crate::delivery::{Setup, config, setup};
use crate::harness::{Answer, assert_problem, spawn_app_with};
use crate::receiver::TestReceiver;
use axum::http::{HeaderMap, StatusCode};
use base64::Engine as _;
use cxhooks_store::testing::{Backend, find_everywhere};
use serde_json::{Value, json};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const SECRET: &str = "s3cret-of-the-integration";

impl Setup {
    async fn hook_with(&self, body: &Value) -> Answer {
        let path = format!("/webhooks/v1/applications/{}/webhooks", self.app_id);
        self.app.json("POST", &path, &self.manager, body).await
    }

    async fn put_hook(&self, id: &str, body: &Value) -> Answer {
        let path = format!("/webhooks/v1/applications/{}/webhooks/{id}", self.app_id);
        self.app.json("PUT", &path, &self.manager, body).await
    }
}

/// A token endpoint and a receiver that takes only its freshest tokens: tokens numbered at or
/// below `revoked` are refused.
#[derive(Default)]
struct Issuer {
    issued: AtomicUsize,
    revoked: AtomicUsize,
    received: Mutex<Vec<Value>>,
    refused: AtomicUsize,
}

async fn oauth_server() -> (String, Arc<Issuer>) {
    let issuer = Arc::new(Issuer::default());
    let (for_token, for_hook) = (issuer.clone(), issuer.clone());
    let app = axum::Router::new()
        .route(
            "/token",
            axum::routing::post(move |headers: HeaderMap, body: String| {
                let issuer = for_token.clone();
                async move {
                    let expected = base64::engine::general_purpose::STANDARD
                        .encode(format!("cx-client:{SECRET}"));
                    let basic = headers
                        .get("authorization")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("");
                    let form: Vec<(String, String)> = serde_urlencoded::from_str(&body).unwrap();
                    let grant = form.iter().any(|(k, v)| k == "grant_type" && v == "client_credentials");
                    let scope = form.iter().any(|(k, v)| k == "scope" && v == "deliveries:write");
                    if basic != format!("Basic {expected}") || !grant || !scope {
                        return (StatusCode::UNAUTHORIZED, json!({"error": "invalid_client"}).to_string());
                    }
                    let n = issuer.issued.fetch_add(1, Ordering::SeqCst) + 1;
                    let token = json!({"access_token": format!("tok-{n}"), "token_type": "Bearer", "expires_in": 3600});
                    (StatusCode::OK, token.to_string())
                }
            }),
        )
        .route(
            "/hook",
            axum::routing::post(move |headers: HeaderMap, body: String| {
                let issuer = for_hook.clone();
                async move {
                    let bearer = headers
                        .get("authorization")
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.strip_prefix("Bearer tok-"))
                        .and_then(|n| n.parse::<usize>().ok());
                    match bearer {
                        Some(n) if n > issuer.revoked.load(Ordering::SeqCst) => {
                            issuer.received.lock().unwrap().push(serde_json::from_str(&body).unwrap());
                            StatusCode::OK
                        }
                        _ => {
                            issuer.refused.fetch_add(1, Ordering::SeqCst);
                            StatusCode::UNAUTHORIZED
                        }
                    }
                }
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (base, issuer)
}

async fn until_received(issuer: &Issuer, n: usize) {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while issuer.received.lock().unwrap().len() < n {
        assert!(
            std::time::Instant::now() < deadline,
            "fewer than {n} deliveries received"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn oauth2_client_credentials_authenticate_deliveries(backend: Backend) {
    let unused = TestReceiver::ok().await;
    let s = setup(backend, config(), &unused.url).await;
    let (base, issuer) = oauth_server().await;
    let auth = json!({"type": "oauth2", "tokenUrl": format!("{base}/token"),
        "clientId": "cx-client", "clientSecret": SECRET, "scope": "deliveries:write"});
    let created = s
        .hook_with(&json!({"url": format!("{base}/hook"), "auth": auth,
            "filters": [{"eventType": "crjob:created"}]}))
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    assert!(!created.text.contains(SECRET), "{}", created.text);
    assert_eq!(created.body["auth"]["type"], "oauth2");
    assert_eq!(created.body["auth"]["clientId"], "cx-client");
    let hook = created.body["_id"].as_str().unwrap().to_owned();

    // One token for three deliveries.
    for i in 0..3 {
        let a = s
            .publish(&json!({"type": "crjob:created", "entityId": i.to_string(), "data": {}}))
            .await;
        assert_eq!(a.status, 202, "{}", a.text);
    }
    until_received(&issuer, 3).await;
    assert_eq!(issuer.issued.load(Ordering::SeqCst), 1);

    // The receiver revokes the token: the next delivery gets a 401, a new token, and goes
    // through in the same attempt.
    issuer.revoked.store(1, Ordering::SeqCst);
    s.publish(&json!({"type": "crjob:created", "entityId": "9", "data": {}}))
        .await;
    until_received(&issuer, 4).await;
    assert_eq!(issuer.issued.load(Ordering::SeqCst), 2);
    assert_eq!(issuer.refused.load(Ordering::SeqCst), 1);
    let id = issuer.received.lock().unwrap()[3]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let event = s.wait_status(&id, "delivered").await;
    assert_eq!(event["attempts"].as_array().unwrap().len(), 1, "{event}");

    // What GET answers goes back with PUT and keeps the secret; a new token endpoint needs it.
    let path = format!("/webhooks/v1/applications/{}/webhooks/{hook}", s.app_id);
    let current = s.app.get_json(&path, Some(&s.manager)).await;
    assert!(!current.to_string().contains(SECRET));
    assert_eq!(s.put_hook(&hook, &current).await.status, 200);
    s.publish(&json!({"type": "crjob:created", "entityId": "10", "data": {}}))
        .await;
    until_received(&issuer, 5).await;
    let current = s.app.get_json(&path, Some(&s.manager)).await;
    let mut moved = current.clone();
    moved["auth"]["tokenUrl"] = json!(format!("{base}/other-token"));
    assert_problem(
        &s.put_hook(&hook, &moved).await,
        400,
        "/auth/clientSecret",
        "is required",
    );

    // A wrong secret: the token endpoint refuses, the delivery retries, and its error says
    // what the endpoint answered, never the secret.
    let mut wrong = current.clone();
    wrong["auth"]["clientSecret"] = json!("not-the-secret");
    assert_eq!(s.put_hook(&hook, &wrong).await.status, 200);
    issuer.revoked.store(usize::MAX, Ordering::SeqCst);
    s.publish(&json!({"type": "crjob:created", "entityId": "11", "data": {}}))
        .await;
    let failed = loop {
        let log = s.log(&format!("?webhookId={hook}&status=retrying")).await;
        if let Some(e) = log.first() {
            break e["_id"].as_str().unwrap().to_owned();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let detail = s
        .app
        .get_json(
            &format!("/webhooks/v1/applications/{}/events/{failed}", s.app_id),
            Some(&s.manager),
        )
        .await;
    let error = detail["attempts"][0]["error"].as_str().unwrap_or_default();
    assert!(
        error.contains("token endpoint")
            && error.contains("401")
            && error.contains("invalid_client"),
        "{detail}"
    );

    // The secrets are nowhere in plaintext: answers, request log, console, store.
    for text in [
        s.app.get_json(&path, Some(&s.manager)).await.to_string(),
        s.log(&format!("?webhookId={hook}"))
            .await
            .iter()
            .map(Value::to_string)
            .collect(),
        detail.to_string(),
    ] {
        assert!(
            !text.contains(SECRET) && !text.contains("not-the-secret"),
            "{text}"
        );
    }
    let (mut console, _) = signed_in(&s.app, "acme").await;
    let page = console
        .get(&format!("/console/webhooks/{}/{hook}", s.app_id))
        .await
        .text;
    assert!(
        page.contains("cx-client"),
        "the console shows the client id"
    );
    assert!(!page.contains(SECRET) && !page.contains("not-the-secret"));
    for needle in [SECRET, "not-the-secret"] {
        assert_eq!(
            find_everywhere(s.app.store(), needle).await,
            Vec::<String>::new()
        );
    }
}

/// A CA, a receiver's certificate for 127.0.0.1 and a client's, all signed by it; and another
/// key, which goes with neither.
struct Pki {
    ca: String,
    server: (String, String),
    client: (String, String),
    stranger_key: String,
}

fn pki() -> Pki {
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "cxhooks test CA");
    let ca = rcgen::CertifiedIssuer::self_signed(ca_params, ca_key).unwrap();
    let leaf = |names: Vec<String>, cn: &str| {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(names).unwrap();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, cn);
        let cert = params.signed_by(&key, &ca).unwrap();
        (cert.pem(), key.serialize_pem())
    };
    Pki {
        server: leaf(vec!["127.0.0.1".into(), "localhost".into()], "receiver"),
        client: leaf(vec![], "cxhooks delivery"),
        stranger_key: rcgen::KeyPair::generate().unwrap().serialize_pem(),
        ca: ca.pem(),
    }
}

/// TLS connections that presented a client certificate the CA signed (the others fail their
/// handshake and are dropped).
struct MutualTls {
    tcp: tokio::net::TcpListener,
    acceptor: tokio_rustls::TlsAcceptor,
    handshakes: Arc<AtomicUsize>,
}

impl axum::serve::Listener for MutualTls {
    type Io = tokio_rustls::server::TlsStream<tokio::net::TcpStream>;
    type Addr = std::net::SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let (tcp, addr) = self.tcp.accept().await.unwrap();
            if let Ok(tls) = self.acceptor.accept(tcp).await {
                assert!(tls.get_ref().1.peer_certificates().is_some());
                self.handshakes.fetch_add(1, Ordering::SeqCst);
                return (tls, addr);
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.tcp.local_addr()
    }
}

/// A receiver on https://127.0.0.1 that requires a client certificate of `pki`'s CA.
async fn mtls_receiver(pki: &Pki) -> (String, Arc<Mutex<Vec<Value>>>, Arc<AtomicUsize>) {
    use rustls::pki_types::pem::PemObject;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(rustls::pki_types::CertificateDer::from_pem_slice(pki.ca.as_bytes()).unwrap())
        .unwrap();
    let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
        Arc::new(roots),
        provider.clone(),
    )
    .build()
    .unwrap();
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_client_cert_verifier(verifier)
        .with_single_cert(
            vec![
                rustls::pki_types::CertificateDer::from_pem_slice(pki.server.0.as_bytes()).unwrap(),
            ],
            rustls::pki_types::PrivateKeyDer::from_pem_slice(pki.server.1.as_bytes()).unwrap(),
        )
        .unwrap();
    let tcp = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("https://{}/hook", tcp.local_addr().unwrap());
    let (received, handshakes) = (
        Arc::new(Mutex::new(Vec::new())),
        Arc::new(AtomicUsize::new(0)),
    );
    let listener = MutualTls {
        tcp,
        acceptor: tokio_rustls::TlsAcceptor::from(Arc::new(config)),
        handshakes: handshakes.clone(),
    };
    let kept = received.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |body: String| {
            let kept = kept.clone();
            async move {
                kept.lock()
                    .unwrap()
                    .push(serde_json::from_str::<Value>(&body).unwrap());
                StatusCode::OK
            }
        }),
    );
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, received, handshakes)
}

async fn a_client_certificate_authenticates_deliveries(backend: Backend) {
    let pki = pki();
    let dir = tempfile::tempdir().unwrap();
    let ca_file = dir.path().join("ca.pem");
    std::fs::write(&ca_file, &pki.ca).unwrap();
    let mut c = config();
    c.delivery.ca_file = Some(ca_file);
    let unused = TestReceiver::ok().await;
    let s = crate::delivery::setup_on(spawn_app_with(backend, c).await, &unused.url).await;
    let (url, received, handshakes) = mtls_receiver(&pki).await;
    let filters = json!([{"eventType": "crjob:created"}]);
    let auth = json!({"type": "mtls", "certificate": pki.client.0, "privateKey": pki.client.1});

    // What cannot work is refused with its place.
    let http = url.replace("https://", "http://");
    for (body, path, says) in [
        (
            json!({"url": http, "auth": auth, "filters": filters}),
            "/auth",
            "must be https",
        ),
        (
            json!({"url": url, "filters": filters, "auth": {"type": "mtls", "certificate": "nope", "privateKey": pki.client.1}}),
            "/auth/certificate",
            "not a PEM certificate",
        ),
        (
            json!({"url": url, "filters": filters, "auth": {"type": "mtls", "certificate": pki.client.0, "privateKey": pki.stranger_key}}),
            "/auth/privateKey",
            "does not go with the certificate",
        ),
        (
            json!({"url": url, "filters": filters, "auth": {"type": "mtls", "certificate": pki.client.0}}),
            "/auth/privateKey",
            "is required",
        ),
        (
            json!({"filters": filters, "auth": auth}),
            "/auth",
            "pull webhook",
        ),
        (
            json!({"url": url, "filters": filters, "auth": {"type": "basic"}}),
            "/auth/type",
            "oauth2",
        ),
        (
            json!({"url": url, "filters": filters,
                "customHeaders": [{"name": "authorization", "value": "Basic eA=="}],
                "auth": {"type": "oauth2", "tokenUrl": "https://login.example/token",
                    "clientId": "x", "clientSecret": "y"}}),
            "/customHeaders",
            "its own Authorization header",
        ),
        (
            json!({"url": url, "filters": filters, "auth": {"type": "oauth2", "clientId": "x", "clientSecret": "y"}}),
            "/auth/tokenUrl",
            "is required",
        ),
        (
            json!({"url": url, "filters": filters, "auth": {"type": "oauth2", "tokenUrl": format!("{}/token", s.app.url), "clientId": "x", "clientSecret": "y"}}),
            "/auth/tokenUrl",
            "'tokenUrl' points at",
        ),
    ] {
        let a = s.hook_with(&body).await;
        assert_problem(&a, 400, path, says);
    }

    // Made with OAuth2 first, then patched to a client certificate: the new kind replaces the
    // old one whole.
    let oauth = json!({"type": "oauth2", "tokenUrl": "https://login.example/token",
        "clientId": "x", "clientSecret": "y"});
    let created = s
        .hook_with(&json!({"url": url, "auth": oauth, "filters": filters}))
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    let path = format!(
        "/webhooks/v1/applications/{}/webhooks/{}",
        s.app_id,
        created.body["_id"].as_str().unwrap()
    );
    let created = s
        .app
        .json("PATCH", &path, &s.manager, &json!({"auth": auth}))
        .await;
    assert_eq!(created.status, 200, "{}", created.text);
    assert_eq!(created.body["auth"]["certificate"], pki.client.0.as_str());
    assert!(
        created.body["auth"]["fingerprint"]
            .as_str()
            .unwrap()
            .starts_with("sha256:")
    );
    assert!(
        created.body["auth"].get("privateKey").is_none(),
        "{}",
        created.text
    );
    // Without the certificate, the same receiver refuses the handshake.
    let bare = s.hook_with(&json!({"url": url, "filters": filters})).await;
    let bare_id = bare.body["_id"].as_str().unwrap().to_owned();

    s.publish(&json!({"type": "crjob:created", "entityId": "1", "data": {}}))
        .await;
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while received.lock().unwrap().is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "nothing received over mutual TLS"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(handshakes.load(Ordering::SeqCst) >= 1);
    let got = received.lock().unwrap()[0].clone();
    assert_eq!(got["webhookId"], created.body["_id"]);
    let refused = loop {
        let log = s
            .log(&format!("?webhookId={bare_id}&status=retrying"))
            .await;
        if let Some(e) = log.first() {
            break e.clone();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(
        received.lock().unwrap().len(),
        1,
        "the bare webhook got through: {refused}"
    );

    // The key is sealed: not in the store's plaintext, not in the console.
    let key_line = pki.client.1.lines().nth(1).unwrap();
    assert_eq!(
        find_everywhere(s.app.store(), key_line).await,
        Vec::<String>::new()
    );
    let (mut console, _) = signed_in(&s.app, "acme").await;
    let hook = created.body["_id"].as_str().unwrap();
    let page = console
        .get(&format!("/console/webhooks/{}/{hook}", s.app_id))
        .await
        .text;
    assert!(page.contains("mtls") && !page.contains(key_line));
}

cxhooks_store::both_backends!(
    oauth2_client_credentials_authenticate_deliveries,
    a_client_certificate_authenticates_deliveries
);
