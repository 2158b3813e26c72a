//! The REST API under `/v1`: JSON in and out, errors as
//! `{"error": {"code", "message", "field"}}`, OpenAPI at `/openapi.json`.

mod agents;
mod audit;
mod auth;
mod clusters;
mod directors;
mod draft;
pub mod error;
mod extract;
mod ha;
mod health;
mod keepalived;
mod limits;
mod metrics;
mod redact;
mod revisions;
mod security;
mod ui;

use std::future::Future;
use std::time::Duration;

use axum::extract::{ConnectInfo, DefaultBodyLimit, State};
use axum::http::{HeaderName, HeaderValue, Method, StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Json, Router};
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;
use utoipa::OpenApi;

use super::listener::{Conn, Listener};
use crate::core::Core;
use security::Security;

#[derive(OpenApi)]
#[openapi(
    info(title = "lvsd", description = "Control plane for Linux Virtual Server (IPVS): versioned cluster definitions."),
    paths(
        clusters::list, clusters::create, clusters::get, clusters::delete,
        draft::get, draft::replace, draft::import, keepalived::import,
        draft::list_services, draft::add_service, draft::get_service, draft::put_service, draft::patch_service, draft::delete_service,
        draft::list_servers, draft::add_server, draft::get_server, draft::put_server, draft::patch_server, draft::delete_server,
        revisions::commit, revisions::list, revisions::get, revisions::diff, revisions::export, keepalived::export, revisions::activate, revisions::rollback,
        directors::plan, directors::confirm,
        directors::list, directors::get, directors::apply, directors::counters, directors::connections,
        directors::get_settings, directors::put_settings,
        agents::desired, agents::report, agents::rollout, agents::release, agents::zero,
        health::get,
        ha::get, ha::switchover,
        audit::list,
    ),
    modifiers(&Security),
    tags(
        (name = "clusters", description = "Named sets of virtual services"),
        (name = "draft", description = "The editable spec of a cluster, guarded by ETag / If-Match"),
        (name = "revisions", description = "Immutable numbered specs: commit, diff, rollback"),
        (name = "directors", description = "The hosts that apply a cluster to their kernel, and what they did"),
        (name = "agents", description = "Remote directors: what each should run, their reports, canary rollouts, zeroing counters"),
        (name = "ha", description = "Director high availability: VRRP states across directors, no master and split-brain flags, switchovers"),
        (name = "audit", description = "Every change and every refused attempt"),
    )
)]
pub struct ApiDoc;

/// The OpenAPI document as checked in under `openapi/`.
pub fn openapi_json() -> String {
    ApiDoc::openapi()
        .to_pretty_json()
        .expect("the OpenAPI document serializes")
        + "\n"
}

#[derive(Debug, Clone)]
pub struct Options {
    /// Origins allowed to call the API from a browser; none by default.
    pub cors_origins: Vec<HeaderValue>,
    /// Longest a request may take, body included (then 503).
    pub request_timeout: Duration,
    /// Requests served at once; more wait, within their timeout.
    pub max_in_flight: usize,
    /// Longest a client may take to send a request's headers (then the
    /// connection is closed): a slow client cannot hold a connection open.
    pub header_timeout: Duration,
    /// Memory the bodies being read may take together (requests wait for room).
    pub body_memory: usize,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            cors_origins: Vec::new(),
            request_timeout: Duration::from_secs(60),
            max_in_flight: 512,
            header_timeout: Duration::from_secs(10),
            body_memory: 8 * BODY_LIMIT,
        }
    }
}

/// Largest request body: a spec of 10,000 services with real servers fits.
const BODY_LIMIT: usize = 32 * 1024 * 1024;

