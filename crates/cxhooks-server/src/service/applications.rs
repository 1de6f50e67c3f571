//! Applications: named collections of webhooks sharing one RSA key pair, whose public key is
//! the `secret` consumers verify `Cx-Signature` with. Every write checks the caller's
//! permissions, bumps the configuration version and updates this node's registry.

use super::access::{Caller, Verb};
use super::input::Problems;
use super::{AuditOut, not_found};
use crate::error::ApiError;
use crate::state::AppState;
use chrono::Utc;
use cxhooks_signing::{PrivateKey, PublicKey, RsaBits};
use cxhooks_store::{Application, ApplicationId, Audit, Scope, TenantName};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;

/// An application as written by a caller: its name.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ApplicationIn {
    /// `Application` if given (may be left out, not `null`).
    #[serde(rename = "_kind")]
    #[schema(nullable = false, required = false, value_type = String, pattern = "^Application$")]
    pub kind: Option<String>,
    /// Human name, 1 to 200 characters (trimmed).
    pub name: String,
}

/// The fields an application representation may carry besides what [`ApplicationIn`] holds.
pub const READ_ONLY: [&str; 7] = [
    "_id",
    "secret",
    "signatureVerification",
    "_createdAt",
    "_createdBy",
    "_updatedAt",
    "_updatedBy",
];

impl ApplicationIn {
    /// Validates a representation; `current` is the stored one (for a merge patch), whose
    /// read-only fields may be sent back unchanged. Every problem is reported at once.
    pub fn check(value: &Value, current: Option<&Value>) -> Result<Self, ApiError> {
        let mut p = Problems::default();
        let mut allowed = vec!["_kind", "name"];
        if current.is_some() {
            allowed.extend(READ_ONLY);
        }
        let name = p
            .object(value, "", "Application", &allowed)
            .and_then(|map| {
                p.kind(map, "Application");
                if let Some(current) = current.and_then(Value::as_object) {
                    p.unchanged(map, current, &READ_ONLY);
                }
                check_name(&mut p, map)
            });
        p.finish("application")?;
        Ok(Self {
            kind: Some("Application".into()),
            name: name.expect("validated"),
        })
    }
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

/// How consumers verify `Cx-Signature`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SignatureVerification {
    /// Always `RSA-SHA256` (RSASSA-PKCS1-v1_5 with SHA-256).
    pub algorithm: &'static str,
    /// The PEM public key (same as `secret`).
    pub public_key: String,
}

/// An application as the API and the console show it.
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
    /// The representation of `app`.
    pub fn new(app: &Application) -> Self {
        let pem = PublicKey::from_spki_der(&app.public_key)
            .map(|k| k.to_pem())
            .unwrap_or_default();
        Self {
            kind: "Application",
            id: app.id.uuid(),
            name: app.name.clone(),
            signature_verification: SignatureVerification {
                algorithm: "RSA-SHA256",
                public_key: pem.clone(),
            },
            secret: pem,
            audit: AuditOut::new(&app.audit),
        }
    }

    /// The representation of `app` as JSON.
    pub fn value(app: &Application) -> Value {
        serde_json::to_value(Self::new(app)).expect("serialisable")
    }
}

/// Reading applications is open to either scope: webhook managers read the application their
/// webhooks belong to.
pub const READ_SCOPES: [Scope; 2] = [Scope::ApplicationsManage, Scope::WebhooksOnlyManage];

/// A fresh key pair of the configured size, generated off the async workers (RSA-4096 takes
/// seconds), sealed for `id`.
async fn new_key(
    state: &AppState,
    tenant: &TenantName,
    id: ApplicationId,
) -> Result<(u32, Vec<u8>, Vec<u8>), ApiError> {
    let bits = RsaBits::from_bits(state.config.keys.rsa_bits).map_err(ApiError::internal)?;
    let key = tokio::task::spawn_blocking(move || PrivateKey::generate(bits))
        .await
        .map_err(ApiError::internal)?
        .map_err(ApiError::internal)?;
    let sealed = crate::seal::seal_application_key(&state.master, tenant, id, &key);
    Ok((bits.bits(), sealed, key.public_key().spki_der().to_vec()))
}

