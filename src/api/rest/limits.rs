//! Bounds on requests in flight, on their duration and on the memory their
//! bodies take while read: past them a request waits or gets a JSON 503
//! instead of tying up the server.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

use super::error::ApiError;
use crate::core::Error;

pub struct RequestLimits {
    timeout: Duration,
    in_flight: Semaphore,
    max_in_flight: usize,
    bodies: BodyBudget,
}

impl RequestLimits {
    pub fn new(timeout: Duration, max_in_flight: usize, body_memory: usize) -> Arc<Self> {
        Arc::new(RequestLimits {
            timeout,
            in_flight: Semaphore::new(max_in_flight),
            max_in_flight,
            bodies: BodyBudget(Arc::new(Semaphore::new(body_memory.div_ceil(KIB)))),
        })
    }
}

const KIB: usize = 1024;

/// The memory that bodies being read may take together: each request
/// reserves its announced length (or the largest body allowed, when not
/// announced) before reading, and waits when the budget is spent. Without
/// it, every request in flight could hold a body of the largest size.
#[derive(Clone)]
pub struct BodyBudget(Arc<Semaphore>);

impl BodyBudget {
    pub async fn reserve(&self, bytes: usize) -> Option<OwnedSemaphorePermit> {
        let kib = u32::try_from(bytes.div_ceil(KIB).max(1)).unwrap_or(u32::MAX);
        self.0.clone().acquire_many_owned(kib).await.ok()
    }
}

/// The middleware: wait for a slot among `max_in_flight`, then run the
/// request, all within `timeout` (which covers reading the body: a client
/// trickling its body in is cut off too).
pub async fn enforce(
    State(limits): State<Arc<RequestLimits>>,
    mut request: Request,
    next: Next,
) -> Response {
    request.extensions_mut().insert(limits.bodies.clone());
    let deadline = Instant::now() + limits.timeout;
    let Ok(Ok(_permit)) = tokio::time::timeout_at(deadline, limits.in_flight.acquire()).await
    else {
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
