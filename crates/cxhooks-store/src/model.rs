//! Domain types shared by the store, the server and the CLI. Each is validated once, at the
//! boundary (`parse`), so that code past it never sees an invalid name, scope or permission.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// A problem with a value given by a user, worded so the user can fix it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidValue(pub String);

fn invalid(msg: impl Into<String>) -> InvalidValue {
    InvalidValue(msg.into())
}

/// A tenant (realm) name: `^[a-z0-9][a-z0-9-]{0,62}$`, like `yourcompany` in
/// `yourcompany.carerix.net`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct TenantName(String);

impl TenantName {
    /// Validates a tenant name.
    pub fn parse(name: &str) -> Result<Self, InvalidValue> {
        if name.is_empty() {
            return Err(invalid("a tenant name cannot be empty"));
        }
        if name.chars().any(|c| c.is_ascii_uppercase()) {
            return Err(invalid(format!(
                "tenant names are lower-case: use '{}' instead of '{name}'",
                name.to_ascii_lowercase()
            )));
        }
        if name.len() > 63 {
            return Err(invalid(format!(
                "a tenant name has at most 63 characters, '{name}' has {}",
                name.len()
            )));
        }
        let mut chars = name.chars();
        let first = chars.next().expect("checked non-empty");
        if !(first.is_ascii_lowercase() || first.is_ascii_digit()) {
            return Err(invalid(format!(
                "a tenant name starts with a letter or digit, '{name}' starts with '{first}'"
            )));
        }
        if let Some(bad) = name
            .chars()
            .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-'))
        {
            return Err(invalid(format!(
                "a tenant name holds only a-z, 0-9 and '-', '{name}' contains '{bad}'"
            )));
        }
        Ok(Self(name.to_owned()))
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TenantName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for TenantName {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// A client code, `urn:{vendor}/{application}` (`urn:hiredata/hiredata`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct ClientCode(String);

fn is_code_part(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

impl ClientCode {
    /// Validates a client code.
    pub fn parse(code: &str) -> Result<Self, InvalidValue> {
        let valid = code
            .strip_prefix("urn:")
            .and_then(|rest| rest.split_once('/'))
            .is_some_and(|(vendor, app)| is_code_part(vendor) && is_code_part(app));
        if valid {
            Ok(Self(code.to_owned()))
        } else {
            Err(invalid(format!(
                "a client code has the form urn:{{vendor}}/{{application}}, e.g. urn:hiredata/hiredata; \
                 '{code}' does not (vendor and application are letters, digits, '-', '_' or '.')"
            )))
        }
    }

    /// The code.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The scopes a client can hold. A broader scope implies narrower ones (see [`Scope::implies`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scope {
    /// `urn:cx/webhooks:data:manage`: the whole management API.
    WebhooksManage,
    /// `urn:cx/webhooks:data/applications:manage`: applications only.
    ApplicationsManage,
    /// `urn:cx/webhooks:data/webhooks:manage`: webhooks and their request log.
    WebhooksOnlyManage,
    /// `urn:cx/cx5Wrapper:data:manage`: the record store.
    RecordsManage,
    /// `urn:cx/cx5Acl:data:manage`: `GET /acl/v1/me`.
    AclManage,
    /// `urn:cx/webhooks:events:publish`: the publish API.
    EventsPublish,
}

impl Scope {
    /// Every scope, in a stable order.
    pub const ALL: [Scope; 6] = [
        Scope::WebhooksManage,
        Scope::ApplicationsManage,
        Scope::WebhooksOnlyManage,
        Scope::RecordsManage,
        Scope::AclManage,
        Scope::EventsPublish,
    ];

    /// The scope's URN.
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::WebhooksManage => "urn:cx/webhooks:data:manage",
            Scope::ApplicationsManage => "urn:cx/webhooks:data/applications:manage",
            Scope::WebhooksOnlyManage => "urn:cx/webhooks:data/webhooks:manage",
            Scope::RecordsManage => "urn:cx/cx5Wrapper:data:manage",
            Scope::AclManage => "urn:cx/cx5Acl:data:manage",
            Scope::EventsPublish => "urn:cx/webhooks:events:publish",
        }
    }

    /// Whether this scope needs the tenant's webhooks feature (seed 001: "before activating
    /// webhooks, some scopes that are needed will not be available yet").
    pub fn needs_webhooks_feature(self) -> bool {
        matches!(
            self,
            Scope::WebhooksManage
                | Scope::ApplicationsManage
                | Scope::WebhooksOnlyManage
                | Scope::EventsPublish
        )
    }

    /// Whether holding `self` grants `other`.
    pub fn implies(self, other: Scope) -> bool {
        self == other
            || (self == Scope::WebhooksManage
                && matches!(other, Scope::ApplicationsManage | Scope::WebhooksOnlyManage))
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Scope {
    type Err = InvalidValue;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Scope::ALL
            .into_iter()
            .find(|scope| scope.as_str() == s)
            .ok_or_else(|| {
                let known: Vec<_> = Scope::ALL.iter().map(|s| s.as_str()).collect();
                invalid(format!(
                    "unknown scope '{s}'; known scopes: {}",
                    known.join(", ")
                ))
            })
    }
}

/// A set of scopes, written space-separated as in OAuth 2.0.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScopeSet(Vec<Scope>);

impl ScopeSet {
    /// Parses a space- (or comma-) separated list; duplicates are dropped.
    pub fn parse(text: &str) -> Result<Self, InvalidValue> {
        let mut scopes = Vec::new();
        for word in text
            .split(|c: char| c.is_whitespace() || c == ',')
            .filter(|w| !w.is_empty())
        {
            let scope: Scope = word.parse()?;
            if !scopes.contains(&scope) {
                scopes.push(scope);
            }
        }
        scopes.sort();
        Ok(Self(scopes))
    }

    /// Builds a set from scopes.
    pub fn from_scopes(scopes: impl IntoIterator<Item = Scope>) -> Self {
        let mut v: Vec<Scope> = scopes.into_iter().collect();
        v.sort();
        v.dedup();
        Self(v)
    }

    /// Whether some scope of the set grants `needed`.
    pub fn grants(&self, needed: Scope) -> bool {
        self.0.iter().any(|s| s.implies(needed))
    }

    /// Whether the set literally contains `scope`.
    pub fn contains(&self, scope: Scope) -> bool {
        self.0.contains(&scope)
    }

    /// The scopes.
    pub fn iter(&self) -> impl Iterator<Item = Scope> + '_ {
        self.0.iter().copied()
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The URNs as strings.
    pub fn to_strings(&self) -> Vec<String> {
        self.0.iter().map(|s| s.as_str().to_owned()).collect()
    }
}

impl fmt::Display for ScopeSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let words: Vec<_> = self.0.iter().map(|s| s.as_str()).collect();
        f.write_str(&words.join(" "))
    }
}

/// How far a permission reaches: no objects, the client's own, or all of the tenant's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Access {
    /// No objects.
    #[default]
    None,
    /// Only objects this client created.
    Owner,
    /// Every object of the tenant.
    All,
}

