//! What a webhook's requests are made of, checked: its url (and an OAuth2 token endpoint's, by
//! the same rules) and its custom headers.

use super::input::{Problems, pointer};
use crate::state::AppState;
use axum::http::{HeaderName, HeaderValue};
use cxhooks_store::CustomHeader;
use serde_json::Value;

/// Name prefixes kept for cxhooks' own headers (`Cx-Signature`, `Cx-Delivery-Hop`, those to
/// come) and for the Standard Webhooks ones (`webhook-id`, `webhook-signature`, …), so that a
/// custom header can never pose as either.
const RESERVED_PREFIXES: [&str; 2] = ["cx-", "webhook-"];

/// Headers cxhooks sets itself, or that would break the request's framing.
const RESERVED_HEADERS: [&str; 14] = [
    "cx-signature",
    "cx-payload-schema-version",
    "content-type",
    "content-length",
    "host",
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// Checks a url deliveries (`/url`) or token requests (`/auth/tokenUrl`, `name` `tokenUrl`)
/// go to: absolute http(s), no credentials, a reachable host that is not this service.
pub(super) fn check_url(
    state: &AppState,
    p: &mut Problems,
    text: &str,
    (path, name): (&str, &str),
) {
    let parsed = match url::Url::parse(text) {
        Ok(u) => u,
        Err(e) => {
            p.add(
                path,
                format!(
                    "'{name}' must be an absolute http or https url, and '{text}' is not one ({e})"
                ),
            );
            return;
        }
    };
    if !matches!(parsed.scheme(), "http" | "https") {
        p.add(
            path,
            format!("'{name}' must use http or https, not '{}'", parsed.scheme()),
        );
        return;
    }
    if text.len() > 2048 {
        p.add(path, format!("'{name}' has at most 2048 characters"));
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        p.add(
            path,
            format!(
                "'{name}' must not carry credentials: send them in customHeaders or auth (they \
                 are stored sealed)"
            ),
        );
    }
    match parsed.host() {
        None => p.add(path, format!("'{name}' has no host")),
        Some(host) if !state.config.delivery.allow_private_targets => {
            if let Some(reason) = crate::net::forbidden_host(&host) {
                p.add(
                    path,
                    format!(
                        "'{name}' points at {reason}, which is not globally reachable: refused \
                         unless the operator sets delivery.allow_private_targets"
                    ),
                );
            }
        }
        Some(_) => {}
    }
    if !state.config.delivery.allow_self_targets
        && let Some(what) = state.own_addresses.find(&parsed)
    {
        p.add(
            path,
            format!(
                "'{name}' points at {what}: its requests would come back in as requests and \
                 publish more without end; refused unless the operator sets \
                 delivery.allow_self_targets"
            ),
        );
    }
}

pub(super) fn check_headers(p: &mut Problems, headers: &[Value]) -> Vec<CustomHeader> {
    let mut out: Vec<CustomHeader> = Vec::new();
    if headers.len() > 32 {
        p.add("/customHeaders", "a webhook has at most 32 custom headers");
    }
    for (i, h) in headers.iter().enumerate() {
        let base = format!("/customHeaders/{i}");
        let Some(map) = p.object(h, &base, "custom header", &["name", "value"]) else {
            continue;
        };
        let name = p.string(map, &base, "name", true);
        let value = p.string(map, &base, "value", true);
        if let Some(name) = name {
            let lower = name.to_ascii_lowercase();
            if HeaderName::from_bytes(name.as_bytes()).is_err() || name.len() > 256 {
                p.add(
                    pointer(&base, "name"),
                    format!("'{name}' is not a valid header name: use letters, digits and - (e.g. Custom-Signature)"),
                );
            } else if RESERVED_HEADERS.contains(&lower.as_str()) {
                p.add(
                    pointer(&base, "name"),
                    format!("'{name}' is reserved: cxhooks sets it itself"),
                );
            } else if RESERVED_PREFIXES.iter().any(|r| lower.starts_with(r)) {
                p.add(
                    pointer(&base, "name"),
                    format!(
                        "'{name}' is reserved: names starting with Cx- (cxhooks' own headers) or \
                         webhook- (Standard Webhooks) cannot be custom headers"
                    ),
                );
            } else if out.iter().any(|h| h.name.eq_ignore_ascii_case(name)) {
                p.add(
                    pointer(&base, "name"),
                    format!("'{name}' is given twice (names are case-insensitive)"),
                );
            }
        }
        if let Some(value) = value
            && (HeaderValue::from_str(value).is_err() || value.len() > 4096)
        {
            p.add(
                pointer(&base, "value"),
                "the value must be printable text without line breaks, at most 4096 bytes",
            );
        }
        if let (Some(name), Some(value)) = (name, value) {
            out.push(CustomHeader {
                name: name.to_owned(),
                value: value.to_owned(),
            });
        }
    }
    out
}
