//! `Vec<Entity>` as a JSON object keyed by entity name, in order. A `BTreeMap` would sort the
//! entities alphabetically, but the catalog's order (candidates first) is the one people read.

use std::fmt;

use serde::de::{MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserializer, Serializer};

use crate::Entity;

pub(crate) fn serialize<S: Serializer>(entities: &[Entity], s: S) -> Result<S::Ok, S::Error> {
    let mut map = s.serialize_map(Some(entities.len()))?;
    for entity in entities {
        map.serialize_entry(&entity.name, entity)?;
    }
    map.end()
}

pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Entity>, D::Error> {
    d.deserialize_map(EntitiesVisitor)
}

struct EntitiesVisitor;

impl<'de> Visitor<'de> for EntitiesVisitor {
    type Value = Vec<Entity>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an object mapping entity names to entities")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut entities: Vec<Entity> = Vec::new();
        while let Some((name, mut entity)) = map.next_entry::<String, Entity>()? {
            if entities.iter().any(|e| e.name == name) {
                return Err(serde::de::Error::custom(format_args!(
                    "entity {name} appears twice"
                )));
            }
            entity.name = name;
            entities.push(entity);
        }
        Ok(entities)
    }
}
