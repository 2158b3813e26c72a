use axum::Json;
use axum::extract::State;
use serde::Deserialize;
use utoipa::IntoParams;

use super::error::{ApiError, ErrorBody};
use super::extract::Query;
use crate::core::{AuditEntry, AuditQuery, Core};

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct AuditParams {
    pub cluster: Option<String>,
    pub actor: Option<String>,
    /// e.g. `revision.commit`, `draft.service.add`.
    pub action: Option<String>,
    /// RFC 3339: entries at or after this time.
    pub since: Option<String>,
    /// RFC 3339: entries before this time.
    pub until: Option<String>,
    /// Entries with an id below this one (paging).
    pub before: Option<i64>,
    /// 1 to 1000, default 100.
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u32>,
}

#[utoipa::path(get, path = "/v1/audit", tag = "audit", params(AuditParams),
    responses((status = 200, body = [AuditEntry]), (status = 400, body = ErrorBody)))]
pub async fn list(
    State(core): State<Core>,
    Query(p): Query<AuditParams>,
) -> Result<Json<Vec<AuditEntry>>, ApiError> {
    let query = AuditQuery {
        cluster: p.cluster,
        actor: p.actor,
        action: p.action,
        since: p.since,
        until: p.until,
        before: p.before,
        limit: p.limit,
    };
    Ok(Json(core.audit(query).await?))
}
