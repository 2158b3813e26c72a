//! Director high availability: the cluster's VRRP instances as its
//! directors report them, with the server's flags, and controlled switchovers.

use axum::Json;
use axum::extract::{Path, Request, State};

use super::error::{ApiError, ErrorBody};
use super::extract::read_body;
use crate::core::{Caller, Core, Error, HaView, SwitchoverBody, SwitchoverView};
use crate::model::ValidationError;

#[utoipa::path(get, path = "/v1/clusters/{cluster}/ha", tag = "ha",
    params(("cluster" = String, Path)),
    responses(
        (status = 200, description = "Every VRRP instance the cluster's directors report: which director is \
            master, backup or in fault, and the server's flags: `no_master` (fresh directors report the \
            instance and none is master) and `split_brain` (two or more are master)", body = HaView),
        (status = 404, body = ErrorBody)))]
pub async fn get(
    State(core): State<Core>,
    Path(cluster): Path<String>,
) -> Result<Json<HaView>, ApiError> {
    Ok(Json(core.ha(&cluster).await?))
}

#[utoipa::path(post, path = "/v1/clusters/{cluster}/ha/switchover", tag = "ha",
    params(("cluster" = String, Path)),
    request_body(content = Option<SwitchoverBody>, description = "Optional: without a body, every VRRP instance of the cluster"),
    responses(
        (status = 200, description = "Requested (audited as `ha.switchover`): the VRRP master of the instance \
            steps down when its agent sees `switchover.seq` in what it should run", body = SwitchoverView),
        (status = 400, description = "No director reports the instance", body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "No director of the cluster reports VRRP state", body = ErrorBody)))]
pub async fn switchover(
    State(core): State<Core>,
    caller: Caller,
    Path(cluster): Path<String>,
    request: Request,
) -> Result<Json<SwitchoverView>, ApiError> {
    let body: SwitchoverBody = read_body(request, &core, |bytes| {
        if bytes.iter().all(u8::is_ascii_whitespace) {
            Ok(SwitchoverBody::default())
        } else {
            // `null` is no body too, as the OpenAPI document says.
            ValidationError::from_json::<Option<SwitchoverBody>>(bytes)
                .map(Option::unwrap_or_default)
                .map_err(Error::from)
        }
    })
    .await?;
    Ok(Json(
        core.switchover(&caller, &cluster, body.instance).await?,
    ))
}
