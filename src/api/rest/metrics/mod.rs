//! `GET /metrics`, and the middleware that counts every REST request by
//! route template and status for it. [`Snapshot`] is what the core says at
//! scrape time, collected beside the process's own counters.

mod snapshot;

use axum::extract::{MatchedPath, Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tokio::time::Instant;

use super::error::ApiError;
use crate::core::Core;
pub use snapshot::Snapshot;

use crate::metrics::{CONTENT_TYPE, Metrics};

/// Route label of requests that matched no route: one series for all of them.
const UNMATCHED: &str = "unmatched";

/// The middleware: times the request and counts it once answered.
pub async fn count(State(metrics): State<Metrics>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().as_str().to_string();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or(UNMATCHED.to_string(), |m| m.as_str().to_string());
    let response = next.run(request).await;
    metrics.http_request(
        &method,
        &route,
        response.status().as_u16(),
        started.elapsed(),
    );
    response
}

/// The handler: Prometheus' text format.
pub async fn scrape(State(core): State<Core>) -> Result<Response, ApiError> {
    let now = Snapshot::gather(&core).await?;
    let text = core.metrics().encode(Box::new(now));
    Ok(([(header::CONTENT_TYPE, CONTENT_TYPE)], text).into_response())
}
