//! Command-line arguments.

use clap::{Args, Parser, Subcommand, ValueEnum};
use cxhooks_server::{Config, Overrides};
use std::path::PathBuf;
use std::process::ExitCode;

/// cxhooks: Carerix-compatible webhooks for recruitment data.
#[derive(Debug, Parser)]
#[command(name = "cxhooks", version, about, propagate_version = true)]
pub struct Cli {
    #[command(flatten)]
    pub store: StoreArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// Where the configuration and the store are; accepted before or after the command.
#[derive(Debug, Args, Clone)]
pub struct StoreArgs {
    /// TOML configuration file.
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Directory of the embedded SQLite store [default: ./cxhooks-data].
    #[arg(long, global = true, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// PostgreSQL store instead of SQLite (postgres://…).
    #[arg(long, global = true, value_name = "URL")]
    pub database_url: Option<String>,
}

impl StoreArgs {
    pub fn load(&self, listen: Option<String>) -> Result<Config, String> {
        Config::load(&Overrides {
            config_file: self.config.clone(),
            listen,
            data_dir: self.data_dir.clone(),
            database_url: self.database_url.clone(),
        })
        .map_err(|e| e.to_string())
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the service: identity, APIs, delivery workers, console.
    Serve(crate::serve::ServeArgs),
    /// Apply schema migrations to the configured store and exit.
    Migrate,
    /// Administer tenants (realms).
    #[command(subcommand)]
    Tenant(crate::tenant::TenantCommand),
    /// Administer confidential clients.
    #[command(subcommand)]
    Client(crate::client::ClientCommand),
    /// Administer console operators (the people who sign in at /console).
    #[command(subcommand)]
    Operator(crate::operator::OperatorCommand),
    /// Administer a tenant's additional fields (keys of records' additionalinfo).
    #[command(subcommand)]
    AdditionalField(crate::additional::AdditionalFieldCommand),
    /// First-run demo: a service on a temporary store, sample records, verified deliveries.
    Demo(crate::demo::DemoArgs),
    /// Send one change (or a batch) to a running server.
    Publish(crate::publish::PublishArgs),
    /// Erase a record (GDPR art. 17): the record and its traces; subscribers are told to erase it too.
    Erase(crate::erase::EraseArgs),
    /// Local receiver: prints each delivery, checks its signature, answers with a chosen status.
    Listen(crate::listen::ListenArgs),
    /// Verify one payload against a signature and application secret (exit 0 valid, 1 invalid, 2 unusable input).
    Verify(crate::verify::VerifyArgs),
    /// Keep a replica of one entity's records in step: check, set-up, initial sync, real time, timeline.
    Sync(crate::sync::SyncArgs),
    /// Measure the pipeline on this machine: one JSON line (SPEC §10); --sign-only for the signing bound.
    Bench(crate::bench::BenchArgs),
}

/// `on` / `off`.
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum Switch {
    On,
    Off,
}

impl Cli {
    pub async fn run(self) -> Result<ExitCode, String> {
        match self.command {
            Command::Serve(args) => crate::serve::run(&self.store, args).await,
            Command::Migrate => {
                let config = self.store.load(None)?;
                let (store, _) = cxhooks_server::open_store(&config)
                    .await
                    .map_err(|e| e.to_string())?;
                outln!("store is up to date ({})", store.backend());
                Ok(ExitCode::SUCCESS)
            }
            Command::Tenant(cmd) => cmd.run(&self.store).await,
            Command::Client(cmd) => cmd.run(&self.store).await,
            Command::Operator(cmd) => cmd.run(&self.store).await,
            Command::AdditionalField(cmd) => cmd.run(&self.store).await,
            Command::Publish(args) => crate::publish::run(args).await,
            Command::Erase(args) => crate::erase::run(args).await,
            Command::Verify(args) => Ok(crate::verify::run(&args).await),
            Command::Demo(args) => crate::demo::run(args).await,
            Command::Listen(args) => crate::listen::run(args).await,
            Command::Sync(args) => crate::sync::run(args).await,
            Command::Bench(args) => crate::bench::run(self.store.database_url.clone(), args).await,
        }
    }
}

/// Prints a value as pretty JSON.
pub fn print_json(value: &impl serde::Serialize) {
    outln!(
        "{}",
        serde_json::to_string_pretty(value).expect("serialisable")
    );
}
