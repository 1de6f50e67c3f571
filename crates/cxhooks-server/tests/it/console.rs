//! The console over real HTTP, as a browser without JavaScript would use it: sign-in, the
//! session cookie, CSRF refusals, tenant isolation, and the pages doing what the API does.
//! (The browser test in tests/browser drives the same pages in Chromium.)

use crate::delivery::{candidate_change, config, setup};
use crate::harness::*;
use crate::receiver::TestReceiver;
use cxhooks_server::identity::operators;
use cxhooks_store::TenantName;
use cxhooks_store::testing::Backend;
use serde_json::{Value, json};

pub(crate) const PASSWORD: &str = "a long enough password";

/// A cookie-keeping client that does not follow redirects.
pub(crate) struct Browser {
    base: String,
    http: reqwest::Client,
    cookies: Vec<(String, String)>,
}

pub(crate) struct Page {
    pub(crate) status: u16,
    pub(crate) headers: reqwest::header::HeaderMap,
    pub(crate) text: String,
}

impl Page {
    pub(crate) fn location(&self) -> &str {
        self.headers["location"].to_str().unwrap()
    }

    /// The value of the first hidden input `name`.
    fn hidden(&self, name: &str) -> String {
        let marker = format!("name=\"{name}\" value=\"");
        let start = self
            .text
            .find(&marker)
            .unwrap_or_else(|| panic!("no {name} in {}", self.text))
            + marker.len();
        self.text[start..].split('"').next().unwrap().to_owned()
    }
}

impl Browser {
    pub(crate) fn new(base: &str) -> Self {
        Self {
            base: base.to_owned(),
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            cookies: Vec::new(),
        }
    }

