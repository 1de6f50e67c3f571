//! The event-type catalog of cxhooks: which entities publish changes, which fields they have, and
//! which event types (`{entity}:{action}`) a webhook filter may name.
//!
//! # Layout
//!
//! - this file: [`Catalog`] → [`Entity`] → [`Field`], the typed form of `carerix-fields.json`
//!   (embedded in the crate) plus the two lookup entities of `lookup-entities.json`
//!   (`crdatanode`, `crstatusinfo`). [`Catalog::builtin`] parses both once.
//! - [`event_type`]: [`Action`] and [`EventType`], validated against a catalog.
//!
//! Data flows one way: JSON text → [`Catalog`] (validated: lower-case names, unique paths) →
//! lookups by the server (`GET /webhooks/v1/event-types` serialises the catalog back to the same
//! JSON shape), by the webhook validation (`EventType::parse`) and by the condition checker
//! (`Entity::resolve`). Operators may add entities and fields with [`Catalog::merge`],
//! [`Catalog::add_entity`] and [`Catalog::add_field`].
#![warn(missing_docs)]

pub mod event_type;
mod serde_map;

use std::collections::HashSet;
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

pub use event_type::{Action, EventType, EventTypeError};

/// The catalog gathered from Carerix's public schema; see `NOTES.md` beside this crate.
const CARERIX_FIELDS: &str = include_str!("../carerix-fields.json");
/// `crdatanode` and `crstatusinfo` (SPEC §4.2): records with events of their own that
/// integrations load to show labels.
const LOOKUP_ENTITIES: &str = include_str!("../lookup-entities.json");
/// Entities of cxhooks itself: attachments (seed 004's roadmap, issue 28).
const CXHOOKS_ENTITIES: &str = include_str!("../cxhooks-entities.json");

/// The catalog in effect: the shipped one, with the operator's extras when
/// [`Catalog::configure`] ran before the first use.
static BUILTIN: OnceLock<Catalog> = OnceLock::new();

fn shipped() -> Catalog {
    let mut catalog = Catalog::from_json(CARERIX_FIELDS).expect("carerix-fields.json is valid");
    let lookups = Catalog::from_json(LOOKUP_ENTITIES).expect("lookup-entities.json is valid");
    catalog
        .merge(lookups)
        .expect("lookup entities do not clash with Carerix entities");
    let own = Catalog::from_json(CXHOOKS_ENTITIES).expect("cxhooks-entities.json is valid");
    catalog
        .merge(own)
        .expect("cxhooks' entities do not clash with Carerix entities");
    catalog
}

/// Why an operator's catalog was not taken.
#[derive(Debug, thiserror::Error)]
pub enum ConfigureError {
    /// The extras do not merge (a name that is not valid, a field the entity has already).
    #[error(transparent)]
    Invalid(#[from] CatalogError),
    /// The catalog was in use before it was configured, with other extras.
    #[error(
        "the catalog was already in use with other entities: configure it before the first use"
    )]
    TooLate,
}

/// The set of entities that publish changes, each with its documented fields.
///
/// Serialises to (and deserialises from) the shape of `carerix-fields.json`:
/// `{"entities": {"cremployee": {"label", "carerixType", "fields": [...]}, ...}}`, entities in
/// the order they were added.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Catalog {
    #[serde(with = "serde_map")]
    entities: Vec<Entity>,
}

/// One entity (a Carerix table), such as `cremployee`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Entity {
    /// Table name in lower case (`cremployee`); the key of the entity in the JSON form.
    #[serde(skip)]
    pub name: String,
    /// Human label (`Candidate`).
    pub label: String,
    /// Carerix's class name (`CREmployee`); the source system's own name of the type for an
    /// operator's entity (may be left out).
    #[serde(default)]
    pub carerix_type: String,
    /// A lookup entity (`crdatanode`, `crstatusinfo`) holds labels that other records point to.
    #[serde(default, skip_serializing_if = "is_false")]
    pub lookup: bool,
    /// Documented fields, in catalog order.
    pub fields: Vec<Field>,
}

