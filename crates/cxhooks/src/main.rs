//! `cxhooks`: one binary, several roles (SPEC §1). Each command lives in its own module and
//! calls into the library crates; nothing here is more than argument handling and output.

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
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("CXHOOKS_LOG").unwrap_or_else(|_| {
                tracing_subscriber::EnvFilter::new("warn,cxhooks=info,cxhooks_server=info")
            }),
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
