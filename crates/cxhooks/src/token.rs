//! A token from a cxhooks service's own token endpoint (client credentials), for the commands
//! that call its API: `publish`, `demo`, `bench`.

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
