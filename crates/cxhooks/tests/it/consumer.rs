//! `demo` and `listen`, as an integrator runs them.

use crate::delivery::{publisher, token};
use crate::env::{Env, Proc};
use cxhooks_store::testing::Backend;
use serde_json::{Value, json};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

#[test]
fn demo_runs_to_completion() {
    let out = Command::new(env!("CARGO_BIN_EXE_cxhooks"))
        .args(["demo", "--port", "0", "--events", "11"])
        .env("CXHOOKS_LOG", "error")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("11 deliveries received, 11 verified."),
        "{stdout}"
    );
    let verified = stdout
        .lines()
        .filter(|l| l.starts_with("✔ #") && l.ends_with("signature verified"))
        .count();
    assert_eq!(verified, 11, "{stdout}");
    assert!(
        stdout
            .lines()
            .any(|l| l.contains("cremployee:updated") && l.contains("additionalinfo.shoesize")),
        "the additional field's change is delivered: {stdout}"
    );
    assert!(
        stdout
            .lines()
            .any(|l| l.contains("cremployee:updated") && l.contains("touser.groupnodes")),
        "the group change is delivered: {stdout}"
    );
    assert!(
        stdout.lines().any(|l| l.contains("crattachment:created")),
        "the CV is delivered: {stdout}"
    );
    for kind in [
        "cremployee:created",
        "cremployee:updated",
        "crvacancy:created",
        "crmatch:created",
        "crmatch:updated",
        "crjob:created",
    ] {
        assert!(stdout.contains(kind), "no {kind} delivery: {stdout}");
    }
    // The candidate that became Available, with the changed paths the record store computed.
    assert!(stdout.contains("cremployee:updated entity 1 changed [modificationdate, touser, touser.modificationdate, touser.tosinglestatusnode]"), "{stdout}");
}

/// Reads a child's stdout lines on a thread.
fn lines(child: &mut Child) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    let out = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

fn wait_line(rx: &mpsc::Receiver<String>, contains: &str) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut seen = Vec::new();
    while Instant::now() < deadline {
        if let Ok(line) = rx.recv_timeout(Duration::from_millis(100)) {
            let hit = line.contains(contains);
            seen.push(line);
            if hit {
                return seen;
            }
        }
    }
    panic!("no line containing '{contains}' in: {seen:#?}");
}

async fn listen_verifies_a_real_delivery_and_rejects_a_tampered_one(backend: Backend) {
    let env = Env::new(backend).await;
    let publisher = publisher(&env);
    let (mut server, url) = env.serve_with(&[("CXHOOKS_DELIVERY__ALLOW_PRIVATE_TARGETS", "true")]);
    let http = reqwest::Client::new();
    let token = &token(&http, &url, &publisher).await;
    let app: Value = http
        .post(format!("{url}/webhooks/v1/applications"))
        .bearer_auth(token)
        .json(&json!({"name": "dev"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let pem = env.dir.path().join("app.pem");
    std::fs::write(&pem, app["secret"].as_str().unwrap()).unwrap();

    let mut listen = Proc(
        Command::new(env!("CARGO_BIN_EXE_cxhooks"))
            .args([
                "listen",
                "--port",
                "0",
                "--status",
                "202",
                "--secret-file",
                pem.to_str().unwrap(),
            ])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let rx = lines(&mut listen);
    let first = wait_line(&rx, "listening on");
    let listen_url = first.last().unwrap().split(' ').nth(2).unwrap().to_owned();
    let hook =
        json!({"url": format!("{listen_url}/hook"), "filters": [{"eventType": "crjob:created"}]});
    let r = http
        .post(format!(
            "{url}/webhooks/v1/applications/{}/webhooks",
            app["_id"].as_str().unwrap()
        ))
        .bearer_auth(token)
        .json(&hook)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let r = http
        .post(format!("{url}/webhooks/v1/changes"))
        .bearer_auth(token)
        .json(&json!({"type": "crjob:created", "entityId": "5", "data": {}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);

    // The real delivery: printed (headers and pretty JSON) and verified.
    let printed = wait_line(&rx, " signature ");
    let text = printed.join("\n");
    assert!(text.contains("\"type\": \"crjob:created\""), "{text}");
    assert!(text.contains("cx-signature:"), "{text}");
    assert!(
        printed.last().unwrap().starts_with("✔ signature verified"),
        "{text}"
    );
    let answered = wait_line(&rx, "answered");
    assert!(answered.last().unwrap().contains("202"));
    // The server recorded listen's chosen status.
    let events: Value = http
        .get(format!(
            "{url}/webhooks/v1/applications/{}/events",
            app["_id"].as_str().unwrap()
        ))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let event_id = events["items"][0]["_id"].as_str().unwrap();
    let body_line = text
        .lines()
        .find(|l| l.contains("\"id\":"))
        .unwrap()
        .to_owned();
    assert!(body_line.contains(event_id), "{body_line}");

    // A tampered copy: same signature header, other body.
    let signature = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("cx-signature: "))
        .unwrap()
        .to_owned();
    let r = http
        .post(format!("{listen_url}/hook"))
        .header("content-type", "application/json")
        .header("cx-signature", signature)
        .body(r#"{"id":"forged","type":"crjob:created"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    let printed = wait_line(&rx, " signature ");
    assert!(
        printed
            .last()
            .unwrap()
            .starts_with("✘ signature NOT verified"),
        "{printed:?}"
    );
    listen.kill().unwrap();
    listen.wait().unwrap();
    server.kill().unwrap();
    server.wait().unwrap();
}

cxhooks_store::both_backends!(listen_verifies_a_real_delivery_and_rejects_a_tampered_one);
