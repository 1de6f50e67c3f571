//! Integration tests of the condition language: one binary, one module per concern.

mod check;
mod matcher;
mod parse;
mod props;
mod rules;
mod seeds;

use cxhooks_catalog::{Catalog, EventType};
use cxhooks_condition::{Change, CompiledCondition, compile};
use serde_json::Value;

/// Compiles `condition` for the entity of `event_type` against the builtin catalog, panicking
/// with the errors if it does not compile.
pub fn compiled(condition: &str, event_type: &str) -> CompiledCondition {
    let event_type = EventType::parse(event_type).unwrap();
    match compile(condition, Catalog::builtin(), event_type.entity()) {
        Ok((compiled, _warnings)) => compiled,
        Err(errors) => panic!("{condition:?} does not compile: {errors:?}"),
    }
}

/// Evaluates `condition` against a change of `event_type` with record `data`, changed
/// `paths` and entity id `42`.
pub fn eval_change(condition: &str, event_type: &str, data: &Value, paths: &[&str]) -> bool {
    let compiled = compiled(condition, event_type);
    let event_type = EventType::parse(event_type).unwrap();
    let paths: Vec<String> = paths.iter().map(|p| (*p).to_owned()).collect();
    compiled.matches(&Change::new(&event_type, "42", data, &paths))
}

/// One row of a table test: `condition` over a `cremployee:updated` change of `data` (no
/// changed paths) must give `expected`.
#[track_caller]
pub fn case(condition: &str, data: Value, expected: bool) {
    let got = eval_change(condition, "cremployee:updated", &data, &[]);
    assert_eq!(got, expected, "{condition:?} on {data}");
}

/// Like [`case`], with changed paths and a given event type.
#[track_caller]
pub fn case_change(condition: &str, event_type: &str, data: Value, paths: &[&str], expected: bool) {
    let got = eval_change(condition, event_type, &data, paths);
    assert_eq!(
        got, expected,
        "{condition:?} on {event_type} {data} paths {paths:?}"
    );
}
