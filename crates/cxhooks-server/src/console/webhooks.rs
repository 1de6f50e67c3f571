//! Webhooks, with a form whose condition is checked as you type, by the same code the API
//! saves with.

use super::error_page;
use super::session::{Form, Posted, Session, page};
use crate::error::ApiError;
use crate::service;
use crate::service::access::{Caller, Verb};
use crate::service::webhooks::{WebhookIn, WebhookOut};
use crate::state::AppState;
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use cxhooks_store::{Application, ApplicationId, Webhook, WebhookStatus};
use maud::{Markup, html};
use serde::Deserialize;
use serde_json::json;

use super::applications::{all, applications_of};
use super::done::Done;
use super::webhook_form::{
    AuthForm, WebhookForm, feedback_of, no_feedback, to_rows, webhook_form_page,
};
/// `?app=`: one application.
#[derive(Debug, Deserialize)]
pub struct AppQuery {
    app: Option<String>,
}

/// `GET /console/webhooks`: every application's webhooks (or one application's).
pub async fn webhooks(
    State(state): State<AppState>,
    session: Session,
    Query(q): Query<AppQuery>,
    Query(done): Query<super::done::DoneQuery>,
) -> Response {
    let apps = match applications_of(&state, &session).await {
        Ok(apps) => apps,
        Err(e) => return error_page(&session, &e),
    };
    let mut groups: Vec<(
        &Application,
        Vec<Webhook>,
        Vec<cxhooks_store::WebhookHealth>,
    )> = Vec::new();
    let now = state.clock.now_us();
    for app in apps
        .iter()
        .filter(|a| q.app.as_deref().is_none_or(|id| a.id.to_string() == id))
    {
        match state.store.webhooks(&session.tenant, app.id, &all()).await {
            Ok(p) => groups.push((
                app,
                p.items,
                super::health::of(&state.store, &session.tenant, app.id, now).await,
            )),
            Err(e) => return error_page(&session, &e.into()),
        }
    }
    page(
        Some(&session),
        "Webhooks",
        html! {
            div.bar {
                h1 { "Webhooks" }
                @if !apps.is_empty() {
                    a.button href=(match &q.app { Some(a) => format!("/console/webhooks/new?app={a}"), None => "/console/webhooks/new".into() }) { "New webhook" }
                }
            }
            (done.notice())
            @if apps.is_empty() {
                p { "Webhooks belong to an application: " a href="/console/applications" { "create one first" } "." }
            }
            @for (app, hooks, health) in &groups {
                h2 { (app.name) }
                @if hooks.is_empty() { p.muted { "No webhooks." } } @else {
                    div.scroll { table {
                        thead { tr { th { "Url" } th { "Filters" } th { "Delivery" } th { "Health" } th { "Status" } th {} } }
                        tbody { @for h in hooks {
                            tr {
                                td {
                                    a href=(format!("/console/webhooks/{}/{}", app.id, h.id)) {
                                        (super::deliveries::shown_url(h))
                                    }
                                    @if let Some(d) = &h.description { div.muted { (d) } }
                                }
                                td { @for f in &h.filters {
                                    div { code { (f.event_type) } @if let Some(c) = &f.condition { " " span.cond { (c) } } }
                                } }
                                td.muted { (limits_summary(h, state.config.delivery.max_in_flight_per_webhook)) }
                                (super::health::cell(health, &h.id.to_string()))
                                td { span class=(format!("status {}", h.status.as_str())) { (h.status.as_str()) } }
                                td.actions { (status_buttons(&session, app.id, h)) }
                            }
                        } }
                    } }
                }
            }
        },
    )
}

/// A webhook's limits as the form shows them: blank for the defaults. (A rate prints as the
/// API writes it: `2`, `0.5`, never in exponent form.)
fn limits_text(hook: &Webhook) -> (String, String) {
    (
        hook.max_in_flight
            .map_or_else(String::new, |m| m.get().to_string()),
        hook.max_per_second
            .map_or_else(String::new, |r| r.get().to_string()),
    )
}

/// A webhook's limits and order in a few words, for the list.
fn limits_summary(hook: &Webhook, default_in_flight: u32) -> String {
    let in_flight = match hook.max_in_flight {
        Some(m) => format!("{} at once", m.get()),
        None => format!("{default_in_flight} at once (default)"),
    };
    let rate = hook
        .max_per_second
        .map_or_else(|| "no rate limit".to_owned(), |r| format!("{}/s", r.get()));
    let order = if hook.ordered { " · ordered" } else { "" };
    format!("{in_flight} · {rate}{order}")
}

pub(super) fn status_buttons(session: &Session, app: ApplicationId, h: &Webhook) -> Markup {
    let base = format!("/console/webhooks/{app}/{}", h.id);
    let enabled = h.status == cxhooks_store::WebhookStatus::Enabled;
    html! {
        @if enabled {
            form method="post" action=(format!("{base}/disable")) { (session.csrf_field()) button.secondary type="submit" { "Disable" } }
        } @else {
            form method="post" action=(format!("{base}/enable")) { (session.csrf_field()) button.secondary type="submit" { "Enable" } }
        }
    }
}

