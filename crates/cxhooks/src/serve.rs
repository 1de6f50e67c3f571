//! `cxhooks serve`.

use crate::cli::StoreArgs;
use clap::Args;
use cxhooks_server::{AppState, StartError};
use std::io::Write;
use std::process::ExitCode;

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Listener address; `:0` picks a free port [default: 127.0.0.1:8480].
    #[arg(long, value_name = "ADDR")]
    listen: Option<String>,
    /// Print the effective configuration (secrets masked) and exit.
    #[arg(long)]
    print_config: bool,
}

pub async fn run(store_args: &StoreArgs, args: ServeArgs) -> Result<ExitCode, String> {
    let config = store_args.load(args.listen)?;
    if args.print_config {
        out!("{}", config.to_masked_toml());
        return Ok(ExitCode::SUCCESS);
    }
    let (store, master) = cxhooks_server::open_store(&config)
        .await
        .map_err(|e| e.to_string())?;
    let addr = config.server.listen.clone();
    // ":0" means any free port on the loopback interface.
    let bind = if addr.starts_with(':') {
        format!("127.0.0.1{addr}")
    } else {
        addr.clone()
    };
    let listener = tokio::net::TcpListener::bind(&bind)
        .await
        .map_err(|source| {
            StartError::Listen {
                addr: addr.clone(),
                source,
            }
            .to_string()
        })?;
    let bound = listener.local_addr().map_err(|e| e.to_string())?;
    let backend = store.backend();
    let state = AppState::new(store, master, config, bound)
        .await
        .map_err(|e| e.to_string())?;
    // One line: tests and scripts read the url from it. A server keeps serving when nobody
    // reads its standard output, so a write error is not `output`'s exit here.
    let _ = writeln!(
        std::io::stdout(),
        "listening on http://{bound} ({backend} store; console at /console)"
    );
    cxhooks_server::run(state, listener, shutdown_signal())
        .await
        .map_err(|e| e.to_string())?;
    Ok(ExitCode::SUCCESS)
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
}
