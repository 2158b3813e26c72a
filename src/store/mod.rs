//! Persistence: clusters with their drafts, immutable revisions and the audit
//! log, in SQLite (WAL, synchronous=FULL so a committed revision survives a
//! crash). Only plain queries live here; the rules live in `core`.
//!
//! SQLite-specific settings stay in this module so that a PostgreSQL backend
//! can sit beside it.

mod agents;
mod apply;
mod chain;
mod tokens;

use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{SqliteConnection, SqliteExecutor, SqlitePool};

pub use self::chain::{entry_hash, BadEntry, ChainReport, GENESIS};
pub use self::tokens::*;

pub use agents::*;
pub use apply::*;

pub type Tx = sqlx::Transaction<'static, sqlx::Sqlite>;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    #[error("database migration: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("stored data is unreadable: {0}")]
    Corrupt(String),
}

impl StoreError {
    pub fn is_unique_violation(&self) -> bool {
        matches!(self, StoreError::Db(sqlx::Error::Database(e)) if e.is_unique_violation())
    }
}

/// The database. Writes go through one connection, so write transactions are
/// serialized in this process and never fail on a lock upgrade; reads use a
/// pool and see the last committed state (WAL).
#[derive(Clone)]
pub struct Store {
    writer: SqlitePool,
    reader: SqlitePool,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ClusterRow {
    pub name: String,
    pub uid: String,
    pub description: String,
    pub created_at: String,
    pub created_by: String,
    pub draft_spec: String,
    pub draft_version: i64,
    pub draft_updated_at: String,
    pub draft_updated_by: String,
    pub active_revision: Option<i64>,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct RevisionRow {
    pub cluster: String,
    pub number: i64,
    pub parent: Option<i64>,
    pub author: String,
    pub message: String,
    pub created_at: String,
    pub spec: String,
    pub content_hash: String,
    pub kind: String,
    pub rollback_of: Option<i64>,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AuditRow {
    pub id: i64,
    pub at: String,
    pub actor: String,
    pub request_id: String,
    pub cluster: Option<String>,
    pub action: String,
    pub target: String,
    pub outcome: String,
    pub detail: String,
}

/// Filters of an audit query; `None` matches everything.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub cluster: Option<String>,
    pub actor: Option<String>,
    pub action: Option<String>,
    pub since: Option<String>,
    pub until: Option<String>,
    pub before_id: Option<i64>,
    pub limit: i64,
}

/// `sqlite://path`, `sqlite::memory:` or a plain file path.
fn connect_options(db: &str) -> Result<SqliteConnectOptions, StoreError> {
    let url = if db.starts_with("sqlite:") { db.to_string() } else { format!("sqlite://{db}") };
    Ok(SqliteConnectOptions::from_str(&url)?
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Full)
        .foreign_keys(true)
        .busy_timeout(Duration::from_secs(10)))
}

impl Store {
    /// Opens (creating if needed) the database and applies pending migrations.
    pub async fn open(db: &str) -> Result<Self, StoreError> {
        let options = connect_options(db)?;
        let writer = SqlitePoolOptions::new().max_connections(1).connect_with(options.clone()).await?;
        sqlx::migrate!("./migrations").run(&writer).await?;
        chain::chain_unhashed(&writer).await?;
        let reader = SqlitePoolOptions::new().max_connections(4).connect_with(options.read_only(true)).await?;
        Ok(Store { writer, reader })
    }

    /// Applies pending migrations and returns how many there were.
    pub async fn migrate(db: &str) -> Result<usize, StoreError> {
        let options = connect_options(db)?;
        let pool = SqlitePoolOptions::new().max_connections(1).connect_with(options).await?;
        let migrator = sqlx::migrate!("./migrations");
        let applied: Vec<i64> = sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success")
            .fetch_all(&pool)
            .await
            .unwrap_or_default();
        migrator.run(&pool).await?;
        chain::chain_unhashed(&pool).await?;
        let pending = migrator.iter().filter(|m| !applied.contains(&m.version)).count();
        pool.close().await;
        Ok(pending)
    }

    /// Opens an existing, migrated database without changing it (no
    /// migrations, nothing created); reads only.
    pub async fn open_existing(db: &str) -> Result<SqlitePool, StoreError> {
        let options = connect_options(db)?.create_if_missing(false).read_only(true);
        let pool = SqlitePoolOptions::new().max_connections(1).connect_with(options).await?;
        let migrator = sqlx::migrate!("./migrations");
        let applied: Vec<i64> = sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success")
            .fetch_all(&pool)
            .await
            .map_err(|_| StoreError::Corrupt(format!("{db} is not an lvsd database")))?;
        if let Some(missing) = migrator.iter().find(|m| !applied.contains(&m.version)) {
            return Err(StoreError::Corrupt(format!(
                "{db} lacks migration {} ({}): run `lvsd migrate --db {db}` first",
                missing.version, missing.description
            )));
        }
        Ok(pool)
    }

    /// A write transaction. `BEGIN IMMEDIATE` takes SQLite's write lock at
    /// once, so a transaction that reads before it writes never fails
    /// because another process (`lvsd token` on the same file) wrote between.
    pub async fn begin(&self) -> Result<Tx, StoreError> {
        Ok(self.writer.begin_with("BEGIN IMMEDIATE").await?)
    }

    pub fn reader(&self) -> &SqlitePool {
        &self.reader
    }

