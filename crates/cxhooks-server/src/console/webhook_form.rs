//! The webhook form: what the operator typed, turned into the body the API takes, and the
//! API's problems shown at the fields they are about.

use super::session::{Form, Session, page};
use super::webhooks::status_buttons;
use crate::error::{ApiError, FieldError};
use axum::response::Response;
use cxhooks_catalog::Catalog;
use cxhooks_store::{Application, Webhook};
use maud::{Markup, html};
use serde_json::{Value, json};

/// The webhook form as the operator filled it in: a row per filter (blank rows are left out),
/// custom headers one `Name: value` per line, the limits as typed (blank: the default) and the
/// order as a checkbox.
pub(super) struct WebhookForm<'f> {
    pub(super) app: &'f str,
    pub(super) url: &'f str,
    pub(super) description: &'f str,
    pub(super) rows: Vec<(&'f str, &'f str)>,
    pub(super) headers: &'f str,
    pub(super) max_in_flight: &'f str,
    pub(super) max_per_second: &'f str,
    pub(super) ordered: bool,
    pub(super) auth: AuthForm<'f>,
}

/// The webhook's authentication to its receiver as the form holds it. Secrets are typed, never
/// shown (the stored ones are kept when left empty): the form is never filled with them.
#[derive(Default)]
pub(super) struct AuthForm<'f> {
    /// `""` (none), `oauth2` or `mtls`.
    pub(super) kind: &'f str,
    pub(super) token_url: &'f str,
    pub(super) client_id: &'f str,
    pub(super) client_secret: &'f str,
    pub(super) scope: &'f str,
    pub(super) certificate: &'f str,
    pub(super) private_key: &'f str,
}

impl<'f> AuthForm<'f> {
    /// The stored authentication as the form shows it (`shown`: without secrets).
    pub(super) fn of(shown: &'f Value) -> Self {
        let text = |key: &str| shown[key].as_str().unwrap_or("");
        Self {
            kind: text("type"),
            token_url: text("tokenUrl"),
            client_id: text("clientId"),
            scope: text("scope"),
            certificate: text("certificate"),
            ..Self::default()
        }
    }

    /// The API's `auth`: null for none; secrets only if typed.
    fn to_json(&self) -> Value {
        let typed = |v: &str| Some(v.trim()).filter(|v| !v.is_empty()).map(str::to_owned);
        match self.kind {
            "oauth2" => json!({"type": "oauth2", "tokenUrl": self.token_url.trim(),
                "clientId": self.client_id.trim(), "clientSecret": typed(self.client_secret),
                "scope": typed(self.scope)}),
            "mtls" => json!({"type": "mtls", "certificate": self.certificate.trim(),
                "privateKey": typed(self.private_key)}),
            _ => Value::Null,
        }
    }
}

/// A limit as typed: a JSON number if it reads as one, else the text, so that the API's check
/// says what is wrong with it ("must be a number, found a string").
fn typed_number(text: &str) -> Value {
    serde_json::from_str::<serde_json::Number>(text).map_or_else(|_| json!(text), Value::Number)
}

/// Blank filter rows shown below the filled ones.
const SPARE_ROWS: usize = 1;

/// Filter rows of a new webhook's form.
const NEW_ROWS: usize = 3;

impl<'f> WebhookForm<'f> {
    pub(super) fn parse(form: &'f Form) -> Self {
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
            description: form.text("description"),
            rows,
            headers: form.get("custom_headers").unwrap_or(""),
            max_in_flight: form.text("max_in_flight"),
            max_per_second: form.text("max_per_second"),
            ordered: form.get("ordered").is_some(),
            auth: AuthForm {
                kind: form.text("auth_type"),
                token_url: form.text("auth_token_url"),
                client_id: form.text("auth_client_id"),
                client_secret: form.text("auth_client_secret"),
                scope: form.text("auth_scope"),
                certificate: form.get("auth_certificate").unwrap_or(""),
                private_key: form.get("auth_private_key").unwrap_or(""),
            },
        }
    }

    /// The API body, and for each of its filters the form row it came from.
    pub(super) fn to_json(&self) -> (Value, Vec<usize>) {
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
        // No url: a pull webhook, read from its feed.
        let url = Some(self.url.trim()).filter(|u| !u.is_empty());
        let mut body = json!({"url": url, "filters": filters, "customHeaders": headers,
            "ordered": self.ordered, "description": self.description});
        if !self.max_in_flight.is_empty() {
            body["maxInFlight"] = typed_number(self.max_in_flight);
        }
        if !self.max_per_second.is_empty() {
            body["maxPerSecond"] = typed_number(self.max_per_second);
        }
        let auth = self.auth.to_json();
        if let Some(members) = auth.as_object() {
            // Members left empty are left out: an empty secret keeps the stored one.
            let kept: serde_json::Map<String, Value> = members
                .iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            body["auth"] = Value::Object(kept);
        }
        (body, rows)
    }
}