/// One documented attribute of an entity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Field {
    /// Lower-case dotted path in the record (`hascar`, `touser.jobtitle`).
    pub path: String,
    /// Carerix's attribute name (`hasCar`); the source system's own name for an operator's
    /// field (may be left out).
    #[serde(default)]
    pub carerix_name: String,
    /// Human label (`Owns a car`).
    pub label: String,
    /// Value type.
    #[serde(rename = "type")]
    pub field_type: FieldType,
    /// Entity a `relation` or `list` points to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// The field is one of the seed document's "List of Fields".
    #[serde(default)]
    pub seed: bool,
    /// Present in Carerix's GraphQL schema only (probably computed, so never a changed path).
    #[serde(default, skip_serializing_if = "is_false")]
    pub graphql_only: bool,
    /// The stored path behind a computed field (`touser.lastname` for a candidate's
    /// `lastname`); a filter may name either.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alt_path: Option<String>,
}

/// The type of a field's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FieldType {
    /// Text.
    String,
    /// Decimal number.
    Number,
    /// Whole number.
    Integer,
    /// ISO 8601 date (`2026-11-22`).
    Date,
    /// RFC 3339 timestamp.
    Datetime,
    /// A 0/1 flag; Carerix stores these as integers.
    Boolean,
    /// To-one relation: an embedded object or the id of a record of `target`.
    Relation,
    /// To-many relation.
    List,
}

impl FieldType {
    /// The type's name as the catalog writes it (`string`, `relation`).
    pub fn as_str(self) -> &'static str {
        match self {
            FieldType::String => "string",
            FieldType::Number => "number",
            FieldType::Integer => "integer",
            FieldType::Date => "date",
            FieldType::Datetime => "datetime",
            FieldType::Boolean => "boolean",
            FieldType::Relation => "relation",
            FieldType::List => "list",
        }
    }
}

impl std::fmt::Display for FieldType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How a filter path was found in an entity's fields (see [`Entity::resolve`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathMatch<'c> {
    /// The path is a field's `path`.
    Path(&'c Field),
    /// The path is a field's `altPath`.
    AltPath(&'c Field),
    /// The path starts with a relation (`touser`) and the rest is a field of the relation's
    /// target entity (`cruser`'s `email`).
    ThroughRelation {
        /// The relation whose target entity holds `field`: the last hop when the path goes
        /// through several relations (`touser.tocompany.name` gives `tocompany`).
        relation: &'c Field,
        /// The field reached in the target entity.
        field: &'c Field,
    },
}

/// An invalid catalog or catalog extension.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    /// The JSON text does not have the catalog's shape.
    #[error("invalid catalog JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// Entity names are used in event types and URLs, so they are restricted.
    #[error(
        "invalid entity name '{name}': expected lower-case letters, digits and '_', starting with a letter"
    )]
    InvalidEntityName {
        /// The refused name.
        name: String,
    },
    /// Paths are compared case-sensitively against lower-case record keys.
    #[error(
        "invalid path '{path}' in entity {entity}: expected lower-case segments of letters, digits and '_' separated by '.'"
    )]
    InvalidPath {
        /// Entity of the field.
        entity: String,
        /// The refused path or altPath.
        path: String,
    },
    /// An entity name appears twice.
    #[error("entity {name} is already in the catalog")]
    DuplicateEntity {
        /// The repeated name.
        name: String,
    },
    /// A field path appears twice in one entity.
    #[error("field {path} is already in entity {entity}")]
    DuplicateField {
        /// Entity of the field.
        entity: String,
        /// The repeated path.
        path: String,
    },
    /// [`Catalog::add_field`] named an entity that is not in the catalog.
    #[error("unknown entity {name}")]
    UnknownEntity {
        /// The name asked for.
        name: String,
    },
}

fn is_false(b: &bool) -> bool {
    !*b
}

