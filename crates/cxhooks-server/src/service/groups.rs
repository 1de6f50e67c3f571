//! Groups (seed 004's roadmap: "if group 'Do not send Emails' is changed » notification").
//!
//! A record's groups are a list of `crdatanode` ids (`groupnodes`; a candidate's
//! `touser.groupnodes`). The record store works out which groups a write added and removed and
//! the change carries them as `metadata.groupsAdded` and `metadata.groupsRemoved`: each group's
//! id, then its label when a `crdatanode` record of type `Group` names it. So a condition says
//! "group 1234 was added" as `metadata.groupsAdded has any of ['1234']` or by its label,
//! `metadata.groupsAdded has any of ['Do not send Emails']`, and "the record is now in group
//! 1234" as `data.groupnodes has any of [1234]`. A label a condition names must be a group's.

use cxhooks_catalog::{Entity, FieldType};
use cxhooks_condition::{Literal, MetadataField, Root, Test};
use cxhooks_store::{Store, StoreError, TenantName};
use serde_json::Value;

/// The `crdatanode` type of groups.
pub const GROUP_TYPE: &str = "Group";

/// One group: a `crdatanode` of type `Group`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    /// Its `datanodeid`, as text.
    pub id: String,
    /// Its `value`: the label people know it by.
    pub label: String,
}

/// The tenant's groups, from its `crdatanode` records.
pub async fn of(store: &Store, tenant: &TenantName) -> Result<Vec<Group>, StoreError> {
    let mut groups = Vec::new();
    let mut after = 0;
    loop {
        let page = store
            .records_after(tenant, "crdatanode", after, 500)
            .await?;
        let Some(last) = page.last() else {
            return Ok(groups);
        };
        after = last.id;
        for r in &page {
            let Ok(node) = serde_json::from_str::<Value>(&r.data) else {
                continue;
            };
            let is_group = node["type"]
                .as_str()
                .is_some_and(|t| t.eq_ignore_ascii_case(GROUP_TYPE));
            if let (true, Some(id), Some(label)) = (
                is_group,
                id_text(&node["datanodeid"]),
                node["value"].as_str(),
            ) {
                groups.push(Group {
                    id,
                    label: label.to_owned(),
                });
            }
        }
    }
}

/// A group reference as text: a number or a string of one, or an object with `datanodeid`.
fn id_text(v: &Value) -> Option<String> {
    match v {
        Value::Number(n) => Some(n.to_string()),
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Object(o) => o.get("datanodeid").and_then(id_text),
        _ => None,
    }
}

/// The group lists of `record` (each field of `entity` that is a list of `crdatanode` named
/// `groupnodes`), as ids, in order, without repeats.
fn groups_in(entity: &Entity, record: Option<&Value>) -> Vec<String> {
    let mut ids = Vec::new();
    let Some(record) = record else {
        return ids;
    };
    for field in entity.fields.iter().filter(|f| {
        f.field_type == FieldType::List
            && f.target.as_deref() == Some("crdatanode")
            && f.path.rsplit('.').next() == Some("groupnodes")
    }) {
        let mut v = record;
        for segment in field.path.split('.') {
            v = &v[segment];
        }
        for id in v.as_array().into_iter().flatten().filter_map(id_text) {
            if !ids.contains(&id) {
                ids.push(id);
            }
        }
    }
    ids
}

/// The groups a write added and removed (ids): `old` is the record before (none for a
/// creation), `new` after (none for a deletion).
pub fn diff(
    entity: &Entity,
    old: Option<&Value>,
    new: Option<&Value>,
) -> (Vec<String>, Vec<String>) {
    let (before, after) = (groups_in(entity, old), groups_in(entity, new));
    let added = after
        .iter()
        .filter(|g| !before.contains(g))
        .cloned()
        .collect();
    let removed = before
        .iter()
        .filter(|g| !after.contains(g))
        .cloned()
        .collect();
    (added, removed)
}

