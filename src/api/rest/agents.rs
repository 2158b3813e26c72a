//! Remote directors: what an agent should run (a long-poll), its reports,
//! the canary rollout, and zeroing counters.

use std::time::Duration;

use axum::Json;
use axum::extract::{Path, Request, State};
use serde::Deserialize;
use utoipa::IntoParams;

use super::error::{ApiError, ErrorBody};
use super::extract::{JsonBody, Query, read_body};
use crate::contract::agent::{Desired, DirectorReport};
use crate::core::{Caller, Core, DirectorView, Error, RolloutView, ZeroBody, ZeroView, parse_wait};
use crate::model::ValidationError;

/// How long a long-poll waits when `after` is given without `wait`.
const DEFAULT_WAIT: Duration = Duration::from_secs(30);

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct DesiredParams {
    /// The director asking (its name in `/directors/{name}`).
    pub director: String,
    /// The revision the director runs: the answer waits while it is still
    /// the one to run. Absent: answer at once.
    pub after: Option<i64>,
    /// How long to wait for a change (`30s`, `500ms`; at most 55 s; 30 s by default).
    pub wait: Option<String>,
}

#[utoipa::path(get, path = "/v1/clusters/{cluster}/desired", tag = "agents",
    params(("cluster" = String, Path), DesiredParams),
    responses(
        (status = 200, description = "What the director should run. With `after`, answered as soon as the \
            revision to run differs from `after`, or something else it acts on changes (settings, a zeroing \
            request, a release), or `wait` passes: the state then, changed or not", body = Desired),
        (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn desired(
    State(core): State<Core>,
    Path(cluster): Path<String>,
    Query(params): Query<DesiredParams>,
) -> Result<Json<Desired>, ApiError> {
    let wait = params
        .wait
        .as_deref()
        .map(parse_wait)
        .transpose()?
        .unwrap_or(DEFAULT_WAIT);
    Ok(Json(
        core.desired(&cluster, &params.director, params.after, wait)
            .await?,
    ))
}

#[utoipa::path(put, path = "/v1/clusters/{cluster}/directors/{name}", tag = "agents",
    params(("cluster" = String, Path), ("name" = String, Path)),
    request_body = DirectorReport,
    responses(
        (status = 200, description = "Stored: the director as the API now shows it. Every apply in the report \
            is audited (`director.apply`), and a drift check that found drift (`director.drift`)", body = DirectorView),
        (status = 400, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "The director is this server's own", body = ErrorBody)))]
pub async fn report(
    State(core): State<Core>,
    caller: Caller,
    Path((cluster, name)): Path<(String, String)>,
    JsonBody(report): JsonBody<DirectorReport>,
) -> Result<Json<DirectorView>, ApiError> {
    Ok(Json(
        core.report_director(&caller, &cluster, &name, report)
            .await?,
    ))
}

#[utoipa::path(get, path = "/v1/clusters/{cluster}/rollout", tag = "agents",
    params(("cluster" = String, Path)),
    responses(
        (status = 200, description = "The rollout of the active revision: canaries first, the others once \
            the canaries ran it in sync for the soak time", body = RolloutView),
        (status = 404, body = ErrorBody)))]
pub async fn rollout(
    State(core): State<Core>,
    Path(cluster): Path<String>,
) -> Result<Json<RolloutView>, ApiError> {
    Ok(Json(core.rollout(&cluster).await?))
}

#[utoipa::path(post, path = "/v1/clusters/{cluster}/rollout/release", tag = "agents",
    params(("cluster" = String, Path)),
    responses(
        (status = 200, description = "Released: every director should run the active revision now", body = RolloutView),
        (status = 404, body = ErrorBody),
        (status = 409, description = "The cluster has no active revision", body = ErrorBody)))]
pub async fn release(
    State(core): State<Core>,
    caller: Caller,
    Path(cluster): Path<String>,
) -> Result<Json<RolloutView>, ApiError> {
    Ok(Json(core.release_rollout(&caller, &cluster).await?))
}

#[utoipa::path(post, path = "/v1/clusters/{cluster}/zero", tag = "agents",
    params(("cluster" = String, Path)),
    request_body(content = Option<ZeroBody>, description = "Optional: without a body, every service of the cluster"),
    responses(
        (status = 200, description = "Requested (`ipvsadm -Z`): this server's own director zeroed its table; \
            agents zero theirs when they see `zero.seq` in what they should run", body = ZeroView),
        (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn zero(
    State(core): State<Core>,
    caller: Caller,
    Path(cluster): Path<String>,
    request: Request,
) -> Result<Json<ZeroView>, ApiError> {
    let body: ZeroBody = read_body(request, &core, |bytes| {
        if bytes.iter().all(u8::is_ascii_whitespace) {
            Ok(ZeroBody::default())
        } else {
            // `null` is no body too, as the OpenAPI document says.
            ValidationError::from_json::<Option<ZeroBody>>(bytes)
                .map(Option::unwrap_or_default)
                .map_err(Error::from)
        }
    })
    .await?;
    Ok(Json(core.zero(&caller, &cluster, body.service).await?))
}
