//! The connection check (SPEC §8 step 1): a token from the tenant's realm, then every scope and
//! permission the sync needs, each missing one named with its fix, as seed 000 explains a
//! "403: Forbidden".

use serde_json::Value;

/// How the connection failed; the exit code says which class.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// The server cannot be reached.
    Unreachable(String),
    /// Unknown tenant or wrong client credentials.
    Authentication(String),
    /// Scopes or permissions are missing (each with its fix).
    Access(Vec<String>),
}

impl Failure {
    /// The process exit code: 3 unreachable, 4 authentication, 5 access.
    pub fn exit_code(&self) -> u8 {
        match self {
            Failure::Unreachable(_) => 3,
            Failure::Authentication(_) => 4,
            Failure::Access(_) => 5,
        }
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Unreachable(why) => write!(f, "cannot reach cxhooks: {why}"),
            Failure::Authentication(why) => write!(f, "authentication failed: {why}"),
            Failure::Access(problems) => {
                writeln!(f, "403: Forbidden: the client lacks what the sync needs:")?;
                for p in problems {
                    writeln!(f, "  - {p}")?;
                }
                Ok(())
            }
        }
    }
}

/// The scopes the sync needs: the record store (initial sync, fetching changed records), the
/// management API (its application and webhook), the ACL (this check).
pub const NEEDED: [(&str, &str); 3] = [
    (
        "urn:cx/cx5Wrapper:data:manage",
        "reading records for the initial sync and for each notification",
    ),
    (
        "urn:cx/webhooks:data:manage",
        "creating the sync's application and webhook",
    ),
    ("urn:cx/cx5Acl:data:manage", "checking the connection"),
];

fn fix(tenant: &str, client_id: &str, scope: &str) -> String {
    format!(
        "add `{scope}` to the client's default scopes (Maintenance > Identity Management > Clients in Carerix, \
         or `cxhooks client set --tenant {tenant} --client-id {client_id} --scopes \"… {scope}\"`), then sync again"
    )
}

/// What `GET /acl/v1/me` and the token say is missing, each as "what — how to fix it".
pub fn diagnose(
    tenant: &str,
    client_id: &str,
    token_scopes: &str,
    me: Option<&Value>,
) -> Vec<String> {
    let mut problems = Vec::new();
    let has = |s: &str| token_scopes.split_whitespace().any(|t| t == s);
    for (scope, why) in NEEDED {
        if !has(scope) {
            problems.push(format!(
                "missing scope {scope}, needed for {why}: {}",
                fix(tenant, client_id, scope)
            ));
        }
    }
    if let Some(p) = me.map(|m| &m["permissions"]) {
        let want = [("create", "on"), ("read", "owner"), ("update", "owner")];
        for (key, least) in want {
            let value = p[key].as_str().unwrap_or("none");
            let ok = match least {
                "on" => value == "on",
                _ => value == "owner" || value == "all",
            };
            if !ok {
                problems.push(format!(
                    "the Webhooks permission {key} is {value}, the sync needs {key}: {least} or more: \
                     click [Add] under Permissions, search for Webhooks and set {key} (or `cxhooks client set --tenant {tenant} \
                     --client-id {client_id} --permissions create=on,read=all,update=owner,delete=owner`)"
                ));
            }
        }
    }
    problems
}