/// `GET /console/webhooks/new`.
pub async fn new_webhook(
    State(state): State<AppState>,
    session: Session,
    Query(q): Query<AppQuery>,
) -> Response {
    let apps = match applications_of(&state, &session).await {
        Ok(a) => a,
        Err(e) => return error_page(&session, &e),
    };
    let empty = Form::default();
    let mut form = WebhookForm::parse(&empty);
    form.app = q.app.as_deref().unwrap_or("");
    webhook_form_page(
        &session,
        &apps,
        "/console/webhooks/new",
        None,
        &form,
        &no_feedback(),
        state.config.delivery.max_in_flight_per_webhook,
    )
}

/// `POST /console/webhooks/new`: creates the webhook through the webhooks service, as the API does.
pub async fn create_webhook(
    State(state): State<AppState>,
    Posted { session, form: raw }: Posted,
) -> Response {
    let form = WebhookForm::parse(&raw);
    let (value, rows) = form.to_json();
    let created = async {
        let caller = Caller::load(&state, session.principal()).await?;
        let app = service::webhooks::application(&state, &caller, form.app).await?;
        caller.may_create("webhooks")?;
        let additional = service::additional::extensions(&state, &session.tenant).await?;
        let (input, _) = WebhookIn::check(&state, &value, None, &additional)?;
        service::webhooks::create(&state, &caller, &app, input).await
    }
    .await;
    match created {
        Ok(_) => Redirect::to(&format!(
            "/console/webhooks?app={}&done={}",
            form.app,
            Done::WebhookCreated.code()
        ))
        .into_response(),
        Err(e) => {
            refused(
                &state,
                &session,
                "/console/webhooks/new",
                None,
                &form,
                &e,
                &rows,
            )
            .await
        }
    }
}

/// `POST /console/webhooks/validate`: the form checked as the API would check it, as JSON
/// `{valid, detail, errors, warnings}` with paths in the form's row numbering.
pub async fn validate_webhook(
    State(state): State<AppState>,
    Posted { form: raw, session }: Posted,
) -> Response {
    let form = WebhookForm::parse(&raw);
    let (value, rows) = form.to_json();
    let additional = service::additional::extensions(&state, &session.tenant)
        .await
        .unwrap_or_default();
    let backtest = backtest(&state, &session, (&value, &rows), &additional).await;
    let mut answer = match WebhookIn::check(&state, &value, None, &additional) {
        Ok((_, warnings)) => {
            json!({"valid": true, "detail": null, "errors": [], "warnings": to_rows(&warnings, &rows)})
        }
        Err(e) => {
            let errors = to_rows(e.field_errors(), &rows);
            let detail = super::webhook_form::summary(e.detail(), &errors);
            let warnings: Vec<crate::error::FieldError> = e
                .member("warnings")
                .and_then(|w| serde_json::from_value(w.clone()).ok())
                .unwrap_or_default();
            json!({"valid": false, "detail": detail, "errors": errors,
                "warnings": to_rows(&warnings, &rows)})
        }
    };
    answer["backtest"] = backtest;
    Json(answer).into_response()
}

/// What the form's filters would have matched of the last changes, as the validation answer's
/// `backtest`: `{summary, examined, matched, filters: [{row, matched}]}` (rows numbered from
/// 1), or null while the filters do not check.
async fn backtest(
    state: &AppState,
    session: &Session,
    (value, rows): (&serde_json::Value, &[usize]),
    ext: &service::additional::Extensions,
) -> serde_json::Value {
    use service::backtest::{DEFAULT_CHANGES, Window, filters_of, run};
    let Ok((filters, _)) = filters_of(state, value, ext) else {
        return serde_json::Value::Null;
    };
    let window = Window {
        last: DEFAULT_CHANGES,
        since: None,
        until: None,
        sample: 0,
    };
    match run(state, &session.tenant, &filters, window).await {
        Ok(found) => json!({"summary": found.summary, "examined": found.examined,
            "matched": found.matched,
            "filters": found.filters.iter().zip(rows)
                .map(|(f, row)| json!({"row": row + 1, "matched": f.matched}))
                .collect::<Vec<_>>()}),
        Err(_) => serde_json::Value::Null,
    }
}

async fn load_webhook(
    state: &AppState,
    session: &Session,
    app: &str,
    id: &str,
) -> Result<Webhook, ApiError> {
    let (Some(app_id), Some(hook_id)) = (service::parse_id(app), service::parse_id(id)) else {
        return Err(service::not_found("webhook", id));
    };
    state
        .store
        .webhook(&session.tenant, app_id, hook_id)
        .await?
        .ok_or_else(|| service::not_found("webhook", id))
}

