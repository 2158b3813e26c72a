//! Rows of director high availability: controlled switchover requests, and
//! the flags the server raised on VRRP instances.

use sqlx::AnyExecutor;

use super::StoreError;

/// The latest switchover request of a cluster.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct SwitchoverRow {
    pub cluster: String,
    pub seq: i64,
    pub instance: Option<String>,
    pub requested_at: String,
    pub requested_by: String,
}

/// A flag raised on a VRRP instance (`no_master`, `split_brain`).
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct HaFlagRow {
    pub cluster: String,
    pub instance: String,
    pub vrid: i64,
    pub flag: String,
    pub since: String,
}

pub async fn switchover_request(
    exec: impl AnyExecutor<'_>,
    cluster: &str,
) -> Result<Option<SwitchoverRow>, StoreError> {
    Ok(
        sqlx::query_as("SELECT * FROM switchover_requests WHERE cluster = $1")
            .bind(cluster)
            .fetch_optional(exec)
            .await?,
    )
}

pub async fn put_switchover_request(
    exec: impl AnyExecutor<'_>,
    row: &SwitchoverRow,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO switchover_requests (cluster, seq, instance, requested_at, requested_by)
         VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (cluster) DO UPDATE SET seq = excluded.seq, instance = excluded.instance, requested_at = excluded.requested_at, requested_by = excluded.requested_by",
    )
    .bind(&row.cluster)
    .bind(row.seq)
    .bind(&row.instance)
    .bind(&row.requested_at)
    .bind(&row.requested_by)
    .execute(exec)
    .await?;
    Ok(())
}

/// The flags raised on `cluster`'s VRRP instances.
pub async fn ha_flags(
    exec: impl AnyExecutor<'_>,
    cluster: &str,
) -> Result<Vec<HaFlagRow>, StoreError> {
    Ok(
        sqlx::query_as("SELECT * FROM ha_flags WHERE cluster = $1 ORDER BY instance, vrid, flag")
            .bind(cluster)
            .fetch_all(exec)
            .await?,
    )
}

pub async fn add_ha_flag(exec: impl AnyExecutor<'_>, row: &HaFlagRow) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO ha_flags (cluster, instance, vrid, flag, since) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(&row.cluster)
    .bind(&row.instance)
    .bind(row.vrid)
    .bind(&row.flag)
    .bind(&row.since)
    .execute(exec)
    .await?;
    Ok(())
}

pub async fn delete_ha_flag(
    exec: impl AnyExecutor<'_>,
    cluster: &str,
    instance: &str,
    vrid: i64,
    flag: &str,
) -> Result<(), StoreError> {
    sqlx::query(
        "DELETE FROM ha_flags WHERE cluster = $1 AND instance = $2 AND vrid = $3 AND flag = $4",
    )
    .bind(cluster)
    .bind(instance)
    .bind(vrid)
    .bind(flag)
    .execute(exec)
    .await?;
    Ok(())
}
