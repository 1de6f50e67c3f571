//! Applications, with the public key consumers verify with: listed, created, re-keyed.

use super::done::{Done, DoneQuery};
use super::session::{Posted, Session, page};
use super::{error_page, problem};
use crate::error::ApiError;
use crate::service;
use crate::service::access::{Caller, Verb};
use crate::service::applications::ApplicationIn;
use crate::state::AppState;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use cxhooks_signing::PublicKey;
use cxhooks_store::{Application, Page};
use maud::{Markup, html};
use serde_json::json;

/// The most objects a console list shows.
pub(super) const LIST_LIMIT: u32 = 500;

pub(super) fn all() -> Page {
    Page {
        limit: LIST_LIMIT,
        after: None,
        created_by: None,
    }
}

/// The tenant's applications, oldest first.
pub async fn applications_of(
    state: &AppState,
    session: &Session,
) -> Result<Vec<Application>, ApiError> {
    Ok(state
        .store
        .applications(&session.tenant, &all())
        .await?
        .items)
}

fn public_pem(app: &Application) -> String {
    PublicKey::from_spki_der(&app.public_key)
        .map(|k| k.to_pem())
        .unwrap_or_default()
}

/// `GET /console/applications`.
pub async fn applications(
    State(state): State<AppState>,
    session: Session,
    Query(done): Query<DoneQuery>,
) -> Response {
    match applications_of(&state, &session).await {
        Ok(apps) => {
            let names = super::clients::names(&state, &session).await;
            let public = (state.public_url.as_str(), session.tenant.clone());
            applications_page(&session, &apps, &names, Some(done.notice()), &public)
        }
        Err(e) => error_page(&session, &e),
    }
}

fn applications_page(
    session: &Session,
    apps: &[Application],
    names: &std::collections::HashMap<String, String>,
    problem_box: Option<Markup>,
    (public_url, tenant): &(&str, cxhooks_store::TenantName),
) -> Response {
    page(
        Some(session),
        "Applications",
        html! {
            h1 { "Applications" }
            p.muted { "An application holds webhooks and one RSA key pair: its public key (the " i { "secret" } ") is what receivers verify " code { "Cx-Signature" } " with." }
            @if let Some(p) = problem_box { (p) }
            form.inline method="post" action="/console/applications" {
                (session.csrf_field())
                label { "Name" input name="name" required placeholder="HireData production"; }
                button type="submit" { "Create application" }
            }
            @if apps.is_empty() { p.muted { "No applications yet." } }
            @for app in apps {
                @let pem_id = format!("key-{}", app.id);
                article.card id=(format!("app-{}", app.id)) {
                    div.bar {
                        h2 { (app.name) }
                        div.actions {
                            a.button.secondary href=(format!("/console/webhooks?app={}", app.id)) { "Webhooks" }
                            a.button.secondary href=(format!("/console/requests?app={}", app.id)) { "Request log" }
                            form method="post" action=(format!("/console/applications/{}/rotate", app.id)) data-confirm="Replace this application's key pair? Receivers that read the application's JWKS pick up the new key by its id; give the new public key to the others." {
                                (session.csrf_field())
                                button.secondary type="submit" { "Rotate secret" }
                            }
                        }
                    }
                    dl.kv {
                        dt { "Id" } dd { code.id { (app.id) } }
                        dt { "Key" } dd { "RSA-" (app.key_bits) ", RSA-SHA256" }
                        dt { "Key id" } dd { code.id { (PublicKey::from_spki_der(&app.public_key).map(|k| k.thumbprint()).unwrap_or_default()) } " (" code { "Cx-Signature-Key-Id" } ")" }
                        dt { "Public secret" } dd {
                            pre.pem id=(pem_id) { (public_pem(app)) }
                            button.copy type="button" data-copy=(pem_id) { "Copy" }
                        }
                        dt { "Public JWKS" } dd {
                            @if app.public_jwks {
                                @let url_id = format!("jwks-{}", app.id);
                                code.id id=(url_id) { (service::applications::public_jwks_url(public_url, tenant, app.id)) }
                                " "
                                button.copy type="button" data-copy=(url_id) { "Copy" }
                            } @else {
                                span.muted { "off: receivers are given the public secret" }
                            }
                            form.inline method="post" action=(format!("/console/applications/{}/public-jwks", app.id)) {
                                (session.csrf_field())
                                input type="hidden" name="on" value=(if app.public_jwks { "false" } else { "true" });
                                button.secondary type="submit" { @if app.public_jwks { "Withdraw public JWKS" } @else { "Publish JWKS" } }
                            }
                        }
                        dt { "Created" } dd { (service::rfc3339(app.audit.created_at)) " by " (super::clients::who(names, &app.audit.created_by)) }
                    }
                }
            }
        },
    )
}

/// `POST /console/applications`.
pub async fn create_application(
    State(state): State<AppState>,
    Posted { session, form }: Posted,
) -> Response {
    let value = json!({"name": form.text("name")});
    let created = async {
        let caller = Caller::load(&state, session.principal()).await?;
        let input = ApplicationIn::check(&value, None)?;
        service::applications::create(&state, &caller, input).await
    }
    .await;
    match created {
        Ok(_) => Redirect::to(&format!(
            "/console/applications?done={}",
            Done::ApplicationCreated.code()
        ))
        .into_response(),
        Err(e) => match applications_of(&state, &session).await {
            Ok(apps) => {
                let names = super::clients::names(&state, &session).await;
                let public = (state.public_url.as_str(), session.tenant.clone());
                let mut r = applications_page(&session, &apps, &names, Some(problem(&e)), &public);
                *r.status_mut() = e.status();
                r
            }
            Err(e) => error_page(&session, &e),
        },
    }
}

/// `POST /console/applications/{app}/public-jwks` (`on=true|false`).
pub async fn public_jwks(
    State(state): State<AppState>,
    Path(app): Path<String>,
    Posted { session, form }: Posted,
) -> Response {
    let on = form.text("on") == "true";
    let saved = async {
        let caller = Caller::load(&state, session.principal()).await?;
        let found = service::applications::load_for(&state, &caller, &app, Verb::Update).await?;
        let input = ApplicationIn::check(&json!({"name": found.name, "publicJwks": on}), None)?;
        service::applications::update(&state, &caller, found, input).await
    }
    .await;
    let done = if on {
        Done::PublicJwksOn
    } else {
        Done::PublicJwksOff
    };
    match saved {
        Ok(_) => Redirect::to(&format!(
            "/console/applications?done={}#app-{app}",
            done.code()
        ))
        .into_response(),
        Err(e) => error_page(&session, &e),
    }
}

/// `POST /console/applications/{app}/rotate`.
pub async fn rotate_application(
    State(state): State<AppState>,
    Path(app): Path<String>,
    Posted { session, .. }: Posted,
) -> Response {
    let rotated = async {
        let caller = Caller::load(&state, session.principal()).await?;
        let found = service::applications::load_for(&state, &caller, &app, Verb::Update).await?;
        service::applications::rotate(&state, &caller, found).await
    }
    .await;
    match rotated {
        Ok(_) => Redirect::to(&format!(
            "/console/applications?done={}#app-{app}",
            Done::ApplicationRotated.code()
        ))
        .into_response(),
        Err(e) => error_page(&session, &e),
    }
}
