//! `cxhooks`: one binary, several roles (SPEC §1). Each command lives in its own module and
//! calls into the library crates; nothing here is more than argument handling and output.

mod bench;
mod cli;
mod client;
mod demo;
mod listen;
mod operator;
mod publish;
mod serve;
mod sync;
mod tenant;
mod verify;

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    // A bench under full load would otherwise log slow-statement warnings into its measurement.
    let default_filter = if matches!(cli.command, cli::Command::Bench(_)) {
        "error"
    } else {
        "warn,cxhooks=info,cxhooks_server=info"
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("CXHOOKS_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_filter)),
        )
        .with_writer(std::io::stderr)
        .init();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    match runtime.block_on(cli.run()) {
        Ok(code) => code,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::from(1)
        }
    }
}