impl Access {
    fn parse(value: &str, key: &str) -> Result<Self, InvalidValue> {
        match value {
            "none" => Ok(Access::None),
            "owner" => Ok(Access::Owner),
            "all" => Ok(Access::All),
            other => Err(invalid(format!(
                "permission {key} is none, owner or all, not '{other}'"
            ))),
        }
    }

    /// The lower-case word.
    pub fn as_str(self) -> &'static str {
        match self {
            Access::None => "none",
            Access::Owner => "owner",
            Access::All => "all",
        }
    }
}

/// The `create` permission: on or off.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum OnOff {
    /// Not allowed.
    #[default]
    Off,
    /// Allowed.
    On,
}

/// The permission matrix for the resource *Webhooks* (applications and webhooks alike).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Permissions {
    /// May create applications and webhooks.
    pub create: OnOff,
    /// Which objects it may read.
    pub read: Access,
    /// Which objects it may update (also test, redeliver, enable, disable, rotate-secret).
    pub update: Access,
    /// Which objects it may delete.
    pub delete: Access,
}

impl Permissions {
    /// Parses `create=on,read=all,update=owner,delete=owner`; keys not given stay off/none.
    pub fn parse(text: &str) -> Result<Self, InvalidValue> {
        let mut p = Permissions::default();
        for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (key, value) = part.split_once('=').ok_or_else(|| {
                invalid(format!(
                    "permissions are written key=value, e.g. create=on,read=all; got '{part}'"
                ))
            })?;
            let (key, value) = (key.trim(), value.trim());
            match key {
                "create" => {
                    p.create = match value {
                        "on" => OnOff::On,
                        "off" => OnOff::Off,
                        other => {
                            return Err(invalid(format!(
                                "permission create is on or off, not '{other}'"
                            )));
                        }
                    }
                }
                "read" => p.read = Access::parse(value, key)?,
                "update" => p.update = Access::parse(value, key)?,
                "delete" => p.delete = Access::parse(value, key)?,
                other => {
                    return Err(invalid(format!(
                        "unknown permission '{other}': the Webhooks matrix has create, read, update and delete"
                    )));
                }
            }
        }
        Ok(p)
    }
}

