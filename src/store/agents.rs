//! Rows of remote directors: canary rollouts and requests to zero counters.

use sqlx::SqliteExecutor;

use super::StoreError;

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct RolloutRow {
    pub cluster: String,
    pub revision: Option<i64>,
    pub released: Option<i64>,
    pub state: String,
    pub since: String,
    pub reason: Option<String>,
    pub soak_started_at: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct ZeroRow {
    pub cluster: String,
    pub seq: i64,
    pub service: Option<String>,
    pub requested_at: String,
    pub requested_by: String,
}

pub async fn rollout(exec: impl SqliteExecutor<'_>, cluster: &str) -> Result<Option<RolloutRow>, StoreError> {
    Ok(sqlx::query_as("SELECT * FROM rollouts WHERE cluster = ?").bind(cluster).fetch_optional(exec).await?)
}

pub async fn put_rollout(exec: impl SqliteExecutor<'_>, row: &RolloutRow) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT OR REPLACE INTO rollouts (cluster, revision, released, state, since, reason, soak_started_at)
         VALUES (?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(&row.cluster)
    .bind(row.revision)
    .bind(row.released)
    .bind(&row.state)
    .bind(&row.since)
    .bind(&row.reason)
    .bind(&row.soak_started_at)
    .execute(exec)
    .await?;
    Ok(())
}

pub async fn zero_request(exec: impl SqliteExecutor<'_>, cluster: &str) -> Result<Option<ZeroRow>, StoreError> {
    Ok(sqlx::query_as("SELECT * FROM zero_requests WHERE cluster = ?").bind(cluster).fetch_optional(exec).await?)
}

pub async fn put_zero_request(exec: impl SqliteExecutor<'_>, row: &ZeroRow) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT OR REPLACE INTO zero_requests (cluster, seq, service, requested_at, requested_by) VALUES (?, ?, ?, ?, ?)",
    )
    .bind(&row.cluster)
    .bind(row.seq)
    .bind(&row.service)
    .bind(&row.requested_at)
    .bind(&row.requested_by)
    .execute(exec)
    .await?;
    Ok(())
}

/// The numbers among `numbers` that are not revisions of `cluster`.
pub async fn missing_revisions(
    exec: impl SqliteExecutor<'_> + Copy,
    cluster: &str,
    numbers: impl IntoIterator<Item = i64>,
) -> Result<Vec<i64>, StoreError> {
    let mut missing = Vec::new();
    for number in numbers {
        let found: Option<i64> = sqlx::query_scalar("SELECT number FROM revisions WHERE cluster = ? AND number = ?")
            .bind(cluster)
            .bind(number)
            .fetch_optional(exec)
            .await?;
        if found.is_none() {
            missing.push(number);
        }
    }
    Ok(missing)
}

/// Clusters whose rollouts move on their own: those with canaries, and
/// those whose rollout still waits on canaries. The others release every
/// revision as it becomes active, which needs no watching.
pub async fn clusters_with_canaries(exec: impl SqliteExecutor<'_>) -> Result<Vec<String>, StoreError> {
    Ok(sqlx::query_scalar(
        "SELECT cluster FROM cluster_settings WHERE json_array_length(settings, '$.canaries') > 0
         UNION SELECT cluster FROM rollouts WHERE state = 'canary'
         ORDER BY 1",
    )
    .fetch_all(exec)
    .await?)
}
