//! Identity: token endpoint, JWKS, discovery, bearer authentication, `/acl/v1/me`.

use crate::harness::*;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use cxhooks_server::Config;
use cxhooks_server::identity::admin::{self, realm_key_context};
use cxhooks_signing::{PrivateKey, RsaBits};
use cxhooks_store::testing::Backend;
use cxhooks_store::{ScopeSet, TenantName};
use serde_json::{Value, json};

/// Signs arbitrary claims as `kid`, with `tenant`'s realm key or with `key` if given.
async fn sign_token(
    app: &TestApp,
    tenant: &str,
    claims: &Value,
    key: Option<&PrivateKey>,
) -> String {
    let name = TenantName::parse(tenant).unwrap();
    let stored = app.store().realm_keys(&name).await.unwrap().remove(0);
    let own;
    let key = match key {
        Some(k) => k,
        None => {
            let der = app
                .state
                .master
                .open(
                    &realm_key_context(&name, &stored.kid),
                    &stored.sealed_private_key,
                )
                .unwrap();
            own = PrivateKey::from_pkcs8_der(&der).unwrap();
            &own
        }
    };
    let header = json!({"alg": "RS256", "typ": "JWT", "kid": stored.kid});
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(&header).unwrap()),
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims).unwrap())
    );
    format!(
        "{input}.{}",
        URL_SAFE_NO_PAD.encode(key.sign(input.as_bytes()).unwrap())
    )
}

fn claims(app: &TestApp, tenant: &str, client_id: &str, exp_offset: i64) -> Value {
    let now = chrono::Utc::now().timestamp();
    json!({
        "iss": format!("{}/auth/realms/{tenant}", app.url), "sub": client_id, "azp": client_id,
        "tenant": tenant, "scope": ALL_SCOPES, "iat": now - 3600, "exp": now + exp_offset,
        "jti": "t", "typ": "Bearer",
    })
}

async fn assert_401(app: &TestApp, token: &str, reason: &str) {
    let r = app.get("/acl/v1/me", Some(token)).await;
    assert_eq!(r.status(), 401);
    let challenge = r.headers()["www-authenticate"].to_str().unwrap().to_owned();
    assert!(challenge.contains("error=\"invalid_token\""), "{challenge}");
    assert_eq!(r.headers()["content-type"], "application/problem+json");
    let body: Value = r.json().await.unwrap();
    assert!(body["detail"].as_str().unwrap().contains(reason), "{body}");
}

async fn token_verifies_against_jwks_and_me_answers(backend: Backend) {
    let app = spawn_app(backend).await;
    app.tenant("acme").await;
    let c = app.client("acme", ALL_SCOPES, SEED_PERMISSIONS).await;
    let (status, body) = app.request_token(&c, None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 300);
    assert_eq!(
        body["scope"],
        ScopeSet::parse(ALL_SCOPES).unwrap().to_string()
    );
    let token = body["access_token"].as_str().unwrap();

    // Verify independently of the server's own code path: the JWKS's n and e.
    let jwks: Value = app
        .get_json("/auth/realms/acme/protocol/openid-connect/certs", None)
        .await;
    let jwk = &jwks["keys"][0];
    assert_eq!(
        (
            jwk["kty"].as_str(),
            jwk["alg"].as_str(),
            jwk["use"].as_str()
        ),
        (Some("RSA"), Some("RS256"), Some("sig"))
    );
    let header = jsonwebtoken::decode_header(token).unwrap();
    assert_eq!(header.kid.as_deref(), jwk["kid"].as_str());
    let key = jsonwebtoken::DecodingKey::from_rsa_components(
        jwk["n"].as_str().unwrap(),
        jwk["e"].as_str().unwrap(),
    )
    .unwrap();
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    validation.set_issuer(&[format!("{}/auth/realms/acme", app.url)]);
    // The audience is the service's public URL, which a library checks by default.
    validation.set_audience(&[&app.url]);
    let data = jsonwebtoken::decode::<Value>(token, &key, &validation).unwrap();
    let cl = data.claims;
    assert_eq!(cl["sub"], c.id);
    assert_eq!(cl["azp"], c.id);
    assert_eq!(cl["tenant"], "acme");
    assert_eq!(
        cl["exp"].as_i64().unwrap() - cl["iat"].as_i64().unwrap(),
        300
    );
    assert!(cl["jti"].as_str().is_some_and(|j| !j.is_empty()));

    let discovery: Value = app
        .get_json("/auth/realms/acme/.well-known/openid-configuration", None)
        .await;
    assert_eq!(discovery["issuer"], format!("{}/auth/realms/acme", app.url));
    assert_eq!(discovery["token_endpoint"], app.token_url("acme"));
    assert_eq!(
        discovery["jwks_uri"],
        format!("{}/auth/realms/acme/protocol/openid-connect/certs", app.url)
    );

    // Trailing slash too, as the seed documents write paths both ways.
    for path in ["/acl/v1/me", "/acl/v1/me/"] {
        let r = app.get(path, Some(token)).await;
        assert_eq!(r.status(), 200);
        let me: Value = r.json().await.unwrap();
        assert_eq!(me["tenant"], "acme");
        assert_eq!(me["clientId"], c.id);
        assert_eq!(me["name"], "HireData");
        assert_eq!(me["code"], "urn:hiredata/hiredata");
        assert_eq!(
            me["permissions"],
            json!({"create": "on", "read": "all", "update": "owner", "delete": "owner"})
        );
        assert_eq!(me["defaultScopes"].as_array().unwrap().len(), 3);
        assert!(me.get("clientSecret").is_none());
    }
}

