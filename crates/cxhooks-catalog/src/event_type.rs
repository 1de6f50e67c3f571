//! Actions and event types (`cremployee:updated`), validated against a [`Catalog`].

use std::fmt;
use std::hash::{Hash, Hasher};
use std::str::FromStr;

use serde::{Deserialize, Serialize, Serializer};

use crate::Catalog;

/// What happened to a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// A record was created; `data` is the new record.
    Created,
    /// A record was changed; `data` is the record after the change.
    Updated,
    /// A record was deleted; `data` is the record before the deletion.
    Deleted,
}

impl Action {
    /// Every action, in the order the documents list them.
    pub const ALL: [Action; 3] = [Action::Created, Action::Updated, Action::Deleted];

    /// The action's name as written in event types.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Created => "created",
            Action::Updated => "updated",
            Action::Deleted => "deleted",
        }
    }

    /// Parses `created`, `updated` or `deleted` (lower case, as in event types).
    pub fn parse(text: &str) -> Option<Action> {
        Action::ALL.into_iter().find(|a| a.as_str() == text)
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An entity of the catalog and an action: `cremployee:updated`.
///
/// Only built through a catalog ([`EventType::parse`], [`Catalog::parse_event_type`],
/// [`Catalog::event_type`]), so an `EventType` always names a known entity. The text form is
/// kept whole because matching hashes it for every change and `metadata.type` reads it.
#[derive(Debug, Clone)]
pub struct EventType {
    text: Box<str>,
    entity_len: usize,
    action: Action,
}

/// Why a text is not a valid event type; the message lists what is valid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EventTypeError {
    /// No single `:` separating entity and action.
    #[error(
        "'{input}' is not an event type: expected {{entity}}:{{action}}, such as cremployee:updated"
    )]
    Malformed {
        /// The text given.
        input: String,
    },
    /// The entity is not in the catalog.
    #[error("unknown entity '{entity}'{hint}; valid entities: {valid}", hint = case_hint(entity, valid), valid = valid.join(", "))]
    UnknownEntity {
        /// The entity given.
        entity: String,
        /// The catalog's entities.
        valid: Vec<String>,
    },
    /// The action is not `created`, `updated` or `deleted`.
    #[error("unknown action '{action}'; valid actions: created, updated, deleted")]
    UnknownAction {
        /// The action given.
        action: String,
    },
}

fn case_hint(entity: &str, valid: &[String]) -> String {
    let lower = entity.to_ascii_lowercase();
    if lower != entity && valid.contains(&lower) {
        format!(" (entity names are lower case: {lower})")
    } else {
        String::new()
    }
}

impl EventType {
    /// Parses `{entity}:{action}` against the [builtin catalog](Catalog::builtin). A server
    /// with operator-configured entities uses [`Catalog::parse_event_type`] instead.
    pub fn parse(text: &str) -> Result<EventType, EventTypeError> {
        Catalog::builtin().parse_event_type(text)
    }

    pub(crate) fn new_unchecked(entity: &str, action: Action) -> EventType {
        EventType {
            text: format!("{entity}:{action}").into_boxed_str(),
            entity_len: entity.len(),
            action,
        }
    }

    /// The entity (`cremployee`).
    pub fn entity(&self) -> &str {
        &self.text[..self.entity_len]
    }

    /// The action.
    pub fn action(&self) -> Action {
        self.action
    }

    /// The whole text (`cremployee:updated`).
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

impl Catalog {
    /// Parses `{entity}:{action}`; the entity must be in this catalog.
    pub fn parse_event_type(&self, text: &str) -> Result<EventType, EventTypeError> {
        let Some((entity, action)) = text.split_once(':') else {
            return Err(EventTypeError::Malformed { input: text.into() });
        };
        if action.contains(':') {
            return Err(EventTypeError::Malformed { input: text.into() });
        }
        let Some(action) = Action::parse(action) else {
            // The entity is checked first below only when the action is fine, so report the
            // entity too if both are wrong: the entity is the likelier mistake.
            self.event_type_entity(entity)?;
            return Err(EventTypeError::UnknownAction {
                action: action.into(),
            });
        };
        self.event_type(entity, action)
    }

    /// The event type of `entity` (which must be in this catalog) and `action`.
    pub fn event_type(&self, entity: &str, action: Action) -> Result<EventType, EventTypeError> {
        self.event_type_entity(entity)?;
        Ok(EventType::new_unchecked(entity, action))
    }

    fn event_type_entity(&self, entity: &str) -> Result<(), EventTypeError> {
        if self.entity(entity).is_some() {
            Ok(())
        } else {
            Err(EventTypeError::UnknownEntity {
                entity: entity.into(),
                valid: self.entities().map(|e| e.name.clone()).collect(),
            })
        }
    }
}

impl PartialEq for EventType {
    fn eq(&self, other: &Self) -> bool {
        self.text == other.text
    }
}

impl Eq for EventType {}

impl Hash for EventType {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.text.hash(state);
    }
}

impl PartialOrd for EventType {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for EventType {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.text.cmp(&other.text)
    }
}

impl fmt::Display for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// Parses against the builtin catalog, like [`EventType::parse`].
impl FromStr for EventType {
    type Err = EventTypeError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        EventType::parse(s)
    }
}

/// Serialises as its text. There is deliberately no `Deserialize`: reading an event type needs
/// the catalog in force, which may hold operator-configured entities.
impl Serialize for EventType {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.text)
    }
}
