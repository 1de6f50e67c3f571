//! The ids of the delivery tables (changes, deliveries, attempts: their own ids and the
//! application and webhook they belong to), as each backend stores them.
//!
//! SQLite keeps them as the 36-character text they always were. PostgreSQL keeps them in its
//! 16-byte `uuid` type (migration 0010): with their index entries, that is about 200 bytes less
//! for every delivery (issue 9, store bytes per delivered notification). The statements are
//! shared by both backends, so an id is bound as [`Id`] and read back as [`IdText`], which
//! speak text to SQLite and `uuid` to PostgreSQL; the rest of cxhooks sees the same strings.

use sqlx::encode::IsNull;
use sqlx::error::BoxDynError;
use sqlx::postgres::{PgArgumentBuffer, PgHasArrayType, PgTypeInfo, PgValueRef};
use sqlx::sqlite::{SqliteArgumentsBuffer, SqliteTypeInfo, SqliteValueRef};
use sqlx::{Decode, Encode, Postgres, Sqlite, Type};

/// An id to bind: text cxhooks generated (a hyphenated UUID) or a UUID.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Id<'a> {
    Text(&'a str),
    Uuid(uuid::Uuid),
}

impl<'a> From<&'a str> for Id<'a> {
    fn from(s: &'a str) -> Self {
        Id::Text(s)
    }
}

impl<'a> From<&'a String> for Id<'a> {
    fn from(s: &'a String) -> Self {
        Id::Text(s)
    }
}

impl From<uuid::Uuid> for Id<'_> {
    fn from(u: uuid::Uuid) -> Self {
        Id::Uuid(u)
    }
}

/// Whether `s` can be bound as an id on every backend. Text that is not a UUID names nothing
/// stored, so a lookup by it can answer "none" without asking the store.
pub(crate) fn is_id(s: &str) -> bool {
    uuid::Uuid::parse_str(s).is_ok()
}

impl Type<Sqlite> for Id<'_> {
    fn type_info() -> SqliteTypeInfo {
        <String as Type<Sqlite>>::type_info()
    }
}

impl<'q> Encode<'q, Sqlite> for Id<'_> {
    fn encode_by_ref(&self, buf: &mut SqliteArgumentsBuffer) -> Result<IsNull, BoxDynError> {
        match self {
            Id::Text(s) => <&str as Encode<Sqlite>>::encode(s, buf),
            Id::Uuid(u) => <String as Encode<Sqlite>>::encode(u.to_string(), buf),
        }
    }
}

impl Type<Postgres> for Id<'_> {
    fn type_info() -> PgTypeInfo {
        <uuid::Uuid as Type<Postgres>>::type_info()
    }
}

impl PgHasArrayType for Id<'_> {
    fn array_type_info() -> PgTypeInfo {
        <uuid::Uuid as PgHasArrayType>::array_type_info()
    }
}

impl Encode<'_, Postgres> for Id<'_> {
    fn encode_by_ref(&self, buf: &mut PgArgumentBuffer) -> Result<IsNull, BoxDynError> {
        let u = match self {
            Id::Text(s) => uuid::Uuid::parse_str(s)
                .map_err(|e| format!("'{s}' is not an id (a UUID) of the delivery tables: {e}"))?,
            Id::Uuid(u) => *u,
        };
        <uuid::Uuid as Encode<Postgres>>::encode(u, buf)
    }
}

/// An id as read back: the hyphenated lowercase text on every backend. Read into a `String`
/// field with `#[sqlx(try_from = "crate::id::IdText")]`.
#[derive(Debug)]
pub(crate) struct IdText(pub(crate) String);

impl From<IdText> for String {
    fn from(id: IdText) -> String {
        id.0
    }
}

impl Type<Sqlite> for IdText {
    fn type_info() -> SqliteTypeInfo {
        <String as Type<Sqlite>>::type_info()
    }

    fn compatible(ty: &SqliteTypeInfo) -> bool {
        <String as Type<Sqlite>>::compatible(ty)
    }
}

impl<'r> Decode<'r, Sqlite> for IdText {
    fn decode(value: SqliteValueRef<'r>) -> Result<Self, BoxDynError> {
        <String as Decode<Sqlite>>::decode(value).map(IdText)
    }
}

impl Type<Postgres> for IdText {
    fn type_info() -> PgTypeInfo {
        <uuid::Uuid as Type<Postgres>>::type_info()
    }
}

impl<'r> Decode<'r, Postgres> for IdText {
    fn decode(value: PgValueRef<'r>) -> Result<Self, BoxDynError> {
        <uuid::Uuid as Decode<Postgres>>::decode(value).map(|u| IdText(u.to_string()))
    }
}

/// A nullable id as read back: `None` for SQL `NULL`. Read into an `Option<String>` field with
/// `#[sqlx(try_from = "crate::id::MaybeIdText")]`.
#[derive(Debug)]
pub(crate) struct MaybeIdText(Option<String>);

impl From<MaybeIdText> for Option<String> {
    fn from(id: MaybeIdText) -> Option<String> {
        id.0
    }
}

impl<DB: sqlx::Database> Type<DB> for MaybeIdText
where
    IdText: Type<DB>,
{
    fn type_info() -> DB::TypeInfo {
        <IdText as Type<DB>>::type_info()
    }

    fn compatible(ty: &DB::TypeInfo) -> bool {
        <IdText as Type<DB>>::compatible(ty)
    }
}

impl<'r, DB: sqlx::Database> Decode<'r, DB> for MaybeIdText
where
    IdText: Decode<'r, DB>,
{
    fn decode(value: <DB as sqlx::Database>::ValueRef<'r>) -> Result<Self, BoxDynError> {
        if sqlx::ValueRef::is_null(&value) {
            return Ok(MaybeIdText(None));
        }
        <IdText as Decode<DB>>::decode(value).map(|id| MaybeIdText(Some(id.0)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_uuids_are_ids() {
        assert!(is_id("019ac8a4-1f2e-7b3c-9d4e-5f6a7b8c9d0e"));
        assert!(!is_id("hook-1"));
        assert!(!is_id(""));
    }
}
