//! Administration commands, then `serve`, then HTTP: the README as a new user runs it.

use crate::env::Env;
use cxhooks_store::testing::Backend;
use serde_json::Value;
use std::process::{Command, Output};

async fn readme_flow(backend: Backend) {
    let env = Env::new(backend).await;
    env.fails(
        &["tenant", "create", "Acme"],
        1,
        "tenant names are lower-case: use 'acme' instead of 'Acme'",
    );
    assert!(
        env.ok(&["tenant", "create", "acme"])
            .contains("created tenant acme")
    );
    env.fails(
        &["tenant", "create", "acme"],
        1,
        "tenant 'acme' already exists",
    );
    let created: Value = serde_json::from_str(&env.ok(&[
        "client",
        "create",
        "--tenant",
        "acme",
        "--name",
        "HireData",
        "--code",
        "urn:hiredata/hiredata",
        "--scopes",
        "urn:cx/webhooks:data:manage urn:cx/cx5Wrapper:data:manage urn:cx/cx5Acl:data:manage",
        "--permissions",
        "create=on,read=all,update=owner,delete=owner",
        "--json",
    ]))
    .unwrap();
    let keys: Vec<_> = created.as_object().unwrap().keys().cloned().collect();
    assert_eq!(
        keys,
        [
            "tenant",
            "clientId",
            "clientSecret",
            "name",
            "code",
            "defaultScopes",
            "permissions"
        ]
    );
    let id = created["clientId"].as_str().unwrap();
    let secret = created["clientSecret"].as_str().unwrap();

    let listed: Value =
        serde_json::from_str(&env.ok(&["client", "list", "--tenant", "acme", "--json"])).unwrap();
    assert_eq!(listed[0]["clientId"], id);
    assert!(listed[0].get("clientSecret").is_none());

    let (mut server, url) = env.serve();
    let http = reqwest::Client::new();
    let token_url = format!("{url}/auth/realms/acme/protocol/openid-connect/token");
    let token = |secret: String| {
        let http = http.clone();
        let token_url = token_url.clone();
        let id = id.to_owned();
        async move {
            let r = http
                .post(&token_url)
                .basic_auth(&id, Some(&secret))
                .form(&[("grant_type", "client_credentials")])
                .send()
                .await
                .unwrap();
            (r.status().as_u16(), r.json::<Value>().await.unwrap())
        }
    };
    let (status, body) = token(secret.to_owned()).await;
    assert_eq!(status, 200, "{body}");
    let me: Value = http
        .get(format!("{url}/acl/v1/me"))
        .bearer_auth(body["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["clientId"], id);
    assert_eq!(me["tenant"], "acme");

    // Administration works while the server runs on the same store.
    let rotated: Value = serde_json::from_str(&env.ok(&[
        "client",
        "rotate-secret",
        "--tenant",
        "acme",
        "--client-id",
        id,
        "--json",
    ]))
    .unwrap();
    assert_eq!(token(secret.to_owned()).await.0, 401);
    assert_eq!(
        token(rotated["clientSecret"].as_str().unwrap().to_owned())
            .await
            .0,
        200
    );
    env.ok(&[
        "client",
        "set",
        "--tenant",
        "acme",
        "--client-id",
        id,
        "--permissions",
        "create=off,read=owner",
    ]);
    let shown: Value = serde_json::from_str(&env.ok(&[
        "client",
        "show",
        "--tenant",
        "acme",
        "--client-id",
        id,
        "--json",
    ]))
    .unwrap();
    assert_eq!(shown["permissions"]["read"], "owner");
    assert_eq!(shown["permissions"]["create"], "off");
    env.ok(&["tenant", "set", "acme", "--webhooks", "off"]);
    let tenants: Value = serde_json::from_str(&env.ok(&["tenant", "list", "--json"])).unwrap();
    assert_eq!(tenants[0]["webhooks"], "off");
    server.kill().unwrap();
    server.wait().unwrap();
}

async fn bad_input_is_explained(backend: Backend) {
    let env = Env::new(backend).await;
    env.ok(&["tenant", "create", "acme"]);
    env.fails(
        &["client", "list", "--tenant", "nope"],
        1,
        "tenant 'nope' does not exist (create it with `cxhooks tenant create nope`)",
    );
    let create = |code: &str, scopes: &str, perms: &str| {
        env.run(&[
            "client",
            "create",
            "--tenant",
            "acme",
            "--name",
            "X",
            "--code",
            code,
            "--scopes",
            scopes,
            "--permissions",
            perms,
        ])
    };
    let stderr = |o: Output| String::from_utf8(o.stderr).unwrap();
    assert!(stderr(create("hiredata", "", "")).contains("urn:{vendor}/{application}"));
    assert!(stderr(create("urn:a/b", "urn:cx/all", "")).contains("unknown scope 'urn:cx/all'"));
    assert!(stderr(create("urn:a/b", "", "read=some")).contains("none, owner or all"));
    env.fails(
        &["client", "show", "--tenant", "acme", "--client-id", "x"],
        1,
        "tenant 'acme' has no client 'x'",
    );
    env.fails(&["tenant", "delete", "acme"], 1, "repeat with --yes");
    env.ok(&["tenant", "delete", "acme", "--yes"]);
    env.fails(&["tenant", "show", "acme"], 1, "does not exist");
    env.fails(&["bench", "--rsa-bits", "1024"], 1, "2048, 3072 or 4096");
    env.fails(&["bench", "--changes", "0"], 1, "must be at least 1");
    if backend == Backend::Sqlite {
        env.fails(
            &["bench", "--no-vacuum"],
            1,
            "--no-vacuum is for a PostgreSQL store: add --database-url",
        );
    }
}

/// `cxhooks operator …`, then signing in to the console of a served store with the password
/// the command printed.
async fn operators_are_administered_and_sign_in(backend: Backend) {
    let env = Env::new(backend).await;
    env.ok(&["tenant", "create", "beta"]);
    env.fails(
        &[
            "operator",
            "create",
            "--tenant",
            "acme",
            "--email",
            "ops@acme.example",
        ],
        1,
        "tenant 'acme' does not exist",
    );
    env.ok(&["tenant", "create", "acme"]);
    env.fails(
        &[
            "operator",
            "create",
            "--tenant",
            "acme",
            "--email",
            "not-an-address",
        ],
        1,
        "'not-an-address' is not an e-mail address",
    );
    let created: Value = serde_json::from_str(&env.ok(&[
        "operator",
        "create",
        "--tenant",
        "acme",
        "--email",
        "Ops@Acme.example",
        "--json",
    ]))
    .unwrap();
    assert_eq!(created["email"], "ops@acme.example");
    let generated = created["password"].as_str().unwrap().to_owned();
    assert_eq!(generated.len(), 43);
    env.fails(
        &[
            "operator",
            "create",
            "--tenant",
            "acme",
            "--email",
            "ops@acme.example",
        ],
        1,
        "already has an operator 'ops@acme.example'",
    );
    let out = passwd(&env, "short\n");
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("a password has 12 to 1024 characters"));
    assert_eq!(
        env.ok(&["operator", "list", "--tenant", "acme"]).trim(),
        "ops@acme.example"
    );

    let (_server, url) = env.serve();
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let sign_in = |password: String| {
        let (http, url) = (http.clone(), url.clone());
        async move {
            let form = http
                .get(format!("{url}/console/login"))
                .send()
                .await
                .unwrap();
            let cookie = form.headers()["set-cookie"]
                .to_str()
                .unwrap()
                .split(';')
                .next()
                .unwrap()
                .to_owned();
            let token = cookie.split_once('=').unwrap().1.to_owned();
            http.post(format!("{url}/console/login"))
                .header("cookie", cookie)
                .form(&[
                    ("login_csrf", token.as_str()),
                    ("tenant", "acme"),
                    ("email", "ops@acme.example"),
                    ("password", password.as_str()),
                ])
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    assert_eq!(sign_in(generated.clone()).await, 303);
    assert!(passwd(&env, "a chosen long password\n").status.success());
    assert_eq!(
        sign_in(generated).await,
        401,
        "the old password no longer works"
    );
    assert_eq!(sign_in("a chosen long password".into()).await, 303);
    env.ok(&[
        "operator",
        "delete",
        "--tenant",
        "acme",
        "--email",
        "ops@acme.example",
    ]);
    assert_eq!(sign_in("a chosen long password".into()).await, 401);
    env.fails(
        &[
            "operator",
            "delete",
            "--tenant",
            "acme",
            "--email",
            "ops@acme.example",
        ],
        1,
        "tenant 'acme' has no operator 'ops@acme.example'",
    );
}

/// `operator passwd --password-stdin` for ops@acme.example, given `input`.
fn passwd(env: &Env, input: &str) -> Output {
    use std::io::Write as _;
    use std::process::Stdio;
    let mut child = env
        .command(&[
            "operator",
            "passwd",
            "--tenant",
            "acme",
            "--email",
            "ops@acme.example",
            "--password-stdin",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

/// `cxhooks additional-field …` with the API's checks and messages.
async fn additional_fields_are_administered(backend: Backend) {
    let env = Env::new(backend).await;
    env.ok(&["tenant", "create", "acme"]);
    let field = |key: &str, t: &str| {
        vec![
            "additional-field",
            "create",
            "--tenant",
            "acme",
            "--entity",
            "cremployee",
            "--key",
            key,
            "--label",
            "Shoe size",
            "--type",
            t,
        ]
        .into_iter()
        .map(str::to_owned)
        .collect::<Vec<String>>()
    };
    fn args(v: &[String]) -> Vec<&str> {
        v.iter().map(String::as_str).collect()
    }
    assert!(
        env.ok(&args(&field("shoesize", "number")))
            .contains("conditions test it as data.additionalinfo.shoesize")
    );
    env.fails(
        &args(&field("shoesize", "number")),
        1,
        "already has an additional field 'shoesize'",
    );
    env.fails(
        &args(&field("Shoe", "colour")),
        1,
        "/key: 'Shoe' is not a key",
    );
    env.fails(
        &args(&field("shoe", "colour")),
        1,
        "/type: unknown type 'colour'",
    );
    let listed: Value =
        serde_json::from_str(&env.ok(&["additional-field", "list", "--tenant", "acme", "--json"]))
            .unwrap();
    assert_eq!(listed[0]["path"], "additionalinfo.shoesize");
    assert_eq!(listed[0]["_createdBy"], "cxhooks-cli");
    env.ok(&[
        "additional-field",
        "delete",
        "--tenant",
        "acme",
        "--entity",
        "cremployee",
        "--key",
        "shoesize",
    ]);
    assert!(
        env.ok(&["additional-field", "list", "--tenant", "acme"])
            .contains("no additional fields")
    );
    env.fails(
        &["additional-field", "list", "--tenant", "nope"],
        1,
        "tenant 'nope' does not exist",
    );
}

cxhooks_store::both_backends!(
    readme_flow,
    bad_input_is_explained,
    operators_are_administered_and_sign_in,
    additional_fields_are_administered
);

#[test]
fn a_rotation_grace_shorter_than_the_retry_schedule_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_cxhooks"))
        .current_dir(dir.path())
        .args(["serve", "--print-config"])
        .env("CXHOOKS_KEYS__ROTATION_GRACE", "1h")
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{said}");
    assert!(
        said.contains("keys.rotation_grace (1h) must be at least the last offset of delivery.retry_schedule (2h)")
            && said.contains("keys.rotation_grace = \"2h\" or more"),
        "{said}"
    );
    let out = Command::new(env!("CARGO_BIN_EXE_cxhooks"))
        .current_dir(dir.path())
        .args(["serve", "--print-config"])
        .env("CXHOOKS_KEYS__ROTATION_GRACE", "1h")
        .env("CXHOOKS_DELIVERY__RETRY_SCHEDULE", "1s,1h")
        .output()
        .unwrap();
    let printed = String::from_utf8_lossy(&out.stdout);
    assert!(printed.contains("rotation_grace = \"1h\""), "{printed}");
}

#[test]
fn print_config_masks_secrets_and_wrong_master_keys_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_cxhooks"))
        .current_dir(dir.path())
        .args(["serve", "--print-config", "--listen", "127.0.0.1:9999"])
        .env(
            "CXHOOKS_KEYS__MASTER_KEY",
            "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
        )
        .env("CXHOOKS_DELIVERY__RETRY_SCHEDULE", "1s,2s")
        .output()
        .unwrap();
    let printed = String::from_utf8(out.stdout).unwrap();
    assert!(printed.contains("listen = \"127.0.0.1:9999\""), "{printed}");
    assert!(printed.contains("master_key = \"***\""), "{printed}");
    assert!(printed.contains("retry_schedule = \"1s,2s\""), "{printed}");
    assert!(!printed.contains("AAECAwQF"));

    // The embedded store remembers its master key: another one is refused, clearly.
    let run = |args: &[&str], key: Option<&str>| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_cxhooks"));
        cmd.current_dir(dir.path()).args(args);
        match key {
            Some(k) => cmd.env("CXHOOKS_KEYS__MASTER_KEY", k),
            None => cmd.env_remove("CXHOOKS_KEYS__MASTER_KEY"),
        };
        cmd.output().unwrap()
    };
    assert!(run(&["tenant", "create", "acme"], None).status.success());
    assert!(dir.path().join("cxhooks-data/master.key").exists());
    let other = run(
        &["tenant", "list"],
        Some("AQECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="),
    );
    assert_eq!(other.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&other.stderr).contains("master key does not match"));
}
