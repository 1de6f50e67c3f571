//! Webhooks, with a form whose condition is checked as you type, by the same code the API
//! saves with.

use super::error_page;
use super::session::{Form, Posted, Session, page};
use crate::error::{ApiError, FieldError};
use crate::service;
use crate::service::access::{Caller, Verb};
use crate::service::webhooks::{WebhookIn, WebhookOut};
use crate::state::AppState;
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use cxhooks_catalog::Catalog;
use cxhooks_store::{Application, ApplicationId, Webhook, WebhookStatus};
use maud::{Markup, html};
use serde::Deserialize;
use serde_json::{Value, json};

use super::applications::{all, applications_of};
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
) -> Response {
    let apps = match applications_of(&state, &session).await {
        Ok(apps) => apps,
        Err(e) => return error_page(&session, &e),
    };
    let mut groups: Vec<(&Application, Vec<Webhook>)> = Vec::new();
    for app in apps
        .iter()
        .filter(|a| q.app.as_deref().is_none_or(|id| a.id.to_string() == id))
    {
        match state.store.webhooks(&session.tenant, app.id, &all()).await {
            Ok(p) => groups.push((app, p.items)),
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
            @if apps.is_empty() {
                p { "Webhooks belong to an application: " a href="/console/applications" { "create one first" } "." }
            }
            @for (app, hooks) in &groups {
                h2 { (app.name) }
                @if hooks.is_empty() { p.muted { "No webhooks." } } @else {
                    div.scroll { table {
                        thead { tr { th { "Url" } th { "Filters" } th { "Status" } th {} } }
                        tbody { @for h in hooks {
                            tr {
                                td { a href=(format!("/console/webhooks/{}/{}", app.id, h.id)) { (h.url) } }
                                td { @for f in &h.filters {
                                    div { code { (f.event_type) } @if let Some(c) = &f.condition { " " span.cond { (c) } } }
                                } }
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

fn status_buttons(session: &Session, app: ApplicationId, h: &Webhook) -> Markup {
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

/// The webhook form as the operator filled it in: a row per filter (blank rows are left out),
/// custom headers one `Name: value` per line.
struct WebhookForm<'f> {
    app: &'f str,
    url: &'f str,
    rows: Vec<(&'f str, &'f str)>,
    headers: &'f str,
}

/// Blank filter rows shown below the filled ones.
const SPARE_ROWS: usize = 1;

impl<'f> WebhookForm<'f> {
    fn parse(form: &'f Form) -> Self {
        let types = form.all("event_type");
        let conds = form.all("condition");
        let rows = types
            .iter()
            .enumerate()
            .map(|(i, t)| (t.trim(), conds.get(i).map_or("", |c| c.trim())))
            .collect();
        Self {
            app: form.text("app"),
            url: form.text("url"),
            rows,
            headers: form.get("custom_headers").unwrap_or(""),
        }
    }

    /// The API body, and for each of its filters the form row it came from.
    fn to_json(&self) -> (Value, Vec<usize>) {
        let mut filters = Vec::new();
        let mut rows = Vec::new();
        for (i, (t, c)) in self.rows.iter().enumerate() {
            if t.is_empty() && c.is_empty() {
                continue;
            }
            let mut f = json!({"eventType": t});
            if !c.is_empty() {
                f["condition"] = json!(c);
            }
            filters.push(f);
            rows.push(i);
        }
        let headers: Vec<Value> = self
            .headers
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| match l.split_once(':') {
                Some((n, v)) => json!({"name": n.trim(), "value": v.trim()}),
                None => json!({"name": l.trim(), "value": ""}),
            })
            .collect();
        (
            json!({"url": self.url, "filters": filters, "customHeaders": headers}),
            rows,
        )
    }
}

/// Moves `/filters/{i}/…` paths from the API body's numbering to the form's rows.
fn to_rows(errors: &[FieldError], rows: &[usize]) -> Vec<FieldError> {
    errors
        .iter()
        .map(|e| {
            let path = e
                .path
                .strip_prefix("/filters/")
                .and_then(|rest| {
                    let (n, tail) = rest.split_once('/').unwrap_or((rest, ""));
                    let row = rows.get(n.parse::<usize>().ok()?)?;
                    Some(if tail.is_empty() {
                        format!("/filters/{row}")
                    } else {
                        format!("/filters/{row}/{tail}")
                    })
                })
                .unwrap_or_else(|| e.path.clone());
            FieldError {
                path,
                message: e.message.clone(),
            }
        })
        .collect()
}

struct Feedback {
    detail: Option<String>,
    errors: Vec<FieldError>,
    warnings: Vec<FieldError>,
}

fn field_msgs(fb: &Feedback, path: &str) -> Markup {
    html! {
        p.field-msg data-for=(path) {
            @for e in fb.errors.iter().filter(|e| e.path == path) { span.err { (e.message) } " " }
            @for w in fb.warnings.iter().filter(|e| e.path == path) { span.warn { (w.message) } " " }
        }
    }
}

fn webhook_form_page(
    session: &Session,
    apps: &[Application],
    action: &str,
    editing: Option<&Webhook>,
    form: &WebhookForm<'_>,
    fb: &Feedback,
) -> Response {
    let catalog = Catalog::builtin();
    let rows = form.rows.len() + SPARE_ROWS;
    let title = if editing.is_some() {
        "Edit webhook"
    } else {
        "New webhook"
    };
    page(
        Some(session),
        title,
        html! {
            section.narrow {
                h1 { (title) }
                div #problems role="alert" class=(if fb.detail.is_some() { "problem" } else { "problem hidden" }) {
                    @if let Some(d) = &fb.detail { p { (d) } }
                }
                form.webhook method="post" action=(action) data-validate="/console/webhooks/validate" {
                    (session.csrf_field())
                    @if let Some(h) = editing {
                        input type="hidden" name="app" value=(h.application_id);
                        p.muted { "Application: " (apps.iter().find(|a| a.id == h.application_id).map_or("", |a| a.name.as_str())) " · status " span class=(format!("status {}", h.status.as_str())) { (h.status.as_str()) } }
                    } @else {
                        label { "Application"
                            select name="app" required {
                                @for a in apps { option value=(a.id) selected[a.id.to_string() == form.app] { (a.name) } }
                            }
                        }
                    }
                    label { "Url" input name="url" type="url" value=(form.url) required placeholder="https://integration.example/hooks/carerix"; }
                    (field_msgs(fb, "/url"))
                    fieldset {
                        legend { "Filters" }
                        p.muted { "A change is delivered when any filter matches: its event type, and its condition if there is one. Leave a row empty to skip it." }
                        (field_msgs(fb, "/filters"))
                        @for i in 0..rows {
                            @let (t, c) = form.rows.get(i).copied().unwrap_or(("", ""));
                            div.filter {
                                label { "Event type"
                                    input name="event_type" list="event-types" value=(t) placeholder="cremployee:updated" autocapitalize="none";
                                }
                                (field_msgs(fb, &format!("/filters/{i}/eventType")))
                                (field_msgs(fb, &format!("/filters/{i}")))
                                label { "Condition (optional)"
                                    textarea name="condition" rows="2" spellcheck="false" placeholder="data.tostatusnode eq '1234'" { (c) }
                                }
                                (field_msgs(fb, &format!("/filters/{i}/condition")))
                            }
                        }
                        datalist #event-types {
                            @for et in catalog.event_types() { option value=(et.as_str()) {} }
                        }
                    }
                    label { "Custom headers (one " code { "Name: value" } " per line, stored encrypted)"
                        textarea name="custom_headers" rows="2" spellcheck="false" { (form.headers) }
                    }
                    (field_msgs(fb, "/customHeaders"))
                    p.validity #validity aria-live="polite" {}
                    button type="submit" { @if editing.is_some() { "Save webhook" } @else { "Create webhook" } }
                }
                @if let Some(h) = editing {
                    div.actions {
                        (status_buttons(session, h.application_id, h))
                        form method="post" action=(format!("/console/webhooks/{}/{}/test", h.application_id, h.id)) {
                            (session.csrf_field()) button.secondary type="submit" { "Send test ping" }
                        }
                        form method="post" action=(format!("/console/webhooks/{}/{}/delete", h.application_id, h.id)) data-confirm="Delete this webhook? Its pending deliveries are cancelled." {
                            (session.csrf_field()) button.danger type="submit" { "Delete" }
                        }
                    }
                }
            }
        },
    )
}

fn no_feedback() -> Feedback {
    Feedback {
        detail: None,
        errors: Vec::new(),
        warnings: Vec::new(),
    }
}

fn feedback_of(e: &ApiError, rows: &[usize]) -> Feedback {
    Feedback {
        detail: Some(e.detail().to_owned()),
        errors: to_rows(e.field_errors(), rows),
        warnings: Vec::new(),
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
        let (input, _) = WebhookIn::check(&state, &value, None)?;
        service::webhooks::create(&state, &caller, &app, input).await
    }
    .await;
    match created {
        Ok(_) => Redirect::to(&format!("/console/webhooks?app={}", form.app)).into_response(),
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
    Posted { form: raw, .. }: Posted,
) -> Response {
    let form = WebhookForm::parse(&raw);
    let (value, rows) = form.to_json();
    let answer = match WebhookIn::check(&state, &value, None) {
        Ok((_, warnings)) => {
            json!({"valid": true, "detail": null, "errors": [], "warnings": to_rows(&warnings, &rows)})
        }
        Err(e) => {
            json!({"valid": false, "detail": e.detail(), "errors": to_rows(e.field_errors(), &rows), "warnings": []})
        }
    };
    Json(answer).into_response()
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
    let form = WebhookForm {
        app: &app,
        url: &hook.url,
        rows: hook
            .filters
            .iter()
            .map(|f| (f.event_type.as_str(), f.condition.as_deref().unwrap_or("")))
            .collect(),
        headers: &headers,
    };
    let action = format!("/console/webhooks/{app}/{id}");
    webhook_form_page(&session, &apps, &action, Some(&hook), &form, &no_feedback())
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
        let (input, _) = WebhookIn::check(&state, &value, Some(&current))?;
        service::webhooks::save(&state, &caller, hook, input).await
    }
    .await;
    match saved {
        Ok(_) => Redirect::to(&format!("/console/webhooks?app={app}")).into_response(),
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
    let mut r = webhook_form_page(session, &apps, action, editing, form, &feedback);
    *r.status_mut() = e.status();
    r
}

/// `POST /console/webhooks/{app}/{id}/{enable|disable|test|delete}`.
pub async fn webhook_action(
    State(state): State<AppState>,
    Path((app, id, action)): Path<(String, String, String)>,
    Posted { session, .. }: Posted,
) -> Response {
    let back = Redirect::to(&format!("/console/webhooks?app={app}")).into_response();
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
                Ok(back)
            }
            "delete" => {
                let (_, found) = hook(Verb::Delete).await?;
                service::webhooks::delete(&state, &caller, &found).await?;
                Ok(back)
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
