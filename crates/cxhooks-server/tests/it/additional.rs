//! Additional fields (seed 004's roadmap: "if additional field 'Shoesize' is changed »
//! notification"): defined per tenant and entity, stored and diffed by the record store,
//! tested by conditions, checked against their types, and guarded while webhooks use them.

use crate::console::signed_in;
use crate::delivery::{Setup, config, setup, verify_with_seed_snippets};
use crate::harness::{Answer, assert_problem};
use crate::receiver::TestReceiver;
use cxhooks_store::testing::Backend;
use serde_json::{Value, json};
use std::time::Duration;

const FIELDS: &str = "/webhooks/v1/additional-fields";

async fn define(s: &Setup, entity: &str, key: &str, label: &str, t: &str) -> Answer {
    s.app
        .json(
            "POST",
            FIELDS,
            &s.manager,
            &json!({"entity": entity, "key": key, "label": label, "type": t}),
        )
        .await
}

async fn webhook(s: &Setup, url: &str, condition: &str) -> Answer {
    s.webhook_on_updates(url, condition).await
}

async fn write(s: &Setup, method: &str, path: &str, body: Value) -> Answer {
    s.app.json(method, path, &s.manager, &body).await
}

async fn a_change_to_an_additional_field_reaches_the_webhook_that_tests_it(backend: Backend) {
    let receiver = TestReceiver::ok().await;
    let s = setup(backend, config(), &receiver.url).await;
    let created = define(&s, "cremployee", "shoesize", "Shoe size", "number").await;
    assert_eq!(created.status, 201, "{}", created.text);
    assert_eq!(
        created.headers["location"],
        "/webhooks/v1/additional-fields/cremployee/shoesize"
    );
    assert_eq!(created.body["path"], "additionalinfo.shoesize");
    assert_problem(
        &define(&s, "cremployee", "shoesize", "Again", "string").await,
        409,
        "",
        "already has an additional field 'shoesize'",
    );
    let hook = webhook(
        &s,
        &receiver.url,
        "data.additionalinfo.shoesize gt 44 and metadata.paths has any of ['additionalinfo.shoesize']",
    )
    .await;
    assert_eq!(hook.status, 201, "{}", hook.text);
    assert!(hook.body.get("warnings").is_none(), "{}", hook.text);

    let record = write(
        &s,
        "POST",
        "/data/v1/cremployee",
        json!({"touser": {"lastname": "Jansen"}, "additionalinfo": {"shoesize": 42}}),
    )
    .await;
    assert_eq!(record.status, 201, "{}", record.text);
    let one = "/data/v1/cremployee/1";
    for (body, delivered) in [
        (json!({"additionalinfo": {"shoesize": 43}}), 0), // changed, but not above 44
        (json!({"additionalinfo": {"shoesize": 45}}), 1),
        (json!({"hascar": 1}), 1), // above 44, but the size did not change
        (json!({"additionalinfo": {"shoesize": 46}}), 2),
    ] {
        let a = write(&s, "PATCH", one, body).await;
        assert_eq!(a.status, 200, "{}", a.text);
        receiver.wait_for(delivered).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let got = receiver.received();
    assert_eq!(got.len(), 2, "only the two changes above 44 are delivered");
    for r in &got {
        let note = r.json();
        assert_eq!(note["type"], "cremployee:updated");
        let paths = note["data"]["changedFields"].as_array().unwrap();
        assert!(paths.contains(&json!("additionalinfo.shoesize")), "{note}");
        assert!(
            !paths.contains(&json!("additionalinfo.modificationdate")),
            "{note}"
        );
    }
    verify_with_seed_snippets(&s, &got[1].body, got[1].header("cx-signature"));

    // The event-type catalog lists it among the candidate's fields.
    let catalog = s
        .app
        .get_json("/webhooks/v1/event-types", Some(&s.manager))
        .await;
    let employee = catalog["entities"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["entity"] == "cremployee")
        .unwrap();
    let field = employee["fields"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["path"] == "additionalinfo.shoesize")
        .expect("listed");
    assert_eq!(
        (
            field["type"].clone(),
            field["additional"].clone(),
            field["label"].clone()
        ),
        (json!("number"), json!(true), json!("Shoe size"))
    );
}

async fn conditions_records_and_definitions_are_checked(backend: Backend) {
    let receiver = TestReceiver::ok().await;
    let s = setup(backend, config(), &receiver.url).await;
    assert_eq!(
        define(&s, "cremployee", "shoesize", "Shoe size", "number")
            .await
            .status,
        201
    );
    assert_eq!(
        define(&s, "cremployee", "vip", "VIP", "boolean")
            .await
            .status,
        201
    );

    // Definitions.
    assert_problem(
        &define(&s, "cremployee", "Shoe Size", "x", "number").await,
        400,
        "/key",
        "is not a key",
    );
    assert_problem(
        &define(&s, "cremployee", "colour", "Colour", "color").await,
        400,
        "/type",
        "types are string, number, date, boolean, lookup",
    );
    assert_problem(
        &define(&s, "crnope", "x", "X", "string").await,
        400,
        "/entity",
        "there is no entity 'crnope'",
    );
    let missing = s
        .app
        .json(
            "POST",
            FIELDS,
            &s.manager,
            &json!({"entity": "cremployee", "key": "x", "type": "string"}),
        )
        .await;
    assert_problem(&missing, 400, "/label", "'label' is required");
    let (_, reader) = s
        .app
        .client_token("acme", crate::harness::ALL_SCOPES, "create=off,read=all")
        .await;
    let refused = s
        .app
        .json(
            "POST",
            FIELDS,
            &reader,
            &json!({"entity": "cremployee", "key": "x", "label": "X", "type": "string"}),
        )
        .await;
    assert_eq!(refused.status, 403, "{}", refused.text);

    // Conditions: a test the type can never pass is an error; an undefined key a warning.
    let text = webhook(
        &s,
        &receiver.url,
        "data.additionalinfo.shoesize contains '4'",
    )
    .await;
    assert_problem(
        &text,
        400,
        "/filters/0/condition",
        "the additional field 'Shoe size' of type number",
    );
    let ordered = webhook(&s, &receiver.url, "data.additionalinfo.vip gt 0").await;
    assert_problem(&ordered, 400, "/filters/0/condition", "use eq or ne");
    let unknown = webhook(&s, &receiver.url, "data.additionalinfo.hatsize eq 3").await;
    assert_eq!(unknown.status, 201, "{}", unknown.text);
    assert!(
        unknown.body["warnings"][0]["message"]
            .as_str()
            .unwrap()
            .contains("is not a field of cremployee"),
        "{}",
        unknown.text
    );

    // Records: values of the defined types.
    let bad = write(
        &s,
        "POST",
        "/data/v1/cremployee",
        json!({"additionalinfo": {"shoesize": "big", "vip": 2}}),
    )
    .await;
    assert_problem(&bad, 400, "/additionalinfo/shoesize", "is a number");
    assert_problem(&bad, 400, "/additionalinfo/vip", "true, false, 1 or 0");
    let flat = write(
        &s,
        "POST",
        "/data/v1/cremployee",
        json!({"additionalinfo": 5}),
    )
    .await;
    assert_problem(&flat, 400, "/additionalinfo", "as an object");
    let good = write(
        &s,
        "POST",
        "/data/v1/cremployee",
        json!({"additionalinfo": {"shoesize": 44.5, "vip": true, "other": "kept"}}),
    )
    .await;
    assert_eq!(good.status, 201, "{}", good.text);

    // Deleting a field a webhook uses is refused with the webhook named.
    let user = webhook(
        &s,
        &receiver.url,
        "metadata.paths has any of ['additionalinfo.vip']",
    )
    .await;
    assert_eq!(user.status, 201, "{}", user.text);
    let user_id = user.body["_id"].as_str().unwrap();
    let vip = format!("{FIELDS}/cremployee/vip");
    let in_use = s.app.call("DELETE", &vip, &s.manager, None).await;
    assert_problem(&in_use, 409, "", user_id);
    let gone = s
        .app
        .call(
            "DELETE",
            &format!("/webhooks/v1/applications/{}/webhooks/{user_id}", s.app_id),
            &s.manager,
            None,
        )
        .await;
    assert_eq!(gone.status, 204, "{}", gone.text);
    assert_eq!(
        s.app.call("DELETE", &vip, &s.manager, None).await.status,
        204
    );
    assert_eq!(s.app.call("GET", &vip, &s.manager, None).await.status, 404);
    let listed = s.app.get_json(FIELDS, Some(&s.manager)).await;
    let keys: Vec<&str> = listed["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["key"].as_str().unwrap())
        .collect();
    assert_eq!(keys, ["shoesize"]);
    // Another tenant sees none of them.
    s.app.tenant("other").await;
    let (_, stranger) = s
        .app
        .client_token("other", crate::harness::ALL_SCOPES, "create=on,read=all")
        .await;
    assert_eq!(
        s.app.get_json(FIELDS, Some(&stranger)).await["items"],
        json!([])
    );
    assert_eq!(
        s.app
            .call(
                "GET",
                &format!("{FIELDS}/cremployee/shoesize"),
                &stranger,
                None
            )
            .await
            .status,
        404
    );
}

async fn the_console_defines_and_deletes_additional_fields(backend: Backend) {
    let receiver = TestReceiver::ok().await;
    let s = setup(backend, config(), &receiver.url).await;
    let (mut b, csrf) = signed_in(&s.app, "acme").await;
    let bad = b
        .post(
            "/console/additional-fields",
            &[
                ("csrf", &csrf),
                ("entity", "cremployee"),
                ("key", "Shoe"),
                ("label", "Shoe size"),
                ("type", "number"),
            ],
        )
        .await;
    assert_eq!(bad.status, 400);
    assert!(bad.text.contains("is not a key"), "{}", bad.text);
    assert!(
        bad.text.contains("value=\"Shoe size\""),
        "what was typed is kept"
    );
    let made = b
        .post(
            "/console/additional-fields",
            &[
                ("csrf", &csrf),
                ("entity", "cremployee"),
                ("key", "shoesize"),
                ("label", "Shoe size"),
                ("type", "number"),
            ],
        )
        .await;
    assert_eq!(made.status, 303, "{}", made.text);
    let list = b.get(made.location()).await;
    assert!(
        list.text.contains("Additional field defined"),
        "{}",
        list.text
    );
    assert!(
        list.text.contains("<code>additionalinfo.shoesize</code>"),
        "{}",
        list.text
    );
    assert_eq!(
        s.app.get_json(FIELDS, Some(&s.manager)).await["items"][0]["label"],
        "Shoe size"
    );
    let deleted = b
        .post(
            "/console/additional-fields/cremployee/shoesize/delete",
            &[("csrf", &csrf)],
        )
        .await;
    assert_eq!(deleted.status, 303);
    assert!(
        b.get("/console/additional-fields")
            .await
            .text
            .contains("No additional fields yet.")
    );
}

cxhooks_store::both_backends!(
    a_change_to_an_additional_field_reaches_the_webhook_that_tests_it,
    conditions_records_and_definitions_are_checked,
    the_console_defines_and_deletes_additional_fields,
);
