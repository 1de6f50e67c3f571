//! Recursive-descent parser: tokens → [`Condition`], following the grammar of SPEC §5 with one
//! function per rule, and enforcing the limits (text size, nesting depth, list items).

use std::fmt;

use crate::ast::{
    CompareOp, Condition, Literal, Number, Path, Predicate, Quantifier, Root, Test, TextOp,
};
use crate::lex::{Class, Lexer, Token, TokenKind, describe};

/// Longest condition text, in bytes (SPEC §5: 4 KiB).
pub const MAX_SOURCE_BYTES: usize = 4096;
/// Deepest nesting of parentheses and `not`s (SPEC §5).
pub const MAX_DEPTH: usize = 32;
/// Most literals in one list (SPEC §5).
pub const MAX_LIST_ITEMS: usize = 1000;

/// Why a text is not a condition, and where.
///
/// Displays as, for example, `expected 'eq', 'ne', …, 'exists' or 'missing' after
/// data.tostatusnode at column 18, found end of input`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", render(self))]
pub struct ParseError {
    /// 1-based column, in characters, of the offending token.
    pub column: usize,
    /// The offending token as an error message names it (`'equals'`, `end of input`).
    pub found: String,
    /// What would have been accepted there (`'eq'`, `a string`), possibly empty for limits.
    pub expected: Vec<String>,
    /// What went wrong.
    pub kind: ParseErrorKind,
}

/// The kinds of parse error, each with the input that triggers it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParseErrorKind {
    /// A token other than those expected: `data.a equals 1`. `after` names what came before
    /// it (`data.a`), when that helps.
    Unexpected {
        /// The construct just before the offending token.
        after: Option<String>,
    },
    /// A string without its closing quote: `data.a eq 'abc`.
    UnterminatedString,
    /// A number outside JSON syntax or range: `data.a eq 01`, `1.`, `1e999`.
    InvalidNumber,
    /// A character that starts no token: `data.a eq "x"`, `data.a # 1`.
    InvalidCharacter,
    /// More than [`MAX_SOURCE_BYTES`] bytes of text.
    TooLong {
        /// Length of the text in bytes.
        bytes: usize,
    },
    /// More than [`MAX_DEPTH`] nested parentheses and `not`s.
    TooDeep,
    /// More than [`MAX_LIST_ITEMS`] literals in one list.
    TooManyItems,
}

impl ParseError {
    pub(crate) fn new(
        kind: ParseErrorKind,
        column: usize,
        found: String,
        expected: Vec<String>,
    ) -> Self {
        ParseError {
            column,
            found,
            expected,
            kind,
        }
    }

    pub(crate) fn unexpected(
        column: usize,
        found: String,
        expected: Vec<String>,
        after: Option<String>,
    ) -> Self {
        ParseError::new(
            ParseErrorKind::Unexpected { after },
            column,
            found,
            expected,
        )
    }
}

/// `'a'`, `'a' or 'b'`, `'a', 'b' or 'c'`.
struct OneOf<'a>(&'a [String]);

impl fmt::Display for OneOf<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, item) in self.0.iter().enumerate() {
            match i {
                0 => {}
                i if i + 1 == self.0.len() => f.write_str(" or ")?,
                _ => f.write_str(", ")?,
            }
            f.write_str(item)?;
        }
        Ok(())
    }
}

fn render(e: &ParseError) -> String {
    let (column, found, expected) = (e.column, &e.found, OneOf(&e.expected));
    match &e.kind {
        ParseErrorKind::Unexpected { after } => {
            let after = after
                .as_ref()
                .map(|a| format!(" after {a}"))
                .unwrap_or_default();
            format!("expected {expected}{after} at column {column}, found {found}")
        }
        ParseErrorKind::UnterminatedString => {
            format!(
                "unterminated string starting at column {column}: expected {expected}, found {found}"
            )
        }
        ParseErrorKind::InvalidNumber => {
            format!("invalid number {found} at column {column}: expected {expected}")
        }
        ParseErrorKind::InvalidCharacter if found == "'\"'" => {
            format!(
                "unexpected character {found} at column {column}: strings are written in single quotes"
            )
        }
        ParseErrorKind::InvalidCharacter => {
            format!("unexpected character {found} at column {column}")
        }
        ParseErrorKind::TooLong { bytes } => format!(
            "condition is {bytes} bytes long, more than the {MAX_SOURCE_BYTES} allowed (column {column} is past the limit)"
        ),
        ParseErrorKind::TooDeep => {
            format!(
                "conditions nest at most {MAX_DEPTH} levels of parentheses and 'not'; found {found} at column {column}"
            )
        }
        ParseErrorKind::TooManyItems => {
            format!(
                "a list holds at most {MAX_LIST_ITEMS} items; item {} ({found}) is at column {column}",
                MAX_LIST_ITEMS + 1
            )
        }
    }
}

