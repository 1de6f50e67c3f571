//! Backtesting a webhook's filters: which of the tenant's stored changes they would have
//! matched, with the matcher deliveries are made with ([`Matcher`], each filter filed as its
//! own entry so that each is counted), over the last N changes or a time range. The work is
//! bounded: at most [`MAX_CHANGES`] changes, read a page at a time, and [`TIME_LIMIT`] of
//! matching, after which the answer says it is partial.

use crate::delivery::registry::compile_filter;
use crate::error::{ApiError, FieldError};
use crate::state::AppState;
use chrono::{DateTime, Utc};
use cxhooks_catalog::Catalog;
use cxhooks_condition::{Change, Matcher};
use cxhooks_store::{ChangePage, Filter, TenantName};
use serde::Serialize;
use std::time::{Duration, Instant};
use utoipa::ToSchema;

/// The most changes one backtest examines.
pub const MAX_CHANGES: u32 = 100_000;
/// How many changes a backtest examines when neither a number nor a range is given.
pub const DEFAULT_CHANGES: u32 = 1_000;
/// The most matching changes an answer lists.
pub const MAX_SAMPLE: usize = 100;
/// How long one backtest may read and match before it answers with what it has.
pub const TIME_LIMIT: Duration = Duration::from_secs(10);
/// Changes read per statement.
const PAGE: u32 = 1_000;

/// Which changes to examine: the newest `last` accepted in `[since, until)`.
#[derive(Debug, Clone, Copy)]
pub struct Window {
    /// At most this many (1 to [`MAX_CHANGES`]).
    pub last: u32,
    /// Accepted at or after.
    pub since: Option<DateTime<Utc>>,
    /// Accepted before.
    pub until: Option<DateTime<Utc>>,
    /// How many matching changes to list (0 to [`MAX_SAMPLE`]).
    pub sample: usize,
}

/// Which changes a backtest examines, as the query gives them.
#[derive(Debug, Default, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct BacktestQuery {
    /// The newest this many changes: 1 to 100000; default 1000, or 100000 with `since` or
    /// `until`.
    #[param(value_type = Option<u32>, minimum = 1, maximum = 100000)]
    pub last: Option<String>,
    /// Only changes accepted at or after (RFC 3339).
    pub since: Option<String>,
    /// Only changes accepted before (RFC 3339).
    pub until: Option<String>,
    /// How many matching changes to list, 0 to 100; default 10.
    #[param(value_type = Option<u32>, minimum = 0, maximum = 100)]
    pub sample: Option<String>,
}

impl BacktestQuery {
    /// The window asked for, or a 400 naming the parameter.
    pub fn window(&self) -> Result<Window, ApiError> {
        use super::list::bad;
        let time = |path: &str, value: &Option<String>| {
            super::deliveries::time_param(path, value.as_deref())
                .map(|t| t.and_then(DateTime::from_timestamp_micros))
        };
        let (since, until) = (time("?since", &self.since)?, time("?until", &self.until)?);
        if let (Some(s), Some(u)) = (since, until)
            && u <= s
        {
            return Err(bad("?until", "'until' must be after 'since'".into()));
        }
        let whole = |path: &str, text: &str, max: u32, min: u32| {
            text.parse::<u32>()
                .ok()
                .filter(|n| (min..=max).contains(n))
                .ok_or_else(|| {
                    bad(
                        path,
                        format!(
                            "'{text}' is not a whole number from {min} to {}",
                            grouped(max.into())
                        ),
                    )
                })
        };
        let ranged = since.is_some() || until.is_some();
        let last = match &self.last {
            Some(text) => whole("?last", text, MAX_CHANGES, 1)?,
            None if ranged => MAX_CHANGES,
            None => DEFAULT_CHANGES,
        };
        let sample = match &self.sample {
            Some(text) => whole("?sample", text, MAX_SAMPLE as u32, 0)? as usize,
            None => 10,
        };
        Ok(Window {
            last,
            since,
            until,
            sample,
        })
    }
}

/// A filter's share of the matches.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct FilterCount {
    /// The filter's event type.
    pub event_type: String,
    /// Its condition, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub condition: Option<String>,
    /// How many of the examined changes it matched.
    pub matched: u64,
}

/// A change the filters matched.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MatchedChange {
    /// The change's id (`?changeId=` of the request log).
    pub change_id: uuid::Uuid,
    /// `{entity}:{action}`.
    #[serde(rename = "type")]
    pub event_type: String,
    /// The record's id.
    pub entity_id: String,
    /// When it was accepted (RFC 3339).
    pub time: String,
    /// Its changed paths (`changedFields` of the notification it would have made).
    pub changed_fields: Vec<String>,
    /// Which filters matched it, by position.
    pub filters: Vec<usize>,
}

/// What a backtest found.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Backtest {
    /// How many stored changes were examined.
    pub examined: u64,
    /// How many of them at least one filter matched: the deliveries the webhook would have had.
    pub matched: u64,
    /// False when the time limit stopped it before every change asked for was examined.
    pub complete: bool,
    /// The oldest examined change's time (RFC 3339), if any.
    #[schema(nullable = true)]
    pub oldest: Option<String>,
    /// The newest examined change's time (RFC 3339), if any.
    #[schema(nullable = true)]
    pub newest: Option<String>,
    /// Per filter, in the webhook's order.
    pub filters: Vec<FilterCount>,
    /// The newest matching changes, at most `sample`.
    pub sample: Vec<MatchedChange>,
    /// The outcome in a sentence: "Would have matched 37 of the last 1,000 changes."
    pub summary: String,
}

