use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::error::{ApiError, ErrorBody};
use super::extract::{JsonBody, Query, path_number};
use crate::core::{
    Caller, CommitOutcome, CommitRequest, Core, Error, Precondition, RevisionPage, RevisionView,
};
use crate::model::SpecDoc;
use crate::model::diff::SpecDiff;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CommitBody {
    /// Why: it goes into the history.
    #[schema(min_length = 1, max_length = 4096, pattern = "\\S")]
    pub message: String,
    /// Recorded as the author; the caller by default.
    #[serde(default)]
    #[schema(max_length = 256)]
    pub author: Option<String>,
    /// Commit only if the cluster's latest revision is this one (0: none yet).
    /// A retry of a commit that already succeeded returns that revision.
    #[serde(default)]
    pub expected_base: Option<i64>,
    /// Make the new revision active (default true).
    #[serde(default = "yes")]
    pub activate: bool,
    /// Commit this whole spec instead of the draft (it becomes the draft too).
    #[serde(default)]
    pub spec: Option<SpecDoc>,
    /// Commit confirmed (`90s`, `5m`, `1h`): unless `POST
    /// /v1/clusters/{cluster}/confirm` arrives within this long, lvsd rolls
    /// back to the revision active before, by itself. Needs `activate`.
    #[serde(default)]
    pub confirm_within: Option<String>,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RollbackBody {
    /// The revision whose spec to restore.
    #[schema(minimum = 1)]
    pub to: i64,
    #[serde(default)]
    pub expected_base: Option<i64>,
    #[serde(default)]
    pub message: Option<String>,
    /// As for a commit: unless confirmed within this long, lvsd rolls back
    /// to the revision active before the rollback.
    #[serde(default)]
    pub confirm_within: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct PageParams {
    /// Revisions numbered below this one.
    pub before: Option<i64>,
    /// 1 to 500, default 50.
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct DiffParams {
    /// The revision to compare with; the parent by default.
    pub against: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DiffView {
    pub from: i64,
    pub to: i64,
    pub diff: SpecDiff,
}

async fn committed(outcome: CommitOutcome) -> Result<Response, ApiError> {
    let status = if outcome.created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    spec_json(status, outcome).await
}

/// `value`, which carries a revision's whole spec (megabytes with 10,000
/// services), as a JSON response serialized on a blocking thread. It is
/// built right after an activation: meanwhile the runtime's worker stays
/// free for what the activation set going, first of all handing the store's
/// writer connection back to its pool (sqlx does that in a task of its own),
/// which the directors' next writes wait for.
async fn spec_json<T: Serialize + Send + 'static>(
    status: StatusCode,
    value: T,
) -> Result<Response, ApiError> {
    let body = tokio::task::spawn_blocking(move || serde_json::to_vec(&value))
        .await
        .map_err(|e| Error::Internal(format!("serializing the response: {e}")))?
        .map_err(|e| Error::Internal(format!("serializing the response: {e}")))?;
    Ok((
        status,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        body,
    )
        .into_response())
}

#[utoipa::path(post, path = "/v1/clusters/{cluster}/revisions", tag = "revisions",
    params(("cluster" = String, Path), ("If-Match" = Option<String>, Header, description = "Commit only this version of the draft")),
    request_body = CommitBody,
    responses(
        (status = 201, description = "A new revision", body = CommitOutcome),
        (status = 200, description = "Nothing changed (or a retried commit): the existing revision", body = CommitOutcome),
        (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 412, body = ErrorBody)))]
pub async fn commit(
    State(core): State<Core>,
    caller: Caller,
    precondition: Precondition,
    Path(cluster): Path<String>,
    JsonBody(body): JsonBody<CommitBody>,
) -> Result<impl IntoResponse, ApiError> {
    let request = CommitRequest {
        message: body.message,
        author: body.author,
        expected_base: body.expected_base,
        activate: body.activate,
        spec: body.spec,
        precondition,
        confirm_within: body.confirm_within,
    };
    committed(core.commit(&caller, &cluster, request).await?).await
}

#[utoipa::path(get, path = "/v1/clusters/{cluster}/revisions", tag = "revisions",
    params(("cluster" = String, Path), PageParams),
    responses((status = 200, body = RevisionPage), (status = 404, body = ErrorBody)))]