/// Each id followed by its label, when a group names it.
pub fn with_labels(ids: Vec<String>, groups: &[Group]) -> Vec<String> {
    let mut out = Vec::with_capacity(ids.len() * 2);
    for id in ids {
        let label = groups.iter().find(|g| g.id == id).map(|g| g.label.clone());
        out.push(id);
        out.extend(label);
    }
    out
}

/// A condition's group labels that name no group: one message per unknown label in a test of
/// `metadata.groupsAdded` or `metadata.groupsRemoved` (ids, all digits, are taken as they are).
pub fn label_errors(source: &str, groups: &[Group]) -> Vec<String> {
    let Ok(condition) = cxhooks_condition::parse(source) else {
        return Vec::new();
    };
    let mut errors = Vec::new();
    for predicate in condition.predicates() {
        let path = &predicate.path;
        let is_groups = path.root() == Root::Metadata
            && matches!(
                MetadataField::from_segments(path.segments()),
                Some(MetadataField::GroupsAdded | MetadataField::GroupsRemoved)
            );
        if !is_groups {
            continue;
        }
        let named: Vec<&str> = match &predicate.test {
            Test::Has(_, items) | Test::In(items) => items
                .iter()
                .filter_map(|l| match l {
                    Literal::String(t) => Some(t.as_str()),
                    _ => None,
                })
                .collect(),
            Test::Compare(_, Literal::String(t)) | Test::Text(_, t) => vec![t.as_str()],
            _ => Vec::new(),
        };
        for text in named {
            let is_id = !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit());
            if is_id || groups.iter().any(|g| g.label == text) {
                continue;
            }
            let mut labels: Vec<&str> = groups.iter().map(|g| g.label.as_str()).collect();
            labels.sort_unstable();
            labels.truncate(20);
            errors.push(if labels.is_empty() {
                format!(
                    "{path} at column {}: no group '{text}': there are no crdatanode records of \
                     type '{GROUP_TYPE}' (name a group by its id, or create its crdatanode first)",
                    path.column()
                )
            } else {
                format!(
                    "{path} at column {}: no group '{text}'; groups are {} (labels are \
                     case-sensitive; ids work too)",
                    path.column(),
                    labels.join(", ")
                )
            });
        }
    }
    errors
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_write_adds_and_removes_groups_by_id() {
        let catalog = cxhooks_catalog::Catalog::builtin();
        let employee = catalog.entity("cremployee").unwrap();
        let old = json!({"touser": {"groupnodes": [1, 2, {"datanodeid": 3}]}});
        let new = json!({"touser": {"groupnodes": ["2", 3, 4]}});
        assert_eq!(
            diff(employee, Some(&old), Some(&new)),
            (vec!["4".into()], vec!["1".into()])
        );
        assert_eq!(diff(employee, None, Some(&new)).0, ["2", "3", "4"]);
        assert_eq!(diff(employee, Some(&old), None).1, ["1", "2", "3"]);
        let groups = [Group {
            id: "4".into(),
            label: "Do not send Emails".into(),
        }];
        assert_eq!(
            with_labels(vec!["4".into(), "5".into()], &groups),
            ["4", "Do not send Emails", "5"]
        );
    }

    #[test]
    fn unknown_labels_are_named() {
        let groups = [Group {
            id: "4".into(),
            label: "Do not send Emails".into(),
        }];
        assert!(
            label_errors(
                "metadata.groupsAdded has any of ['Do not send Emails', '17']",
                &groups
            )
            .is_empty()
        );
        let e = label_errors("metadata.groupsRemoved has any of ['VIP']", &groups);
        assert_eq!(e.len(), 1);
        assert!(
            e[0].contains("no group 'VIP'; groups are Do not send Emails"),
            "{e:?}"
        );
        assert!(label_errors("data.groupnodes has any of ['VIP']", &groups).is_empty());
        assert_eq!(
            label_errors("metadata.groupsAdded contains 'VIP'", &groups).len(),
            1
        );
    }
}
