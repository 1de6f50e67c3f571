//! Console operators: people who sign in to `/console` for one tenant with an e-mail and a
//! password. People choose passwords, so they are hashed with Argon2id (unlike client secrets,
//! which are random and only need a keyed hash).

use super::admin::{IdentityError, tenant};
use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use cxhooks_store::{InvalidValue, Operator, Store, StoreError, TenantName};

/// The shortest password an operator may choose.
pub const MIN_PASSWORD_CHARS: usize = 12;

/// Lower-cases and checks an operator's e-mail address.
pub fn parse_email(email: &str) -> Result<String, InvalidValue> {
    let email = email.trim().to_lowercase();
    let valid = email.len() <= 254
        && !email.chars().any(char::is_whitespace)
        && email.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty() && !domain.is_empty() && !domain.contains('@')
        });
    if valid {
        Ok(email)
    } else {
        Err(InvalidValue(format!(
            "'{email}' is not an e-mail address like ops@acme.example"
        )))
    }
}

fn check_password(password: &str) -> Result<(), InvalidValue> {
    let n = password.chars().count();
    if !(MIN_PASSWORD_CHARS..=1024).contains(&n) {
        return Err(InvalidValue(format!(
            "a password has {MIN_PASSWORD_CHARS} to 1024 characters (this one has {n}); \
             leave it out to have one generated"
        )));
    }
    Ok(())
}

/// An Argon2id hash takes ~20 ms of CPU and 19 MiB of memory: at most this many are computed at
/// once, so a flood of sign-in attempts cannot take every core (or much memory) from delivery.
static HASHING: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(2);

/// The Argon2id hash (PHC string) of a password, computed off the async workers.
pub async fn hash_password(password: String) -> Result<String, IdentityError> {
    let _turn = HASHING
        .acquire()
        .await
        .map_err(|e| IdentityError::Key(e.to_string()))?;
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::generate(&mut argon2::password_hash::rand_core::OsRng);
        Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| IdentityError::Key(e.to_string()))
    })
    .await
    .map_err(|e| IdentityError::Key(e.to_string()))?
}

/// Whether `password` matches the stored hash, computed off the async workers.
pub async fn verify_password(password: String, hash: String) -> bool {
    let Ok(_turn) = HASHING.acquire().await else {
        return false;
    };
    tokio::task::spawn_blocking(move || {
        PasswordHash::new(&hash).is_ok_and(|h| {
            Argon2::default()
                .verify_password(password.as_bytes(), &h)
                .is_ok()
        })
    })
    .await
    .unwrap_or(false)
}

/// A password, chosen or generated: `(password, generated)`.
fn password_or_generated(password: Option<String>) -> Result<(String, bool), IdentityError> {
    match password {
        Some(p) => {
            check_password(&p)?;
            Ok((p, false))
        }
        None => Ok((cxhooks_signing::random_secret(), true)),
    }
}

/// Creates an operator; answers the generated password if none was given.
pub async fn create_operator(
    store: &Store,
    tenant_name: &TenantName,
    email: &str,
    password: Option<String>,
) -> Result<(Operator, Option<String>), IdentityError> {
    let tenant = tenant(store, tenant_name).await?;
    let email = parse_email(email)?;
    let (password, generated) = password_or_generated(password)?;
    let operator = Operator {
        tenant: tenant.name.clone(),
        email: email.clone(),
        password_hash: hash_password(password.clone()).await?,
        created_at: chrono::Utc::now().timestamp_micros(),
    };
    match store.create_operator(&operator).await {
        Ok(()) => Ok((operator, generated.then_some(password))),
        Err(StoreError::Conflict(_)) => Err(IdentityError::OperatorExists {
            tenant: tenant.name,
            email,
        }),
        Err(e) => Err(e.into()),
    }
}

/// Gives an operator a new password (and signs it out everywhere); answers the generated
/// password if none was given.
pub async fn set_password(
    store: &Store,
    tenant: &TenantName,
    email: &str,
    password: Option<String>,
) -> Result<Option<String>, IdentityError> {
    let email = parse_email(email)?;
    let (password, generated) = password_or_generated(password)?;
    let hash = hash_password(password.clone()).await?;
    if store.set_operator_password(tenant, &email, &hash).await? {
        Ok(generated.then_some(password))
    } else {
        Err(IdentityError::UnknownOperator {
            tenant: tenant.clone(),
            email,
        })
    }
}

/// Deletes an operator (and its sessions).
pub async fn delete_operator(
    store: &Store,
    tenant: &TenantName,
    email: &str,
) -> Result<(), IdentityError> {
    let email = parse_email(email)?;
    if store.delete_operator(tenant, &email).await? {
        Ok(())
    } else {
        Err(IdentityError::UnknownOperator {
            tenant: tenant.clone(),
            email,
        })
    }
}

/// Checks a sign-in: the operator if tenant, e-mail and password match. A wrong tenant or
/// e-mail costs the same time as a wrong password, so answers do not tell which was wrong.
pub async fn authenticate(
    store: &Store,
    tenant: &str,
    email: &str,
    password: &str,
) -> Result<Option<Operator>, StoreError> {
    // A valid Argon2id hash of a random password nobody knows.
    const DECOY: &str = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$3m8zN6T4VQ4U0eGmcHkqD5Oq7sXYzZ1qUOJg3a1cDzo";
    let found = match (TenantName::parse(tenant), parse_email(email)) {
        (Ok(t), Ok(e)) => store.operator(&t, &e).await?,
        _ => None,
    };
    let hash = found
        .as_ref()
        .map_or(DECOY.to_owned(), |o| o.password_hash.clone());
    let ok = verify_password(password.to_owned(), hash).await;
    Ok(found.filter(|_| ok))
}
