//! The OpenAPI document's access control: the bearer scheme, required by
//! every `/v1` operation, and the refusals every operation may answer with
//! (400 for a malformed parameter, 401, 403, 503; 404 for those about a
//! cluster; 413 for those with a body), so that clients and schema checkers
//! (scripts/schemathesis.sh) know them.

use utoipa::Modify;
use utoipa::openapi::path::{Operation, ParameterIn};
use utoipa::openapi::schema::{ObjectBuilder, Type};
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{ContentBuilder, OpenApi, Ref, ResponseBuilder};

pub struct Security;

impl Modify for Security {
    fn modify(&self, openapi: &mut OpenApi) {
        let mut bearer = Http::new(HttpAuthScheme::Bearer);
        bearer.bearer_format = Some("lvsd_<id>_<secret> (lvsd token create)".to_string());
        bearer.description = Some(
            "An access token made with `lvsd token create`. A server whose database has no token is open and ignores it.".to_string(),
        );
        openapi
            .components
            .get_or_insert_with(Default::default)
            .add_security_scheme("bearer", SecurityScheme::Http(bearer));
        openapi.security = Some(vec![SecurityRequirement::new(
            "bearer",
            Vec::<String>::new(),
        )]);

        for (path, item) in openapi.paths.paths.iter_mut() {
            let operations = [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.patch,
                &mut item.head,
            ];
            for operation in operations.into_iter().flatten() {
                add_refusals(operation, path.contains("{cluster}"));
                describe_path_parameters(operation);
            }
        }
    }
}

fn add_refusals(operation: &mut Operation, about_a_cluster: bool) {
    let mut refusals = vec![
        (
            "400",
            "A malformed parameter, header or body, named in `field`",
        ),
        (
            "401",
            "No access token, or one that is not valid (revoked, expired)",
        ),
        ("403", "The token's role may not do this"),
        (
            "503",
            "The server is busy, or the request took longer than the server's timeout",
        ),
    ];
    if about_a_cluster {
        refusals.push(("404", "No such cluster, service, real server or revision"));
    }
    if operation.request_body.is_some() {
        refusals.push(("413", "The body is larger than the server accepts"));
    }
    for (status, description) in refusals {
        let response = ResponseBuilder::new()
            .description(description)
            .content(
                "application/json",
                ContentBuilder::new()
                    .schema(Some(Ref::from_schema_name("ErrorBody")))
                    .build(),
            )
            .build();
        operation
            .responses
            .responses
            .entry(status.to_string())
            .or_insert(response.into());
    }
}

/// Path and header parameters in the shapes the server reads.
fn describe_path_parameters(operation: &mut Operation) {
    for parameter in operation.parameters.iter_mut().flatten() {
        let text = |pattern: &str| {
            ObjectBuilder::new()
                .schema_type(Type::String)
                .pattern(Some(pattern))
                .build()
        };
        let in_path = parameter.parameter_in == ParameterIn::Path;
        let schema = match parameter.name.as_str() {
            "cluster" if in_path => text(CLUSTER_NAME),
            "service" if in_path => {
                text(r"^((tcp|udp|sctp):(\[[0-9A-Fa-f:.]+\]|[0-9.]+):[0-9]+|fwmark6?:[0-9]+)$")
            }
            "server" if in_path => text(r"^(\[[0-9A-Fa-f:.]+\]|[0-9.]+):[0-9]+$"),
            "If-Match" => text(r#"^(\*|(W/)?"[^",]*"(, ?(W/)?"[^",]*")*)$"#),
            "number" if in_path => ObjectBuilder::new()
                .schema_type(Type::Integer)
                .format(Some(utoipa::openapi::SchemaFormat::KnownFormat(
                    utoipa::openapi::KnownFormat::Int64,
                )))
                .minimum(Some(1))
                .build(),
            _ => continue,
        };
        parameter.schema = Some(schema.into());
    }
}

/// What `core::clusters::validate_name` accepts.
pub const CLUSTER_NAME: &str = "^[a-z0-9][a-z0-9._-]{0,62}$";
