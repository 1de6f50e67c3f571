//! A token from a cxhooks service's own token endpoint (client credentials), for the commands
//! that call its API: `publish`, `erase`, `demo`, `bench`.

/// Where a command that calls a running server's API finds it, and as which client.
#[derive(Debug, clap::Args)]
pub struct ServerClient {
    /// Base URL of the server.
    #[arg(long, env = "CXHOOKS_URL", default_value = "http://127.0.0.1:8480")]
    pub url: String,
    /// The tenant.
    #[arg(long, env = "CXHOOKS_TENANT")]
    pub tenant: String,
    /// Client id of a client with the scope the command needs.
    #[arg(long, env = "CXHOOKS_CLIENT_ID")]
    pub client_id: String,
    /// Its secret.
    #[arg(long, env = "CXHOOKS_CLIENT_SECRET", hide_env_values = true)]
    pub client_secret: String,
}

impl ServerClient {
    /// The base URL without a trailing slash, and a token with `scope`.
    pub async fn token(
        &self,
        http: &reqwest::Client,
        scope: &str,
    ) -> Result<(&str, String), String> {
        let base = self.url.trim_end_matches('/');
        let credentials = (self.client_id.as_str(), self.client_secret.as_str());
        let token = client_token(http, base, &self.tenant, credentials, Some(scope)).await?;
        Ok((base, token))
    }
}

/// An access token for `client_id` of `tenant`, with `scope` if given (else every scope the
/// client has).
pub async fn client_token(
    http: &reqwest::Client,
    url: &str,
    tenant: &str,
    (client_id, secret): (&str, &str),
    scope: Option<&str>,
) -> Result<String, String> {
    let base = url.trim_end_matches('/');
    let mut form = vec![("grant_type", "client_credentials")];
    form.extend(scope.map(|s| ("scope", s)));
    let answer = http
        .post(format!(
            "{base}/auth/realms/{tenant}/protocol/openid-connect/token"
        ))
        .basic_auth(client_id, Some(secret))
        .form(&form)
        .send()
        .await
        .map_err(|e| format!("cannot reach {base}: {e}"))?;
    let status = answer.status();
    let answer: serde_json::Value = answer
        .json()
        .await
        .map_err(|e| format!("the token answer is not JSON: {e}"))?;
    if !status.is_success() {
        return Err(format!(
            "no token ({status}): {}",
            answer["error_description"]
                .as_str()
                .unwrap_or(&answer.to_string())
        ));
    }
    answer["access_token"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| format!("the token endpoint answered {answer}"))
}
