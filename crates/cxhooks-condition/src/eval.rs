//! Evaluation of a compiled condition against a change or a stored record, with the comparison
//! rules of SPEC §5. Nothing here allocates, and nothing panics: every value shape has an
//! answer, usually `false`.
//!
//! The rules, including those SPEC §5 leaves open:
//! - A missing path and JSON `null` are the same: `eq null` is true for both, `ne` anything
//!   else is true, `exists` is false.
//! - A string and a number are equal when the string is the number's canonical JSON text, in
//!   either direction: `'1234' eq 1234` and `1234 eq '1234'` (ids are numbers that documents
//!   quote, and sources sometimes store them as strings). `'01234'` and `'1234.0'` are not
//!   `1234`.
//! - `true`/`false` equal the numbers 1 and 0 (Carerix stores flags as integers).
//! - Numbers compare by value (`1 eq 1.0`); ordering compares numbers as numbers and strings by
//!   code point, and is false across types and for null, booleans, arrays and objects.
//! - `eq`, `ne` and `in` compare the value itself: an array or object equals no literal.
//! - `has any|all|none of` reads an array as its elements, a scalar as a one-element list and
//!   a missing path or null as the empty list.
//! - `contains` on a string tests for a substring; on an array (or `metadata.paths`), for an
//!   element equal to the string by the rules above. `startswith` and `endswith` test strings
//!   only. Text tests are case-sensitive.
//! - `data.*` walks JSON objects key by key; arrays are not indexed into.

use std::cmp::Ordering;

use cxhooks_catalog::EventType;
use serde_json::Value;

use crate::ast::{Literal, Quantifier};
use crate::check::MetadataField;
use crate::compile::{Node, OrderOp, Source, TestOp};

/// A change as the matcher sees it: the record and the change's metadata, all borrowed.
#[derive(Debug, Clone, Copy)]
pub struct Change<'a> {
    /// The event type (`metadata.type`, `metadata.entity`, `metadata.action`).
    pub event_type: &'a EventType,
    /// The record's id (`metadata.entityId`).
    pub entity_id: &'a str,
    /// The record after the change, or before it for `deleted` (`data.*`).
    pub data: &'a Value,
    /// The changed paths (`metadata.paths`).
    pub paths: &'a [String],
    /// Groups the record was put in (`metadata.groupsAdded`): ids and labels.
    pub groups_added: &'a [String],
    /// Groups the record was taken out of (`metadata.groupsRemoved`).
    pub groups_removed: &'a [String],
}

impl<'a> Change<'a> {
    /// Bundles the parts of a change.
    pub fn new(
        event_type: &'a EventType,
        entity_id: &'a str,
        data: &'a Value,
        paths: &'a [String],
    ) -> Self {
        Change {
            event_type,
            entity_id,
            data,
            paths,
            groups_added: &[],
            groups_removed: &[],
        }
    }

    /// The groups the change put the record in and took it out of.
    pub fn with_groups(mut self, added: &'a [String], removed: &'a [String]) -> Self {
        self.groups_added = added;
        self.groups_removed = removed;
        self
    }
}

/// What a condition is evaluated against: a record, with a change's metadata or without.
#[derive(Clone, Copy)]
pub(crate) struct Input<'a> {
    pub data: &'a Value,
    pub change: Option<&'a Change<'a>>,
}

/// A number kept as JSON holds it, so that "same canonical text" is a cheap comparison.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Num {
    /// A non-negative integer.
    U(u64),
    /// A negative integer.
    I(i64),
    /// Anything with a fraction or exponent.
    F(f64),
}

impl Num {
    pub fn of(n: &serde_json::Number) -> Num {
        if let Some(u) = n.as_u64() {
            Num::U(u)
        } else if let Some(i) = n.as_i64() {
            Num::I(i)
        } else {
            Num::F(n.as_f64().unwrap_or(f64::NAN))
        }
    }

    /// Whether both print the same: serde_json prints each variant's value one way, and the
    /// shortest float text is unique per bit pattern.
    fn same_text(self, other: Num) -> bool {
        match (self, other) {
            (Num::U(a), Num::U(b)) => a == b,
            (Num::I(a), Num::I(b)) => a == b,
            (Num::F(a), Num::F(b)) => a.to_bits() == b.to_bits(),
            _ => false,
        }
    }

