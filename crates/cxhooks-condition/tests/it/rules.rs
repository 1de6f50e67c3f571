//! The comparison rules of SPEC §5, and the choices documented in `eval` where it is silent.
//! Paths here are not catalog fields (warnings only), so no `altPath` fallback interferes.

use serde_json::json;

use crate::{case, case_change};

#[test]
fn strings_equal_numbers_by_canonical_text_both_ways() {
    case("data.a eq '1'", json!({"a": 1}), true);
    case("data.a eq '1234'", json!({"a": 1234}), true);
    case("data.a eq 1234", json!({"a": "1234"}), true);
    case("data.a eq '01234'", json!({"a": 1234}), false);
    case("data.a eq '1234.0'", json!({"a": 1234}), false);
    case("data.a eq ' 1234'", json!({"a": 1234}), false);
    case("data.a eq '1.5'", json!({"a": 1.5}), true);
    case("data.a eq '-7'", json!({"a": -7}), true);
    case("data.a eq 1.5", json!({"a": "1.5"}), true);
    case("data.a eq 1234", json!({"a": "1234.0"}), false);
    case("data.a eq '1'", json!({"a": "1"}), true);
    case("data.a ne '1234'", json!({"a": 1234}), false);
}

#[test]
fn numbers_compare_by_value() {
    case("data.a eq 1.0", json!({"a": 1}), true);
    case("data.a eq 1e3", json!({"a": 1000}), true);
    case("data.a eq -0", json!({"a": 0}), true);
    case(
        "data.a eq 18446744073709551615",
        json!({"a": u64::MAX}),
        true,
    );
    case(
        "data.a eq 18446744073709551614",
        json!({"a": u64::MAX}),
        false,
    );
    case(
        "data.a eq -9223372036854775808",
        json!({"a": i64::MIN}),
        true,
    );
}

#[test]
fn flags_equal_true_and_false() {
    case("data.hascar eq true", json!({"hascar": 1}), true);
    case("data.hascar eq true", json!({"hascar": 0}), false);
    case("data.hascar eq false", json!({"hascar": 0}), true);
    case("data.hascar eq true", json!({"hascar": true}), true);
    case("data.hascar ne true", json!({"hascar": 1}), false);
    case("data.hascar eq 1", json!({"hascar": true}), true);
    case("data.hascar eq 0", json!({"hascar": false}), true);
    case("data.hascar eq true", json!({"hascar": 2}), false);
    case("data.hascar eq true", json!({"hascar": "1"}), false);
    case("data.hascar in [true]", json!({"hascar": 1}), true);
}

#[test]
fn missing_is_null() {
    case("data.x eq 1", json!({}), false);
    case("data.x ne 1", json!({}), true);
    case("data.x eq null", json!({}), true);
    case("data.x eq null", json!({"x": null}), true);
    case("data.x eq null", json!({"x": 0}), false);
    case("data.x eq null", json!({"x": ""}), false);
    case("data.x ne null", json!({}), false);
    case("data.x ne null", json!({"x": false}), true);
    case("data.x.y eq null", json!({"x": 5}), true);
    case("data.x eq false", json!({}), false);
    case("data.x eq ''", json!({}), false);
}

#[test]
fn ordering_is_numeric_or_lexicographic_and_false_across_types() {
    case("data.a lt 10", json!({"a": 9}), true);
    case("data.a lt 10", json!({"a": 10}), false);
    case("data.a le 10", json!({"a": 10}), true);
    case("data.a gt 10", json!({"a": 10.5}), true);
    case("data.a ge -5", json!({"a": -5}), true);
    case(
        "data.a gt 18446744073709551614",
        json!({"a": u64::MAX}),
        true,
    );
    case("data.a gt 'b'", json!({"a": "c"}), true);
    case("data.a lt 'b'", json!({"a": "B"}), true);
    case("data.a lt '10'", json!({"a": "9"}), false);
    case("data.a ge '2026-01-01'", json!({"a": "2026-11-22"}), true);
    case("data.a lt 10", json!({"a": "9"}), false);
    case("data.a ge 10", json!({"a": "10"}), false);
    case("data.a lt '10'", json!({"a": 9}), false);
    case("data.a ge 1", json!({"a": true}), false);
    case("data.a ge true", json!({"a": true}), false);
    case("data.a le null", json!({"a": null}), false);
    case("data.x lt 1", json!({}), false);
    case("data.x gt 1", json!({}), false);
    case("data.a lt 10", json!({"a": [1]}), false);
}

