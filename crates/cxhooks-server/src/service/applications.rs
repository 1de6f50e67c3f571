//! Applications: named collections of webhooks sharing one RSA key pair, whose public key is
//! the `secret` consumers verify `Cx-Signature` with, and, under `cx+standard`, a Standard
//! Webhooks secret. Every write checks the caller's
//! permissions, bumps the configuration version and updates this node's registry.

use super::access::{Caller, Verb};
use super::input::Problems;
use super::{AuditOut, not_found};
use crate::error::ApiError;
use crate::state::AppState;
use chrono::Utc;
use cxhooks_signing::{PrivateKey, PublicKey, RsaBits, StandardKey};
use cxhooks_store::{Application, ApplicationId, Audit, Scope, SignatureScheme, TenantName};
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
    /// `cx` (default): deliveries carry `Cx-Signature` only, as the seed documents describe.
    /// `cx+standard`: they also carry Standard Webhooks' `webhook-id`, `webhook-timestamp` and
    /// `webhook-signature`, with a `whsec_` secret shown once in the answer that creates it.
    #[serde(rename = "signatureScheme")]
    #[schema(nullable = false, required = false, value_type = SchemeDoc)]
    pub signature_scheme: Option<SignatureScheme>,
    /// Serve the application's JWKS without authentication at `jwksUrl`, for receivers that
    /// pick the key by `Cx-Signature-Key-Id` (public keys only). Absent: as it is (off for a
    /// new application).
    #[serde(rename = "publicJwks")]
    #[schema(nullable = false, required = false)]
    pub public_jwks: Option<bool>,
}

/// Which signatures an application's deliveries carry.
#[derive(Debug, ToSchema)]
#[allow(dead_code)]
pub enum SchemeDoc {
    /// `Cx-Signature` only.
    #[schema(rename = "cx")]
    Cx,
    /// `Cx-Signature` and Standard Webhooks' headers.
    #[schema(rename = "cx+standard")]
    CxStandard,
}

/// The fields an application representation may carry besides what [`ApplicationIn`] holds.
pub const READ_ONLY: [&str; 10] = [
    "_id",
    "jwksUrl",
    "secret",
    "keyId",
    "signatureVerification",
    "standardSecret",
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
        let mut allowed = vec!["_kind", "name", "signatureScheme", "publicJwks"];
        if current.is_some() {
            allowed.extend(READ_ONLY);
        }
        let (mut scheme, mut public_jwks) = (None, None);
        let name = p
            .object(value, "", "Application", &allowed)
            .and_then(|map| {
                p.kind(map, "Application");
                if let Some(current) = current.and_then(Value::as_object) {
                    p.unchanged(map, current, &READ_ONLY);
                }
                scheme = check_scheme(&mut p, map);
                public_jwks = p.boolean(map, "", "publicJwks");
                check_name(&mut p, map)
            });
        p.finish("application")?;
        Ok(Self {
            kind: Some("Application".into()),
            name: name.expect("validated"),
            signature_scheme: scheme,
            public_jwks,
        })
    }
}

fn check_scheme(p: &mut Problems, map: &Map<String, Value>) -> Option<SignatureScheme> {
    let text = p.string(map, "", "signatureScheme", false)?;
    let scheme = SignatureScheme::parse(text);
    if scheme.is_none() {
        p.add(
            "/signatureScheme",
            format!(
                "unknown signature scheme '{text}': 'cx' (Cx-Signature only) or 'cx+standard' \
                 (also Standard Webhooks' webhook-* headers)"
            ),
        );
    }
    scheme
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
    /// `secret`'s RFC 7638 thumbprint: its `kid` in the application's JWKS, and the
    /// `Cx-Signature-Key-Id` of the deliveries it signs.
    #[serde(rename = "keyId")]
    pub key_id: String,
    /// The verification algorithm and key.
    #[serde(rename = "signatureVerification")]
    pub signature_verification: SignatureVerification,
    /// `cx` or `cx+standard`.
    #[serde(rename = "signatureScheme")]
    #[schema(value_type = SchemeDoc)]
    pub signature_scheme: &'static str,
    /// The Standard Webhooks secret (`whsec_…`), only in the answer that made it: creating an
    /// application with `cx+standard`, switching one to it, or rotating it. Keep it: it is not
    /// shown again.
    #[serde(rename = "standardSecret", skip_serializing_if = "Option::is_none")]
    pub standard_secret: Option<String>,
    /// Whether the JWKS is served without authentication.
    #[serde(rename = "publicJwks")]
    pub public_jwks: bool,
    /// Where, when `publicJwks` is on: `{public url}/webhooks/v1/public/{tenant}/applications/{id}/jwks`.
    #[serde(rename = "jwksUrl")]
    #[schema(required = true)]
    pub jwks_url: Option<String>,
    /// Audit fields.
    #[serde(flatten)]
    pub audit: AuditOut,
}

