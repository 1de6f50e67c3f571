//! Bulk recovery in the console: a webhook's "recover failed deliveries since…" form with its
//! recent recoveries, and one recovery's progress, refreshing itself while it runs.

use super::done::{Done, DoneQuery};
use super::session::{Posted, Session, page};
use super::{error_page, problem};
use crate::service::access::Caller;
use crate::service::recover::{self, RecoveryOut};
use crate::state::AppState;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};
use serde::Deserialize;
use serde_json::json;

/// `?refresh=`: `off` stops a running recovery's page from reloading itself.
#[derive(Debug, Default, Deserialize)]
pub struct RefreshQuery {
    refresh: Option<String>,
}

/// A `datetime-local` value (read as UTC) or RFC 3339, as RFC 3339.
fn time(text: &str) -> String {
    match text.trim() {
        t if t.len() == 16 => format!("{t}:00Z"),
        t if t.len() == 19 => format!("{t}Z"),
        t => t.to_owned(),
    }
}

/// `GET /console/webhooks/{app}/{id}/recover`: the form and the webhook's recent recoveries.
pub async fn form(
    State(state): State<AppState>,
    session: Session,
    Path((app, id)): Path<(String, String)>,
) -> Response {
    form_page(&state, &session, &app, &id, None, None).await
}

async fn form_page(
    state: &AppState,
    session: &Session,
    app: &str,
    id: &str,
    since: Option<&str>,
    refused: Option<&crate::error::ApiError>,
) -> Response {
    let listed = async {
        let caller = Caller::load(state, session.principal()).await?;
        recover::list(state, &caller, app, id).await
    };
    let recoveries = match listed.await {
        Ok(r) => r,
        Err(e) => return error_page(session, &e),
    };
    let default_since = (chrono::Utc::now() - chrono::Duration::hours(24))
        .format("%Y-%m-%dT%H:%M")
        .to_string();
    page(
        Some(session),
        "Recover failed deliveries",
        html! {
            h1 { "Recover failed deliveries" }
            p { "Every delivery of this webhook that is " span.status.failed { "failed" } " and was created in the range is delivered again, oldest first, at "
                (state.config.delivery.recover_per_s) " a second (" code { "delivery.recover_per_s" } "); at most "
                (recover::MAX_DELIVERIES) " per recovery." }
            @if let Some(e) = refused { (problem(e)) }
            form.stack method="post" action=(format!("/console/webhooks/{app}/{id}/recover")) {
                (session.csrf_field())
                label { "Created since (UTC)" input name="since" type="datetime-local" required value=(since.unwrap_or(&default_since)); }
                label { "Created before (UTC; empty: now)" input name="until" type="datetime-local"; }
                button type="submit" { "Recover" }
            }
            h2 { "Recent recoveries" }
            @if recoveries.is_empty() { p.muted { "None yet." } } @else {
                div.scroll { table {
                    thead { tr { th { "Started" } th { "Range" } th { "Status" } th { "Progress" } } }
                    tbody { @for r in &recoveries {
                        tr {
                            td { a href=(format!("/console/webhooks/{app}/{id}/recoveries/{}", r.id)) { (r.created_at) } }
                            td { (r.since) " – " (r.until) }
                            td { span class=(format!("status {}", r.status)) { (r.status) } }
                            td { (r.processed) " of " (r.total) }
                        }
                    } }
                } }
            }
            p { a href=(format!("/console/webhooks/{app}/{id}")) { "← Webhook" } }
        },
    )
}

/// `POST /console/webhooks/{app}/{id}/recover`.
pub async fn start(
    State(state): State<AppState>,
    Path((app, id)): Path<(String, String)>,
    Posted { session, form }: Posted,
) -> Response {
    let since = form.get("since").unwrap_or_default().to_owned();
    let mut body = json!({ "since": time(&since) });
    if let Some(until) = form.get("until").filter(|u| !u.trim().is_empty()) {
        body["until"] = json!(time(until));
    }
    let started = async {
        let caller = Caller::load(&state, session.principal()).await?;
        recover::start(&state, &caller, &app, &id, &body).await
    };
    match started.await {
        Ok(r) => Redirect::to(&format!(
            "/console/webhooks/{app}/{id}/recoveries/{}?done={}",
            r.id,
            Done::RecoveryStarted.code()
        ))
        .into_response(),
        Err(e) => {
            let mut page = form_page(&state, &session, &app, &id, Some(&since), Some(&e)).await;
            if page.status().is_success() {
                *page.status_mut() = e.status();
            }
            page
        }
    }
}

/// `GET /console/webhooks/{app}/{id}/recoveries/{rid}`.
pub async fn show(
    State(state): State<AppState>,
    session: Session,
    Path((app, id, rid)): Path<(String, String, String)>,
    Query(q): Query<RefreshQuery>,
    Query(done): Query<DoneQuery>,
) -> Response {
    let got = async {
        let caller = Caller::load(&state, session.principal()).await?;
        recover::get(&state, &caller, &app, &id, &rid).await
    };
    let r = match got.await {
        Ok(r) => r,
        Err(e) => return error_page(&session, &e),
    };
    let running = r.status == "running";
    page(
        Some(&session),
        "Recovery",
        html! {
            h1 { "Recovery " code.id { (r.id) } }
            (done.notice())
            (progress(&r))
            @if running {
                label.inline { input type="checkbox" data-refresh="2" checked[q.refresh.as_deref() != Some("off")]; " Auto-refresh (2 s)" }
            }
            p {
                a href=(format!("/console/requests?app={app}&webhook={id}")) { "Request log of this webhook" } " · "
                a href=(format!("/console/webhooks/{app}/{id}/recover")) { "Recoveries" }
            }
        },
    )
}

fn progress(r: &RecoveryOut) -> Markup {
    let skipped = r.processed - r.redelivered;
    html! {
        dl.kv {
            dt { "Status" } dd { span class=(format!("status {}", r.status)) { (r.status) } }
            dt { "Deliveries created" } dd { (r.since) " – " (r.until) }
            dt { "Progress" } dd {
                progress value=(r.processed) max=(r.total.max(1)) {}
                div #recovery-progress { (r.processed) " of " (r.total) " handled: " (r.redelivered) " delivered again"
                    @if skipped > 0 { ", " (skipped) " no longer failed" } }
            }
            dt { "Started" } dd { (r.created_at) " by " code { (r.created_by) } }
            @if let Some(f) = &r.finished_at { dt { "Finished" } dd { (f) } }
            @if let Some(e) = &r.error { dt { "Error" } dd.err { (e) } }
        }
        @if r.status == "interrupted" {
            p { "The node running it stopped. Start another recovery over the same range: what this one delivered again is no longer failed." }
        }
    }
}
