//! Identity Management > Clients: list, create a confidential client, edit its name, code,
//! scopes and permissions (seed 000's fix for a 403 is "add the missing scope"), rotate its
//! secret, delete it. A secret is shown once, on the page that answers the creation or
//! rotation.

use super::done::{Done, DoneQuery};
use super::session::{Form, Posted, Session, page};
use crate::error::ApiError;
use crate::identity::admin::{self, ClientView, IdentityError, NewClient};
use crate::state::AppState;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use cxhooks_store::{Client, ClientCode, Permissions, Scope, ScopeSet};
use maud::{Markup, html};

fn scope_label(s: Scope) -> &'static str {
    match s {
        Scope::WebhooksManage => "the whole management API",
        Scope::ApplicationsManage => "applications only",
        Scope::WebhooksOnlyManage => "webhooks and their request log",
        Scope::RecordsManage => "the record store",
        Scope::AclManage => "GET /acl/v1/me",
        Scope::EventsPublish => "publish changes (the source system)",
    }
}

/// The tenant's client names by client id, to say who created what.
pub(super) async fn names(
    state: &AppState,
    session: &Session,
) -> std::collections::HashMap<String, String> {
    state
        .store
        .clients(&session.tenant)
        .await
        .map(|cs| cs.into_iter().map(|c| (c.client_id, c.name)).collect())
        .unwrap_or_default()
}

/// A creator by name, with the id on hover; the id alone when it is no client's (a console
/// operator, or a client since deleted).
pub(super) fn who(names: &std::collections::HashMap<String, String>, id: &str) -> Markup {
    match names.get(id) {
        Some(name) => html! { span title=(format!("client {id}")) { (name) } },
        None => html! { code { (id) } },
    }
}

fn identity_problem(e: &IdentityError) -> Markup {
    html! { div.problem role="alert" { p { (e) } } }
}

fn internal(e: impl std::fmt::Display) -> Response {
    ApiError::internal(e).into_response()
}

/// `GET /console/clients`.
pub async fn list(
    State(state): State<AppState>,
    session: Session,
    Query(done): Query<DoneQuery>,
) -> Response {
    let clients = match state.store.clients(&session.tenant).await {
        Ok(c) => c,
        Err(e) => return internal(e),
    };
    page(
        Some(&session),
        "Clients",
        html! {
            div.bar {
                h1 { "Clients" }
                a.button href="/console/clients/new" { "New confidential client" }
            }
            (done.notice())
            @if clients.is_empty() {
                p.muted { "No clients yet." }
            } @else {
                div.scroll { table {
                    thead { tr { th { "Name" } th { "Code" } th { "Client id" } th { "Default scopes" } th { "Webhooks permissions" } th {} } }
                    tbody { @for c in &clients { (client_row(&session, c)) } }
                } }
            }
        },
    )
}

fn client_row(session: &Session, c: &Client) -> Markup {
    html! {
        tr {
            td { (c.name) }
            td { code { (c.code.as_str()) } }
            td { code.id { (c.client_id) } }
            td { @for s in c.default_scopes.iter() { code.scope { (s.as_str()) } " " } }
            td { (c.permissions.to_string().replace(',', ", ")) }
            td.actions {
                a.button.secondary href=(format!("/console/clients/{}/edit", c.client_id)) { "Edit" }
                form method="post" action=(format!("/console/clients/{}/rotate", c.client_id)) data-confirm="Rotate this client's secret? The old one stops working at once." {
                    (session.csrf_field())
                    button.secondary type="submit" { "Rotate secret" }
                }
                form method="post" action=(format!("/console/clients/{}/delete", c.client_id)) data-confirm="Delete this client? Its tokens stop working." {
                    (session.csrf_field())
                    button.danger type="submit" { "Delete" }
                }
            }
        }
    }
}

fn select(name: &str, options: &[&str], current: &str) -> Markup {
    html! {
        select name=(name) id=(name) {
            @for o in options { option value=(o) selected[*o == current] { (o) } }
        }
    }
}

