//! Set-up: the filter (the user's condition and the statuses named by label, looked up among
//! the entity's own status type), the receiver's listener, and the application and webhook
//! that deliver to it.

use crate::api::Api;
use crate::{Options, SyncError};
use cxhooks_catalog::Catalog;
use cxhooks_condition::CompiledCondition;
use serde_json::json;

fn status_path(entity: &str) -> &'static str {
    if entity == "cremployee" {
        "data.touser.tosinglestatusnode"
    } else {
        "data.tostatusnode"
    }
}

/// The `type` of the `crdatanode` lookup records that hold `entity`'s statuses.
pub fn status_type(entity: &str) -> &'static str {
    match entity {
        "cremployee" => "Candidate status",
        "crvacancy" => "Vacancy status",
        "crjob" => "Placement status",
        "crcompany" => "Company status",
        "cruser" => "Contact status",
        "crpublication" => "Publication status",
        "crcampaign" => "Campaign status",
        _ => "Status",
    }
}

/// Every `crdatanode` record of lookup type `kind`, through all pages.
async fn lookup_values(api: &Api, kind: &str) -> Result<Vec<serde_json::Value>, SyncError> {
    // `kind` is one of `status_type`'s names: no quote to escape.
    Ok(api
        .all_records("crdatanode", &format!("data.type eq '{kind}'"))
        .await?)
}

/// The filter text: the user's condition and/or the statuses named by label.
async fn resolve_filter(api: &Api, o: &Options) -> Result<String, SyncError> {
    let mut parts = Vec::new();
    if let Some(f) = o.filter.as_deref().filter(|f| !f.trim().is_empty()) {
        parts.push(format!("({f})"));
    }
    if !o.statuses.is_empty() {
        // Only the entity's own status type: "Active" may also be a vacancy's status.
        let kind = status_type(&o.entity);
        let nodes = lookup_values(api, kind).await?;
        let mut ids = Vec::new();
        for label in &o.statuses {
            let found = nodes.iter().find(|n| {
                n["value"]
                    .as_str()
                    .is_some_and(|v| v.eq_ignore_ascii_case(label))
            });
            match found.and_then(|n| n["datanodeid"].as_i64()) {
                Some(id) => ids.push(id.to_string()),
                None => {
                    let mut valid: Vec<&str> =
                        nodes.iter().filter_map(|n| n["value"].as_str()).collect();
                    valid.sort_unstable();
                    valid.dedup();
                    let all = valid.len();
                    valid.truncate(20);
                    if all > valid.len() {
                        valid.push("…");
                    }
                    return Err(SyncError::Filter(if valid.is_empty() {
                        format!(
                            "no status '{label}': there are no crdatanode records of type \
                             '{kind}', the {} statuses",
                            o.entity
                        )
                    } else {
                        format!(
                            "no status '{label}' among the crdatanode records of type '{kind}'; \
                             valid ({all}): {}",
                            valid.join(", ")
                        )
                    }));
                }
            }
        }
        parts.push(format!(
            "{} in [{}]",
            status_path(&o.entity),
            ids.join(", ")
        ));
    }
    if parts.is_empty() {
        return Err(SyncError::Filter(
            "give --filter or --status: the sync copies only the records you select".into(),
        ));
    }
    Ok(parts.join(" and "))
}

/// The `data.*` paths a condition reads, as `metadata.paths` would name them.
fn read_paths(filter: &str) -> Vec<String> {
    let mut out: Vec<String> = cxhooks_condition::parse(filter)
        .map(|c| {
            c.predicates()
                .iter()
                .filter(|p| p.path.root() == cxhooks_condition::ast::Root::Data)
                .map(|p| p.path.dotted())
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out.dedup();
    out
}

/// What set-up made: the filter, the receiver's listener and URL, and the application's
/// secret.
pub(crate) struct SetUp {
    pub(crate) filter_text: String,
    pub(crate) filter: CompiledCondition,
    /// The receiver's listener and URL; `None` with `--pull`.
    pub(crate) listener: Option<(tokio::net::TcpListener, String)>,
    /// The application's keys (its JWKS, or its secret alone).
    pub(crate) keys: cxhooks_consumer::KeySet,
    /// The application's id.
    pub(crate) app: String,
    /// The webhook's id.
    pub(crate) hook: String,
}

/// Resolves the filter, binds the receiver and makes the application and its webhook: the
/// one described `cxhooks-sync:{replica}:{entity}`, whose url follows the receiver's.
pub(crate) async fn set_up(o: &Options, api: &Api, replica: &str) -> Result<SetUp, SyncError> {
    let filter_text = resolve_filter(api, o).await?;
    let filter =
        cxhooks_condition::compile_record_filter(&filter_text, Catalog::builtin(), &o.entity)
            .map(|(c, _)| c)
            .map_err(|e| {
                SyncError::Filter(format!(
                    "the filter '{filter_text}' does not parse: {}",
                    e[0]
                ))
            })?;
    let listener = match o.pull {
        true => None,
        false => {
            let listener = tokio::net::TcpListener::bind(&o.listen)
                .await
                .map_err(|e| SyncError::Listen(format!("{}: {e}", o.listen)))?;
            let bound = listener
                .local_addr()
                .map_err(|e| SyncError::Listen(e.to_string()))?;
            let url = o
                .public_url
                .clone()
                .unwrap_or_else(|| format!("http://{bound}/webhook"));
            Some((listener, url))
        }
    };
    let url = listener.as_ref().map(|(_, url)| url.as_str());
    let (app, secret) = api
        .application(&format!("cxhooks-sync {}", o.entity))
        .await?;
    let paths = read_paths(&filter_text);
    let leaving = if paths.is_empty() {
        filter_text.clone()
    } else {
        let quoted: Vec<String> = paths.iter().map(|p| format!("'{p}'")).collect();
        format!(
            "({filter_text}) or metadata.paths has any of [{}]",
            quoted.join(", ")
        )
    };
    let mut filters = json!([
        {"eventType": format!("{}:created", o.entity), "condition": filter_text},
        {"eventType": format!("{}:updated", o.entity), "condition": leaving},
        {"eventType": format!("{}:deleted", o.entity)}
    ]);
    if let Some(field) = crate::attachments::owner_field(&o.entity).filter(|_| o.attachments) {
        let list = filters.as_array_mut().expect("an array");
        list.extend(crate::attachments::filters(field));
    }
    let description = format!("cxhooks-sync:{replica}:{}", o.entity);
    let hook = api.webhook(&app, &description, url, &filters).await?;
    let keys = api.keys(&app, &secret).await?;
    Ok(SetUp {
        filter_text,
        filter,
        listener,
        keys,
        app,
        hook,
    })
}
