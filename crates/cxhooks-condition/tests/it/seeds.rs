//! Every condition of the seed documents (003 "first webhook", 004 reference) behaves as the
//! documents say.

use cxhooks_catalog::Catalog;
use cxhooks_condition::{Warning, compile};
use serde_json::json;

use crate::case_change;

#[test]
fn seed_003_example_1_placement_status_active_or_closed() {
    let c = "data.tostatusnode eq '1234' or data.tostatusnode eq '5678'";
    case_change(
        c,
        "crjob:updated",
        json!({"tostatusnode": 1234}),
        &["tostatusnode"],
        true,
    );
    case_change(
        c,
        "crjob:updated",
        json!({"tostatusnode": 5678}),
        &["tostatusnode"],
        true,
    );
    case_change(
        c,
        "crjob:updated",
        json!({"tostatusnode": "5678"}),
        &[],
        true,
    );
    case_change(
        c,
        "crjob:updated",
        json!({"tostatusnode": 9999}),
        &["tostatusnode"],
        false,
    );
    case_change(
        c,
        "crjob:updated",
        json!({"tostatusnode": 12340}),
        &[],
        false,
    );
    case_change(c, "crjob:updated", json!({}), &[], false);
}

#[test]
fn seed_003_webhook_example_with_trailing_space() {
    let c = "data.tostatusnode eq '1234' ";
    case_change(
        c,
        "cremployee:updated",
        json!({"tostatusnode": 1234}),
        &[],
        true,
    );
    case_change(
        c,
        "cremployee:updated",
        json!({"tostatusnode": 4321}),
        &[],
        false,
    );
    // A candidate's status is stored on its user record (the catalog's altPath).
    case_change(
        c,
        "cremployee:updated",
        json!({"touser": {"tosinglestatusnode": 1234}}),
        &[],
        true,
    );
    case_change(
        c,
        "cremployee:updated",
        json!({"touser": {"tosinglestatusnode": 1}}),
        &[],
        false,
    );
}

#[test]
fn seed_003_example_2_candidate_status_open_for_work() {
    let c = "data.touser.tosinglestatusnode eq '1234'";
    let employee = |data| {
        case_change(
            c,
            "cremployee:updated",
            data,
            &["touser.tosinglestatusnode"],
            true,
        )
    };
    employee(json!({"touser": {"tosinglestatusnode": 1234, "lastname": "Jansen"}}));
    employee(json!({"tostatusnode": 1234}));
    case_change(
        c,
        "cremployee:updated",
        json!({"touser": {"tosinglestatusnode": 12}}),
        &[],
        false,
    );
    case_change(c, "cremployee:updated", json!({"touser": 1234}), &[], false);
}

#[test]
fn seed_003_example_4_match_stage() {
    let c = "data.statusinfo eq '1234'";
    case_change(
        c,
        "crmatch:updated",
        json!({"statusinfo": 1234}),
        &["statusinfo"],
        true,
    );
    case_change(
        c,
        "crmatch:updated",
        json!({"statusinfo": "1234"}),
        &["statusinfo"],
        true,
    );
    case_change(
        c,
        "crmatch:updated",
        json!({"statusinfo": 1235}),
        &["statusinfo"],
        false,
    );
    case_change(
        c,
        "crmatch:updated",
        json!({"statusinfo": null}),
        &["statusinfo"],
        false,
    );
}

#[test]
fn seed_004_single_field_update() {
    let c = "metadata.paths has any of ['hascar']";
    let data = json!({"hascar": 1});
    case_change(
        c,
        "cremployee:updated",
        data.clone(),
        &["hascar", "modificationdate"],
        true,
    );
    case_change(
        c,
        "cremployee:updated",
        data.clone(),
        &["notes", "modificationdate"],
        false,
    );
    case_change(c, "cremployee:updated", data, &[], false);
}

#[test]
fn seed_004_multiple_field_update() {
    let c = "metadata.paths has any of ['hascar', 'notes']";
    case_change(c, "cremployee:updated", json!({}), &["notes"], true);
    case_change(c, "cremployee:updated", json!({}), &["hascar"], true);
    case_change(
        c,
        "cremployee:updated",
        json!({}),
        &["touser", "touser.lastname"],
        false,
    );
}

#[test]
fn seed_conditions_compile_without_warnings_for_their_entity() {
    for (condition, entity) in [
        (
            "data.tostatusnode eq '1234' or data.tostatusnode eq '5678'",
            "crjob",
        ),
        ("data.tostatusnode eq '1234' ", "cremployee"),
        ("data.touser.tosinglestatusnode eq '1234'", "cremployee"),
        ("data.statusinfo eq '1234'", "crmatch"),
        ("metadata.paths has any of ['hascar']", "cremployee"),
        (
            "metadata.paths has any of ['hascar', 'notes']",
            "cremployee",
        ),
        // SPEC §8: the sync connector's filter and the webhook condition built from it.
        (
            "data.touser.tosinglestatusnode in [1001, 1002]",
            "cremployee",
        ),
        (
            "data.touser.tosinglestatusnode in [1001, 1002] or metadata.paths has any of ['touser.tosinglestatusnode']",
            "cremployee",
        ),
    ] {
        let (_, warnings) = compile(condition, Catalog::builtin(), entity).unwrap();
        assert!(warnings.is_empty(), "{condition}: {warnings:?}");
    }
}

#[test]
fn seed_004_generic_example_is_accepted_with_a_warning() {
    // "data.exampleAttribute eq 'someValue'": not a catalog path (and not lower case).
    let (compiled, warnings) = compile(
        "data.exampleAttribute eq 'someValue'",
        Catalog::builtin(),
        "cremployee",
    )
    .unwrap();
    assert!(
        matches!(&warnings[..], [Warning::UnknownField { path, column: 1, .. }] if path == "data.exampleAttribute")
    );
    let event_type = cxhooks_catalog::EventType::parse("cremployee:updated").unwrap();
    let data = json!({"exampleAttribute": "someValue"});
    assert!(compiled.matches(&cxhooks_condition::Change::new(
        &event_type,
        "1",
        &data,
        &[]
    )));
}

#[test]
fn sync_condition_notifies_a_record_leaving_the_filter() {
    let c = "data.touser.tosinglestatusnode in [1001, 1002] or metadata.paths has any of ['touser.tosinglestatusnode']";
    let left = json!({"touser": {"tosinglestatusnode": 2000}});
    case_change(
        c,
        "cremployee:updated",
        left.clone(),
        &["touser", "touser.tosinglestatusnode"],
        true,
    );
    case_change(
        c,
        "cremployee:updated",
        left,
        &["touser", "touser.lastname"],
        false,
    );
    case_change(
        c,
        "cremployee:updated",
        json!({"touser": {"tosinglestatusnode": "1002"}}),
        &[],
        true,
    );
}