async fn form_credentials_and_narrower_scopes(backend: Backend) {
    let app = spawn_app(backend).await;
    app.tenant("acme").await;
    let c = app.client("acme", ALL_SCOPES, SEED_PERMISSIONS).await;
    let r = app
        .http
        .post(app.token_url("acme"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", c.id.as_str()),
            ("client_secret", c.secret.as_str()),
            ("scope", "urn:cx/webhooks:data/webhooks:manage"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["cache-control"], "no-store");
    let body: Value = r.json().await.unwrap();
    // A scope implied by a default one may be asked for on its own.
    assert_eq!(body["scope"], "urn:cx/webhooks:data/webhooks:manage");

    // Without the ACL scope, /acl/v1/me is forbidden, naming what is missing and what it has.
    let r = app.get("/acl/v1/me", body["access_token"].as_str()).await;
    assert_eq!(r.status(), 403);
    assert_eq!(
        r.headers()["www-authenticate"],
        "Bearer realm=\"cxhooks\", error=\"insufficient_scope\", scope=\"urn:cx/cx5Acl:data:manage\""
    );
    let problem: Value = r.json().await.unwrap();
    assert_eq!(problem["status"], 403);
    assert_eq!(problem["requiredScope"], "urn:cx/cx5Acl:data:manage");
    assert_eq!(
        problem["tokenScopes"],
        json!(["urn:cx/webhooks:data/webhooks:manage"])
    );
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("urn:cx/cx5Acl:data:manage")
    );
}

async fn token_endpoint_errors(backend: Backend) {
    let app = spawn_app(backend).await;
    app.tenant("acme").await;
    let c = app.client("acme", ALL_SCOPES, SEED_PERMISSIONS).await;
    let post = |tenant: &str| app.http.post(app.token_url(tenant));
    let check = |r: reqwest::Response, status: u16, error: &'static str, says: &'static str| async move {
        assert_eq!(r.status().as_u16(), status);
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["error"], error, "{body}");
        let description = body["error_description"].as_str().unwrap();
        assert!(description.contains(says), "{description}");
    };
    let grant = [("grant_type", "client_credentials")];

    // Wrong secret: 401 invalid_client with a Basic challenge.
    let r = post("acme")
        .basic_auth(&c.id, Some("wrong"))
        .form(&grant)
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["www-authenticate"], "Basic realm=\"cxhooks\"");
    check(r, 401, "invalid_client", "wrong secret").await;
    // Unknown client.
    let r = post("acme")
        .basic_auth("nobody", Some(&c.secret))
        .form(&grant)
        .send()
        .await
        .unwrap();
    check(r, 401, "invalid_client", "unknown client id").await;
    // The right client on another tenant's realm.
    app.tenant("beta").await;
    let r = post("beta")
        .basic_auth(&c.id, Some(&c.secret))
        .form(&grant)
        .send()
        .await
        .unwrap();
    check(r, 401, "invalid_client", "realm 'beta'").await;
    // Unknown tenant; a tenant with capitals is told to use lower case.
    let r = post("nope")
        .basic_auth(&c.id, Some(&c.secret))
        .form(&grant)
        .send()
        .await
        .unwrap();
    check(r, 404, "invalid_request", "realm 'nope' does not exist").await;
    let r = post("Acme")
        .basic_auth(&c.id, Some(&c.secret))
        .form(&grant)
        .send()
        .await
        .unwrap();
    check(r, 404, "invalid_request", "lower-case").await;
    // Unsupported grant type.
    let r = post("acme")
        .basic_auth(&c.id, Some(&c.secret))
        .form(&[("grant_type", "password")])
        .send()
        .await
        .unwrap();
    check(r, 400, "unsupported_grant_type", "'password'").await;
    let r = post("acme")
        .basic_auth(&c.id, Some(&c.secret))
        .form(&[("scope", "x")])
        .send()
        .await
        .unwrap();
    check(r, 400, "invalid_request", "grant_type is missing").await;
    // A scope outside the client's defaults, and one that does not exist.
    let (status, body) = app
        .request_token(&c, Some("urn:cx/webhooks:events:publish"))
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_scope"))
    );
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("not among the client's default scopes")
    );
    let (status, body) = app.request_token(&c, Some("urn:cx/everything")).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_scope"))
    );
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("unknown scope 'urn:cx/everything'")
    );
    // Malformed Basic headers.
    for (header, says) in [
        ("Basic !!!notbase64", "not valid base64"),
        ("Basic bm9jb2xvbg==", "'id:secret'"),
        ("Digest abc", "'Basic'"),
        ("Basic", "expected 'Basic base64(id:secret)'"),
    ] {
        let r = post("acme")
            .header("authorization", header)
            .form(&grant)
            .send()
            .await
            .unwrap();
        check(r, 400, "invalid_request", says).await;
    }
    // No client authentication at all; not form-encoded; both methods at once.
    let r = post("acme").form(&grant).send().await.unwrap();
    check(
        r,
        401,
        "invalid_client",
        "client authentication is required",
    )
    .await;
    let r = post("acme")
        .basic_auth(&c.id, Some(&c.secret))
        .json(&json!({"grant_type": "client_credentials"}))
        .send()
        .await
        .unwrap();
    check(r, 400, "invalid_request", "form-encoded").await;
    let r = post("acme")
        .basic_auth(&c.id, Some(&c.secret))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", c.id.as_str()),
            ("client_secret", "x"),
        ])
        .send()
        .await
        .unwrap();
    check(r, 400, "invalid_request", "authenticated twice").await;
}