/// The filters of a webhook body (`POST …/webhooks/backtest`), checked as a webhook's are;
/// the body's other members (a whole webhook may be sent) are accepted and not read.
pub fn filters_of(
    state: &AppState,
    value: &serde_json::Value,
    ext: &super::additional::Extensions,
) -> Result<(Vec<Filter>, Vec<FieldError>), ApiError> {
    use super::webhook_in::{FIELDS, READ_ONLY, check_filters};
    let mut p = super::input::Problems::default();
    let allowed: Vec<&str> = FIELDS.iter().chain(&READ_ONLY).copied().collect();
    let mut filters = Vec::new();
    if let Some(map) = p.object(value, "", "Webhook", &allowed)
        && let Some(given) = p.array(map, "", "filters", true)
    {
        filters = check_filters(state, &mut p, given, ext);
    }
    p.finish("webhook")?;
    Ok((filters, p.warnings))
}

/// `n` with thousands separated: 1,000.
pub fn grouped(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn rfc3339_us(us: i64) -> String {
    DateTime::from_timestamp_micros(us)
        .map(super::rfc3339)
        .unwrap_or_default()
}

/// Runs `filters` (checked already) over `tenant`'s stored changes in `window`.
pub async fn run(
    state: &AppState,
    tenant: &TenantName,
    filters: &[Filter],
    window: Window,
) -> Result<Backtest, ApiError> {
    let started = Instant::now();
    let mut matcher: Matcher<(), usize> = Matcher::new();
    for (i, f) in filters.iter().enumerate() {
        if let Ok(compiled) = compile_filter(f) {
            matcher.insert((), i, [compiled]);
        }
    }
    let catalog = Catalog::builtin();
    let mut counts = vec![0u64; filters.len()];
    let (mut examined, mut matched, mut complete) = (0u64, 0u64, true);
    let (mut oldest, mut newest) = (None, None);
    let mut sample = Vec::new();
    let mut page = ChangePage {
        since: window.since.map_or(0, |t| t.timestamp_micros()),
        until: window.until.map_or(i64::MAX / 2, |t| t.timestamp_micros()),
        before: None,
        limit: PAGE,
    };
    let mut hits = Vec::new();
    while examined < u64::from(window.last) {
        if started.elapsed() >= TIME_LIMIT {
            complete = false;
            break;
        }
        page.limit = PAGE.min(window.last - examined as u32);
        let changes = state.store.stored_changes(tenant, page).await?;
        let Some(last) = changes.last() else { break };
        page.before = Some(last.id);
        let full = changes.len() == page.limit as usize;
        for c in &changes {
            examined += 1;
            newest.get_or_insert(c.accepted_at);
            oldest = Some(c.accepted_at);
            // A change of a type the catalog no longer has matches nothing.
            let Ok(event_type) = catalog.parse_event_type(&c.event_type) else {
                continue;
            };
            let change = Change::new(&event_type, &c.entity_id, &c.body.data, &c.body.paths)
                .with_groups(&c.body.groups_added, &c.body.groups_removed);
            hits.clear();
            hits.extend(matcher.matching(&(), &change).copied());
            if hits.is_empty() {
                continue;
            }
            hits.sort_unstable();
            matched += 1;
            for &i in &hits {
                counts[i] += 1;
            }
            if sample.len() < window.sample {
                sample.push(MatchedChange {
                    change_id: c.id.uuid(),
                    event_type: c.event_type.clone(),
                    entity_id: c.entity_id.clone(),
                    time: rfc3339_us(c.accepted_at),
                    changed_fields: c.body.paths.clone(),
                    filters: hits.clone(),
                });
            }
        }
        if !full {
            break;
        }
        // A page is a few milliseconds of matching: let other tasks run between pages.
        tokio::task::yield_now().await;
    }
    let summary = summary(examined, matched, complete, window);
    Ok(Backtest {
        examined,
        matched,
        complete,
        oldest: oldest.map(rfc3339_us),
        newest: newest.map(rfc3339_us),
        filters: filters
            .iter()
            .zip(counts)
            .map(|(f, matched)| FilterCount {
                event_type: f.event_type.clone(),
                condition: f.condition.clone(),
                matched,
            })
            .collect(),
        sample,
        summary,
    })
}

fn summary(examined: u64, matched: u64, complete: bool, window: Window) -> String {
    let changes = if examined == 1 { "change" } else { "changes" };
    let mut text = if examined == 0 {
        "No stored changes to test against yet: changes are kept from this release on, for \
         retention.changes."
            .to_owned()
    } else if window.since.is_some() || window.until.is_some() {
        format!(
            "Would have matched {} of the {} {changes} in the range.",
            grouped(matched),
            grouped(examined)
        )
    } else if examined == 1 {
        format!(
            "Would have matched {} of the last change.",
            grouped(matched)
        )
    } else {
        format!(
            "Would have matched {} of the last {} changes.",
            grouped(matched),
            grouped(examined)
        )
    };
    if !complete {
        text.push_str(&format!(
            " Stopped after {} s: narrow the range for a complete count.",
            TIME_LIMIT.as_secs()
        ));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::grouped;

    #[test]
    fn numbers_are_grouped_by_thousands() {
        assert_eq!(grouped(0), "0");
        assert_eq!(grouped(999), "999");
        assert_eq!(grouped(1_000), "1,000");
        assert_eq!(grouped(100_000), "100,000");
        assert_eq!(grouped(1_234_567), "1,234,567");
    }
}
