//! `/webhooks/v1/applications/{appId}/webhooks`: where deliveries go and which changes select
//! them. Every filter is checked when it is saved: the event type against the catalog, the
//! condition compiled against the entity's fields.

use super::access::{Caller, Verb};
use super::body::{Problems, merge_patch, parse_json, pointer};
use super::list::{FieldsQuery, ListQuery, list_answer, project};
use super::{AuditOut, Created, applications, not_found, parse_id};
use crate::error::{ApiError, FieldError};
use crate::identity::auth::Principal;
use crate::state::AppState;
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::IntoResponse;
use chrono::Utc;
use cxhooks_catalog::Catalog;
use cxhooks_store::{
    Application, Audit, CustomHeader, Filter, Scope, TenantName, Webhook, WebhookStatus, to_micros,
};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

/// The webhook routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_webhook, list_webhooks))
        .routes(routes!(
            get_webhook,
            replace_webhook,
            update_webhook,
            delete_webhook
        ))
        .routes(routes!(enable_webhook))
        .routes(routes!(disable_webhook))
}

/// A filter as written in requests and answers.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FilterDoc {
    /// `{entity}:{created|updated|deleted}`, e.g. `cremployee:updated`.
    pub event_type: String,
    /// Optional condition in the filter language, e.g. `data.tostatusnode eq '1234'`.
    pub condition: Option<String>,
}

/// A custom header as written in requests and answers.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HeaderDoc {
    /// Header name (not `Cx-Signature`, `Cx-Payload-Schema-Version`, `Content-Type` or hop-by-hop).
    pub name: String,
    /// Header value.
    pub value: String,
}

/// What `POST`/`PUT` take (`PATCH` takes any part of it).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookIn {
    /// `Webhook` if given.
    #[serde(rename = "_kind")]
    pub kind: Option<String>,
    /// Absolute `http`/`https` url deliveries are sent to.
    pub url: String,
    /// At least one filter (at most `limits.max_filters_per_webhook`).
    pub filters: Vec<FilterDoc>,
    /// Headers sent with every delivery.
    #[serde(rename = "customHeaders")]
    pub custom_headers: Option<Vec<HeaderDoc>>,
}

/// A webhook as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookOut {
    /// `Webhook`.
    #[serde(rename = "_kind")]
    pub kind: &'static str,
    /// Its id.
    #[serde(rename = "_id")]
    pub id: uuid::Uuid,
    /// The application it belongs to.
    #[serde(rename = "applicationId")]
    pub application_id: uuid::Uuid,
    /// Delivery url.
    pub url: String,
    /// Filters.
    #[schema(value_type = Vec<FilterDoc>)]
    pub filters: Vec<Filter>,
    /// Custom headers.
    #[serde(rename = "customHeaders")]
    #[schema(value_type = Vec<HeaderDoc>)]
    pub custom_headers: Vec<CustomHeader>,
    /// `enabled`, `disabled` or `error`.
    #[schema(value_type = String)]
    pub status: WebhookStatus,
    /// Audit fields.
    #[serde(flatten)]
    pub audit: AuditOut,
    /// Problems that did not prevent saving (a `data.*` path the catalog does not list, …).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    #[schema(value_type = Vec<Object>)]
    pub warnings: Vec<FieldError>,
}

/// The seal context of a webhook's custom headers.
pub fn headers_context(tenant: &TenantName, id: uuid::Uuid) -> String {
    format!("webhook-headers:{tenant}:{id}")
}

fn seal_headers(
    state: &AppState,
    tenant: &TenantName,
    id: uuid::Uuid,
    headers: &[CustomHeader],
) -> Vec<u8> {
    state.master.seal(
        &headers_context(tenant, id),
        &serde_json::to_vec(headers).expect("serialisable"),
    )
}

/// The custom headers of a webhook, unsealed.
pub fn unseal_headers(
    master: &cxhooks_signing::MasterKey,
    hook: &Webhook,
) -> Result<Vec<CustomHeader>, String> {
    let plain = master
        .open(
            &headers_context(&hook.tenant, hook.id),
            &hook.sealed_custom_headers,
        )
        .map_err(|e| e.to_string())?;
    serde_json::from_slice(&plain).map_err(|e| e.to_string())
}

