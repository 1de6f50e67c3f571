//! Parse errors (column, found, expected, message), limits, and printing.

use cxhooks_condition::{
    Condition, MAX_DEPTH, MAX_LIST_ITEMS, MAX_SOURCE_BYTES, ParseError, ParseErrorKind, parse,
};

fn error(source: &str) -> ParseError {
    match parse(source) {
        Ok(c) => panic!("{source:?} parsed as {c:?}"),
        Err(e) => e,
    }
}

/// Column, found and message of the error for `source`.
#[track_caller]
fn fails(source: &str, column: usize, found: &str, message: &str) {
    let e = error(source);
    assert_eq!(
        (e.column, e.found.as_str()),
        (column, found),
        "{source:?}: {e}"
    );
    assert_eq!(e.to_string(), message, "{source:?}");
}

#[test]
fn a_path_without_operator_lists_every_operator() {
    let e = error("data.tostatusnode");
    assert_eq!(e.column, 18);
    assert_eq!(e.found, "end of input");
    assert_eq!(e.expected.len(), 13);
    assert_eq!(e.expected[..3], ["'eq'", "'ne'", "'lt'"]);
    assert_eq!(
        e.kind,
        ParseErrorKind::Unexpected {
            after: Some("data.tostatusnode".into())
        }
    );
    assert_eq!(
        e.to_string(),
        "expected 'eq', 'ne', 'lt', 'le', 'gt', 'ge', 'has', 'in', 'contains', 'startswith', 'endswith', \
         'exists' or 'missing' after data.tostatusnode at column 18, found end of input"
    );
}

#[test]
fn unexpected_tokens_name_what_was_expected() {
    let ops = "'eq', 'ne', 'lt', 'le', 'gt', 'ge', 'has', 'in', 'contains', 'startswith', 'endswith', 'exists' or 'missing'";
    fails(
        "data.a equals 1",
        8,
        "'equals'",
        &format!("expected {ops} after data.a at column 8, found 'equals'"),
    );
    fails(
        "data.a eq",
        10,
        "end of input",
        "expected a string, a number, 'true', 'false' or 'null' after 'eq' at column 10, found end of input",
    );
    fails(
        "data.a eq yes",
        11,
        "'yes'",
        "expected a string, a number, 'true', 'false' or 'null' after 'eq' at column 11, found 'yes'",
    );
    fails(
        "data eq 1",
        6,
        "'eq'",
        "expected '.' after 'data' at column 6, found 'eq'",
    );
    fails(
        "data.a eq 1 data.b eq 2",
        13,
        "'data'",
        "expected 'and', 'or' or end of input after number 1 at column 13, found 'data'",
    );
    fails(
        "(data.a eq 1",
        13,
        "end of input",
        "expected 'and', 'or' or ')' after number 1 at column 13, found end of input",
    );
    fails(
        "data.a eq 1)",
        12,
        "')'",
        "expected 'and', 'or' or end of input after number 1 at column 12, found ')'",
    );
    fails(
        "data.a has some of [1]",
        12,
        "'some'",
        "expected 'any', 'all' or 'none' after 'has' at column 12, found 'some'",
    );
    fails(
        "data.a has any [1]",
        16,
        "'['",
        "expected 'of' after 'any' at column 16, found '['",
    );
    fails(
        "data.a in 1",
        11,
        "number 1",
        "expected '[' after 'in' at column 11, found number 1",
    );
    fails(
        "data.a in [1,]",
        14,
        "']'",
        "expected a string, a number, 'true', 'false' or 'null' after ',' at column 14, found ']'",
    );
    fails(
        "data.a in [1 2]",
        14,
        "number 2",
        "expected ',' or ']' after number 1 at column 14, found number 2",
    );
    fails(
        "data.a contains 5",
        17,
        "number 5",
        "expected a string after 'contains' at column 17, found number 5",
    );
    fails(
        "",
        1,
        "end of input",
        "expected a path (data.… or metadata.…), 'not' or '(' at column 1, found end of input",
    );
    fails(
        "foo.a eq 1",
        1,
        "'foo'",
        "expected a path (data.… or metadata.…), 'not' or '(' at column 1, found 'foo'",
    );
    fails(
        "data.a eq 1 and",
        16,
        "end of input",
        "expected a path (data.… or metadata.…), 'not' or '(' after 'and' at column 16, found end of input",
    );
    fails(
        "data.",
        6,
        "end of input",
        "expected a field name (letters, digits and '_') at column 6, found end of input",
    );
    fails(
        "data.-a eq 1",
        6,
        "'-a'",
        "expected a field name (letters, digits and '_') at column 6, found '-a'",
    );
    fails(
        "data.a eq 'abc",
        11,
        "end of input",
        "unterminated string starting at column 11: expected a closing quote ('), found end of input",
    );
    fails(
        "data.a eq \"abc\"",
        11,
        "'\"'",
        "unexpected character '\"' at column 11: strings are written in single quotes",
    );
    fails(
        "data.a # 1",
        8,
        "'#'",
        "unexpected character '#' at column 8",
    );
    fails(
        "data.a eq 007",
        11,
        "'007'",
        "invalid number '007' at column 11: expected a number written as in JSON, such as 12, -3, 4.5 or 1e3",
    );
}

#[test]
fn columns_count_characters() {
    let e = error("data.a eq 'café' or data.b equals 1");
    assert_eq!(e.column, 28);
    let e = error("data.a eq 1 or\n  data.b ?");
    assert_eq!(e.column, 25);
}

#[test]
fn long_strings_are_shortened_in_messages() {
    let long = "x".repeat(100);
    let e = error(&format!("data.a eq '{long}' '{long}'"));
    assert!(e.found.len() < 60, "{}", e.found);
    assert!(e.found.ends_with('…'));
}

