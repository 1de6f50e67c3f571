//! The bearer-token check every protected endpoint uses.
//!
//! A handler takes a [`Principal`] argument and calls [`Principal::require`] with the scope it
//! needs: an absent, expired or forged token never reaches the handler (401), and a token
//! without the scope gets a 403 that names the missing scope and the scopes it has.

use super::standing::Standing;
use super::tokens::TokenError;
use crate::error::ApiError;
use crate::state::AppState;
use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use chrono::{DateTime, Utc};
use cxhooks_store::{Scope, ScopeSet, TenantName};

/// Who is calling: a client of a tenant, with the scopes its token grants.
#[derive(Debug, Clone)]
pub struct Principal {
    /// The tenant every object this request touches must belong to.
    pub tenant: TenantName,
    /// The calling client.
    pub client_id: String,
    /// Scopes granted by the token.
    pub scopes: ScopeSet,
    /// When the token expires.
    pub expires_at: DateTime<Utc>,
    /// The tenant's webhooks feature was turned off after the token was issued: the scopes that
    /// need it are no longer granted.
    pub webhooks_off: bool,
    /// Set when a console operator acts (signed in with a password, not a token): the operator
    /// has every scope and the whole permission matrix of its tenant.
    pub operator: Option<String>,
}

impl Principal {
    /// Succeeds if the token grants `needed` (directly or through a broader scope).
    pub fn require(&self, needed: Scope) -> Result<(), ApiError> {
        if self.webhooks_off && needed.needs_webhooks_feature() {
            return Err(ApiError::forbidden(format!(
                "the webhooks feature of tenant '{}' is turned off: this request needs {}, which it \
                 grants only while the feature is on (cxhooks tenant set {} --webhooks on)",
                self.tenant,
                needed.as_str(),
                self.tenant
            )));
        }
        if self.scopes.grants(needed) {
            Ok(())
        } else {
            Err(ApiError::insufficient_scope(
                &[needed.as_str()],
                &self.scopes.to_strings(),
            ))
        }
    }

    /// Succeeds if the token grants any of `needed`. The 403 lists them all and names as the
    /// one to add the first that implies none of the others: the narrowest that grants the
    /// request.
    pub fn require_any(&self, needed: &[Scope]) -> Result<(), ApiError> {
        if needed.iter().any(|s| self.scopes.grants(*s)) {
            return Ok(());
        }
        let narrowest = needed
            .iter()
            .position(|s| !needed.iter().any(|o| o != s && s.implies(*o)))
            .unwrap_or(0);
        let mut names: Vec<_> = needed.iter().map(|s| s.as_str()).collect();
        let first = names.remove(narrowest);
        names.insert(0, first);
        Err(ApiError::insufficient_scope(
            &names,
            &self.scopes.to_strings(),
        ))
    }

    /// Succeeds if the request's tenant (in a path or body) is the token's; 403 otherwise.
    pub fn require_tenant(&self, tenant: &str) -> Result<(), ApiError> {
        if self.tenant.as_str() == tenant {
            Ok(())
        } else {
            Err(ApiError::forbidden(format!(
                "this token was issued for tenant '{}' and cannot act for tenant '{tenant}'",
                self.tenant
            )))
        }
    }
}

