//! Semantic checks of a parsed condition: `metadata.*` paths against the names SPEC §5 gives
//! (errors), `data.*` paths against the entity's fields in the catalog (warnings, because
//! Carerix documents only some fields and others "might still function"), and a size guard on
//! trees built in code.

use std::fmt;

use cxhooks_catalog::{Catalog, Entity, FieldType, PathMatch};

use crate::ast::{CompareOp, Condition, Literal, Path, Root, Test};
use crate::parse::MAX_DEPTH;

/// Deepest `or`/`and`/`not` nesting a compiled condition may have. Parsed text stays within
/// it (each of the [`MAX_DEPTH`] levels adds at most an `or` and an `and`, plus the top two);
/// it bounds the evaluator's recursion for trees built in code.
pub const MAX_TREE_DEPTH: usize = 2 * MAX_DEPTH + 2;

/// A `metadata.*` path that SPEC §5 names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MetadataField {
    /// `metadata.paths`: the changed paths, a list of strings.
    Paths,
    /// `metadata.type`: `cremployee:updated`.
    Type,
    /// `metadata.entity`: `cremployee`.
    Entity,
    /// `metadata.action`: `updated`.
    Action,
    /// `metadata.entityId`: the record's id, a string.
    EntityId,
    /// `metadata.groupsAdded`: the groups the change put the record in (ids and labels).
    GroupsAdded,
    /// `metadata.groupsRemoved`: the groups the change took the record out of.
    GroupsRemoved,
}

impl MetadataField {
    /// Every field with its segment, as written after `metadata.` (case-sensitive).
    pub const ALL: [(&'static str, MetadataField); 7] = [
        ("paths", MetadataField::Paths),
        ("type", MetadataField::Type),
        ("entity", MetadataField::Entity),
        ("action", MetadataField::Action),
        ("entityId", MetadataField::EntityId),
        ("groupsAdded", MetadataField::GroupsAdded),
        ("groupsRemoved", MetadataField::GroupsRemoved),
    ];

    /// The field a path's segments name, if any: exactly one known segment.
    pub fn from_segments(segments: &[String]) -> Option<MetadataField> {
        match segments {
            [one] => Self::ALL
                .iter()
                .find(|(name, _)| name == one)
                .map(|&(_, f)| f),
            _ => None,
        }
    }
}

/// What a condition will be evaluated against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subject {
    /// Changes, in a webhook filter: `data.*` and `metadata.*` resolve.
    Change,
    /// Stored records, in `GET /data/v1/{entity}?filter=`: only `data.*` resolves.
    Record,
}

/// A problem that makes a condition unusable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CheckError {
    /// `metadata.changedFields`: SPEC §5 names only `paths`, `type`, `entity`, `action` and
    /// `entityId` (and issue 28 `groupsAdded` and `groupsRemoved`).
    #[error(
        "unknown path {path} at column {column}: expected metadata.paths, metadata.type, metadata.entity, \
         metadata.action, metadata.entityId, metadata.groupsAdded or metadata.groupsRemoved{}",
        hint(suggestion)
    )]
    UnknownMetadataPath {
        /// The path as written.
        path: String,
        /// Where it starts.
        column: usize,
        /// The known path probably meant (`metadata.entityId` for `metadata.entityid`).
        suggestion: Option<String>,
    },
    /// `metadata.paths` in a record filter, where there is no change.
    #[error(
        "{path} at column {column} cannot be used here: a record filter reads data.* paths only"
    )]
    MetadataInRecordFilter {
        /// The path as written.
        path: String,
        /// Where it starts.
        column: usize,
    },
    /// A tree built in code nesting deeper than [`MAX_TREE_DEPTH`].
    #[error("condition nests deeper than {max} levels of 'or', 'and' and 'not'")]
    TooDeep {
        /// The limit.
        max: usize,
    },
}

impl CheckError {
    /// 1-based column the error points at, when it points at one.
    pub fn column(&self) -> Option<usize> {
        match self {
            CheckError::UnknownMetadataPath { column, .. }
            | CheckError::MetadataInRecordFilter { column, .. } => Some(*column),
            CheckError::TooDeep { .. } => None,
        }
    }
}