    fn compare(self, other: Num) -> Option<Ordering> {
        let int = |n: Num| match n {
            Num::U(u) => Some(i128::from(u)),
            Num::I(i) => Some(i128::from(i)),
            Num::F(_) => None,
        };
        match (int(self), int(other)) {
            (Some(a), Some(b)) => Some(a.cmp(&b)),
            _ => self.as_f64().partial_cmp(&other.as_f64()),
        }
    }

    fn as_f64(self) -> f64 {
        match self {
            Num::U(u) => u as f64,
            Num::I(i) => i as f64,
            Num::F(f) => f,
        }
    }
}

/// A literal with everything the comparisons need worked out once, at compile time.
#[derive(Debug, Clone)]
pub(crate) enum Lit {
    Null,
    Bool(bool),
    Num {
        value: Num,
        /// The canonical text, for comparing with string values.
        text: Box<str>,
    },
    Str {
        text: Box<str>,
        /// Set when `text` is some number's canonical text (`'1234'`), for number values.
        number: Option<Num>,
    },
}

impl Lit {
    pub fn new(literal: &Literal) -> Lit {
        match literal {
            Literal::Null => Lit::Null,
            Literal::Bool(b) => Lit::Bool(*b),
            Literal::Number(n) => match serde_json::from_str::<serde_json::Number>(n.as_str()) {
                Ok(number) => Lit::Num {
                    value: Num::of(&number),
                    text: number.to_string().into_boxed_str(),
                },
                // The lexer only lets through numbers serde_json reads; a `Number` built in
                // code is validated the same way. Equal to nothing is the safe reading.
                Err(_) => Lit::Num {
                    value: Num::F(f64::NAN),
                    text: "".into(),
                },
            },
            Literal::String(s) => Lit::Str {
                number: serde_json::from_str::<serde_json::Number>(s)
                    .ok()
                    .filter(|n| n.to_string() == *s)
                    .map(|n| Num::of(&n)),
                text: s.as_str().into(),
            },
        }
    }
}

/// A path's value, before it is read as a scalar or a list.
#[derive(Clone, Copy)]
enum Resolved<'a> {
    Missing,
    Json(&'a Value),
    Str(&'a str),
    /// `metadata.paths`.
    List(&'a [String]),
}

/// One value to compare with a literal.
#[derive(Clone, Copy)]
enum Scalar<'a> {
    Null,
    Bool(bool),
    Num(Num),
    Str(&'a str),
    /// An array or object: equal to no literal, ordered with nothing.
    Composite,
}

fn scalar(v: &Value) -> Scalar<'_> {
    match v {
        Value::Null => Scalar::Null,
        Value::Bool(b) => Scalar::Bool(*b),
        Value::Number(n) => Scalar::Num(Num::of(n)),
        Value::String(s) => Scalar::Str(s),
        Value::Array(_) | Value::Object(_) => Scalar::Composite,
    }
}

fn flag_value(b: bool) -> Num {
    Num::U(u64::from(b))
}

fn equals(v: Scalar<'_>, lit: &Lit) -> bool {
    match (v, lit) {
        (Scalar::Null, Lit::Null) => true,
        (Scalar::Bool(a), Lit::Bool(b)) => a == *b,
        (Scalar::Bool(b), Lit::Num { value, .. }) => {
            value.compare(flag_value(b)) == Some(Ordering::Equal)
        }
        (Scalar::Num(n), Lit::Bool(b)) => n.compare(flag_value(*b)) == Some(Ordering::Equal),
        (Scalar::Num(a), Lit::Num { value, .. }) => a.compare(*value) == Some(Ordering::Equal),
        (Scalar::Num(a), Lit::Str { number, .. }) => number.is_some_and(|n| n.same_text(a)),
        (Scalar::Str(s), Lit::Num { text, .. }) => s == &**text,
        (Scalar::Str(a), Lit::Str { text, .. }) => a == &**text,
        _ => false,
    }
}

fn order(v: Scalar<'_>, lit: &Lit) -> Option<Ordering> {
    match (v, lit) {
        (Scalar::Num(a), Lit::Num { value, .. }) => a.compare(*value),
        (Scalar::Str(a), Lit::Str { text, .. }) => Some(a.cmp(text)),
        _ => None,
    }
}

impl<'a> Resolved<'a> {
    fn scalar(self) -> Scalar<'a> {
        match self {
            Resolved::Missing => Scalar::Null,
            Resolved::Json(v) => scalar(v),
            Resolved::Str(s) => Scalar::Str(s),
            Resolved::List(_) => Scalar::Composite,
        }
    }

    /// Whether any item passes `f`, reading the value as a list (see the module rules).
    fn any_item(self, mut f: impl FnMut(Scalar<'a>) -> bool) -> bool {
        match self {
            Resolved::Missing | Resolved::Json(Value::Null) => false,
            Resolved::Json(Value::Array(items)) => items.iter().any(|v| f(scalar(v))),
            Resolved::Json(v) => f(scalar(v)),
            Resolved::Str(s) => f(Scalar::Str(s)),
            Resolved::List(items) => items.iter().any(|s| f(Scalar::Str(s))),
        }
    }

    fn text(self) -> Option<&'a str> {
        match self {
            Resolved::Json(Value::String(s)) => Some(s),
            Resolved::Str(s) => Some(s),
            _ => None,
        }
    }
}