impl fmt::Display for Permissions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let create = if self.create == OnOff::On {
            "on"
        } else {
            "off"
        };
        write!(
            f,
            "create={create},read={},update={},delete={}",
            self.read.as_str(),
            self.update.as_str(),
            self.delete.as_str()
        )
    }
}

/// A tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tenant {
    /// Its name.
    pub name: TenantName,
    /// Whether the webhooks feature is activated.
    pub webhooks_enabled: bool,
    /// When it was created.
    pub created_at: DateTime<Utc>,
}

/// A realm signing key of a tenant. The private key is sealed with the master key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RealmKey {
    /// Key id (`kid` of the tokens it signs); unique over all tenants.
    pub kid: String,
    /// The tenant it belongs to.
    pub tenant: TenantName,
    /// PKCS#8 private key, sealed with the master key.
    pub sealed_private_key: Vec<u8>,
    /// SubjectPublicKeyInfo DER.
    pub public_key: Vec<u8>,
    /// When it was created.
    pub created_at: DateTime<Utc>,
}

/// A confidential client of a tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Client {
    /// The tenant it belongs to.
    pub tenant: TenantName,
    /// The generated client id.
    pub client_id: String,
    /// Display name ("HireData").
    pub name: String,
    /// `urn:{vendor}/{application}`.
    pub code: ClientCode,
    /// HMAC-SHA-256 of the secret, keyed with the master key.
    pub secret_hash: Vec<u8>,
    /// Scopes granted when a token request names none.
    pub default_scopes: ScopeSet,
    /// The Webhooks permission matrix.
    pub permissions: Permissions,
    /// The external OpenID Connect issuer whose tokens it calls with (their `iss`); `None` for
    /// cxhooks' own clients, which get tokens from their realm with their secret.
    pub issuer: Option<String>,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it was last changed.
    pub updated_at: DateTime<Utc>,
}

/// Microseconds since the Unix epoch: how timestamps are stored, identically on both backends.
pub fn to_micros(t: DateTime<Utc>) -> i64 {
    t.timestamp_micros()
}

/// The inverse of [`to_micros`].
pub fn from_micros(us: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(us).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenant_names() {
        assert!(TenantName::parse("acme").is_ok());
        assert!(TenantName::parse("cxdev50streamer").is_ok());
        let err = TenantName::parse("Acme").unwrap_err().0;
        assert!(
            err.contains("lower-case") && err.contains("'acme'"),
            "{err}"
        );
        assert!(TenantName::parse("-acme").is_err());
        assert!(TenantName::parse("ac_me").unwrap_err().0.contains("'_'"));
        assert!(TenantName::parse(&"a".repeat(64)).is_err());
        assert!(TenantName::parse(&"a".repeat(63)).is_ok());
    }

    #[test]
    fn codes_scopes_permissions() {
        assert!(ClientCode::parse("urn:hiredata/hiredata").is_ok());
        assert!(ClientCode::parse("hiredata").is_err());
        assert!(ClientCode::parse("urn:hiredata/").is_err());

        let set = ScopeSet::parse("urn:cx/webhooks:data:manage urn:cx/cx5Acl:data:manage").unwrap();
        assert!(set.grants(Scope::ApplicationsManage));
        assert!(set.grants(Scope::WebhooksOnlyManage));
        assert!(!set.grants(Scope::RecordsManage));
        assert!(
            ScopeSet::parse("urn:cx/nope")
                .unwrap_err()
                .0
                .contains("unknown scope")
        );
        assert!(
            !ScopeSet::parse("urn:cx/webhooks:data/webhooks:manage")
                .unwrap()
                .grants(Scope::WebhooksManage)
        );

        let p = Permissions::parse("create=on,read=all,update=owner,delete=owner").unwrap();
        assert_eq!(
            p.to_string(),
            "create=on,read=all,update=owner,delete=owner"
        );
        assert_eq!(Permissions::parse(&p.to_string()).unwrap(), p);
        assert!(
            Permissions::parse("read=some")
                .unwrap_err()
                .0
                .contains("none, owner or all")
        );
        assert!(
            Permissions::parse("write=all")
                .unwrap_err()
                .0
                .contains("unknown permission")
        );
        assert!(Permissions::parse("create").is_err());
    }
}
