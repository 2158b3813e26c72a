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

use sha2::Digest;
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

/// A cluster with the head of its draft (the draft's spec itself is read
/// apart, by [`spec_json`], only when needed).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ClusterRow {
    pub name: String,
    pub uid: String,
    pub description: String,
    pub created_at: String,
    pub created_by: String,
    pub active_revision: Option<i64>,
    /// The row of `specs` holding the draft.
    pub draft_spec_id: i64,
    /// The draft's content hash: compared with a revision's, it says whether
    /// the draft differs from it without reading either spec.
    pub draft_hash: String,
    pub draft_version: i64,
    pub draft_updated_at: String,
    pub draft_updated_by: String,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct RevisionRow {
    pub cluster: String,
    pub number: i64,
    pub parent: Option<i64>,
    pub author: String,
    pub message: String,
    pub created_at: String,
    /// The spec's canonical JSON, read from `specs` by `content_hash`; empty
    /// where only the head is read. [`insert_revision`] does not write it.
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
        hash_unhashed_specs(&writer).await?;
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
        hash_unhashed_specs(&pool).await?;
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

/// The columns of a [`ClusterRow`]: the cluster joined with its draft's head.
const CLUSTER_COLUMNS: &str = "SELECT c.name, c.uid, c.description, c.created_at, c.created_by, c.active_revision,
            d.spec AS draft_spec_id, coalesce(s.hash, '') AS draft_hash, d.version AS draft_version,
            d.updated_at AS draft_updated_at, d.updated_by AS draft_updated_by
     FROM clusters c JOIN drafts d ON d.cluster = c.name JOIN specs s ON s.id = d.spec";

pub async fn cluster(exec: impl SqliteExecutor<'_>, name: &str) -> Result<Option<ClusterRow>, StoreError> {
    Ok(sqlx::query_as(&format!("{CLUSTER_COLUMNS} WHERE c.name = ?")).bind(name).fetch_optional(exec).await?)
}

pub async fn clusters(exec: impl SqliteExecutor<'_>) -> Result<Vec<ClusterRow>, StoreError> {
    Ok(sqlx::query_as(&format!("{CLUSTER_COLUMNS} ORDER BY c.name")).fetch_all(exec).await?)
}

/// Inserts the cluster of `row` with its draft, whose canonical JSON is
/// `draft_json` (hashed as `row.draft_hash`); sets `row.draft_spec_id`.
pub async fn insert_cluster(conn: &mut SqliteConnection, row: &mut ClusterRow, draft_json: &str) -> Result<(), StoreError> {
    row.draft_spec_id = put_spec(&mut *conn, &row.draft_hash, draft_json).await?;
    sqlx::query(
        "INSERT INTO clusters (name, uid, description, created_at, created_by, active_revision)
         VALUES (?, ?, ?, ?, ?, ?)",
    )
    .bind(&row.name)
    .bind(&row.uid)
    .bind(&row.description)
    .bind(&row.created_at)
    .bind(&row.created_by)
    .bind(row.active_revision)
    .execute(&mut *conn)
    .await?;
    sqlx::query("INSERT INTO drafts (cluster, spec, version, updated_at, updated_by) VALUES (?, ?, ?, ?, ?)")
        .bind(&row.name)
        .bind(row.draft_spec_id)
        .bind(row.draft_version)
        .bind(&row.draft_updated_at)
        .bind(&row.draft_updated_by)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

pub async fn delete_cluster(tx: &mut Tx, name: &str) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM revisions WHERE cluster = ?").bind(name).execute(&mut **tx).await?;
    sqlx::query("DELETE FROM clusters WHERE name = ?").bind(name).execute(&mut **tx).await?;
    sqlx::query(
        "DELETE FROM specs WHERE NOT EXISTS (SELECT 1 FROM drafts d WHERE d.spec = specs.id)
                             AND NOT EXISTS (SELECT 1 FROM revisions r WHERE r.content_hash = specs.hash)",
    )
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// The id of the spec whose content hash is `hash`, storing `json` (its
/// canonical JSON) first if no spec has that content yet.
pub async fn put_spec(conn: &mut SqliteConnection, hash: &str, json: &str) -> Result<i64, StoreError> {
    if let Some(id) = spec_id(&mut *conn, hash).await? {
        return Ok(id);
    }
    Ok(sqlx::query_scalar("INSERT INTO specs (hash, json) VALUES (?, ?) RETURNING id")
        .bind(hash)
        .bind(json)
        .fetch_one(&mut *conn)
        .await?)
}

/// The id of the stored spec with content hash `hash`.
pub async fn spec_id(exec: impl SqliteExecutor<'_>, hash: &str) -> Result<Option<i64>, StoreError> {
    Ok(sqlx::query_scalar("SELECT id FROM specs WHERE hash = ?").bind(hash).fetch_optional(exec).await?)
}

/// The canonical JSON of stored spec `id`.
pub async fn spec_json(exec: impl SqliteExecutor<'_>, id: i64) -> Result<String, StoreError> {
    sqlx::query_scalar("SELECT json FROM specs WHERE id = ?")
        .bind(id)
        .fetch_optional(exec)
        .await?
        .ok_or_else(|| StoreError::Corrupt(format!("spec {id} is missing")))
}

/// Deletes stored spec `id` unless a draft or a revision still names it.
pub async fn release_spec(exec: impl SqliteExecutor<'_>, id: i64) -> Result<(), StoreError> {
    sqlx::query(
        "DELETE FROM specs WHERE id = ? AND NOT EXISTS (SELECT 1 FROM drafts d WHERE d.spec = specs.id)
                                       AND NOT EXISTS (SELECT 1 FROM revisions r WHERE r.content_hash = specs.hash)",
    )
    .bind(id)
    .execute(exec)
    .await?;
    Ok(())
}

/// Points the draft of `row.name` at its spec and version, releasing the
/// spec it named before (`previous_spec_id`); the caller has checked the
/// version it replaces and stored the spec.
pub async fn update_draft(conn: &mut SqliteConnection, row: &ClusterRow, previous_spec_id: i64) -> Result<(), StoreError> {
    sqlx::query("UPDATE drafts SET spec = ?, version = ?, updated_at = ?, updated_by = ? WHERE cluster = ?")
        .bind(row.draft_spec_id)
        .bind(row.draft_version)
        .bind(&row.draft_updated_at)
        .bind(&row.draft_updated_by)
        .bind(&row.name)
        .execute(&mut *conn)
        .await?;
    if previous_spec_id != row.draft_spec_id {
        release_spec(&mut *conn, previous_spec_id).await?;
    }
    Ok(())
}

/// Hashes the drafts migration 0004 carried over (SQL has no SHA-256): each
/// gets its content hash, or, when a spec with that content exists already,
/// the draft moves to it and the copy goes. Nothing to do after that.
async fn hash_unhashed_specs(pool: &SqlitePool) -> Result<(), StoreError> {
    let mut tx = pool.begin().await?;
    let unhashed: Vec<(i64, String)> = sqlx::query_as("SELECT id, json FROM specs WHERE hash IS NULL").fetch_all(&mut *tx).await?;
    for (id, json) in unhashed {
        let hash = hex::encode(sha2::Sha256::digest(json.as_bytes()));
        match spec_id(&mut *tx, &hash).await? {
            Some(existing) => {
                sqlx::query("UPDATE drafts SET spec = ? WHERE spec = ?").bind(existing).bind(id).execute(&mut *tx).await?;
                sqlx::query("DELETE FROM specs WHERE id = ?").bind(id).execute(&mut *tx).await?;
            }
            None => {
                sqlx::query("UPDATE specs SET hash = ? WHERE id = ?").bind(&hash).bind(id).execute(&mut *tx).await?;
            }
        }
    }
    tx.commit().await?;
    Ok(())
}

pub async fn set_active(exec: impl SqliteExecutor<'_>, name: &str, revision: Option<i64>) -> Result<(), StoreError> {
    sqlx::query("UPDATE clusters SET active_revision = ? WHERE name = ?").bind(revision).bind(name).execute(exec).await?;
    Ok(())
}

/// The columns of a [`RevisionRow`], its spec read from `specs`.
const REVISION_COLUMNS: &str = "SELECT r.cluster, r.number, r.parent, r.author, r.message, r.created_at, s.json AS spec,
            r.content_hash, r.kind, r.rollback_of
     FROM revisions r JOIN specs s ON s.hash = r.content_hash";

pub async fn latest_revision(exec: impl SqliteExecutor<'_>, cluster: &str) -> Result<Option<RevisionRow>, StoreError> {
    Ok(sqlx::query_as(&format!("{REVISION_COLUMNS} WHERE r.cluster = ? ORDER BY r.number DESC LIMIT 1"))
        .bind(cluster)
        .fetch_optional(exec)
        .await?)
}

pub async fn revision(exec: impl SqliteExecutor<'_>, cluster: &str, number: i64) -> Result<Option<RevisionRow>, StoreError> {
    Ok(sqlx::query_as(&format!("{REVISION_COLUMNS} WHERE r.cluster = ? AND r.number = ?"))
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
    Ok(sqlx::query_as(&format!("{REVISION_COLUMNS} WHERE r.cluster = ? AND r.number < ? ORDER BY r.number DESC LIMIT ?"))
    .bind(cluster)
    .bind(before.unwrap_or(i64::MAX))
    .bind(limit)
    .fetch_all(exec)
    .await?)
}

/// Records revision `row`. Its spec is not written here: it must be stored
/// already ([`put_spec`]) under `row.content_hash`.
pub async fn insert_revision(exec: impl SqliteExecutor<'_>, row: &RevisionRow) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO revisions (cluster, number, parent, author, message, created_at, content_hash, kind, rollback_of)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(&row.cluster)
    .bind(row.number)
    .bind(row.parent)
    .bind(&row.author)
    .bind(&row.message)
    .bind(&row.created_at)
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
