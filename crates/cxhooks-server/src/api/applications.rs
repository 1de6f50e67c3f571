//! `/webhooks/v1/applications`: named collections of webhooks sharing one RSA key pair, whose
//! public key is the `secret` consumers verify `Cx-Signature` with.

use super::access::{Caller, Verb};
use super::body::{Problems, merge_patch, parse_json};
use super::list::{FieldsQuery, ListQuery, list_answer, project};
use super::{AuditOut, Created, not_found, parse_id};
use crate::error::ApiError;
use crate::identity::auth::Principal;
use crate::state::AppState;
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use chrono::Utc;
use cxhooks_signing::{PrivateKey, PublicKey, RsaBits};
use cxhooks_store::{Application, Audit, Scope, TenantName, to_micros};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

/// The application routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_application, list_applications))
        .routes(routes!(
            get_application,
            update_application,
            delete_application
        ))
        .routes(routes!(rotate_secret))
}

/// What `POST /applications` takes.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ApplicationIn {
    /// `Application` if given.
    #[serde(rename = "_kind")]
    pub kind: Option<String>,
    /// Human name, 1 to 200 characters.
    pub name: String,
}

/// How consumers verify `Cx-Signature`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SignatureVerification {
    /// Always `RSA-SHA256` (RSASSA-PKCS1-v1_5 with SHA-256).
    pub algorithm: &'static str,
    /// The PEM public key (same as `secret`).
    pub public_key: String,
}

/// An application as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct ApplicationOut {
    /// `Application`.
    #[serde(rename = "_kind")]
    pub kind: &'static str,
    /// Its id.
    #[serde(rename = "_id")]
    pub id: uuid::Uuid,
    /// Human name.
    pub name: String,
    /// The public key as PEM: what the seed's Java, Node.js and PHP verifiers take.
    pub secret: String,
    /// The verification algorithm and key.
    #[serde(rename = "signatureVerification")]
    pub signature_verification: SignatureVerification,
    /// Audit fields.
    #[serde(flatten)]
    pub audit: AuditOut,
}

impl ApplicationOut {
    fn new(app: &Application) -> Self {
        let pem = PublicKey::from_spki_der(&app.public_key)
            .map(|k| k.to_pem())
            .unwrap_or_default();
        Self {
            kind: "Application",
            id: app.id,
            name: app.name.clone(),
            signature_verification: SignatureVerification {
                algorithm: "RSA-SHA256",
                public_key: pem.clone(),
            },
            secret: pem,
            audit: AuditOut::new(&app.audit),
        }
    }

    fn value(app: &Application) -> Value {
        serde_json::to_value(Self::new(app)).expect("serialisable")
    }
}

/// The seal context of an application's private key: binds it to its tenant and id.
pub fn application_key_context(tenant: &TenantName, id: uuid::Uuid) -> String {
    format!("application-key:{tenant}:{id}")
}

/// A fresh key pair of the configured size, generated off the async workers (RSA-4096 takes
/// seconds), sealed for `app`.
async fn new_key(
    state: &AppState,
    tenant: &TenantName,
    id: uuid::Uuid,
) -> Result<(u32, Vec<u8>, Vec<u8>), ApiError> {
    let bits = RsaBits::from_bits(state.config.keys.rsa_bits).map_err(ApiError::internal)?;
    let key = tokio::task::spawn_blocking(move || PrivateKey::generate(bits))
        .await
        .map_err(ApiError::internal)?
        .map_err(ApiError::internal)?;
    let sealed = state
        .master
        .seal(&application_key_context(tenant, id), &key.to_pkcs8_der());
    Ok((bits.bits(), sealed, key.public_key().spki_der().to_vec()))
}

fn check_name(p: &mut Problems, map: &Map<String, Value>) -> Option<String> {
    let name = p.string(map, "", "name", true)?;
    let trimmed = name.trim();
    if trimmed.is_empty() || trimmed.chars().count() > 200 {
        p.add("/name", "'name' must have 1 to 200 characters");
        return None;
    }
    Some(trimmed.to_owned())
}

pub(super) async fn load(
    state: &AppState,
    caller: &Caller,
    id: &str,
) -> Result<Application, ApiError> {
    let Some(uuid) = parse_id(id) else {
        return Err(not_found("application", id));
    };
    state
        .store
        .application(&caller.principal.tenant, uuid)
        .await?
        .ok_or_else(|| not_found("application", id))
}

