//! Real servers' health, as each director last reported it.

use axum::Json;
use axum::extract::{Path, State};

use super::error::{ApiError, ErrorBody};
use crate::core::{Core, DirectorServersHealth};

#[utoipa::path(get, path = "/v1/clusters/{cluster}/health", tag = "directors",
    params(("cluster" = String, Path)),
    responses(
        (status = 200, description = "Per director, per service with health checks, per real server: healthy or not, since when it fails, the last error, its weight in the table now", body = [DirectorServersHealth]),
        (status = 404, body = ErrorBody)))]
pub async fn get(
    State(core): State<Core>,
    Path(cluster): Path<String>,
) -> Result<Json<Vec<DirectorServersHealth>>, ApiError> {
    Ok(Json(core.health(&cluster).await?))
}
