//! Request extractors that turn every malformed input into an `ApiError`
//! naming the field, instead of axum's plain-text rejections.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use serde::de::DeserializeOwned;

use super::error::ApiError;
use super::limits::BodyBudget;
use crate::auth::Principal;
use crate::core::{Caller, Core, Error, Precondition};
use crate::model::ValidationError;

/// A JSON body parsed with field paths in its errors.
pub struct JsonBody<T>(pub T);

impl<T: DeserializeOwned + Send> FromRequest<Core> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, core: &Core) -> Result<Self, Self::Rejection> {
        read_body(req, core, |bytes| {
            ValidationError::from_json(bytes).map_err(Error::from)
        })
        .await
        .map(JsonBody)
    }
}

/// Reads the body and parses it with `parse`. A body that cannot be read
/// (too large, cut short) or parsed is refused, and the refusal audited.
pub(crate) async fn read_body<T: Send>(
    req: Request,
    core: &Core,
    parse: impl FnOnce(&[u8]) -> Result<T, Error> + Send,
) -> Result<T, ApiError> {
    let (mut parts, body) = req.into_parts();
    let caller = Caller::from_request_parts(&mut parts, core).await?;
    let target = format!("{} {}", parts.method, parts.uri.path());
    let announced = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<usize>().ok());
    let _reserved = match parts.extensions.get::<BodyBudget>() {
        Some(budget) => {
            budget
                .reserve(
                    announced
                        .unwrap_or(super::BODY_LIMIT)
                        .min(super::BODY_LIMIT),
                )
                .await
        }
        None => None,
    };
    let result = match Bytes::from_request(Request::from_parts(parts, body), core).await {
        Ok(bytes) => parse(&bytes),
        Err(rejection) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            Err(Error::TooLarge(format!(
                "the body is larger than the {} MiB the server accepts",
                super::BODY_LIMIT / (1024 * 1024)
            )))
        }
        Err(rejection) => Err(Error::invalid("body", rejection.body_text())),
    };
    match result {
        Ok(value) => Ok(value),
        Err(err) => {
            core.record_rejected(&caller, cluster_of(&target), &target, &err)
                .await;
            Err(err.into())
        }
    }
}

/// The cluster named in a `/v1/clusters/{cluster}/...` path.
fn cluster_of(target: &str) -> Option<&str> {
    let path = target.split_once(' ').map_or(target, |(_, path)| path);
    path.strip_prefix("/v1/clusters/")?
        .split('/')
        .next()
        .filter(|name| !name.is_empty())
}

/// Query parameters, with a 400 naming the parameter on bad input.
pub struct Query<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for Query<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(value)) => Ok(Query(value)),
            Err(rejection) => {
                let text = rejection.body_text();
                let reason = text.trim_start_matches("Failed to deserialize query string: ");
                let (field, message) = reason.split_once(": ").unwrap_or(("query", reason));
                Err(Error::invalid(field, message).into())
            }
        }
    }
}

/// The caller: the principal that [`authorize`](super::auth::authorize) let
/// through, named as the token is, and the request's id. A route that did
/// not pass through access control is refused (500), never served as anyone.
impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let principal = parts
            .extensions
            .get::<Principal>()
            .ok_or_else(|| Error::Internal("this route is not under access control".to_string()))?;
        Ok(Caller::new(
            principal.name.clone(),
            request_id(&parts.headers),
        ))
    }
}

/// The client's `x-request-id` (set to a fresh UUID by the router when
/// missing), as recorded in the audit log.
/// One that is too long or not plain text is replaced, as in gRPC.
pub(crate) fn request_id(headers: &HeaderMap) -> String {
    crate::core::request_id(headers.get("x-request-id").and_then(|v| v.to_str().ok()))
}

impl<S: Send + Sync> FromRequestParts<S> for Precondition {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        match parts.headers.get(header::IF_MATCH) {
            None => Ok(Precondition::default()),
            Some(value) => value
                .to_str()
                .ok()
                .filter(|value| is_etag_list(value))
                .map(Precondition::if_match)
                .ok_or_else(|| {
                    Error::invalid("If-Match", "not an ETag list: send the ETag you read, quotes included (\"1a2b3c4d.7\"), or *").into()
                }),
        }
    }
}

/// `*`, or entity tags (`"x"`, `W/"x"`) separated by commas (RFC 9110).
fn is_etag_list(value: &str) -> bool {
    let value = value.trim();
    value == "*"
        || (!value.is_empty()
            && value.split(',').all(|tag| {
                let tag = tag.trim();
                let tag = tag.strip_prefix("W/").unwrap_or(tag);
                tag.len() >= 2
                    && tag.starts_with('"')
                    && tag.ends_with('"')
                    && !tag[1..tag.len() - 1].contains('"')
            }))
}

/// An `ETag` header value.
pub fn etag_header(etag: &str) -> [(header::HeaderName, HeaderValue); 1] {
    let value = HeaderValue::from_str(etag).unwrap_or_else(|_| HeaderValue::from_static("\"\""));
    [(header::ETAG, value)]
}

/// Parses a number from a path segment, naming it when it is not one.
pub fn path_number(field: &str, text: &str) -> Result<i64, ApiError> {
    text.parse::<i64>().ok().filter(|n| *n > 0).ok_or_else(|| {
        Error::invalid(
            field,
            format!("`{text}` is not a revision number (1, 2, ...)"),
        )
        .into()
    })
}
