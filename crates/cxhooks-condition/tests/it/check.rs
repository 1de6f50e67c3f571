//! Semantic checks: `metadata.*` errors, `data.*` warnings against the catalog.

use cxhooks_catalog::{Catalog, FieldType};
use cxhooks_condition::{
    CheckError, CompiledCondition, Condition, ConditionError, MAX_DEPTH, Path, Predicate, Root,
    Test, Warning, check::MAX_TREE_DEPTH, compile, compile_record_filter, parse,
};

fn warnings(condition: &str, entity: &str) -> Vec<Warning> {
    match compile(condition, Catalog::builtin(), entity) {
        Ok((_, warnings)) => warnings,
        Err(errors) => panic!("{condition:?}: {errors:?}"),
    }
}

fn errors(condition: &str) -> Vec<ConditionError> {
    compile(condition, Catalog::builtin(), "cremployee")
        .err()
        .unwrap_or_default()
}

#[test]
fn catalog_paths_alt_paths_and_relations_give_no_warning() {
    for (condition, entity) in [
        ("data.hascar eq 1", "cremployee"),
        (
            "data.touser.lastname eq 'x' and data.lastname eq 'x'",
            "cremployee",
        ),
        ("data.touser.jobtitle exists", "cremployee"),
        ("data.touser.isactive eq true", "cremployee"),
        ("data.tostatusnode.value eq 'Active'", "cremployee"),
        ("data.toemployee.touser.lastname eq 'x'", "crjob"),
        ("data.statusinfo.statusname eq 'Intake'", "crmatch"),
        (
            "data.statusname eq 'Intake' and data.isfinal eq 1",
            "crstatusinfo",
        ),
        (
            "data.tostatusnode eq 1 and data.tosinglestatusnode eq 1",
            "cruser",
        ),
    ] {
        assert_eq!(warnings(condition, entity), [], "{condition} on {entity}");
    }
}

#[test]
fn unknown_data_paths_are_warnings_with_column_and_suggestion() {
    let found = warnings("data.hascar eq 1 and data.shoesize gt 40", "cremployee");
    assert_eq!(
        found,
        [Warning::UnknownField {
            path: "data.shoesize".into(),
            column: 22,
            entity: "cremployee".into(),
            suggestion: None,
        }]
    );
    assert_eq!(found[0].column(), 22);
    assert_eq!(found[0].path(), "data.shoesize");
    assert_eq!(
        found[0].to_string(),
        "data.shoesize at column 22 is not a field of cremployee in the catalog; it is accepted, but the source may never set it"
    );
    let found = warnings("data.toStatusNode eq '1234'", "cremployee");
    assert!(
        found[0]
            .to_string()
            .ends_with("(did you mean data.tostatusnode?)"),
        "{}",
        found[0]
    );
    let found = warnings("data.tostatusnod eq '1234'", "cremployee");
    assert!(
        matches!(&found[0], Warning::UnknownField { suggestion: Some(s), .. } if s == "data.tostatusnode")
    );
    assert_eq!(
        warnings("data.touser.nosuchfield eq 1", "cremployee").len(),
        1
    );
    assert_eq!(warnings("data.hascar.x eq 1", "cremployee").len(), 1);
    // Each unknown path is reported where it occurs.
    let columns: Vec<usize> = warnings("data.x eq 1 or data.y eq 2", "crjob")
        .iter()
        .map(Warning::column)
        .collect();
    assert_eq!(columns, [1, 16]);
}

#[test]
fn an_entity_outside_the_catalog_warns_for_every_data_path() {
    assert_eq!(
        warnings("data.a eq 1 and metadata.entityId eq '1'", "crnosuch").len(),
        1
    );
}

#[test]
fn flag_and_text_misuse_are_warnings() {
    assert!(matches!(
        &warnings("data.hascar eq 'yes'", "cremployee")[..],
        [Warning::FlagComparedWithOther { literal, .. }] if literal == "'yes'"
    ));
    assert_eq!(
        warnings(
            "data.hascar eq '1' or data.hascar ne 0 or data.hascar eq false",
            "cremployee"
        ),
        []
    );
    assert_eq!(warnings("data.hascar in [true, 2]", "cremployee").len(), 1);
    assert!(matches!(
        &warnings("data.hascar contains '1'", "cremployee")[..],
        [Warning::TextTestOnNonText {
            field_type: FieldType::Boolean,
            ..
        }]
    ));
    assert_eq!(
        warnings("data.touser.lastname startswith 'van'", "cremployee"),
        []
    );
    let text = warnings("data.tostatusnode contains '1'", "cremployee")[0].to_string();
    assert_eq!(
        text,
        "data.tostatusnode at column 1 holds no text (its type is relation); contains, startswith and endswith only match text"
    );
}