const COMPARE_OPS: [(&str, CompareOp); 6] = [
    ("eq", CompareOp::Eq),
    ("ne", CompareOp::Ne),
    ("lt", CompareOp::Lt),
    ("le", CompareOp::Le),
    ("gt", CompareOp::Gt),
    ("ge", CompareOp::Ge),
];
const TEXT_OPS: [(&str, TextOp); 3] = [
    ("contains", TextOp::Contains),
    ("startswith", TextOp::StartsWith),
    ("endswith", TextOp::EndsWith),
];
const QUANTIFIERS: [(&str, Quantifier); 3] = [
    ("any", Quantifier::Any),
    ("all", Quantifier::All),
    ("none", Quantifier::None),
];
const OPERATORS: [&str; 13] = [
    "eq",
    "ne",
    "lt",
    "le",
    "gt",
    "ge",
    "has",
    "in",
    "contains",
    "startswith",
    "endswith",
    "exists",
    "missing",
];
const LITERALS: [&str; 5] = ["a string", "a number", "'true'", "'false'", "'null'"];

fn quoted(words: &[&str]) -> Vec<String> {
    words.iter().map(|w| format!("'{w}'")).collect()
}

fn plain(words: &[&str]) -> Vec<String> {
    words.iter().map(|w| (*w).to_owned()).collect()
}

/// Parses condition text into a syntax tree. Stops at the first error.
pub fn parse(source: &str) -> Result<Condition, ParseError> {
    if source.len() > MAX_SOURCE_BYTES {
        let mut end = MAX_SOURCE_BYTES;
        while !source.is_char_boundary(end) {
            end -= 1;
        }
        let column = source[..end].chars().count() + 1;
        let kind = ParseErrorKind::TooLong {
            bytes: source.len(),
        };
        return Err(ParseError::new(kind, column, String::new(), Vec::new()));
    }
    let mut parser = Parser {
        lexer: Lexer::new(source),
        peeked: None,
        depth: 0,
        after: None,
    };
    let condition = parser.or()?;
    parser.expect_end_of(&["'and'", "'or'", "end of input"])?;
    Ok(condition)
}

struct Parser<'s> {
    lexer: Lexer<'s>,
    peeked: Option<Token<'s>>,
    depth: usize,
    /// The last consumed construct (a token, or a whole path), for "expected … after X"
    /// messages; formatted only when an error needs it.
    after: Option<(Class, &'s str)>,
}

