//! The request log: an application's deliveries with filters, a chart of the last 24 hours,
//! one delivery's attempts, and redeliver, through the request-log service the API uses too.

use super::applications::applications_of;
use super::session::{Posted, Session, page};
use super::{error_page, problem};
use crate::service::access::Caller;
use crate::service::deliveries::{self, EventQuery};
use crate::state::AppState;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use chrono::{TimeZone, Utc};
use cxhooks_store::{DeliveryStatus, HourCount};
use maud::{Markup, html};
use serde::Deserialize;
use serde_json::Value;

/// The filters of the request-log page, as the form sends them.
#[derive(Debug, Default, Deserialize)]
pub struct LogQuery {
    app: Option<String>,
    webhook: Option<String>,
    #[serde(rename = "type")]
    event_type: Option<String>,
    status: Option<String>,
    since: Option<String>,
    until: Option<String>,
    /// A delivery id, change id or entity id.
    q: Option<String>,
    /// `on`: the page reloads itself every 10 seconds.
    refresh: Option<String>,
    cursor: Option<String>,
}

/// What the search box holds: a delivery id (shown at once if it is one of this application's),
/// else a change id, else an entity id.
enum Search {
    Nothing,
    Change(String),
    Entity(String),
}

fn given(v: &Option<String>) -> Option<String> {
    v.as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

/// A time from the form: RFC 3339 as is, or a `datetime-local` value (`2026-11-23T10:00`),
/// read as UTC.
fn time(v: &Option<String>) -> Option<String> {
    given(v).map(|t| {
        if chrono::DateTime::parse_from_rfc3339(&t).is_ok() {
            t
        } else if t.len() == 16 {
            format!("{t}:00Z")
        } else if t.len() == 19 {
            format!("{t}Z")
        } else {
            t
        }
    })
}

/// `GET /console/requests`.
pub async fn list(
    State(state): State<AppState>,
    session: Session,
    Query(q): Query<LogQuery>,
) -> Response {
    let apps = match applications_of(&state, &session).await {
        Ok(a) => a,
        Err(e) => return error_page(&session, &e),
    };
    let Some(app) = given(&q.app)
        .and_then(|id| apps.iter().find(|a| a.id.to_string() == id))
        .or(apps.first())
    else {
        return page(
            Some(&session),
            "Request log",
            html! { h1 { "Request log" } p { "Nothing is delivered until there is an application with webhooks: " a href="/console/applications" { "create one" } "." } },
        );
    };
    let hooks = state
        .store
        .webhooks(
            &session.tenant,
            app.id,
            &cxhooks_store::Page {
                limit: 500,
                after: None,
                created_by: None,
            },
        )
        .await
        .map(|p| p.items)
        .unwrap_or_default();
    let search = match given(&q.q) {
        None => Search::Nothing,
        Some(text) => match cxhooks_store::DeliveryId::parse(&text) {
            Some(id) => {
                if let Ok(Some(_)) = state.store.delivery(&session.tenant, app.id, id).await {
                    return Redirect::to(&format!("/console/requests/{}/{id}", app.id))
                        .into_response();
                }
                Search::Change(text)
            }
            None => Search::Entity(text),
        },
    };
    let (change_id, entity_id) = match search {
        Search::Nothing => (None, None),
        Search::Change(c) => (Some(c), None),
        Search::Entity(e) => (None, Some(e)),
    };
    let query = EventQuery {
        change_id,
        entity_id,
        webhook_id: given(&q.webhook),
        event_type: given(&q.event_type),
        status: given(&q.status),
        since: time(&q.since),
        until: time(&q.until),
        limit: Some("50".into()),
        cursor: given(&q.cursor),
    };
    let listed = async {
        let caller = Caller::load(&state, session.principal()).await?;
        let found = deliveries::list(&state, &caller, &app.id.to_string(), &query).await?;
        // A UUID that is no change of this application may still be a record's id.
        let none = found["items"].as_array().is_some_and(Vec::is_empty);
        match query.change_id.clone().filter(|_| none) {
            Some(id) => {
                let by_entity = EventQuery {
                    change_id: None,
                    entity_id: Some(id),
                    ..query
                };
                deliveries::list(&state, &caller, &app.id.to_string(), &by_entity).await
            }
            None => Ok(found),
        }
    }
    .await;
    let now = Utc::now();
    let chart_hours = state
        .store
        .attempts_per_hour(
            &session.tenant,
            app.id,
            (now - chrono::Duration::hours(23)).timestamp_micros() / 3_600_000_000 * 3_600_000_000,
        )
        .await
        .unwrap_or_default();
    let value = |v: &Option<String>| v.clone().unwrap_or_default();
    let catalog = cxhooks_catalog::Catalog::builtin();
    page(
        Some(&session),
        "Request log",
        html! {
            h1 { "Request log" }
            (chart(&chart_hours, now.timestamp() / 3600))
            form.filters method="get" action="/console/requests" {
                label { "Application" select name="app" { @for a in &apps { option value=(a.id) selected[a.id == app.id] { (a.name) } } } }
                label { "Webhook" select name="webhook" {
                    option value="" { "any" }
                    @for h in &hooks { option value=(h.id) selected[Some(h.id.to_string()) == given(&q.webhook)] { (shown_url(h)) } }
                } }
                label { "Type" input name="type" list="event-types" value=(value(&q.event_type)) placeholder="any"; }
                datalist #event-types {
                    option value="cxhooks:ping" {}
                    @for et in catalog.event_types() { option value=(et.as_str()) {} }
                }
                label { "Status" select name="status" {
                    option value="" { "any" }
                    @for s in DeliveryStatus::ALL { option value=(s.as_str()) selected[Some(s.as_str().to_owned()) == given(&q.status)] { (s.as_str()) } }
                } }
                label { "From (UTC)" input name="since" type="datetime-local" value=(value(&q.since)); }
                label { "To (UTC)" input name="until" type="datetime-local" value=(value(&q.until)); }
                label.wide { "Delivery, change or entity id" input name="q" type="search" value=(value(&q.q)) placeholder="a delivery's id, its change's id, or a record's id"; }
                label.inline { input name="refresh" type="checkbox" value="on" data-refresh="10" checked[given(&q.refresh).as_deref() == Some("on")]; " Auto-refresh (10 s)" }
                button type="submit" { "Filter" }
            }
            @match &listed {
                Err(e) => (problem(e)),
                Ok(list) => (table(app.id, list, &q, &hooks)),
            }
        },
    )
}

