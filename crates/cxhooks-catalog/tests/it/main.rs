//! Integration tests of the catalog: the embedded data, event types, path resolution, extras.

use cxhooks_catalog::{
    Action, Catalog, CatalogError, EventType, EventTypeError, FieldType, PathMatch,
};
use serde_json::{Value, json};

const SOURCE: &str = include_str!("../../carerix-fields.json");

#[test]
fn builtin_has_the_carerix_entities_then_the_lookup_entities_then_attachments() {
    let names: Vec<&str> = Catalog::builtin()
        .entities()
        .map(|e| e.name.as_str())
        .collect();
    assert_eq!(
        names,
        [
            "cremployee",
            "cruser",
            "crcompany",
            "crvacancy",
            "crjob",
            "crmatch",
            "crpublication",
            "crcampaign",
            "crdatanode",
            "crstatusinfo",
            "crattachment"
        ]
    );
    let lookups: Vec<&str> = Catalog::builtin()
        .entities()
        .filter(|e| e.lookup)
        .map(|e| e.name.as_str())
        .collect();
    assert_eq!(lookups, ["crdatanode", "crstatusinfo"]);
}

#[test]
fn builtin_field_counts_match_the_notes() {
    let catalog = Catalog::builtin();
    let counts: Vec<(&str, usize, usize)> = catalog
        .entities()
        .filter(|e| !e.lookup)
        .map(|e| {
            (
                e.name.as_str(),
                e.fields.len(),
                e.fields.iter().filter(|f| f.seed).count(),
            )
        })
        .collect();
    assert_eq!(
        counts,
        [
            ("cremployee", 61, 53),
            ("cruser", 49, 20),
            ("crcompany", 52, 2),
            ("crvacancy", 60, 31),
            ("crjob", 49, 21),
            ("crmatch", 30, 5),
            ("crpublication", 34, 10),
            ("crcampaign", 25, 6),
            ("crattachment", 11, 0),
        ]
    );
}

#[test]
fn serialising_gives_back_the_source_file() {
    let parsed = Catalog::from_json(SOURCE).unwrap();
    let source: Value = serde_json::from_str(SOURCE).unwrap();
    assert_eq!(parsed.to_json_value(), source);
    // Key order of entities is the source's, not alphabetical.
    let text = serde_json::to_string(&parsed).unwrap();
    assert!(text.find("\"cremployee\"").unwrap() < text.find("\"crcampaign\"").unwrap());
}

#[test]
fn lookup_entities_are_marked_and_have_lower_case_paths() {
    let catalog = Catalog::builtin();
    let json = catalog.to_json_value();
    assert_eq!(json["entities"]["crdatanode"]["lookup"], json!(true));
    assert_eq!(json["entities"]["cremployee"].get("lookup"), None);
    let paths = |name: &str| -> Vec<String> {
        catalog
            .entity(name)
            .unwrap()
            .fields
            .iter()
            .map(|f| f.path.clone())
            .collect()
    };
    assert_eq!(
        paths("crdatanode"),
        ["datanodeid", "value", "type", "modificationdate"]
    );
    assert_eq!(
        paths("crstatusinfo"),
        [
            "statusinfoid",
            "statusname",
            "sortorder",
            "isfinal",
            "modificationdate"
        ]
    );
    let isfinal = catalog
        .entity("crstatusinfo")
        .unwrap()
        .field("isfinal")
        .unwrap();
    assert_eq!(isfinal.field_type, FieldType::Boolean);
    assert_eq!(isfinal.carerix_name, "isFinal");
}

#[test]
fn builtin_round_trips_through_json() {
    let catalog = Catalog::builtin();
    let text = serde_json::to_string(catalog).unwrap();
    assert_eq!(&Catalog::from_json(&text).unwrap(), catalog);
}

#[test]
fn event_type_parses_known_entities_and_actions() {
    let t = EventType::parse("cremployee:updated").unwrap();
    assert_eq!(
        (t.entity(), t.action(), t.as_str()),
        ("cremployee", Action::Updated, "cremployee:updated")
    );
    assert_eq!(t.to_string(), "cremployee:updated");
    assert_eq!(
        serde_json::to_value(&t).unwrap(),
        json!("cremployee:updated")
    );
    assert_eq!(
        "crdatanode:created".parse::<EventType>().unwrap().action(),
        Action::Created
    );
    assert_eq!(Catalog::builtin().event_types().count(), 33);
}

#[test]
fn event_type_errors_list_what_is_valid() {
    let err = EventType::parse("candidate:updated").unwrap_err();
    assert!(
        matches!(&err, EventTypeError::UnknownEntity { entity, valid } if entity == "candidate" && valid.len() == 11)
    );
    assert_eq!(
        err.to_string(),
        "unknown entity 'candidate'; valid entities: cremployee, cruser, crcompany, crvacancy, \
         crjob, crmatch, crpublication, crcampaign, crdatanode, crstatusinfo, crattachment"
    );
    let err = EventType::parse("CREmployee:updated").unwrap_err();
    assert!(
        err.to_string()
            .contains("(entity names are lower case: cremployee)"),
        "{err}"
    );
    let err = EventType::parse("cremployee:modified").unwrap_err();
    assert_eq!(
        err.to_string(),
        "unknown action 'modified'; valid actions: created, updated, deleted"
    );
    for bad in ["cremployee", "cremployee:updated:x", ""] {
        assert!(
            matches!(EventType::parse(bad), Err(EventTypeError::Malformed { .. })),
            "{bad}"
        );
    }
    // Both wrong: the entity is reported.
    assert!(matches!(
        EventType::parse("x:y"),
        Err(EventTypeError::UnknownEntity { .. })
    ));
}

