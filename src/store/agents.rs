//! Rows of remote directors: canary rollouts and requests to zero counters.

use sqlx::AnyExecutor;

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

pub async fn rollout(
    exec: impl AnyExecutor<'_>,
    cluster: &str,
) -> Result<Option<RolloutRow>, StoreError> {
    Ok(sqlx::query_as("SELECT * FROM rollouts WHERE cluster = $1")
        .bind(cluster)
        .fetch_optional(exec)
        .await?)
}

pub async fn put_rollout(exec: impl AnyExecutor<'_>, row: &RolloutRow) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO rollouts (cluster, revision, released, state, since, reason, soak_started_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7)
         ON CONFLICT (cluster) DO UPDATE SET revision = excluded.revision, released = excluded.released, state = excluded.state, since = excluded.since, reason = excluded.reason, soak_started_at = excluded.soak_started_at",
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

pub async fn zero_request(
    exec: impl AnyExecutor<'_>,
    cluster: &str,
) -> Result<Option<ZeroRow>, StoreError> {
    Ok(
        sqlx::query_as("SELECT * FROM zero_requests WHERE cluster = $1")
            .bind(cluster)
            .fetch_optional(exec)
            .await?,
    )
}

pub async fn put_zero_request(exec: impl AnyExecutor<'_>, row: &ZeroRow) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO zero_requests (cluster, seq, service, requested_at, requested_by)
         VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (cluster) DO UPDATE SET seq = excluded.seq, service = excluded.service, requested_at = excluded.requested_at, requested_by = excluded.requested_by",
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
    exec: impl AnyExecutor<'_> + Copy,
    cluster: &str,
    numbers: impl IntoIterator<Item = i64>,
) -> Result<Vec<i64>, StoreError> {
    let mut missing = Vec::new();
    for number in numbers {
        let found: Option<i64> =
            sqlx::query_scalar("SELECT number FROM revisions WHERE cluster = $1 AND number = $2")
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