pub async fn list(
    State(core): State<Core>,
    Path(cluster): Path<String>,
    Query(page): Query<PageParams>,
) -> Result<Json<RevisionPage>, ApiError> {
    Ok(Json(
        core.list_revisions(&cluster, page.before, page.limit)
            .await?,
    ))
}

#[utoipa::path(get, path = "/v1/clusters/{cluster}/revisions/{number}", tag = "revisions",
    params(("cluster" = String, Path), ("number" = i64, Path)),
    responses((status = 200, body = RevisionView), (status = 404, body = ErrorBody)))]
pub async fn get(
    State(core): State<Core>,
    Path((cluster, number)): Path<(String, String)>,
) -> Result<Json<RevisionView>, ApiError> {
    let number = path_number("number", &number)?;
    Ok(Json(core.get_revision(&cluster, number).await?))
}

#[utoipa::path(get, path = "/v1/clusters/{cluster}/revisions/{number}/diff", tag = "revisions",
    params(("cluster" = String, Path), ("number" = i64, Path), DiffParams),
    responses((status = 200, body = DiffView), (status = 404, body = ErrorBody)))]
pub async fn diff(
    State(core): State<Core>,
    Path((cluster, number)): Path<(String, String)>,
    Query(params): Query<DiffParams>,
) -> Result<Json<DiffView>, ApiError> {
    let number = path_number("number", &number)?;
    let (from, diff) = core
        .diff_revisions(&cluster, number, params.against)
        .await?;
    Ok(Json(DiffView {
        from,
        to: number,
        diff,
    }))
}

#[utoipa::path(get, path = "/v1/clusters/{cluster}/revisions/{number}/export", tag = "revisions",
    params(("cluster" = String, Path), ("number" = i64, Path)),
    responses((status = 200, description = "`ipvsadm -R` input for the revision", body = String, content_type = "text/plain"), (status = 404, body = ErrorBody)))]
pub async fn export(
    State(core): State<Core>,
    Path((cluster, number)): Path<(String, String)>,
) -> Result<impl IntoResponse, ApiError> {
    let number = path_number("number", &number)?;
    let text = core.export_revision(&cluster, number).await?;
    Ok((
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; charset=utf-8",
        )],
        text,
    ))
}

#[utoipa::path(post, path = "/v1/clusters/{cluster}/revisions/{number}/activate", tag = "revisions",
    params(("cluster" = String, Path), ("number" = i64, Path)),
    responses((status = 200, body = RevisionView), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn activate(
    State(core): State<Core>,
    caller: Caller,
    Path((cluster, number)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let number = path_number("number", &number)?;
    spec_json(
        StatusCode::OK,
        core.activate(&caller, &cluster, number).await?,
    )
    .await
}

#[utoipa::path(post, path = "/v1/clusters/{cluster}/rollback", tag = "revisions",
    params(("cluster" = String, Path)),
    request_body = RollbackBody,
    responses(
        (status = 201, description = "A new revision restoring the old spec", body = CommitOutcome),
        (status = 200, description = "The spec already was that revision's", body = CommitOutcome),
        (status = 404, body = ErrorBody), (status = 412, body = ErrorBody)))]
pub async fn rollback(
    State(core): State<Core>,
    caller: Caller,
    Path(cluster): Path<String>,
    JsonBody(body): JsonBody<RollbackBody>,
) -> Result<impl IntoResponse, ApiError> {
    let outcome = core
        .rollback(
            &caller,
            &cluster,
            body.to,
            body.expected_base,
            body.message,
            body.confirm_within.as_deref(),
        )
        .await?;
    committed(outcome).await
}
