//! The OpenAPI 3.1 document, generated from the handlers' annotations: every route is
//! registered through `OpenApiRouter::routes`, so a route cannot exist without its
//! documentation. Served at `/openapi.json`.

use cxhooks_store::Scope;
use utoipa::openapi::security::{ClientCredentials, Flow, OAuth2, Scopes, SecurityScheme};
use utoipa::{Modify, OpenApi};

/// The document's fixed parts; the paths are added by the routers.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "cxhooks",
        description = "Carerix-compatible webhook service for recruitment data: identity, management API, \
                       request log and publish API.",
        license(name = "Apache-2.0")
    ),
    modifiers(&ClientCredentialsScheme),
    components(schemas(crate::error::ProblemDoc, crate::error::FieldError, super::shapes::Projection, super::shapes::ProjectionList)),
    tags(
        (name = "identity", description = "Keycloak-compatible realm endpoints"),
        (name = "applications", description = "Applications and their RSA key pairs"),
        (name = "webhooks", description = "Webhooks, filters and the event-type catalog"),
        (name = "additional fields", description = "The tenant's additional fields: keys of records' additionalinfo, with a label and a type"),
        (name = "acl", description = "Who the caller is"),
        (name = "changes", description = "The publish API of the source system"),
        (name = "events", description = "The request log, redelivery, bulk recovery and test pings"),
        (name = "records", description = "The record store"),
        (name = "operations", description = "Liveness, readiness and metrics")
    )
)]
#[derive(Debug)]
pub struct ApiDoc;

struct ClientCredentialsScheme;

/// What each scope grants, for the scheme's scope list.
fn grants(scope: Scope) -> &'static str {
    match scope {
        Scope::WebhooksManage => "the whole management API",
        Scope::ApplicationsManage => "applications only",
        Scope::WebhooksOnlyManage => "webhooks and their request log",
        Scope::RecordsManage => "the record store",
        Scope::AclManage => "GET /acl/v1/me",
        Scope::EventsPublish => "the publish API",
    }
}

/// Where a client of tenant `{tenant}` gets its token; the scheme's flow names it.
const TOKEN_URL: &str = "/auth/realms/{tenant}/protocol/openid-connect/token";

impl Modify for ClientCredentialsScheme {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        let scopes = Scopes::from_iter(Scope::ALL.iter().map(|s| (s.as_str(), grants(*s))));
        let flow = Flow::ClientCredentials(ClientCredentials::new(TOKEN_URL, scopes));
        let oauth2 = OAuth2::with_description(
            [flow],
            "OAuth 2.0 client credentials at the tenant's realm (replace `{tenant}` in the token \
             URL), with client_secret_basic or client_secret_post; the answer's access token is \
             sent as `Authorization: Bearer …`.",
        );
        components.add_security_scheme("oauth2", SecurityScheme::OAuth2(oauth2));
    }
}

/// `/healthz`, `/readyz` and `/metrics`: plain routes, outside the annotated routers.
fn operations_routes() -> Vec<(&'static str, serde_json::Value)> {
    use serde_json::json;
    let text = |description: &str| json!({"description": description, "content": {"text/plain": {"schema": {"type": "string"}}}});
    vec![
        (
            "/healthz",
            json!({"get": {"tags": ["operations"], "operationId": "healthz",
                "summary": "Liveness: 200 while the process serves HTTP",
                "responses": {"200": text("`ok`")}}}),
        ),
        (
            "/readyz",
            json!({"get": {"tags": ["operations"], "operationId": "readyz",
                "summary": "Readiness: 200 when the store answers, 503 with Retry-After while it does not",
                "responses": {"200": text("`ready`"),
                    "503": {"description": "the store does not answer",
                        "headers": {"Retry-After": {"description": "seconds", "schema": {"type": "integer"}}},
                        "content": {"text/plain": {"schema": {"type": "string"}}}}}}}),
        ),
        (
            "/metrics",
            json!({"get": {"tags": ["operations"], "operationId": "metrics",
                "summary": "Prometheus text 0.0.4, or OpenMetrics 1.0 when Accept ranks it first",
                "responses": {"200": {"description": "the node's metrics",
                    "content": {"text/plain": {"schema": {"type": "string"}},
                        "application/openmetrics-text": {"schema": {"type": "string"}}}}}}}),
        ),
    ]
}

