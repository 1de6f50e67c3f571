//! Property tests: printing round-trips, nothing panics, and the operators obey their laws.

use cxhooks_catalog::{Catalog, EventType};
use cxhooks_condition::{
    Change, CompareOp, CompiledCondition, Condition, Literal, MetadataField, Number, Path,
    Predicate, Quantifier, Root, Test, TextOp, compile, parse,
};
use proptest::prelude::*;
use serde_json::{Map, Value};

const KEYS: [&str; 6] = [
    "a",
    "b",
    "touser",
    "tostatusnode",
    "tosinglestatusnode",
    "hascar",
];

fn segment() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => proptest::sample::select(&KEYS[..]).prop_map(str::to_owned),
        1 => "[A-Za-z0-9_]{1,6}",
    ]
}

fn number() -> impl Strategy<Value = Number> {
    prop_oneof![
        any::<i64>().prop_map(Number::from),
        "-?(0|[1-9][0-9]{0,20})(\\.[0-9]{1,4})?([eE][+-]?[0-9]{1,3})?"
            .prop_filter_map("out of range", |t| Number::parse(&t)),
    ]
}

fn literal() -> impl Strategy<Value = Literal> {
    prop_oneof![
        "(?s).{0,6}".prop_map(Literal::String),
        proptest::sample::select(&["1", "1234", "0", "a", "1.5"][..])
            .prop_map(|s| Literal::String(s.to_owned())),
        number().prop_map(Literal::Number),
        any::<bool>().prop_map(Literal::Bool),
        Just(Literal::Null),
    ]
}

fn path() -> impl Strategy<Value = Path> {
    prop_oneof![
        4 => proptest::collection::vec(segment(), 1..4).prop_map(|s| Path::new(Root::Data, s).unwrap()),
        1 => proptest::sample::select(&MetadataField::ALL[..]).prop_map(|(name, _)| Path::new(Root::Metadata, [name]).unwrap()),
    ]
}

fn list() -> impl Strategy<Value = Vec<Literal>> {
    proptest::collection::vec(literal(), 0..4)
}

fn test_op() -> impl Strategy<Value = Test> {
    let compare = proptest::sample::select(
        &[
            CompareOp::Eq,
            CompareOp::Ne,
            CompareOp::Lt,
            CompareOp::Le,
            CompareOp::Gt,
            CompareOp::Ge,
        ][..],
    );
    let quantifier =
        proptest::sample::select(&[Quantifier::Any, Quantifier::All, Quantifier::None][..]);
    let text =
        proptest::sample::select(&[TextOp::Contains, TextOp::StartsWith, TextOp::EndsWith][..]);
    prop_oneof![
        (compare, literal()).prop_map(|(op, l)| Test::Compare(op, l)),
        (quantifier, list()).prop_map(|(q, l)| Test::Has(q, l)),
        list().prop_map(Test::In),
        (text, "(?s).{0,4}").prop_map(|(op, s)| Test::Text(op, s)),
        Just(Test::Exists),
        Just(Test::Missing),
    ]
}

fn predicate() -> impl Strategy<Value = Condition> {
    (path(), test_op()).prop_map(|(path, test)| Condition::Predicate(Predicate { path, test }))
}

/// Trees as the parser builds them: `or`/`and` with two or more operands.
fn condition() -> impl Strategy<Value = Condition> {
    predicate().prop_recursive(4, 48, 3, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 2..4).prop_map(Condition::Or),
            proptest::collection::vec(inner.clone(), 2..4).prop_map(Condition::And),
            inner.prop_map(|c| Condition::Not(Box::new(c))),
        ]
    })
}

fn json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        (0i64..3).prop_map(Value::from),
        proptest::sample::select(&["", "a", "1", "1234", "1.5", "hascar", "-0"][..])
            .prop_map(Value::from),
        "(?s).{0,4}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 32, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            proptest::collection::vec((proptest::sample::select(&KEYS[..]), inner), 0..5).prop_map(
                |kvs| Value::Object(
                    kvs.into_iter()
                        .map(|(k, v)| (k.to_owned(), v))
                        .collect::<Map<_, _>>()
                )
            ),
        ]
    })
}

fn changed_paths() -> impl Strategy<Value = Vec<String>> {
    proptest::collection::vec(
        prop_oneof![
            proptest::sample::select(&KEYS[..]).prop_map(str::to_owned),
            "(?s).{0,3}"
        ],
        0..4,
    )
}

