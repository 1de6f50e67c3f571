//! The tenant's additional fields: listed by entity, defined, deleted (through the service the
//! API and CLI use, so the checks and messages are theirs).

use super::done::{Done, DoneQuery};
use super::session::{Posted, Session, page};
use super::{error_page, problem};
use crate::error::ApiError;
use crate::service::access::Caller;
use crate::service::additional::{self, AdditionalFieldOut, TYPES};
use crate::state::AppState;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use cxhooks_catalog::Catalog;
use maud::html;
use serde_json::json;

/// `GET /console/additional-fields`.
pub async fn list(
    State(state): State<AppState>,
    session: Session,
    Query(done): Query<DoneQuery>,
) -> Response {
    list_page(&state, &session, Some(&done), None, None).await
}

async fn list_page(
    state: &AppState,
    session: &Session,
    done: Option<&DoneQuery>,
    refused: Option<&ApiError>,
    typed: Option<&super::session::Form>,
) -> Response {
    let fields = match additional::list(&state.store, &session.tenant, None).await {
        Ok(f) => f,
        Err(e) => return error_page(session, &e),
    };
    let value = |name: &str| {
        typed
            .and_then(|f| f.get(name))
            .unwrap_or_default()
            .to_owned()
    };
    let chosen = |name: &str, v: &str| typed.and_then(|f| f.get(name)) == Some(v);
    let mut r = page(
        Some(session),
        "Additional fields",
        html! {
            h1 { "Additional fields" }
            p.muted { "Keys of a record's " code { "additionalinfo" } " that this tenant defined. A change names "
                code { "additionalinfo.shoesize" } " when it changes, and conditions test it as "
                code { "data.additionalinfo.shoesize gt 44" } "; a test its type can never pass is refused." }
            @if let Some(d) = done { (d.notice()) }
            @if let Some(e) = refused { (problem(e)) }
            form.inline method="post" action="/console/additional-fields" {
                (session.csrf_field())
                label { "Entity" select name="entity" {
                    @for e in Catalog::builtin().entities().filter(|e| !e.lookup) {
                        option value=(e.name) selected[chosen("entity", &e.name)] { (e.label) " (" (e.name) ")" }
                    }
                } }
                label { "Key" input name="key" required value=(value("key")) placeholder="shoesize"; }
                label { "Label" input name="label" required value=(value("label")) placeholder="Shoe size"; }
                label { "Type" select name="type" {
                    @for t in TYPES { option value=(t) selected[chosen("type", t)] { (t) } }
                } }
                button type="submit" { "Define field" }
            }
            @if fields.is_empty() { p.muted { "No additional fields yet." } } @else {
                div.scroll { table {
                    thead { tr { th { "Entity" } th { "Path" } th { "Label" } th { "Type" } th {} } }
                    tbody { @for f in &fields { (row(session, f)) } }
                } }
            }
        },
    );
    if let Some(e) = refused {
        *r.status_mut() = e.status();
    }
    r
}

fn row(session: &Session, f: &AdditionalFieldOut) -> maud::Markup {
    html! {
        tr {
            td { code { (f.entity) } }
            td { code { (f.path) } }
            td { (f.label) }
            td { (f.field_type) }
            td.actions {
                form method="post" action=(format!("/console/additional-fields/{}/{}/delete", f.entity, f.key))
                    data-confirm=(format!("Delete the additional field {} of {}?", f.key, f.entity)) {
                    (session.csrf_field()) button.danger type="submit" { "Delete" }
                }
            }
        }
    }
}

/// `POST /console/additional-fields`.
pub async fn create(State(state): State<AppState>, Posted { session, form }: Posted) -> Response {
    let body = json!({
        "entity": form.get("entity").unwrap_or_default(),
        "key": form.get("key").unwrap_or_default().trim(),
        "label": form.get("label").unwrap_or_default(),
        "type": form.get("type").unwrap_or_default(),
    });
    let created = async {
        let caller = Caller::load(&state, session.principal()).await?;
        caller.may_create("additional fields")?;
        additional::create(
            &state.store,
            &session.tenant,
            &caller.client.client_id,
            state.clock.now_us(),
            &body,
        )
        .await
    };
    match created.await {
        Ok(_) => Redirect::to(&format!(
            "/console/additional-fields?done={}",
            Done::AdditionalFieldCreated.code()
        ))
        .into_response(),
        Err(e) => list_page(&state, &session, None, Some(&e), Some(&form)).await,
    }
}

/// `POST /console/additional-fields/{entity}/{key}/delete`.
pub async fn delete(
    State(state): State<AppState>,
    Path((entity, key)): Path<(String, String)>,
    Posted { session, .. }: Posted,
) -> Response {
    let deleted = async {
        let caller = Caller::load(&state, session.principal()).await?;
        additional::delete(
            &state.store,
            &session.tenant,
            Some(&caller),
            (&entity, &key),
        )
        .await
    };
    match deleted.await {
        Ok(()) => Redirect::to(&format!(
            "/console/additional-fields?done={}",
            Done::AdditionalFieldDeleted.code()
        ))
        .into_response(),
        Err(e) => list_page(&state, &session, None, Some(&e), None).await,
    }
}