    pub(crate) fn cookie(&self, name: &str) -> Option<&str> {
        self.cookies
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    async fn send(&mut self, r: reqwest::RequestBuilder) -> Page {
        let header: Vec<String> = self
            .cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        let r = r.header("cookie", header.join("; ")).send().await.unwrap();
        for c in r.headers().get_all("set-cookie") {
            let c = c.to_str().unwrap();
            let (kv, _) = c.split_once(';').unwrap();
            let (k, v) = kv.split_once('=').unwrap();
            self.cookies.retain(|(name, _)| name != k);
            if !c.contains("Max-Age=0") {
                self.cookies.push((k.to_owned(), v.to_owned()));
            }
        }
        Page {
            status: r.status().as_u16(),
            headers: r.headers().clone(),
            text: r.text().await.unwrap(),
        }
    }

    pub(crate) async fn get(&mut self, path: &str) -> Page {
        let r = self.http.get(format!("{}{path}", self.base));
        self.send(r).await
    }

    pub(crate) async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> Page {
        let r = self.http.post(format!("{}{path}", self.base)).form(form);
        self.send(r).await
    }

    pub(crate) async fn sign_in(&mut self, tenant: &str, email: &str, password: &str) -> Page {
        let login = self.get("/console/login?next=/console/clients").await;
        assert_eq!(login.status, 200);
        let token = login.hidden("login_csrf");
        self.post(
            "/console/login",
            &[
                ("login_csrf", &token),
                ("next", "/console/clients"),
                ("tenant", tenant),
                ("email", email),
                ("password", password),
            ],
        )
        .await
    }

    /// The CSRF token of the signed-in session, read off a page.
    async fn csrf(&mut self) -> String {
        self.get("/console/clients").await.hidden("csrf")
    }
}

/// An operator of `tenant` (which must exist), signed in: its browser and CSRF token.
pub(crate) async fn signed_in(app: &TestApp, tenant: &str) -> (Browser, String) {
    operator(app, tenant).await;
    let mut b = Browser::new(&app.url);
    assert_eq!(
        b.sign_in(tenant, "ops@acme.example", PASSWORD).await.status,
        303
    );
    let csrf = b.csrf().await;
    (b, csrf)
}

pub(crate) async fn operator(app: &TestApp, tenant: &str) {
    let t = TenantName::parse(tenant).unwrap();
    operators::create_operator(app.store(), &t, "Ops@Acme.example", Some(PASSWORD.into()))
        .await
        .unwrap();
}

async fn sign_in_session_and_sign_out(backend: Backend) {
    let app = spawn_app(backend).await;
    app.tenant("acme").await;
    operator(&app, "acme").await;
    let mut b = Browser::new(&app.url);

    let anonymous = b.get("/console/clients").await;
    assert_eq!(anonymous.status, 303);
    assert_eq!(
        anonymous.location(),
        "/console/login?next=%2Fconsole%2Fclients"
    );

    // The login form's double-submit token must match its cookie.
    let forged = b
        .post(
            "/console/login",
            &[
                ("login_csrf", "x"),
                ("tenant", "acme"),
                ("email", "ops@acme.example"),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(forged.status, 401);
    assert!(
        forged.text.contains("sign-in form expired"),
        "{}",
        forged.text
    );
    assert!(b.cookie("cxhooks_session").is_none());

    // Wrong password, unknown operator, unknown tenant: one answer for all.
    for (tenant, email, password) in [
        ("acme", "ops@acme.example", "not the password"),
        ("acme", "nobody@acme.example", PASSWORD),
        ("beta", "ops@acme.example", PASSWORD),
        ("NOT A TENANT", "ops@acme.example", PASSWORD),
    ] {
        let refused = b.sign_in(tenant, email, password).await;
        assert_eq!(refused.status, 401, "{tenant} {email}");
        assert!(
            refused
                .text
                .contains("Tenant, e-mail or password is wrong.")
        );
        assert!(b.cookie("cxhooks_session").is_none());
    }

    // E-mail is case-insensitive; the cookie is HttpOnly and SameSite=Strict; only a keyed hash
    // of it is stored.
    let signed_in = b.sign_in("acme", "OPS@acme.example", PASSWORD).await;
    assert_eq!(signed_in.status, 303, "{}", signed_in.text);
    assert_eq!(signed_in.location(), "/console/clients");
    let set_cookie: Vec<_> = signed_in
        .headers
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect();
    let session_cookie = set_cookie
        .iter()
        .find(|c| c.starts_with("cxhooks_session="))
        .unwrap();
    assert!(
        session_cookie.contains("HttpOnly") && session_cookie.contains("SameSite=Strict"),
        "{session_cookie}"
    );
    let id = b.cookie("cxhooks_session").unwrap().to_owned();
    let now = chrono::Utc::now().timestamp_micros();
    assert!(
        app.store()
            .console_session(id.as_bytes(), now)
            .await
            .unwrap()
            .is_none()
    );
    let stored = app
        .store()
        .console_session(&app.state.master.hash_secret(&id), now)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.email, "ops@acme.example");

    let page = b.get("/console/clients").await;
    assert_eq!(page.status, 200);
    assert!(page.text.contains("ops@acme.example"));
    let csp = page.headers["content-security-policy"].to_str().unwrap();
    assert!(
        csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"),
        "{csp}"
    );
    assert_eq!(page.headers["cache-control"], "no-store");

    // A redirect after sign-in never leaves the console.
    let login = b.get("/console/login?next=https://evil.example/").await;
    assert!(
        login
            .text
            .contains("name=\"next\" value=\"/console/requests\""),
        "{}",
        login.text
    );

    // Signing out ends the session on the server, not only in the browser.
    let csrf = b.csrf().await;
    let out = b.post("/console/logout", &[("csrf", "wrong")]).await;
    assert_eq!(out.status, 403);
    let out = b.post("/console/logout", &[("csrf", &csrf)]).await;
    assert_eq!(out.status, 303);
    assert!(
        app.store()
            .console_session(&app.state.master.hash_secret(&id), now)
            .await
            .unwrap()
            .is_none()
    );
    b.cookies.push(("cxhooks_session".into(), id.clone()));
    assert_eq!(
        b.get("/console/clients").await.status,
        303,
        "a replayed cookie is refused"
    );

    // A new password ends every session of the operator.
    b.cookies.clear();
    assert_eq!(
        b.sign_in("acme", "ops@acme.example", PASSWORD).await.status,
        303
    );
    let t = TenantName::parse("acme").unwrap();
    let generated = operators::set_password(app.store(), &t, "ops@acme.example", None)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(b.get("/console/clients").await.status, 303);
    b.cookies.clear();
    assert_eq!(
        b.sign_in("acme", "ops@acme.example", &generated)
            .await
            .status,
        303
    );
}

async fn clients_are_created_with_csrf_and_their_secret_works(backend: Backend) {
    let app = spawn_app(backend).await;
    app.tenant("acme").await;
    let (mut b, csrf) = signed_in(&app, "acme").await;
    let tenant = TenantName::parse("acme").unwrap();
    let fields = |csrf: &str, code: &str| -> Vec<(String, String)> {
        [
            ("csrf", csrf),
            ("name", "HireData"),
            ("code", code),
            ("scope", "urn:cx/webhooks:data:manage"),
            ("scope", "urn:cx/cx5Acl:data:manage"),
            ("create", "on"),
            ("read", "all"),
            ("update", "owner"),
            ("delete", "none"),
        ]
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
    };

    // Without the session's token nothing is created.
    let forged = fields("forged", "urn:hiredata/hiredata");
    let pairs: Vec<(&str, &str)> = forged
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    assert_eq!(b.post("/console/clients", &pairs).await.status, 403);
    assert!(app.store().clients(&tenant).await.unwrap().is_empty());

    // A bad code is explained, and the form keeps what was typed.
    let bad = fields(&csrf, "hiredata");
    let pairs: Vec<(&str, &str)> = bad.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let page = b.post("/console/clients", &pairs).await;
    assert_eq!(page.status, 400);
    assert!(
        page.text
            .contains("a client code has the form urn:{vendor}/{application}"),
        "{}",
        page.text
    );
    assert!(page.text.contains("value=\"HireData\""));

    let good = fields(&csrf, "urn:hiredata/hiredata");
    let pairs: Vec<(&str, &str)> = good.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let page = b.post("/console/clients", &pairs).await;
    assert_eq!(page.status, 200, "{}", page.text);
    let clients = app.store().clients(&tenant).await.unwrap();
    assert_eq!(clients.len(), 1);
    let c = &clients[0];
    assert_eq!(
        c.permissions.to_string(),
        "create=on,read=all,update=owner,delete=none"
    );
    let secret = page
        .text
        .split("id=\"client-secret\">")
        .nth(1)
        .unwrap()
        .split('<')
        .next()
        .unwrap()
        .to_owned();
    assert!(app.state.master.verify_secret(&secret, &c.secret_hash));
    let client = TestClient {
        tenant: "acme".into(),
        id: c.client_id.clone(),
        secret: secret.clone(),
    };
    let (status, token) = app.request_token(&client, None).await;
    assert_eq!(status, 200, "{token}");
    assert_eq!(
        token["scope"],
        "urn:cx/webhooks:data:manage urn:cx/cx5Acl:data:manage"
    );
    let list = b.get("/console/clients").await;
    assert!(
        list.text.contains(&c.client_id) && !list.text.contains(&secret),
        "the secret is shown once"
    );

    // Rotating shows a new secret once; the old one stops working.
    let page = b
        .post(
            &format!("/console/clients/{}/rotate", c.client_id),
            &[("csrf", &csrf)],
        )
        .await;
    assert_eq!(page.status, 200);
    assert_eq!(app.request_token(&client, None).await.0, 401);
    let rotated = page
        .text
        .split("id=\"client-secret\">")
        .nth(1)
        .unwrap()
        .split('<')
        .next()
        .unwrap()
        .to_owned();
    let client = TestClient {
        secret: rotated,
        ..client
    };
    assert_eq!(app.request_token(&client, None).await.0, 200);

    // Another tenant's operator cannot touch it.
    app.tenant("beta").await;
    let (mut other, other_csrf) = signed_in(&app, "beta").await;
    let page = other
        .post(
            &format!("/console/clients/{}/rotate", c.client_id),
            &[("csrf", &other_csrf)],
        )
        .await;
    assert_eq!(page.status, 404);
    assert!(
        !other
            .get("/console/clients")
            .await
            .text
            .contains(&c.client_id)
    );
    // Nor use acme's CSRF token with its own session.
    let page = other
        .post(
            &format!("/console/clients/{}/delete", c.client_id),
            &[("csrf", &csrf)],
        )
        .await;
    assert_eq!(page.status, 403);
    assert_eq!(app.store().clients(&tenant).await.unwrap().len(), 1);
}

async fn webhooks_validate_like_the_api_and_deliveries_can_be_redelivered(backend: Backend) {
    let receiver = TestReceiver::ok().await;
    let s = setup(backend, config(), &receiver.url).await;
    let (mut b, csrf) = signed_in(&s.app, "acme").await;

    // Live validation answers exactly what the API answers, at the form's rows.
    let condition = "data.tostatusnode eq";
    let checked = b
        .post(
            "/console/webhooks/validate",
            &[
                ("csrf", &csrf),
                ("app", &s.app_id),
                ("url", &receiver.url),
                ("event_type", ""),
                ("condition", ""),
                ("event_type", "cremployee:updated"),
                ("condition", condition),
            ],
        )
        .await;
    assert_eq!(checked.status, 200, "{}", checked.text);
    let checked: Value = serde_json::from_str(&checked.text).unwrap();
    let api = s
        .app
        .json("POST", &format!("/webhooks/v1/applications/{}/webhooks", s.app_id), &s.manager,
            &json!({"url": receiver.url, "filters": [{"eventType": "cremployee:updated", "condition": condition}]}))
        .await;
    assert_eq!(api.status, 400);
    assert_eq!(checked["valid"], false);
    // The API's own message, with the count and where the first problem is (in the form's
    // words) instead of "see errors".
    assert_eq!(api.body["detail"], "the webhook has 1 problem: see errors");
    assert_eq!(
        checked["detail"].as_str().unwrap(),
        format!(
            "1 problem: Filter 2, condition: {}",
            api.body["errors"][0]["message"].as_str().unwrap()
        )
    );
    assert_eq!(
        checked["errors"][0]["path"], "/filters/1/condition",
        "the second form row"
    );
    assert_eq!(
        checked["errors"][0]["message"],
        api.body["errors"][0]["message"]
    );
    let fine = b
        .post(
            "/console/webhooks/validate",
            &[
                ("csrf", &csrf),
                ("url", &receiver.url),
                ("event_type", "cremployee:updated"),
                ("condition", "data.nosuchfield eq 1"),
            ],
        )
        .await;
    let fine: Value = serde_json::from_str(&fine.text).unwrap();
    assert_eq!(fine["valid"], true, "{fine}");
    assert_eq!(
        fine["warnings"][0]["path"], "/filters/0/condition",
        "unknown paths warn: {fine}"
    );
    assert_eq!(
        b.post("/console/webhooks/validate", &[("url", "x")])
            .await
            .status,
        403
    );

    // Creating through the form: an invalid condition is refused with the API's message.
    let page = b
        .post(
            "/console/webhooks/new",
            &[
                ("csrf", &csrf),
                ("app", &s.app_id),
                ("url", &receiver.url),
                ("event_type", "cremployee:updated"),
                ("condition", condition),
            ],
        )
        .await;
    assert_eq!(page.status, 400);
    assert!(
        page.text.contains(
            api.body["errors"][0]["message"]
                .as_str()
                .unwrap()
                .split('\'')
                .next()
                .unwrap()
        )
    );
    let page = b
        .post(
            "/console/webhooks/new",
            &[
                ("csrf", &csrf),
                ("app", &s.app_id),
                ("url", &receiver.url),
                ("event_type", "crjob:created"),
                ("condition", ""),
                ("custom_headers", "X-Team: recruiting"),
            ],
        )
        .await;
    assert_eq!(page.status, 303, "{}", page.text);
    let hooks = s
        .app
        .call(
            "GET",
            &format!("/webhooks/v1/applications/{}/webhooks", s.app_id),
            &s.manager,
            None,
        )
        .await;
    let created = hooks.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["filters"][0]["eventType"] == "crjob:created")
        .unwrap()
        .clone();
    assert_eq!(created["_createdBy"], "operator:ops@acme.example");
    assert_eq!(created["customHeaders"][0]["name"], "X-Team");

    // Disable and enable through the console.
    let hook = created["_id"].as_str().unwrap();
    for (action, status) in [("disable", "disabled"), ("enable", "enabled")] {
        let path = format!("/console/webhooks/{}/{hook}/{action}", s.app_id);
        assert_eq!(b.post(&path, &[("csrf", &csrf)]).await.status, 303);
        let after = s
            .app
            .call(
                "GET",
                &format!("/webhooks/v1/applications/{}/webhooks/{hook}", s.app_id),
                &s.manager,
                None,
            )
            .await;
        assert_eq!(after.body["status"], status, "after {action}");
    }

    // A delivery shows in the log and its chart, and is redelivered from its page.
    let published = s.publish(&candidate_change("7")).await;
    assert_eq!(published.status, 202, "{}", published.text);
    receiver.wait_for(1).await;
    let id = s.log("").await[0]["_id"].as_str().unwrap().to_owned();
    s.wait_status(&id, "delivered").await;
    let log = b
        .get(&format!(
            "/console/requests?app={}&status=delivered",
            s.app_id
        ))
        .await;
    assert_eq!(log.status, 200);
    assert!(
        log.text
            .contains(&format!("/console/requests/{}/{id}", s.app_id)),
        "{}",
        log.text
    );
    assert!(
        log.text.contains("1 successful attempts, 0 failed"),
        "{}",
        log.text
    );
    let none = b
        .get(&format!("/console/requests?app={}&status=failed", s.app_id))
        .await;
    assert!(none.text.contains("No deliveries match."));
    let bad = b
        .get(&format!(
            "/console/requests?app={}&since=yesterday",
            s.app_id
        ))
        .await;
    assert!(bad.text.contains("is not an RFC 3339 time"), "{}", bad.text);
    let detail = b.get(&format!("/console/requests/{}/{id}", s.app_id)).await;
    assert!(detail.text.contains("<td>200</td>"), "{}", detail.text);
    let again = b
        .post(
            &format!("/console/requests/{}/{id}/redeliver", s.app_id),
            &[("csrf", &csrf)],
        )
        .await;
    assert_eq!(again.status, 303);
    let two = receiver.wait_for(2).await;
    assert_eq!(two[0].json()["id"], two[1].json()["id"]);

    // Another tenant's operator finds nothing of acme's.
    s.app.tenant("beta").await;
    let (mut other, other_csrf) = signed_in(&s.app, "beta").await;
    assert_eq!(
        other
            .get(&format!("/console/requests/{}/{id}", s.app_id))
            .await
            .status,
        404
    );
    assert_eq!(
        other
            .get(&format!("/console/webhooks/{}/{hook}", s.app_id))
            .await
            .status,
        404
    );
    let r = other
        .post(
            &format!("/console/requests/{}/{id}/redeliver", s.app_id),
            &[("csrf", &other_csrf)],
        )
        .await;
    assert_eq!(r.status, 404);
}

async fn without_the_webhooks_feature_nothing_changes(backend: Backend) {
    let app = spawn_app(backend).await;
    let tenant = app.tenant("acme").await;
    operator(&app, "acme").await;
    cxhooks_server::identity::admin::set_webhooks(app.store(), &tenant, false)
        .await
        .unwrap();
    let mut b = Browser::new(&app.url);
    assert_eq!(
        b.sign_in("acme", "ops@acme.example", PASSWORD).await.status,
        303
    );
    let page = b.get("/console/applications").await;
    assert!(
        page.text
            .contains("The webhooks feature is not activated for tenant acme"),
        "{}",
        page.text
    );
    let csrf = page.hidden("csrf");
    let refused = b
        .post("/console/applications", &[("csrf", &csrf), ("name", "x")])
        .await;
    assert_eq!(refused.status, 403, "{}", refused.text);
    let page = cxhooks_store::Page {
        limit: 10,
        after: None,
        created_by: None,
    };
    assert!(
        app.store()
            .applications(&tenant, &page)
            .await
            .unwrap()
            .items
            .is_empty()
    );
}

cxhooks_store::both_backends!(
    without_the_webhooks_feature_nothing_changes,
    sign_in_session_and_sign_out,
    clients_are_created_with_csrf_and_their_secret_works,
    webhooks_validate_like_the_api_and_deliveries_can_be_redelivered,
);