/// Something probably wrong that does not stop a condition from working.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Warning {
    /// A `data.*` path the entity's catalog does not list (neither a `path` nor an `altPath`,
    /// nor a field reached through a relation).
    UnknownField {
        /// The path as written (`data.shoesize`).
        path: String,
        /// Where it starts.
        column: usize,
        /// The entity checked against.
        entity: String,
        /// A listed path that is probably meant (same letters in lower case, or one or two
        /// edits away).
        suggestion: Option<String>,
    },
    /// A 0/1 flag compared with something that can never equal a flag (`data.hascar eq 'yes'`).
    FlagComparedWithOther {
        /// The path as written.
        path: String,
        /// Where it starts.
        column: usize,
        /// The literal, printed.
        literal: String,
    },
    /// `contains`, `startswith` or `endswith` on a field that holds no text.
    TextTestOnNonText {
        /// The path as written.
        path: String,
        /// Where it starts.
        column: usize,
        /// The field's type.
        field_type: FieldType,
    },
}

impl Warning {
    /// 1-based column of the path the warning is about.
    pub fn column(&self) -> usize {
        match self {
            Warning::UnknownField { column, .. }
            | Warning::FlagComparedWithOther { column, .. }
            | Warning::TextTestOnNonText { column, .. } => *column,
        }
    }

    /// The path the warning is about, as written (`data.shoesize`).
    pub fn path(&self) -> &str {
        match self {
            Warning::UnknownField { path, .. }
            | Warning::FlagComparedWithOther { path, .. }
            | Warning::TextTestOnNonText { path, .. } => path,
        }
    }
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Warning::UnknownField {
                path,
                column,
                entity,
                suggestion,
            } => write!(
                f,
                "{path} at column {column} is not a field of {entity} in the catalog; it is accepted, \
                 but the source may never set it{}",
                hint(suggestion)
            ),
            Warning::FlagComparedWithOther {
                path,
                column,
                literal,
            } => write!(
                f,
                "{path} at column {column} is a 0/1 flag and never equals {literal}; compare it with true, false, 1 or 0"
            ),
            Warning::TextTestOnNonText {
                path,
                column,
                field_type,
            } => write!(
                f,
                "{path} at column {column} holds no text (its type is {field_type}); contains, startswith and endswith only match text"
            ),
        }
    }
}

fn hint(suggestion: &Option<String>) -> String {
    suggestion
        .as_ref()
        .map(|s| format!(" (did you mean {s}?)"))
        .unwrap_or_default()
}

/// The outcome of [`check`].
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// Problems that make the condition unusable.
    pub errors: Vec<CheckError>,
    /// Problems reported to the user while the condition is accepted.
    pub warnings: Vec<Warning>,
    /// `data.*` paths that name the same field as another path (a catalog `path` and its
    /// `altPath`): the evaluator looks at the other one when the first is missing.
    pub(crate) aliases: Vec<(Vec<String>, Vec<String>)>,
}

/// Checks a condition without a catalog: `metadata.*` names, their use in record filters, and
/// the tree's depth.
pub fn check_structure(condition: &Condition, subject: Subject) -> Vec<CheckError> {
    if deeper_than(condition, MAX_TREE_DEPTH) {
        return vec![CheckError::TooDeep {
            max: MAX_TREE_DEPTH,
        }];
    }
    let mut errors = Vec::new();
    for predicate in condition.predicates() {
        let path = &predicate.path;
        if path.root() != Root::Metadata {
            continue;
        }
        let (written, column) = (path.to_string(), path.column());
        if MetadataField::from_segments(path.segments()).is_none() {
            errors.push(CheckError::UnknownMetadataPath {
                suggestion: metadata_suggestion(&path.dotted()),
                path: written,
                column,
            });
        } else if subject == Subject::Record {
            errors.push(CheckError::MetadataInRecordFilter {
                path: written,
                column,
            });
        }
    }
    errors
}

fn deeper_than(condition: &Condition, max: usize) -> bool {
    match condition {
        Condition::Predicate(_) => false,
        _ if max == 0 => true,
        Condition::Or(cs) | Condition::And(cs) => cs.iter().any(|c| deeper_than(c, max - 1)),
        Condition::Not(c) => deeper_than(c, max - 1),
    }
}

fn metadata_suggestion(dotted: &str) -> Option<String> {
    if dotted.eq_ignore_ascii_case("changedfields") {
        return Some("metadata.paths".into());
    }
    MetadataField::ALL
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(dotted))
        .map(|(name, _)| format!("metadata.{name}"))
}

