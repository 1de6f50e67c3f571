//! The OpenAPI 3.1 document, generated from the handlers' annotations: every route is
//! registered through `OpenApiRouter::routes`, so a route cannot exist without its
//! documentation. Served at `/openapi.json`.

use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
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
    modifiers(&Bearer),
    components(schemas(crate::error::ProblemDoc, crate::error::FieldError)),
    tags(
        (name = "identity", description = "Keycloak-compatible realm endpoints"),
        (name = "applications", description = "Applications and their RSA key pairs"),
        (name = "webhooks", description = "Webhooks, filters and the event-type catalog"),
        (name = "acl", description = "Who the caller is"),
        (name = "changes", description = "The publish API of the source system"),
        (name = "events", description = "The request log, redelivery and test pings"),
        (name = "records", description = "The record store")
    )
)]
#[derive(Debug)]
pub struct ApiDoc;

struct Bearer;

impl Modify for Bearer {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        let mut http = Http::new(HttpAuthScheme::Bearer);
        http.bearer_format = Some("JWT".into());
        http.description = Some(
            "An access token from POST /auth/realms/{tenant}/protocol/openid-connect/token (client_credentials)".into(),
        );
        components.add_security_scheme("bearer", SecurityScheme::Http(http));
    }
}
