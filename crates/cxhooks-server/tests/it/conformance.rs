//! What integrators' libraries expect of the realms and the API (issue 26): `aud` in tokens,
//! caching headers, `POST …/userinfo`, a challenge on every 401 of the token endpoint, CORS,
//! and `Location` on created records.

use crate::harness::*;
use cxhooks_server::Config;
use cxhooks_store::testing::Backend;
use serde_json::{Value, json};

/// Realm `acme`'s first key, from its JWKS, as a client library would read it.
async fn realm_key(app: &TestApp) -> jsonwebtoken::DecodingKey {
    let jwks: Value = app
        .get_json("/auth/realms/acme/protocol/openid-connect/certs", None)
        .await;
    let jwk = &jwks["keys"][0];
    jsonwebtoken::DecodingKey::from_rsa_components(
        jwk["n"].as_str().unwrap(),
        jwk["e"].as_str().unwrap(),
    )
    .unwrap()
}

/// The claims of `token`, checked against the realm's JWKS with `aud` required to be
/// `audience`, as an OpenID client library would.
async fn verified_claims(app: &TestApp, token: &str, audience: &str) -> Value {
    let key = realm_key(app).await;
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    validation.set_issuer(&[format!("{}/auth/realms/acme", app.url)]);
    validation.set_audience(&[audience]);
    jsonwebtoken::decode::<Value>(token, &key, &validation)
        .unwrap_or_else(|e| panic!("{e}: the token does not verify for audience {audience}"))
        .claims
}

/// The claims of `token`, unverified.
fn payload(token: &str) -> Value {
    use base64::Engine as _;
    let part = token.split('.').nth(1).unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part)
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

/// Tokens carry `aud`: the service's public URL by default, which a library's audience check
/// accepts and another audience fails.
async fn tokens_name_their_audience(backend: Backend) {
    let app = spawn_app(backend).await;
    app.tenant("acme").await;
    let c = app.client("acme", ALL_SCOPES, SEED_PERMISSIONS).await;
    let token = app.token(&c).await;
    let claims = verified_claims(&app, &token, &app.url).await;
    assert_eq!(claims["aud"], app.url.as_str());

    let key = realm_key(&app).await;
    let mut other = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    other.set_audience(&["https://someone-else.example"]);
    assert!(jsonwebtoken::decode::<Value>(&token, &key, &other).is_err());
    // The service itself takes it.
    assert_eq!(app.get("/acl/v1/me", Some(&token)).await.status(), 200);
}

/// `auth.audience` and `auth.realm_audiences` set the `aud`; a token whose `aud` is not the
/// realm's (here: issued before the setting changed) is refused with 401.
async fn the_audience_is_configurable_per_realm(backend: Backend) {
    let mut cfg = Config::default();
    cfg.auth.audience = Some("https://api.example.com".into());
    cfg.auth
        .realm_audiences
        .insert("acme".into(), "https://acme.example.com/cxhooks".into());
    let app = spawn_app_with(backend, cfg).await;
    app.tenant("acme").await;
    app.tenant("beta").await;
    let acme = app.client("acme", ALL_SCOPES, SEED_PERMISSIONS).await;
    let token = app.token(&acme).await;
    let claims = verified_claims(&app, &token, "https://acme.example.com/cxhooks").await;
    assert_eq!(claims["aud"], "https://acme.example.com/cxhooks");
    assert_eq!(app.get("/acl/v1/me", Some(&token)).await.status(), 200);
    let beta = app.client("beta", ALL_SCOPES, SEED_PERMISSIONS).await;
    let beta_token = app.token(&beta).await;
    assert_eq!(payload(&beta_token)["aud"], "https://api.example.com");

    // `audience = ""`: tokens without `aud`, which the service takes.
    let mut cfg = Config::default();
    cfg.auth.audience = Some(String::new());
    let plain = spawn_app_with(backend, cfg).await;
    plain.tenant("acme").await;
    let c = plain.client("acme", ALL_SCOPES, SEED_PERMISSIONS).await;
    let (status, body) = plain.request_token(&c, None).await;
    assert_eq!(status, 200, "{body}");
    let token = body["access_token"].as_str().unwrap();
    let claims = payload(token);
    assert!(claims.get("aud").is_none(), "{claims}");
    assert_eq!(plain.get("/acl/v1/me", Some(token)).await.status(), 200);
}

