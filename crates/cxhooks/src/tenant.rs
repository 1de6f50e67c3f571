//! `cxhooks tenant …`.

use crate::cli::{StoreArgs, Switch, print_json};
use clap::Subcommand;
use cxhooks_server::identity::admin;
use cxhooks_store::{Tenant, TenantName};
use serde_json::json;
use std::process::ExitCode;

#[derive(Debug, Subcommand)]
pub enum TenantCommand {
    /// Create a tenant (its webhooks feature is activated unless --webhooks off).
    Create {
        /// Lower-case name, as in NAME.carerix.net.
        name: String,
        #[arg(long, value_enum, default_value = "on")]
        webhooks: Switch,
        #[arg(long)]
        json: bool,
    },
    /// List tenants.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Show one tenant.
    Show {
        name: String,
        #[arg(long)]
        json: bool,
    },
    /// Change a tenant: turn its webhooks feature on or off.
    Set {
        name: String,
        #[arg(long, value_enum)]
        webhooks: Switch,
    },
    /// Delete a tenant and everything it owns.
    Delete {
        name: String,
        /// Confirm the deletion.
        #[arg(long)]
        yes: bool,
    },
}

fn parse_name(name: &str) -> Result<TenantName, String> {
    TenantName::parse(name).map_err(|e| e.to_string())
}

fn view(t: &Tenant) -> serde_json::Value {
    json!({
        "name": t.name,
        "webhooks": if t.webhooks_enabled { "on" } else { "off" },
        "createdAt": t.created_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
    })
}

impl TenantCommand {
    pub async fn run(self, store_args: &StoreArgs) -> Result<ExitCode, String> {
        let config = store_args.load(None)?;
        // Validate names before touching the store, so a typo costs nothing.
        let name = match &self {
            TenantCommand::Create { name, .. }
            | TenantCommand::Show { name, .. }
            | TenantCommand::Set { name, .. }
            | TenantCommand::Delete { name, .. } => Some(parse_name(name)?),
            TenantCommand::List { .. } => None,
        };
        // Only `create` may start a store; the others need one that exists.
        let opened = if matches!(self, TenantCommand::Create { .. }) {
            cxhooks_server::open_store(&config).await
        } else {
            cxhooks_server::open_existing_store(&config).await
        };
        let (store, master) = opened.map_err(|e| e.to_string())?;
        let e = |e: admin::IdentityError| e.to_string();
        match (self, name) {
            (TenantCommand::Create { webhooks, json, .. }, Some(name)) => {
                let t = admin::create_tenant(&store, &master, &name, webhooks == Switch::On)
                    .await
                    .map_err(e)?;
                if json {
                    print_json(&view(&t));
                } else {
                    outln!(
                        "created tenant {} (webhooks {})",
                        t.name,
                        if t.webhooks_enabled { "on" } else { "off" }
                    );
                }
            }
            (TenantCommand::List { json }, _) => {
                let tenants = store.tenants().await.map_err(|e| e.to_string())?;
                if json {
                    print_json(&tenants.iter().map(view).collect::<Vec<_>>());
                } else {
                    outln!("{:<32} {:<9} CREATED", "NAME", "WEBHOOKS");
                    for t in &tenants {
                        let on = if t.webhooks_enabled { "on" } else { "off" };
                        outln!(
                            "{:<32} {:<9} {}",
                            t.name,
                            on,
                            t.created_at.format("%Y-%m-%d %H:%M:%SZ")
                        );
                    }
                }
            }
            (TenantCommand::Show { json, .. }, Some(name)) => {
                let t = admin::tenant(&store, &name).await.map_err(e)?;
                let clients = store.clients(&name).await.map_err(|e| e.to_string())?.len();
                let mut v = view(&t);
                v["clients"] = json!(clients);
                if json {
                    print_json(&v);
                } else {
                    outln!(
                        "tenant   {}\nwebhooks {}\nclients  {clients}\ncreated  {}",
                        t.name,
                        v["webhooks"].as_str().unwrap_or(""),
                        t.created_at.to_rfc3339()
                    );
                }
            }
            (TenantCommand::Set { webhooks, .. }, Some(name)) => {
                admin::set_webhooks(&store, &name, webhooks == Switch::On)
                    .await
                    .map_err(e)?;
                outln!(
                    "tenant {name}: webhooks {}",
                    if webhooks == Switch::On { "on" } else { "off" }
                );
            }
            (TenantCommand::Delete { yes, .. }, Some(name)) => {
                if !yes {
                    return Err(format!(
                        "deleting tenant '{name}' deletes all its clients, applications, webhooks and records: \
                         repeat with --yes to confirm"
                    ));
                }
                if !store
                    .delete_tenant(&name)
                    .await
                    .map_err(|e| e.to_string())?
                {
                    return Err(admin::IdentityError::UnknownTenant(name).to_string());
                }
                outln!("deleted tenant {name}");
            }
            _ => unreachable!("every command but list has a name"),
        }
        Ok(ExitCode::SUCCESS)
    }
}
