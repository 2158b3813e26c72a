//! Directors and applying: status per director, plan previews, forced
//! applies, commit confirmation, and the cluster's apply settings.

use axum::Json;
use axum::extract::{Path, State};
use axum::response::IntoResponse;
use serde::Deserialize;
use utoipa::ToSchema;

use super::error::{ApiError, ErrorBody};
use super::extract::{JsonBody, etag_header, path_number};
use crate::apply::Report;
use crate::core::{
    Caller, ClusterSettings, Confirmed, Core, DirectorCounters, DirectorView, PlanPreview,
    Precondition, SettingsView,
};
use crate::ipvs::conns::Connection;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ApplyBody {
    /// Apply even if the plan takes out more than the removal limit allows,
    /// and even a revision that failed for good before.
    #[serde(default)]
    pub force: bool,
}

#[utoipa::path(get, path = "/v1/clusters/{cluster}/directors", tag = "directors",
    params(("cluster" = String, Path)),
    responses((status = 200, body = [DirectorView]), (status = 404, body = ErrorBody)))]
pub async fn list(
    State(core): State<Core>,
    Path(cluster): Path<String>,
) -> Result<Json<Vec<DirectorView>>, ApiError> {
    Ok(Json(core.directors(&cluster).await?))
}

#[utoipa::path(get, path = "/v1/clusters/{cluster}/directors/{name}", tag = "directors",
    params(("cluster" = String, Path), ("name" = String, Path)),
    responses((status = 200, body = DirectorView), (status = 404, body = ErrorBody)))]
pub async fn get(
    State(core): State<Core>,
    Path((cluster, name)): Path<(String, String)>,
) -> Result<Json<DirectorView>, ApiError> {
    Ok(Json(core.director(&cluster, &name).await?))
}

#[utoipa::path(get, path = "/v1/clusters/{cluster}/counters", tag = "directors",
    params(("cluster" = String, Path)),
    responses(
        (status = 200, description = "Each director's latest counters (`ipvsadm -Ln --stats --rate`), as last reported", body = [DirectorCounters]),
        (status = 404, body = ErrorBody)))]
pub async fn counters(
    State(core): State<Core>,
    Path(cluster): Path<String>,
) -> Result<Json<Vec<DirectorCounters>>, ApiError> {
    Ok(Json(core.counters(&cluster).await?))
}

#[utoipa::path(get, path = "/v1/clusters/{cluster}/directors/{name}/connections", tag = "directors",
    params(("cluster" = String, Path), ("name" = String, Path)),
    responses(
        (status = 200, description = "The director's connection entries for the cluster's services (`ipvsadm -Lcn`)", body = [Connection]),
        (status = 404, body = ErrorBody),
        (status = 409, description = "A remote director: its entries are in its own kernel", body = ErrorBody)))]
pub async fn connections(
    State(core): State<Core>,
    Path((cluster, name)): Path<(String, String)>,
) -> Result<Json<Vec<Connection>>, ApiError> {
    Ok(Json(core.connections(&cluster, &name).await?))
}

#[utoipa::path(post, path = "/v1/clusters/{cluster}/directors/{name}/apply", tag = "directors",
    params(("cluster" = String, Path), ("name" = String, Path)),
    request_body = ApplyBody,
    responses(
        (status = 200, description = "The apply ran: its report says how it ended", body = Report),
        (status = 404, body = ErrorBody),
        (status = 409, description = "Not this server's own director", body = ErrorBody)))]
pub async fn apply(
    State(core): State<Core>,
    caller: Caller,
    Path((cluster, name)): Path<(String, String)>,
    JsonBody(body): JsonBody<ApplyBody>,
) -> Result<Json<Report>, ApiError> {
    Ok(Json(
        core.apply_director(&caller, &cluster, &name, body.force)
            .await?,
    ))
}

#[utoipa::path(get, path = "/v1/clusters/{cluster}/revisions/{number}/plan", tag = "revisions",
    params(("cluster" = String, Path), ("number" = i64, Path)),
    responses(
        (status = 200, description = "The operations activating the revision would run, not run", body = PlanPreview),
        (status = 404, body = ErrorBody)))]
pub async fn plan(
    State(core): State<Core>,
    Path((cluster, number)): Path<(String, String)>,
) -> Result<Json<PlanPreview>, ApiError> {
    let number = path_number("number", &number)?;
    Ok(Json(core.plan_preview(&cluster, number).await?))
}

#[utoipa::path(post, path = "/v1/clusters/{cluster}/confirm", tag = "revisions",
    params(("cluster" = String, Path)),
    responses(
        (status = 200, description = "The commit confirmed: it stays", body = Confirmed),
        (status = 404, body = ErrorBody),
        (status = 409, description = "No commit waits for confirmation", body = ErrorBody)))]
pub async fn confirm(
    State(core): State<Core>,
    caller: Caller,
    Path(cluster): Path<String>,
) -> Result<Json<Confirmed>, ApiError> {
    Ok(Json(core.confirm(&caller, &cluster).await?))
}

#[utoipa::path(get, path = "/v1/clusters/{cluster}/settings", tag = "clusters",
    params(("cluster" = String, Path)),
    responses((status = 200, body = SettingsView, headers(("ETag" = String))), (status = 404, body = ErrorBody)))]
pub async fn get_settings(
    State(core): State<Core>,
    Path(cluster): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    let view = core.settings(&cluster).await?;
    Ok((etag_header(&view.etag), Json(view)))
}

#[utoipa::path(put, path = "/v1/clusters/{cluster}/settings", tag = "clusters",
    params(("cluster" = String, Path), ("If-Match" = Option<String>, Header, description = "ETag of the settings you read")),
    request_body = ClusterSettings,
    responses((status = 200, body = SettingsView, headers(("ETag" = String))), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 412, body = ErrorBody)))]
pub async fn put_settings(
    State(core): State<Core>,
    caller: Caller,
    Path(cluster): Path<String>,
    precondition: Precondition,
    JsonBody(settings): JsonBody<ClusterSettings>,
) -> Result<impl IntoResponse, ApiError> {
    let view = core
        .put_settings(&caller, &cluster, settings, &precondition)
        .await?;
    Ok((etag_header(&view.etag), Json(view)))
}
