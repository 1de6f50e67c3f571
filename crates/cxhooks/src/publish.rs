//! `cxhooks publish`: send changes to a running server, as a source system does.

use clap::Args;
use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, Args)]
pub struct PublishArgs {
    /// JSON file with one change or an array of changes; `-` (the default) reads standard input.
    #[arg(default_value = "-")]
    file: PathBuf,
    /// The server, and a client with the scope urn:cx/webhooks:events:publish.
    #[command(flatten)]
    server: crate::token::ServerClient,
    /// Makes a retried publish return the first answer instead of publishing twice.
    #[arg(long)]
    idempotency_key: Option<String>,
}

pub async fn run(args: PublishArgs) -> Result<ExitCode, String> {
    let body = if args.file.as_os_str() == "-" {
        let mut s = String::new();
        std::io::stdin()
            .read_to_string(&mut s)
            .map_err(|e| format!("cannot read standard input: {e}"))?;
        s
    } else {
        std::fs::read_to_string(&args.file)
            .map_err(|e| format!("cannot read {}: {e}", args.file.display()))?
    };
    let http = reqwest::Client::new();
    let (base, access) = args
        .server
        .token(&http, "urn:cx/webhooks:events:publish")
        .await?;
    let mut request = http
        .post(format!("{base}/webhooks/v1/changes"))
        .bearer_auth(access)
        .header("content-type", "application/json")
        .body(body);
    if let Some(key) = &args.idempotency_key {
        request = request.header("idempotency-key", key);
    }
    let response = request
        .send()
        .await
        .map_err(|e| format!("cannot reach {base}: {e}"))?;
    let status = response.status();
    let text = response.text().await.unwrap_or_default();
    let pretty = serde_json::from_str::<serde_json::Value>(&text)
        .map(|v| serde_json::to_string_pretty(&v).unwrap_or(text.clone()))
        .unwrap_or(text);
    if status.is_success() {
        outln!("{pretty}");
        Ok(ExitCode::SUCCESS)
    } else {
        eprintln!("{pretty}");
        Err(format!("the server refused the change ({status})"))
    }
}
