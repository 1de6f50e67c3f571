//! The typed syntax tree of a condition, and its printing.
//!
//! `Display` prints a condition so that parsing the text gives the same tree back: keywords in
//! lower case, one space between tokens, numbers as written, and parentheses exactly where the
//! tree's nesting needs them.

use std::fmt;
use std::hash::{Hash, Hasher};

/// A condition: `or` of `and`s of unary terms, as in SPEC §5.
///
/// The parser builds `Or` and `And` with at least two operands (a single operand stands for
/// itself); printing relies on that.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Condition {
    /// True when any operand is true.
    Or(Vec<Condition>),
    /// True when every operand is true.
    And(Vec<Condition>),
    /// True when the operand is false.
    Not(Box<Condition>),
    /// A test of one path.
    Predicate(Predicate),
}

/// A test of one path: `data.tostatusnode eq '1234'`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Predicate {
    /// What is tested.
    pub path: Path,
    /// How it is tested.
    pub test: Test,
}

/// The root of a path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Root {
    /// `data.*`: the record.
    Data,
    /// `metadata.*`: facts about the change (`paths`, `type`, `entity`, `action`, `entityId`).
    Metadata,
}

/// `data.touser.lastname`: a root and one or more segments of `[A-Za-z0-9_]+`.
///
/// The column where the path starts in the source is kept for error messages but ignored by
/// equality and hashing, so that a printed and re-parsed condition equals the original.
#[derive(Debug, Clone)]
pub struct Path {
    root: Root,
    segments: Vec<String>,
    column: usize,
}

/// How a predicate tests its path.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Test {
    /// `eq`, `ne`, `lt`, `le`, `gt`, `ge` and a literal.
    Compare(CompareOp, Literal),
    /// `has any of [...]`, `has all of [...]`, `has none of [...]`.
    Has(Quantifier, Vec<Literal>),
    /// `in [...]`.
    In(Vec<Literal>),
    /// `contains`, `startswith`, `endswith` and a string.
    Text(TextOp, String),
    /// `exists`.
    Exists,
    /// `missing`.
    Missing,
}

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[allow(missing_docs)] // the variants are the keywords
pub enum CompareOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

/// The quantifier of `has … of`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[allow(missing_docs)] // the variants are the keywords
pub enum Quantifier {
    Any,
    All,
    None,
}

/// A text operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[allow(missing_docs)] // the variants are the keywords
pub enum TextOp {
    Contains,
    StartsWith,
    EndsWith,
}

/// A literal value.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Literal {
    /// `'text'` (stored without quotes, `''` unescaped).
    String(String),
    /// A number, kept as written.
    Number(Number),
    /// `true` or `false`.
    Bool(bool),
    /// `null`.
    Null,
}

/// A number literal in JSON syntax, kept as written (`1e3` stays `1e3`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Number(String);

impl Number {
    /// Accepts JSON number syntax that fits a JSON value (`1e999` does not).
    pub fn parse(text: &str) -> Option<Number> {
        let mut lexer = crate::lex::Lexer::new(text);
        match lexer.next_token() {
            Ok(token)
                if matches!(token.kind, crate::lex::TokenKind::Number(_))
                    && token.text.len() == text.len() =>
            {
                Some(Number(text.to_owned()))
            }
            _ => None,
        }
    }

    /// A number token's text, already validated by the lexer.
    pub(crate) fn lexed(text: &str) -> Number {
        Number(text.to_owned())
    }

    /// The number as written.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl From<i64> for Number {
    fn from(n: i64) -> Number {
        Number(n.to_string())
    }
}

impl Path {
    /// A path of `root` and `segments`; `None` when there is no segment or a segment is not
    /// `[A-Za-z0-9_]+`.
    pub fn new<S: Into<String>>(root: Root, segments: impl IntoIterator<Item = S>) -> Option<Path> {
        let segments: Vec<String> = segments.into_iter().map(Into::into).collect();
        let valid =
            |s: &String| !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        (!segments.is_empty() && segments.iter().all(valid)).then_some(Path {
            root,
            segments,
            column: 0,
        })
    }

    pub(crate) fn at_column(mut self, column: usize) -> Path {
        self.column = column;
        self
    }

    /// `data` or `metadata`.
    pub fn root(&self) -> Root {
        self.root
    }