async fn bad_tokens_are_401(backend: Backend) {
    let app = spawn_app(backend).await;
    app.tenant("acme").await;
    let c = app.client("acme", ALL_SCOPES, SEED_PERMISSIONS).await;

    // Absent token: a bare challenge, no error attribute (RFC 6750 §3.1).
    let r = app.get("/acl/v1/me", None).await;
    assert_eq!(r.status(), 401);
    assert_eq!(r.headers()["www-authenticate"], "Bearer realm=\"cxhooks\"");
    let r = app
        .http
        .get(format!("{}/acl/v1/me", app.url))
        .header("authorization", "Basic abc")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);

    assert_401(&app, "not-a-jwt", "not a JWT").await;
    // Expired an hour ago (beyond any leeway).
    let expired = sign_token(&app, "acme", &claims(&app, "acme", &c.id, -3000), None).await;
    assert_401(&app, &expired, "expired").await;
    // Signed by another key under the realm's kid.
    let stranger = PrivateKey::generate(RsaBits::B2048).unwrap();
    let forged = sign_token(
        &app,
        "acme",
        &claims(&app, "acme", &c.id, 300),
        Some(&stranger),
    )
    .await;
    assert_401(&app, &forged, "signature does not verify").await;
    // A valid token whose payload was altered afterwards.
    let good = app.token(&c).await;
    let mut parts: Vec<String> = good.split('.').map(str::to_owned).collect();
    let mut payload: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(&parts[1]).unwrap()).unwrap();
    payload["scope"] = json!("urn:cx/webhooks:events:publish");
    parts[1] = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&payload).unwrap());
    assert_401(&app, &parts.join("."), "signature does not verify").await;
    // Tenant B's realm key signing a token that claims tenant A.
    app.tenant("beta").await;
    let cross = sign_token(&app, "beta", &claims(&app, "acme", &c.id, 300), None).await;
    assert_401(&app, &cross, "issued for another realm").await;
    let mut cl = claims(&app, "acme", &c.id, 300);
    cl["iss"] = json!(format!("{}/auth/realms/beta", app.url));
    let cross = sign_token(&app, "beta", &cl, None).await;
    assert_401(&app, &cross, "tenant does not match the realm key").await;
    // Signed by the realm's own key, but for another audience; the realm's own audience (the
    // service's public URL) is taken.
    let mut cl = claims(&app, "acme", &c.id, 300);
    cl["aud"] = json!("https://elsewhere.example");
    let elsewhere = sign_token(&app, "acme", &cl, None).await;
    assert_401(&app, &elsewhere, "issued for another audience").await;
    cl["aud"] = json!(app.url);
    let ours = sign_token(&app, "acme", &cl, None).await;
    assert_eq!(app.get("/acl/v1/me", Some(&ours)).await.status(), 200);
    // A kid no realm has.
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"RS256","kid":"nope"}"#);
    assert_401(&app, &format!("{header}.e30.c2ln"), "unknown key id").await;
    // HS256 (the classic algorithm-confusion attack) is refused before any key is used.
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
    assert_401(&app, &format!("{header}.e30.c2ln"), "only RS256").await;

    // A deleted client's token stops working for /acl/v1/me.
    let token = app.token(&c).await;
    admin::delete_client(app.store(), &TenantName::parse("acme").unwrap(), &c.id)
        .await
        .unwrap();
    assert_401(&app, &token, "client no longer exists").await;
}

