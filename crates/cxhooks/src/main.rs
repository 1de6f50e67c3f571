//! `cxhooks`: one binary, several roles (SPEC §1). Each command lives in its own module and
//! calls into the library crates; nothing here is more than argument handling and output.
// Command output goes through `output`, which ends quietly on a closed pipe; `println!` would
// panic there.
#![warn(clippy::print_stdout)]

/// jemalloc, not glibc's `malloc`, whose consolidation of free chunks cost about 4 µs of CPU
/// per delivery flat out, mostly on SQLite's thread; about 2 MB more resident
/// (docs/performance.md, "What was tried").
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// `println!` for command output (see [`output`]).
macro_rules! outln {
    ($($arg:tt)*) => {
        $crate::output::line(format_args!($($arg)*))
    };
}

/// `print!` for command output (see [`output`]).
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::output::text(format_args!($($arg)*))
    };
}

mod additional;
mod bench;
mod cli;
mod client;
mod demo;
mod erase;
mod listen;
mod operator;
mod output;
mod publish;
mod serve;
mod sync;
mod tenant;
mod token;
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
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    builder.enable_all();
    if std::env::var_os("TOKIO_WORKER_THREADS").is_none() {
        builder.worker_threads(async_workers());
    }
    let runtime = builder.build().expect("a tokio runtime");
    match runtime.block_on(cli.run()) {
        Ok(code) => code,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::from(1)
        }
    }
}

/// Async worker threads: half the cores (at least one), unless `TOKIO_WORKER_THREADS` says
/// otherwise. Delivery signs on threads of its own, one per core, and signing is two thirds of
/// the CPU a delivery costs; the async work (HTTP, JSON, the store's answers) fits in the rest.
/// On 2 cores, one async worker instead of two cut the CPU spent per delivery outside signing
/// from 107–121 µs to 81–91 µs in `cxhooks bench`: two workers kept waking each other to share
/// tasks, each wake-up a context switch that also interrupted a signing thread.
fn async_workers() -> usize {
    std::thread::available_parallelism().map_or(1, |n| (n.get() / 2).max(1))
}
