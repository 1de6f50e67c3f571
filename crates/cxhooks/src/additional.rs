//! `cxhooks additional-field …`: a tenant's additional fields, as the API and console manage
//! them (the same checks and messages).

use crate::cli::{StoreArgs, print_json};
use clap::Subcommand;
use cxhooks_server::error::ApiError;
use cxhooks_server::service::additional;
use cxhooks_store::TenantName;
use serde_json::json;
use std::process::ExitCode;

#[derive(Debug, Subcommand)]
pub enum AdditionalFieldCommand {
    /// Define an additional field: records of ENTITY carry it as additionalinfo.KEY, and
    /// conditions test it as data.additionalinfo.KEY.
    Create {
        #[arg(long)]
        tenant: String,
        /// An entity of the catalog (cremployee, crvacancy, …).
        #[arg(long)]
        entity: String,
        /// 1 to 64 of a-z, 0-9 and _, starting with a letter (shoesize).
        #[arg(long)]
        key: String,
        /// Human label ("Shoe size").
        #[arg(long)]
        label: String,
        /// string, number, date, boolean or lookup.
        #[arg(long = "type", value_name = "TYPE")]
        field_type: String,
        #[arg(long)]
        json: bool,
    },
    /// List a tenant's additional fields.
    List {
        #[arg(long)]
        tenant: String,
        /// Only this entity's.
        #[arg(long)]
        entity: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Delete an additional field (refused while a webhook's condition uses it).
    Delete {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        entity: String,
        #[arg(long)]
        key: String,
    },
}

/// An API error as one message: the detail and each problem with its place.
fn said(e: ApiError) -> String {
    let mut text = e.detail().to_owned();
    for f in e.field_errors() {
        text.push_str(&format!("\n  {}: {}", f.path, f.message));
    }
    text
}

impl AdditionalFieldCommand {
    pub async fn run(self, store_args: &StoreArgs) -> Result<ExitCode, String> {
        let config = store_args.load(None)?;
        let tenant = match &self {
            Self::Create { tenant, .. }
            | Self::List { tenant, .. }
            | Self::Delete { tenant, .. } => tenant,
        };
        let tenant = TenantName::parse(tenant).map_err(|e| e.to_string())?;
        let (store, _) = cxhooks_server::open_existing_store(&config)
            .await
            .map_err(|e| e.to_string())?;
        cxhooks_server::identity::admin::tenant(&store, &tenant)
            .await
            .map_err(|e| e.to_string())?;
        match self {
            Self::Create {
                entity,
                key,
                label,
                field_type,
                json,
                ..
            } => {
                let body =
                    json!({"entity": entity, "key": key, "label": label, "type": field_type});
                let now = chrono::Utc::now().timestamp_micros();
                let out = additional::create(&store, &tenant, "cxhooks-cli", now, &body)
                    .await
                    .map_err(said)?;
                if json {
                    print_json(&out);
                } else {
                    outln!(
                        "created additional field {} of {} ({}, {}): conditions test it as data.{}",
                        out.key,
                        out.entity,
                        out.label,
                        out.field_type,
                        out.path
                    );
                }
            }
            Self::List { entity, json, .. } => {
                let fields = additional::list(&store, &tenant, entity.as_deref())
                    .await
                    .map_err(said)?;
                if json {
                    print_json(&fields);
                } else if fields.is_empty() {
                    outln!("no additional fields");
                } else {
                    for f in fields {
                        outln!("{}\t{}\t{}\t{}", f.entity, f.path, f.field_type, f.label);
                    }
                }
            }
            Self::Delete { entity, key, .. } => {
                additional::delete(&store, &tenant, None, (&entity, &key))
                    .await
                    .map_err(said)?;
                outln!("deleted additional field {key} of {entity}");
            }
        }
        Ok(ExitCode::SUCCESS)
    }
}
