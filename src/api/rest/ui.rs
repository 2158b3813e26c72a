//! The web dashboard: hand-written HTML, CSS and JavaScript modules from
//! `ui/`, built into the binary and served at `/` and `/ui/...`. The page
//! itself uses the public REST API only, with the token the user enters.
//!
//! Files are revalidated on every load (`no-cache` with an ETag of their
//! content): a newer lvsd never runs with an older script cached. The
//! Content-Security-Policy allows this origin only: no inline script or
//! style, no other host.

use std::sync::OnceLock;

use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

use super::error::ApiError;

/// (name under `/ui/`, content type, content).
const FILES: &[(&str, &str, &str)] = &[
    (
        "index.html",
        "text/html; charset=utf-8",
        include_str!("../../../ui/index.html"),
    ),
    (
        "app.css",
        "text/css; charset=utf-8",
        include_str!("../../../ui/app.css"),
    ),
    (
        "app.js",
        "text/javascript; charset=utf-8",
        include_str!("../../../ui/app.js"),
    ),
    (
        "api.js",
        "text/javascript; charset=utf-8",
        include_str!("../../../ui/api.js"),
    ),
    (
        "dom.js",
        "text/javascript; charset=utf-8",
        include_str!("../../../ui/dom.js"),
    ),
    (
        "chart.js",
        "text/javascript; charset=utf-8",
        include_str!("../../../ui/chart.js"),
    ),
    (
        "overview.js",
        "text/javascript; charset=utf-8",
        include_str!("../../../ui/overview.js"),
    ),
    (
        "draft.js",
        "text/javascript; charset=utf-8",
        include_str!("../../../ui/draft.js"),
    ),
    (
        "history.js",
        "text/javascript; charset=utf-8",
        include_str!("../../../ui/history.js"),
    ),
    (
        "directors.js",
        "text/javascript; charset=utf-8",
        include_str!("../../../ui/directors.js"),
    ),
    (
        "audit.js",
        "text/javascript; charset=utf-8",
        include_str!("../../../ui/audit.js"),
    ),
    (
        "favicon.svg",
        "image/svg+xml",
        include_str!("../../../ui/favicon.svg"),
    ),
];

const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; \
                   object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// `GET /`: the dashboard.
pub async fn index(headers: HeaderMap) -> Response {
    serve("index.html", &headers).unwrap_or_else(|err| err.into_response())
}

/// `GET /ui/{file}`.
pub async fn file(Path(name): Path<String>, headers: HeaderMap) -> Response {
    serve(&name, &headers).unwrap_or_else(|err| err.into_response())
}

fn serve(name: &str, request: &HeaderMap) -> Result<Response, ApiError> {
    let index = FILES
        .iter()
        .position(|(file, ..)| *file == name)
        .ok_or_else(|| crate::core::Error::NotFound(format!("the dashboard has no file {name}")))?;
    let (_, content_type, content) = FILES[index];
    let etag = &etags()[index];
    let fresh = request.get(header::IF_NONE_MATCH).is_some_and(|tags| {
        tags.to_str()
            .unwrap_or_default()
            .split(',')
            .any(|tag| tag.trim().trim_start_matches("W/") == etag)
    });
    let headers = [
        (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
        (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        (
            header::ETAG,
            HeaderValue::from_str(etag).expect("hex is a valid header"),
        ),
        (
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CSP),
        ),
        (
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ),
        (
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        ),
    ];
    if fresh {
        return Ok((StatusCode::NOT_MODIFIED, headers).into_response());
    }
    Ok((headers, content).into_response())
}

/// `"<first 16 hex digits of SHA-256>"` of each file, in `FILES` order.
fn etags() -> &'static [String] {
    static ETAGS: OnceLock<Vec<String>> = OnceLock::new();
    ETAGS.get_or_init(|| {
        FILES
            .iter()
            .map(|(_, _, content)| format!("\"{}\"", &hex::encode(Sha256::digest(content))[..16]))
            .collect()
    })
}
