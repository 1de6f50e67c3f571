//! Lexer: condition text → tokens, each with its 1-based column counted in characters.
//!
//! The parser drives the lexer. Most tokens are read by [`Lexer::next_token`]; a path segment
//! after a `.` is read by [`Lexer::segment`] instead, because a segment such as `2024` or `0abc`
//! would otherwise lex as a number.

use crate::parse::{ParseError, ParseErrorKind};

/// What a token is. Words are not classified here: whether `eq` is a keyword depends on where
/// the parser stands, and keywords are compared case-insensitively there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum TokenKind<'s> {
    /// `[A-Za-z_][A-Za-z0-9_]*`, or `[A-Za-z0-9_]+` when read as a segment.
    Word(&'s str),
    /// A number as written, in JSON syntax (`-12`, `4.5`, `1e3`).
    Number(&'s str),
    /// A single-quoted string, with `''` already turned into `'`.
    String(String),
    Dot,
    Comma,
    LParen,
    RParen,
    LBracket,
    RBracket,
    End,
}

/// A token and where it starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Token<'s> {
    pub kind: TokenKind<'s>,
    /// 1-based column of the first character, counted in characters (not bytes).
    pub column: usize,
    /// The source text of the token (empty at the end of input).
    pub text: &'s str,
    /// Byte offset of the token in the source.
    pub start: usize,
}

/// How error messages name a token, decided by its kind alone, so that the parser can keep
/// the last token's text and class and format it only when an error needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Class {
    Plain,
    String,
    Number,
    End,
    /// Not a token: a whole path, named as written.
    Path,
}

impl Token<'_> {
    pub fn class(&self) -> Class {
        match self.kind {
            TokenKind::End => Class::End,
            TokenKind::String(_) => Class::String,
            TokenKind::Number(_) => Class::Number,
            _ => Class::Plain,
        }
    }

    /// How an error message names this token: `'equals'`, `'('`, `end of input`.
    pub fn describe(&self) -> String {
        describe(self.class(), self.text)
    }
}

/// Names source text of a class in an error message.
pub(crate) fn describe(class: Class, text: &str) -> String {
    match class {
        Class::End => "end of input".to_owned(),
        Class::String => format!("string {}", shorten(text)),
        Class::Number => format!("number {}", shorten(text)),
        Class::Plain => format!("'{}'", shorten(text)),
        Class::Path => shorten(text),
    }
}

/// Keeps error messages readable when the offending token is a long string.
fn shorten(text: &str) -> String {
    const MAX: usize = 40;
    if text.chars().count() <= MAX {
        text.to_owned()
    } else {
        let head: String = text.chars().take(MAX).collect();
        format!("{head}…")
    }
}

/// Reads tokens from condition text.
#[derive(Debug)]
pub(crate) struct Lexer<'s> {
    src: &'s str,
    /// Byte offset of the next character.
    pos: usize,
    /// Column of the next character.
    column: usize,
}

