//! keepalived.conf in and out: the import into the draft, and a revision
//! exported as keepalived.conf.

use axum::Json;
use axum::extract::{Path, State};
use axum::response::IntoResponse;

use super::error::{ApiError, ErrorBody};
use super::extract::{JsonBody, etag_header, path_number};
use crate::core::{Caller, Core, KeepalivedImport, KeepalivedImported, Precondition};

#[utoipa::path(post, path = "/v1/clusters/{cluster}/draft/import/keepalived", tag = "draft",
    params(("cluster" = String, Path), ("If-Match" = Option<String>, Header)),
    request_body(content = KeepalivedImport, description = "A keepalived.conf and every file it includes, by path"),
    responses((status = 200, body = KeepalivedImported, headers(("ETag" = String))),
        (status = 400, description = "A file that keepalived would refuse or whose values lvsd refuses (`field` is FILE:LINE:COLUMN), or with `strict`, statements that would be left out (`field` is `left_out`)", body = ErrorBody),
        (status = 412, body = ErrorBody)))]
pub async fn import(
    State(core): State<Core>,
    caller: Caller,
    precondition: Precondition,
    Path(cluster): Path<String>,
    JsonBody(request): JsonBody<KeepalivedImport>,
) -> Result<impl IntoResponse, ApiError> {
    let imported = core
        .import_keepalived(&caller, &cluster, &request, &precondition)
        .await?;
    Ok((etag_header(&imported.draft.etag), Json(imported)))
}

#[utoipa::path(get, path = "/v1/clusters/{cluster}/revisions/{number}/export/keepalived", tag = "revisions",
    params(("cluster" = String, Path), ("number" = i64, Path)),
    responses((status = 200, description = "The revision as keepalived.conf: virtual_server blocks with their checkers", body = String, content_type = "text/plain"), (status = 404, body = ErrorBody)))]
pub async fn export(
    State(core): State<Core>,
    Path((cluster, number)): Path<(String, String)>,
) -> Result<impl IntoResponse, ApiError> {
    let number = path_number("number", &number)?;
    let text = core.export_revision_keepalived(&cluster, number).await?;
    Ok((
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; charset=utf-8",
        )],
        text,
    ))
}
