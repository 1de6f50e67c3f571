//! A webhook's limits and order (issue 25): `maxInFlight`, `maxPerSecond` and `ordered` through
//! create, read, list, replace and merge patch, their checks, the OpenAPI document, the registry
//! and the console form. (Their enforcement is the delivery workers', tested there.)

use crate::console::signed_in;
use crate::harness::*;
use cxhooks_server::Config;
use cxhooks_store::testing::Backend;
use serde_json::{Value, json};

/// A tenant, a manager's token and an application: its webhooks' path.
async fn hooks_of(app: &TestApp) -> (String, String) {
    app.tenant("acme").await;
    let (_, token) = app.client_token("acme", ALL_SCOPES, SEED_PERMISSIONS).await;
    let app_id = app.application(&token, "a").await;
    (
        token,
        format!("/webhooks/v1/applications/{app_id}/webhooks"),
    )
}

fn body(extra: Value) -> Value {
    let mut body =
        json!({"url": "https://example.com/in", "filters": [{"eventType": "crjob:updated"}]});
    body.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    body
}

/// A form's fields as `Browser::post` takes them.
fn borrowed<'f>(form: &'f [(&'static str, String)]) -> Vec<(&'static str, &'f str)> {
    form.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

/// The three fields of an answer.
fn limits(v: &Value) -> Value {
    json!([v["maxInFlight"], v["maxPerSecond"], v["ordered"]])
}

async fn limits_are_created_read_replaced_and_patched(backend: Backend) {
    let app = spawn_app(backend).await;
    let (token, hooks) = hooks_of(&app).await;

    // Without them: the defaults, shown as null (the configured concurrency, no rate) and false.
    let plain = app.json("POST", &hooks, &token, &body(json!({}))).await;
    assert_eq!(plain.status, 201, "{}", plain.text);
    assert_eq!(limits(&plain.body), json!([null, null, false]));

    // With each of them.
    for (given, shown) in [
        (json!({"maxInFlight": 4}), json!([4, null, false])),
        (json!({"maxInFlight": 4.0}), json!([4, null, false])),
        (json!({"maxPerSecond": 0.5}), json!([null, 0.5, false])),
        (json!({"maxPerSecond": 2}), json!([null, 2, false])),
        (json!({"ordered": true}), json!([null, null, true])),
        (
            json!({"maxInFlight": null, "maxPerSecond": null, "ordered": null}),
            json!([null, null, false]),
        ),
    ] {
        let a = app.json("POST", &hooks, &token, &body(given.clone())).await;
        assert_eq!(a.status, 201, "{given}: {}", a.text);
        assert_eq!(limits(&a.body), shown, "{given}");
    }
    let all = json!({"maxInFlight": 1000, "maxPerSecond": 100000, "ordered": true});
    let created = app.json("POST", &hooks, &token, &body(all)).await;
    assert_eq!(limits(&created.body), json!([1000, 100000, true]));
    let id = created.body["_id"].as_str().unwrap().to_owned();
    let path = format!("{hooks}/{id}");
    let read = app.call("GET", &path, &token, None).await;
    assert_eq!(limits(&read.body), json!([1000, 100000, true]));
    let listed = app.call("GET", &hooks, &token, None).await;
    let item = listed.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["_id"] == id.as_str())
        .unwrap();
    assert_eq!(limits(item), json!([1000, 100000, true]));
    let some = app
        .call(
            "GET",
            &format!("{path}?fields=maxInFlight,ordered"),
            &token,
            None,
        )
        .await;
    assert_eq!(
        some.body,
        json!({"_kind": "Webhook", "_id": id, "maxInFlight": 1000, "ordered": true})
    );
    let hook_id = id.parse().unwrap();
    let info = app.state.delivery.registry.hook(hook_id).unwrap();
    assert_eq!(
        (info.max_in_flight, info.max_per_second, info.ordered),
        (Some(1000), Some(100_000.0), true),
        "the registry has them"
    );

    // PUT of what GET returned, changed; a PUT without them resets them (it replaces).
    let version = app.store().config_version().await.unwrap();
    let mut whole = read.body.clone();
    whole["maxInFlight"] = json!(1);
    whole["maxPerSecond"] = json!(0.25);
    let a = app.json("PUT", &path, &token, &whole).await;
    assert_eq!(a.status, 200, "{}", a.text);
    assert_eq!(limits(&a.body), json!([1, 0.25, true]));
    assert_eq!(
        app.store().config_version().await.unwrap(),
        version + 1,
        "nodes reload"
    );
    let a = app.json("PUT", &path, &token, &body(json!({}))).await;
    assert_eq!(limits(&a.body), json!([null, null, false]));

    // PATCH changes what it names and keeps the rest; null resets to the default.
    let a = app
        .json(
            "PATCH",
            &path,
            &token,
            &json!({"maxInFlight": 8, "ordered": true}),
        )
        .await;
    assert_eq!(limits(&a.body), json!([8, null, true]), "{}", a.text);
    let a = app
        .json("PATCH", &path, &token, &json!({"maxPerSecond": 0.001}))
        .await;
    assert_eq!(limits(&a.body), json!([8, 0.001, true]));
    let a = app
        .json(
            "PATCH",
            &path,
            &token,
            &json!({"url": "https://example.com/other"}),
        )
        .await;
    assert_eq!(limits(&a.body), json!([8, 0.001, true]), "kept");
    let a = app
        .json("PATCH", &path, &token, &json!({"maxInFlight": null}))
        .await;
    assert_eq!(limits(&a.body), json!([null, 0.001, true]));
    let a = app
        .json(
            "PATCH",
            &path,
            &token,
            &json!({"maxPerSecond": null, "ordered": null}),
        )
        .await;
    assert_eq!(limits(&a.body), json!([null, null, false]));
    assert_eq!(
        app.store().config_version().await.unwrap(),
        version + 7,
        "every write bumps"
    );
    let info = app.state.delivery.registry.hook(hook_id).unwrap();
    assert_eq!(
        (info.max_in_flight, info.max_per_second, info.ordered),
        (None, None, false)
    );
}

async fn invalid_limits_are_refused_at_their_pointer(backend: Backend) {
    let mut config = Config::default();
    config.delivery.max_in_flight_per_webhook = 7;
    let app = spawn_app_with(backend, config).await;
    let (token, hooks) = hooks_of(&app).await;
    let cases = [
        (
            "maxInFlight",
            json!(0),
            "is 1 to 1000 deliveries in flight at once, not 0",
        ),
        (
            "maxInFlight",
            json!(-1),
            "not -1: send null (or leave it out) for the configured default, 7",
        ),
        ("maxInFlight", json!(1001), "not 1001"),
        ("maxInFlight", json!(1e300), "1 to 1000"),
        (
            "maxInFlight",
            json!(1.5),
            "must be a whole number from 1 to 1000 (or null for the configured default, 7), not 1.5",
        ),
        (
            "maxInFlight",
            json!("16"),
            "must be a whole number from 1 to 1000 (or null for the configured default, 7), found a string",
        ),
        ("maxInFlight", json!(true), "found a boolean"),
        ("maxInFlight", json!([4]), "found an array"),
        ("maxPerSecond", json!(0), "must be above 0, not 0"),
        ("maxPerSecond", json!(-0.5), "must be above 0, not -0.5"),
        (
            "maxPerSecond",
            json!(100_000.5),
            "at most 100000 deliveries a second, not 100000.5",
        ),
        ("maxPerSecond", json!(1e9), "at most 100000"),
        (
            "maxPerSecond",
            json!("NaN"),
            "must be a number above 0 and at most 100000 (or null for no limit), found a string",
        ),
        ("maxPerSecond", json!("Infinity"), "found a string"),
        ("maxPerSecond", json!("0.5"), "found a string"),
        ("maxPerSecond", json!({}), "found an object"),
        (
            "ordered",
            json!("true"),
            "must be true or false (without quotes), found a string",
        ),
        ("ordered", json!(1), "found a number"),
    ];
    for (field, value, says) in cases {
        let a = app
            .json("POST", &hooks, &token, &body(json!({field: value})))
            .await;
        assert_problem(&a, 400, &format!("/{field}"), says);
        assert_eq!(a.body["errors"].as_array().unwrap().len(), 1, "{}", a.text);
    }
    // JSON has no NaN or Infinity: such a body is not JSON at all.
    for raw in [r#"{"maxPerSecond": NaN}"#, r#"{"maxPerSecond": Infinity}"#] {
        let a = app.call("POST", &hooks, &token, Some(raw)).await;
        assert_problem(&a, 400, "", "invalid JSON at line 1");
    }
    // Every problem at once, with the body's others.
    let a = app
        .json(
            "POST",
            &hooks,
            &token,
            &json!({"url": "ftp://x", "filters": [{"eventType": "crjob:updated"}],
                "maxInFlight": 0, "maxPerSecond": 0, "ordered": "yes"}),
        )
        .await;
    for field in ["/url", "/maxInFlight", "/maxPerSecond", "/ordered"] {
        assert_problem(&a, 400, field, "");
    }
    assert_eq!(a.body["detail"], "the webhook has 4 problems: see errors");

    // PUT and PATCH check them the same way, and change nothing when they refuse.
    let created = app
        .json("POST", &hooks, &token, &body(json!({"maxInFlight": 3})))
        .await;
    let path = format!("{hooks}/{}", created.body["_id"].as_str().unwrap());
    let version = app.store().config_version().await.unwrap();
    assert_problem(
        &app.json("PUT", &path, &token, &body(json!({"maxInFlight": 5000})))
            .await,
        400,
        "/maxInFlight",
        "not 5000",
    );
    assert_problem(
        &app.json("PATCH", &path, &token, &json!({"maxPerSecond": -1}))
            .await,
        400,
        "/maxPerSecond",
        "above 0",
    );
    assert_problem(
        &app.json("PATCH", &path, &token, &json!({"ordered": "false"}))
            .await,
        400,
        "/ordered",
        "true or false",
    );
    let read = app.call("GET", &path, &token, None).await;
    assert_eq!(limits(&read.body), json!([3, null, false]));
    assert_eq!(app.store().config_version().await.unwrap(), version);
}

async fn openapi_declares_the_limits_with_their_bounds(backend: Backend) {
    let app = spawn_app(backend).await;
    let doc: Value = app
        .http
        .get(format!("{}/openapi.json", app.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let schemas = &doc["components"]["schemas"];
    let input = &schemas["WebhookIn"]["properties"];
    assert_eq!(input["maxInFlight"]["type"], json!(["integer", "null"]));
    assert_eq!(
        (
            &input["maxInFlight"]["minimum"],
            &input["maxInFlight"]["maximum"]
        ),
        (&json!(1), &json!(1000))
    );
    assert_eq!(input["maxPerSecond"]["type"], json!(["number", "null"]));
    assert_eq!(
        (
            &input["maxPerSecond"]["exclusiveMinimum"],
            &input["maxPerSecond"]["maximum"]
        ),
        (&json!(0), &json!(100000))
    );
    assert_eq!(input["ordered"]["default"], false);
    let required = schemas["WebhookIn"]["required"].as_array().unwrap();
    assert!(
        !required
            .iter()
            .any(|r| r == "ordered" || r == "maxInFlight")
    );
    // Answers always carry all three (null for a default).
    let out = schemas["WebhookOut"]["allOf"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["properties"].is_object())
        .unwrap();
    for field in ["maxInFlight", "maxPerSecond", "ordered"] {
        assert!(
            out["required"]
                .as_array()
                .unwrap()
                .iter()
                .any(|r| r == field),
            "{field}"
        );
    }
    assert_eq!(out["properties"]["maxInFlight"]["maximum"], 1000);
    assert_eq!(out["properties"]["maxPerSecond"]["exclusiveMinimum"], 0);
}

/// The console's webhook form: the three inputs create, show, save and reset the limits, and its
/// checks are the API's, at the same pointers.
async fn the_console_form_sets_shows_and_resets_the_limits(backend: Backend) {
    let app = spawn_app(backend).await;
    let (token, hooks) = hooks_of(&app).await;
    let app_id = hooks.split('/').nth(4).unwrap().to_owned();
    let (mut b, csrf) = signed_in(&app, "acme").await;
    let url = "https://example.com/console";
    // The form as a browser posts it: a checkbox left unticked is not sent at all.
    let form = |max_in_flight: &str, max_per_second: &str, ordered: bool| {
        let mut f = vec![
            ("csrf", csrf.clone()),
            ("app", app_id.clone()),
            ("url", url.to_owned()),
            ("event_type", "crjob:created".to_owned()),
            ("condition", String::new()),
            ("custom_headers", String::new()),
            ("max_in_flight", max_in_flight.to_owned()),
            ("max_per_second", max_per_second.to_owned()),
        ];
        if ordered {
            f.push(("ordered", "on".to_owned()));
        }
        f
    };
    // Live validation answers what the API answers, at the same pointers.
    let checked = b
        .post(
            "/console/webhooks/validate",
            &borrowed(&form("0", "-2", false)),
        )
        .await;
    let checked: Value = serde_json::from_str(&checked.text).unwrap();
    let api = app
        .json(
            "POST",
            &hooks,
            &token,
            &json!({"url": url, "filters": [{"eventType": "crjob:created"}], "maxInFlight": 0, "maxPerSecond": -2}),
        )
        .await;
    assert_eq!(checked["valid"], false);
    assert_eq!(checked["errors"], api.body["errors"], "{checked}");
    let typed = form("many", "", false);
    let checked = b
        .post("/console/webhooks/validate", &borrowed(&typed))
        .await;
    let checked: Value = serde_json::from_str(&checked.text).unwrap();
    assert_eq!(checked["errors"][0]["path"], "/maxInFlight");
    assert!(
        checked["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("found a string"),
        "{checked}"
    );

    // Submitted with a bad value: refused, with the API's message at the field.
    let page = b.post("/console/webhooks/new", &borrowed(&typed)).await;
    assert_eq!(page.status, 400);
    assert!(page.text.contains(r#"data-for="/maxInFlight""#));
    assert!(page.text.contains("must be a whole number from 1 to 1000"));
    assert!(
        page.text.contains(r#"value="many""#),
        "what was typed is kept"
    );

    // Created with all three.
    let page = b
        .post("/console/webhooks/new", &borrowed(&form("3", "0.25", true)))
        .await;
    assert_eq!(page.status, 303, "{}", page.text);
    let listed = app.call("GET", &hooks, &token, None).await;
    let created = listed.body["items"][0].clone();
    assert_eq!(limits(&created), json!([3, 0.25, true]));
    let id = created["_id"].as_str().unwrap();

    // The list and the webhook's page show them.
    let list = b.get(&format!("/console/webhooks?app={app_id}")).await;
    assert!(
        list.text.contains("3 at once · 0.25/s · ordered"),
        "{}",
        list.text
    );
    let detail = b.get(&format!("/console/webhooks/{app_id}/{id}")).await;
    assert_eq!(detail.status, 200);
    assert!(
        detail
            .text
            .contains(r#"name="max_in_flight" type="number""#)
    );
    assert!(detail.text.contains(r#"value="3""#), "{}", detail.text);
    assert!(detail.text.contains(r#"value="0.25""#));
    assert!(
        detail
            .text
            .contains(r#"name="ordered" type="checkbox" value="on" checked"#)
    );

    // Saved blank and unticked: back to the defaults.
    let blank = form("", "", false);
    let page = b
        .post(
            &format!("/console/webhooks/{app_id}/{id}"),
            &borrowed(&blank),
        )
        .await;
    assert_eq!(page.status, 303, "{}", page.text);
    let read = app
        .call("GET", &format!("{hooks}/{id}"), &token, None)
        .await;
    assert_eq!(limits(&read.body), json!([null, null, false]));
    let list = b.get(&format!("/console/webhooks?app={app_id}")).await;
    assert!(list.text.contains("16 at once (default) · no rate limit"));
}

cxhooks_store::both_backends!(
    limits_are_created_read_replaced_and_patched,
    invalid_limits_are_refused_at_their_pointer,
    openapi_declares_the_limits_with_their_bounds,
    the_console_form_sets_shows_and_resets_the_limits,
);