    pub async fn close(&self) {
        self.writer.close().await;
        self.reader.close().await;
    }
}

pub async fn cluster(exec: impl SqliteExecutor<'_>, name: &str) -> Result<Option<ClusterRow>, StoreError> {
    Ok(sqlx::query_as("SELECT * FROM clusters WHERE name = ?").bind(name).fetch_optional(exec).await?)
}

pub async fn clusters(exec: impl SqliteExecutor<'_>) -> Result<Vec<ClusterRow>, StoreError> {
    Ok(sqlx::query_as("SELECT * FROM clusters ORDER BY name").fetch_all(exec).await?)
}

pub async fn insert_cluster(exec: impl SqliteExecutor<'_>, row: &ClusterRow) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO clusters (name, uid, description, created_at, created_by, draft_spec, draft_version,
                               draft_updated_at, draft_updated_by, active_revision)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(&row.name)
    .bind(&row.uid)
    .bind(&row.description)
    .bind(&row.created_at)
    .bind(&row.created_by)
    .bind(&row.draft_spec)
    .bind(row.draft_version)
    .bind(&row.draft_updated_at)
    .bind(&row.draft_updated_by)
    .bind(row.active_revision)
    .execute(exec)
    .await?;
    Ok(())
}

pub async fn delete_cluster(tx: &mut Tx, name: &str) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM revisions WHERE cluster = ?").bind(name).execute(&mut **tx).await?;
    sqlx::query("DELETE FROM clusters WHERE name = ?").bind(name).execute(&mut **tx).await?;
    Ok(())
}

/// Stores a new draft; the caller has checked the version it replaces.
pub async fn update_draft(
    exec: impl SqliteExecutor<'_>,
    name: &str,
    spec: &str,
    version: i64,
    at: &str,
    by: &str,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE clusters SET draft_spec = ?, draft_version = ?, draft_updated_at = ?, draft_updated_by = ? WHERE name = ?",
    )
    .bind(spec)
    .bind(version)
    .bind(at)
    .bind(by)
    .bind(name)
    .execute(exec)
    .await?;
    Ok(())
}

pub async fn set_active(exec: impl SqliteExecutor<'_>, name: &str, revision: Option<i64>) -> Result<(), StoreError> {
    sqlx::query("UPDATE clusters SET active_revision = ? WHERE name = ?").bind(revision).bind(name).execute(exec).await?;
    Ok(())
}

pub async fn latest_revision(exec: impl SqliteExecutor<'_>, cluster: &str) -> Result<Option<RevisionRow>, StoreError> {
    Ok(sqlx::query_as("SELECT * FROM revisions WHERE cluster = ? ORDER BY number DESC LIMIT 1")
        .bind(cluster)
        .fetch_optional(exec)
        .await?)
}

pub async fn revision(exec: impl SqliteExecutor<'_>, cluster: &str, number: i64) -> Result<Option<RevisionRow>, StoreError> {
    Ok(sqlx::query_as("SELECT * FROM revisions WHERE cluster = ? AND number = ?")
        .bind(cluster)
        .bind(number)
        .fetch_optional(exec)
        .await?)
}

/// Revisions newest first, below `before` when given.
pub async fn revisions(
    exec: impl SqliteExecutor<'_>,
    cluster: &str,
    before: Option<i64>,
    limit: i64,
) -> Result<Vec<RevisionRow>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT * FROM revisions WHERE cluster = ? AND number < ? ORDER BY number DESC LIMIT ?",
    )
    .bind(cluster)
    .bind(before.unwrap_or(i64::MAX))
    .bind(limit)
    .fetch_all(exec)
    .await?)
}

pub async fn insert_revision(exec: impl SqliteExecutor<'_>, row: &RevisionRow) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO revisions (cluster, number, parent, author, message, created_at, spec, content_hash, kind, rollback_of)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(&row.cluster)
    .bind(row.number)
    .bind(row.parent)
    .bind(&row.author)
    .bind(&row.message)
    .bind(&row.created_at)
    .bind(&row.spec)
    .bind(&row.content_hash)
    .bind(&row.kind)
    .bind(row.rollback_of)
    .execute(exec)
    .await?;
    Ok(())
}

/// Appends an audit entry to the hash chain, inside the caller's write
/// transaction; `row.id` is ignored and the new id returned.
pub async fn append_audit(conn: &mut SqliteConnection, row: &AuditRow) -> Result<i64, StoreError> {
    chain::append(conn, row).await
}

/// Walks the audit log's hash chain; see [`chain`](self::chain) for what it
/// shows. `expect`: a head hash recorded earlier, reported as found or not.
pub async fn verify_audit(pool: &SqlitePool, expect: Option<&str>) -> Result<ChainReport, StoreError> {
    chain::verify(pool, expect).await
}

/// Audit entries newest first.
pub async fn audit(exec: impl SqliteExecutor<'_>, filter: &AuditFilter) -> Result<Vec<AuditRow>, StoreError> {
    let mut query = sqlx::QueryBuilder::new("SELECT * FROM audit_log WHERE id < ");
    query.push_bind(filter.before_id.unwrap_or(i64::MAX));
    for (column, op, value) in [
        ("cluster", " = ", &filter.cluster),
        ("actor", " = ", &filter.actor),
        ("action", " = ", &filter.action),
        ("at", " >= ", &filter.since),
        ("at", " < ", &filter.until),
    ] {
        if let Some(value) = value {
            query.push(" AND ").push(column).push(op).push_bind(value.clone());
        }
    }
    query.push(" ORDER BY id DESC LIMIT ").push_bind(filter.limit);
    Ok(query.build_query_as().fetch_all(exec).await?)
}