impl<'s> Parser<'s> {
    fn peek(&mut self) -> Result<&Token<'s>, ParseError> {
        if self.peeked.is_none() {
            self.peeked = Some(self.lexer.next_token()?);
        }
        Ok(self.peeked.as_ref().expect("just filled"))
    }

    fn next(&mut self) -> Result<Token<'s>, ParseError> {
        self.peek()?;
        let token = self.peeked.take().expect("just peeked");
        if token.kind != TokenKind::End {
            self.after = Some((token.class(), token.text));
        }
        Ok(token)
    }

    /// Whether the next token is the keyword `word` (case-insensitively); consumes it if so.
    fn eat_keyword(&mut self, word: &str) -> Result<bool, ParseError> {
        let is = matches!(self.peek()?.kind, TokenKind::Word(w) if w.eq_ignore_ascii_case(word));
        if is {
            self.next()?;
        }
        Ok(is)
    }

    fn error(&mut self, expected: Vec<String>) -> ParseError {
        match self.peek() {
            Ok(token) => {
                let (column, found) = (token.column, token.describe());
                let after = self.after.map(|(class, text)| describe(class, text));
                ParseError::unexpected(column, found, expected, after)
            }
            Err(e) => e,
        }
    }

    fn expect_end_of(&mut self, expected: &[&str]) -> Result<(), ParseError> {
        if self.peek()?.kind == TokenKind::End {
            Ok(())
        } else {
            Err(self.error(plain(expected)))
        }
    }

    fn or(&mut self) -> Result<Condition, ParseError> {
        let mut operands = vec![self.and()?];
        while self.eat_keyword("or")? {
            operands.push(self.and()?);
        }
        Ok(if operands.len() == 1 {
            operands.remove(0)
        } else {
            Condition::Or(operands)
        })
    }

    fn and(&mut self) -> Result<Condition, ParseError> {
        let mut operands = vec![self.unary()?];
        while self.eat_keyword("and")? {
            operands.push(self.unary()?);
        }
        Ok(if operands.len() == 1 {
            operands.remove(0)
        } else {
            Condition::And(operands)
        })
    }

    fn enter(&mut self) -> Result<(), ParseError> {
        if self.depth == MAX_DEPTH {
            let token = self.peek()?;
            let (column, found) = (token.column, token.describe());
            return Err(ParseError::new(
                ParseErrorKind::TooDeep,
                column,
                found,
                Vec::new(),
            ));
        }
        self.depth += 1;
        Ok(())
    }

    fn unary(&mut self) -> Result<Condition, ParseError> {
        let token = self.peek()?;
        match token.kind {
            TokenKind::Word(w) if w.eq_ignore_ascii_case("not") => {
                self.enter()?;
                self.next()?;
                let operand = self.unary()?;
                self.depth -= 1;
                Ok(Condition::Not(Box::new(operand)))
            }
            TokenKind::LParen => {
                self.enter()?;
                self.next()?;
                let inner = self.or()?;
                if self.peek()?.kind != TokenKind::RParen {
                    return Err(self.error(plain(&["'and'", "'or'", "')'"])));
                }
                self.next()?;
                self.depth -= 1;
                Ok(inner)
            }
            TokenKind::Word(w)
                if w.eq_ignore_ascii_case("data") || w.eq_ignore_ascii_case("metadata") =>
            {
                self.predicate()
            }
            _ => Err(self.error(plain(&["a path (data.… or metadata.…)", "'not'", "'('"]))),
        }
    }

    fn path(&mut self) -> Result<Path, ParseError> {
        let token = self.next()?;
        let root = match token.kind {
            TokenKind::Word(w) if w.eq_ignore_ascii_case("data") => Root::Data,
            _ => Root::Metadata,
        };
        let mut segments = Vec::new();
        let mut end = token.start;
        loop {
            if self.peek()?.kind != TokenKind::Dot {
                if segments.is_empty() {
                    return Err(self.error(quoted(&["."])));
                }
                break;
            }
            // `next` emptied the peek slot, so the lexer stands right after the dot.
            self.next()?;
            let segment = self.lexer.segment()?;
            segments.push(segment.text.to_owned());
            end = segment.start + segment.text.len();
        }
        let path = Path::new(root, segments).expect("segments were lexed as [A-Za-z0-9_]+");
        self.after = Some((Class::Path, self.lexer.source(token.start, end)));
        Ok(path.at_column(token.column))
    }

    fn predicate(&mut self) -> Result<Condition, ParseError> {
        let path = self.path()?;
        let token = self.peek()?;
        let TokenKind::Word(word) = token.kind else {
            return Err(self.error(quoted(&OPERATORS)));
        };
        let is = |keyword: &str| word.eq_ignore_ascii_case(keyword);
        let test = if let Some(&(_, op)) = COMPARE_OPS.iter().find(|(w, _)| is(w)) {
            self.next()?;
            Test::Compare(op, self.literal()?)
        } else if let Some(&(_, op)) = TEXT_OPS.iter().find(|(w, _)| is(w)) {
            self.next()?;
            if !matches!(self.peek()?.kind, TokenKind::String(_)) {
                return Err(self.error(plain(&["a string"])));
            }
            let TokenKind::String(text) = self.next()?.kind else {
                return Err(self.error(plain(&["a string"])));
            };
            Test::Text(op, text)
        } else if is("has") {
            self.next()?;
            let quantifier = self.quantifier()?;
            if !self.eat_keyword("of")? {
                return Err(self.error(quoted(&["of"])));
            }
            Test::Has(quantifier, self.list()?)
        } else if is("in") {
            self.next()?;
            Test::In(self.list()?)
        } else if is("exists") {
            self.next()?;
            Test::Exists
        } else if is("missing") {
            self.next()?;
            Test::Missing
        } else {
            return Err(self.error(quoted(&OPERATORS)));
        };
        Ok(Condition::Predicate(Predicate { path, test }))
    }

    fn quantifier(&mut self) -> Result<Quantifier, ParseError> {
        for (word, quantifier) in QUANTIFIERS {
            if self.eat_keyword(word)? {
                return Ok(quantifier);
            }
        }
        Err(self.error(quoted(&["any", "all", "none"])))
    }

    fn list(&mut self) -> Result<Vec<Literal>, ParseError> {
        if self.peek()?.kind != TokenKind::LBracket {
            return Err(self.error(quoted(&["["])));
        }
        self.next()?;
        let mut items = Vec::new();
        if self.peek()?.kind == TokenKind::RBracket {
            self.next()?;
            return Ok(items);
        }
        loop {
            if items.len() == MAX_LIST_ITEMS {
                let token = self.peek()?;
                let (column, found) = (token.column, token.describe());
                return Err(ParseError::new(
                    ParseErrorKind::TooManyItems,
                    column,
                    found,
                    Vec::new(),
                ));
            }
            items.push(self.literal()?);
            match self.peek()?.kind {
                TokenKind::Comma => {
                    self.next()?;
                }
                TokenKind::RBracket => {
                    self.next()?;
                    return Ok(items);
                }
                _ => return Err(self.error(quoted(&[",", "]"]))),
            }
        }
    }

    fn literal(&mut self) -> Result<Literal, ParseError> {
        let literal = match &self.peek()?.kind {
            TokenKind::String(s) => Literal::String(s.clone()),
            TokenKind::Number(n) => Literal::Number(Number::lexed(n)),
            TokenKind::Word(w) if w.eq_ignore_ascii_case("true") => Literal::Bool(true),
            TokenKind::Word(w) if w.eq_ignore_ascii_case("false") => Literal::Bool(false),
            TokenKind::Word(w) if w.eq_ignore_ascii_case("null") => Literal::Null,
            _ => return Err(self.error(plain(&LITERALS))),
        };
        self.next()?;
        Ok(literal)
    }
}
