//! The draft, whole and piece by piece. Every response carries the draft's
//! ETag; every write honours `If-Match`.

use axum::Json;
use axum::extract::{Path, Request, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde_json::Value;

use super::error::{ApiError, ErrorBody};
use super::extract::{JsonBody, etag_header, read_body};
use crate::core::{Caller, Core, DraftView, Precondition};
use crate::model::{RealServerDoc, SpecDoc, ValidationError, VirtualServiceDoc};

#[utoipa::path(get, path = "/v1/clusters/{cluster}/draft", tag = "draft",
    params(("cluster" = String, Path)),
    responses((status = 200, body = DraftView, headers(("ETag" = String))), (status = 404, body = ErrorBody)))]
pub async fn get(
    State(core): State<Core>,
    Path(cluster): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    let draft = core.get_draft(&cluster).await?;
    Ok((etag_header(&draft.etag), Json(draft)))
}

#[utoipa::path(put, path = "/v1/clusters/{cluster}/draft", tag = "draft",
    params(("cluster" = String, Path), ("If-Match" = Option<String>, Header, description = "ETag of the draft you read")),
    request_body = SpecDoc,
    responses((status = 200, body = DraftView, headers(("ETag" = String))), (status = 400, body = ErrorBody), (status = 412, body = ErrorBody)))]
pub async fn replace(
    State(core): State<Core>,
    caller: Caller,
    precondition: Precondition,
    Path(cluster): Path<String>,
    JsonBody(doc): JsonBody<SpecDoc>,
) -> Result<impl IntoResponse, ApiError> {
    let draft = core
        .replace_draft(&caller, &cluster, &doc, &precondition)
        .await?;
    Ok((etag_header(&draft.etag), Json(draft)))
}

#[utoipa::path(post, path = "/v1/clusters/{cluster}/draft/import", tag = "draft",
    params(("cluster" = String, Path), ("If-Match" = Option<String>, Header)),
    request_body(content = String, description = "`ipvsadm -S`/`-Sn` output, or a script of ipvsadm command lines (-A -E -D -C -a -e -d --set --start-daemon --stop-daemon)", content_type = "text/plain"),
    responses((status = 200, body = DraftView, headers(("ETag" = String))), (status = 400, description = "A bad line, named as `line N` in `field`", body = ErrorBody), (status = 412, body = ErrorBody)))]
pub async fn import(
    State(core): State<Core>,
    caller: Caller,
    precondition: Precondition,
    Path(cluster): Path<String>,
    req: Request,
) -> Result<impl IntoResponse, ApiError> {
    let text = read_body(req, &core, |bytes| {
        String::from_utf8(bytes.to_vec())
            .map_err(|_| crate::core::Error::invalid("body", "not UTF-8 text"))
    })
    .await?;
    let draft = core
        .import_draft(&caller, &cluster, &text, &precondition)
        .await?;
    Ok((etag_header(&draft.etag), Json(draft)))
}

#[utoipa::path(get, path = "/v1/clusters/{cluster}/draft/services", tag = "draft",
    params(("cluster" = String, Path)),
    responses((status = 200, body = [VirtualServiceDoc], headers(("ETag" = String))), (status = 404, body = ErrorBody)))]
pub async fn list_services(
    State(core): State<Core>,
    Path(cluster): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    let draft = core.get_draft(&cluster).await?;
    let services: Vec<_> = draft.spec.services().iter().map(|s| s.to_doc()).collect();
    Ok((etag_header(&draft.etag), Json(services)))
}

#[utoipa::path(post, path = "/v1/clusters/{cluster}/draft/services", tag = "draft",
    params(("cluster" = String, Path), ("If-Match" = Option<String>, Header)),
    request_body = VirtualServiceDoc,
    responses((status = 201, body = VirtualServiceDoc, headers(("ETag" = String))), (status = 400, body = ErrorBody), (status = 409, body = ErrorBody), (status = 412, body = ErrorBody)))]
pub async fn add_service(
    State(core): State<Core>,
    caller: Caller,
    precondition: Precondition,
    Path(cluster): Path<String>,
    JsonBody(doc): JsonBody<VirtualServiceDoc>,
) -> Result<impl IntoResponse, ApiError> {
    let edited = core
        .add_service(&caller, &cluster, &doc, &precondition)
        .await?;
    Ok((
        StatusCode::CREATED,
        etag_header(&edited.etag),
        Json(edited.value.to_doc()),
    ))
}

