//! `cxhooks operator …`: the people who sign in to the console.

use crate::cli::{StoreArgs, print_json};
use clap::{Args, Subcommand};
use cxhooks_server::identity::operators;
use cxhooks_store::TenantName;
use serde_json::json;
use std::io::Read as _;
use std::process::ExitCode;

#[derive(Debug, Args)]
pub struct Target {
    /// The tenant the operator manages.
    #[arg(long)]
    tenant: String,
    /// The operator's e-mail address (the sign-in name).
    #[arg(long)]
    email: String,
}

#[derive(Debug, Args)]
pub struct PasswordArgs {
    /// Read the password from standard input (at least 12 characters) instead of generating one.
    #[arg(long)]
    password_stdin: bool,
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Subcommand)]
pub enum OperatorCommand {
    /// Create a console operator; prints a generated password once unless --password-stdin.
    Create {
        #[command(flatten)]
        target: Target,
        #[command(flatten)]
        password: PasswordArgs,
    },
    /// Give an operator a new password (signs it out everywhere).
    Passwd {
        #[command(flatten)]
        target: Target,
        #[command(flatten)]
        password: PasswordArgs,
    },
    /// List the operators of a tenant.
    List {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        json: bool,
    },
    /// Delete an operator (and end its sessions).
    Delete {
        #[command(flatten)]
        target: Target,
    },
}

fn read_password(args: &PasswordArgs) -> Result<Option<String>, String> {
    if !args.password_stdin {
        return Ok(None);
    }
    let mut text = String::new();
    std::io::stdin()
        .read_to_string(&mut text)
        .map_err(|e| format!("could not read the password from standard input: {e}"))?;
    Ok(Some(text.trim_end_matches(['\r', '\n']).to_owned()))
}

fn report(tenant: &TenantName, email: &str, generated: Option<String>, json: bool, what: &str) {
    if json {
        print_json(&json!({"tenant": tenant, "email": email, "password": generated}));
        return;
    }
    outln!("{what} operator {email} of tenant {tenant}");
    if let Some(p) = generated {
        outln!("password: {p}");
        outln!("(shown this once; sign in at /console/login)");
    }
}

impl OperatorCommand {
    pub async fn run(self, store_args: &StoreArgs) -> Result<ExitCode, String> {
        let config = store_args.load(None)?;
        let tenant = match &self {
            OperatorCommand::Create { target, .. }
            | OperatorCommand::Passwd { target, .. }
            | OperatorCommand::Delete { target } => &target.tenant,
            OperatorCommand::List { tenant, .. } => tenant,
        };
        let tenant = TenantName::parse(tenant).map_err(|e| e.to_string())?;
        let (store, _) = cxhooks_server::open_existing_store(&config)
            .await
            .map_err(|e| e.to_string())?;
        let e = |e: cxhooks_server::identity::IdentityError| e.to_string();
        match self {
            OperatorCommand::Create { target, password } => {
                let chosen = read_password(&password)?;
                let (op, generated) =
                    operators::create_operator(&store, &tenant, &target.email, chosen)
                        .await
                        .map_err(e)?;
                report(&tenant, &op.email, generated, password.json, "created");
            }
            OperatorCommand::Passwd { target, password } => {
                let chosen = read_password(&password)?;
                let generated = operators::set_password(&store, &tenant, &target.email, chosen)
                    .await
                    .map_err(e)?;
                let email = operators::parse_email(&target.email).map_err(|e| e.to_string())?;
                report(
                    &tenant,
                    &email,
                    generated,
                    password.json,
                    "new password for",
                );
            }
            OperatorCommand::List { json, .. } => {
                cxhooks_server::identity::admin::tenant(&store, &tenant)
                    .await
                    .map_err(e)?;
                let emails = store.operators(&tenant).await.map_err(|e| e.to_string())?;
                if json {
                    print_json(&json!(emails));
                } else {
                    for email in emails {
                        outln!("{email}");
                    }
                }
            }
            OperatorCommand::Delete { target } => {
                operators::delete_operator(&store, &tenant, &target.email)
                    .await
                    .map_err(e)?;
                outln!("deleted operator {}", target.email);
            }
        }
        Ok(ExitCode::SUCCESS)
    }
}
