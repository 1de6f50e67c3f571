//! `cxhooks erase`: erase a record of the record store (GDPR art. 17) on a running server:
//! `DELETE /data/v1/{entity}/{id}?erase=true`.

use clap::Args;
use std::process::ExitCode;

#[derive(Debug, Args)]
pub struct EraseArgs {
    /// The record's entity, e.g. cremployee.
    entity: String,
    /// The record's id.
    id: String,
    /// The server, and a client with the scope urn:cx/cx5Wrapper:data:manage.
    #[command(flatten)]
    server: crate::token::ServerClient,
}

pub async fn run(args: EraseArgs) -> Result<ExitCode, String> {
    let http = reqwest::Client::new();
    let (base, access) = args
        .server
        .token(&http, "urn:cx/cx5Wrapper:data:manage")
        .await?;
    let mut url = reqwest::Url::parse(base).map_err(|e| format!("--url {base}: {e}"))?;
    url.path_segments_mut()
        .map_err(|()| format!("--url {base} cannot have a path"))?
        .extend(["data", "v1", &args.entity, &args.id]);
    url.query_pairs_mut().append_pair("erase", "true");
    let response = http
        .delete(url)
        .bearer_auth(access)
        .send()
        .await
        .map_err(|e| format!("cannot reach {base}: {e}"))?;
    let status = response.status();
    if status.is_success() {
        outln!(
            "erased {} {}: the record, its changes' data, its deliveries' payloads and answers; \
             subscribers get {}:deleted with metadata.erased",
            args.entity,
            args.id,
            args.entity
        );
        return Ok(ExitCode::SUCCESS);
    }
    let text = response.text().await.unwrap_or_default();
    let detail = serde_json::from_str::<serde_json::Value>(&text)
        .ok()
        .and_then(|v| v["detail"].as_str().map(str::to_owned))
        .unwrap_or(text);
    Err(format!("the server did not erase it ({status}): {detail}"))
}
