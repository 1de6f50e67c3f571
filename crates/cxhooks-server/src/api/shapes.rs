//! Documentation shapes of answers the handlers build as JSON: one list schema per resource (so
//! that generated clients parse `items` into their model), a record, and a `?fields=`
//! projection. The conformance tests hold each to the real answers.

use crate::service::additional::AdditionalFieldOut;
use crate::service::applications::ApplicationOut;
use crate::service::deliveries::EventOut;
use crate::service::recover::RecoveryOut;
use crate::service::webhooks::WebhookOut;
use utoipa::ToSchema;

/// A page of `$item`s, named `$name` in the document.
macro_rules! list_of {
    ($name:ident, $item:ty, $what:literal) => {
        #[doc = concat!("A page of ", $what, ".")]
        #[derive(Debug, ToSchema)]
        #[allow(dead_code)]
        pub struct $name {
            /// `List`.
            #[schema(rename = "_kind", pattern = "^List$")]
            kind: String,
            /// The objects of this page.
            items: Vec<$item>,
            /// Pass as `?cursor=` for the next page; null on the last page.
            #[schema(rename = "nextCursor", required = true)]
            next_cursor: Option<String>,
        }
    };
}

list_of!(ApplicationList, ApplicationOut, "applications");
list_of!(WebhookList, WebhookOut, "webhooks");
list_of!(WebhookEventList, EventOut, "the request log, newest first");
list_of!(
    RecoveryList,
    RecoveryOut,
    "a webhook's recoveries, newest first"
);
list_of!(
    AdditionalFieldList,
    AdditionalFieldOut,
    "the tenant's additional fields"
);
/// A page of records, in id order.
#[derive(Debug, ToSchema)]
#[allow(dead_code)]
pub struct RecordList {
    /// `List`.
    #[schema(rename = "_kind", pattern = "^List$")]
    kind: String,
    /// The records of this page.
    items: Vec<Record>,
    /// Pass as `?cursor=` for the next page; null on the last page.
    #[schema(rename = "nextCursor", required = true)]
    next_cursor: Option<String>,
    /// With `?count=true`: how many records the filter selects, on every page together.
    #[schema(required = false)]
    total: Option<u64>,
}
list_of!(ProjectionList, Projection, "objects read with `?fields=`");

/// A record: `_kind` (the entity) and `_id`, then the entity's fields as stored.
#[derive(Debug, ToSchema)]
#[allow(dead_code)]
pub struct Record {
    /// The entity (`cremployee`, `crvacancy`, …).
    #[schema(rename = "_kind")]
    kind: String,
    /// The record's id, as text.
    #[schema(rename = "_id")]
    id: String,
}

/// An object read with `?fields=`: `_kind`, `_id` and the fields asked for.
#[derive(Debug, ToSchema)]
#[allow(dead_code)]
pub struct Projection {
    /// The object's kind.
    #[schema(rename = "_kind")]
    kind: String,
    /// Its id.
    #[schema(rename = "_id")]
    id: String,
}

/// The event-type catalog (SPEC §4.3).
#[derive(Debug, ToSchema)]
#[allow(dead_code)]
pub struct EventTypeCatalog {
    /// `EventTypeCatalog`.
    #[schema(rename = "_kind", pattern = "^EventTypeCatalog$")]
    kind: String,
    /// `created`, `updated`, `deleted`.
    actions: Vec<String>,
    /// Every entity with its event types and fields.
    entities: Vec<CatalogEntity>,
}

/// One entity of the catalog.
#[derive(Debug, ToSchema)]
#[allow(dead_code)]
pub struct CatalogEntity {
    /// `cremployee`, `crvacancy`, …
    entity: String,
    /// Human name.
    label: String,
    /// A lookup entity (`crdatanode`, `crstatusinfo`) holds labels that other records point to.
    lookup: bool,
    /// `{entity}:created`, `{entity}:updated`, `{entity}:deleted`.
    #[schema(rename = "eventTypes")]
    event_types: Vec<String>,
    /// Its fields, usable in conditions as `data.{path}`.
    fields: Vec<CatalogField>,
}

/// One field of a catalog entity.
#[derive(Debug, ToSchema)]
#[allow(dead_code)]
pub struct CatalogField {
    /// Lower-case dotted path (`hascar`, `touser.jobtitle`).
    path: String,
    /// `string`, `number`, `integer`, `date`, `datetime`, `boolean`, `relation` or `list`.
    #[schema(rename = "type")]
    field_type: String,
    /// Human name.
    label: String,
    /// The stored path behind a computed field; a filter may name either.
    #[schema(rename = "altPath")]
    alt_path: Option<String>,
    /// The entity a `relation` or `list` points to.
    target: Option<String>,
    /// `true` for the fields the seed document lists.
    supported: Option<bool>,
}
