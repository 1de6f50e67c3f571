//! `cxhooks listen`: a receiver for development, like webhook.site, that checks `Cx-Signature`.

use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use clap::Args;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

#[derive(Debug, Args)]
pub struct ListenArgs {
    /// Port on 127.0.0.1 (0 picks a free one, printed at start).
    #[arg(long, default_value_t = 8481)]
    port: u16,
    /// The application's `secret` (PEM), to verify each delivery's signature.
    #[arg(long, value_name = "PEM", conflicts_with = "jwks_url")]
    secret_file: Option<PathBuf>,
    /// The application's JWKS URL (its public `jwksUrl`), to verify each delivery's signature
    /// with the key its `Cx-Signature-Key-Id` names; the keys are cached and fetched again for
    /// a key id they do not hold.
    #[arg(long, value_name = "URL")]
    jwks_url: Option<String>,
    /// The HTTP status to answer with (e.g. 500 or 410 to watch retries and `error`).
    #[arg(long, default_value_t = 200)]
    status: u16,
}

/// How `listen` checks signatures.
#[derive(Debug)]
pub enum Keys {
    /// With the application's `secret` (PEM).
    Secret(String),
    /// With the keys of its JWKS URL, by key id.
    Remote(cxhooks_consumer::RemoteKeys),
}

impl Keys {
    /// Whether `signature` over `body` verifies, with the key `kid` names (for a JWKS).
    pub async fn check(
        &self,
        kid: Option<&str>,
        body: &[u8],
        signature: &str,
    ) -> Result<(), String> {
        match self {
            Keys::Secret(secret) => cxhooks_consumer::verify_signature(secret, body, signature)
                .map_err(|e| e.to_string()),
            Keys::Remote(keys) => keys
                .verify(kid, body, signature)
                .await
                .map_err(|e| e.to_string()),
        }
    }
}

/// What a receiver says about one request.
pub async fn describe(
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
    keys: Option<&Keys>,
) -> (String, Option<bool>) {
    let mut out = format!(
        "── {method} {uri}  {}\n",
        chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    );
    for (name, value) in headers {
        out.push_str(&format!(
            "   {name}: {}\n",
            value.to_str().unwrap_or("(binary)")
        ));
    }
    match serde_json::from_slice::<serde_json::Value>(body) {
        Ok(v) => out.push_str(&serde_json::to_string_pretty(&v).unwrap_or_default()),
        Err(_) => out.push_str(&String::from_utf8_lossy(body)),
    }
    out.push('\n');
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let mut verdict = None;
    if let Some(keys) = keys {
        let signature = header("cx-signature").unwrap_or("");
        let kid = header("cx-signature-key-id");
        verdict = Some(match keys.check(kid, body, signature).await {
            Ok(()) => {
                out.push_str("✔ signature verified: Cx-Signature matches this body and the application's key\n");
                true
            }
            Err(e) => {
                out.push_str(&format!("✘ signature NOT verified: {e}\n"));
                false
            }
        });
    }
    if verdict.is_none() {
        out.push_str("  signature not checked (give --secret-file or --jwks-url to check it)\n");
    }
    (out, verdict)
}

pub async fn run(args: ListenArgs) -> Result<ExitCode, String> {
    let keys = match (&args.secret_file, &args.jwks_url) {
        (Some(f), _) => {
            let pem = std::fs::read_to_string(f)
                .map_err(|e| format!("cannot read {}: {e}", f.display()))?;
            cxhooks_signing::PublicKey::from_pem(&pem)
                .map_err(|e| format!("{}: {e}", f.display()))?;
            Some(Arc::new(Keys::Secret(pem)))
        }
        (None, Some(url)) => Some(Arc::new(Keys::Remote(cxhooks_consumer::RemoteKeys::new(
            url.clone(),
        )))),
        (None, None) => None,
    };
    let status = StatusCode::from_u16(args.status)
        .map_err(|_| format!("{} is not an HTTP status", args.status))?;
    let app = axum::Router::new().fallback(
        move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| {
            let keys = keys.clone();
            async move {
                let (text, _) = describe(&method, &uri, &headers, &body, keys.as_deref()).await;
                outln!("{text}→ answered {}\n", status.as_u16());
                status
            }
        },
    );
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", args.port))
        .await
        .map_err(|e| format!("cannot listen on port {}: {e}", args.port))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    outln!("listening on http://{addr} (answering {})", status.as_u16());
    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
        .map_err(|e| e.to_string())?;
    Ok(ExitCode::SUCCESS)
}
