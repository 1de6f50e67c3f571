//! A webhook as a caller writes it, checked whole: the url (scheme, SSRF guard, this service
//! itself), every filter against the catalog (its condition compiled against the entity's
//! fields, or at least parsed when the event type is unusable), the custom headers against
//! HTTP's rules and the names cxhooks reserves, and the delivery limits against their bounds.
//! Every problem is reported at once.

use super::input::{Problems, pointer};
use super::request_in::{check_headers, check_url};
use crate::error::{ApiError, FieldError};
use crate::state::AppState;
use cxhooks_catalog::Catalog;
use cxhooks_store::{CustomHeader, Filter, MaxInFlight, MaxPerSecond};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

/// A filter as written in requests and answers.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FilterDoc {
    /// `{entity}:{created|updated|deleted}`, e.g. `cremployee:updated`.
    pub event_type: String,
    /// Optional condition in the filter language, e.g. `data.tostatusnode eq '1234'`.
    pub condition: Option<String>,
}

/// A custom header as written in requests and answers.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HeaderDoc {
    /// Header name: not `Content-Type`, a hop-by-hop header, nor any `Cx-*` or `webhook-*` name.
    pub name: String,
    /// Header value.
    pub value: String,
}

/// A webhook as written by a caller (`POST`/`PUT`; `PATCH` takes any part of it): filters are
/// checked against the event-type catalog, headers against HTTP's rules.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookIn {
    /// `Webhook` if given (may be left out, not `null`).
    #[serde(rename = "_kind")]
    #[schema(nullable = false, required = false, value_type = String, pattern = "^Webhook$")]
    pub kind: Option<String>,
    /// `push` or `pull`; optional, it follows `url` (given: push; absent: pull) and must agree
    /// with it. Set when the webhook is created.
    #[serde(default)]
    #[schema(value_type = Option<String>, pattern = "^(push|pull)$")]
    pub mode: Option<String>,
    /// Absolute `http`/`https` url deliveries are sent to. Absent or null: a pull webhook,
    /// whose deliveries are kept for its consumer to read from
    /// `…/webhooks/{webhookId}/feed` (no inbound port needed). Whether a webhook pulls is set
    /// when it is created.
    #[serde(default)]
    #[schema(value_type = Option<String>, example = "https://integration.example/hooks/carerix")]
    pub url: String,
    /// What the webhook is for, at most 500 characters without control characters. Absent,
    /// null or blank: none. A tool may find the webhook it owns by it (`cxhooks sync` owns the
    /// one described `cxhooks-sync:{replicaId}:{entity}`).
    #[serde(default)]
    #[schema(max_length = 500, example = "Candidates to the HireData replica")]
    pub description: Option<String>,
    /// At least one filter (at most `limits.max_filters_per_webhook`).
    #[schema(value_type = Vec<FilterDoc>)]
    pub filters: Vec<Filter>,
    /// Headers sent with every delivery.
    #[serde(rename = "customHeaders", default)]
    #[schema(value_type = Option<Vec<HeaderDoc>>)]
    pub custom_headers: Vec<CustomHeader>,
    /// At most this many of its deliveries in flight at once, 1 to 1000. Absent or null: the
    /// configured `delivery.max_in_flight_per_webhook` (16 unless configured). Enforced per node.
    #[serde(rename = "maxInFlight", default)]
    #[schema(value_type = Option<u32>, minimum = 1, maximum = 1000, example = 4)]
    pub max_in_flight: Option<MaxInFlight>,
    /// At most this many of its deliveries started per second: above 0 (0.5 is one every two
    /// seconds), at most 100000. Absent or null: no limit. Deliveries past the rate wait, they
    /// never fail for it. Enforced per node.
    #[serde(rename = "maxPerSecond", default)]
    #[schema(value_type = Option<f64>, exclusive_minimum = 0, maximum = 100000, example = 0.5)]
    pub max_per_second: Option<MaxPerSecond>,
    /// Per-entity order: deliveries of one entity (the change's entity and `entityId`) are sent
    /// one at a time in the order their changes were accepted, and a failing one holds back only
    /// the later ones of the same entity. Absent or null: false.
    #[serde(default)]
    #[schema(value_type = Option<bool>, default = false)]
    pub ordered: bool,
    /// How deliveries authenticate to the receiver: OAuth2 client credentials or a client
    /// certificate (secrets sealed at rest, never shown). Absent or null: none.
    #[serde(default)]
    pub auth: Option<super::auth_in::AuthIn>,
}

pub(super) const FIELDS: [&str; 10] = [
    "_kind",
    "auth",
    "url",
    "mode",
    "description",
    "filters",
    "customHeaders",
    "maxInFlight",
    "maxPerSecond",
    "ordered",
];
pub(super) const READ_ONLY: [&str; 8] = [
    "_id",
    "feedUrl",
    "applicationId",
    "status",
    "_createdAt",
    "_createdBy",
    "_updatedAt",
    "_updatedBy",
];

