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
    /// Long polls wait (up to a minute) for a change, holding next to
    /// nothing: they have slots of their own, so that however many agents
    /// (or hostile viewers) wait, health checks and commits are served.
    long_polls: Semaphore,
    bodies: BodyBudget,
}

/// Long polls waiting at once; more wait for a place, then get a 503.
pub const MAX_LONG_POLLS: usize = 4096;

impl RequestLimits {
    pub fn new(timeout: Duration, max_in_flight: usize, body_memory: usize) -> Arc<Self> {
        Arc::new(RequestLimits {
            timeout,
            in_flight: Semaphore::new(max_in_flight),
            max_in_flight,
            long_polls: Semaphore::new(MAX_LONG_POLLS),
            bodies: BodyBudget(Arc::new(Semaphore::new(body_memory.div_ceil(KIB)))),
        })
    }
}

/// Whether `request` is an agent's long poll: `GET .../desired` with `after`.
fn is_long_poll(request: &Request) -> bool {
    request.uri().path().ends_with("/desired")
        && request
            .uri()
            .query()
            .is_some_and(|q| q.split('&').any(|p| p.starts_with("after=")))
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
    let (slots, max) = match is_long_poll(&request) {
        true => (&limits.long_polls, MAX_LONG_POLLS),
        false => (&limits.in_flight, limits.max_in_flight),
    };
    let Ok(Ok(_permit)) = tokio::time::timeout_at(deadline, slots.acquire()).await else {
        let busy = format!(
            "the server is busy: {max} requests in progress for {} s; retry later",
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