#[test]
fn text_limit_is_4_kib() {
    let body = "data.a eq 1";
    let padded = |len: usize| format!("{body}{}", " ".repeat(len - body.len()));
    assert!(parse(&padded(MAX_SOURCE_BYTES)).is_ok());
    let e = error(&padded(MAX_SOURCE_BYTES + 1));
    assert_eq!(e.kind, ParseErrorKind::TooLong { bytes: 4097 });
    assert_eq!(e.column, 4097);
    assert_eq!(
        e.to_string(),
        "condition is 4097 bytes long, more than the 4096 allowed (column 4097 is past the limit)"
    );
    // Counted in bytes of UTF-8, reported in characters.
    let e = error(&format!("data.a eq '{}'", "é".repeat(2100)));
    assert!(matches!(e.kind, ParseErrorKind::TooLong { .. }));
    assert_eq!(e.column, 11 + (4096 - 11) / 2 + 1);
}

#[test]
fn nesting_limit_is_32() {
    let nested = |n: usize| format!("{}data.a eq 1{}", "(".repeat(n), ")".repeat(n));
    assert!(parse(&nested(MAX_DEPTH)).is_ok());
    let e = error(&nested(MAX_DEPTH + 1));
    assert_eq!(
        (e.kind.clone(), e.column, e.found.as_str()),
        (ParseErrorKind::TooDeep, 33, "'('")
    );
    assert_eq!(
        e.to_string(),
        "conditions nest at most 32 levels of parentheses and 'not'; found '(' at column 33"
    );
    let nots = |n: usize| format!("{}data.a eq 1", "not ".repeat(n));
    assert!(parse(&nots(MAX_DEPTH)).is_ok());
    assert_eq!(error(&nots(MAX_DEPTH + 1)).kind, ParseErrorKind::TooDeep);
    let mixed = format!("{}data.a eq 1{}", "not (".repeat(16), ")".repeat(16));
    assert!(parse(&mixed).is_ok());
    let mixed = format!("{}data.a eq 1{}", "(not ".repeat(16), ")".repeat(16));
    assert!(parse(&format!("not {mixed}")).is_err());
    // Siblings do not add up: depth is nesting, not count.
    let siblings = vec![nested(MAX_DEPTH); 10].join(" or ");
    assert!(parse(&siblings).is_ok());
}

#[test]
fn list_limit_is_1000_items() {
    let list = |n: usize| format!("data.a in [{}]", vec!["1"; n].join(","));
    assert!(parse(&list(MAX_LIST_ITEMS)).is_ok());
    let e = error(&list(MAX_LIST_ITEMS + 1));
    assert_eq!(e.kind, ParseErrorKind::TooManyItems);
    assert_eq!(e.column, 12 + 2 * MAX_LIST_ITEMS);
    assert_eq!(
        e.to_string(),
        format!(
            "a list holds at most 1000 items; item 1001 (number 1) is at column {}",
            e.column
        )
    );
}

#[test]
fn printing_gives_the_condition_back() {
    for (source, printed) in [
        (
            "data.tostatusnode eq '1234' ",
            "data.tostatusnode eq '1234'",
        ),
        ("DATA.a  EQ 1E3", "data.a eq 1E3"),
        ("data.a eq -0.50", "data.a eq -0.50"),
        ("data.a eq 'it''s'", "data.a eq 'it''s'"),
        ("(data.a eq 1)", "data.a eq 1"),
        (
            "data.a eq 1 or (data.b eq 2 or data.c eq 3)",
            "data.a eq 1 or (data.b eq 2 or data.c eq 3)",
        ),
        (
            "data.a eq 1 or data.b eq 2 and data.c eq 3",
            "data.a eq 1 or data.b eq 2 and data.c eq 3",
        ),
        (
            "(data.a eq 1 or data.b eq 2) and data.c eq 3",
            "(data.a eq 1 or data.b eq 2) and data.c eq 3",
        ),
        (
            "data.a eq 1 and (data.b eq 2 and data.c eq 3)",
            "data.a eq 1 and (data.b eq 2 and data.c eq 3)",
        ),
        ("not (data.a eq 1)", "not data.a eq 1"),
        (
            "not(data.a eq 1 and data.b eq 2)",
            "not (data.a eq 1 and data.b eq 2)",
        ),
        ("NOT NOT data.a exists", "not not data.a exists"),
        (
            "metadata.paths HAS ANY OF ['hascar','notes']",
            "metadata.paths has any of ['hascar', 'notes']",
        ),
        ("data.a in [ ]", "data.a in []"),
        ("data.a in [TRUE, Null, 'x']", "data.a in [true, null, 'x']"),
        (
            "data.a StartsWith 'x' or data.b MISSING",
            "data.a startswith 'x' or data.b missing",
        ),
        ("data.2024.x_1 ge 1", "data.2024.x_1 ge 1"),
    ] {
        let parsed = parse(source).unwrap();
        assert_eq!(parsed.to_string(), printed, "{source:?}");
        assert_eq!(parse(printed).unwrap(), parsed, "{source:?}");
    }
}

#[test]
fn paths_remember_their_column() {
    let parsed = parse("  data.a eq 1 or\tmetadata.paths exists").unwrap();
    let columns: Vec<usize> = parsed
        .predicates()
        .iter()
        .map(|p| p.path.column())
        .collect();
    assert_eq!(columns, [3, 18]);
}

#[test]
fn a_segment_may_follow_whitespace_after_its_dot() {
    // Whitespace may separate any tokens; a keyword after a dot is a segment.
    let parsed: Condition = parse("data. eq eq 1").unwrap();
    assert_eq!(parsed.to_string(), "data.eq eq 1");
}