/// Moves `/filters/{i}/…` paths from the API body's numbering to the form's rows.
pub(super) fn to_rows(errors: &[FieldError], rows: &[usize]) -> Vec<FieldError> {
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

pub(super) struct Feedback {
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

/// The webhook form's page; `default_in_flight` is `delivery.max_in_flight_per_webhook`, what a
/// blank "in flight" means.
pub(super) fn webhook_form_page(
    session: &Session,
    apps: &[Application],
    action: &str,
    editing: Option<&Webhook>,
    form: &WebhookForm<'_>,
    fb: &Feedback,
    default_in_flight: u32,
) -> Response {
    let catalog = Catalog::builtin();
    // The filled rows (blank ones sent back are not kept) and a spare; a new webhook starts
    // with three (created, updated and deleted are often all wanted).
    let filled = form
        .rows
        .iter()
        .rposition(|(t, c)| !t.is_empty() || !c.is_empty())
        .map_or(0, |last| last + 1);
    let rows = if editing.is_none() {
        (filled + SPARE_ROWS).max(NEW_ROWS)
    } else {
        filled + SPARE_ROWS
    };
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
                // novalidate: the inline messages say what is wrong; a browser bubble would
                // cover them.
                form.webhook method="post" action=(action) novalidate data-validate="/console/webhooks/validate" data-check-now[editing.is_some()] {
                    (session.csrf_field())
                    @if let Some(h) = editing {
                        input type="hidden" name="app" value=(h.application_id);
                        p.muted { "Application: " (apps.iter().find(|a| a.id == h.application_id).map_or("", |a| a.name.as_str())) " · status " span class=(format!("status {}", h.status.as_str())) { (h.status.as_str()) } }
                        @if h.is_pull() {
                            p.muted { "Pull webhook: its consumer reads " code.feed { (format!("GET /webhooks/v1/applications/{}/webhooks/{}/feed", h.application_id, h.id)) } " with a token that may read it." }
                        }
                    } @else {
                        label { "Application"
                            select name="app" required {
                                @for a in apps { option value=(a.id) selected[a.id.to_string() == form.app] { (a.name) } }
                            }
                        }
                    }
                    label { "Url" input name="url" type="url" value=(form.url) placeholder="https://integration.example/hooks/carerix"; }
                    p.muted { "Leave it empty for a pull webhook: nothing is sent, its consumer reads the notifications from its feed (no inbound port needed, e.g. " code { "cxhooks sync --pull" } "). Set when the webhook is made." }
                    (field_msgs(fb, "/url"))
                    label { "Description (optional)" input name="description" value=(form.description) maxlength="500" placeholder="Candidates to the HireData replica"; }
                    (field_msgs(fb, "/description"))
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
                        p.backtest #backtest aria-live="polite" {}
                        datalist #event-types {
                            @for et in catalog.event_types() { option value=(et.as_str()) {} }
                        }
                    }
                    label { "Custom headers (one " code { "Name: value" } " per line, stored encrypted)"
                        textarea name="custom_headers" rows="2" spellcheck="false" { (form.headers) }
                    }
                    (field_msgs(fb, "/customHeaders"))
                    (auth_fields(&form.auth, fb))
                    fieldset.limits {
                        legend { "Delivery" }
                        p.muted { "Limits apply on each node. Deliveries past the rate wait; they never fail for it." }
                        label { "Most deliveries in flight at once (1 to 1000; empty: the configured " (default_in_flight) ")"
                            input name="max_in_flight" type="number" step="any" inputmode="numeric" value=(form.max_in_flight) placeholder=(default_in_flight);
                        }
                        (field_msgs(fb, "/maxInFlight"))
                        label { "Most deliveries started per second (above 0, e.g. 0.5 for one every two seconds; empty: no limit)"
                            input name="max_per_second" type="number" step="any" inputmode="decimal" value=(form.max_per_second) placeholder="no limit";
                        }
                        (field_msgs(fb, "/maxPerSecond"))
                        label.check {
                            input name="ordered" type="checkbox" value="on" checked[form.ordered];
                            " Ordered: deliveries of one entity one at a time, in change order (a failing one holds back only that entity's later ones)"
                        }
                        (field_msgs(fb, "/ordered"))
                    }
                    p.validity #validity aria-live="polite" {}
                    button type="submit" { @if editing.is_some() { "Save webhook" } @else { "Create webhook" } }
                }
                @if let Some(h) = editing {
                    div.actions {
                        (status_buttons(session, h.application_id, h))
                        form method="post" action=(format!("/console/webhooks/{}/{}/test", h.application_id, h.id)) {
                            (session.csrf_field()) button.secondary type="submit" { "Send test ping" }
                        }
                        a.button.secondary href=(format!("/console/webhooks/{}/{}/recover", h.application_id, h.id)) { "Recover failed deliveries…" }
                        form method="post" action=(format!("/console/webhooks/{}/{}/delete", h.application_id, h.id)) data-confirm="Delete this webhook? Its pending deliveries are cancelled." {
                            (session.csrf_field()) button.danger type="submit" { "Delete" }
                        }
                    }
                }
            }
        },
    )
}