/// Token answers are not cached (RFC 6749 §5.1: `Cache-Control: no-store`, `Pragma:
/// no-cache`); every 401 names a scheme, also for credentials sent in the form; the JWKS and
/// discovery may be cached; `POST …/userinfo` answers as `GET` does.
async fn realm_endpoints_speak_http_as_libraries_expect(backend: Backend) {
    let app = spawn_app(backend).await;
    app.tenant("acme").await;
    let c = app.client("acme", ALL_SCOPES, SEED_PERMISSIONS).await;
    let grant = [("grant_type", "client_credentials")];
    let ok = app
        .http
        .post(app.token_url("acme"))
        .basic_auth(&c.id, Some(&c.secret))
        .form(&grant)
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    assert_eq!(ok.headers()["cache-control"], "no-store");
    assert_eq!(ok.headers()["pragma"], "no-cache");
    let token = ok.json::<Value>().await.unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();

    let form = [
        ("grant_type", "client_credentials"),
        ("client_id", c.id.as_str()),
        ("client_secret", "wrong"),
    ];
    let refused = app
        .http
        .post(app.token_url("acme"))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401);
    assert_eq!(
        refused.headers()["www-authenticate"],
        "Basic realm=\"cxhooks\""
    );
    assert_eq!(refused.headers()["pragma"], "no-cache");
    assert_eq!(
        refused.json::<Value>().await.unwrap()["error"],
        "invalid_client"
    );

    for (path, max_age) in [
        ("/auth/realms/acme/protocol/openid-connect/certs", 60),
        ("/auth/realms/acme/.well-known/openid-configuration", 3600),
    ] {
        let r = app.get(path, None).await;
        assert_eq!(r.status(), 200, "{path}");
        assert_eq!(
            r.headers()["cache-control"],
            format!("public, max-age={max_age}").as_str(),
            "{path}"
        );
    }

    let userinfo = format!(
        "{}/auth/realms/acme/protocol/openid-connect/userinfo",
        app.url
    );
    let got: Value = app
        .get_json(
            "/auth/realms/acme/protocol/openid-connect/userinfo",
            Some(&token),
        )
        .await;
    let posted = app
        .http
        .post(&userinfo)
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(posted.status(), 200);
    assert_eq!(posted.json::<Value>().await.unwrap(), got);
    assert_eq!(got["sub"], c.id);
    let anonymous = app.http.post(&userinfo).send().await.unwrap();
    assert_eq!(anonymous.status(), 401);
}

