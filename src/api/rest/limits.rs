//! Bounds on requests in flight and on their duration: past them a request
//! gets a JSON 503 instead of tying up the server.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tokio::sync::Semaphore;
use tokio::time::Instant;

use super::error::ApiError;
use crate::core::Error;

pub struct RequestLimits {
    timeout: Duration,
    in_flight: Semaphore,
    max_in_flight: usize,
}

impl RequestLimits {
    pub fn new(timeout: Duration, max_in_flight: usize) -> Arc<Self> {
        Arc::new(RequestLimits { timeout, in_flight: Semaphore::new(max_in_flight), max_in_flight })
    }
}

/// The middleware: wait for a slot among `max_in_flight`, then run the
/// request, all within `timeout` (which covers reading the body: a client
/// trickling its body in is cut off too).
pub async fn enforce(State(limits): State<Arc<RequestLimits>>, request: Request, next: Next) -> Response {
    let deadline = Instant::now() + limits.timeout;
    let Ok(Ok(_permit)) = tokio::time::timeout_at(deadline, limits.in_flight.acquire()).await else {
        let busy = format!(
            "the server is busy: {} requests in progress for {} s; retry later",
            limits.max_in_flight,
            limits.timeout.as_secs()
        );
        return ApiError::from(Error::Unavailable(busy)).into_response();
    };
    match tokio::time::timeout_at(deadline, next.run(request)).await {
        Ok(response) => response,
        Err(_) => {
            let late = format!(
                "the request took longer than {} s and was abandoned (lvsd serve --request-timeout); a write it made is either whole or absent",
                limits.timeout.as_secs_f64()
            );
            ApiError::from(Error::Unavailable(late)).into_response()
        }
    }
}