fn walk<'a>(mut value: &'a Value, path: &[Box<str>]) -> Option<&'a Value> {
    for segment in path {
        value = value.as_object()?.get(&**segment)?;
    }
    Some(value)
}

fn resolve<'a>(source: &Source, input: Input<'a>) -> Resolved<'a> {
    match source {
        Source::Data { path, alternate } => {
            let found = walk(input.data, path).filter(|v| !v.is_null());
            match (found, alternate) {
                (Some(v), _) => Resolved::Json(v),
                (None, Some(alt)) => {
                    walk(input.data, alt).map_or(Resolved::Missing, Resolved::Json)
                }
                (None, None) => Resolved::Missing,
            }
        }
        Source::Absent => Resolved::Missing,
        Source::Metadata(field) => {
            let Some(change) = input.change else {
                return Resolved::Missing;
            };
            match field {
                MetadataField::Paths => Resolved::List(change.paths),
                MetadataField::Type => Resolved::Str(change.event_type.as_str()),
                MetadataField::Entity => Resolved::Str(change.event_type.entity()),
                MetadataField::Action => Resolved::Str(change.event_type.action().as_str()),
                MetadataField::EntityId => Resolved::Str(change.entity_id),
                MetadataField::GroupsAdded => Resolved::List(change.groups_added),
                MetadataField::GroupsRemoved => Resolved::List(change.groups_removed),
            }
        }
    }
}

fn test(op: &TestOp, value: Resolved<'_>) -> bool {
    match op {
        TestOp::Eq(lit) => equals(value.scalar(), lit),
        TestOp::Ne(lit) => !equals(value.scalar(), lit),
        TestOp::Order(op, lit) => order(value.scalar(), lit).is_some_and(|o| match op {
            OrderOp::Lt => o.is_lt(),
            OrderOp::Le => o.is_le(),
            OrderOp::Gt => o.is_gt(),
            OrderOp::Ge => o.is_ge(),
        }),
        TestOp::Has(Quantifier::Any, lits) => value.any_item(|v| lits.iter().any(|l| equals(v, l))),
        TestOp::Has(Quantifier::All, lits) => lits.iter().all(|l| value.any_item(|v| equals(v, l))),
        TestOp::Has(Quantifier::None, lits) => {
            !value.any_item(|v| lits.iter().any(|l| equals(v, l)))
        }
        TestOp::In(lits) => lits.iter().any(|l| equals(value.scalar(), l)),
        TestOp::Contains(lit) => match (value, lit) {
            (Resolved::Json(Value::Array(_)) | Resolved::List(_), _) => {
                value.any_item(|v| equals(v, lit))
            }
            (_, Lit::Str { text, .. }) => value.text().is_some_and(|s| s.contains(&**text)),
            _ => false,
        },
        TestOp::StartsWith(prefix) => value.text().is_some_and(|s| s.starts_with(&**prefix)),
        TestOp::EndsWith(suffix) => value.text().is_some_and(|s| s.ends_with(&**suffix)),
        TestOp::Exists => !matches!(value.scalar(), Scalar::Null),
        TestOp::Missing => matches!(value.scalar(), Scalar::Null),
    }
}

/// Evaluates a compiled tree. Recursion is bounded by the checked depth of the tree.
pub(crate) fn eval(node: &Node, input: Input<'_>) -> bool {
    match node {
        Node::Or(nodes) => nodes.iter().any(|n| eval(n, input)),
        Node::And(nodes) => nodes.iter().all(|n| eval(n, input)),
        Node::Not(node) => !eval(node, input),
        Node::Test(source, op) => test(op, resolve(source, input)),
    }
}
