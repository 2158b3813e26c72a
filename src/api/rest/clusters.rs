use axum::Json;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use super::error::{ApiError, ErrorBody};
use super::extract::{JsonBody, Query};
use crate::core::{Caller, ClusterView, Core};

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewCluster {
    /// 1-63 characters of a-z, 0-9, '-', '_', '.'.
    #[schema(pattern = "^[a-z0-9][a-z0-9._-]{0,62}$")]
    pub name: String,
    #[serde(default)]
    pub description: String,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct DeleteParams {
    /// Delete even though a revision is active.
    #[serde(default)]
    pub force: bool,
}

#[utoipa::path(get, path = "/v1/clusters", tag = "clusters",
    responses((status = 200, body = [ClusterView])))]
pub async fn list(State(core): State<Core>) -> Result<Json<Vec<ClusterView>>, ApiError> {
    Ok(Json(core.list_clusters().await?))
}

#[utoipa::path(post, path = "/v1/clusters", tag = "clusters", request_body = NewCluster,
    responses((status = 201, body = ClusterView), (status = 400, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn create(
    State(core): State<Core>,
    caller: Caller,
    JsonBody(new): JsonBody<NewCluster>,
) -> Result<impl IntoResponse, ApiError> {
    let view = core
        .create_cluster(&caller, &new.name, &new.description)
        .await?;
    let location = format!("/v1/clusters/{}", view.name);
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        Json(view),
    ))
}

#[utoipa::path(get, path = "/v1/clusters/{cluster}", tag = "clusters",
    params(("cluster" = String, Path)),
    responses((status = 200, body = ClusterView), (status = 404, body = ErrorBody)))]
pub async fn get(
    State(core): State<Core>,
    Path(cluster): Path<String>,
) -> Result<Json<ClusterView>, ApiError> {
    Ok(Json(core.get_cluster(&cluster).await?))
}

#[utoipa::path(delete, path = "/v1/clusters/{cluster}", tag = "clusters",
    params(("cluster" = String, Path), DeleteParams),
    responses((status = 204), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn delete(
    State(core): State<Core>,
    caller: Caller,
    Path(cluster): Path<String>,
    Query(params): Query<DeleteParams>,
) -> Result<StatusCode, ApiError> {
    core.delete_cluster(&caller, &cluster, params.force).await?;
    Ok(StatusCode::NO_CONTENT)
}
