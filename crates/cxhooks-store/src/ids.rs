//! Typed ids: an application's, a webhook's, a delivery's and a change's id are different
//! types, so one cannot be passed where another is meant, and text from a path or a cursor is
//! parsed once, at the boundary ([`WebhookId::parse`] and the like: what is not a UUID names
//! nothing).

use std::fmt;

macro_rules! typed_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize,
            serde::Deserialize,
        )]
        #[serde(transparent)]
        pub struct $name(uuid::Uuid);

        impl $name {
            /// A new random id (version 4).
            pub fn new_v4() -> Self {
                Self(uuid::Uuid::new_v4())
            }

            /// A new time-ordered id (version 7): the store's indexes on it grow at their end.
            pub fn now_v7() -> Self {
                Self(uuid::Uuid::now_v7())
            }

            /// The id in `text`, if it is a UUID.
            pub fn parse(text: &str) -> Option<Self> {
                uuid::Uuid::parse_str(text).ok().map(Self)
            }

            /// The UUID.
            pub fn uuid(self) -> uuid::Uuid {
                self.0
            }
        }

        impl From<uuid::Uuid> for $name {
            fn from(u: uuid::Uuid) -> Self {
                Self(u)
            }
        }

        impl From<$name> for uuid::Uuid {
            fn from(id: $name) -> Self {
                id.0
            }
        }

        impl std::str::FromStr for $name {
            type Err = uuid::Error;
            fn from_str(text: &str) -> Result<Self, uuid::Error> {
                uuid::Uuid::parse_str(text).map(Self)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl From<$name> for crate::id::Id<'_> {
            fn from(id: $name) -> Self {
                crate::id::Id::Uuid(id.0)
            }
        }

        impl From<&$name> for crate::id::Id<'_> {
            fn from(id: &$name) -> Self {
                crate::id::Id::Uuid(id.0)
            }
        }

        impl TryFrom<crate::id::IdText> for $name {
            type Error = uuid::Error;
            fn try_from(text: crate::id::IdText) -> Result<Self, uuid::Error> {
                uuid::Uuid::parse_str(&text.0).map(Self)
            }
        }
    };
}

typed_id!(
    /// An application's id.
    ApplicationId
);
typed_id!(
    /// A webhook's id.
    WebhookId
);
typed_id!(
    /// A delivery's id: the notification's `id`, the same across its retries.
    DeliveryId
);
typed_id!(
    /// An accepted change's id.
    ChangeId
);

impl TryFrom<crate::id::MaybeIdText> for Option<ChangeId> {
    type Error = uuid::Error;
    fn try_from(text: crate::id::MaybeIdText) -> Result<Self, uuid::Error> {
        Option::<String>::from(text)
            .map(|t| uuid::Uuid::parse_str(&t).map(ChangeId))
            .transpose()
    }
}