    /// The segments after the root (`["touser", "lastname"]`).
    pub fn segments(&self) -> &[String] {
        &self.segments
    }

    /// The segments joined with dots (`touser.lastname`), as the catalog writes paths.
    pub fn dotted(&self) -> String {
        self.segments.join(".")
    }

    /// 1-based column where the path starts in the parsed text; 0 for a path built in code.
    pub fn column(&self) -> usize {
        self.column
    }
}

impl PartialEq for Path {
    fn eq(&self, other: &Path) -> bool {
        self.root == other.root && self.segments == other.segments
    }
}

impl Eq for Path {}

impl Hash for Path {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.root.hash(state);
        self.segments.hash(state);
    }
}

impl Condition {
    /// Every predicate, left to right (source order for a parsed condition).
    pub fn predicates(&self) -> Vec<&Predicate> {
        fn walk<'a>(c: &'a Condition, out: &mut Vec<&'a Predicate>) {
            match c {
                Condition::Or(cs) | Condition::And(cs) => cs.iter().for_each(|c| walk(c, out)),
                Condition::Not(c) => walk(c, out),
                Condition::Predicate(p) => out.push(p),
            }
        }
        let mut out = Vec::new();
        walk(self, &mut out);
        out
    }
}

/// Where a condition is printed, which decides whether it needs parentheses.
#[derive(Clone, Copy, PartialEq)]
enum Place {
    Top,
    OrOperand,
    AndOperand,
    NotOperand,
}

fn write_condition(c: &Condition, place: Place, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    // An `or` operand that is itself an `or` came from parentheses: print them, or the
    // re-parsed tree would be flatter than the original.
    let (operands, keyword, inner, paren) = match c {
        Condition::Or(cs) => (cs, " or ", Place::OrOperand, place != Place::Top),
        Condition::And(cs) => (
            cs,
            " and ",
            Place::AndOperand,
            matches!(place, Place::AndOperand | Place::NotOperand),
        ),
        Condition::Not(c) => {
            f.write_str("not ")?;
            return write_condition(c, Place::NotOperand, f);
        }
        Condition::Predicate(p) => return write!(f, "{p}"),
    };
    if paren {
        f.write_str("(")?;
    }
    for (i, operand) in operands.iter().enumerate() {
        if i > 0 {
            f.write_str(keyword)?;
        }
        write_condition(operand, inner, f)?;
    }
    if paren {
        f.write_str(")")?;
    }
    Ok(())
}

impl fmt::Display for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_condition(self, Place::Top, f)
    }
}

impl fmt::Display for Predicate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ", self.path)?;
        match &self.test {
            Test::Compare(op, literal) => write!(f, "{op} {literal}"),
            Test::Has(q, list) => write!(f, "has {q} of {}", List(list)),
            Test::In(list) => write!(f, "in {}", List(list)),
            Test::Text(op, text) => write!(f, "{op} {}", Literal::String(text.clone())),
            Test::Exists => f.write_str("exists"),
            Test::Missing => f.write_str("missing"),
        }
    }
}

struct List<'a>(&'a [Literal]);

impl fmt::Display for List<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[")?;
        for (i, literal) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{literal}")?;
        }
        f.write_str("]")
    }
}

impl fmt::Display for Path {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self.root {
            Root::Data => "data",
            Root::Metadata => "metadata",
        })?;
        for segment in &self.segments {
            write!(f, ".{segment}")?;
        }
        Ok(())
    }
}

impl fmt::Display for Literal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Literal::String(s) => write!(f, "'{}'", s.replace('\'', "''")),
            Literal::Number(n) => f.write_str(n.as_str()),
            Literal::Bool(b) => write!(f, "{b}"),
            Literal::Null => f.write_str("null"),
        }
    }
}

impl fmt::Display for CompareOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CompareOp::Eq => "eq",
            CompareOp::Ne => "ne",
            CompareOp::Lt => "lt",
            CompareOp::Le => "le",
            CompareOp::Gt => "gt",
            CompareOp::Ge => "ge",
        })
    }
}

impl fmt::Display for Quantifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Quantifier::Any => "any",
            Quantifier::All => "all",
            Quantifier::None => "none",
        })
    }
}

impl fmt::Display for TextOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TextOp::Contains => "contains",
            TextOp::StartsWith => "startswith",
            TextOp::EndsWith => "endswith",
        })
    }
}
