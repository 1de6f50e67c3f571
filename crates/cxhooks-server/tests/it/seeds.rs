//! Every example request body of the seed documents (003 and 004), sent as-is, gets the answer
//! it deserves: the valid ones are created, the broken ones get a 400 that says where they broke.

use crate::harness::*;
use cxhooks_store::testing::Backend;

const APP_003: &str = r#"{ "_kind": "Application", "name": "my-first-application" }"#;

const EXAMPLE_1: &str = "{\n\"url\": \"http://example.url\",\n\"_kind\": \"Webhook\",\n\"filters\": [\n{\n\
\"eventType\": \"cremployee:updated\",\n\"condition\": \"data.tostatusnode eq '1234' \"\n}\n]\n}";

// Trailing comma after the last member of the filter.
const EXAMPLE_2: &str = "{\n\"url\": \"http://example.url\",\n\"_kind\": \"Webhook\",\n\"filters\": [\n{\n\
\"eventType\": \"crjob:created\",\n}\n]\n}";

const POPULAR_1: &str = r#"{
"url": "https://yourwebhookurl.net/12345",
"_kind": "Webhook",
"filters": [
{
"eventType": "crjob:updated",
"condition": "data.tostatusnode eq '1234' or data.tostatusnode eq '5678'"
}
],
"customHeaders": [
{
"name": "Custom-Signature",
"value": "FE: Basic Y3g1YXBpY2xpZW50OmN4NWNvbm5lY3RhcGlmZWF0dXJl"
}
]
}"#;

const POPULAR_2: &str = r#"{
"url": "https://yourwebhookurl.test",
"_kind": "Webhook",
"filters": [
{
"eventType": "cremployee:updated",
"condition": "data.touser.tosinglestatusnode eq '1234'"
}
],
"customHeaders": [
{
"name": "Custom-Signature",
"value": "FE: Basic Y3g1YXBpY2xpZW50OmN4NWNvbm5lY3RhcGlmZWF0dXJl"
}
]
}"#;

// Missing opening quote of the url, and (in the seed) no closing brace.
const POPULAR_3: &str = r#"{
"url": https://yourwebhookurl.test",
"_kind": "Webhook",
"filters": [
{
"eventType": "crmatch:updated"
}
],
"customHeaders": [
{
"name": "Custom-Signature",
"value": "FE: Basic Y3g1YXBpY2xpZW50OmN4NWNvbm5lY3RhcGlmZWF0dXJl"
}
]"#;

const POPULAR_4: &str = r#"{
"url": https://yourwebhookurl.test",
"_kind": "Webhook",
"filters": [
{
"eventType": "crmatch:updated",
"condition": "data.statusinfo eq '1234'"
}
]
}"#;

const POPULAR_5: &str = r#"{
"url": https://yourwebhookurl.test",
"_kind": "Webhook",
"filters": [
{
"eventType": "crmatch:created"
}
]
}"#;

const POPULAR_6: &str = r#"{
"url": https://yourwebhookurl.test",
"_kind": "Webhook",
"filters": [
{
"eventType": "crpublication:created"
}
]
}"#;

// Seed 004's models: the application model carries the generated secret; the webhook model an
// example entity and a header name with a space.
const MODEL_APPLICATION: &str = r#"{
"name": "Application for external integration",
"secret": "MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQLJpFe5pVIDE9fknN1z2rDIgl9uDLqK8oW1MgmI3JwIDAQAB"
}"#;

const MODEL_WEBHOOK: &str = r#"{
"url": "http://example.url",
"filters": [
{
"eventType": "exampleentity:updated",
"condition": "data.exampleAttribute eq 'someValue'"
}
],
"customHeaders": [
{
"name": "Example Header",
"value": "Example Header Value"
}
]
}"#;

// Seed 004's filter examples, each given the url the examples leave out.
const FILTERS_004: [&str; 4] = [
    r#"{"url": "https://receiver.example", "filters": [{"eventType": "cremployee:updated"}]}"#,
    r#"{"url": "https://receiver.example", "filters": [{"eventType": "crmatch:created"}]}"#,
    r#"{"url": "https://receiver.example", "filters": [{"eventType": "cremployee:updated", "condition": "metadata.paths has any of ['hascar']"}]}"#,
    r#"{"url": "https://receiver.example", "filters": [{"eventType": "cremployee:updated", "condition": "metadata.paths has any of ['hascar', 'notes']"}]}"#,
];

