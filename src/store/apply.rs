//! Rows of applying revisions to directors: cluster settings, director
//! status, drains, created services, pending confirmations.

use sqlx::AnyExecutor;

use super::StoreError;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SettingsRow {
    pub cluster: String,
    pub settings: String,
    pub updated_at: String,
    pub updated_by: String,
}

#[derive(Debug, Clone, Default, sqlx::FromRow)]
pub struct DirectorRow {
    pub cluster: String,
    pub director: String,
    pub mode: String,
    pub applied_revision: Option<i64>,
    pub blocked_revision: Option<i64>,
    pub result: Option<String>,
    pub applied_at: Option<String>,
    pub report: Option<String>,
    pub verified_hash: Option<String>,
    pub checked_at: Option<String>,
    pub drift: Option<String>,
    pub updated_at: String,
    /// Remote directors only: the agent's version, its report interval,
    /// when it last reported, the last zeroing request it did.
    pub agent_version: Option<String>,
    pub report_interval_secs: Option<i64>,
    pub heartbeat_at: Option<String>,
    pub zeroed_seq: Option<i64>,
    /// Since when it has not run the revision it should run.
    pub behind_since: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct DrainRow {
    pub cluster: String,
    pub director: String,
    pub service: String,
    pub server: String,
    pub started_at: String,
    pub deadline: String,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct PendingConfirmRow {
    pub cluster: String,
    pub revision: i64,
    pub fallback: i64,
    pub deadline: String,
    pub requested_by: String,
    pub requested_at: String,
}

pub async fn settings(
    exec: impl AnyExecutor<'_>,
    cluster: &str,
) -> Result<Option<SettingsRow>, StoreError> {
    Ok(
        sqlx::query_as("SELECT * FROM cluster_settings WHERE cluster = $1")
            .bind(cluster)
            .fetch_optional(exec)
            .await?,
    )
}

pub async fn put_settings(exec: impl AnyExecutor<'_>, row: &SettingsRow) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO cluster_settings (cluster, settings, updated_at, updated_by) VALUES ($1, $2, $3, $4)
         ON CONFLICT (cluster) DO UPDATE SET settings = excluded.settings, updated_at = excluded.updated_at,
                                             updated_by = excluded.updated_by",
    )
    .bind(&row.cluster)
    .bind(&row.settings)
    .bind(&row.updated_at)
    .bind(&row.updated_by)
    .execute(exec)
    .await?;
    Ok(())
}

/// The active revision of `cluster` (`None` when there is no such cluster),
/// without reading its draft.
pub async fn active_revision(
    exec: impl AnyExecutor<'_>,
    cluster: &str,
) -> Result<Option<Option<i64>>, StoreError> {
    Ok(
        sqlx::query_scalar("SELECT active_revision FROM clusters WHERE name = $1")
            .bind(cluster)
            .fetch_optional(exec)
            .await?,
    )
}

/// The latest revision of `cluster` without its spec (`spec` is empty): what a
/// commit compares with, without reading a spec it does not need.
pub async fn latest_revision_head(
    exec: impl AnyExecutor<'_>,
    cluster: &str,
) -> Result<Option<super::RevisionRow>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT cluster, number, parent, author, message, created_at, '' AS spec, content_hash, kind, rollback_of
         FROM revisions WHERE cluster = $1 ORDER BY number DESC LIMIT 1",
    )
    .bind(cluster)
    .fetch_optional(exec)
    .await?)
}

/// `(name, active revision)` of every cluster, without their drafts.
pub async fn active_revisions(
    exec: impl AnyExecutor<'_>,
) -> Result<Vec<(String, Option<i64>)>, StoreError> {
    Ok(
        sqlx::query_as("SELECT name, active_revision FROM clusters ORDER BY name")
            .fetch_all(exec)
            .await?,
    )
}

pub async fn directors(
    exec: impl AnyExecutor<'_>,
    cluster: &str,
) -> Result<Vec<DirectorRow>, StoreError> {
    Ok(
        sqlx::query_as("SELECT * FROM director_status WHERE cluster = $1 ORDER BY director")
            .bind(cluster)
            .fetch_all(exec)
            .await?,
    )
}

pub async fn director(
    exec: impl AnyExecutor<'_>,
    cluster: &str,
    director: &str,
) -> Result<Option<DirectorRow>, StoreError> {
    Ok(
        sqlx::query_as("SELECT * FROM director_status WHERE cluster = $1 AND director = $2")
            .bind(cluster)
            .bind(director)
            .fetch_optional(exec)
            .await?,
    )
}

