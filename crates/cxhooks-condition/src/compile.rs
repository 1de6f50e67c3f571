//! Lowering a checked syntax tree into [`CompiledCondition`], the form the evaluator runs:
//! paths split into segments, aliases attached, literals converted once (numbers parsed,
//! canonical texts worked out), so that evaluating allocates nothing.

use std::fmt;
use std::sync::Arc;

use serde_json::Value;

use crate::ast::{CompareOp, Condition, Quantifier, Root, Test, TextOp};
use crate::check::{CheckError, MetadataField, Subject, check_structure};
use crate::eval::{Change, Input, Lit, eval};

/// A condition compiled once, at webhook create or update, and evaluated for every change.
///
/// Cheap to clone (the compiled tree is shared). Prints as the condition's canonical text.
#[derive(Debug, Clone)]
pub struct CompiledCondition {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    condition: Condition,
    root: Node,
}

#[derive(Debug)]
pub(crate) enum Node {
    Or(Box<[Node]>),
    And(Box<[Node]>),
    Not(Box<Node>),
    Test(Source, TestOp),
}

/// Where a predicate's value comes from.
#[derive(Debug)]
pub(crate) enum Source {
    /// A path in the record; `alternate` is read when `path` is missing or null (a catalog
    /// field's `path` and `altPath` name the same thing).
    Data {
        path: Box<[Box<str>]>,
        alternate: Option<Box<[Box<str>]>>,
    },
    Metadata(MetadataField),
    /// Stands for a `metadata.*` path the check refused; a checked tree never has one, but
    /// lowering must not panic if it did.
    Absent,
}

#[derive(Debug, Clone, Copy)]
pub(crate) enum OrderOp {
    Lt,
    Le,
    Gt,
    Ge,
}

#[derive(Debug)]
pub(crate) enum TestOp {
    Eq(Lit),
    Ne(Lit),
    Order(OrderOp, Lit),
    Has(Quantifier, Box<[Lit]>),
    In(Box<[Lit]>),
    /// Holds a string literal: substring on strings, element equality on arrays.
    Contains(Lit),
    StartsWith(Box<str>),
    EndsWith(Box<str>),
    Exists,
    Missing,
}

impl CompiledCondition {
    /// Compiles a condition over changes with only the catalog-free checks
    /// ([`check_structure`]): `metadata.*` names and depth. Without a catalog, `data.*` paths
    /// get no `altPath` fallback; [`crate::compile`] gives both.
    pub fn new(condition: &Condition) -> Result<CompiledCondition, Vec<CheckError>> {
        let errors = check_structure(condition, Subject::Change);
        if errors.is_empty() {
            Ok(CompiledCondition::lower(condition, &[]))
        } else {
            Err(errors)
        }
    }

    /// Lowers a tree that passed the checks; `aliases` pairs paths naming the same field.
    pub(crate) fn lower(
        condition: &Condition,
        aliases: &[(Vec<String>, Vec<String>)],
    ) -> CompiledCondition {
        CompiledCondition {
            inner: Arc::new(Inner {
                condition: condition.clone(),
                root: lower(condition, aliases),
            }),
        }
    }

    /// The syntax tree this was compiled from.
    pub fn condition(&self) -> &Condition {
        &self.inner.condition
    }

    /// Whether the condition holds for a change.
    pub fn matches(&self, change: &Change<'_>) -> bool {
        let input = Input {
            data: change.data,
            change: Some(change),
        };
        eval(&self.inner.root, input)
    }

    /// Whether the condition holds for a stored record; `metadata.*` paths read as missing
    /// (record filters refuse them when compiled with [`crate::compile_record_filter`]).
    pub fn matches_record(&self, record: &Value) -> bool {
        let input = Input {
            data: record,
            change: None,
        };
        eval(&self.inner.root, input)
    }
}

impl PartialEq for CompiledCondition {
    fn eq(&self, other: &Self) -> bool {
        self.inner.condition == other.inner.condition
    }
}

impl fmt::Display for CompiledCondition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.inner.condition.fmt(f)
    }
}

fn segments<S: AsRef<str>>(path: &[S]) -> Box<[Box<str>]> {
    path.iter().map(|s| Box::from(s.as_ref())).collect()
}

fn lower(condition: &Condition, aliases: &[(Vec<String>, Vec<String>)]) -> Node {
    let all = |cs: &[Condition]| cs.iter().map(|c| lower(c, aliases)).collect();
    match condition {
        Condition::Or(cs) => Node::Or(all(cs)),
        Condition::And(cs) => Node::And(all(cs)),
        Condition::Not(c) => Node::Not(Box::new(lower(c, aliases))),
        Condition::Predicate(p) => {
            let path = p.path.segments();
            let source = match p.path.root() {
                Root::Data => Source::Data {
                    path: segments(path),
                    alternate: aliases
                        .iter()
                        .find(|(from, _)| from.as_slice() == path)
                        .map(|(_, to)| segments(to)),
                },
                Root::Metadata => {
                    MetadataField::from_segments(path).map_or(Source::Absent, Source::Metadata)
                }
            };
            let lits = |list: &[crate::ast::Literal]| list.iter().map(Lit::new).collect();
            let op = match &p.test {
                Test::Compare(op, literal) => {
                    let lit = Lit::new(literal);
                    match op {
                        CompareOp::Eq => TestOp::Eq(lit),
                        CompareOp::Ne => TestOp::Ne(lit),
                        CompareOp::Lt => TestOp::Order(OrderOp::Lt, lit),
                        CompareOp::Le => TestOp::Order(OrderOp::Le, lit),
                        CompareOp::Gt => TestOp::Order(OrderOp::Gt, lit),
                        CompareOp::Ge => TestOp::Order(OrderOp::Ge, lit),
                    }
                }
                Test::Has(q, list) => TestOp::Has(*q, lits(list)),
                Test::In(list) => TestOp::In(lits(list)),
                Test::Text(TextOp::Contains, text) => {
                    TestOp::Contains(Lit::new(&crate::ast::Literal::String(text.clone())))
                }
                Test::Text(TextOp::StartsWith, text) => TestOp::StartsWith(text.as_str().into()),
                Test::Text(TextOp::EndsWith, text) => TestOp::EndsWith(text.as_str().into()),
                Test::Exists => TestOp::Exists,
                Test::Missing => TestOp::Missing,
            };
            Node::Test(source, op)
        }
    }
}
