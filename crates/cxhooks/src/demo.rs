//! `cxhooks demo`: the whole flow on one machine with nothing else installed.

use axum::body::Bytes;
use axum::http::HeaderMap;
use clap::Args;
use cxhooks_server::identity::admin::{self, NewClient};
use cxhooks_server::{AppState, Config};
use cxhooks_store::{ClientCode, Permissions, ScopeSet, TenantName};
use serde_json::{Value, json};
use std::process::ExitCode;
use std::time::Duration;
use tokio::sync::mpsc;

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Stop after this many verified deliveries (default: run until Ctrl-C).
    #[arg(long)]
    events: Option<usize>,
    /// Port of the service (default 8480, or a free one if it is taken; 0 picks a free one).
    #[arg(long)]
    port: Option<u16>,
}

struct Demo {
    http: reqwest::Client,
    url: String,
    token: String,
}

impl Demo {
    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Value,
    ) -> Result<Value, String> {
        let r = self
            .http
            .request(method, format!("{}{path}", self.url))
            .bearer_auth(&self.token)
            .json(&body)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let status = r.status();
        let v: Value = r.json().await.unwrap_or(Value::Null);
        if status.is_success() {
            Ok(v)
        } else {
            Err(format!("{path}: {status} {v}"))
        }
    }

    async fn create(&self, entity: &str, record: Value) -> Result<String, String> {
        let v = self
            .call(reqwest::Method::POST, &format!("/data/v1/{entity}"), record)
            .await?;
        Ok(v["_id"].as_str().unwrap_or_default().to_owned())
    }

    async fn patch(&self, entity: &str, id: &str, patch: Value) -> Result<(), String> {
        self.call(
            reqwest::Method::PATCH,
            &format!("/data/v1/{entity}/{id}"),
            patch,
        )
        .await
        .map(|_| ())
    }
}

async fn bind(port: Option<u16>) -> Result<tokio::net::TcpListener, String> {
    match port {
        Some(p) => tokio::net::TcpListener::bind(("127.0.0.1", p))
            .await
            .map_err(|e| format!("cannot listen on {p}: {e}")),
        None => match tokio::net::TcpListener::bind("127.0.0.1:8480").await {
            Ok(l) => Ok(l),
            Err(_) => tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .map_err(|e| e.to_string()),
        },
    }
}

/// The console operator the demo creates.
const DEMO_OPERATOR: &str = "demo@cxhooks.example";

