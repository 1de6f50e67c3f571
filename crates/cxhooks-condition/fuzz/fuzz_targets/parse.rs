//! Fuzzes the parser with arbitrary text, and everything downstream of a successful parse:
//! printing must give the same tree back, and checking, compiling and evaluating must not
//! panic.
#![no_main]

use std::sync::LazyLock;

use cxhooks_catalog::{Catalog, EventType};
use cxhooks_condition::{Change, MAX_SOURCE_BYTES, compile, parse};
use libfuzzer_sys::fuzz_target;
use serde_json::{Value, json};

static EVENT_TYPE: LazyLock<EventType> =
    LazyLock::new(|| EventType::parse("cremployee:updated").unwrap());
static RECORD: LazyLock<Value> = LazyLock::new(|| {
    json!({
        "a": [1, "1", null, {"b": 2}], "hascar": 1, "tostatusnode": "1234", "x": 1.5, "_": "",
        "touser": {"lastname": "O'Brien", "tosinglestatusnode": 1234, "groupnodes": [7, 8]}
    })
});
static PATHS: LazyLock<Vec<String>> = LazyLock::new(|| {
    ["hascar", "touser", "touser.lastname"]
        .map(str::to_owned)
        .to_vec()
});

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(condition) = parse(text) else {
        return;
    };
    let printed = condition.to_string();
    // Printing normalises spacing, which can push a text near the limit over it.
    if printed.len() <= MAX_SOURCE_BYTES {
        let reparsed =
            parse(&printed).unwrap_or_else(|e| panic!("{printed:?} does not parse: {e}"));
        assert_eq!(reparsed, condition, "{printed:?}");
    }
    for entity in ["cremployee", "crmatch", "crnosuch"] {
        if let Ok((compiled, _warnings)) = compile(text, Catalog::builtin(), entity) {
            let change = Change::new(&EVENT_TYPE, "42", &RECORD, &PATHS);
            let _ = compiled.matches(&change);
            let _ = compiled.matches_record(&RECORD);
            let _ = compiled.matches_record(&Value::Null);
        }
    }
});