/// The custom headers of a webhook, unsealed.
pub fn open_headers(state: &AppState, hook: &Webhook) -> Result<Vec<CustomHeader>, ApiError> {
    unseal_headers(&state.master, hook).map_err(ApiError::internal)
}

fn render(state: &AppState, hook: &Webhook, warnings: Vec<FieldError>) -> Result<Value, ApiError> {
    let out = WebhookOut {
        kind: "Webhook",
        id: hook.id,
        application_id: hook.application_id,
        url: hook.url.clone(),
        filters: hook.filters.clone(),
        custom_headers: open_headers(state, hook)?,
        status: hook.status,
        audit: AuditOut::new(&hook.audit),
        warnings,
    };
    Ok(serde_json::to_value(out).expect("serialisable"))
}

/// A validated webhook body.
struct Valid {
    url: String,
    filters: Vec<Filter>,
    headers: Vec<CustomHeader>,
}

/// Headers cxhooks sets itself, or that would break the request's framing.
const RESERVED_HEADERS: [&str; 14] = [
    "cx-signature",
    "cx-payload-schema-version",
    "content-type",
    "content-length",
    "host",
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

const FIELDS: [&str; 4] = ["_kind", "url", "filters", "customHeaders"];
const READ_ONLY: [&str; 7] = [
    "_id",
    "applicationId",
    "status",
    "_createdAt",
    "_createdBy",
    "_updatedAt",
    "_updatedBy",
];

fn check_url(state: &AppState, p: &mut Problems, text: &str) {
    let parsed = match url::Url::parse(text) {
        Ok(u) => u,
        Err(e) => {
            p.add(
                "/url",
                format!(
                    "'url' must be an absolute http or https url, and '{text}' is not one ({e})"
                ),
            );
            return;
        }
    };
    if !matches!(parsed.scheme(), "http" | "https") {
        p.add(
            "/url",
            format!("'url' must use http or https, not '{}'", parsed.scheme()),
        );
        return;
    }
    if text.len() > 2048 {
        p.add("/url", "'url' has at most 2048 characters");
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        p.add(
            "/url",
            "'url' must not carry credentials: send them in customHeaders (they are stored sealed)",
        );
    }
    match parsed.host() {
        None => p.add("/url", "'url' has no host"),
        Some(host) if !state.config.delivery.allow_private_targets => {
            if let Some(reason) = crate::net::forbidden_host(&host) {
                p.add(
                    "/url",
                    format!(
                        "'url' points at {reason}, which is refused unless the operator sets \
                         delivery.allow_private_targets"
                    ),
                );
            }
        }
        Some(_) => {}
    }
}

fn check_filters(state: &AppState, p: &mut Problems, filters: &[Value]) -> Vec<Filter> {
    let catalog = Catalog::builtin();
    let max = state.config.limits.max_filters_per_webhook as usize;
    if filters.is_empty() {
        p.add(
            "/filters",
            "a webhook needs at least one filter, e.g. {\"eventType\": \"cremployee:updated\"}",
        );
    }
    if filters.len() > max {
        p.add(
            "/filters",
            format!(
                "a webhook has at most {max} filters, this one has {}",
                filters.len()
            ),
        );
    }
    let mut out = Vec::new();
    for (i, f) in filters.iter().enumerate() {
        let base = format!("/filters/{i}");
        let Some(map) = p.object(f, &base, "filter", &["eventType", "condition"]) else {
            continue;
        };
        let event_type = p.string(map, &base, "eventType", true).and_then(|text| {
            catalog
                .parse_event_type(text)
                .map_err(|e| p.add(pointer(&base, "eventType"), e.to_string()))
                .ok()
        });
        let condition = p
            .string(map, &base, "condition", false)
            .filter(|c| !c.trim().is_empty());
        if let (Some(event_type), Some(text)) = (&event_type, condition) {
            match cxhooks_condition::compile(text, catalog, event_type.entity()) {
                Ok((_, warnings)) => {
                    for w in warnings {
                        p.warn(
                            pointer(&base, "condition"),
                            format!("column {}: {w}", w.column()),
                        );
                    }
                }
                Err(errors) => {
                    for e in errors {
                        p.add(pointer(&base, "condition"), e.to_string());
                    }
                }
            }
        }
        if let Some(event_type) = event_type {
            out.push(Filter {
                event_type: event_type.as_str().to_owned(),
                condition: condition.map(str::to_owned),
            });
        }
    }
    out
}

fn check_headers(p: &mut Problems, headers: &[Value]) -> Vec<CustomHeader> {
    let mut out: Vec<CustomHeader> = Vec::new();
    if headers.len() > 32 {
        p.add("/customHeaders", "a webhook has at most 32 custom headers");
    }
    for (i, h) in headers.iter().enumerate() {
        let base = format!("/customHeaders/{i}");
        let Some(map) = p.object(h, &base, "custom header", &["name", "value"]) else {
            continue;
        };
        let name = p.string(map, &base, "name", true);
        let value = p.string(map, &base, "value", true);
        if let Some(name) = name {
            let lower = name.to_ascii_lowercase();
            if HeaderName::from_bytes(name.as_bytes()).is_err() || name.len() > 256 {
                p.add(
                    pointer(&base, "name"),
                    format!("'{name}' is not a valid header name: use letters, digits and - (e.g. Custom-Signature)"),
                );
            } else if RESERVED_HEADERS.contains(&lower.as_str()) {
                p.add(
                    pointer(&base, "name"),
                    format!("'{name}' is reserved: cxhooks sets it itself"),
                );
            } else if out.iter().any(|h| h.name.eq_ignore_ascii_case(name)) {
                p.add(
                    pointer(&base, "name"),
                    format!("'{name}' is given twice (names are case-insensitive)"),
                );
            }
        }
        if let Some(value) = value
            && (HeaderValue::from_str(value).is_err() || value.len() > 4096)
        {
            p.add(
                pointer(&base, "value"),
                "the value must be printable text without line breaks, at most 4096 bytes",
            );
        }
        if let (Some(name), Some(value)) = (name, value) {
            out.push(CustomHeader {
                name: name.to_owned(),
                value: value.to_owned(),
            });
        }
    }
    out
}

/// Validates a whole webhook representation; `current` is the stored one for PUT and PATCH,
/// whose read-only fields may be sent back unchanged.
fn validate(
    state: &AppState,
    value: &Value,
    current: Option<&Value>,
) -> Result<(Valid, Vec<FieldError>), ApiError> {
    let mut p = Problems::default();
    let mut allowed = FIELDS.to_vec();
    if current.is_some() {
        allowed.extend(READ_ONLY);
    }
    let mut valid = Valid {
        url: String::new(),
        filters: Vec::new(),
        headers: Vec::new(),
    };
    if let Some(map) = p.object(value, "", "Webhook", &allowed) {
        p.kind(map, "Webhook");
        if let Some(current) = current.and_then(Value::as_object) {
            p.unchanged(map, current, &READ_ONLY);
        }
        if let Some(url) = p.string(map, "", "url", true) {
            check_url(state, &mut p, url);
            valid.url = url.to_owned();
        }
        if let Some(filters) = p.array(map, "", "filters", true) {
            valid.filters = check_filters(state, &mut p, filters);
        }
        if let Some(headers) = p.array(map, "", "customHeaders", false) {
            valid.headers = check_headers(&mut p, headers);
        }
    }
    p.finish("webhook")?;
    Ok((valid, p.warnings))
}

/// Checks a webhook representation exactly as `POST` would, without saving it: the warnings if
/// it is valid, else the same 400 the API answers.
pub fn check(state: &AppState, value: &Value) -> Result<Vec<FieldError>, ApiError> {
    validate(state, value, None).map(|(_, warnings)| warnings)
}

async fn load(
    state: &AppState,
    caller: &Caller,
    app_id: &str,
    id: &str,
) -> Result<(Application, Webhook), ApiError> {
    let app = applications::load(state, caller, app_id).await?;
    let Some(uuid) = parse_id(id) else {
        return Err(not_found("webhook", id));
    };
    let hook = state
        .store
        .webhook(&caller.principal.tenant, app.id, uuid)
        .await?
        .ok_or_else(|| not_found("webhook", id))?;
    Ok((app, hook))
}

async fn caller(state: &AppState, principal: Principal) -> Result<Caller, ApiError> {
    principal.require(Scope::WebhooksOnlyManage)?;
    Caller::load(state, principal).await
}

/// Create a webhook.
#[utoipa::path(post, path = "/webhooks/v1/applications/{appId}/webhooks", tag = "webhooks",
    params(("appId" = String, Path, description = "application id")),
    request_body = WebhookIn,
    responses((status = 201, description = "created, with `warnings` if any", body = WebhookOut),
        (status = 400, body = crate::error::ProblemDoc), (status = 401, body = crate::error::ProblemDoc),
        (status = 403, body = crate::error::ProblemDoc), (status = 404, body = crate::error::ProblemDoc),
        (status = 429, description = "limits.max_webhooks_per_client reached", body = crate::error::ProblemDoc)),
    security(("bearer" = ["urn:cx/webhooks:data/webhooks:manage"])))]
