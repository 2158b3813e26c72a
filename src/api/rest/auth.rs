//! Access control for `/v1`: every request is authenticated and checked
//! against [`policy::REST`](crate::auth::policy::REST) before its handler
//! runs (and before its body is read). The handler then sees the
//! [`Principal`](crate::auth::Principal) in the request's extensions, which the `Caller` extractor
//! turns into the audit log's actor. Refusals are audited.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use percent_encoding::percent_decode_str;

use super::error::ApiError;
use super::extract::request_id;
use crate::auth::{Access, policy};
use crate::core::{AccessRequest, Core};

/// The middleware: authenticate, check the role, or refuse with 401 / 403.
pub async fn authorize(State(core): State<Core>, request: Request, next: Next) -> Response {
    let (mut parts, body) = request.into_parts();
    let route = parts
        .extensions
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_string())
        .unwrap_or_default();
    let cluster = path_param(&route, parts.uri.path(), "cluster");
    let credentials = parts
        .headers
        .get(header::AUTHORIZATION)
        .map(|v| v.to_str().unwrap_or("?"));
    let target = format!("{} {}", parts.method, parts.uri.path());
    let peer = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.to_string());
    let request_id = request_id(&parts.headers);
    let request = AccessRequest {
        credentials,
        // Routes missing from the table need admin: closed by default.
        access: policy::rest(parts.method.as_str(), &route).unwrap_or(Access::Admin),
        cluster: cluster.as_deref(),
        target: &target,
        peer: peer.as_deref(),
        request_id: &request_id,
    };
    match core.authorize(request).await {
        Ok((principal, _)) => {
            parts.extensions.insert(principal);
            next.run(Request::from_parts(parts, body)).await
        }
        Err(err) => ApiError::from(err).into_response(),
    }
}

/// The value of `{name}` in `path`, matched against the `route` template.
fn path_param(route: &str, path: &str, name: &str) -> Option<String> {
    let wanted = format!("{{{name}}}");
    let index = route.split('/').position(|segment| segment == wanted)?;
    let raw = path.split('/').nth(index)?;
    Some(percent_decode_str(raw).decode_utf8_lossy().into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_cluster_in_the_path() {
        let route = "/v1/clusters/{cluster}/draft/services/{service}";
        assert_eq!(
            path_param(
                route,
                "/v1/clusters/web/draft/services/tcp:1.2.3.4:80",
                "cluster"
            )
            .as_deref(),
            Some("web")
        );
        assert_eq!(
            path_param(route, "/v1/clusters/w%65b/draft/services/x", "cluster").as_deref(),
            Some("web")
        );
        assert_eq!(path_param("/v1/audit", "/v1/audit", "cluster"), None);
    }
}