#[utoipa::path(get, path = "/v1/clusters/{cluster}/draft/services/{service}", tag = "draft",
    params(("cluster" = String, Path), ("service" = String, Path, description = "tcp:VIP:PORT, udp:..., sctp:..., fwmark:MARK or fwmark6:MARK")),
    responses((status = 200, body = VirtualServiceDoc, headers(("ETag" = String))), (status = 404, body = ErrorBody)))]
pub async fn get_service(
    State(core): State<Core>,
    Path((cluster, service)): Path<(String, String)>,
) -> Result<impl IntoResponse, ApiError> {
    let found = core.get_service(&cluster, &service).await?;
    Ok((etag_header(&found.etag), Json(found.value.to_doc())))
}

#[utoipa::path(put, path = "/v1/clusters/{cluster}/draft/services/{service}", tag = "draft",
    params(("cluster" = String, Path), ("service" = String, Path), ("If-Match" = Option<String>, Header)),
    request_body(content = VirtualServiceDoc, description = "The whole service; without `servers` its real servers stay as they are"),
    responses((status = 200, body = VirtualServiceDoc, headers(("ETag" = String))), (status = 400, body = ErrorBody), (status = 412, body = ErrorBody)))]
pub async fn put_service(
    State(core): State<Core>,
    caller: Caller,
    precondition: Precondition,
    Path((cluster, service)): Path<(String, String)>,
    req: Request,
) -> Result<impl IntoResponse, ApiError> {
    // A body without `servers` keeps the service's real servers.
    let (doc, keep_servers) = read_body(req, &core, |bytes| {
        let value: Value = ValidationError::from_json(bytes)?;
        let doc: VirtualServiceDoc = ValidationError::from_json(value.to_string().as_bytes())?;
        Ok((doc, value.get("servers").is_none()))
    })
    .await?;
    let edited = core
        .put_service(
            &caller,
            &cluster,
            &service,
            &doc,
            keep_servers,
            &precondition,
        )
        .await?;
    Ok((etag_header(&edited.etag), Json(edited.value.to_doc())))
}

#[utoipa::path(patch, path = "/v1/clusters/{cluster}/draft/services/{service}", tag = "draft",
    params(("cluster" = String, Path), ("service" = String, Path), ("If-Match" = Option<String>, Header)),
    request_body(content = Object, description = "JSON merge patch (RFC 7386) of the service document", content_type = "application/merge-patch+json"),
    responses((status = 200, body = VirtualServiceDoc, headers(("ETag" = String))), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 412, body = ErrorBody)))]
pub async fn patch_service(
    State(core): State<Core>,
    caller: Caller,
    precondition: Precondition,
    Path((cluster, service)): Path<(String, String)>,
    JsonBody(patch): JsonBody<Value>,
) -> Result<impl IntoResponse, ApiError> {
    let edited = core
        .patch_service(&caller, &cluster, &service, &patch, &precondition)
        .await?;
    Ok((etag_header(&edited.etag), Json(edited.value.to_doc())))
}

#[utoipa::path(delete, path = "/v1/clusters/{cluster}/draft/services/{service}", tag = "draft",
    params(("cluster" = String, Path), ("service" = String, Path), ("If-Match" = Option<String>, Header)),
    responses((status = 204, headers(("ETag" = String))), (status = 404, body = ErrorBody), (status = 412, body = ErrorBody)))]
pub async fn delete_service(
    State(core): State<Core>,
    caller: Caller,
    precondition: Precondition,
    Path((cluster, service)): Path<(String, String)>,
) -> Result<impl IntoResponse, ApiError> {
    let edited = core
        .delete_service(&caller, &cluster, &service, &precondition)
        .await?;
    Ok((StatusCode::NO_CONTENT, etag_header(&edited.etag)))
}

#[utoipa::path(get, path = "/v1/clusters/{cluster}/draft/services/{service}/servers", tag = "draft",
    params(("cluster" = String, Path), ("service" = String, Path)),
    responses((status = 200, body = [RealServerDoc], headers(("ETag" = String))), (status = 404, body = ErrorBody)))]
pub async fn list_servers(
    State(core): State<Core>,
    Path((cluster, service)): Path<(String, String)>,
) -> Result<impl IntoResponse, ApiError> {
    let found = core.get_service(&cluster, &service).await?;
    let servers: Vec<RealServerDoc> = found
        .value
        .servers()
        .iter()
        .map(RealServerDoc::from)
        .collect();
    Ok((etag_header(&found.etag), Json(servers)))
}