pub(super) fn check_filters(
    state: &AppState,
    p: &mut Problems,
    filters: &[Value],
    ext: &super::additional::Extensions,
) -> Vec<Filter> {
    // The tenant's additional fields are fields of their entities for these checks.
    let extended;
    let catalog = if ext.fields.is_empty() {
        Catalog::builtin()
    } else {
        extended = super::additional::catalog_with(&ext.fields);
        &extended
    };
    let max = state.config.limits.max_filters_per_webhook as usize;
    if filters.is_empty() {
        p.add(
            "/filters",
            "a webhook needs at least one filter, e.g. {\"eventType\": \"cremployee:updated\"}",
        );
    }
    if filters.len() > max {
        p.add(
            "/filters",
            format!(
                "a webhook has at most {max} filters, this one has {}",
                filters.len()
            ),
        );
    }
    let mut out = Vec::new();
    for (i, f) in filters.iter().enumerate() {
        let base = format!("/filters/{i}");
        let Some(map) = p.object(f, &base, "filter", &["eventType", "condition"]) else {
            continue;
        };
        let event_type = p.string(map, &base, "eventType", true).and_then(|text| {
            catalog
                .parse_event_type(text)
                .map_err(|e| p.add(pointer(&base, "eventType"), e.to_string()))
                .ok()
        });
        let condition = p
            .string(map, &base, "condition", false)
            .filter(|c| !c.trim().is_empty());
        // With an unusable event type that still names an entity (`cremployee:updatd`), the
        // condition is checked against that entity's fields all the same; with none, its own
        // problems (syntax, `metadata.*` names) are.
        let entity = match &event_type {
            Some(event_type) => Some(event_type.entity()),
            None => map
                .get("eventType")
                .and_then(Value::as_str)
                .and_then(|t| t.split(':').next())
                .filter(|e| catalog.entity(e).is_some()),
        };
        if let Some(text) = condition {
            let checked = match entity {
                Some(entity) => cxhooks_condition::compile(text, catalog, entity).map(|(_, w)| w),
                None => cxhooks_condition::check_without_entity(text).map(|()| Vec::new()),
            };
            match checked {
                Ok(warnings) => {
                    for w in warnings {
                        p.warn(
                            pointer(&base, "condition"),
                            format!("column {}: {w}", w.column()),
                        );
                    }
                    for e in entity
                        .map(|e| super::additional::type_errors(text, e, &ext.fields))
                        .unwrap_or_default()
                        .into_iter()
                        .chain(super::groups::label_errors(text, &ext.groups))
                    {
                        p.add(pointer(&base, "condition"), e);
                    }
                }
                Err(errors) => {
                    for e in errors {
                        p.add(pointer(&base, "condition"), e.to_string());
                    }
                }
            }
        }
        if let Some(event_type) = event_type {
            out.push(Filter {
                event_type: event_type.as_str().to_owned(),
                condition: condition.map(str::to_owned),
            });
        }
    }
    out
}

/// `description`: at most 500 characters, none of them control characters; blank is none.
fn check_description(p: &mut Problems, text: &str) -> Option<String> {
    let count = text.chars().count();
    if count > 500 {
        p.add(
            "/description",
            format!("'description' has at most 500 characters, not {count}: shorten it"),
        );
    }
    if let Some(c) = text.chars().find(|c| c.is_control()) {
        p.add(
            "/description",
            format!(
                "'description' is one line of text: remove the control character {:?}",
                c
            ),
        );
    }
    let trimmed = text.trim();
    (!trimmed.is_empty()).then(|| trimmed.to_owned())
}

/// `maxInFlight`: a whole number within [`MaxInFlight`]'s bounds, or nothing (`default` is the
/// configured one, named in the messages).
fn check_max_in_flight(
    p: &mut Problems,
    map: &serde_json::Map<String, Value>,
    default: u32,
) -> Option<MaxInFlight> {
    let (min, max) = (MaxInFlight::MIN, MaxInFlight::MAX);
    let expected = format!(
        "a whole number from {min} to {max} (or null for the configured default, {default})"
    );
    let n = p.number(map, "", "maxInFlight", &expected)?;
    // 4.0 is the integer 4, as JSON Schema has it.
    let value = n.as_f64().unwrap_or(f64::NAN);
    if value.fract() != 0.0 {
        p.add(
            "/maxInFlight",
            format!("'maxInFlight' must be {expected}, not {n}"),
        );
        return None;
    }
    let limit = (f64::from(min)..=f64::from(max))
        .contains(&value)
        .then(|| MaxInFlight::new(value as u32).ok())
        .flatten();
    if limit.is_none() {
        p.add(
            "/maxInFlight",
            format!(
                "'maxInFlight' is {min} to {max} deliveries in flight at once, not {n}: send \
                 null (or leave it out) for the configured default, {default}"
            ),
        );
    }
    limit
}