pub fn router(core: Core, options: &Options) -> Router {
    let counted = core.metrics().clone();
    let draft = "/v1/clusters/{cluster}/draft";
    let service = "/v1/clusters/{cluster}/draft/services/{service}";
    let v1 = Router::new()
        .route("/v1/clusters", get(clusters::list).post(clusters::create))
        .route(
            "/v1/clusters/{cluster}",
            get(clusters::get).delete(clusters::delete),
        )
        .route(draft, get(draft::get).put(draft::replace))
        .route(&format!("{draft}/import"), post(draft::import))
        .route(
            &format!("{draft}/import/keepalived"),
            post(keepalived::import),
        )
        .route(
            &format!("{draft}/services"),
            get(draft::list_services).post(draft::add_service),
        )
        .route(
            service,
            get(draft::get_service)
                .put(draft::put_service)
                .patch(draft::patch_service)
                .delete(draft::delete_service),
        )
        .route(
            &format!("{service}/servers"),
            get(draft::list_servers).post(draft::add_server),
        )
        .route(
            &format!("{service}/servers/{{server}}"),
            get(draft::get_server)
                .put(draft::put_server)
                .patch(draft::patch_server)
                .delete(draft::delete_server),
        )
        .route(
            "/v1/clusters/{cluster}/revisions",
            get(revisions::list).post(revisions::commit),
        )
        .route(
            "/v1/clusters/{cluster}/revisions/{number}",
            get(revisions::get),
        )
        .route(
            "/v1/clusters/{cluster}/revisions/{number}/diff",
            get(revisions::diff),
        )
        .route(
            "/v1/clusters/{cluster}/revisions/{number}/export",
            get(revisions::export),
        )
        .route(
            "/v1/clusters/{cluster}/revisions/{number}/export/keepalived",
            get(keepalived::export),
        )
        .route(
            "/v1/clusters/{cluster}/revisions/{number}/activate",
            post(revisions::activate),
        )
        .route(
            "/v1/clusters/{cluster}/revisions/{number}/plan",
            get(directors::plan),
        )
        .route("/v1/clusters/{cluster}/rollback", post(revisions::rollback))
        .route("/v1/clusters/{cluster}/confirm", post(directors::confirm))
        .route(
            "/v1/clusters/{cluster}/settings",
            get(directors::get_settings).put(directors::put_settings),
        )
        .route("/v1/clusters/{cluster}/directors", get(directors::list))
        .route("/v1/clusters/{cluster}/counters", get(directors::counters))
        .route("/v1/clusters/{cluster}/health", get(health::get))
        .route(
            "/v1/clusters/{cluster}/directors/{name}",
            get(directors::get).put(agents::report),
        )
        .route("/v1/clusters/{cluster}/desired", get(agents::desired))
        .route("/v1/clusters/{cluster}/rollout", get(agents::rollout))
        .route(
            "/v1/clusters/{cluster}/rollout/release",
            post(agents::release),
        )
        .route("/v1/clusters/{cluster}/zero", post(agents::zero))
        .route("/v1/clusters/{cluster}/ha", get(ha::get))
        .route("/v1/clusters/{cluster}/ha/switchover", post(ha::switchover))
        .route(
            "/v1/clusters/{cluster}/directors/{name}/apply",
            post(directors::apply),
        )
        .route(
            "/v1/clusters/{cluster}/directors/{name}/connections",
            get(directors::connections),
        )
        .route("/v1/audit", get(audit::list))
        .route("/metrics", get(metrics::scrape))
        .route_layer(axum::middleware::from_fn_with_state(
            core.clone(),
            auth::authorize,
        ));

    let mut router = Router::new()
        .merge(v1)
        .route("/", get(ui::index))
        .route("/ui/{file}", get(ui::file))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route(
            "/openapi.json",
            get(|| async { ([(header::CONTENT_TYPE, "application/json")], openapi_json()) }),
        )
        .fallback(|| async {
            ApiError::from(crate::core::Error::NotFound("no such endpoint".into()))
        })
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .with_state(core);
    if !options.cors_origins.is_empty() {
        let cors = CorsLayer::new()
            .allow_origin(AllowOrigin::list(options.cors_origins.clone()))
            .allow_methods([
                Method::GET,
                Method::POST,
                Method::PUT,
                Method::PATCH,
                Method::DELETE,
            ])
            .allow_headers([
                header::CONTENT_TYPE,
                header::IF_MATCH,
                header::AUTHORIZATION,
                HeaderName::from_static("x-request-id"),
            ])
            .expose_headers([
                header::ETAG,
                header::LOCATION,
                HeaderName::from_static("x-request-id"),
            ])
            .max_age(Duration::from_secs(600));
        router = router.layer(cors);
    }
    let limits = limits::RequestLimits::new(
        options.request_timeout,
        options.max_in_flight,
        options.body_memory,
    );
    router
        .layer(axum::middleware::from_fn_with_state(
            limits,
            limits::enforce,
        ))
        // Outside the limits, so that requests they refuse are counted too.
        .layer(axum::middleware::from_fn_with_state(
            counted,
            metrics::count,
        ))
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(
            TraceLayer::new_for_http().make_span_with(|request: &axum::http::Request<_>| {
                tracing::debug_span!(
                    "request",
                    method = %request.method(),
                    uri = %redact::redacted_uri(request.uri()),
                    version = ?request.version(),
                )
            }),
        )
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
}

use error::ApiError;

async fn readyz(State(core): State<Core>) -> impl IntoResponse {
    match core.readiness().await {
        Ok(()) => (StatusCode::OK, Json(serde_json::json!({"ready": true}))),
        Err(err) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(serde_json::json!({"ready": false, "reason": err.to_string()})),
        ),
    }
}

/// Serves the REST API on `listener` until `shutdown` resolves, then lets
/// requests in flight finish.
///
/// Each connection is served by hyper's HTTP/1 server with a header read
/// deadline (`Options::header_timeout`), which `axum::serve` does not offer:
/// a client that sends its headers slowly, or keeps an idle connection, is
/// disconnected instead of holding it forever.
pub async fn serve(
    core: Core,
    listener: Listener,
    options: Options,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = router(core, &options);
    let mut incoming = listener.incoming();
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut connections = tokio::task::JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            conn = incoming.recv() => match conn {
                Some(Ok(conn)) => {
                    connections.spawn(serve_connection(app.clone(), conn, options.header_timeout, stop_rx.clone()));
                }
                Some(Err(err)) => tracing::warn!(error = %err, "accepting a connection failed"),
                None => break,
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            () = &mut shutdown => break,
        }
    }
    drop(incoming);
    let _ = stop_tx.send(true);
    while connections.join_next().await.is_some() {}
    Ok(())
}

async fn serve_connection(
    app: Router,
    conn: Conn,
    header_timeout: Duration,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    use tower::Layer;
    let peer = conn.peer();
    let service = axum::Extension(ConnectInfo(peer)).layer(app);
    let mut http = hyper::server::conn::http1::Builder::new();
    // Headers: read within the deadline, and no more than 64 KiB of them
    // buffered while incomplete (hyper's default is 400 KiB).
    http.timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(header_timeout)
        .max_header_size(64 * 1024);
    let connection = http.serve_connection(
        hyper_util::rt::TokioIo::new(conn),
        hyper_util::service::TowerToHyperService::new(service),
    );
    tokio::pin!(connection);
    tokio::select! {
        result = connection.as_mut() => {
            if let Err(err) = result {
                tracing::debug!(%peer, error = %err, "connection ended");
            }
            return;
        }
        _ = stop.wait_for(|stop| *stop) => connection.as_mut().graceful_shutdown(),
    }
    if let Err(err) = connection.await {
        tracing::debug!(%peer, error = %err, "connection ended");
    }
}