/// CORS is off by default; with `server.cors_origins` a listed origin's preflight and calls
/// are allowed on the API and the realms, another origin's are not, and the console stays
/// same-origin.
async fn cors_only_for_the_configured_origins(backend: Backend) {
    let preflight = |app: &TestApp, path: &str, origin: &str| {
        app.http
            .request(reqwest::Method::OPTIONS, format!("{}{path}", app.url))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header(
                "access-control-request-headers",
                "authorization, content-type, idempotency-key",
            )
            .send()
    };
    let off = spawn_app(backend).await;
    off.tenant("acme").await;
    let r = off
        .http
        .get(format!(
            "{}/auth/realms/acme/protocol/openid-connect/certs",
            off.url
        ))
        .header("origin", "https://app.example.com")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers().get("access-control-allow-origin").is_none());

    let mut cfg = Config::default();
    cfg.server.cors_origins = vec!["https://app.example.com".into()];
    let app = spawn_app_with(backend, cfg).await;
    app.tenant("acme").await;
    let (_, token) = app.client_token("acme", ALL_SCOPES, SEED_PERMISSIONS).await;
    let r = preflight(&app, "/webhooks/v1/applications", "https://app.example.com")
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.status());
    assert_eq!(
        r.headers()["access-control-allow-origin"],
        "https://app.example.com"
    );
    let allowed = r.headers()["access-control-allow-headers"]
        .to_str()
        .unwrap()
        .to_ascii_lowercase();
    for h in ["authorization", "content-type", "idempotency-key"] {
        assert!(allowed.contains(h), "{allowed}");
    }
    let created = app
        .http
        .post(format!("{}/webhooks/v1/applications", app.url))
        .header("origin", "https://app.example.com")
        .bearer_auth(&token)
        .json(&json!({"name": "from a browser"}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    assert_eq!(
        created.headers()["access-control-allow-origin"],
        "https://app.example.com"
    );
    let exposed = created.headers()["access-control-expose-headers"]
        .to_str()
        .unwrap()
        .to_ascii_lowercase();
    assert!(exposed.contains("location"), "{exposed}");
    for path in [
        "/auth/realms/acme/protocol/openid-connect/certs",
        "/auth/realms/acme/.well-known/openid-configuration",
    ] {
        let r = app
            .http
            .get(format!("{}{path}", app.url))
            .header("origin", "https://app.example.com")
            .send()
            .await
            .unwrap();
        assert_eq!(
            r.headers()["access-control-allow-origin"],
            "https://app.example.com",
            "{path}"
        );
    }
    let other = preflight(&app, "/webhooks/v1/applications", "https://evil.example")
        .await
        .unwrap();
    assert!(other.headers().get("access-control-allow-origin").is_none());
    let console = app
        .http
        .get(format!("{}/console/login", app.url))
        .header("origin", "https://app.example.com")
        .send()
        .await
        .unwrap();
    assert!(
        console
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );
}

/// A bad origin in `server.cors_origins` stops the start with what to write instead.
#[test]
fn a_bad_cors_origin_is_refused_with_the_fix() {
    for (origin, says) in [
        (
            "https://app.example.com/",
            "expected 'https://app.example.com'",
        ),
        ("app.example.com", "is not an origin"),
        ("ftp://files.example.com", "is not an origin"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("cxhooks.toml");
        std::fs::write(&file, format!("[server]\ncors_origins = [\"{origin}\"]\n")).unwrap();
        let overrides = cxhooks_server::Overrides {
            config_file: Some(file),
            ..Default::default()
        };
        let err = Config::load(&overrides).unwrap_err().to_string();
        assert!(err.contains("server.cors_origins"), "{err}");
        assert!(err.contains(says), "{origin}: {err}");
    }
}

/// `POST /data/v1/{entity}` answers 201 with `Location`, which reads the record back.
async fn created_records_say_where_they_are(backend: Backend) {
    let app = spawn_app(backend).await;
    app.tenant("acme").await;
    let (_, token) = app
        .client_token(
            "acme",
            ALL_SCOPES,
            "create=on,read=all,update=all,delete=all",
        )
        .await;
    let created = app
        .http
        .post(format!("{}/data/v1/cremployee", app.url))
        .bearer_auth(&token)
        .json(&json!({"touser": {"firstname": "Ada", "lastname": "Lovelace"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let location = created.headers()["location"].to_str().unwrap().to_owned();
    let body: Value = created.json().await.unwrap();
    let id = body["_id"].as_str().unwrap();
    assert_eq!(location, format!("/data/v1/cremployee/{id}"));
    let read = app.get(&location, Some(&token)).await;
    assert_eq!(read.status(), 200);
    assert_eq!(read.json::<Value>().await.unwrap()["_id"], body["_id"]);
}

/// The realm endpoints' answers have exactly the members their schemas in `/openapi.json`
/// require, so a generated client parses them into its types.
async fn realm_answers_match_their_documented_shapes(backend: Backend) {
    let app = spawn_app(backend).await;
    app.tenant("acme").await;
    let c = app.client("acme", ALL_SCOPES, SEED_PERMISSIONS).await;
    let doc: Value = app.get_json("/openapi.json", None).await;
    let schema_of = |path: &str, method: &str, status: &str| {
        let op = &doc["paths"][path][method]["responses"][status];
        let reference = op["content"]["application/json"]["schema"]["$ref"]
            .as_str()
            .unwrap_or_else(|| panic!("{method} {path} {status}: no schema reference: {op}"));
        let name = reference.rsplit('/').next().unwrap();
        doc["components"]["schemas"][name].clone()
    };
    let keys = |v: &Value| {
        let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
        k.sort();
        k
    };
    let required = |schema: &Value| {
        let mut r: Vec<String> = schema["required"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_owned())
            .collect();
        r.sort();
        r
    };
    let realm = "/auth/realms/{tenant}";
    let (status, token) = app.request_token(&c, None).await;
    assert_eq!(status, 200);
    let schema = schema_of(
        &format!("{realm}/protocol/openid-connect/token"),
        "post",
        "200",
    );
    assert_eq!(keys(&token), required(&schema), "token answer");
    assert_eq!(schema["properties"]["expires_in"]["type"], "integer");
    let wrong = app
        .http
        .post(app.token_url("acme"))
        .basic_auth(&c.id, Some("wrong"))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    let error: Value = wrong.json().await.unwrap();
    let schema = schema_of(
        &format!("{realm}/protocol/openid-connect/token"),
        "post",
        "401",
    );
    assert_eq!(keys(&error), required(&schema), "token error");

    let jwks: Value = app
        .get_json("/auth/realms/acme/protocol/openid-connect/certs", None)
        .await;
    let schema = schema_of(
        &format!("{realm}/protocol/openid-connect/certs"),
        "get",
        "200",
    );
    assert_eq!(keys(&jwks), required(&schema), "JWKS");
    assert_eq!(
        keys(&jwks["keys"][0]),
        required(&doc["components"]["schemas"]["Jwk"]),
        "JWK"
    );
    let discovery: Value = app
        .get_json("/auth/realms/acme/.well-known/openid-configuration", None)
        .await;
    let schema = schema_of(
        &format!("{realm}/.well-known/openid-configuration"),
        "get",
        "200",
    );
    assert_eq!(keys(&discovery), required(&schema), "discovery");
    let access = token["access_token"].as_str().unwrap();
    let userinfo: Value = app
        .get_json(
            "/auth/realms/acme/protocol/openid-connect/userinfo",
            Some(access),
        )
        .await;
    let schema = schema_of(
        &format!("{realm}/protocol/openid-connect/userinfo"),
        "get",
        "200",
    );
    assert_eq!(keys(&userinfo), required(&schema), "userinfo");
}

cxhooks_store::both_backends!(
    realm_answers_match_their_documented_shapes,
    tokens_name_their_audience,
    the_audience_is_configurable_per_realm,
    realm_endpoints_speak_http_as_libraries_expect,
    cors_only_for_the_configured_origins,
    created_records_say_where_they_are,
);
