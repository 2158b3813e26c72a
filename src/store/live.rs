//! Directors' live reports (counters, real servers' health, host errors),
//! shared by the servers on one PostgreSQL database: the latest per
//! director, upserted straight on the pool, outside the writers' lock.

use sqlx::AnyExecutor;

use super::StoreError;

/// The latest live report of one director; a `None` column is one the
/// report did not bring, which keeps what the row had.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct DirectorLiveRow {
    pub cluster: String,
    pub director: String,
    /// `Counters`, JSON.
    pub counters: Option<String>,
    /// `DirectorServersHealth`, JSON.
    pub health: Option<String>,
    /// Why the host settings fail, a JSON array of strings.
    pub host_errors: Option<String>,
    /// `Option<HaReport>`, JSON: `null` when the report carried no HA state.
    pub ha: Option<String>,
    /// RFC 3339 UTC with milliseconds, so that text order is time order.
    pub reported_at: String,
}

/// Keeps `row` as the latest report of its director, unless the row stored
/// is newer (two servers, or two tasks of one, may write out of order). One
/// statement, no transaction: it takes no lock but the row's.
pub async fn put_director_live(
    exec: impl AnyExecutor<'_>,
    row: &DirectorLiveRow,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO director_live (cluster, director, counters, health, host_errors, ha, reported_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7)
         ON CONFLICT (cluster, director) DO UPDATE SET
             counters = coalesce(excluded.counters, director_live.counters),
             health = coalesce(excluded.health, director_live.health),
             host_errors = coalesce(excluded.host_errors, director_live.host_errors),
             ha = coalesce(excluded.ha, director_live.ha),
             reported_at = excluded.reported_at
         WHERE director_live.reported_at <= excluded.reported_at",
    )
    .bind(&row.cluster)
    .bind(&row.director)
    .bind(&row.counters)
    .bind(&row.health)
    .bind(&row.host_errors)
    .bind(&row.ha)
    .bind(&row.reported_at)
    .execute(exec)
    .await?;
    Ok(())
}

/// The latest live reports of `cluster`'s directors, by director name.
pub async fn directors_live(
    exec: impl AnyExecutor<'_>,
    cluster: &str,
) -> Result<Vec<DirectorLiveRow>, StoreError> {
    Ok(
        sqlx::query_as("SELECT * FROM director_live WHERE cluster = $1 ORDER BY director")
            .bind(cluster)
            .fetch_all(exec)
            .await?,
    )
}

/// The latest live report of director `director` of `cluster`.
pub async fn director_live(
    exec: impl AnyExecutor<'_>,
    cluster: &str,
    director: &str,
) -> Result<Option<DirectorLiveRow>, StoreError> {
    Ok(
        sqlx::query_as("SELECT * FROM director_live WHERE cluster = $1 AND director = $2")
            .bind(cluster)
            .bind(director)
            .fetch_optional(exec)
            .await?,
    )
}