fn table(
    app: cxhooks_store::ApplicationId,
    list: &Value,
    q: &LogQuery,
    hooks: &[cxhooks_store::Webhook],
) -> Markup {
    let items = list["items"].as_array().cloned().unwrap_or_default();
    let url_of = |id: &str| {
        hooks
            .iter()
            .find(|h| h.id.to_string() == id)
            .map(|h| shown_url(h).to_owned())
    };
    html! {
        @if items.is_empty() { p.muted { "No deliveries match." } } @else {
            div.scroll { table.log {
                thead { tr { th { "Created" } th { "Type" } th { "Entity" } th { "Status" } th { "Attempts" } th { "Webhook" } th { "Delivery id" } } }
                tbody { @for it in &items {
                    @let id = it["_id"].as_str().unwrap_or_default();
                    @let status = it["status"].as_str().unwrap_or_default();
                    @let hook = it["webhookId"].as_str().unwrap_or_default();
                    tr {
                        td { (it["_createdAt"].as_str().unwrap_or_default()) }
                        td { code { (it["type"].as_str().unwrap_or_default()) } }
                        td { @if let Some(e) = it["entityId"].as_str() { code.entity { (e) } } }
                        td { span class=(format!("status {status}")) { (status) } }
                        td { (it["attemptCount"]) }
                        td { a href=(format!("/console/webhooks/{app}/{hook}")) title=(hook) {
                            @match url_of(hook) { Some(url) => span.url { (url) }, None => code.id { (short(hook)) } }
                        } }
                        td.nowrap {
                            a href=(format!("/console/requests/{app}/{id}")) { code.id #(format!("d-{id}")) { (id) } }
                            " " button.copy type="button" data-copy=(format!("d-{id}")) { "Copy" }
                        }
                    }
                } }
            } }
            @if let Some(cursor) = list["nextCursor"].as_str() {
                @let mut next = form_urlencoded(q);
                @let _ = next.append_pair("cursor", cursor);
                p { a href=(format!("/console/requests?{}", next.finish())) { "Older deliveries →" } }
            }
        }
    }
}

fn form_urlencoded(q: &LogQuery) -> url::form_urlencoded::Serializer<'static, String> {
    let mut s = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in [
        ("app", &q.app),
        ("webhook", &q.webhook),
        ("type", &q.event_type),
        ("status", &q.status),
        ("since", &q.since),
        ("until", &q.until),
        ("q", &q.q),
        ("refresh", &q.refresh),
    ] {
        if let Some(v) = given(v) {
            s.append_pair(k, &v);
        }
    }
    s
}