/// What the annotations cannot say, applied to the whole document once the routers have added
/// their paths:
/// - every problem answer is `application/problem+json` (RFC 9457), not `application/json`
///   (the realm endpoints' OAuth errors stay `application/json`, as RFC 6749 has them);
/// - an operation taking `?fields=` answers with only the fields asked for (plus `_kind` and
///   `_id`), and 400 for an unknown field;
/// - every 201 declares its `Location` header (every create answers with one: `api::Created`);
/// - every response has a description (OpenAPI requires one): the status' reason phrase when
///   the annotation gave none;
/// - an operation taking a JSON body answers 415 for a body sent as another media type or
///   without a `Content-Type` (`service::input::parse_json`), so no route can forget to say so.
pub fn finish(doc: utoipa::openapi::OpenApi) -> utoipa::openapi::OpenApi {
    use serde_json::{Value, json};
    let mut value = serde_json::to_value(&doc).expect("the document serialises");
    let problem = json!({"$ref": "#/components/schemas/ProblemDoc"});
    if let Some(paths) = value.get_mut("paths").and_then(Value::as_object_mut) {
        for operation in paths.values_mut().filter_map(Value::as_object_mut) {
            for op in operation.values_mut() {
                let takes_json = op["requestBody"]["content"]
                    .as_object()
                    .is_some_and(|c| c.keys().any(|t| t.ends_with("json")));
                let takes_fields = op["parameters"]
                    .as_array()
                    .is_some_and(|ps| ps.iter().any(|p| p["name"] == "fields"));
                let Some(responses) = op.get_mut("responses").and_then(Value::as_object_mut) else {
                    continue;
                };
                if takes_json {
                    responses.entry("415").or_insert_with(|| {
                        json!({
                            "description": "the body is not sent as the documented JSON media type",
                            "content": {"application/json": {"schema": problem.clone()}}
                        })
                    });
                }
                if takes_fields {
                    if let Some(ok) = responses.get_mut("200") {
                        let full = ok["content"]["application/json"]["schema"].take();
                        // A list projects each of its items; a read, the object itself.
                        let is_list = full["$ref"].as_str().is_some_and(|r| r.ends_with("List"));
                        let projected = if is_list {
                            "ProjectionList"
                        } else {
                            "Projection"
                        };
                        ok["content"]["application/json"]["schema"] = json!({"anyOf": [
                            full,
                            {"$ref": format!("#/components/schemas/{projected}")}
                        ]});
                    }
                    responses.entry("400").or_insert_with(|| {
                        json!({
                            "description": "an unknown field in ?fields=",
                            "content": {"application/json": {"schema": problem.clone()}}
                        })
                    });
                }
                if let Some(created) = responses.get_mut("201").and_then(Value::as_object_mut) {
                    created.entry("headers").or_insert_with(|| {
                        json!({"Location": {
                            "description": "the path of what was created",
                            "schema": {"type": "string"}
                        }})
                    });
                }
                for (status, response) in responses.iter_mut() {
                    // OpenAPI requires a description on every response: the status' reason
                    // phrase where the annotation gave none.
                    if let Some(response) = response.as_object_mut()
                        && !response.contains_key("description")
                    {
                        let reason = status
                            .parse::<u16>()
                            .ok()
                            .and_then(|s| axum::http::StatusCode::from_u16(s).ok())
                            .and_then(|s| s.canonical_reason())
                            .unwrap_or("answer");
                        response.insert("description".into(), reason.into());
                    }
                    let is_error = status.starts_with('4') || status.starts_with('5');
                    let is_problem = response["content"]["application/json"]["schema"] == problem;
                    let content = response.get_mut("content").and_then(Value::as_object_mut);
                    if let (true, true, Some(content)) = (is_error, is_problem, content)
                        && let Some(body) = content.remove("application/json")
                    {
                        content.insert("application/problem+json".into(), body);
                    }
                }
            }
        }
    }
    if let Some(paths) = value.get_mut("paths").and_then(Value::as_object_mut) {
        for (path, operation) in operations_routes() {
            paths.insert(path.into(), operation);
        }
    }
    serde_json::from_value(value).expect("the finished document is still a document")
}