impl Catalog {
    /// The catalog shipped with cxhooks: the 8 Carerix entities of SPEC §4.3, the lookup
    /// entities `crdatanode` and `crstatusinfo`, and attachments (`crattachment`). Parsed once,
    /// on first use.
    ///
    /// With [`Catalog::configure`] (a server's `catalog.file`), this is the catalog with the
    /// operator's entities and fields: every lookup of the process goes through it.
    pub fn builtin() -> &'static Catalog {
        BUILTIN.get_or_init(shipped)
    }

    /// Merges an operator's entities and fields (`extras`, in the JSON shape of
    /// `carerix-fields.json`) into the catalog of this process, once, before its first use:
    /// new entities are added whole, new fields to the shipped entities. Configuring the same
    /// extras again is a no-op.
    pub fn configure(extras: Catalog) -> Result<&'static Catalog, ConfigureError> {
        let mut merged = shipped();
        merged.merge(extras)?;
        if let Some(current) = BUILTIN.get() {
            return if *current == merged {
                Ok(current)
            } else {
                Err(ConfigureError::TooLate)
            };
        }
        let _ = BUILTIN.set(merged.clone());
        let current = BUILTIN.get().expect("set");
        if *current == merged {
            Ok(current)
        } else {
            Err(ConfigureError::TooLate)
        }
    }

    /// An empty catalog, to build one entity by entity.
    pub fn empty() -> Catalog {
        Catalog {
            entities: Vec::new(),
        }
    }

    /// Parses and validates a catalog in the JSON shape of `carerix-fields.json`.
    pub fn from_json(json: &str) -> Result<Catalog, CatalogError> {
        let parsed: Catalog = serde_json::from_str(json)?;
        let mut catalog = Catalog::empty();
        for entity in parsed.entities {
            let name = entity.name.clone();
            catalog.add_entity(&name, entity)?;
        }
        Ok(catalog)
    }

    /// Entities in catalog order.
    pub fn entities(&self) -> impl ExactSizeIterator<Item = &Entity> {
        self.entities.iter()
    }

    /// The entity with this name, if any. Names are compared exactly (they are lower case).
    pub fn entity(&self, name: &str) -> Option<&Entity> {
        self.entities.iter().find(|e| e.name == name)
    }

    /// Adds an entity named `name` (its `name` field is set to it). Its fields are validated.
    pub fn add_entity(&mut self, name: &str, mut entity: Entity) -> Result<(), CatalogError> {
        if !is_entity_name(name) {
            return Err(CatalogError::InvalidEntityName { name: name.into() });
        }
        if self.entity(name).is_some() {
            return Err(CatalogError::DuplicateEntity { name: name.into() });
        }
        entity.name = name.to_owned();
        let fields = std::mem::take(&mut entity.fields);
        self.entities.push(entity);
        for field in fields {
            if let Err(e) = self.add_field(name, field) {
                self.entities.pop();
                return Err(e);
            }
        }
        Ok(())
    }

    /// Adds a field to an existing entity, refusing a path that the entity already has.
    pub fn add_field(&mut self, entity: &str, field: Field) -> Result<(), CatalogError> {
        let Some(target) = self.entities.iter_mut().find(|e| e.name == entity) else {
            return Err(CatalogError::UnknownEntity {
                name: entity.into(),
            });
        };
        for path in std::iter::once(&field.path).chain(&field.alt_path) {
            if !is_field_path(path) {
                return Err(CatalogError::InvalidPath {
                    entity: entity.into(),
                    path: path.clone(),
                });
            }
        }
        if target.field(&field.path).is_some() {
            return Err(CatalogError::DuplicateField {
                entity: entity.into(),
                path: field.path,
            });
        }
        target.fields.push(field);
        Ok(())
    }

    /// Adds operator-configured extras: entities not yet in the catalog are added whole; for an
    /// entity already present, the extra's fields are added to it (its label and type are
    /// ignored). Stops at the first conflict, leaving the entities merged so far.
    pub fn merge(&mut self, extras: Catalog) -> Result<(), CatalogError> {
        for extra in extras.entities {
            if self.entity(&extra.name).is_some() {
                for field in extra.fields {
                    self.add_field(&extra.name, field)?;
                }
            } else {
                let name = extra.name.clone();
                self.add_entity(&name, extra)?;
            }
        }
        Ok(())
    }

    /// Every event type of the catalog: each entity with each action.
    pub fn event_types(&self) -> impl Iterator<Item = EventType> + '_ {
        self.entities.iter().flat_map(|e| {
            Action::ALL
                .iter()
                .map(move |&action| EventType::new_unchecked(&e.name, action))
        })
    }

    /// Serialises the catalog to its JSON form (for `GET /webhooks/v1/event-types`).
    pub fn to_json_value(&self) -> serde_json::Value {
        serde_json::to_value(self).expect("catalog types always serialise")
    }
}

