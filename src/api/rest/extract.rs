//! Request extractors that turn every malformed input into an `ApiError`
//! naming the field, instead of axum's plain-text rejections.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, HeaderValue};
use serde::de::DeserializeOwned;

use super::error::ApiError;
use crate::core::{Caller, Error, Precondition};
use crate::model::ValidationError;

/// A JSON body parsed with field paths in its errors.
pub struct JsonBody<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = body_bytes(req, state).await?;
        Ok(JsonBody(ValidationError::from_json(&bytes)?))
    }
}

pub(crate) async fn body_bytes<S: Send + Sync>(req: Request, state: &S) -> Result<Bytes, ApiError> {
    Bytes::from_request(req, state)
        .await
        .map_err(|rejection| Error::invalid("body", rejection.body_text()).into())
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

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let request_id = parts
            .headers
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
            .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
        Ok(Caller::new("anonymous", request_id))
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Precondition {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        match parts.headers.get(header::IF_MATCH) {
            None => Ok(Precondition::default()),
            Some(value) => value
                .to_str()
                .map(Precondition::if_match)
                .map_err(|_| Error::invalid("If-Match", "not a valid ETag list").into()),
        }
    }
}

/// An `ETag` header value.
pub fn etag_header(etag: &str) -> [(header::HeaderName, HeaderValue); 1] {
    let value = HeaderValue::from_str(etag).unwrap_or_else(|_| HeaderValue::from_static("\"\""));
    [(header::ETAG, value)]
}

/// Parses a number from a path segment, naming it when it is not one.
pub fn path_number(field: &str, text: &str) -> Result<i64, ApiError> {
    text.parse::<i64>()
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| Error::invalid(field, format!("`{text}` is not a revision number (1, 2, ...)")).into())
}
