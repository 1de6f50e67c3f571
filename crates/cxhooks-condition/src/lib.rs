//! The filter condition language of cxhooks (SPEC §5): `data.tostatusnode eq '1234' or
//! metadata.paths has any of ['hascar']`.
//!
//! # Layout
//!
//! One module per stage, each feeding the next:
//!
//! - `lex`: text → tokens with 1-based character columns;
//! - [`parse`](mod@parse): tokens → [`Condition`] ([`ast`]), recursive descent, limits enforced
//!   (4 KiB, depth 32, 1,000 list items), [`ParseError`] with column, found and expected;
//! - [`check`]: `metadata.*` names (errors) and `data.*` paths against the entity's catalog
//!   fields (warnings), producing the `path`/`altPath` aliases;
//! - `compile`: [`Condition`] → [`CompiledCondition`], paths split into
//!   segments and literals converted once;
//! - [`eval`]: a [`CompiledCondition`] against a [`Change`] or a stored record, with the
//!   comparison rules (documented there);
//! - [`matcher`]: [`Matcher`], webhooks' [`Filter`]s indexed by tenant and event type.
//!
//! # Callers
//!
//! - The management API validates a filter with [`compile`]: a compiled condition and
//!   warnings, or every error, each with its column; with [`check_without_entity`] when the
//!   filter's event type is unusable.
//! - The record store's `filter=` uses [`compile_record_filter`] and
//!   [`CompiledCondition::matches_record`].
//! - The delivery pipeline files webhooks in a [`Matcher`] and asks it for the webhooks
//!   matching each change.
//!
//! # Where SPEC §5 is silent
//!
//! The comparison rules, and the choices made where the SPEC does not say, are listed in
//! [`eval`]. Beyond evaluation:
//!
//! - A `data.*` path that is a catalog field's `path` reads its `altPath` when the record
//!   lacks it (or holds null), and the other way round: `data.tostatusnode` and
//!   `data.touser.tosinglestatusnode` both find a candidate's status wherever the source put
//!   it. A path through a relation to an entity of the catalog (`data.touser.isactive`,
//!   `data.tostatusnode.value`) is accepted without warning; any other path warns.
//! - Nesting depth counts parentheses and `not`s (the parser's recursion); siblings do not
//!   add up.
//! - Numbers are written as in JSON (`01` and `1.` are errors), so a literal means what the
//!   same text means in a record; a number JSON cannot hold (`1e999`) is an error too.
//! - Whitespace (any Unicode whitespace, line breaks included) may stand between any two
//!   tokens, also around the dots of a path. Columns count characters from the start of the
//!   text; a line break is one character.
//! - Parse errors stop at the first problem; check errors are all reported.
//!
//! # Example
//!
//! ```
//! use cxhooks_catalog::{Catalog, EventType};
//! use cxhooks_condition::{Change, Filter, Matcher, compile};
//! use serde_json::json;
//!
//! // The management API validates a filter of a `cremployee:updated` webhook.
//! let event_type = EventType::parse("cremployee:updated").unwrap();
//! let (condition, warnings) =
//!     compile("data.tostatusnode eq '1234'", Catalog::builtin(), event_type.entity()).unwrap();
//! assert!(warnings.is_empty());
//!
//! // The delivery pipeline files the webhook, then asks which webhooks a change selects.
//! let mut matcher: Matcher<String, u128> = Matcher::new();
//! let filter = Filter { event_type: event_type.clone(), condition: Some(condition) };
//! matcher.insert("acme".to_owned(), 7, [filter]);
//! let data = json!({"touser": {"tosinglestatusnode": 1234}});
//! let paths = vec!["touser.tosinglestatusnode".to_owned()];
//! let change = Change::new(&event_type, "1", &data, &paths);
//! assert_eq!(matcher.matching("acme", &change).collect::<Vec<_>>(), [&7]);
//!
//! // The record store filters stored records.
//! let (filter, _) = cxhooks_condition::compile_record_filter(
//!     "data.hascar eq true", Catalog::builtin(), "cremployee").unwrap();
//! assert!(filter.matches_record(&json!({"hascar": 1})));
//! ```
#![warn(missing_docs)]

pub mod ast;
pub mod check;
mod compile;
pub mod eval;
mod lex;
pub mod matcher;
pub mod parse;

use cxhooks_catalog::Catalog;

pub use ast::{
    CompareOp, Condition, Literal, Number, Path, Predicate, Quantifier, Root, Test, TextOp,
};
pub use check::{CheckError, MetadataField, Subject, Warning};
pub use compile::CompiledCondition;
pub use eval::Change;
pub use matcher::{Filter, Matcher};
pub use parse::{MAX_DEPTH, MAX_LIST_ITEMS, MAX_SOURCE_BYTES, ParseError, ParseErrorKind, parse};

/// Anything that makes a condition unusable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConditionError {
    /// The text is not a condition.
    #[error(transparent)]
    Parse(#[from] ParseError),
    /// The condition names a path that cannot be used.
    #[error(transparent)]
    Check(#[from] CheckError),
}

impl ConditionError {
    /// 1-based column the error points at, when it points at one.
    pub fn column(&self) -> Option<usize> {
        match self {
            ConditionError::Parse(e) => Some(e.column),
            ConditionError::Check(e) => e.column(),
        }
    }
}

/// What [`compile`] gives for a usable condition: the compiled form and the warnings to show.
pub type Compiled = (CompiledCondition, Vec<Warning>);

/// Parses, checks and compiles a webhook filter's condition for changes of `entity` (an
/// entity of `catalog`, the one of the filter's event type).
///
/// A `data.*` path the catalog does not list is a warning; a parse error or a `metadata.*`
/// path SPEC §5 does not name is an error. A parse error stops at the first problem; check
/// errors are all reported.
pub fn compile(
    source: &str,
    catalog: &Catalog,
    entity: &str,
) -> Result<Compiled, Vec<ConditionError>> {
    compile_for(source, catalog, entity, Subject::Change)
}

/// Like [`compile`], for `GET /data/v1/{entity}?filter=`: evaluated against stored records
/// with [`CompiledCondition::matches_record`], so `metadata.*` paths are errors.
pub fn compile_record_filter(
    source: &str,
    catalog: &Catalog,
    entity: &str,
) -> Result<Compiled, Vec<ConditionError>> {
    compile_for(source, catalog, entity, Subject::Record)
}

/// Checks a webhook filter's condition whose entity is unknown (its event type is missing or
/// invalid): the syntax, `metadata.*` names and depth, everything but the `data.*` paths, so
/// that the condition's problems are reported together with the event type's.
pub fn check_without_entity(source: &str) -> Result<(), Vec<ConditionError>> {
    let condition = parse(source).map_err(|e| vec![ConditionError::Parse(e)])?;
    let errors = check::check_structure(&condition, Subject::Change);
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors.into_iter().map(ConditionError::Check).collect())
    }
}

fn compile_for(
    source: &str,
    catalog: &Catalog,
    entity: &str,
    subject: Subject,
) -> Result<Compiled, Vec<ConditionError>> {
    let condition = parse(source).map_err(|e| vec![ConditionError::Parse(e)])?;
    let report = check::check(&condition, catalog, entity, subject);
    if !report.errors.is_empty() {
        return Err(report
            .errors
            .into_iter()
            .map(ConditionError::Check)
            .collect());
    }
    let compiled = CompiledCondition::lower(&condition, &report.aliases);
    Ok((compiled, report.warnings))
}