fn short(id: &str) -> &str {
    id.get(..8).unwrap_or(id)
}

/// Attempts per hour over the last 24 hours, failures stacked on top of successes, as inline
/// SVG (no script, readable without colour through its text alternative).
fn chart(hours: &[HourCount], this_hour: i64) -> Markup {
    let buckets: Vec<(i64, i64, i64)> = (0..24)
        .map(|i| {
            let hour = this_hour - 23 + i;
            let c = hours.iter().find(|h| h.hour == hour);
            (
                hour,
                c.map_or(0, |c| c.attempts - c.failed),
                c.map_or(0, |c| c.failed),
            )
        })
        .collect();
    let max = buckets
        .iter()
        .map(|(_, ok, failed)| ok + failed)
        .max()
        .unwrap_or(0)
        .max(1);
    let (total_ok, total_failed) = buckets
        .iter()
        .fold((0, 0), |(a, b), (_, ok, f)| (a + ok, b + f));
    let (w, h, bar) = (480.0_f64, 120.0_f64, 20.0_f64);
    let scale = |n: i64| n as f64 / max as f64 * (h - 20.0);
    html! {
        figure.chart {
            svg viewBox=(format!("0 0 {w} {h}")) role="img" aria-label=(format!("Last 24 hours: {total_ok} successful attempts, {total_failed} failed")) {
                @for (i, (hour, ok, failed)) in buckets.iter().enumerate() {
                    @let x = i as f64 * bar;
                    @let ok_h = scale(*ok);
                    @let failed_h = scale(*failed);
                    @let label = Utc.timestamp_opt(hour * 3600, 0).single().map(|t| t.format("%H:00").to_string()).unwrap_or_default();
                    g {
                        title { (label) " UTC: " (ok) " delivered, " (failed) " failed" }
                        rect.ok x=(x + 2.0) y=(h - 14.0 - ok_h) width=(bar - 4.0) height=(ok_h) {}
                        rect.failed x=(x + 2.0) y=(h - 14.0 - ok_h - failed_h) width=(bar - 4.0) height=(failed_h) {}
                        @if i % 6 == 0 { text x=(x + 2.0) y=(h - 2.0) { (label) } }
                    }
                }
            }
            figcaption {
                span.key.ok {} " delivered " (total_ok) "  "
                span.key.failed {} " failed " (total_failed)
                span.muted { " · attempts per hour, last 24 hours (UTC), max " (max) }
            }
        }
    }
}