/// `maxPerSecond`: a number above 0 and at most [`MaxPerSecond::MAX`], or nothing.
fn check_max_per_second(
    p: &mut Problems,
    map: &serde_json::Map<String, Value>,
) -> Option<MaxPerSecond> {
    let max = MaxPerSecond::MAX;
    let expected = format!("a number above 0 and at most {max} (or null for no limit)");
    let n = p.number(map, "", "maxPerSecond", &expected)?;
    let rate = n.as_f64().unwrap_or(f64::NAN);
    match MaxPerSecond::new(rate) {
        Ok(limit) => Some(limit),
        Err(_) if rate > max => {
            p.add(
                "/maxPerSecond",
                format!(
                    "'maxPerSecond' is at most {max} deliveries a second, not {n}: send null (or \
                     leave it out) for no limit"
                ),
            );
            None
        }
        Err(_) => {
            p.add(
                "/maxPerSecond",
                format!(
                    "'maxPerSecond' must be above 0, not {n}: a fraction is slower than one a \
                     second (0.5 is one every two seconds); send null (or leave it out) for no \
                     limit"
                ),
            );
            None
        }
    }
}

impl WebhookIn {
    /// Validates a whole webhook representation, reporting every problem at once; `current`
    /// is the stored one for PUT and PATCH, whose read-only fields may be sent back unchanged.
    /// Returns the input and the warnings that did not prevent it. Conditions are checked
    /// against the catalog with the tenant's additional fields, and their group labels against
    /// its groups (`ext`).
    pub fn check(
        state: &AppState,
        value: &Value,
        current: Option<&Value>,
        ext: &super::additional::Extensions,
    ) -> Result<(Self, Vec<FieldError>), ApiError> {
        let mut p = Problems::default();
        let mut allowed = FIELDS.to_vec();
        if current.is_some() {
            allowed.extend(READ_ONLY);
        }
        let mut valid = WebhookIn {
            kind: Some("Webhook".into()),
            url: String::new(),
            auth: None,
            mode: None,
            description: None,
            filters: Vec::new(),
            custom_headers: Vec::new(),
            max_in_flight: None,
            max_per_second: None,
            ordered: false,
        };
        if let Some(map) = p.object(value, "", "Webhook", &allowed) {
            p.kind(map, "Webhook");
            if let Some(current) = current.and_then(Value::as_object) {
                p.unchanged(map, current, &READ_ONLY);
            }
            if let Some(url) = p.string(map, "", "url", false) {
                check_url(state, &mut p, url, ("/url", "url"));
                valid.url = url.to_owned();
            }
            let pulls =
                |v: &serde_json::Map<String, Value>| v.get("url").is_none_or(Value::is_null);
            if let Some(mode) = p.string(map, "", "mode", false) {
                match (mode, pulls(map)) {
                    ("pull", true) | ("push", false) => {}
                    ("pull", false) => p.add(
                        "/mode",
                        "'mode' is pull: a pull webhook has no url; leave 'url' out",
                    ),
                    ("push", true) => p.add("/mode", "'mode' is push: give the 'url' to push to"),
                    (other, _) => p.add("/mode", format!("'mode' is push or pull, not '{other}'")),
                }
            }
            if let Some(current) = current.and_then(Value::as_object)
                && pulls(current) != pulls(map)
            {
                p.add(
                    "/url",
                    if pulls(current) {
                        "this is a pull webhook (no url): whether a webhook pulls is set when it \
                         is created; create a webhook with a url instead"
                    } else {
                        "'url' is required: this webhook pushes to a url; a pull webhook (no \
                         url) is created as one"
                    },
                );
            }
            if let Some(auth) = map.get("auth").filter(|v| !v.is_null()) {
                let url = (!pulls(map)).then_some(valid.url.as_str());
                valid.auth = super::auth_in::check(state, &mut p, auth, url, check_url);
            }
            if let Some(text) = p.string(map, "", "description", false) {
                valid.description = check_description(&mut p, text);
            }
            if let Some(filters) = p.array(map, "", "filters", true) {
                valid.filters = check_filters(state, &mut p, filters, ext);
            }
            if let Some(headers) = p.array(map, "", "customHeaders", false) {
                valid.custom_headers = check_headers(&mut p, headers);
                if pulls(map) && !headers.is_empty() {
                    p.add(
                        "/customHeaders",
                        "a pull webhook (no url) sends no request, so custom headers would go \
                         nowhere: leave them out, or give a url",
                    );
                }
            }
            if valid.auth.as_ref().is_some_and(|a| a.kind == "oauth2")
                && valid
                    .custom_headers
                    .iter()
                    .any(|h| h.name.eq_ignore_ascii_case("authorization"))
            {
                p.add(
                    "/customHeaders",
                    "an OAuth2 webhook sends its own Authorization header (the bearer token): \
                     leave Authorization out of customHeaders",
                );
            }
            let default = state.config.delivery.max_in_flight_per_webhook;
            valid.max_in_flight = check_max_in_flight(&mut p, map, default);
            valid.max_per_second = check_max_per_second(&mut p, map);
            valid.ordered = p.boolean(map, "", "ordered").unwrap_or(false);
        }
        p.finish("webhook")?;
        Ok((valid, p.warnings))
    }
}