#[utoipa::path(post, path = "/v1/clusters/{cluster}/draft/services/{service}/servers", tag = "draft",
    params(("cluster" = String, Path), ("service" = String, Path), ("If-Match" = Option<String>, Header)),
    request_body = RealServerDoc,
    responses((status = 201, body = RealServerDoc, headers(("ETag" = String))), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 412, body = ErrorBody)))]
pub async fn add_server(
    State(core): State<Core>,
    caller: Caller,
    precondition: Precondition,
    Path((cluster, service)): Path<(String, String)>,
    JsonBody(doc): JsonBody<RealServerDoc>,
) -> Result<impl IntoResponse, ApiError> {
    let edited = core
        .add_server(&caller, &cluster, &service, &doc, &precondition)
        .await?;
    Ok((
        StatusCode::CREATED,
        etag_header(&edited.etag),
        Json(RealServerDoc::from(&edited.value)),
    ))
}

#[utoipa::path(get, path = "/v1/clusters/{cluster}/draft/services/{service}/servers/{server}", tag = "draft",
    params(("cluster" = String, Path), ("service" = String, Path), ("server" = String, Path, description = "ADDRESS:PORT, [IPv6]:PORT")),
    responses((status = 200, body = RealServerDoc, headers(("ETag" = String))), (status = 404, body = ErrorBody)))]
pub async fn get_server(
    State(core): State<Core>,
    Path((cluster, service, server)): Path<(String, String, String)>,
) -> Result<impl IntoResponse, ApiError> {
    let found = core.get_server(&cluster, &service, &server).await?;
    Ok((
        etag_header(&found.etag),
        Json(RealServerDoc::from(&found.value)),
    ))
}

#[utoipa::path(put, path = "/v1/clusters/{cluster}/draft/services/{service}/servers/{server}", tag = "draft",
    params(("cluster" = String, Path), ("service" = String, Path), ("server" = String, Path), ("If-Match" = Option<String>, Header)),
    request_body = RealServerDoc,
    responses((status = 200, body = RealServerDoc, headers(("ETag" = String))), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 412, body = ErrorBody)))]
pub async fn put_server(
    State(core): State<Core>,
    caller: Caller,
    precondition: Precondition,
    Path((cluster, service, server)): Path<(String, String, String)>,
    JsonBody(doc): JsonBody<RealServerDoc>,
) -> Result<impl IntoResponse, ApiError> {
    let edited = core
        .put_server(&caller, &cluster, &service, &server, &doc, &precondition)
        .await?;
    Ok((
        etag_header(&edited.etag),
        Json(RealServerDoc::from(&edited.value)),
    ))
}

#[utoipa::path(patch, path = "/v1/clusters/{cluster}/draft/services/{service}/servers/{server}", tag = "draft",
    params(("cluster" = String, Path), ("service" = String, Path), ("server" = String, Path), ("If-Match" = Option<String>, Header)),
    request_body(content = Object, description = "JSON merge patch (RFC 7386) of the real server document", content_type = "application/merge-patch+json"),
    responses((status = 200, body = RealServerDoc, headers(("ETag" = String))), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 412, body = ErrorBody)))]
pub async fn patch_server(
    State(core): State<Core>,
    caller: Caller,
    precondition: Precondition,
    Path((cluster, service, server)): Path<(String, String, String)>,
    JsonBody(patch): JsonBody<Value>,
) -> Result<impl IntoResponse, ApiError> {
    let edited = core
        .patch_server(&caller, &cluster, &service, &server, &patch, &precondition)
        .await?;
    Ok((
        etag_header(&edited.etag),
        Json(RealServerDoc::from(&edited.value)),
    ))
}

#[utoipa::path(delete, path = "/v1/clusters/{cluster}/draft/services/{service}/servers/{server}", tag = "draft",
    params(("cluster" = String, Path), ("service" = String, Path), ("server" = String, Path), ("If-Match" = Option<String>, Header)),
    responses((status = 204, headers(("ETag" = String))), (status = 404, body = ErrorBody), (status = 412, body = ErrorBody)))]
pub async fn delete_server(
    State(core): State<Core>,
    caller: Caller,
    precondition: Precondition,
    Path((cluster, service, server)): Path<(String, String, String)>,
) -> Result<impl IntoResponse, ApiError> {
    let edited = core
        .delete_server(&caller, &cluster, &service, &server, &precondition)
        .await?;
    Ok((StatusCode::NO_CONTENT, etag_header(&edited.etag)))
}