/// The client form: a new client (`editing` `None`), or the client `editing`, prefilled from
/// `form` (what was typed) or else from the client.
fn client_form(
    session: &Session,
    form: &Form,
    problem: Option<Markup>,
    editing: Option<&Client>,
) -> Response {
    let fresh = form.get("name").is_none();
    let stored_scopes: Vec<&str> = editing
        .map(|c| c.default_scopes.iter().map(|s| s.as_str()).collect())
        .unwrap_or_default();
    let checked: Vec<&str> = if fresh && editing.is_some() {
        stored_scopes
    } else {
        form.all("scope")
    };
    let stored = editing
        .map(|c| c.permissions.to_string())
        .unwrap_or_default();
    let perm = |k: &str, default: &'static str| -> String {
        if let Some(v) = form.get(k) {
            return v.to_owned();
        }
        stored
            .split(',')
            .find_map(|kv| kv.strip_prefix(&format!("{k}=")))
            .unwrap_or(default)
            .to_owned()
    };
    let text = |k: &str, stored: Option<&str>| -> String {
        form.get(k)
            .map(str::to_owned)
            .or(stored.map(str::to_owned))
            .unwrap_or_default()
    };
    let (title, action, button) = match editing {
        Some(c) => (
            "Edit client",
            format!("/console/clients/{}", c.client_id),
            "Save client",
        ),
        None => (
            "New confidential client",
            "/console/clients".to_owned(),
            "Create client",
        ),
    };
    page(
        Some(session),
        title,
        html! {
            section.narrow {
                h1 { (title) }
                @if let Some(c) = editing { p.muted { "Client id " code.id { (c.client_id) } ". Changed scopes apply to tokens issued from now on; changed permissions at once." } }
                @if let Some(p) = problem { (p) }
                // novalidate: the server's message says what is wrong; no browser bubble.
                form method="post" action=(action) novalidate {
                    (session.csrf_field())
                    label { "Name" input name="name" value=(text("name", editing.map(|c| c.name.as_str()))) required placeholder="HireData"; }
                    label { "Code" input name="code" value=(text("code", editing.map(|c| c.code.as_str()))) required placeholder="urn:hiredata/hiredata"; }
                    fieldset {
                        legend { "Default scopes" }
                        @for s in Scope::ALL {
                            label.check {
                                input type="checkbox" name="scope" value=(s.as_str())
                                    checked[checked.contains(&s.as_str()) || (fresh && editing.is_none() && s == Scope::WebhooksManage)];
                                code { (s.as_str()) } span.muted { " — " (scope_label(s)) }
                            }
                        }
                    }
                    fieldset.matrix {
                        legend { "Webhooks permissions" }
                        label { "create" (select("create", &["on", "off"], &perm("create", "on"))) }
                        label { "read" (select("read", &["all", "owner", "none"], &perm("read", "all"))) }
                        label { "update" (select("update", &["all", "owner", "none"], &perm("update", "owner"))) }
                        label { "delete" (select("delete", &["all", "owner", "none"], &perm("delete", "owner"))) }
                    }
                    button type="submit" { (button) }
                }
            }
        },
    )
}

/// `GET /console/clients/new`.
pub async fn new_form(session: Session) -> Response {
    client_form(&session, &Form::default(), None, None)
}

/// `GET /console/clients/{id}/edit`.
pub async fn edit_form(
    State(state): State<AppState>,
    Path(id): Path<String>,
    session: Session,
) -> Response {
    match admin::client(&state.store, &session.tenant, &id).await {
        Ok(client) => client_form(&session, &Form::default(), None, Some(&client)),
        Err(e) => identity_error_page(&session, e),
    }
}

/// `POST /console/clients/{id}`: saves the name, code, scopes and permissions.
pub async fn update(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Posted { session, form }: Posted,
) -> Response {
    let client = match admin::client(&state.store, &session.tenant, &id).await {
        Ok(c) => c,
        Err(e) => return identity_error_page(&session, e),
    };
    let changes = parse_new_client(&form).map(|new| admin::ClientChanges {
        name: Some(new.name),
        code: Some(new.code),
        scopes: Some(new.scopes),
        permissions: Some(new.permissions),
    });
    let saved = match changes {
        Ok(changes) => admin::update_client(&state.store, &session.tenant, &id, changes).await,
        Err(e) => Err(e),
    };
    match saved {
        Ok(c) => {
            tracing::info!(tenant = %session.tenant, operator = %session.email, client = %c.client_id, "client updated in the console");
            Redirect::to(&format!(
                "/console/clients?done={}",
                Done::ClientSaved.code()
            ))
            .into_response()
        }
        Err(IdentityError::Store(e)) => internal(e),
        Err(e) => {
            let mut r = client_form(&session, &form, Some(identity_problem(&e)), Some(&client));
            *r.status_mut() = StatusCode::BAD_REQUEST;
            r
        }
    }
}