pub async fn put_director(exec: impl AnyExecutor<'_>, row: &DirectorRow) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO director_status (cluster, director, mode, applied_revision, blocked_revision, result, applied_at, report, verified_hash, checked_at, drift, updated_at, agent_version, report_interval_secs, heartbeat_at, zeroed_seq, behind_since)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)
         ON CONFLICT (cluster, director) DO UPDATE SET mode = excluded.mode, applied_revision = excluded.applied_revision, blocked_revision = excluded.blocked_revision, result = excluded.result, applied_at = excluded.applied_at, report = excluded.report, verified_hash = excluded.verified_hash, checked_at = excluded.checked_at, drift = excluded.drift, updated_at = excluded.updated_at, agent_version = excluded.agent_version, report_interval_secs = excluded.report_interval_secs, heartbeat_at = excluded.heartbeat_at, zeroed_seq = excluded.zeroed_seq, behind_since = excluded.behind_since",
    )
    .bind(&row.cluster)
    .bind(&row.director)
    .bind(&row.mode)
    .bind(row.applied_revision)
    .bind(row.blocked_revision)
    .bind(&row.result)
    .bind(&row.applied_at)
    .bind(&row.report)
    .bind(&row.verified_hash)
    .bind(&row.checked_at)
    .bind(&row.drift)
    .bind(&row.updated_at)
    .bind(&row.agent_version)
    .bind(row.report_interval_secs)
    .bind(&row.heartbeat_at)
    .bind(row.zeroed_seq)
    .bind(&row.behind_since)
    .execute(exec)
    .await?;
    Ok(())
}

pub async fn drains(
    exec: impl AnyExecutor<'_>,
    cluster: &str,
    director: &str,
) -> Result<Vec<DrainRow>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT * FROM drains WHERE cluster = $1 AND director = $2 ORDER BY service, server",
    )
    .bind(cluster)
    .bind(director)
    .fetch_all(exec)
    .await?)
}

pub async fn put_drain(exec: impl AnyExecutor<'_>, row: &DrainRow) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO drains (cluster, director, service, server, started_at, deadline)
         VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (cluster, director, service, server) DO UPDATE SET started_at = excluded.started_at, deadline = excluded.deadline",
    )
    .bind(&row.cluster)
    .bind(&row.director)
    .bind(&row.service)
    .bind(&row.server)
    .bind(&row.started_at)
    .bind(&row.deadline)
    .execute(exec)
    .await?;
    Ok(())
}

pub async fn delete_drain(
    exec: impl AnyExecutor<'_>,
    cluster: &str,
    director: &str,
    service: &str,
    server: &str,
) -> Result<(), StoreError> {
    sqlx::query(
        "DELETE FROM drains WHERE cluster = $1 AND director = $2 AND service = $3 AND server = $4",
    )
    .bind(cluster)
    .bind(director)
    .bind(service)
    .bind(server)
    .execute(exec)
    .await?;
    Ok(())
}

pub async fn created_services(
    exec: impl AnyExecutor<'_>,
    cluster: &str,
    director: &str,
) -> Result<Vec<String>, StoreError> {
    Ok(sqlx::query_scalar("SELECT service FROM created_services WHERE cluster = $1 AND director = $2 ORDER BY service")
        .bind(cluster)
        .bind(director)
        .fetch_all(exec)
        .await?)
}

pub async fn add_created(
    exec: impl AnyExecutor<'_>,
    cluster: &str,
    director: &str,
    service: &str,
    at: &str,
) -> Result<(), StoreError> {
    sqlx::query("INSERT INTO created_services (cluster, director, service, created_at) VALUES ($1, $2, $3, $4)
         ON CONFLICT DO NOTHING")
        .bind(cluster)
        .bind(director)
        .bind(service)
        .bind(at)
        .execute(exec)
        .await?;
    Ok(())
}

pub async fn delete_created(
    exec: impl AnyExecutor<'_>,
    cluster: &str,
    director: &str,
    service: &str,
) -> Result<(), StoreError> {
    sqlx::query(
        "DELETE FROM created_services WHERE cluster = $1 AND director = $2 AND service = $3",
    )
    .bind(cluster)
    .bind(director)
    .bind(service)
    .execute(exec)
    .await?;
    Ok(())
}

pub async fn pending_confirm(
    exec: impl AnyExecutor<'_>,
    cluster: &str,
) -> Result<Option<PendingConfirmRow>, StoreError> {
    Ok(
        sqlx::query_as("SELECT * FROM pending_confirms WHERE cluster = $1")
            .bind(cluster)
            .fetch_optional(exec)
            .await?,
    )
}

pub async fn pending_confirms(
    exec: impl AnyExecutor<'_>,
) -> Result<Vec<PendingConfirmRow>, StoreError> {
    Ok(
        sqlx::query_as("SELECT * FROM pending_confirms ORDER BY deadline")
            .fetch_all(exec)
            .await?,
    )
}

pub async fn put_pending_confirm(
    exec: impl AnyExecutor<'_>,
    row: &PendingConfirmRow,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO pending_confirms (cluster, revision, fallback, deadline, requested_by, requested_at)
         VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (cluster) DO UPDATE SET revision = excluded.revision, fallback = excluded.fallback, deadline = excluded.deadline, requested_by = excluded.requested_by, requested_at = excluded.requested_at",
    )
    .bind(&row.cluster)
    .bind(row.revision)
    .bind(row.fallback)
    .bind(&row.deadline)
    .bind(&row.requested_by)
    .bind(&row.requested_at)
    .execute(exec)
    .await?;
    Ok(())
}

pub async fn delete_pending_confirm(
    exec: impl AnyExecutor<'_>,
    cluster: &str,
) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM pending_confirms WHERE cluster = $1")
        .bind(cluster)
        .execute(exec)
        .await?;
    Ok(())
}