/// The caller's tenant's application `id` (any text: what is not a UUID is not found).
pub async fn load(state: &AppState, caller: &Caller, id: &str) -> Result<Application, ApiError> {
    let Some(app_id) = super::parse_id(id) else {
        return Err(not_found("application", id));
    };
    state
        .store
        .application(&caller.principal.tenant, app_id)
        .await?
        .ok_or_else(|| not_found("application", id))
}

/// [`load`], then the caller's permission for `verb` on it.
pub async fn load_for(
    state: &AppState,
    caller: &Caller,
    id: &str,
    verb: Verb,
) -> Result<Application, ApiError> {
    if verb == Verb::Read {
        caller.principal.require_any(&READ_SCOPES)?;
    } else {
        caller.principal.require(Scope::ApplicationsManage)?;
    }
    let app = load(state, caller, id).await?;
    caller.may(verb, "application", &app.audit.created_by)?;
    Ok(app)
}

/// Creates an application with a new RSA key pair.
pub async fn create(
    state: &AppState,
    caller: &Caller,
    input: ApplicationIn,
) -> Result<Application, ApiError> {
    caller.principal.require(Scope::ApplicationsManage)?;
    caller.may_create("applications")?;
    let tenant = caller.principal.tenant.clone();
    let id = ApplicationId::new_v4();
    let (key_bits, sealed_private_key, public_key) = new_key(state, &tenant, id).await?;
    let app = Application {
        tenant,
        id,
        name: input.name,
        key_bits,
        sealed_private_key,
        public_key,
        audit: Audit::new(caller.id(), Utc::now()),
    };
    state.store.create_application(&app).await?;
    Ok(app)
}

/// Renames `app`.
pub async fn rename(
    state: &AppState,
    caller: &Caller,
    mut app: Application,
    input: ApplicationIn,
) -> Result<Application, ApiError> {
    caller.principal.require(Scope::ApplicationsManage)?;
    caller.may(Verb::Update, "application", &app.audit.created_by)?;
    app.name = input.name;
    app.audit.touch(caller.id(), Utc::now());
    save(state, &app).await?;
    Ok(app)
}

/// Replaces the application's key pair; deliveries signed from now on use the new key.
pub async fn rotate(
    state: &AppState,
    caller: &Caller,
    mut app: Application,
) -> Result<Application, ApiError> {
    caller.principal.require(Scope::ApplicationsManage)?;
    caller.may(Verb::Update, "application", &app.audit.created_by)?;
    let (bits, sealed, public) = new_key(state, &app.tenant, app.id).await?;
    app.key_bits = bits;
    app.sealed_private_key = sealed;
    app.public_key = public;
    app.audit.touch(caller.id(), Utc::now());
    save(state, &app).await?;
    Ok(app)
}

async fn save(state: &AppState, app: &Application) -> Result<(), ApiError> {
    if !state.store.update_application(app).await? {
        return Err(not_found("application", &app.id.to_string()));
    }
    state.delivery.registry.forget_key(app.id);
    Ok(())
}

/// Deletes an application and its webhooks; their pending deliveries stay in the log, as
/// cancelled.
pub async fn delete(state: &AppState, caller: &Caller, app: &Application) -> Result<(), ApiError> {
    caller.principal.require(Scope::ApplicationsManage)?;
    caller.may(Verb::Delete, "application", &app.audit.created_by)?;
    let now = state.clock.now_us();
    state
        .store
        .delete_application(&app.tenant, app.id, now)
        .await?;
    state
        .delivery
        .registry
        .remove_application(&app.tenant, app.id);
    Ok(())
}