fn parse_new_client(form: &Form) -> Result<NewClient, IdentityError> {
    let code = ClientCode::parse(form.text("code"))?;
    let scopes = ScopeSet::parse(&form.all("scope").join(" "))?;
    let permissions = Permissions::parse(&format!(
        "create={},read={},update={},delete={}",
        form.text("create"),
        form.text("read"),
        form.text("update"),
        form.text("delete")
    ))?;
    Ok(NewClient {
        name: form.text("name").to_owned(),
        code,
        scopes,
        permissions,
    })
}

/// `POST /console/clients`: creates the client and shows its secret once.
pub async fn create(State(state): State<AppState>, Posted { session, form }: Posted) -> Response {
    let created = match parse_new_client(&form) {
        Ok(new) => admin::create_client(&state.store, &state.master, &session.tenant, new).await,
        Err(e) => Err(e),
    };
    match created {
        Ok((client, secret)) => {
            tracing::info!(tenant = %session.tenant, operator = %session.email, client = %client.client_id, "client created in the console");
            secret_page(&session, "Client created", &client, secret)
        }
        Err(IdentityError::Store(e)) => internal(e),
        Err(e) => {
            let mut r = client_form(&session, &form, Some(identity_problem(&e)), None);
            *r.status_mut() = StatusCode::BAD_REQUEST;
            r
        }
    }
}

fn secret_page(session: &Session, title: &str, client: &Client, secret: String) -> Response {
    let view = ClientView::new(client, Some(secret.clone()));
    page(
        Some(session),
        title,
        html! {
            section.narrow {
                h1 { (title) }
                p { "Store this secret now: it is shown this once and cxhooks keeps only a keyed hash of it." }
                dl.kv {
                    dt { "Name" } dd { (view.name) }
                    dt { "Client id" } dd { code #client-id { (view.client_id) } " " button.copy type="button" data-copy="client-id" { "Copy" } }
                    dt { "Client secret" } dd { code #client-secret.secret { (secret) } " " button.copy type="button" data-copy="client-secret" { "Copy" } }
                    dt { "Token endpoint" } dd { code { "/auth/realms/" (view.tenant) "/protocol/openid-connect/token" } }
                }
                p { a href="/console/clients" { "Back to clients" } }
            }
        },
    )
}

/// `POST /console/clients/{id}/rotate`.
pub async fn rotate(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Posted { session, .. }: Posted,
) -> Response {
    match admin::rotate_client_secret(&state.store, &state.master, &session.tenant, &id).await {
        Ok((client, secret)) => secret_page(&session, "Secret rotated", &client, secret),
        Err(e) => identity_error_page(&session, e),
    }
}

/// `POST /console/clients/{id}/delete`.
pub async fn delete(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Posted { session, .. }: Posted,
) -> Response {
    match admin::delete_client(&state.store, &session.tenant, &id).await {
        Ok(()) => Redirect::to(&format!(
            "/console/clients?done={}",
            Done::ClientDeleted.code()
        ))
        .into_response(),
        Err(e) => identity_error_page(&session, e),
    }
}

fn identity_error_page(session: &Session, e: IdentityError) -> Response {
    let status = match e {
        IdentityError::Store(e) => return internal(e),
        IdentityError::UnknownClient { .. } => StatusCode::NOT_FOUND,
        _ => StatusCode::BAD_REQUEST,
    };
    let mut r = page(
        Some(session),
        "Error",
        html! { h1 { "That did not work" } (identity_problem(&e)) },
    );
    *r.status_mut() = status;
    r
}
