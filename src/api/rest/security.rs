//! The OpenAPI document's access control: the bearer scheme, required by
//! every `/v1` operation, and the refusals every operation may answer with
//! (401, 403, 503; 413 for those with a body), so that clients and schema
//! checkers know them.

use utoipa::openapi::path::Operation;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{ContentBuilder, OpenApi, Ref, ResponseBuilder};
use utoipa::Modify;

pub struct Security;

impl Modify for Security {
    fn modify(&self, openapi: &mut OpenApi) {
        let mut bearer = Http::new(HttpAuthScheme::Bearer);
        bearer.bearer_format = Some("lvsd_<id>_<secret> (lvsd token create)".to_string());
        bearer.description = Some(
            "An access token made with `lvsd token create`. A server whose database has no token is open and ignores it.".to_string(),
        );
        openapi.components.get_or_insert_with(Default::default).add_security_scheme("bearer", SecurityScheme::Http(bearer));
        openapi.security = Some(vec![SecurityRequirement::new("bearer", Vec::<String>::new())]);

        for item in openapi.paths.paths.values_mut() {
            let operations = [&mut item.get, &mut item.put, &mut item.post, &mut item.delete, &mut item.patch, &mut item.head];
            for operation in operations.into_iter().flatten() {
                add_refusals(operation);
            }
        }
    }
}

fn add_refusals(operation: &mut Operation) {
    let mut refusals = vec![
        ("401", "No access token, or one that is not valid (revoked, expired)"),
        ("403", "The token's role may not do this"),
        ("503", "The server is busy, or the request took longer than the server's timeout"),
    ];
    if operation.request_body.is_some() {
        refusals.push(("413", "The body is larger than the server accepts"));
    }
    for (status, description) in refusals {
        let response = ResponseBuilder::new()
            .description(description)
            .content("application/json", ContentBuilder::new().schema(Some(Ref::from_schema_name("ErrorBody"))).build())
            .build();
        operation.responses.responses.entry(status.to_string()).or_insert(response.into());
    }
}
