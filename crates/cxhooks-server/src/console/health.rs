//! The webhooks list's health column: each webhook's success rate over the last hour and day,
//! and its latest attempt's status.

use cxhooks_store::{ApplicationId, Store, TenantName, WebhookHealth};
use maud::{Markup, html};

/// The health of an application's webhooks that were attempted in the last day.
pub async fn of(
    store: &Store,
    tenant: &TenantName,
    app: ApplicationId,
    now_us: i64,
) -> Vec<WebhookHealth> {
    const HOUR: i64 = 3_600_000_000;
    store
        .webhook_health(tenant, app, now_us - 24 * HOUR, now_us - HOUR)
        .await
        .unwrap_or_default()
}

/// `98 % of 50` with the rate marked bad below 95 %, or `none` without attempts.
fn rate(ok: i64, attempts: i64) -> Markup {
    if attempts == 0 {
        return html! { span.muted { "none" } };
    }
    let pct = ok as f64 * 100.0 / attempts as f64;
    let shown = if pct > 99.0 && ok < attempts {
        format!("{pct:.1} %")
    } else {
        format!("{pct:.0} %")
    };
    html! { span class=[(pct < 95.0).then_some("bad")] { (shown) } " of " (attempts) }
}

/// The cell of one webhook.
pub fn cell(health: &[WebhookHealth], webhook: &str) -> Markup {
    let Some(h) = health.iter().find(|h| h.webhook_id == webhook) else {
        return html! { td.health.muted { "no attempts in 24 h" } };
    };
    let last = match h.last_status {
        0 => "no answer".to_owned(),
        code => code.to_string(),
    };
    let ok = (200..300).contains(&h.last_status);
    let at = cxhooks_store::from_micros(h.last_at).format("%Y-%m-%d %H:%M:%S UTC");
    html! {
        td.health {
            div { "hour: " (rate(h.hour_ok, h.hour_attempts)) }
            div { "day: " (rate(h.day_ok, h.day_attempts)) }
            div title=(format!("latest attempt at {at}")) { "last: " span class=[(!ok).then_some("bad")] { (last) } }
        }
    }
}
