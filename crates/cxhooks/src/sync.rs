//! `cxhooks sync`: the consumer connector (SPEC §8).

use clap::Args;
use cxhooks_sync::{Options, Progress, SyncError, replica::Replica};
use std::io::{IsTerminal, Write};
use std::process::ExitCode;

#[derive(Debug, Args)]
pub struct SyncArgs {
    /// The replica: sqlite:FILE or postgres://… .
    #[arg(long, default_value = "sqlite:replica.db")]
    into: String,
    /// Print the timeline (newest first) and exit.
    #[arg(long)]
    timeline: bool,
    /// With --timeline: JSON lines instead of text.
    #[arg(long)]
    json: bool,
    /// Only check the connection (exit 0: usable; 3: unreachable; 4: authentication; 5: missing scope or permission).
    #[arg(long)]
    check: bool,
    /// Base URL of cxhooks.
    #[arg(long, env = "CXHOOKS_URL", default_value = "http://127.0.0.1:8480")]
    base_url: String,
    /// Tenant (lower-case, as in TENANT.carerix.net).
    #[arg(long, env = "CXHOOKS_TENANT")]
    tenant: Option<String>,
    /// Client id.
    #[arg(long, env = "CXHOOKS_CLIENT_ID")]
    client_id: Option<String>,
    /// Client secret.
    #[arg(long, env = "CXHOOKS_CLIENT_SECRET", hide_env_values = true)]
    client_secret: Option<String>,
    /// Entity to replicate.
    #[arg(long, default_value = "cremployee")]
    entity: String,
    /// Condition over data.* selecting the records to keep.
    #[arg(long)]
    filter: Option<String>,
    /// Status labels to keep (Active,New,Available), resolved through the crdatanode lookups.
    #[arg(long, value_delimiter = ',')]
    status: Vec<String>,
    /// Where the sync's receiver listens.
    #[arg(long, default_value = "127.0.0.1:8482")]
    listen: String,
    /// The URL cxhooks delivers to, if not http://LISTEN/webhook.
    #[arg(long)]
    public_url: Option<String>,
    /// Records per page of the initial sync.
    #[arg(long, default_value_t = 200)]
    page_size: u32,
}

fn paint(kind: &str, text: &str, colour: bool) -> String {
    if !colour {
        return text.to_owned();
    }
    let code = match kind {
        "error" => "31",
        "applied" => "32",
        "initial" => "36",
        "run" => "1",
        _ => "2",
    };
    format!("\x1b[{code}m{text}\x1b[0m")
}

async fn timeline(args: &SyncArgs) -> Result<ExitCode, String> {
    let replica = Replica::open_existing(&args.into)
        .await
        .map_err(|e| e.to_string())?;
    let colour = std::io::stdout().is_terminal();
    for e in replica.timeline(1000).await.map_err(|e| e.to_string())? {
        if args.json {
            outln!("{}", serde_json::to_string(&e).expect("serialisable"));
        } else {
            outln!(
                "{}  {:<8} {}",
                e.at,
                paint(&e.kind, &e.kind, colour),
                paint(&e.kind, &e.message, colour)
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn run(args: SyncArgs) -> Result<ExitCode, String> {
    if args.timeline {
        return timeline(&args).await;
    }
    let need = |v: &Option<String>, flag: &str| {
        v.clone().ok_or_else(|| {
            format!(
                "--{flag} is required (or set CXHOOKS_{})",
                flag.to_uppercase().replace('-', "_")
            )
        })
    };
    let options = Options {
        base_url: args.base_url.clone(),
        tenant: need(&args.tenant, "tenant")?,
        client_id: need(&args.client_id, "client-id")?,
        client_secret: need(&args.client_secret, "client-secret")?,
        entity: args.entity.clone(),
        filter: args.filter.clone(),
        statuses: args.status.clone(),
        into: args.into.clone(),
        listen: args.listen.clone(),
        public_url: args.public_url.clone(),
        page_size: args.page_size.clamp(1, 500),
    };
    if args.check {
        let api = cxhooks_sync::api::Api::new(
            &options.base_url,
            &options.tenant,
            &options.client_id,
            &options.client_secret,
        );
        return match cxhooks_sync::check(&api).await {
            Ok(()) => {
                outln!(
                    "connection usable: tenant {}, every scope and permission the sync needs is there",
                    options.tenant
                );
                Ok(ExitCode::SUCCESS)
            }
            Err(failure) => {
                eprint!("{failure}");
                eprintln!();
                Ok(ExitCode::from(failure.exit_code()))
            }
        };
    }
    let terminal = std::io::stderr().is_terminal();
    let shutdown = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    outln!(
        "syncing {} of tenant {} into {} (Ctrl-C stops)",
        options.entity,
        options.tenant,
        options.into
    );
    // On a terminal a counter with the rate, redrawn after each page; otherwise (a log) a line
    // every five seconds. Either way a last line says the sync is now in real time.
    let started = std::time::Instant::now();
    let last_line = std::cell::Cell::new(started);
    let result = cxhooks_sync::run(&options, shutdown, |p| match p {
        Progress::Copied(n) => {
            let secs = started.elapsed().as_secs_f64().max(0.001);
            let said = format!(
                "initial sync: {n} records, {:.0} records/s",
                n as f64 / secs
            );
            if terminal {
                eprint!("\r{said}");
                let _ = std::io::stderr().flush();
            } else if last_line.get().elapsed() >= std::time::Duration::from_secs(5) {
                last_line.set(std::time::Instant::now());
                eprintln!("{said}");
            }
        }
        Progress::RealTime => {
            if terminal {
                eprintln!();
            }
            eprintln!("now in real time: changes apply as cxhooks notifies them");
        }
    })
    .await;
    match result {
        Ok(()) => Ok(ExitCode::SUCCESS),
        Err(SyncError::Connection(failure)) => {
            eprintln!("{failure}");
            Ok(ExitCode::from(failure.exit_code()))
        }
        Err(e) => Err(e.to_string()),
    }
}