#[test]
fn has_reads_scalars_as_one_element_lists() {
    case("data.a has any of [1, 2]", json!({"a": [2, 3]}), true);
    case("data.a has any of [1, 2]", json!({"a": [3]}), false);
    case("data.a has any of [1, 2]", json!({"a": 2}), true);
    case("data.a has any of ['x']", json!({"a": "x"}), true);
    case("data.a has any of ['1']", json!({"a": [1]}), true);
    case("data.a has all of [1, 2]", json!({"a": [2, 1, 3]}), true);
    case("data.a has all of [1, 2]", json!({"a": [1]}), false);
    case("data.a has all of [1]", json!({"a": 1}), true);
    case("data.a has none of [1]", json!({"a": [2]}), true);
    case("data.a has none of [1]", json!({"a": [1, 2]}), false);
    case("data.a has any of [1]", json!({"a": [[1]]}), false);
}

#[test]
fn has_with_empty_lists_and_missing_values() {
    case("data.a has all of []", json!({"a": [1]}), true);
    case("data.a has all of []", json!({}), true);
    case("data.a has any of []", json!({"a": [1]}), false);
    case("data.a has any of []", json!({}), false);
    case("data.a has none of []", json!({"a": [1]}), true);
    case("data.x has any of [null]", json!({}), false);
    case("data.x has none of [1]", json!({}), true);
    case("data.x has all of [1]", json!({"x": null}), false);
    case("data.a has any of [null]", json!({"a": [null]}), true);
}

#[test]
fn in_compares_the_value_itself() {
    case("data.a in [1, 2]", json!({"a": 2}), true);
    case("data.a in [1, 2]", json!({"a": 3}), false);
    case("data.a in ['2']", json!({"a": 2}), true);
    case("data.a in [2]", json!({"a": "2"}), true);
    case("data.a in [1]", json!({"a": [1]}), false);
    case("data.a in []", json!({"a": 1}), false);
    case("data.x in [null]", json!({}), true);
    case("data.x in [1, null]", json!({"x": null}), true);
}

#[test]
fn text_tests_on_strings_and_arrays() {
    case("data.a contains 'ell'", json!({"a": "hello"}), true);
    case("data.a contains 'ELL'", json!({"a": "hello"}), false);
    case("data.a contains ''", json!({"a": "hello"}), true);
    case("data.a contains 'ell'", json!({"a": ["ell"]}), true);
    case("data.a contains 'ell'", json!({"a": ["hello"]}), false);
    case("data.a contains '5'", json!({"a": [5]}), true);
    case("data.a contains '5'", json!({"a": 5}), false);
    case("data.a contains '5'", json!({"a": {"5": 5}}), false);
    case("data.x contains ''", json!({}), false);
    case("data.a startswith 'he'", json!({"a": "hello"}), true);
    case("data.a startswith 'lo'", json!({"a": "hello"}), false);
    case("data.a startswith 'he'", json!({"a": ["hello"]}), false);
    case("data.a endswith 'lo'", json!({"a": "hello"}), true);
    case("data.a endswith 'é'", json!({"a": "café"}), true);
    case("data.a endswith '1'", json!({"a": 1}), false);
}

#[test]
fn exists_and_missing() {
    case("data.a exists", json!({"a": 0}), true);
    case("data.a exists", json!({"a": ""}), true);
    case("data.a exists", json!({"a": []}), true);
    case("data.a exists", json!({"a": null}), false);
    case("data.a exists", json!({}), false);
    case("data.a missing", json!({}), true);
    case("data.a missing", json!({"a": null}), true);
    case("data.a missing", json!({"a": false}), false);
    case("data.a.b exists", json!({"a": {"b": 1}}), true);
    case("data.a.b exists", json!({"a": [{"b": 1}]}), false);
    case("data.a.b exists", json!({"a": "b"}), false);
    case("data.a.0 exists", json!({"a": [1]}), false);
    case("data.a.0 exists", json!({"a": {"0": 1}}), true);
}