/// Checks a condition for filters of `entity` (an entity name of `catalog`): everything
/// [`check_structure`] checks, plus `data.*` paths against the entity's fields.
pub fn check(condition: &Condition, catalog: &Catalog, entity: &str, subject: Subject) -> Report {
    let mut report = Report {
        errors: check_structure(condition, subject),
        ..Report::default()
    };
    if !report.errors.is_empty() {
        return report;
    }
    let entity_fields = catalog.entity(entity);
    for predicate in condition.predicates() {
        let path = &predicate.path;
        if path.root() != Root::Data {
            continue;
        }
        let dotted = path.dotted();
        let found = entity_fields.and_then(|e| e.resolve(catalog, &dotted));
        let field = match found {
            None => {
                report.warnings.push(Warning::UnknownField {
                    path: path.to_string(),
                    column: path.column(),
                    entity: entity.to_owned(),
                    suggestion: entity_fields.and_then(|e| data_suggestion(e, &dotted)),
                });
                continue;
            }
            Some(PathMatch::Path(field)) => {
                if let Some(alt) = &field.alt_path {
                    add_alias(&mut report, path, alt);
                }
                field
            }
            Some(PathMatch::AltPath(field)) => {
                add_alias(&mut report, path, &field.path);
                field
            }
            Some(PathMatch::ThroughRelation { field, .. }) => field,
        };
        type_warnings(&mut report, path, field.field_type, &predicate.test);
    }
    report
}

fn add_alias(report: &mut Report, path: &Path, other: &str) {
    let from = path.segments().to_vec();
    if !report.aliases.iter().any(|(f, _)| *f == from) {
        report
            .aliases
            .push((from, other.split('.').map(str::to_owned).collect()));
    }
}

fn type_warnings(report: &mut Report, path: &Path, field_type: FieldType, test: &Test) {
    let text_test = matches!(test, Test::Text(..));
    if text_test
        && matches!(
            field_type,
            FieldType::Number | FieldType::Integer | FieldType::Boolean | FieldType::Relation
        )
    {
        report.warnings.push(Warning::TextTestOnNonText {
            path: path.to_string(),
            column: path.column(),
            field_type,
        });
    }
    if field_type != FieldType::Boolean {
        return;
    }
    let never_a_flag = match test {
        Test::Compare(CompareOp::Eq | CompareOp::Ne, literal) => {
            Some(literal).filter(|l| !can_equal_flag(l))
        }
        Test::In(list) | Test::Has(_, list) => list.iter().find(|l| !can_equal_flag(l)),
        _ => None,
    };
    if let Some(literal) = never_a_flag {
        report.warnings.push(Warning::FlagComparedWithOther {
            path: path.to_string(),
            column: path.column(),
            literal: literal.to_string(),
        });
    }
}

fn can_equal_flag(literal: &Literal) -> bool {
    match literal {
        Literal::Bool(_) | Literal::Null => true,
        Literal::Number(n) => {
            serde_json::from_str::<f64>(n.as_str()).is_ok_and(|v| v == 0.0 || v == 1.0)
        }
        Literal::String(s) => s == "0" || s == "1",
    }
}

fn data_suggestion(entity: &Entity, dotted: &str) -> Option<String> {
    let lower = dotted.to_ascii_lowercase();
    let best = entity
        .known_paths()
        // The distance is at least the difference in length: skip the table for those.
        .filter(|known| lower.len().abs_diff(known.len()) <= 2)
        .map(|known| (edit_distance(&lower, known), known))
        .filter(|&(distance, _)| distance <= 2)
        .min_by_key(|&(distance, _)| distance)?;
    Some(format!("data.{}", best.1))
}

/// Levenshtein distance over characters; paths are short, so the quadratic table is cheap.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            let substitution = diagonal + usize::from(ca != cb);
            diagonal = row[j + 1];
            row[j + 1] = substitution.min(row[j] + 1).min(row[j + 1] + 1);
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::edit_distance;

    #[test]
    fn edit_distance_counts_insertions_deletions_and_substitutions() {
        assert_eq!(edit_distance("tostatusnode", "tostatusnode"), 0);
        assert_eq!(edit_distance("tostatusnod", "tostatusnode"), 1);
        assert_eq!(edit_distance("tostatusnodes", "tostatusnode"), 1);
        assert_eq!(edit_distance("tostatusnade", "tostatusnode"), 1);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }
}