async fn seed_bodies_get_the_answers_they_deserve(backend: Backend) {
    let app = spawn_app(backend).await;
    app.tenant("csmdemo").await;
    let (_, token) = app
        .client_token("csmdemo", ALL_SCOPES, SEED_PERMISSIONS)
        .await;

    // Seed 003 step 1.2: the application, with a trailing slash as the seed writes the url.
    let created = app
        .call("POST", "/webhooks/v1/applications/", &token, Some(APP_003))
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    assert_eq!(created.body["_kind"], "Application");
    assert_eq!(created.body["name"], "my-first-application");
    let id = created.body["_id"].as_str().unwrap().to_owned();
    let hooks = format!("/webhooks/v1/applications/{id}/webhooks");

    for (body, event_type) in [
        (EXAMPLE_1, "cremployee:updated"),
        (POPULAR_1, "crjob:updated"),
        (POPULAR_2, "cremployee:updated"),
    ] {
        let a = app.call("POST", &hooks, &token, Some(body)).await;
        assert_eq!(a.status, 201, "{}", a.text);
        assert_eq!(a.body["status"], "enabled");
        assert_eq!(a.body["filters"][0]["eventType"], event_type);
        assert!(a.body.get("warnings").is_none(), "{}", a.text);
    }
    let a = app.call("POST", &hooks, &token, Some(POPULAR_1)).await;
    assert_eq!(a.body["customHeaders"][0]["name"], "Custom-Signature");

    let a = app.call("POST", &hooks, &token, Some(EXAMPLE_2)).await;
    assert_problem(
        &a,
        400,
        "",
        "invalid JSON at line 7, column 1: trailing comma",
    );
    for body in [POPULAR_3, POPULAR_4, POPULAR_5, POPULAR_6] {
        let a = app.call("POST", &hooks, &token, Some(body)).await;
        assert_problem(
            &a,
            400,
            "",
            "invalid JSON at line 2, column 8: expected value",
        );
        assert!(
            a.text.contains("\\\"url\\\": https://yourwebhookurl.test"),
            "quotes the line: {}",
            a.text
        );
    }
    // With the quote restored, examples 4-6 are valid.
    for body in [POPULAR_4, POPULAR_5, POPULAR_6] {
        let fixed = body.replace("\"url\": https", "\"url\": \"https");
        assert_eq!(
            app.call("POST", &hooks, &token, Some(&fixed)).await.status,
            201
        );
    }

    let a = app
        .call(
            "POST",
            "/webhooks/v1/applications",
            &token,
            Some(MODEL_APPLICATION),
        )
        .await;
    assert_problem(&a, 400, "/secret", "unknown field 'secret'");
    let a = app.call("POST", &hooks, &token, Some(MODEL_WEBHOOK)).await;
    assert_problem(
        &a,
        400,
        "/filters/0/eventType",
        "unknown entity 'exampleentity'",
    );
    assert_problem(
        &a,
        400,
        "/customHeaders/0/name",
        "'Example Header' is not a valid header name",
    );

    for body in FILTERS_004 {
        let a = app.call("POST", &hooks, &token, Some(body)).await;
        assert_eq!(a.status, 201, "{body}: {}", a.text);
    }
    // Seed 004's filter examples as given, without a url: a pull webhook (issue 29), whose
    // notifications wait in its feed.
    let a = app
        .call(
            "POST",
            &hooks,
            &token,
            Some(r#"{"filters": [{"eventType": "crmatch:created"}]}"#),
        )
        .await;
    assert_eq!(a.status, 201, "{}", a.text);
    assert_eq!(a.body["mode"], "pull");

    let list = app.call("GET", &hooks, &token, None).await;
    assert_eq!(
        list.body["items"].as_array().unwrap().len(),
        3 + 1 + 3 + 4 + 1
    );
}

cxhooks_store::both_backends!(seed_bodies_get_the_answers_they_deserve);