pub async fn run(args: DemoArgs) -> Result<ExitCode, String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let mut config = Config::default();
    config.store.data_dir = dir.path().to_path_buf();
    config.delivery.allow_private_targets = true; // the built-in receiver is on loopback
    config.limits.monthly_notifications_per_client = u64::MAX; // fair usage is off in the demo
    let (store, master) = cxhooks_server::open_store(&config)
        .await
        .map_err(|e| e.to_string())?;
    let listener = bind(args.port).await?;
    let bound = listener.local_addr().map_err(|e| e.to_string())?;
    let url = format!("http://{bound}");
    let state = AppState::new(store.clone(), master.clone(), config, bound)
        .await
        .map_err(|e| e.to_string())?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(cxhooks_server::run(state, listener, async {
        let _ = stopped.await;
    }));
    outln!(
        "cxhooks demo: service on {url}, temporary store in {}\n",
        dir.path().display()
    );

    // Tenant and a confidential client, as seed 001 configures one.
    let tenant = TenantName::parse("demo").expect("valid");
    admin::create_tenant(&store, &master, &tenant, true)
        .await
        .map_err(|e| e.to_string())?;
    let scopes = "urn:cx/webhooks:data:manage urn:cx/cx5Wrapper:data:manage urn:cx/cx5Acl:data:manage urn:cx/webhooks:events:publish";
    let new = NewClient {
        name: "Demo integration".into(),
        code: ClientCode::parse("urn:demo/integration").expect("valid"),
        scopes: ScopeSet::parse(scopes).expect("valid"),
        permissions: Permissions::parse("create=on,read=all,update=all,delete=all").expect("valid"),
    };
    let (client, secret) = admin::create_client(&store, &master, &tenant, new)
        .await
        .map_err(|e| e.to_string())?;
    // An operator for the console, with a generated password printed below.
    let (_, console_password) =
        cxhooks_server::identity::operators::create_operator(&store, &tenant, DEMO_OPERATOR, None)
            .await
            .map_err(|e| e.to_string())?;
    let console_password = console_password.unwrap_or_default();
    let http = reqwest::Client::new();
    let token = crate::token::client_token(
        &http,
        &url,
        tenant.as_str(),
        (&client.client_id, &secret),
        None,
    )
    .await?;
    let demo = Demo {
        http,
        url: url.clone(),
        token,
    };

    // The built-in receiver verifies every delivery with the application's secret.
    let app = demo
        .call(
            reqwest::Method::POST,
            "/webhooks/v1/applications",
            json!({"_kind": "Application", "name": "demo receiver"}),
        )
        .await?;
    let app_id = app["_id"].as_str().unwrap_or_default().to_owned();
    let app_secret = app["secret"].as_str().unwrap_or_default().to_owned();
    let (tx, mut rx) = mpsc::unbounded_channel::<(bool, Value)>();
    let receiver = axum::Router::new().fallback(move |headers: HeaderMap, body: Bytes| {
        let (tx, secret) = (tx.clone(), app_secret.clone());
        async move {
            let signature = headers
                .get("cx-signature")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            let verified = cxhooks_consumer::verify_signature(&secret, &body, signature).is_ok();
            let _ = tx.send((
                verified,
                serde_json::from_slice(&body).unwrap_or(Value::Null),
            ));
            "ok"
        }
    });
    let receiver_listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| e.to_string())?;
    let receiver_url = format!(
        "http://{}/webhook",
        receiver_listener.local_addr().map_err(|e| e.to_string())?
    );
    tokio::spawn(async move { axum::serve(receiver_listener, receiver).await });

    // An additional field (seed 004's roadmap: "if additional field 'Shoesize' is changed »
    // notification").
    demo.call(
        reqwest::Method::POST,
        "/webhooks/v1/additional-fields",
        json!({"entity": "cremployee", "key": "shoesize", "label": "Shoe size", "type": "number"}),
    )
    .await?;
    outln!("additional field shoesize (number) of cremployee");
    // A group (a crdatanode of type Group): filters may name it by its label.
    demo.create(
        "crdatanode",
        json!({"datanodeid": 501, "value": "Do not send Emails", "type": "Group"}),
    )
    .await?;
    outln!("group 501 \"Do not send Emails\"");

    // Filters from the seed documents: candidates that become "Available" (status 1234), new
    // candidates, every match and placement, new vacancies; a shoe size that changes above 44,
    // a candidate put in the group "Do not send Emails", and a CV added.
    let filters = json!([
        {"eventType": "cremployee:created"},
        {"eventType": "cremployee:updated", "condition": "data.touser.tosinglestatusnode eq '1234'"},
        {"eventType": "cremployee:updated", "condition": "data.additionalinfo.shoesize gt 44 and metadata.paths has any of ['additionalinfo.shoesize']"},
        {"eventType": "cremployee:updated", "condition": "metadata.groupsAdded has any of ['Do not send Emails']"},
        {"eventType": "crattachment:created", "condition": "data.label eq 'CV'"},
        {"eventType": "crvacancy:created"},
        {"eventType": "crmatch:created"},
        {"eventType": "crmatch:updated"},
        {"eventType": "crjob:created"}
    ]);
    let hook = demo
        .call(
            reqwest::Method::POST,
            &format!("/webhooks/v1/applications/{app_id}/webhooks"),
            json!({"_kind": "Webhook", "url": receiver_url, "filters": filters}),
        )
        .await?;
    outln!(
        "webhook {} → built-in receiver {receiver_url}",
        hook["_id"].as_str().unwrap_or_default()
    );
    for f in filters.as_array().into_iter().flatten() {
        outln!(
            "  filter {} {}",
            f["eventType"].as_str().unwrap_or(""),
            f["condition"].as_str().unwrap_or("")
        );
    }
    outln!("\nwriting sample records through the record store (/data/v1) …\n");

    // Lookups, two candidates, a vacancy, a match moving through stages, a placement.
    demo.create(
        "crdatanode",
        json!({"datanodeid": 1234, "value": "Available", "type": "Candidate status"}),
    )
    .await?;
    demo.create(
        "crdatanode",
        json!({"datanodeid": 1001, "value": "New", "type": "Candidate status"}),
    )
    .await?;
    for (i, name) in ["Intake", "Interview", "Offer"].iter().enumerate() {
        demo.create(
            "crstatusinfo",
            json!({"statusinfoid": 2000 + i, "statusname": name, "sortorder": i + 1, "isfinal": 0}),
        )
        .await?;
    }
    let eva = demo
        .create("cremployee", json!({"touser": {"firstname": "Eva", "lastname": "Jansen", "emailaddress": "eva.jansen@example.com",
            "tosinglestatusnode": 1001, "birthdate": "1991-04-12"}, "hascar": 1, "notes": "Looking for ICU roles"}))
        .await?;
    let sem = demo
        .create("cremployee", json!({"touser": {"firstname": "Sem", "lastname": "de Boer", "emailaddress": "sem@example.com",
            "tosinglestatusnode": 1001}, "hascar": 0}))
        .await?;
    let vacancy = demo
        .create(
            "crvacancy",
            json!({"jobtitle": "ICU nurse", "tostatusnode": 3001, "startdate": "2027-01-01"}),
        )
        .await?;
    demo.patch(
        "cremployee",
        &eva,
        json!({"touser": {"tosinglestatusnode": 1234}}),
    )
    .await?; // becomes Available
    demo.patch(
        "cremployee",
        &sem,
        json!({"touser": {"lastname": "de Boer-Smit"}}),
    )
    .await?; // not selected by the filter
    demo.patch(
        "cremployee",
        &sem,
        json!({"additionalinfo": {"shoesize": 46}}),
    )
    .await?; // the shoe size filter selects it
    demo.patch("cremployee", &sem, json!({"touser": {"groupnodes": [501]}}))
        .await?; // put in the group "Do not send Emails"
    demo.create(
        "crattachment",
        json!({"toemployee": eva, "label": "CV", "filename": "eva-jansen-cv.txt", "contenttype": "text/plain",
            "content": "RXZhIEphbnNlbiwgSUNVIG51cnNlLCAxMiB5ZWFycw=="}),
    )
    .await?; // a CV added
    let m = demo
        .create(
            "crmatch",
            json!({"toemployee": eva, "tovacancy": vacancy, "statusinfo": 2000}),
        )
        .await?;
    demo.patch("crmatch", &m, json!({"statusinfo": 2001}))
        .await?;
    demo.patch("crmatch", &m, json!({"statusinfo": 2002}))
        .await?;
    demo.create("crjob", json!({"toemployee": eva, "tovacancy": vacancy, "startdate": "2027-01-01", "tostatusnode": 4001})).await?;

    let mut seen = 0usize;
    let mut failed = 0usize;
    let mut printed_next = false;
    loop {
        let wait = if printed_next {
            Duration::from_secs(3600)
        } else {
            Duration::from_secs(2)
        };
        let next = tokio::select! {
            m = rx.recv() => m,
            _ = tokio::time::sleep(wait) => None,
            _ = tokio::signal::ctrl_c() => break,
        };
        match next {
            Some((verified, n)) => {
                seen += 1;
                if !verified {
                    failed += 1;
                }
                let fields: Vec<&str> = n["data"]["changedFields"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                    .collect();
                outln!(
                    "{} #{seen} {} entity {} changed [{}] {}",
                    if verified { "✔" } else { "✘" },
                    n["type"].as_str().unwrap_or("?"),
                    n["data"]["entityId"].as_str().unwrap_or("?"),
                    fields.join(", "),
                    if verified {
                        "— signature verified"
                    } else {
                        "— SIGNATURE DID NOT VERIFY"
                    }
                );
                if args.events.is_some_and(|n| seen >= n) {
                    break;
                }
            }
            None if !printed_next => {
                printed_next = true;
                print_next(&url, &client.client_id, &secret, &app_id, &sem);
                outln!(
                    "  The console: open {url}/console and sign in as tenant demo, e-mail {DEMO_OPERATOR}, \
                     password {console_password}\n"
                );
                if args.events.is_some() {
                    // A bounded run that has gone quiet before its count: stop waiting.
                    break;
                }
            }
            None => {}
        }
    }
    let _ = stop.send(());
    let _ = server.await;
    outln!("\n{seen} deliveries received, {} verified.", seen - failed);
    match (failed, args.events) {
        (0, Some(n)) if seen < n => Err(format!("expected {n} deliveries, received {seen}")),
        (0, _) => Ok(ExitCode::SUCCESS),
        _ => Err(format!("{failed} deliveries did not verify")),
    }
}

