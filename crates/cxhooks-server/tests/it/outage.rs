//! A PostgreSQL outage, made by a TCP proxy this test starts between the server and the
//! database (the shared server is never stopped): requests are answered 503 with `Retry-After`
//! while the store is unreachable, publishers retry with their `Idempotency-Key`, and every
//! change answered 202 is stored once and delivered. How fast the 503s come is printed, not
//! asserted (docs/operations.md has the figures).

use crate::delivery::{config, setup_on};
use crate::harness::*;
use crate::receiver::TestReceiver;
use cxhooks_signing::MasterKey;
use cxhooks_store::{Store, StoreLocation};
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::AbortHandle;

/// A TCP relay to `target` that can be taken down (every connection cut, new ones closed at
/// once, or with `silent`, held open unanswered) and brought up again.
#[derive(Clone)]
struct Proxy {
    addr: SocketAddr,
    up: Arc<AtomicBool>,
    silent: Arc<AtomicBool>,
    relays: Arc<Mutex<Vec<AbortHandle>>>,
}

impl Proxy {
    async fn start(target: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let proxy = Proxy {
            addr: listener.local_addr().unwrap(),
            up: Arc::new(AtomicBool::new(true)),
            silent: Arc::default(),
            relays: Arc::default(),
        };
        let accepting = proxy.clone();
        tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                if !accepting.up.load(Ordering::SeqCst) {
                    if accepting.silent.load(Ordering::SeqCst) {
                        // Held open, never answered, until the proxy is up again.
                        let held = tokio::spawn(async move {
                            let _inbound = inbound;
                            std::future::pending::<()>().await
                        });
                        accepting.relays.lock().unwrap().push(held.abort_handle());
                    }
                    continue; // dropped: closed at once
                }
                let relay = tokio::spawn(async move {
                    if let Ok(mut outbound) = TcpStream::connect(target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
                accepting.relays.lock().unwrap().push(relay.abort_handle());
            }
        });
        proxy
    }

    fn down(&self) {
        self.up.store(false, Ordering::SeqCst);
        for relay in self.relays.lock().unwrap().drain(..) {
            relay.abort();
        }
    }

    fn up(&self) {
        self.silent.store(false, Ordering::SeqCst);
        self.up.store(true, Ordering::SeqCst);
        for held in self.relays.lock().unwrap().drain(..) {
            held.abort();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publishes_through_a_store_outage_are_stored_once_and_delivered() {
    let mut url = url::Url::parse(&cxhooks_store::testing::postgres_url()).unwrap();
    let target: SocketAddr = tokio::net::lookup_host(format!(
        "{}:{}",
        url.host_str().unwrap(),
        url.port().unwrap_or(5432)
    ))
    .await
    .unwrap()
    .next()
    .unwrap();
    let proxy = Proxy::start(target).await;
    url.set_host(Some("127.0.0.1")).unwrap();
    url.set_port(Some(proxy.addr.port())).unwrap();
    let location = StoreLocation::Postgres {
        url: url.to_string(),
        schema: Some(format!("cxtest_{}", uuid::Uuid::new_v4().simple())),
    };
    let store = Store::open(&location).await.unwrap();
    let master = Arc::new(MasterKey::from_bytes(&MasterKey::generate_bytes()).unwrap());
    let receiver = TestReceiver::ok().await;
    let s = setup_on(spawn_node(store, master, config()).await, &receiver.url).await;
    let client = s.app.client("acme", crate::delivery::PUBLISH, "").await;

    // The outage: from 0.3 s to 2.8 s into the publishes.
    let outage = tokio::spawn({
        let proxy = proxy.clone();
        async move {
            tokio::time::sleep(Duration::from_millis(300)).await;
            proxy.down();
            tokio::time::sleep(Duration::from_millis(2500)).await;
            proxy.up();
        }
    });
    let n = 40;
    let (mut refused, mut slowest) = (0, Duration::ZERO);
    let mut answered = BTreeSet::new();
    for i in 0..n {
        let body = json!({"type": "crjob:created", "entityId": format!("o{i}"), "data": {}});
        loop {
            let started = Instant::now();
            let r = s
                .app
                .http
                .post(format!("{}/webhooks/v1/changes", s.app.url))
                .bearer_auth(&s.publisher)
                .header("idempotency-key", format!("outage-{i}"))
                .json(&body)
                .send()
                .await
                .unwrap();
            let took = started.elapsed();
            match r.status().as_u16() {
                202 => {
                    let ids = r.json::<Value>().await.unwrap()["ids"].clone();
                    answered.insert(ids[0].as_str().unwrap().to_owned());
                    break;
                }
                503 => {
                    assert_eq!(r.headers()["retry-after"], "1");
                    assert_eq!(r.headers()["content-type"], "application/problem+json");
                    refused += 1;
                    slowest = slowest.max(took);
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                other => panic!("publish {i}: {other} {}", r.text().await.unwrap()),
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    outage.await.unwrap();
    eprintln!("publishes refused during the outage: {refused}, the slowest 503 in {slowest:?}");
    assert!(refused > 0, "the outage was seen");
    assert_eq!(answered.len(), n, "one id per change");

    // While it is down: /readyz and the token endpoint answer 503 too.
    proxy.down();
    let started = Instant::now();
    let ready = s.app.get("/readyz", None).await;
    eprintln!(
        "/readyz during an outage: {} in {:?}",
        ready.status(),
        started.elapsed()
    );
    assert_eq!(ready.status(), 503);
    let started = Instant::now();
    let token = s
        .app
        .http
        .post(s.app.token_url("acme"))
        .basic_auth(&client.id, Some(&client.secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    eprintln!(
        "token during an outage: {} in {:?}",
        token.status(),
        started.elapsed()
    );
    assert_eq!(token.status(), 503);
    assert_eq!(token.headers()["retry-after"], "1");
    let body: Value = token.json().await.unwrap();
    assert_eq!(body["error"], "temporarily_unavailable");

    // A database that holds connections without answering: the acquire timeout (1 s) bounds it.
    proxy.silent.store(true, Ordering::SeqCst);
    let started = Instant::now();
    let ready = s.app.get("/readyz", None).await;
    eprintln!(
        "/readyz while the database is silent: {} in {:?}",
        ready.status(),
        started.elapsed()
    );
    assert_eq!(ready.status(), 503);
    let started = Instant::now();
    let publish = s
        .publish(&json!({"type": "crjob:created", "entityId": "silent", "data": {}}))
        .await;
    eprintln!(
        "publish while the database is silent: {} in {:?}",
        publish.status,
        started.elapsed()
    );
    assert_eq!(publish.status, 503, "{}", publish.text);
    proxy.up();

    // Every change answered 202 is stored once and delivered.
    let mut delivered = BTreeSet::new();
    for _ in 0..600 {
        delivered = receiver
            .received()
            .iter()
            .map(|r| r.json()["data"]["entityId"].as_str().unwrap().to_owned())
            .collect();
        if delivered.len() == n {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let all: BTreeSet<String> = (0..n).map(|i| format!("o{i}")).collect();
    assert_eq!(delivered, all, "every change delivered");
    let log = s.log("?limit=100").await;
    let changes: BTreeSet<&str> = log
        .iter()
        .map(|e| e["changeId"].as_str().unwrap())
        .collect();
    assert_eq!(log.len(), n, "one delivery per change: stored once");
    assert_eq!(changes, answered.iter().map(String::as_str).collect());
}