pub async fn create_webhook(
    State(state): State<AppState>,
    principal: Principal,
    Path(app_id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<impl IntoResponse, ApiError> {
    let caller = caller(&state, principal).await?;
    let app = applications::load(&state, &caller, &app_id).await?;
    caller.may_create("webhooks")?;
    let value = parse_json(&headers, &body)?;
    let (valid, warnings) = validate(&state, &value, None)?;
    let id = uuid::Uuid::new_v4();
    let hook = Webhook {
        tenant: app.tenant.clone(),
        id,
        application_id: app.id,
        url: valid.url,
        filters: valid.filters,
        sealed_custom_headers: seal_headers(&state, &app.tenant, id, &valid.headers),
        status: WebhookStatus::Enabled,
        audit: Audit::new(caller.id(), Utc::now()),
    };
    let limit = state.config.limits.max_webhooks_per_client;
    if !state.store.create_webhook(&hook, limit).await? {
        return Err(ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "webhook-limit",
            "Webhook limit reached",
            format!("this client already has {limit} webhooks, the most its fair-usage limit allows; delete one first"),
        )
        .with("limit", json!(limit)));
    }
    state.store.bump_config_version().await?;
    state.delivery.registry.upsert(&hook, valid.headers);
    let location = format!("/webhooks/v1/applications/{}/webhooks/{id}", app.id);
    Ok(Created::at(location, render(&state, &hook, warnings)?))
}

/// List an application's webhooks.
#[utoipa::path(get, path = "/webhooks/v1/applications/{appId}/webhooks", tag = "webhooks",
    params(("appId" = String, Path, description = "application id"), ListQuery),
    responses((status = 200, body = super::ListDoc), (status = 400, body = crate::error::ProblemDoc),
        (status = 401, body = crate::error::ProblemDoc), (status = 403, body = crate::error::ProblemDoc),
        (status = 404, body = crate::error::ProblemDoc)),
    security(("bearer" = ["urn:cx/webhooks:data/webhooks:manage"])))]