#[test]
fn resolve_finds_paths_alt_paths_and_paths_through_relations() {
    let catalog = Catalog::builtin();
    let employee = catalog.entity("cremployee").unwrap();
    let path_of = |m: Option<PathMatch<'_>>| match m {
        Some(PathMatch::Path(f)) => format!("path {}", f.path),
        Some(PathMatch::AltPath(f)) => format!("alt {}", f.path),
        Some(PathMatch::ThroughRelation { relation, field }) => {
            format!("via {} {}", relation.path, field.path)
        }
        None => "none".into(),
    };
    assert_eq!(
        path_of(employee.resolve(catalog, "tostatusnode")),
        "path tostatusnode"
    );
    assert_eq!(
        path_of(employee.resolve(catalog, "touser.tosinglestatusnode")),
        "alt tostatusnode"
    );
    assert_eq!(
        path_of(employee.resolve(catalog, "touser.lastname")),
        "alt lastname"
    );
    assert_eq!(
        path_of(employee.resolve(catalog, "touser.isactive")),
        "via touser isactive"
    );
    assert_eq!(
        path_of(employee.resolve(catalog, "tostatusnode.value")),
        "via tostatusnode value"
    );
    assert_eq!(
        path_of(employee.resolve(catalog, "touser.tocompany.name")),
        "via tocompany name"
    );
    assert_eq!(
        path_of(employee.resolve(catalog, "touser.nosuchfield")),
        "none"
    );
    assert_eq!(path_of(employee.resolve(catalog, "hascar.x")), "none");
    assert_eq!(path_of(employee.resolve(catalog, "toStatusNode")), "none");
    let matcher = catalog.entity("crmatch").unwrap();
    assert_eq!(
        path_of(matcher.resolve(catalog, "statusinfo.statusname")),
        "via statusinfo statusname"
    );
}

#[test]
fn merge_adds_entities_and_fields() {
    let mut catalog = Catalog::builtin().clone();
    let extras = Catalog::from_json(
        r#"{"entities": {
            "cremployee": {"label": "-", "carerixType": "-", "fields": [
                {"path": "shoesize", "carerixName": "shoeSize", "label": "Shoe size", "type": "integer"}]},
            "crresume": {"label": "Resume", "carerixType": "CRResume", "fields": []}
        }}"#,
    )
    .unwrap();
    catalog.merge(extras).unwrap();
    assert_eq!(catalog.entity("cremployee").unwrap().label, "Candidate");
    assert!(
        catalog
            .entity("cremployee")
            .unwrap()
            .field("shoesize")
            .is_some()
    );
    assert!(catalog.parse_event_type("crresume:created").is_ok());
    assert!(EventType::parse("crresume:created").is_err());
}

#[test]
fn invalid_extras_are_refused() {
    let field = |path: &str| {
        serde_json::from_value(
            json!({"path": path, "carerixName": "x", "label": "x", "type": "string"}),
        )
        .unwrap()
    };
    let mut catalog = Catalog::builtin().clone();
    assert!(matches!(
        catalog.add_field("cremployee", field("hascar")),
        Err(CatalogError::DuplicateField { .. })
    ));
    assert!(matches!(
        catalog.add_field("cremployee", field("shoeSize")),
        Err(CatalogError::InvalidPath { .. })
    ));
    assert!(matches!(
        catalog.add_field("cremployee", field("a..b")),
        Err(CatalogError::InvalidPath { .. })
    ));
    assert!(matches!(
        catalog.add_field("nope", field("a")),
        Err(CatalogError::UnknownEntity { .. })
    ));
    let entity = catalog.entity("crjob").unwrap().clone();
    for name in ["CRJob", "cr:job", "", "1job"] {
        assert!(
            matches!(
                catalog.add_entity(name, entity.clone()),
                Err(CatalogError::InvalidEntityName { .. })
            ),
            "{name}"
        );
    }
    assert!(matches!(
        catalog.add_entity("crjob", entity),
        Err(CatalogError::DuplicateEntity { .. })
    ));
    assert!(matches!(
        Catalog::from_json(
            r#"{"entities": {"a": {"label": "", "carerixType": "", "fields": [], "colour": 1}}}"#
        ),
        Err(CatalogError::Json(_))
    ));
    assert!(Catalog::from_json(
        r#"{"entities": {"a": {"label": "", "carerixType": "", "fields": []}, "a": {"label": "", "carerixType": "", "fields": []}}}"#
    )
    .is_err());
}

#[test]
fn resolving_a_very_long_path_is_fast() {
    // A fuzzed condition found that trying every split of a long path took seconds.
    let catalog = Catalog::builtin();
    let employee = catalog.entity("cremployee").unwrap();
    // touser → cruser, then tocompany → crcompany and tomainuser → cruser, a thousand times.
    let chain = format!("touser{}", ".tocompany.tomainuser".repeat(1000));
    let started = std::time::Instant::now();
    assert!(
        employee
            .resolve(catalog, &format!("{chain}.nosuchfield"))
            .is_none()
    );
    assert!(
        employee
            .resolve(catalog, &format!("{chain}.touser.x"))
            .is_none()
    );
    assert!(matches!(
        employee.resolve(catalog, &format!("{chain}.lastname")),
        Some(PathMatch::ThroughRelation { relation, field }) if relation.path == "tomainuser" && field.path == "lastname"
    ));
    assert!(
        started.elapsed() < std::time::Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
}