impl FromRequestParts<AppState> for Principal {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let Some(value) = parts.headers.get(AUTHORIZATION) else {
            return Err(ApiError::unauthorized(None));
        };
        let value = value
            .to_str()
            .map_err(|_| ApiError::unauthorized(Some("the Authorization header is not text")))?;
        let token = match value.split_once(' ') {
            Some((scheme, token))
                if scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() =>
            {
                token.trim()
            }
            _ => {
                return Err(ApiError::unauthorized(Some(
                    "the Authorization header must be 'Bearer <token>'",
                )));
            }
        };
        // A token of a configured external issuer (by its `iss`, which the issuer's own
        // verification then checks) goes to that issuer's keys; any other, to the realms'.
        let external = super::external::issuer_of(&state.config.auth.issuers, token);
        let verified = match external {
            Some((tenant, issuer)) => {
                let audience = match issuer.audience.as_deref() {
                    Some("") => None,
                    Some(aud) => Some(aud.to_owned()),
                    None => state.config.auth.audience_of(tenant, &state.public_url),
                };
                state
                    .external
                    .verify(tenant, issuer, audience.as_deref(), token)
                    .await
            }
            None => {
                state
                    .keys
                    .verify(
                        &state.store,
                        &state.public_url,
                        |tenant| {
                            (state.config.auth).audience_of(tenant.as_str(), &state.public_url)
                        },
                        token,
                    )
                    .await
            }
        };
        let v = match verified {
            Ok(v) => v,
            Err(TokenError::Store(e)) => return Err(e.into()),
            Err(e) => return Err(ApiError::unauthorized(Some(&e.to_string()))),
        };
        // A valid signature says who the token was issued to; the store says whether that
        // still stands.
        let standing = state
            .standings
            .of(&state.store, &v.tenant, &v.client_id)
            .await?;
        let Standing::Active {
            webhooks_enabled,
            issuer,
            scopes: registered,
        } = standing.as_ref()
        else {
            return Err(ApiError::unauthorized(Some(&match external {
                Some((_, i)) => format!(
                    "its client '{}' is not registered in cxhooks: register it with `cxhooks \
                     client create --tenant {} --external --issuer {} --client-id {} …`",
                    v.client_id, v.tenant, i.issuer, v.client_id
                ),
                None => "its client no longer exists: the client was deleted".to_owned(),
            })));
        };
        // A client answers to one issuer: cxhooks' realm, or the external one it was
        // registered for.
        let webhooks_enabled = *webhooks_enabled;
        if issuer.as_deref() != external.map(|(_, i)| i.issuer.as_str()) {
            return Err(ApiError::unauthorized(Some(&format!(
                "client '{}' is not registered for this token's issuer",
                v.client_id
            ))));
        }
        // An external token grants what its issuer says, within the client's scopes here.
        let scopes = match external {
            Some(_) => ScopeSet::from_scopes(v.scopes.iter().filter(|s| registered.grants(*s))),
            None => v.scopes,
        };
        // Without the feature, its scopes are not granted (userinfo shows what is).
        let scopes = if webhooks_enabled {
            scopes
        } else {
            ScopeSet::from_scopes(scopes.iter().filter(|s| !s.needs_webhooks_feature()))
        };
        Ok(Principal {
            tenant: v.tenant,
            client_id: v.client_id,
            scopes,
            expires_at: v.expires_at,
            webhooks_off: !webhooks_enabled,
            operator: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn principal(scopes: &str) -> Principal {
        Principal {
            tenant: TenantName::parse("acme").unwrap(),
            client_id: "c".into(),
            scopes: ScopeSet::parse(scopes).unwrap(),
            expires_at: Utc::now(),
            webhooks_off: false,
            operator: None,
        }
    }

    #[test]
    fn broad_webhooks_scope_implies_the_narrow_ones_and_not_the_reverse() {
        let broad = principal("urn:cx/webhooks:data:manage");
        assert!(broad.require(Scope::ApplicationsManage).is_ok());
        assert!(broad.require(Scope::WebhooksOnlyManage).is_ok());
        assert!(broad.require(Scope::RecordsManage).is_err());
        let narrow = principal("urn:cx/webhooks:data/webhooks:manage");
        let err = narrow.require(Scope::WebhooksManage).unwrap_err();
        assert_eq!(err.status(), axum::http::StatusCode::FORBIDDEN);
        assert!(narrow.require(Scope::ApplicationsManage).is_err());
        assert!(
            narrow
                .require_any(&[Scope::ApplicationsManage, Scope::WebhooksOnlyManage])
                .is_ok()
        );
        assert!(broad.require_tenant("acme").is_ok());
        assert!(broad.require_tenant("beta").is_err());
    }
}