#[test]
fn unknown_metadata_paths_are_errors() {
    let found = errors("data.hascar eq 1 or metadata.entityid eq '1'");
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].column(), Some(21));
    assert_eq!(
        found[0].to_string(),
        "unknown path metadata.entityid at column 21: expected metadata.paths, metadata.type, metadata.entity, \
         metadata.action, metadata.entityId, metadata.groupsAdded or metadata.groupsRemoved (did you mean metadata.entityId?)"
    );
    let found = errors("metadata.changedFields has any of ['a'] and metadata.paths.x exists");
    assert_eq!(found.len(), 2, "every error is reported");
    assert!(
        found[0]
            .to_string()
            .contains("(did you mean metadata.paths?)")
    );
    assert!(matches!(
        &found[1],
        ConditionError::Check(CheckError::UnknownMetadataPath {
            column: 45,
            suggestion: None,
            ..
        })
    ));
    assert_eq!(
        errors(
            "metadata.paths exists and metadata.type exists and metadata.entity exists and metadata.action exists and metadata.entityId exists"
        ),
        []
    );
}

#[test]
fn parse_errors_come_alone_with_their_column() {
    let found = errors("data.hascar eq");
    assert!(matches!(&found[..], [ConditionError::Parse(e)] if e.column == 15));
    assert_eq!(found[0].column(), Some(15));
}

#[test]
fn record_filters_refuse_metadata() {
    let found = compile_record_filter(
        "data.hascar eq 1 and metadata.paths has any of ['a']",
        Catalog::builtin(),
        "cremployee",
    )
    .unwrap_err();
    assert_eq!(
        found[0].to_string(),
        "metadata.paths at column 22 cannot be used here: a record filter reads data.* paths only"
    );
    assert!(compile_record_filter("data.x eq 1", Catalog::builtin(), "cremployee").is_ok());
}

#[test]
fn compiled_condition_prints_its_source() {
    let (compiled, _) = compile("DATA.hascar EQ TRUE", Catalog::builtin(), "cremployee").unwrap();
    assert_eq!(compiled.to_string(), "data.hascar eq true");
    assert_eq!(compiled.condition(), &parse("data.hascar eq true").unwrap());
}

#[test]
fn trees_built_in_code_are_checked_too() {
    let leaf = Condition::Predicate(Predicate {
        path: Path::new(Root::Data, ["a"]).unwrap(),
        test: Test::Exists,
    });
    let mut deep = leaf.clone();
    for _ in 0..MAX_TREE_DEPTH + 1 {
        deep = Condition::Not(Box::new(deep));
    }
    assert_eq!(
        CompiledCondition::new(&deep).unwrap_err(),
        [CheckError::TooDeep {
            max: MAX_TREE_DEPTH
        }]
    );
    let bad = Condition::Predicate(Predicate {
        path: Path::new(Root::Metadata, ["nope"]).unwrap(),
        test: Test::Exists,
    });
    assert!(CompiledCondition::new(&bad).is_err());
    assert!(Path::new(Root::Data, ["a.b"]).is_none());
    assert!(Path::new(Root::Data, Vec::<String>::new()).is_none());
    assert!(Path::new(Root::Data, [""]).is_none());
}

#[test]
fn the_most_nested_parsable_condition_compiles() {
    // Every parenthesis level holding both an `or` and an `and` is the deepest tree text gives.
    let mut text = String::from("data.a exists");
    for _ in 0..MAX_DEPTH {
        text = format!("data.a exists or data.a exists and ({text})");
    }
    let (compiled, _) = compile(&text, Catalog::builtin(), "cremployee").unwrap();
    assert!(compiled.matches_record(&serde_json::json!({"a": 1})));
}

#[test]
fn checking_paths_of_hundreds_of_segments_is_fast() {
    // Found by the fuzzer: resolving relation prefixes used to take exponential time.
    let path = format!("data.touser{}", ".tocompany.tomainuser".repeat(90));
    let condition = format!("{path}.x eq 1 or {path}.lastname eq 'x'");
    assert!(condition.len() < cxhooks_condition::MAX_SOURCE_BYTES);
    let started = std::time::Instant::now();
    let found = warnings(&condition, "cremployee");
    assert_eq!(found.len(), 1);
    assert!(
        started.elapsed() < std::time::Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
}
