//! `cxhooks client …`.

use crate::cli::{StoreArgs, print_json};
use clap::{Args, Subcommand};
use cxhooks_server::identity::admin::{self, ClientChanges, ClientView, NewClient};
use cxhooks_store::{Client, ClientCode, Permissions, ScopeSet, TenantName};
use std::process::ExitCode;

#[derive(Debug, Args)]
pub struct Target {
    /// The tenant.
    #[arg(long)]
    tenant: String,
    /// The client id.
    #[arg(long)]
    client_id: String,
}

#[derive(Debug, Subcommand)]
pub enum ClientCommand {
    /// Create a confidential client (prints its secret once), or with --external register a
    /// client of the tenant's external OpenID Connect issuer (no secret: its tokens come from
    /// the issuer).
    Create {
        #[arg(long)]
        tenant: String,
        /// Register a client of an external issuer ([auth.issuers.TENANT] in the configuration).
        #[arg(long, requires_all = ["issuer", "client_id"])]
        external: bool,
        /// With --external: the issuer, exactly as its tokens' iss claim has it.
        #[arg(long, requires = "external")]
        issuer: Option<String>,
        /// With --external: the client id its tokens carry (azp or client_id).
        #[arg(long, requires = "external")]
        client_id: Option<String>,
        /// Display name, e.g. HireData.
        #[arg(long)]
        name: String,
        /// urn:{vendor}/{application}, e.g. urn:hiredata/hiredata.
        #[arg(long)]
        code: String,
        /// Default scopes, space- or comma-separated.
        #[arg(long, default_value = "")]
        scopes: String,
        /// Webhooks permission matrix, e.g. create=on,read=all,update=owner,delete=owner (unset keys: off/none).
        #[arg(long, default_value = "")]
        permissions: String,
        #[arg(long)]
        json: bool,
    },
    /// List the clients of a tenant.
    List {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        json: bool,
    },
    /// Show one client.
    Show {
        #[command(flatten)]
        target: Target,
        #[arg(long)]
        json: bool,
    },
    /// Change a client's name, code, default scopes or permissions.
    Set {
        #[command(flatten)]
        target: Target,
        #[arg(long)]
        name: Option<String>,
        #[arg(long)]
        code: Option<String>,
        #[arg(long)]
        scopes: Option<String>,
        #[arg(long)]
        permissions: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Replace a client's secret; prints the new one once.
    RotateSecret {
        #[command(flatten)]
        target: Target,
        #[arg(long)]
        json: bool,
    },
    /// Delete a client.
    Delete {
        #[command(flatten)]
        target: Target,
    },
}

fn tenant(name: &str) -> Result<TenantName, String> {
    TenantName::parse(name).map_err(|e| e.to_string())
}

fn show(client: &Client, secret: Option<String>, json: bool) {
    let view = ClientView::new(client, secret);
    if json {
        print_json(&view);
        return;
    }
    outln!("tenant         {}", view.tenant);
    outln!("client id      {}", view.client_id);
    if let Some(secret) = &view.client_secret {
        outln!("client secret  {secret}   (shown once: store it now)");
    }
    outln!("name           {}", view.name);
    outln!("code           {}", view.code);
    outln!(
        "default scopes {}",
        if view.default_scopes.is_empty() {
            "(none)".into()
        } else {
            view.default_scopes.join(" ")
        }
    );
    outln!("permissions    {}", client.permissions);
    if let Some(issuer) = &view.issuer {
        outln!("issuer         {issuer}   (external: its tokens come from there)");
    }
}

impl ClientCommand {
    pub async fn run(self, store_args: &StoreArgs) -> Result<ExitCode, String> {
        let config = store_args.load(None)?;
        let e = |e: admin::IdentityError| e.to_string();
        let invalid = |e: cxhooks_store::InvalidValue| e.0;
        // Parse every argument before opening the store: bad input costs nothing.
        match self {
            ClientCommand::Create {
                tenant: t,
                external,
                issuer,
                client_id,
                name,
                code,
                scopes,
                permissions,
                json,
            } => {
                let t = tenant(&t)?;
                let new = NewClient {
                    name,
                    code: ClientCode::parse(&code).map_err(invalid)?,
                    scopes: ScopeSet::parse(&scopes).map_err(invalid)?,
                    permissions: Permissions::parse(&permissions).map_err(invalid)?,
                };
                let (store, master) = cxhooks_server::open_existing_store(&config)
                    .await
                    .map_err(|e| e.to_string())?;
                if let (true, Some(issuer), Some(client_id)) = (external, &issuer, &client_id) {
                    let client = admin::create_external_client(&store, &t, new, issuer, client_id)
                        .await
                        .map_err(e)?;
                    show(&client, None, json);
                    if config.auth.issuers.get(t.as_str()).map(|i| &i.issuer) != Some(issuer) {
                        eprintln!(
                            "note: this configuration has no [auth.issuers.{t}] with issuer = \
                             \"{issuer}\": the servers take this client's tokens only once theirs does"
                        );
                    }
                    return Ok(ExitCode::SUCCESS);
                }
                let (client, secret) = admin::create_client(&store, &master, &t, new)
                    .await
                    .map_err(e)?;
                show(&client, Some(secret), json);
            }
            ClientCommand::List { tenant: t, json } => {
                let t = tenant(&t)?;
                let (store, _) = cxhooks_server::open_existing_store(&config)
                    .await
                    .map_err(|e| e.to_string())?;
                admin::tenant(&store, &t).await.map_err(e)?;
                let clients = store.clients(&t).await.map_err(|e| e.to_string())?;
                if json {
                    print_json(
                        &clients
                            .iter()
                            .map(|c| ClientView::new(c, None))
                            .collect::<Vec<_>>(),
                    );
                } else {
                    outln!(
                        "{:<38} {:<20} {:<28} PERMISSIONS",
                        "CLIENT ID",
                        "NAME",
                        "CODE"
                    );
                    for c in &clients {
                        outln!(
                            "{:<38} {:<20} {:<28} {}",
                            c.client_id,
                            c.name,
                            c.code.as_str(),
                            c.permissions
                        );
                    }
                }
            }
            ClientCommand::Show { target, json } => {
                let t = tenant(&target.tenant)?;
                let (store, _) = cxhooks_server::open_existing_store(&config)
                    .await
                    .map_err(|e| e.to_string())?;
                show(
                    &admin::client(&store, &t, &target.client_id)
                        .await
                        .map_err(e)?,
                    None,
                    json,
                );
            }
            ClientCommand::Set {
                target,
                name,
                code,
                scopes,
                permissions,
                json,
            } => {
                let t = tenant(&target.tenant)?;
                let changes = ClientChanges {
                    name,
                    code: code
                        .as_deref()
                        .map(ClientCode::parse)
                        .transpose()
                        .map_err(invalid)?,
                    scopes: scopes
                        .as_deref()
                        .map(ScopeSet::parse)
                        .transpose()
                        .map_err(invalid)?,
                    permissions: permissions
                        .as_deref()
                        .map(Permissions::parse)
                        .transpose()
                        .map_err(invalid)?,
                };
                let (store, _) = cxhooks_server::open_existing_store(&config)
                    .await
                    .map_err(|e| e.to_string())?;
                show(
                    &admin::update_client(&store, &t, &target.client_id, changes)
                        .await
                        .map_err(e)?,
                    None,
                    json,
                );
            }
            ClientCommand::RotateSecret { target, json } => {
                let t = tenant(&target.tenant)?;
                let (store, master) = cxhooks_server::open_existing_store(&config)
                    .await
                    .map_err(|e| e.to_string())?;
                let (client, secret) =
                    admin::rotate_client_secret(&store, &master, &t, &target.client_id)
                        .await
                        .map_err(e)?;
                show(&client, Some(secret), json);
            }
            ClientCommand::Delete { target } => {
                let t = tenant(&target.tenant)?;
                let (store, _) = cxhooks_server::open_existing_store(&config)
                    .await
                    .map_err(|e| e.to_string())?;
                admin::delete_client(&store, &t, &target.client_id)
                    .await
                    .map_err(e)?;
                outln!("deleted client {}", target.client_id);
            }
        }
        Ok(ExitCode::SUCCESS)
    }
}
