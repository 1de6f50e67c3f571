use crate::model::InvalidValue;

/// Errors from the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database answered with an error.
    #[error("database error: {0}")]
    Database(#[source] sqlx::Error),
    /// The database could not be reached, or no connection was free within the pool's acquire
    /// timeout: nothing is known to have happened, and the same request may be tried again.
    #[error("the store is unavailable: {0}")]
    Unavailable(String),
    /// A migration failed.
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// An insert collided with an existing object (what it was is in the message).
    #[error("{0} already exists")]
    Conflict(String),
    /// The store could not be opened (path, URL or schema problem), said for a human.
    #[error("{0}")]
    Open(String),
    /// A stored value did not decode into its domain type: the row was written by something
    /// other than cxhooks, or damaged.
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        if unreachable(&e) {
            StoreError::Unavailable(e.to_string())
        } else {
            StoreError::Database(e)
        }
    }
}

/// Whether `e` says the database could not be reached (rather than that it refused a
/// statement): no connection within the acquire timeout, a broken or refused connection (a
/// connection cut during its handshake reads as a protocol error), or PostgreSQL's
/// connection-exception and shutdown codes (SQLSTATE class 08, 57P01–57P03).
fn unreachable(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_) => true,
        sqlx::Error::Database(db) => db
            .code()
            .is_some_and(|c| c.starts_with("08") || matches!(&*c, "57P01" | "57P02" | "57P03")),
        _ => false,
    }
}

impl From<InvalidValue> for StoreError {
    fn from(e: InvalidValue) -> Self {
        StoreError::Corrupt(e.0)
    }
}

/// Maps a unique-key violation to [`StoreError::Conflict`] naming `what`.
pub(crate) fn conflict(what: impl Into<String>) -> impl FnOnce(sqlx::Error) -> StoreError {
    let what = what.into();
    move |e| match &e {
        sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::Conflict(what),
        _ => e.into(),
    }
}