/// Reading applications is open to either scope: webhook managers read the application their
/// webhooks belong to.
const READ_SCOPES: [Scope; 2] = [Scope::ApplicationsManage, Scope::WebhooksOnlyManage];

/// Create an application with a new RSA key pair.
#[utoipa::path(post, path = "/webhooks/v1/applications", tag = "applications",
    request_body = ApplicationIn,
    responses((status = 201, description = "created", body = ApplicationOut),
        (status = 400, description = "invalid body", body = crate::error::ProblemDoc),
        (status = 401, body = crate::error::ProblemDoc), (status = 403, body = crate::error::ProblemDoc)),
    security(("bearer" = ["urn:cx/webhooks:data/applications:manage"])))]
pub async fn create_application(
    State(state): State<AppState>,
    principal: Principal,
    headers: HeaderMap,
    body: Bytes,
) -> Result<impl IntoResponse, ApiError> {
    principal.require(Scope::ApplicationsManage)?;
    let caller = Caller::load(&state, principal).await?;
    caller.may_create("applications")?;
    let value = parse_json(&headers, &body)?;
    let mut p = Problems::default();
    let name = p
        .object(&value, "", "Application", &["_kind", "name"])
        .and_then(|map| {
            p.kind(map, "Application");
            check_name(&mut p, map)
        });
    p.finish("application")?;
    let tenant = caller.principal.tenant.clone();
    let id = uuid::Uuid::new_v4();
    let (key_bits, sealed_private_key, public_key) = new_key(&state, &tenant, id).await?;
    let app = Application {
        tenant,
        id,
        name: name.expect("validated"),
        key_bits,
        sealed_private_key,
        public_key,
        audit: Audit::new(caller.id(), Utc::now()),
    };
    state.store.create_application(&app).await?;
    Ok(Created::at(
        format!("/webhooks/v1/applications/{id}"),
        ApplicationOut::value(&app),
    ))
}

/// List applications.
#[utoipa::path(get, path = "/webhooks/v1/applications", tag = "applications", params(ListQuery),
    responses((status = 200, description = "a page of applications", body = super::ListDoc),
        (status = 400, body = crate::error::ProblemDoc), (status = 401, body = crate::error::ProblemDoc),
        (status = 403, body = crate::error::ProblemDoc)),
    security(("bearer" = ["urn:cx/webhooks:data/applications:manage", "urn:cx/webhooks:data/webhooks:manage"])))]
pub async fn list_applications(
    State(state): State<AppState>,
    principal: Principal,
    Query(query): Query<ListQuery>,
) -> Result<Json<Value>, ApiError> {
    principal.require_any(&READ_SCOPES)?;
    let caller = Caller::load(&state, principal).await?;
    let page = caller.readable(query.page()?)?;
    let paged = state
        .store
        .applications(&caller.principal.tenant, &page)
        .await?;
    let answer = list_answer(
        paged,
        &query,
        |a| (to_micros(a.audit.created_at), a.id.to_string()),
        ApplicationOut::value,
    )?;
    Ok(Json(answer))
}

/// Read one application.
#[utoipa::path(get, path = "/webhooks/v1/applications/{appId}", tag = "applications",
    params(("appId" = String, Path, description = "application id"), FieldsQuery),
    responses((status = 200, body = ApplicationOut), (status = 401, body = crate::error::ProblemDoc),
        (status = 403, body = crate::error::ProblemDoc), (status = 404, body = crate::error::ProblemDoc)),
    security(("bearer" = ["urn:cx/webhooks:data/applications:manage", "urn:cx/webhooks:data/webhooks:manage"])))]
pub async fn get_application(
    State(state): State<AppState>,
    principal: Principal,
    Path(app_id): Path<String>,
    Query(query): Query<FieldsQuery>,
) -> Result<Json<Value>, ApiError> {
    principal.require_any(&READ_SCOPES)?;
    let caller = Caller::load(&state, principal).await?;
    let app = load(&state, &caller, &app_id).await?;
    caller.may(Verb::Read, "application", &app.audit.created_by)?;
    let mut out = [ApplicationOut::value(&app)];
    project(query.fields.as_deref(), &mut out)?;
    let [out] = out;
    Ok(Json(out))
}

