//! The HTTP side: tokens, and the cxhooks endpoints the sync calls.

use crate::check::Failure;
use serde_json::{Value, json};

/// A connection to one tenant of a cxhooks (or Carerix) service.
#[derive(Debug, Clone)]
pub struct Api {
    http: reqwest::Client,
    base: String,
    tenant: String,
    client_id: String,
    client_secret: String,
    token: std::sync::Arc<tokio::sync::Mutex<Option<(String, std::time::Instant)>>>,
}

/// An API error, said for the timeline.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ApiError(pub String);

/// What a problem+json answer says: its `detail` and every one of its `errors` (where, what),
/// so that "see errors" never stands alone; any other answer as it came.
pub fn problem_text(answer: &Value) -> String {
    let Some(detail) = answer["detail"].as_str() else {
        return answer.to_string();
    };
    let errors: Vec<String> = answer["errors"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| {
            let message = e["message"].as_str().unwrap_or_default();
            match e["path"].as_str().filter(|p| !p.is_empty()) {
                Some(path) => format!("{path}: {message}"),
                None => message.to_owned(),
            }
        })
        .collect();
    if errors.is_empty() {
        detail.to_owned()
    } else {
        format!("{detail}: {}", errors.join("; "))
    }
}

impl Api {
    /// A connection; nothing is sent yet.
    pub fn new(base: &str, tenant: &str, client_id: &str, client_secret: &str) -> Self {
        Self {
            http: reqwest::Client::new(),
            base: base.trim_end_matches('/').to_owned(),
            tenant: tenant.to_owned(),
            client_id: client_id.to_owned(),
            client_secret: client_secret.to_owned(),
            token: Default::default(),
        }
    }

    /// The tenant.
    pub fn tenant(&self) -> &str {
        &self.tenant
    }

    /// The client id.
    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    /// Gets a token: (access token, granted scopes).
    pub async fn authenticate(&self) -> Result<(String, String), Failure> {
        let url = format!(
            "{}/auth/realms/{}/protocol/openid-connect/token",
            self.base, self.tenant
        );
        let r = self
            .http
            .post(&url)
            .basic_auth(&self.client_id, Some(&self.client_secret))
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await
            .map_err(|e| Failure::Unreachable(format!("{}: {e}", self.base)))?;
        let status = r.status();
        let body: Value = r.json().await.unwrap_or(Value::Null);
        if !status.is_success() {
            let why = body["error_description"]
                .as_str()
                .unwrap_or("no reason given")
                .to_owned();
            return Err(Failure::Authentication(format!("{status}: {why}")));
        }
        let token = body["access_token"].as_str().unwrap_or_default().to_owned();
        *self.token.lock().await = Some((token.clone(), std::time::Instant::now()));
        Ok((token, body["scope"].as_str().unwrap_or_default().to_owned()))
    }

    async fn bearer(&self) -> Result<String, ApiError> {
        if let Some((t, at)) = self.token.lock().await.as_ref()
            && at.elapsed() < std::time::Duration::from_secs(240)
        {
            return Ok(t.clone());
        }
        self.authenticate()
            .await
            .map(|(t, _)| t)
            .map_err(|e| ApiError(e.to_string()))
    }

    /// Sends a request; answers (status, JSON body).
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<(u16, Value), ApiError> {
        let mut r = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(self.bearer().await?);
        if let Some(b) = body {
            r = r.json(b);
        }
        let r = r
            .send()
            .await
            .map_err(|e| ApiError(format!("{path}: {e}")))?;
        let status = r.status().as_u16();
        Ok((status, r.json().await.unwrap_or(Value::Null)))
    }