pub async fn list_webhooks(
    State(state): State<AppState>,
    principal: Principal,
    Path(app_id): Path<String>,
    Query(query): Query<ListQuery>,
) -> Result<Json<Value>, ApiError> {
    let caller = caller(&state, principal).await?;
    let app = applications::load(&state, &caller, &app_id).await?;
    let page = caller.readable(query.page()?)?;
    let paged = state.store.webhooks(&app.tenant, app.id, &page).await?;
    let mut rendered = Vec::with_capacity(paged.items.len());
    for hook in &paged.items {
        rendered.push(render(&state, hook, Vec::new())?);
    }
    let by_id: std::collections::HashMap<uuid::Uuid, Value> =
        paged.items.iter().map(|h| h.id).zip(rendered).collect();
    let answer = list_answer(
        paged,
        &query,
        |h| (to_micros(h.audit.created_at), h.id.to_string()),
        |h| by_id[&h.id].clone(),
    )?;
    Ok(Json(answer))
}

/// Read one webhook.
#[utoipa::path(get, path = "/webhooks/v1/applications/{appId}/webhooks/{webhookId}", tag = "webhooks",
    params(("appId" = String, Path), ("webhookId" = String, Path), FieldsQuery),
    responses((status = 200, body = WebhookOut), (status = 401, body = crate::error::ProblemDoc),
        (status = 403, body = crate::error::ProblemDoc), (status = 404, body = crate::error::ProblemDoc)),
    security(("bearer" = ["urn:cx/webhooks:data/webhooks:manage"])))]