/// Rename an application (JSON Merge Patch; read-only fields may be sent back unchanged).
#[utoipa::path(patch, path = "/webhooks/v1/applications/{appId}", tag = "applications",
    params(("appId" = String, Path, description = "application id")),
    request_body(content = ApplicationIn, content_type = "application/merge-patch+json"),
    responses((status = 200, body = ApplicationOut), (status = 400, body = crate::error::ProblemDoc),
        (status = 401, body = crate::error::ProblemDoc), (status = 403, body = crate::error::ProblemDoc),
        (status = 404, body = crate::error::ProblemDoc)),
    security(("bearer" = ["urn:cx/webhooks:data/applications:manage"])))]
pub async fn update_application(
    State(state): State<AppState>,
    principal: Principal,
    Path(app_id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    principal.require(Scope::ApplicationsManage)?;
    let caller = Caller::load(&state, principal).await?;
    let mut app = load(&state, &caller, &app_id).await?;
    caller.may(Verb::Update, "application", &app.audit.created_by)?;
    let patch = parse_json(&headers, &body)?;
    let current = ApplicationOut::value(&app);
    let mut merged = current.clone();
    merge_patch(&mut merged, &patch);
    let mut p = Problems::default();
    const READ_ONLY: [&str; 7] = [
        "_id",
        "secret",
        "signatureVerification",
        "_createdAt",
        "_createdBy",
        "_updatedAt",
        "_updatedBy",
    ];
    let mut allowed = vec!["_kind", "name"];
    allowed.extend(READ_ONLY);
    let name = p
        .object(&merged, "", "Application", &allowed)
        .and_then(|map| {
            p.kind(map, "Application");
            p.unchanged(map, current.as_object().expect("object"), &READ_ONLY);
            check_name(&mut p, map)
        });
    p.finish("application")?;
    app.name = name.expect("validated");
    app.audit.touch(caller.id(), Utc::now());
    state.store.update_application(&app).await?;
    state.store.bump_config_version().await?;
    state.delivery.registry.forget_key(app.id);
    Ok(Json(ApplicationOut::value(&app)))
}

/// Delete an application and its webhooks.
#[utoipa::path(delete, path = "/webhooks/v1/applications/{appId}", tag = "applications",
    params(("appId" = String, Path, description = "application id")),
    responses((status = 204, description = "deleted"), (status = 401, body = crate::error::ProblemDoc),
        (status = 403, body = crate::error::ProblemDoc), (status = 404, body = crate::error::ProblemDoc)),
    security(("bearer" = ["urn:cx/webhooks:data/applications:manage"])))]
pub async fn delete_application(
    State(state): State<AppState>,
    principal: Principal,
    Path(app_id): Path<String>,
) -> Result<StatusCode, ApiError> {
    principal.require(Scope::ApplicationsManage)?;
    let caller = Caller::load(&state, principal).await?;
    let app = load(&state, &caller, &app_id).await?;
    caller.may(Verb::Delete, "application", &app.audit.created_by)?;
    // Pending deliveries stay in the log, as cancelled.
    let now = Utc::now().timestamp_micros();
    state
        .store
        .cancel_application_deliveries(&app.tenant, app.id, now)
        .await?;
    state.store.delete_application(&app.tenant, app.id).await?;
    state.store.bump_config_version().await?;
    state
        .delivery
        .registry
        .remove_application(&app.tenant, app.id);
    Ok(StatusCode::NO_CONTENT)
}

/// Replace the application's key pair; deliveries signed from now on use the new key.
#[utoipa::path(post, path = "/webhooks/v1/applications/{appId}/rotate-secret", tag = "applications",
    params(("appId" = String, Path, description = "application id")),
    responses((status = 200, description = "the application with its new secret", body = ApplicationOut),
        (status = 401, body = crate::error::ProblemDoc), (status = 403, body = crate::error::ProblemDoc),
        (status = 404, body = crate::error::ProblemDoc)),
    security(("bearer" = ["urn:cx/webhooks:data/applications:manage"])))]
pub async fn rotate_secret(
    State(state): State<AppState>,
    principal: Principal,
    Path(app_id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    principal.require(Scope::ApplicationsManage)?;
    let caller = Caller::load(&state, principal).await?;
    let mut app = load(&state, &caller, &app_id).await?;
    caller.may(Verb::Update, "application", &app.audit.created_by)?;
    let (bits, sealed, public) = new_key(&state, &app.tenant, app.id).await?;
    app.key_bits = bits;
    app.sealed_private_key = sealed;
    app.public_key = public;
    app.audit.touch(caller.id(), Utc::now());
    state.store.update_application(&app).await?;
    state.store.bump_config_version().await?;
    state.delivery.registry.forget_key(app.id);
    Ok(Json(ApplicationOut::value(&app)))
}
