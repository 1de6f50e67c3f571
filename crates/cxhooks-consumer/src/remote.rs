//! [`RemoteKeys`]: an application's keys fetched from its JWKS URL (the public one an
//! application opts into, `jwksUrl`) and cached: for `Cache-Control: max-age` (at most an
//! hour; 5 minutes without one; never less than [`RemoteKeys::REFETCH_AFTER`]), and fetched
//! again at once for a key id the cache does not hold (a rotation). Fetches run one at a time
//! and at most once per [`RemoteKeys::REFETCH_AFTER`], failed ones included, so that requests
//! naming unknown keys, or a JWKS URL that is down, cannot make every request fetch.

use crate::{KeySet, VerifyError};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Keys fetched from a JWKS URL and cached.
#[derive(Debug)]
pub struct RemoteKeys {
    url: String,
    http: reqwest::Client,
    state: Mutex<State>,
    /// Held while fetching: one fetch at a time.
    fetching: tokio::sync::Mutex<()>,
}

#[derive(Debug, Default)]
struct State {
    cached: Option<Cached>,
    /// When the last fetch started, whether it worked or not.
    attempted: Option<Instant>,
}

#[derive(Debug, Clone)]
struct Cached {
    keys: KeySet,
    fetched: Instant,
    fresh_for: Duration,
}

/// Why the keys could not be had, or a delivery did not verify.
#[derive(Debug, thiserror::Error)]
pub enum RemoteError {
    /// The JWKS URL did not answer a JWKS.
    #[error("fetching the JWKS at {url} failed: {why}")]
    Fetch {
        /// The URL.
        url: String,
        /// What went wrong.
        why: String,
    },
    /// The delivery did not verify with the fetched keys.
    #[error(transparent)]
    Verify(#[from] VerifyError),
}

impl RemoteKeys {
    /// The soonest an unknown key id fetches the JWKS again: a rotation's new key is found
    /// within it, and forged key ids cost the JWKS at most one request each.
    pub const REFETCH_AFTER: Duration = Duration::from_secs(1);
    /// How long keys are kept without `Cache-Control: max-age`.
    pub const DEFAULT_FRESH: Duration = Duration::from_secs(300);
    /// The longest keys are kept, whatever `max-age` says.
    pub const MAX_FRESH: Duration = Duration::from_secs(3600);

    /// Keys from `url` (an `https` URL, or `http` on loopback), fetched on first use.
    pub fn new(url: impl Into<String>) -> Self {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .expect("an HTTP client without custom settings");
        Self {
            url: url.into(),
            http,
            state: Mutex::new(State::default()),
            fetching: tokio::sync::Mutex::new(()),
        }
    }

    /// Checks `Cx-Signature` over `body` with the key `kid` names (`Cx-Signature-Key-Id`), or
    /// with any key of the set when the delivery names none.
    pub async fn verify(
        &self,
        kid: Option<&str>,
        body: &[u8],
        signature: &str,
    ) -> Result<(), RemoteError> {
        let keys = self.keys_for(kid).await?;
        match kid {
            Some(kid) => keys.verify(kid, body, signature)?,
            None => keys.verify_any(body, signature)?,
        }
        Ok(())
    }

    /// The key set, from the cache while fresh and holding `kid`; fetched otherwise, unless a
    /// fetch started less than [`Self::REFETCH_AFTER`] ago (then the keys it got, or its
    /// error).
    pub async fn keys_for(&self, kid: Option<&str>) -> Result<KeySet, RemoteError> {
        if let Some(keys) = self.cached_for(kid) {
            return Ok(keys);
        }
        let _one = self.fetching.lock().await;
        // Another request may have fetched while this one waited.
        if let Some(keys) = self.cached_for(kid) {
            return Ok(keys);
        }
        {
            let mut state = self.state.lock().expect("lock");
            if state
                .attempted
                .is_some_and(|at| at.elapsed() < Self::REFETCH_AFTER)
            {
                return match &state.cached {
                    Some(c) => Ok(c.keys.clone()),
                    None => Err(RemoteError::Fetch {
                        url: self.url.clone(),
                        why: "the last fetch, less than a second ago, failed".into(),
                    }),
                };
            }
            state.attempted = Some(Instant::now());
        }
        let fetched = self.fetch().await?;
        let keys = fetched.keys.clone();
        self.state.lock().expect("lock").cached = Some(fetched);
        Ok(keys)
    }

    /// The cached keys, if fresh and holding `kid`.
    fn cached_for(&self, kid: Option<&str>) -> Option<KeySet> {
        let state = self.state.lock().expect("lock");
        let c = state.cached.as_ref()?;
        let fresh = c.fetched.elapsed() < c.fresh_for.max(Self::REFETCH_AFTER);
        (fresh && kid.is_none_or(|k| c.keys.has(k))).then(|| c.keys.clone())
    }

    async fn fetch(&self) -> Result<Cached, RemoteError> {
        let fail = |why: String| RemoteError::Fetch {
            url: self.url.clone(),
            why,
        };
        let answer = self
            .http
            .get(&self.url)
            .header("Accept", "application/json")
            .send()
            .await
            .map_err(|e| fail(e.to_string()))?;
        let status = answer.status();
        if !status.is_success() {
            return Err(fail(format!("it answered {status}")));
        }
        let fresh_for = answer
            .headers()
            .get(reqwest::header::CACHE_CONTROL)
            .and_then(|v| v.to_str().ok())
            .and_then(max_age)
            .map_or(Self::DEFAULT_FRESH, |s| {
                Duration::from_secs(s).min(Self::MAX_FRESH)
            });
        let jwks: serde_json::Value = answer.json().await.map_err(|e| fail(e.to_string()))?;
        let keys = KeySet::from_jwks(&jwks).map_err(|e| fail(e.to_string()))?;
        Ok(Cached {
            keys,
            fetched: Instant::now(),
            fresh_for,
        })
    }
}

/// `max-age` of a `Cache-Control` value, unless `no-store` or `no-cache` says not to keep it.
fn max_age(value: &str) -> Option<u64> {
    let mut age = None;
    for part in value.split(',').map(str::trim) {
        let lower = part.to_ascii_lowercase();
        if lower == "no-store" || lower == "no-cache" {
            return Some(0);
        }
        if let Some(n) = lower.strip_prefix("max-age=") {
            age = n.trim_matches('"').parse().ok();
        }
    }
    age
}

#[cfg(test)]
mod tests {
    use super::max_age;

    #[test]
    fn max_age_is_read_from_cache_control() {
        assert_eq!(max_age("public, max-age=60"), Some(60));
        assert_eq!(max_age("max-age=\"30\""), Some(30));
        assert_eq!(max_age("no-store"), Some(0));
        assert_eq!(max_age("public"), None);
    }
}