pub async fn get_webhook(
    State(state): State<AppState>,
    principal: Principal,
    Path((app_id, id)): Path<(String, String)>,
    Query(query): Query<FieldsQuery>,
) -> Result<Json<Value>, ApiError> {
    let caller = caller(&state, principal).await?;
    let (_, hook) = load(&state, &caller, &app_id, &id).await?;
    caller.may(Verb::Read, "webhook", &hook.audit.created_by)?;
    let mut out = [render(&state, &hook, Vec::new())?];
    project(query.fields.as_deref(), &mut out)?;
    let [out] = out;
    Ok(Json(out))
}

/// PUT (`merge` false: the body is the whole webhook) and PATCH (`merge` true: a JSON Merge
/// Patch over what GET returns); read-only fields may be sent back unchanged either way.
async fn write(
    state: AppState,
    principal: Principal,
    (app_id, id): (String, String),
    headers: HeaderMap,
    body: Bytes,
    merge: bool,
) -> Result<Json<Value>, ApiError> {
    let caller = caller(&state, principal).await?;
    let (_, mut hook) = load(&state, &caller, &app_id, &id).await?;
    caller.may(Verb::Update, "webhook", &hook.audit.created_by)?;
    let given = parse_json(&headers, &body)?;
    let current = render(&state, &hook, Vec::new())?;
    let value = if merge {
        let mut merged = current.clone();
        merge_patch(&mut merged, &given);
        merged
    } else {
        given
    };
    let (valid, warnings) = validate(&state, &value, Some(&current))?;
    hook.url = valid.url;
    hook.filters = valid.filters;
    hook.sealed_custom_headers = seal_headers(&state, &hook.tenant, hook.id, &valid.headers);
    hook.audit.touch(caller.id(), Utc::now());
    if !state.store.update_webhook(&hook).await? {
        return Err(not_found("webhook", &hook.id.to_string()));
    }
    state.store.bump_config_version().await?;
    state.delivery.registry.upsert(&hook, valid.headers);
    Ok(Json(render(&state, &hook, warnings)?))
}

/// Replace a webhook (read-only fields may be sent back unchanged).
#[utoipa::path(put, path = "/webhooks/v1/applications/{appId}/webhooks/{webhookId}", tag = "webhooks",
    params(("appId" = String, Path), ("webhookId" = String, Path)), request_body = WebhookIn,
    responses((status = 200, body = WebhookOut), (status = 400, body = crate::error::ProblemDoc),
        (status = 401, body = crate::error::ProblemDoc), (status = 403, body = crate::error::ProblemDoc),
        (status = 404, body = crate::error::ProblemDoc)),
    security(("bearer" = ["urn:cx/webhooks:data/webhooks:manage"])))]
pub async fn replace_webhook(
    State(state): State<AppState>,
    principal: Principal,
    Path((app_id, id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    write(state, principal, (app_id, id), headers, body, false).await
}

/// Update a webhook with a JSON Merge Patch.
#[utoipa::path(patch, path = "/webhooks/v1/applications/{appId}/webhooks/{webhookId}", tag = "webhooks",
    params(("appId" = String, Path), ("webhookId" = String, Path)),
    request_body(content = WebhookIn, content_type = "application/merge-patch+json"),
    responses((status = 200, body = WebhookOut), (status = 400, body = crate::error::ProblemDoc),
        (status = 401, body = crate::error::ProblemDoc), (status = 403, body = crate::error::ProblemDoc),
        (status = 404, body = crate::error::ProblemDoc)),
    security(("bearer" = ["urn:cx/webhooks:data/webhooks:manage"])))]