impl Entity {
    /// The field whose `path` is exactly `path`.
    pub fn field(&self, path: &str) -> Option<&Field> {
        self.fields.iter().find(|f| f.path == path)
    }

    /// Finds what a dotted `data.*` path (without `data.`) names in this entity: a field's
    /// `path` first, then a field's `altPath`, then a path through a relation whose target is an
    /// entity of `catalog` (recursively, so `toemployee.touser.lastname` resolves on a
    /// placement). Comparison is case-sensitive, as record keys are lower case.
    ///
    /// Takes time linear in the number of segments: a condition may hold a path of a
    /// thousand segments, and trying every split of it would take exponential time.
    pub fn resolve<'c>(&'c self, catalog: &'c Catalog, path: &str) -> Option<PathMatch<'c>> {
        let segments: Vec<&str> = path.split('.').collect();
        let mut explored = HashSet::new();
        self.resolve_from(catalog, &segments, 0, &mut explored)
    }

    /// Resolves `segments[start..]`; `explored` remembers the (entity, start) pairs already
    /// tried through relations, so that each is tried once.
    fn resolve_from<'c>(
        &'c self,
        catalog: &'c Catalog,
        segments: &[&str],
        start: usize,
        explored: &mut HashSet<(&'c str, usize)>,
    ) -> Option<PathMatch<'c>> {
        let rest = segments.get(start..)?;
        let longest = self.longest_path();
        if rest.len() <= longest {
            let joined = rest.join(".");
            if let Some(field) = self.field(&joined) {
                return Some(PathMatch::Path(field));
            }
            if let Some(field) = self.alt_field(&joined) {
                return Some(PathMatch::AltPath(field));
            }
        }
        if !explored.insert((&self.name, start)) {
            return None;
        }
        // Longest relation prefix first: a dotted relation path beats a shorter one.
        for len in (1..=longest.min(rest.len().saturating_sub(1))).rev() {
            let prefix = rest[..len].join(".");
            let Some(relation) = self.field(&prefix).or_else(|| self.alt_field(&prefix)) else {
                continue;
            };
            if relation.field_type != FieldType::Relation {
                continue;
            }
            let Some(target) = relation.target.as_deref().and_then(|t| catalog.entity(t)) else {
                continue;
            };
            match target.resolve_from(catalog, segments, start + len, explored) {
                Some(PathMatch::Path(field) | PathMatch::AltPath(field)) => {
                    return Some(PathMatch::ThroughRelation { relation, field });
                }
                Some(through @ PathMatch::ThroughRelation { .. }) => return Some(through),
                None => {}
            }
        }
        None
    }

    fn alt_field(&self, path: &str) -> Option<&Field> {
        self.fields
            .iter()
            .find(|f| f.alt_path.as_deref() == Some(path))
    }

    /// Most segments in any of the entity's paths and altPaths.
    fn longest_path(&self) -> usize {
        self.known_paths()
            .map(|p| p.split('.').count())
            .max()
            .unwrap_or(0)
    }

    /// Every path a filter may name without a warning: each field's `path` and `altPath`.
    pub fn known_paths(&self) -> impl Iterator<Item = &str> {
        self.fields
            .iter()
            .flat_map(|f| std::iter::once(f.path.as_str()).chain(f.alt_path.as_deref()))
    }
}

/// `^[a-z][a-z0-9_]*$`: entity names appear in event types (`entity:action`) and URLs.
fn is_entity_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

/// Lower-case segments of `[a-z0-9_]+` separated by dots, the form record keys take.
fn is_field_path(path: &str) -> bool {
    path.split('.').all(|segment| {
        !segment.is_empty()
            && segment
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
    })
}
