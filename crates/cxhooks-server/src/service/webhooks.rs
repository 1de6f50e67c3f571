//! Webhooks: where deliveries go and which changes select them. Every filter is checked when
//! it is saved (the event type against the catalog, the condition compiled against the
//! entity's fields); every write checks the caller's permissions, bumps the configuration
//! version and updates this node's registry.

use super::access::{Caller, Verb};
use super::{AuditOut, applications, not_found, parse_id};
use crate::delivery::auth::OutboundAuth;
use crate::error::{ApiError, FieldError};
use crate::state::AppState;
use axum::http::StatusCode;
use chrono::Utc;
use cxhooks_store::{
    Application, Audit, CustomHeader, Filter, MaxInFlight, MaxPerSecond, Scope, Webhook, WebhookId,
    WebhookStatus,
};
use serde::Serialize;
use serde_json::{Value, json};
use utoipa::ToSchema;

pub use super::webhook_in::{FilterDoc, HeaderDoc, WebhookIn};

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
    /// Delivery url; null for a pull webhook.
    #[schema(required = true)]
    pub url: Option<String>,
    /// `push` (deliveries sent to `url`) or `pull` (kept for `feedUrl`).
    #[schema(example = "push")]
    pub mode: &'static str,
    /// A pull webhook's feed (`GET`, with a token that may read the application); null for a
    /// push webhook.
    #[serde(rename = "feedUrl")]
    #[schema(required = true)]
    pub feed_url: Option<String>,
    /// What it is for; null: not given.
    #[schema(required = true)]
    pub description: Option<String>,
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
    /// At most this many of its deliveries in flight at once (1 to 1000), as set; null: the
    /// configured `delivery.max_in_flight_per_webhook` (16 unless configured).
    #[serde(rename = "maxInFlight")]
    #[schema(required = true, minimum = 1, maximum = 1000)]
    pub max_in_flight: Option<u32>,
    /// At most this many of its deliveries started per second (above 0, at most 100000), as
    /// set; null: no limit.
    #[serde(rename = "maxPerSecond")]
    #[schema(value_type = Option<f64>, required = true, exclusive_minimum = 0, maximum = 100000)]
    pub max_per_second: Option<serde_json::Number>,
    /// Per-entity order: deliveries of one entity are sent one at a time, in change order.
    pub ordered: bool,
    /// How deliveries authenticate to the receiver, without its secrets; null: not at all.
    #[schema(required = true, value_type = Option<Object>)]
    pub auth: Option<Value>,
    /// Audit fields.
    #[serde(flatten)]
    pub audit: AuditOut,
    /// Problems that did not prevent saving (a `data.*` path the catalog does not list, …).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    #[schema(value_type = Vec<Object>)]
    pub warnings: Vec<FieldError>,
}

impl WebhookOut {
    /// The representation of `hook`, its custom headers unsealed.
    pub fn value(
        state: &AppState,
        hook: &Webhook,
        warnings: Vec<FieldError>,
    ) -> Result<Value, ApiError> {
        let out = WebhookOut {
            kind: "Webhook",
            id: hook.id.uuid(),
            application_id: hook.application_id.uuid(),
            url: (!hook.is_pull()).then(|| hook.url.clone()),
            mode: if hook.is_pull() { "pull" } else { "push" },
            feed_url: hook.is_pull().then(|| feed_url(state, hook)),
            description: hook.description.clone(),
            filters: hook.filters.clone(),
            custom_headers: open_headers(state, hook)?,
            auth: open_auth(state, hook)?.map(|a| a.shown()),
            status: hook.status,
            max_in_flight: hook.max_in_flight.map(MaxInFlight::get),
            max_per_second: hook.max_per_second.map(rate_number),
            ordered: hook.ordered,
            audit: AuditOut::new(&hook.audit),
            warnings,
        };
        Ok(serde_json::to_value(out).expect("serialisable"))
    }
}

/// Where a pull webhook's consumer reads its feed.
pub fn feed_url(state: &AppState, hook: &Webhook) -> String {
    format!(
        "{}/webhooks/v1/applications/{}/webhooks/{}/feed",
        state.public_url.trim_end_matches('/'),
        hook.application_id,
        hook.id
    )
}

/// A rate as JSON: whole rates as integers (`2`, as a caller writes it, rather than `2.0`).
fn rate_number(rate: MaxPerSecond) -> serde_json::Number {
    let rate = rate.get();
    if rate.fract() == 0.0 {
        // At most MaxPerSecond::MAX: exact as an integer.
        serde_json::Number::from(rate as u64)
    } else {
        serde_json::Number::from_f64(rate).expect("a rate is finite")
    }
}

/// The custom headers of a webhook, unsealed.
pub fn open_headers(state: &AppState, hook: &Webhook) -> Result<Vec<CustomHeader>, ApiError> {
    crate::seal::open_headers(&state.master, hook).map_err(ApiError::internal)
}

/// The webhook's outbound authentication, unsealed.
pub fn open_auth(state: &AppState, hook: &Webhook) -> Result<Option<OutboundAuth>, ApiError> {
    OutboundAuth::open(&state.master, hook).map_err(ApiError::internal)
}

/// `input` resolved against what `hook` stores (secrets left out are kept), sealed for it.
fn sealed_auth(
    state: &AppState,
    hook: &Webhook,
    input: Option<super::auth_in::AuthIn>,
    stored: Option<&OutboundAuth>,
) -> Result<(Option<Vec<u8>>, Option<OutboundAuth>), ApiError> {
    let Some(input) = input else {
        return Ok((None, None));
    };
    let auth = input.resolve(stored)?;
    let sealed = auth.seal(&state.master, &hook.tenant, hook.id);
    Ok((Some(sealed), Some(auth)))
}