pub async fn update_webhook(
    State(state): State<AppState>,
    principal: Principal,
    Path((app_id, id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    write(state, principal, (app_id, id), headers, body, true).await
}

/// Delete a webhook.
#[utoipa::path(delete, path = "/webhooks/v1/applications/{appId}/webhooks/{webhookId}", tag = "webhooks",
    params(("appId" = String, Path), ("webhookId" = String, Path)),
    responses((status = 204, description = "deleted"), (status = 401, body = crate::error::ProblemDoc),
        (status = 403, body = crate::error::ProblemDoc), (status = 404, body = crate::error::ProblemDoc)),
    security(("bearer" = ["urn:cx/webhooks:data/webhooks:manage"])))]
pub async fn delete_webhook(
    State(state): State<AppState>,
    principal: Principal,
    Path((app_id, id)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let caller = caller(&state, principal).await?;
    let (app, hook) = load(&state, &caller, &app_id, &id).await?;
    caller.may(Verb::Delete, "webhook", &hook.audit.created_by)?;
    // Pending deliveries stay in the log, as cancelled.
    let now = Utc::now().timestamp_micros();
    state
        .store
        .cancel_webhook_deliveries(&app.tenant, hook.id, now)
        .await?;
    state
        .store
        .delete_webhook(&app.tenant, app.id, hook.id)
        .await?;
    state.store.bump_config_version().await?;
    state.delivery.registry.remove(&app.tenant, hook.id);
    Ok(StatusCode::NO_CONTENT)
}

async fn set_status(
    state: AppState,
    principal: Principal,
    app_id: String,
    id: String,
    status: WebhookStatus,
) -> Result<Json<Value>, ApiError> {
    let caller = caller(&state, principal).await?;
    let (_, mut hook) = load(&state, &caller, &app_id, &id).await?;
    caller.may(Verb::Update, "webhook", &hook.audit.created_by)?;
    hook.status = status;
    hook.audit.touch(caller.id(), Utc::now());
    state.store.update_webhook(&hook).await?;
    if status == WebhookStatus::Enabled {
        // A fresh start: past failures no longer count towards `error`.
        state
            .store
            .reset_webhook_health(&hook.tenant, hook.id)
            .await?;
    }
    state.store.bump_config_version().await?;
    state
        .delivery
        .registry
        .upsert(&hook, open_headers(&state, &hook)?);
    Ok(Json(render(&state, &hook, Vec::new())?))
}

/// Set the webhook's status to `enabled` (also from `error`).
#[utoipa::path(post, path = "/webhooks/v1/applications/{appId}/webhooks/{webhookId}/enable", tag = "webhooks",
    params(("appId" = String, Path), ("webhookId" = String, Path)),
    responses((status = 200, body = WebhookOut), (status = 401, body = crate::error::ProblemDoc),
        (status = 403, body = crate::error::ProblemDoc), (status = 404, body = crate::error::ProblemDoc)),
    security(("bearer" = ["urn:cx/webhooks:data/webhooks:manage"])))]
pub async fn enable_webhook(
    State(state): State<AppState>,
    principal: Principal,
    Path((app_id, id)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    set_status(state, principal, app_id, id, WebhookStatus::Enabled).await
}

/// Set the webhook's status to `disabled`.
#[utoipa::path(post, path = "/webhooks/v1/applications/{appId}/webhooks/{webhookId}/disable", tag = "webhooks",
    params(("appId" = String, Path), ("webhookId" = String, Path)),
    responses((status = 200, body = WebhookOut), (status = 401, body = crate::error::ProblemDoc),
        (status = 403, body = crate::error::ProblemDoc), (status = 404, body = crate::error::ProblemDoc)),
    security(("bearer" = ["urn:cx/webhooks:data/webhooks:manage"])))]
pub async fn disable_webhook(
    State(state): State<AppState>,
    principal: Principal,
    Path((app_id, id)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    set_status(state, principal, app_id, id, WebhookStatus::Disabled).await
}