    /// Every record of `entity` that `filter` selects, through all pages.
    pub async fn all_records(&self, entity: &str, filter: &str) -> Result<Vec<Value>, ApiError> {
        let mut out = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut query = vec![("filter", filter), ("limit", "500")];
            if let Some(c) = cursor.as_deref() {
                query.push(("cursor", c));
            }
            let query = serde_urlencoded::to_string(&query).expect("text pairs encode");
            let page = self
                .ok(
                    reqwest::Method::GET,
                    &format!("/data/v1/{entity}?{query}"),
                    None,
                )
                .await?;
            out.extend(page["items"].as_array().into_iter().flatten().cloned());
            match page["nextCursor"].as_str() {
                Some(next) => cursor = Some(next.to_owned()),
                None => return Ok(out),
            }
        }
    }

    /// The bytes at `path` (an attachment's file), `None` on 404.
    pub async fn bytes(&self, path: &str) -> Result<Option<Vec<u8>>, ApiError> {
        let r = self
            .http
            .get(format!("{}{path}", self.base))
            .bearer_auth(self.bearer().await?)
            .send()
            .await
            .map_err(|e| ApiError(format!("{path}: {e}")))?;
        match r.status().as_u16() {
            404 => Ok(None),
            200 => Ok(Some(
                r.bytes()
                    .await
                    .map_err(|e| ApiError(format!("{path}: {e}")))?
                    .to_vec(),
            )),
            other => {
                let v: Value = r.json().await.unwrap_or(Value::Null);
                Err(ApiError(format!("{path}: {other} {}", problem_text(&v))))
            }
        }
    }

    /// A call that must succeed.
    pub async fn ok(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Value, ApiError> {
        let (status, v) = self.call(method, path, body).await?;
        if (200..300).contains(&status) {
            Ok(v)
        } else {
            Err(ApiError(format!("{path}: {status} {}", problem_text(&v))))
        }
    }

    /// The application named `name` (created if absent) and its secret.
    pub async fn application(&self, name: &str) -> Result<(String, String), ApiError> {
        let list = self
            .ok(
                reqwest::Method::GET,
                "/webhooks/v1/applications?limit=500",
                None,
            )
            .await?;
        let found = list["items"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|a| a["name"] == name)
            .cloned();
        let app = match found {
            Some(a) => a,
            None => {
                self.ok(
                    reqwest::Method::POST,
                    "/webhooks/v1/applications",
                    Some(&json!({"_kind": "Application", "name": name})),
                )
                .await?
            }
        };
        Ok((
            app["_id"].as_str().unwrap_or_default().to_owned(),
            app["secret"].as_str().unwrap_or_default().to_owned(),
        ))
    }

    /// The application's keys: its JWKS, or (from a service without one) its `secret` alone.
    pub async fn keys(
        &self,
        app: &str,
        secret: &str,
    ) -> Result<cxhooks_consumer::KeySet, ApiError> {
        let path = format!("/webhooks/v1/applications/{app}/jwks");
        match self.call(reqwest::Method::GET, &path, None).await? {
            (200, jwks) => cxhooks_consumer::KeySet::from_jwks(&jwks),
            _ => cxhooks_consumer::KeySet::from_secret(secret),
        }
        .map_err(|e| ApiError(format!("{path}: {e}")))
    }

    /// Makes the application's webhook described `description` deliver to `url` with exactly
    /// `filters`, enabled: the one with that description, else one without a description at
    /// `url` (made by an older sync; it is adopted), else a new one. Answers its id.
    pub async fn webhook(
        &self,
        app: &str,
        description: &str,
        url: Option<&str>,
        filters: &Value,
    ) -> Result<String, ApiError> {
        let path = format!("/webhooks/v1/applications/{app}/webhooks");
        let mut hooks = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let query = match cursor.as_deref() {
                Some(c) => serde_urlencoded::to_string([("limit", "500"), ("cursor", c)]),
                None => serde_urlencoded::to_string([("limit", "500")]),
            }
            .expect("text pairs encode");
            let page = self
                .ok(reqwest::Method::GET, &format!("{path}?{query}"), None)
                .await?;
            hooks.extend(page["items"].as_array().into_iter().flatten().cloned());
            match page["nextCursor"].as_str() {
                Some(next) => cursor = Some(next.to_owned()),
                None => break,
            }
        }
        let body = json!({"_kind": "Webhook", "url": url, "description": description,
            "filters": filters});
        let owned = hooks
            .iter()
            .find(|w| w["description"] == description)
            .or_else(|| {
                hooks.iter().find(|w| {
                    w["description"].is_null() && url.is_some() && w["url"].as_str() == url
                })
            });
        // Pushing or pulling is set when a webhook is made: one of the other kind is replaced.
        let owned = match owned {
            Some(w) if w["url"].is_null() != url.is_none() => {
                let id = w["_id"].as_str().unwrap_or_default();
                let (status, answer) = self
                    .call(reqwest::Method::DELETE, &format!("{path}/{id}"), None)
                    .await?;
                if !(200..300).contains(&status) && status != 404 {
                    return Err(ApiError(format!(
                        "{path}/{id}: {status} {}",
                        problem_text(&answer)
                    )));
                }
                None
            }
            other => other,
        };
        match owned {
            Some(w) => {
                let id = w["_id"].as_str().unwrap_or_default().to_owned();
                self.ok(reqwest::Method::PUT, &format!("{path}/{id}"), Some(&body))
                    .await?;
                if w["status"] != "enabled" {
                    self.ok(reqwest::Method::POST, &format!("{path}/{id}/enable"), None)
                        .await?;
                }
                Ok(id)
            }
            None => Ok(
                self.ok(reqwest::Method::POST, &path, Some(&body)).await?["_id"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_problem_says_every_error() {
        let refused = json!({"type": "urn:cxhooks:problem:invalid", "title": "Invalid",
            "status": 400, "detail": "the webhook has 2 problems: see errors",
            "errors": [
                {"path": "/url", "message": "http://127.0.0.1:8482/ is loopback: refused unless delivery.allow_private_targets"},
                {"path": "/filters/0/condition", "message": "unknown field 'data.x'"}]});
        assert_eq!(
            problem_text(&refused),
            "the webhook has 2 problems: see errors: /url: http://127.0.0.1:8482/ is loopback: \
             refused unless delivery.allow_private_targets; /filters/0/condition: unknown field \
             'data.x'"
        );
        assert_eq!(problem_text(&json!({"detail": "gone"})), "gone");
        assert_eq!(problem_text(&json!({"error": "x"})), r#"{"error":"x"}"#);
    }
}