async fn tokens_are_bound_to_their_tenant(backend: Backend) {
    let app = spawn_app(backend).await;
    app.tenant("acme").await;
    app.tenant("beta").await;
    let b = app.client("beta", ALL_SCOPES, SEED_PERMISSIONS).await;
    let token = app.token(&b).await;
    // Tenant B's token on tenant B's realm: fine.
    let r = app
        .get(
            "/auth/realms/beta/protocol/openid-connect/userinfo",
            Some(&token),
        )
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap()["tenant"], "beta");
    // On tenant A's realm: 403, saying which tenant it belongs to.
    let r = app
        .get(
            "/auth/realms/acme/protocol/openid-connect/userinfo",
            Some(&token),
        )
        .await;
    assert_eq!(r.status(), 403);
    let problem: Value = r.json().await.unwrap();
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("issued for tenant 'beta'"),
        "{problem}"
    );
    // /acl/v1/me answers for B only.
    let me: Value = app.get_json("/acl/v1/me", Some(&token)).await;
    assert_eq!(me["tenant"], "beta");
}

async fn webhooks_feature_gates_its_scopes(backend: Backend) {
    let app = spawn_app(backend).await;
    app.tenant("acme").await;
    let c = app.client("acme", ALL_SCOPES, SEED_PERMISSIONS).await;
    let acme = TenantName::parse("acme").unwrap();
    admin::set_webhooks(app.store(), &acme, false)
        .await
        .unwrap();

    // Defaults lose the webhooks scope while the feature is off; asking for it is refused.
    let (status, body) = app.request_token(&c, None).await;
    assert_eq!(status, 200);
    assert!(
        !body["scope"].as_str().unwrap().contains("webhooks"),
        "{body}"
    );
    let (status, body) = app
        .request_token(&c, Some("urn:cx/webhooks:data:manage"))
        .await;
    assert_eq!(status, 400);
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("webhooks feature is not activated for tenant 'acme'")
    );

    // Clients cannot be given webhooks scopes while it is off.
    let new = admin::NewClient {
        name: "X".into(),
        code: cxhooks_store::ClientCode::parse("urn:x/x").unwrap(),
        scopes: ScopeSet::parse("urn:cx/webhooks:data:manage").unwrap(),
        permissions: Default::default(),
    };
    let err = admin::create_client(app.store(), &app.state.master, &acme, new)
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("tenant set acme --webhooks on"),
        "{err}"
    );

    admin::set_webhooks(app.store(), &acme, true).await.unwrap();
    let (_, body) = app.request_token(&c, None).await;
    assert!(
        body["scope"]
            .as_str()
            .unwrap()
            .contains("urn:cx/webhooks:data:manage")
    );
}