/// Token soup: the words and symbols of the language in random order, for the parser.
fn soup() -> impl Strategy<Value = String> {
    let token = proptest::sample::select(
        &[
            "data",
            "metadata",
            ".",
            "a",
            "touser",
            "eq",
            "NE",
            "lt",
            "has",
            "any",
            "all",
            "none",
            "of",
            "in",
            "contains",
            "startswith",
            "exists",
            "missing",
            "not",
            "and",
            "or",
            "(",
            ")",
            "[",
            "]",
            ",",
            "'x'",
            "''''",
            "'",
            "1",
            "-2.5e3",
            "01",
            "true",
            "null",
            "\"",
            "é",
            "paths",
            "entityId",
            "\t",
            "\n",
        ][..],
    );
    (
        proptest::collection::vec(token, 0..24),
        proptest::collection::vec(any::<bool>(), 24),
    )
        .prop_map(|(tokens, gaps)| {
            tokens
                .iter()
                .zip(gaps)
                .map(|(t, gap)| {
                    if gap {
                        format!("{t} ")
                    } else {
                        (*t).to_owned()
                    }
                })
                .collect()
        })
}

fn eval(condition: &Condition, data: &Value, paths: &[String]) -> bool {
    let compiled = CompiledCondition::new(condition).expect("generated metadata paths are valid");
    let event_type = EventType::parse("cremployee:updated").unwrap();
    compiled.matches(&Change::new(&event_type, "1234", data, paths))
}

fn single(path: &Path, test: Test) -> Condition {
    Condition::Predicate(Predicate {
        path: path.clone(),
        test,
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn printing_then_parsing_gives_the_same_tree(c in condition()) {
        let printed = c.to_string();
        prop_assume!(printed.len() <= cxhooks_condition::MAX_SOURCE_BYTES);
        let reparsed = parse(&printed).map_err(|e| TestCaseError::fail(format!("{printed:?}: {e}")))?;
        prop_assert_eq!(reparsed, c);
    }

    #[test]
    fn parsing_arbitrary_text_never_panics(text in any::<String>()) {
        let _ = parse(&text);
    }

    #[test]
    fn parsing_token_soup_never_panics_and_printing_is_stable(text in soup()) {
        if let Ok(c) = parse(&text) {
            let printed = c.to_string();
            prop_assert_eq!(parse(&printed).unwrap(), c.clone());
            prop_assert_eq!(parse(&printed).unwrap().to_string(), printed);
        }
    }

    #[test]
    fn evaluation_never_panics(c in condition(), data in json(), paths in changed_paths()) {
        let _ = eval(&c, &data, &paths);
        let compiled = CompiledCondition::new(&c).unwrap();
        let _ = compiled.matches_record(&data);
        // With a catalog, aliases between `path` and `altPath` are attached too.
        if let Ok((compiled, _)) = compile(&c.to_string(), Catalog::builtin(), "cremployee") {
            let _ = compiled.matches_record(&data);
        }
    }

    #[test]
    fn not_or_and_combine_their_operands(a in condition(), b in condition(), data in json(), paths in changed_paths()) {
        let (ea, eb) = (eval(&a, &data, &paths), eval(&b, &data, &paths));
        prop_assert_eq!(eval(&Condition::Not(Box::new(a.clone())), &data, &paths), !ea);
        prop_assert_eq!(eval(&Condition::Or(vec![a.clone(), b.clone()]), &data, &paths), ea || eb);
        prop_assert_eq!(eval(&Condition::And(vec![a, b]), &data, &paths), ea && eb);
    }

    #[test]
    fn operators_obey_their_laws(p in path(), l in literal(), ls in list(), data in json(), paths in changed_paths()) {
        let e = |t: Test| eval(&single(&p, t), &data, &paths);
        prop_assert_ne!(e(Test::Compare(CompareOp::Eq, l.clone())), e(Test::Compare(CompareOp::Ne, l.clone())));
        prop_assert_ne!(e(Test::Exists), e(Test::Missing));
        prop_assert_eq!(e(Test::In(vec![l.clone()])), e(Test::Compare(CompareOp::Eq, l.clone())));
        prop_assert_ne!(e(Test::Has(Quantifier::Any, ls.clone())), e(Test::Has(Quantifier::None, ls.clone())));
        prop_assert!(e(Test::Has(Quantifier::All, vec![])));
        prop_assert!(!e(Test::Has(Quantifier::Any, vec![])));
        prop_assert!(!e(Test::In(vec![])));
        // `has all of [x]` and `has any of [x]` agree on one literal.
        prop_assert_eq!(e(Test::Has(Quantifier::All, vec![l.clone()])), e(Test::Has(Quantifier::Any, vec![l.clone()])));
        // `lt` and `ge` never both hold; ordering across types holds neither.
        prop_assert!(!(e(Test::Compare(CompareOp::Lt, l.clone())) && e(Test::Compare(CompareOp::Ge, l.clone()))));
        if e(Test::Compare(CompareOp::Lt, l.clone())) || e(Test::Compare(CompareOp::Gt, l.clone())) {
            prop_assert!(e(Test::Exists));
        }
    }
}
