//! `GET /webhooks/v1/event-types`: the catalog of entities, actions and fields (SPEC §4.3).

use crate::error::ApiError;
use crate::identity::auth::Principal;
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use cxhooks_catalog::{Action, Catalog};
use cxhooks_store::Scope;
use serde_json::{Value, json};
use utoipa_axum::{router::OpenApiRouter, routes};

/// The event-type route.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(event_types))
}

/// The catalog as the API answers it: actions, and per entity its event types and fields.
pub fn catalog_answer(catalog: &Catalog) -> Value {
    let actions = [Action::Created, Action::Updated, Action::Deleted];
    let entities: Vec<Value> = catalog
        .entities()
        .map(|e| {
            let fields: Vec<Value> = e
                .fields
                .iter()
                .map(|f| {
                    let mut field = json!({"path": f.path, "type": f.field_type.as_str(), "label": f.label});
                    if let Some(alt) = &f.alt_path {
                        field["altPath"] = json!(alt);
                    }
                    if let Some(target) = &f.target {
                        field["target"] = json!(target);
                    }
                    if f.seed {
                        field["supported"] = json!(true);
                    }
                    if f.path.starts_with("additionalinfo.") {
                        field["additional"] = json!(true);
                    }
                    field
                })
                .collect();
            json!({
                "entity": e.name,
                "label": e.label,
                "lookup": e.lookup,
                "eventTypes": actions.iter().map(|a| format!("{}:{}", e.name, a.as_str())).collect::<Vec<_>>(),
                "fields": fields,
            })
        })
        .collect();
    json!({
        "_kind": "EventTypeCatalog",
        "actions": actions.iter().map(|a| a.as_str()).collect::<Vec<_>>(),
        "entities": entities,
    })
}

/// The event-type catalog: entities, actions, and each entity's fields with path, type and
/// label (`supported: true` marks the fields the seed document lists, `additional: true` the
/// tenant's additional fields).
#[utoipa::path(get, path = "/webhooks/v1/event-types", tag = "webhooks",
    responses((status = 200, description = "the catalog", body = super::shapes::EventTypeCatalog),
        (status = 401, body = crate::error::ProblemDoc), (status = 403, body = crate::error::ProblemDoc)),
    security(("oauth2" = ["urn:cx/webhooks:data:manage", "urn:cx/webhooks:data/applications:manage",
        "urn:cx/webhooks:data/webhooks:manage"])))]
pub async fn event_types(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<Json<Value>, ApiError> {
    principal.require_any(&[
        Scope::WebhooksOnlyManage,
        Scope::ApplicationsManage,
        Scope::WebhooksManage,
    ])?;
    let additional = crate::service::additional::of(&state, &principal.tenant).await?;
    Ok(Json(catalog_answer(
        &crate::service::additional::catalog_with(&additional),
    )))
}
