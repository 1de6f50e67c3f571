//! `cxhooks sync`: the consumer connector (SPEC §8).

use clap::Args;
use cxhooks_sync::{Options, Progress, SyncError, replica::Replica};
use std::io::IsTerminal;
use std::process::ExitCode;

#[derive(Debug, Args)]
pub struct SyncArgs {
    /// The replica: sqlite:FILE or postgres://… .
    #[arg(long, default_value = "sqlite:replica.db")]
    into: String,
    /// Print the timeline (newest first) and exit.
    #[arg(long)]
    timeline: bool,
    /// The operator's catalog file the server runs with (`catalog.file`), for an entity that is
    /// not Carerix's.
    #[arg(long, env = "CXHOOKS_CATALOG__FILE", value_name = "FILE")]
    catalog: Option<std::path::PathBuf>,
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
    #[arg(long, conflicts_with = "pull")]
    public_url: Option<String>,
    /// Read the notifications from a pull webhook's feed instead of receiving them: no inbound
    /// port, for a replica behind a firewall (only outbound HTTPS to cxhooks).
    #[arg(long)]
    pull: bool,
    /// Records per page of the initial sync.
    #[arg(long, default_value_t = 200)]
    page_size: u32,
    /// Fetch every record the filter selects again and remove any other, then carry on in real
    /// time (a changed --filter or --status does this by itself).
    #[arg(long)]
    reconcile: bool,
    /// How often to read cxhooks' request log for notifications that failed (every attempt);
    /// on finding some, the sync catches up on what changed since.
    #[arg(long, default_value = "60s", value_parser = humantime::parse_duration)]
    watch_every: std::time::Duration,
    /// Also keep the attachments (crattachment) of the replicated records, with their files
    /// (candidates, contacts, vacancies and placements).
    #[arg(long)]
    attachments: bool,
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
    cxhooks_server::config::CatalogConfig {
        file: args.catalog.clone(),
    }
    .install()
    .map_err(|e| e.0)?;
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
        pull: args.pull,
        page_size: args.page_size.clamp(1, 500),
        reconcile: args.reconcile,
        watch_every: args.watch_every,
        attachments: args.attachments,
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
    // On a terminal a progress bar (with the total when the source counts) and the rate;
    // otherwise (a log) a line every five seconds. Either way a last line says the sync is now
    // in real time.
    let started = std::time::Instant::now();
    let last_line = std::cell::Cell::new(started);
    let total = std::cell::Cell::new(None::<u64>);
    let shown = std::cell::Cell::new(false);
    let bar = terminal.then(|| {
        indicatif::ProgressBar::with_draw_target(None, indicatif::ProgressDrawTarget::stderr())
    });
    let result = cxhooks_sync::run(&options, shutdown, |p| match p {
        Progress::Started(n) => {
            total.set(n);
            shown.set(true);
            if let Some(bar) = &bar {
                let style = match n {
                    Some(n) => {
                        bar.set_length(n);
                        "initial sync {wide_bar} {pos}/{len} records, {per_sec}, {eta} left"
                    }
                    None => "initial sync {spinner} {pos} records, {per_sec}",
                };
                bar.set_style(
                    indicatif::ProgressStyle::with_template(style).expect("a valid template"),
                );
                bar.reset_elapsed();
            }
        }
        Progress::Copied(n) => {
            if let Some(bar) = &bar {
                bar.set_position(n as u64);
            } else if last_line.get().elapsed() >= std::time::Duration::from_secs(5) {
                last_line.set(std::time::Instant::now());
                let secs = started.elapsed().as_secs_f64().max(0.001);
                let of = total.get().map_or(String::new(), |t| format!(" of {t}"));
                eprintln!(
                    "initial sync: {n}{of} records, {:.0} records/s",
                    n as f64 / secs
                );
            }
        }
        Progress::RealTime => {
            if let Some(bar) = bar.as_ref().filter(|_| shown.get()) {
                bar.finish();
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
