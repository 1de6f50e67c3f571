//! `TestReceiver`: a real HTTP server on a loopback port that records every delivery and
//! answers as the test scripts it.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// One received request.
#[derive(Debug, Clone)]
pub struct Received {
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Received {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap()
    }
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .map(|v| v.to_str().unwrap())
            .unwrap_or("")
    }
}

/// How the receiver answers its n-th request (0-based), given the request.
pub type Script = Arc<dyn Fn(usize, &Received) -> Reply + Send + Sync>;

/// One scripted answer.
#[derive(Debug, Clone)]
pub enum Reply {
    Status(u16),
    Sleep(Duration),
    Redirect(&'static str),
    RetryAfter(u16, u64),
}

#[derive(Clone)]
struct Shared {
    received: Arc<Mutex<Vec<Received>>>,
    script: Script,
    /// Requests being answered now, and the most there ever were.
    open: Arc<(AtomicUsize, AtomicUsize)>,
}

pub struct TestReceiver {
    pub url: String,
    received: Arc<Mutex<Vec<Received>>>,
    open: Arc<(AtomicUsize, AtomicUsize)>,
    _stop: tokio::sync::oneshot::Sender<()>,
}

async fn receive(State(shared): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    let request = Received { headers, body };
    let n = {
        let mut all = shared.received.lock().unwrap();
        all.push(request.clone());
        all.len() - 1
    };
    let (open, most) = &*shared.open;
    most.fetch_max(open.fetch_add(1, Ordering::SeqCst) + 1, Ordering::SeqCst);
    let reply = (shared.script)(n, &request);
    let answer = answer(n, reply).await;
    open.fetch_sub(1, Ordering::SeqCst);
    answer
}

async fn answer(n: usize, reply: Reply) -> Response {
    match reply {
        Reply::Status(s) => {
            (StatusCode::from_u16(s).unwrap(), format!("answer {n}")).into_response()
        }
        Reply::Sleep(d) => {
            tokio::time::sleep(d).await;
            (StatusCode::OK, "late").into_response()
        }
        Reply::Redirect(to) => (StatusCode::FOUND, [("location", to)], "moved").into_response(),
        Reply::RetryAfter(s, secs) => (
            StatusCode::from_u16(s).unwrap(),
            [("retry-after", secs.to_string())],
            "busy",
        )
            .into_response(),
    }
}

impl TestReceiver {
    pub async fn start(script: impl Fn(usize) -> Reply + Send + Sync + 'static) -> Self {
        Self::start_with(move |n, _| script(n)).await
    }

    /// A receiver whose answer may depend on the request (e.g. the delivery's `id`).
    pub async fn start_with(
        script: impl Fn(usize, &Received) -> Reply + Send + Sync + 'static,
    ) -> Self {
        let received = Arc::new(Mutex::new(Vec::new()));
        let open = Arc::new((AtomicUsize::new(0), AtomicUsize::new(0)));
        let shared = Shared {
            received: received.clone(),
            script: Arc::new(script),
            open: open.clone(),
        };
        let app = axum::Router::new().fallback(receive).with_state(shared);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await
                .unwrap();
        });
        Self {
            url,
            received,
            open,
            _stop: stop,
        }
    }

    /// The most requests it was answering at once.
    pub fn most_open(&self) -> usize {
        self.open.1.load(Ordering::SeqCst)
    }

    /// Answers 200 to everything.
    pub async fn ok() -> Self {
        Self::start(|_| Reply::Status(200)).await
    }

    pub fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    /// Waits until `n` requests arrived (or panics after 20 s).
    pub async fn wait_for(&self, n: usize) -> Vec<Received> {
        for _ in 0..400 {
            if self.received.lock().unwrap().len() >= n {
                return self.received();
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!(
            "expected {n} requests, got {}",
            self.received.lock().unwrap().len()
        );
    }
}