#[test]
fn not_binds_tighter_than_and_which_binds_tighter_than_or() {
    case("not data.a eq 1", json!({"a": 1}), false);
    case("not data.a eq 1", json!({}), true);
    case("not not data.a eq 1", json!({"a": 1}), true);
    let c = "data.a eq 1 or data.b eq 1 and data.c eq 1";
    case(c, json!({"a": 1}), true);
    case(c, json!({"b": 1}), false);
    case(c, json!({"b": 1, "c": 1}), true);
    let c = "(data.a eq 1 or data.b eq 1) and data.c eq 1";
    case(c, json!({"a": 1}), false);
    case(c, json!({"a": 1, "c": 1}), true);
    let c = "not data.a eq 1 and data.b eq 1";
    case(c, json!({"b": 1}), true);
    case(c, json!({"a": 1, "b": 1}), false);
    case("not (data.a eq 1 and data.b eq 1)", json!({"a": 1}), true);
    case(
        "not (data.a eq 1 and data.b eq 1)",
        json!({"a": 1, "b": 1}),
        false,
    );
    case(
        "data.a eq 1 and data.b eq 1 or data.c eq 1",
        json!({"c": 1}),
        true,
    );
}

#[test]
fn keywords_ignore_case_segments_do_not() {
    case(
        "DATA.a EQ 1 AnD data.b Eq TRUE",
        json!({"a": 1, "b": 1}),
        true,
    );
    case("data.a In [NULL]", json!({}), true);
    case("data.A eq 1", json!({"a": 1}), false);
    case(
        "data.touser.LastName eq 'x'",
        json!({"touser": {"lastname": "x"}}),
        false,
    );
}

#[test]
fn whitespace_and_quotes() {
    case("  data.a\teq\n'1'  ", json!({"a": 1}), true);
    case("data.a eq 'it''s'", json!({"a": "it's"}), true);
    case("data.a eq ''''", json!({"a": "'"}), true);
    case("data.a eq 'two  spaces'", json!({"a": "two  spaces"}), true);
    case(
        "(data.a eq 1)and(data.b eq 2)",
        json!({"a": 1, "b": 2}),
        true,
    );
}

#[test]
fn metadata_paths_resolve() {
    let t = "cremployee:updated";
    case_change(
        "metadata.type eq 'cremployee:updated'",
        t,
        json!({}),
        &[],
        true,
    );
    case_change(
        "metadata.type eq 'cremployee:created'",
        t,
        json!({}),
        &[],
        false,
    );
    case_change("metadata.entity eq 'cremployee'", t, json!({}), &[], true);
    case_change(
        "metadata.action in ['created', 'updated']",
        t,
        json!({}),
        &[],
        true,
    );
    case_change("metadata.action eq 'deleted'", t, json!({}), &[], false);
    case_change("metadata.entityId eq '42'", t, json!({}), &[], true);
    case_change("metadata.entityId eq 42", t, json!({}), &[], true);
    case_change("metadata.entityId gt '4'", t, json!({}), &[], true);
    case_change(
        "metadata.type startswith 'cremployee:'",
        t,
        json!({}),
        &[],
        true,
    );
    case_change(
        "metadata.paths contains 'hascar'",
        t,
        json!({}),
        &["notes", "hascar"],
        true,
    );
    case_change(
        "metadata.paths contains 'has'",
        t,
        json!({}),
        &["hascar"],
        false,
    );
    case_change(
        "metadata.paths eq 'hascar'",
        t,
        json!({}),
        &["hascar"],
        false,
    );
    case_change(
        "metadata.paths has all of ['a', 'b']",
        t,
        json!({}),
        &["b", "c", "a"],
        true,
    );
    case_change(
        "metadata.paths has all of ['a', 'b']",
        t,
        json!({}),
        &["a"],
        false,
    );
    case_change("metadata.paths has none of ['a']", t, json!({}), &[], true);
    case_change("metadata.paths exists", t, json!({}), &[], true);
    // `metadata` is not a key of the record: data.metadata is just a data path.
    case_change("data.metadata.type exists", t, json!({}), &[], false);
}

#[test]
fn record_filters_evaluate_against_stored_records() {
    use cxhooks_catalog::Catalog;
    use cxhooks_condition::compile_record_filter;
    let (filter, warnings) = compile_record_filter(
        "data.touser.tosinglestatusnode in [1001, 1002] and data.hascar eq true",
        Catalog::builtin(),
        "cremployee",
    )
    .unwrap();
    assert!(warnings.is_empty());
    assert!(filter.matches_record(&json!({"touser": {"tosinglestatusnode": 1001}, "hascar": 1})));
    assert!(filter.matches_record(&json!({"tostatusnode": "1002", "hascar": 1})));
    assert!(!filter.matches_record(&json!({"touser": {"tosinglestatusnode": 1001}, "hascar": 0})));
    assert!(!filter.matches_record(&json!([1, 2])));
}