async fn rotating_a_secret_retires_the_old_one(backend: Backend) {
    let app = spawn_app(backend).await;
    app.tenant("acme").await;
    let mut c = app.client("acme", ALL_SCOPES, SEED_PERMISSIONS).await;
    let acme = TenantName::parse("acme").unwrap();
    let (_, secret) = admin::rotate_client_secret(app.store(), &app.state.master, &acme, &c.id)
        .await
        .unwrap();
    assert_eq!(app.request_token(&c, None).await.0, 401);
    c.secret = secret;
    assert_eq!(app.request_token(&c, None).await.0, 200);
    // The store holds only a keyed hash, never the secret.
    let stored = app.store().client(&acme, &c.id).await.unwrap().unwrap();
    assert_eq!(stored.secret_hash.len(), 32);
    assert!(!String::from_utf8_lossy(&stored.secret_hash).contains(&c.secret));
    assert_eq!(stored.secret_hash, app.state.master.hash_secret(&c.secret));
}

async fn realm_keys_are_sealed_at_rest(backend: Backend) {
    let app = spawn_app(backend).await;
    let acme = app.tenant("acme").await;
    let key = app.store().realm_keys(&acme).await.unwrap().remove(0);
    // Not PKCS#8 in the clear; opens only with the master key and its own context.
    assert!(PrivateKey::from_pkcs8_der(&key.sealed_private_key).is_err());
    let der = app
        .state
        .master
        .open(&realm_key_context(&acme, &key.kid), &key.sealed_private_key)
        .unwrap();
    assert!(PrivateKey::from_pkcs8_der(&der).is_ok());
    assert!(
        app.state
            .master
            .open(&realm_key_context(&acme, "other"), &key.sealed_private_key)
            .is_err()
    );
}

async fn configured_token_lifetime_and_unknown_routes(backend: Backend) {
    let mut config = Config::default();
    config.auth.token_ttl = std::time::Duration::from_secs(60);
    let app = spawn_app_with(backend, config).await;
    app.tenant("acme").await;
    let c = app.client("acme", ALL_SCOPES, SEED_PERMISSIONS).await;
    assert_eq!(app.request_token(&c, None).await.1["expires_in"], 60);
    let r = app.get("/nowhere", None).await;
    assert_eq!(r.status(), 404);
    assert_eq!(r.headers()["content-type"], "application/problem+json");
    assert!(
        r.json::<Value>().await.unwrap()["detail"]
            .as_str()
            .unwrap()
            .contains("GET /nowhere")
    );
    // Unknown realm on the JWKS and discovery routes.
    assert_eq!(
        app.get("/auth/realms/nope/protocol/openid-connect/certs", None)
            .await
            .status(),
        404
    );
    assert_eq!(
        app.get("/auth/realms/nope/.well-known/openid-configuration", None)
            .await
            .status(),
        404
    );
}

cxhooks_store::both_backends!(
    token_verifies_against_jwks_and_me_answers,
    form_credentials_and_narrower_scopes,
    token_endpoint_errors,
    bad_tokens_are_401,
    tokens_are_bound_to_their_tenant,
    webhooks_feature_gates_its_scopes,
    rotating_a_secret_retires_the_old_one,
    realm_keys_are_sealed_at_rest,
    configured_token_lifetime_and_unknown_routes,
);