/// The application `app_id` the caller manages webhooks of.
pub async fn application(
    state: &AppState,
    caller: &Caller,
    app_id: &str,
) -> Result<Application, ApiError> {
    caller.principal.require(Scope::WebhooksOnlyManage)?;
    applications::load(state, caller, app_id).await
}

/// The webhook `id` of application `app_id`, in the caller's tenant.
pub async fn load(
    state: &AppState,
    caller: &Caller,
    app_id: &str,
    id: &str,
) -> Result<(Application, Webhook), ApiError> {
    caller.principal.require(Scope::WebhooksOnlyManage)?;
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

/// [`load`], then the caller's permission for `verb` on the webhook.
pub async fn load_for(
    state: &AppState,
    caller: &Caller,
    (app_id, id): (&str, &str),
    verb: Verb,
) -> Result<(Application, Webhook), ApiError> {
    let (app, hook) = load(state, caller, app_id, id).await?;
    caller.may(verb, "webhook", &hook.audit.created_by)?;
    Ok((app, hook))
}

/// Creates a webhook of `app`, enabled; 429 when the caller's client has
/// `limits.max_webhooks_per_client` already. A webhook receives the application's events signed
/// with its key: the caller needs the rights to read and to update the application.
pub async fn create(
    state: &AppState,
    caller: &Caller,
    app: &Application,
    input: WebhookIn,
) -> Result<Webhook, ApiError> {
    caller.principal.require(Scope::WebhooksOnlyManage)?;
    caller.may_create("webhooks")?;
    caller.may(Verb::Read, "application", &app.audit.created_by)?;
    caller.may(Verb::Update, "application", &app.audit.created_by)?;
    let id = WebhookId::new_v4();
    let hook = Webhook {
        tenant: app.tenant.clone(),
        id,
        application_id: app.id,
        url: input.url,
        description: input.description,
        filters: input.filters,
        sealed_custom_headers: crate::seal::seal_headers(
            &state.master,
            &app.tenant,
            id,
            &input.custom_headers,
        ),
        sealed_auth: None,
        status: WebhookStatus::Enabled,
        max_in_flight: input.max_in_flight,
        max_per_second: input.max_per_second,
        ordered: input.ordered,
        audit: Audit::new(caller.id(), Utc::now()),
    };
    let mut hook = hook;
    let (sealed, auth) = sealed_auth(state, &hook, input.auth, None)?;
    hook.sealed_auth = sealed;
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
    state
        .delivery
        .registry
        .upsert(&hook, input.custom_headers, auth);
    Ok(hook)
}

/// Saves `input` over the stored `hook` (url, filters, headers, limits and order).
pub async fn save(
    state: &AppState,
    caller: &Caller,
    mut hook: Webhook,
    input: WebhookIn,
) -> Result<Webhook, ApiError> {
    caller.principal.require(Scope::WebhooksOnlyManage)?;
    caller.may(Verb::Update, "webhook", &hook.audit.created_by)?;
    hook.url = input.url;
    hook.description = input.description;
    hook.filters = input.filters;
    hook.max_in_flight = input.max_in_flight;
    hook.max_per_second = input.max_per_second;
    hook.ordered = input.ordered;
    hook.sealed_custom_headers =
        crate::seal::seal_headers(&state.master, &hook.tenant, hook.id, &input.custom_headers);
    let stored = open_auth(state, &hook)?;
    let (sealed, auth) = sealed_auth(state, &hook, input.auth, stored.as_ref())?;
    hook.sealed_auth = sealed;
    hook.audit.touch(caller.id(), Utc::now());
    if !state.store.update_webhook(&hook, false).await? {
        return Err(not_found("webhook", &hook.id.to_string()));
    }
    state
        .delivery
        .registry
        .upsert(&hook, input.custom_headers, auth);
    Ok(hook)
}

/// Enables or disables `hook`; enabling (also from `error`) clears its failure streak.
pub async fn set_status(
    state: &AppState,
    caller: &Caller,
    mut hook: Webhook,
    status: WebhookStatus,
) -> Result<Webhook, ApiError> {
    caller.principal.require(Scope::WebhooksOnlyManage)?;
    caller.may(Verb::Update, "webhook", &hook.audit.created_by)?;
    let headers = open_headers(state, &hook)?;
    let auth = open_auth(state, &hook)?;
    hook.status = status;
    hook.audit.touch(caller.id(), Utc::now());
    // Enabled again is a fresh start: past failures no longer count towards `error`.
    let fresh_start = status == WebhookStatus::Enabled;
    if !state.store.update_webhook(&hook, fresh_start).await? {
        return Err(not_found("webhook", &hook.id.to_string()));
    }
    state.delivery.registry.upsert(&hook, headers, auth);
    Ok(hook)
}

/// Deletes `hook`; its pending deliveries stay in the log, as cancelled.
pub async fn delete(state: &AppState, caller: &Caller, hook: &Webhook) -> Result<(), ApiError> {
    caller.principal.require(Scope::WebhooksOnlyManage)?;
    caller.may(Verb::Delete, "webhook", &hook.audit.created_by)?;
    let now = state.clock.now_us();
    state
        .store
        .delete_webhook(&hook.tenant, hook.application_id, hook.id, now)
        .await?;
    state.delivery.registry.remove(&hook.tenant, hook.id);
    Ok(())
}