impl ApplicationOut {
    /// The representation of `app`; `public_url` is the service's, for `jwksUrl`.
    pub fn new(app: &Application, public_url: &str) -> Self {
        let public = PublicKey::from_spki_der(&app.public_key).ok();
        let pem = public.as_ref().map(PublicKey::to_pem).unwrap_or_default();
        let key_id = public
            .as_ref()
            .map(PublicKey::thumbprint)
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
            key_id,
            signature_scheme: app.signature_scheme.as_str(),
            standard_secret: None,
            public_jwks: app.public_jwks,
            jwks_url: app
                .public_jwks
                .then(|| public_jwks_url(public_url, &app.tenant, app.id)),
            audit: AuditOut::new(&app.audit),
        }
    }

    /// The representation of `app` as JSON.
    pub fn value(app: &Application, public_url: &str) -> Value {
        serde_json::to_value(Self::new(app, public_url)).expect("serialisable")
    }

    /// The representation of `app` with its new Standard Webhooks secret, if it was just made.
    pub fn shown_once(app: &Application, public_url: &str, made: Option<&StandardKey>) -> Value {
        let mut out = Self::new(app, public_url);
        out.standard_secret = made.map(StandardKey::to_whsec);
        serde_json::to_value(out).expect("serialisable")
    }
}

/// Where an application that opted in serves its JWKS without authentication.
pub fn public_jwks_url(public_url: &str, tenant: &TenantName, id: ApplicationId) -> String {
    format!("{public_url}/webhooks/v1/public/{tenant}/applications/{id}/jwks")
}

