//! Authentication before the body: a call to the lvsd service whose
//! credentials do not hold is refused (UNAUTHENTICATED, audited) before its
//! message is read, let alone decoded, so that no one without a token can
//! make the server buffer messages of the largest size. The handler checks
//! the role as before, once the message says which cluster it is about.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use tonic::body::Body;
use tonic::metadata::MetadataMap;
use tonic::transport::server::TcpConnectInfo;
use tower::{Layer, Service};

use super::service::authorize;
use crate::core::Core;

const PREFIX: &str = "/lvs.v1.LvsService/";

#[derive(Clone)]
pub struct AuthFirstLayer {
    core: Core,
}

impl AuthFirstLayer {
    pub fn new(core: Core) -> Self {
        AuthFirstLayer { core }
    }
}

impl<S> Layer<S> for AuthFirstLayer {
    type Service = AuthFirst<S>;

    fn layer(&self, inner: S) -> AuthFirst<S> {
        AuthFirst {
            inner,
            core: self.core.clone(),
        }
    }
}

#[derive(Clone)]
pub struct AuthFirst<S> {
    inner: S,
    core: Core,
}

impl<S> Service<axum::http::Request<Body>> for AuthFirst<S>
where
    S: Service<axum::http::Request<Body>, Response = axum::http::Response<Body>>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
{
    type Response = axum::http::Response<Body>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: axum::http::Request<Body>) -> Self::Future {
        // The clone is ready only after its own poll_ready: call the one polled.
        let ready = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, ready);
        let core = self.core.clone();
        Box::pin(async move {
            if let Some(method) = request.uri().path().strip_prefix(PREFIX) {
                let credentials = request
                    .headers()
                    .get("authorization")
                    .map(|v| v.to_str().unwrap_or("?"));
                if core.auth().authenticate(credentials).await.is_err() {
                    let mut head = tonic::Request::new(());
                    *head.metadata_mut() = MetadataMap::from_headers(request.headers().clone());
                    if let Some(info) = request.extensions().get::<TcpConnectInfo>() {
                        head.extensions_mut().insert(info.clone());
                    }
                    // Refused and audited as the handler would have.
                    if let Err(status) = authorize(&core, method, &head, None).await {
                        return Ok(status.into_http());
                    }
                }
            }
            inner.call(request).await
        })
    }
}