/// `GET /console/requests/{app}/{id}`: one delivery with its payload and every attempt.
pub async fn show(
    State(state): State<AppState>,
    session: Session,
    Path((app, id)): Path<(String, String)>,
) -> Response {
    let event = async {
        let caller = Caller::load(&state, session.principal()).await?;
        deliveries::get(&state, &caller, &app, &id).await
    };
    let event = match event.await {
        Ok(v) => v,
        Err(e) => return error_page(&session, &e),
    };
    let status = event["status"].as_str().unwrap_or_default();
    let attempts = event["attempts"].as_array().cloned().unwrap_or_default();
    page(
        Some(&session),
        "Delivery",
        html! {
            div.bar {
                h1 { "Delivery " code.id { (short(&id)) } }
                form method="post" action=(format!("/console/requests/{app}/{id}/redeliver")) {
                    (session.csrf_field())
                    button type="submit" { "Redeliver" }
                }
            }
            dl.kv {
                dt { "Id" } dd { code.id { (id) } }
                dt { "Type" } dd { code { (event["type"].as_str().unwrap_or_default()) } }
                @if let Some(e) = event["entityId"].as_str() {
                    dt { "Entity" } dd { a href=(format!("/console/requests?app={app}&q={}", url::form_urlencoded::byte_serialize(e.as_bytes()).collect::<String>())) title="every delivery about this record" { code.entity { (e) } } }
                }
                @if let Some(c) = event["changeId"].as_str() {
                    dt { "Change" } dd { a href=(format!("/console/requests?app={app}&q={c}")) title="every delivery of this change" { code.id { (c) } } }
                }
                dt { "Status" } dd { span class=(format!("status {status}")) { (status) } }
                @if let Some(next) = event["nextAttemptAt"].as_str() { dt { "Next attempt" } dd { (next) } }
                dt { "Webhook" } dd { a href=(format!("/console/webhooks/{app}/{}", event["webhookId"].as_str().unwrap_or_default())) { code.id { (event["webhookId"].as_str().unwrap_or_default()) } } }
                dt { "Created" } dd { (event["_createdAt"].as_str().unwrap_or_default()) }
            }
            h2 { "Attempts" }
            @if attempts.is_empty() { p.muted { "No attempt yet." } } @else {
                div.scroll { table.attempts {
                    thead { tr { th { "#" } th { "At" } th { "Status code" } th { "Duration" } th { "Response" } } }
                    tbody { @for a in &attempts {
                        @let code = a["statusCode"].as_i64();
                        tr class=(if code.is_some_and(|c| (200..300).contains(&c)) { "ok" } else { "failed" }) {
                            td { (a["attempt"]) }
                            td { (a["at"].as_str().unwrap_or_default()) }
                            td { @match code { Some(c) => (c), None => span.err { (a["error"].as_str().unwrap_or("no answer")) } } }
                            td { (a["durationMs"]) " ms" }
                            td { pre.snippet { (a["responseBody"].as_str().unwrap_or_default()) } }
                        }
                    } }
                } }
            }
            h2 { "Headers" }
            pre.payload { @if let Some(h) = event["headers"].as_object() { @for (k, v) in h { (k) ": " (v.as_str().unwrap_or_default()) "\n" } } }
            h2 { "Payload" }
            pre.payload { (serde_json::to_string_pretty(&event["payload"]).unwrap_or_default()) }
            p { a href=(format!("/console/requests?app={app}")) { "← Request log" } }
        },
    )
}

/// `POST /console/requests/{app}/{id}/redeliver`.
pub async fn redeliver(
    State(state): State<AppState>,
    Path((app, id)): Path<(String, String)>,
    Posted { session, .. }: Posted,
) -> Response {
    let redelivered = async {
        let caller = Caller::load(&state, session.principal()).await?;
        deliveries::redeliver(&state, &caller, &app, &id).await
    };
    match redelivered.await {
        Ok(_) => Redirect::to(&format!("/console/requests/{app}/{id}")).into_response(),
        Err(e) => error_page(&session, &e),
    }
}

/// A webhook as lists name it: its url, or that it is a pull webhook.
pub(super) fn shown_url(hook: &cxhooks_store::Webhook) -> &str {
    if hook.is_pull() {
        "pull webhook (feed)"
    } else {
        &hook.url
    }
}