impl<'s> Lexer<'s> {
    /// The source between two byte offsets (for naming a path as written).
    pub fn source(&self, start: usize, end: usize) -> &'s str {
        &self.src[start..end]
    }

    pub fn new(src: &'s str) -> Lexer<'s> {
        Lexer {
            src,
            pos: 0,
            column: 1,
        }
    }

    fn peek_char(&self) -> Option<char> {
        self.src[self.pos..].chars().next()
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek_char()?;
        self.pos += c.len_utf8();
        self.column += 1;
        Some(c)
    }

    fn skip_whitespace(&mut self) {
        while self.peek_char().is_some_and(char::is_whitespace) {
            self.bump();
        }
    }

    fn token(&self, kind: TokenKind<'s>, start: usize, column: usize) -> Token<'s> {
        Token {
            kind,
            column,
            text: &self.src[start..self.pos],
            start,
        }
    }

    /// Reads the next token in ordinary position.
    pub fn next_token(&mut self) -> Result<Token<'s>, ParseError> {
        self.skip_whitespace();
        let (start, column) = (self.pos, self.column);
        let Some(c) = self.bump() else {
            return Ok(self.token(TokenKind::End, start, column));
        };
        let kind = match c {
            '.' => TokenKind::Dot,
            ',' => TokenKind::Comma,
            '(' => TokenKind::LParen,
            ')' => TokenKind::RParen,
            '[' => TokenKind::LBracket,
            ']' => TokenKind::RBracket,
            '\'' => return self.string(start, column),
            '-' | '0'..='9' => return self.number(start, column),
            c if c.is_ascii_alphabetic() || c == '_' => {
                self.eat_word_chars();
                TokenKind::Word(&self.src[start..self.pos])
            }
            c => {
                return Err(ParseError::new(
                    ParseErrorKind::InvalidCharacter,
                    column,
                    format!("'{c}'"),
                    Vec::new(),
                ));
            }
        };
        Ok(self.token(kind, start, column))
    }

    /// Reads a path segment, `[A-Za-z0-9_]+`, after a `.`.
    pub fn segment(&mut self) -> Result<Token<'s>, ParseError> {
        self.skip_whitespace();
        let (start, column) = (self.pos, self.column);
        self.eat_word_chars();
        if self.pos > start {
            return Ok(self.token(TokenKind::Word(&self.src[start..self.pos]), start, column));
        }
        // Not a segment: report what is there instead, as a token if it is one.
        let found = match self.next_token() {
            Ok(token) => token.describe(),
            Err(e) => e.found,
        };
        Err(ParseError::unexpected(
            column,
            found,
            vec!["a field name (letters, digits and '_')".to_owned()],
            None,
        ))
    }

    fn eat_word_chars(&mut self) {
        while self
            .peek_char()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
        {
            self.bump();
        }
    }

    fn eat_digits(&mut self) -> usize {
        let start = self.pos;
        while self.peek_char().is_some_and(|c| c.is_ascii_digit()) {
            self.bump();
        }
        self.pos - start
    }

    /// JSON number syntax, so that the literal means what the same text means in a record:
    /// `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`.
    fn number(&mut self, start: usize, column: usize) -> Result<Token<'s>, ParseError> {
        // `bump` already consumed the first character; step back to validate from the start.
        self.pos = start;
        self.column = column;
        let mut valid = true;
        if self.peek_char() == Some('-') {
            self.bump();
        }
        let int_start = self.pos;
        let int_digits = self.eat_digits();
        valid &= int_digits > 0 && !(int_digits > 1 && self.src[int_start..].starts_with('0'));
        if self.peek_char() == Some('.') {
            self.bump();
            valid &= self.eat_digits() > 0;
        }
        if matches!(self.peek_char(), Some('e' | 'E')) {
            self.bump();
            if matches!(self.peek_char(), Some('+' | '-')) {
                self.bump();
            }
            valid &= self.eat_digits() > 0;
        }
        // `12abc` or `1.2.3` is one mistaken token, not a number followed by something.
        while self
            .peek_char()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.')
        {
            self.bump();
            valid = false;
        }
        let text = &self.src[start..self.pos];
        // A valid-looking number that serde_json cannot hold (`1e999`) is refused here too, so
        // that every parsed number compiles.
        if !valid || serde_json::from_str::<serde_json::Number>(text).is_err() {
            return Err(ParseError::new(
                ParseErrorKind::InvalidNumber,
                column,
                format!("'{}'", shorten(text)),
                vec!["a number written as in JSON, such as 12, -3, 4.5 or 1e3".to_owned()],
            ));
        }
        Ok(self.token(TokenKind::Number(text), start, column))
    }

    fn string(&mut self, start: usize, column: usize) -> Result<Token<'s>, ParseError> {
        let mut value = String::new();
        loop {
            match self.bump() {
                Some('\'') if self.peek_char() == Some('\'') => {
                    self.bump();
                    value.push('\'');
                }
                Some('\'') => break,
                Some(c) => value.push(c),
                None => {
                    return Err(ParseError::new(
                        ParseErrorKind::UnterminatedString,
                        column,
                        "end of input".to_owned(),
                        vec!["a closing quote (')".to_owned()],
                    ));
                }
            }
        }
        Ok(self.token(TokenKind::String(value), start, column))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(src: &str) -> Vec<TokenKind<'_>> {
        let mut lexer = Lexer::new(src);
        let mut out = Vec::new();
        loop {
            let token = lexer.next_token().unwrap();
            if token.kind == TokenKind::End {
                return out;
            }
            out.push(token.kind);
        }
    }

    #[test]
    fn lexes_every_token_kind() {
        use TokenKind::*;
        assert_eq!(
            kinds("data.a eq 'it''s' or ( x in [ -1.5e3 , 0 ] )"),
            [
                Word("data"),
                Dot,
                Word("a"),
                Word("eq"),
                String("it's".into()),
                Word("or"),
                LParen,
                Word("x"),
                Word("in"),
                LBracket,
                Number("-1.5e3"),
                Comma,
                Number("0"),
                RBracket,
                RParen
            ]
        );
    }

    #[test]
    fn columns_count_characters_not_bytes() {
        let mut lexer = Lexer::new("'é€' \t\n x");
        assert_eq!(lexer.next_token().unwrap().column, 1);
        let x = lexer.next_token().unwrap();
        assert_eq!((x.column, x.text), (9, "x"));
    }

    #[test]
    fn segments_may_start_with_digits() {
        let mut lexer = Lexer::new("2024x.y");
        assert_eq!(lexer.segment().unwrap().kind, TokenKind::Word("2024x"));
        assert_eq!(lexer.next_token().unwrap().kind, TokenKind::Dot);
    }

    #[test]
    fn refuses_numbers_that_json_would_refuse() {
        for bad in ["01", "1.", "-", "1e", "12abc", "1.2.3", "1e999", "-.5"] {
            let err = Lexer::new(bad).next_token().unwrap_err();
            assert_eq!(err.kind, ParseErrorKind::InvalidNumber, "{bad}");
            assert_eq!(err.column, 1);
        }
        for good in ["0", "-0", "10", "1.25", "1E+2", "-3e-4"] {
            assert_eq!(
                Lexer::new(good).next_token().unwrap().kind,
                TokenKind::Number(good)
            );
        }
    }

    #[test]
    fn reports_unterminated_strings_and_stray_characters() {
        let err = Lexer::new("  'abc").next_token().unwrap_err();
        assert_eq!(
            (err.kind, err.column),
            (ParseErrorKind::UnterminatedString, 3)
        );
        let err = Lexer::new(" \"abc\"").next_token().unwrap_err();
        assert_eq!(
            (err.kind, err.column, err.found.as_str()),
            (ParseErrorKind::InvalidCharacter, 2, "'\"'")
        );
    }
}