/// The JWKS of `tenant`'s application `id` for anyone, if it opted in; otherwise (no such
/// tenant or application, or not opted in) the same 404, so that nothing is learnt.
pub async fn public_jwks(state: &AppState, tenant: &str, id: &str) -> Result<Value, ApiError> {
    let missing = || not_found("public JWKS of application", id);
    let (Ok(tenant), Some(app_id)) = (TenantName::parse(tenant), super::parse_id(id)) else {
        return Err(missing());
    };
    match state.store.application(&tenant, app_id).await? {
        Some(app) if app.public_jwks => jwks(state, &app).await,
        _ => Err(missing()),
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

/// Creates an application with a new RSA key pair (and a Standard Webhooks secret under
/// `cx+standard`, returned to be shown once).
pub async fn create(
    state: &AppState,
    caller: &Caller,
    input: ApplicationIn,
) -> Result<(Application, Option<StandardKey>), ApiError> {
    caller.principal.require(Scope::ApplicationsManage)?;
    caller.may_create("applications")?;
    let tenant = caller.principal.tenant.clone();
    let id = ApplicationId::new_v4();
    let (key_bits, sealed_private_key, public_key) = new_key(state, &tenant, id).await?;
    let mut app = Application {
        tenant,
        id,
        name: input.name,
        key_bits,
        sealed_private_key,
        public_key,
        signature_scheme: SignatureScheme::Cx,
        sealed_standard_secret: None,
        public_jwks: input.public_jwks.unwrap_or(false),
        audit: Audit::new(caller.id(), Utc::now()),
    };
    let made = set_scheme(state, &mut app, input.signature_scheme);
    state.store.create_application(&app).await?;
    Ok((app, made))
}

/// Renames `app` and sets its signature scheme (left as it is when the input has none); a new
/// Standard Webhooks secret, made when it switches to `cx+standard`, is returned to be shown
/// once.
pub async fn update(
    state: &AppState,
    caller: &Caller,
    mut app: Application,
    input: ApplicationIn,
) -> Result<(Application, Option<StandardKey>), ApiError> {
    caller.principal.require(Scope::ApplicationsManage)?;
    caller.may(Verb::Update, "application", &app.audit.created_by)?;
    app.name = input.name;
    app.public_jwks = input.public_jwks.unwrap_or(app.public_jwks);
    let made = set_scheme(state, &mut app, input.signature_scheme);
    app.audit.touch(caller.id(), Utc::now());
    save(state, &app).await?;
    Ok((app, made))
}

/// Puts `app` under `scheme`: a secret is made on the switch to `cx+standard` (and returned),
/// dropped on the switch back to `cx`.
fn set_scheme(
    state: &AppState,
    app: &mut Application,
    scheme: Option<SignatureScheme>,
) -> Option<StandardKey> {
    let scheme = scheme.unwrap_or(app.signature_scheme);
    app.signature_scheme = scheme;
    match scheme {
        SignatureScheme::Cx => {
            app.sealed_standard_secret = None;
            None
        }
        SignatureScheme::CxStandard if app.sealed_standard_secret.is_some() => None,
        SignatureScheme::CxStandard => Some(new_standard_secret(state, app)),
    }
}

fn new_standard_secret(state: &AppState, app: &mut Application) -> StandardKey {
    let key = StandardKey::generate();
    app.sealed_standard_secret = Some(crate::seal::seal_standard_secret(
        &state.master,
        &app.tenant,
        app.id,
        &key,
    ));
    key
}

/// Replaces the Standard Webhooks secret of an application under `cx+standard` (409 under
/// `cx`); deliveries sent from now on are signed with the new one, returned to be shown once.
pub async fn rotate_standard(
    state: &AppState,
    caller: &Caller,
    mut app: Application,
) -> Result<(Application, StandardKey), ApiError> {
    caller.principal.require(Scope::ApplicationsManage)?;
    caller.may(Verb::Update, "application", &app.audit.created_by)?;
    if app.signature_scheme != SignatureScheme::CxStandard {
        return Err(ApiError::new(
            axum::http::StatusCode::CONFLICT,
            "no-standard-secret",
            "No Standard Webhooks secret",
            "this application signs with 'cx' only: set its signatureScheme to 'cx+standard' \
             (PATCH), which makes its first secret",
        ));
    }
    let key = new_standard_secret(state, &mut app);
    app.audit.touch(caller.id(), Utc::now());
    save(state, &app).await?;
    Ok((app, key))
}

/// Replaces the application's key pair; deliveries signed from now on, retries included, use
/// the new key. The old public key stays in the application's JWKS for `keys.rotation_grace`.
pub async fn rotate(
    state: &AppState,
    caller: &Caller,
    mut app: Application,
) -> Result<Application, ApiError> {
    caller.principal.require(Scope::ApplicationsManage)?;
    caller.may(Verb::Update, "application", &app.audit.created_by)?;
    let (bits, sealed, public) = new_key(state, &app.tenant, app.id).await?;
    let old = std::mem::replace(&mut app.public_key, public);
    app.key_bits = bits;
    app.sealed_private_key = sealed;
    app.audit.touch(caller.id(), Utc::now());
    let now = state.clock.now_us();
    let forget_before = now - grace_us(state);
    let saved = state
        .store
        .update_application_retiring(&app, Some((&old, now, forget_before)))
        .await?;
    if !saved {
        return Err(not_found("application", &app.id.to_string()));
    }
    state.delivery.registry.forget_key(app.id);
    Ok(app)
}

fn grace_us(state: &AppState) -> i64 {
    i64::try_from(state.config.keys.rotation_grace.as_micros()).unwrap_or(i64::MAX)
}

/// The application's JWKS: its current key, then the keys it retired within
/// `keys.rotation_grace`, newest first; each `kid` is the key's RFC 7638 thumbprint.
pub async fn jwks(state: &AppState, app: &Application) -> Result<serde_json::Value, ApiError> {
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let since = state.clock.now_us() - grace_us(state);
    let retired = state
        .store
        .retired_application_keys(&app.tenant, app.id, since)
        .await?;
    let keys: Vec<serde_json::Value> = std::iter::once(&app.public_key)
        .chain(&retired)
        .filter_map(|der| PublicKey::from_spki_der(der).ok())
        .map(|key| {
            let (n, e) = key.components();
            serde_json::json!({"kty": "RSA", "kid": key.thumbprint(), "use": "sig",
                "alg": "RS256", "n": URL_SAFE_NO_PAD.encode(n), "e": URL_SAFE_NO_PAD.encode(e)})
        })
        .collect();
    Ok(serde_json::json!({ "keys": keys }))
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