pub(super) fn no_feedback() -> Feedback {
    Feedback {
        detail: None,
        errors: Vec::new(),
        warnings: Vec::new(),
    }
}

pub(super) fn feedback_of(e: &ApiError, rows: &[usize]) -> Feedback {
    let errors = to_rows(e.field_errors(), rows);
    Feedback {
        detail: Some(summary(e.detail(), &errors)),
        errors,
        warnings: Vec::new(),
    }
}

/// Where a problem is, as the form labels it (`/filters/1/condition` → "Filter 2, condition").
fn place(path: &str) -> String {
    fn field(name: &str) -> &str {
        match name {
            "eventType" => "event type",
            other => other,
        }
    }
    if let Some(rest) = path.strip_prefix("/filters/") {
        let (n, tail) = rest.split_once('/').unwrap_or((rest, ""));
        if let Ok(n) = n.parse::<usize>() {
            return if tail.is_empty() {
                format!("Filter {}", n + 1)
            } else {
                format!("Filter {}, {}", n + 1, field(tail))
            };
        }
    }
    match path.split('/').nth(1).unwrap_or("") {
        "url" => "Url".into(),
        "description" => "Description".into(),
        "filters" => "Filters".into(),
        "customHeaders" => "Custom headers".into(),
        "maxInFlight" => "Most deliveries in flight".into(),
        "maxPerSecond" => "Most deliveries per second".into(),
        "ordered" => "Ordered".into(),
        _ => path.to_owned(),
    }
}

/// The banner over the form: how many problems, and the first with its place (each is also
/// shown at its field), instead of the API's "see errors".
pub(super) fn summary(detail: &str, errors: &[FieldError]) -> String {
    match errors {
        [] => detail.to_owned(),
        [only] => format!("1 problem: {}: {}", place(&only.path), only.message),
        [first, rest @ ..] => format!(
            "{} problems; the first: {}: {} (each is shown at its field)",
            rest.len() + 1,
            place(&first.path),
            first.message
        ),
    }
}

/// The authentication fieldset: a method, and the fields of each (secrets never filled in).
fn auth_fields(auth: &AuthForm<'_>, fb: &Feedback) -> Markup {
    let keep = "empty: keep the stored one";
    html! {
        fieldset.auth {
            legend { "Authentication to the receiver" }
            label { "Method"
                select name="auth_type" {
                    option value="" selected[auth.kind.is_empty()] { "None" }
                    option value="oauth2" selected[auth.kind == "oauth2"] { "OAuth2 client credentials" }
                    option value="mtls" selected[auth.kind == "mtls"] { "Client certificate (mutual TLS)" }
                }
            }
            (field_msgs(fb, "/auth"))
            (field_msgs(fb, "/auth/type"))
            p.muted { "OAuth2: a token is fetched from the token URL (client id and secret in HTTP Basic), kept until it expires, and sent as " code { "Authorization: Bearer" } "." }
            label { "Token URL" input name="auth_token_url" type="url" value=(auth.token_url) placeholder="https://login.receiver.example/oauth2/token"; }
            (field_msgs(fb, "/auth/tokenUrl"))
            label { "Client id" input name="auth_client_id" value=(auth.client_id) autocomplete="off"; }
            (field_msgs(fb, "/auth/clientId"))
            label { "Client secret (stored encrypted, never shown; " (keep) ")" input name="auth_client_secret" type="password" value="" autocomplete="new-password"; }
            (field_msgs(fb, "/auth/clientSecret"))
            label { "Scope (optional)" input name="auth_scope" value=(auth.scope); }
            (field_msgs(fb, "/auth/scope"))
            p.muted { "Client certificate: presented in the TLS handshake of an https url." }
            label { "Certificate (PEM, with its chain)" textarea name="auth_certificate" rows="3" spellcheck="false" { (auth.certificate) } }
            (field_msgs(fb, "/auth/certificate"))
            label { "Private key (PEM; stored encrypted, never shown; " (keep) ")" textarea name="auth_private_key" rows="3" spellcheck="false" autocomplete="off" {} }
            (field_msgs(fb, "/auth/privateKey"))
        }
    }
}
