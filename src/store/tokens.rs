//! Access tokens: rows of the `tokens` table (migration 0003). Only the
//! SHA-256 of a token's secret is stored.

use sqlx::AnyExecutor;

use super::StoreError;

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct TokenRow {
    pub id: String,
    pub name: String,
    pub role: String,
    pub cluster: Option<String>,
    pub secret_hash: String,
    pub created_at: String,
    pub created_by: String,
    pub expires_at: Option<String>,
    pub revoked_at: Option<String>,
    pub revoked_by: Option<String>,
}

pub async fn insert_token(exec: impl AnyExecutor<'_>, row: &TokenRow) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO tokens (id, name, role, cluster, secret_hash, created_at, created_by, expires_at, revoked_at, revoked_by)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(&row.id)
    .bind(&row.name)
    .bind(&row.role)
    .bind(&row.cluster)
    .bind(&row.secret_hash)
    .bind(&row.created_at)
    .bind(&row.created_by)
    .bind(&row.expires_at)
    .bind(&row.revoked_at)
    .bind(&row.revoked_by)
    .execute(exec)
    .await?;
    Ok(())
}

pub async fn token(exec: impl AnyExecutor<'_>, id: &str) -> Result<Option<TokenRow>, StoreError> {
    Ok(sqlx::query_as("SELECT * FROM tokens WHERE id = $1")
        .bind(id)
        .fetch_optional(exec)
        .await?)
}

/// The live (not revoked) token called `name`, if any.
pub async fn live_token_named(
    exec: impl AnyExecutor<'_>,
    name: &str,
) -> Result<Option<TokenRow>, StoreError> {
    Ok(
        sqlx::query_as("SELECT * FROM tokens WHERE name = $1 AND revoked_at IS NULL")
            .bind(name)
            .fetch_optional(exec)
            .await?,
    )
}

/// Every token ever made, oldest first.
pub async fn tokens(exec: impl AnyExecutor<'_>) -> Result<Vec<TokenRow>, StoreError> {
    Ok(
        sqlx::query_as("SELECT * FROM tokens ORDER BY created_at, id")
            .fetch_all(exec)
            .await?,
    )
}

/// Whether any token was ever made: if so, the API is closed.
pub async fn any_token(exec: impl AnyExecutor<'_>) -> Result<bool, StoreError> {
    let found: i64 = sqlx::query_scalar("SELECT count(*) FROM (SELECT 1 FROM tokens LIMIT 1) AS t")
        .fetch_one(exec)
        .await?;
    Ok(found > 0)
}

/// Marks a live token revoked; false when it was not live.
pub async fn revoke_token(
    exec: impl AnyExecutor<'_>,
    id: &str,
    at: &str,
    by: &str,
) -> Result<bool, StoreError> {
    let done = sqlx::query(
        "UPDATE tokens SET revoked_at = $1, revoked_by = $2 WHERE id = $3 AND revoked_at IS NULL",
    )
    .bind(at)
    .bind(by)
    .bind(id)
    .execute(exec)
    .await?;
    Ok(done.rows_affected() == 1)
}