/// `GET /console/webhooks/{app}/{id}`.
pub async fn edit_webhook(
    State(state): State<AppState>,
    session: Session,
    Path((app, id)): Path<(String, String)>,
) -> Response {
    let hook = match load_webhook(&state, &session, &app, &id).await {
        Ok(h) => h,
        Err(e) => return error_page(&session, &e),
    };
    let headers = match service::webhooks::open_headers(&state, &hook) {
        Ok(h) => h
            .iter()
            .map(|h| format!("{}: {}", h.name, h.value))
            .collect::<Vec<_>>()
            .join("\n"),
        Err(e) => return error_page(&session, &e),
    };
    let apps = applications_of(&state, &session).await.unwrap_or_default();
    let (max_in_flight, max_per_second) = limits_text(&hook);
    let shown = match service::webhooks::open_auth(&state, &hook) {
        Ok(auth) => auth.map(|a| a.shown()).unwrap_or_default(),
        Err(e) => return error_page(&session, &e),
    };
    let form = WebhookForm {
        app: &app,
        url: &hook.url,
        description: hook.description.as_deref().unwrap_or(""),
        rows: hook
            .filters
            .iter()
            .map(|f| (f.event_type.as_str(), f.condition.as_deref().unwrap_or("")))
            .collect(),
        headers: &headers,
        max_in_flight: &max_in_flight,
        max_per_second: &max_per_second,
        ordered: hook.ordered,
        auth: AuthForm::of(&shown),
    };
    let action = format!("/console/webhooks/{app}/{id}");
    let default_in_flight = state.config.delivery.max_in_flight_per_webhook;
    webhook_form_page(
        &session,
        &apps,
        &action,
        Some(&hook),
        &form,
        &no_feedback(),
        default_in_flight,
    )
}

/// `POST /console/webhooks/{app}/{id}`: saves the whole webhook (the API's `PUT`).
pub async fn save_webhook(
    State(state): State<AppState>,
    Path((app, id)): Path<(String, String)>,
    Posted { session, form: raw }: Posted,
) -> Response {
    let form = WebhookForm::parse(&raw);
    let (value, rows) = form.to_json();
    let saved = async {
        let caller = Caller::load(&state, session.principal()).await?;
        let (_, hook) =
            service::webhooks::load_for(&state, &caller, (&app, &id), Verb::Update).await?;
        let current = WebhookOut::value(&state, &hook, Vec::new())?;
        let additional = service::additional::extensions(&state, &session.tenant).await?;
        let (input, _) = WebhookIn::check(&state, &value, Some(&current), &additional)?;
        service::webhooks::save(&state, &caller, hook, input).await
    }
    .await;
    match saved {
        Ok(_) => Redirect::to(&format!(
            "/console/webhooks?app={app}&done={}",
            Done::WebhookSaved.code()
        ))
        .into_response(),
        Err(e) => match load_webhook(&state, &session, &app, &id).await {
            Ok(hook) => {
                let action = format!("/console/webhooks/{app}/{id}");
                refused(&state, &session, &action, Some(&hook), &form, &e, &rows).await
            }
            Err(e) => error_page(&session, &e),
        },
    }
}

/// The form again with the API's problems at its fields, answered with the API's status.
async fn refused(
    state: &AppState,
    session: &Session,
    action: &str,
    editing: Option<&Webhook>,
    form: &WebhookForm<'_>,
    e: &ApiError,
    rows: &[usize],
) -> Response {
    let apps = applications_of(state, session).await.unwrap_or_default();
    let feedback = feedback_of(e, rows);
    let default_in_flight = state.config.delivery.max_in_flight_per_webhook;
    let mut r = webhook_form_page(
        session,
        &apps,
        action,
        editing,
        form,
        &feedback,
        default_in_flight,
    );
    *r.status_mut() = e.status();
    r
}

/// `POST /console/webhooks/{app}/{id}/{enable|disable|test|delete}`.
pub async fn webhook_action(
    State(state): State<AppState>,
    Path((app, id, action)): Path<(String, String, String)>,
    Posted { session, .. }: Posted,
) -> Response {
    let back = |done: Done| {
        Redirect::to(&format!("/console/webhooks?app={app}&done={}", done.code())).into_response()
    };
    let done = async {
        let caller = Caller::load(&state, session.principal()).await?;
        let hook = |verb| service::webhooks::load_for(&state, &caller, (&app, &id), verb);
        match action.as_str() {
            "enable" | "disable" => {
                let (_, found) = hook(Verb::Update).await?;
                let status = if action == "enable" {
                    WebhookStatus::Enabled
                } else {
                    WebhookStatus::Disabled
                };
                service::webhooks::set_status(&state, &caller, found, status).await?;
                Ok(back(if action == "enable" {
                    Done::WebhookEnabled
                } else {
                    Done::WebhookDisabled
                }))
            }
            "delete" => {
                let (_, found) = hook(Verb::Delete).await?;
                service::webhooks::delete(&state, &caller, &found).await?;
                Ok(back(Done::WebhookDeleted))
            }
            "test" => {
                let v = service::deliveries::test(&state, &caller, &app, &id).await?;
                let event = v["_id"].as_str().unwrap_or_default();
                Ok(Redirect::to(&format!("/console/requests/{app}/{event}")).into_response())
            }
            other => Err(ApiError::new(
                StatusCode::NOT_FOUND,
                "not-found",
                "Not found",
                format!("a webhook has no action '{other}': use enable, disable, test or delete"),
            )),
        }
    }
    .await;
    done.unwrap_or_else(|e: ApiError| error_page(&session, &e))
}