fn print_next(url: &str, client_id: &str, secret: &str, app_id: &str, candidate: &str) {
    outln!(
        "\nTry next (in another terminal, while this runs; Ctrl-C stops the demo):\n\
         \n  export CX={url}\
         \n  TOKEN=$(curl -s -u '{client_id}:{secret}' -d grant_type=client_credentials $CX/auth/realms/demo/protocol/openid-connect/token | jq -r .access_token)\
         \n  # make candidate {candidate} Available: the filter selects it, a delivery appears here\
         \n  curl -s -X PATCH -H \"Authorization: Bearer $TOKEN\" -H 'Content-Type: application/json' -d '{{\"touser\": {{\"tosinglestatusnode\": 1234}}}}' $CX/data/v1/cremployee/{candidate}\
         \n  # the request log, with every attempt\
         \n  curl -s -H \"Authorization: Bearer $TOKEN\" $CX/webhooks/v1/applications/{app_id}/events | jq\
         \n  # candidates that are Available, through the record store's filter\
         \n  curl -s -G -H \"Authorization: Bearer $TOKEN\" --data-urlencode \"filter=data.touser.tosinglestatusnode eq '1234'\" $CX/data/v1/cremployee | jq\
         \n  # the API document\
         \n  curl -s $CX/openapi.json | jq '.paths | keys'\n"
    );
}
