//! Persistence: clusters with their drafts, immutable revisions and the audit
//! log, in SQLite (one host) or PostgreSQL (several servers on one database).
//! Only plain queries live here; the rules live in `core`.
//!
//! Queries are written once, in the SQL both dialects share (`$1`
//! placeholders, `ON CONFLICT` upserts), through sqlx's `Any` driver; what
//! truly differs (how a write transaction takes the writers' lock, the
//! schema's DDL, JSON functions) is decided here by [`Backend`].

mod agents;
mod apply;
mod chain;
mod copy;
mod faults;
mod ha;
mod live;
mod notify;
mod start;
mod tokens;

use std::time::Duration;

use sha2::Digest;
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyConnection, AnyExecutor, AnyPool, Executor};

pub use self::chain::{BadEntry, ChainReport, GENESIS, entry_hash};
pub use self::copy::{CopyReport, copy_database};
pub use self::faults::{FREE_SPACE_RESERVE, StorageFault};
pub use self::notify::{Listener, Notice, Topic};
pub use self::start::{IntegrityCheck, StartChecks};
pub use self::tokens::*;

pub use agents::*;
pub use apply::*;
pub use ha::*;
pub use live::*;

pub type Tx = sqlx::Transaction<'static, sqlx::Any>;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    #[error("database migration: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("stored data is unreadable: {0}")]
    Corrupt(String),
    #[error("{0}")]
    Unsupported(String),
    #[error("{0}")]
    Fault(#[from] StorageFault),
    /// The database cannot be used as it is (missing, not a database,
    /// failing its integrity check); the message says what to do.
    #[error("{0}")]
    NotUsable(String),
    /// A stored spec whose content no longer matches its content hash.
    #[error("{0}")]
    Damaged(String),
}

impl StoreError {
    pub fn is_unique_violation(&self) -> bool {
        matches!(self, StoreError::Db(sqlx::Error::Database(e)) if e.is_unique_violation())
    }
}

/// Which database a `--db` value names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// `sqlite://path`, `sqlite::memory:` or a plain file path.
    Sqlite,
    /// `postgres://` or `postgresql://`: shared by several lvsd servers.
    Postgres,
}

impl Backend {
    pub fn of(db: &str) -> Backend {
        if db.starts_with("postgres://") || db.starts_with("postgresql://") {
            Backend::Postgres
        } else {
            Backend::Sqlite
        }
    }

    fn migrator(self) -> sqlx::migrate::Migrator {
        match self {
            Backend::Sqlite => sqlx::migrate!("./migrations/sqlite"),
            Backend::Postgres => sqlx::migrate!("./migrations/postgres"),
        }
    }
}

/// The key of the PostgreSQL advisory lock every write transaction takes
/// first ("lvsd" in ASCII).
const WRITERS_LOCK: i64 = 0x6c76_7364;

/// The database. Write transactions are serialized, as one writer: on
/// SQLite through one connection and `BEGIN IMMEDIATE`, on PostgreSQL
/// through an advisory lock shared by every server on the database. That is
/// what keeps revision numbers gap-free and the audit chain linear whichever
/// server writes. Reads use a pool and see the last committed state.
#[derive(Clone)]
pub struct Store {
    backend: Backend,
    /// The `--db` value, for the PostgreSQL listener's own connection.
    url: String,
    writer: AnyPool,
    reader: AnyPool,
    /// The SQLite file opened, to notice its deletion or replacement.
    file: Option<faults::FileIdentity>,
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

/// `db` fit to print: a PostgreSQL URL's password (in its user part or a
/// `password=` parameter) is masked, as secrets never reach a log.
pub fn redacted(db: &str) -> String {
    if Backend::of(db) != Backend::Postgres {
        return db.to_string();
    }
    let (scheme, rest) = db.split_once("://").unwrap_or(("", db));
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let authority = match authority.rsplit_once('@') {
        Some((user, host)) => match user.split_once(':') {
            Some((name, _password)) => format!("{name}:***@{host}"),
            None => authority.to_string(),
        },
        None => authority.to_string(),
    };
    let tail = match tail.split_once('?') {
        Some((path, query)) => {
            let params: Vec<String> = query
                .split('&')
                .map(|param| match param.split_once('=') {
                    Some((key, _)) if key.eq_ignore_ascii_case("password") => format!("{key}=***"),
                    _ => param.to_string(),
                })
                .collect();
            format!("{path}?{}", params.join("&"))
        }
        None => tail.to_string(),
    };
    format!("{scheme}://{authority}{tail}")
}

fn install_drivers() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(sqlx::any::install_default_drivers);
}

/// The URL of a SQLite `--db` value, opened read-write-create or read-only.
/// A plain path is percent-encoded whole, so that whatever its characters
/// (spaces, `%`, `?`, `#`) the file opened is the one named.
fn sqlite_url(db: &str, mode: &str) -> String {
    let url = if db.starts_with("sqlite:") {
        db.to_string()
    } else {
        format!("sqlite:{}", percent_encoded(db))
    };
    if url.contains('?') || url == "sqlite::memory:" {
        url
    } else {
        format!("{url}?mode={mode}")
    }
}

/// `path` with every byte but unreserved URL characters and `/` as `%XX`.
fn percent_encoded(path: &str) -> String {
    path.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b'/' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A pool on `db`; SQLite connections get WAL and synchronous=FULL (a
/// committed revision survives a crash) and foreign keys.
async fn pool(
    db: &str,
    backend: Backend,
    max: u32,
    read_only: bool,
) -> Result<AnyPool, StoreError> {
    install_drivers();
    let url = match backend {
        Backend::Sqlite => sqlite_url(db, if read_only { "ro" } else { "rwc" }),
        Backend::Postgres => db.to_string(),
    };
    let options: AnyConnectOptions = url.parse()?;
    // A connection still in a transaction when it is handed out again is
    // one whose ROLLBACK failed: SQLite rolls a transaction back by itself
    // on some errors (a full disk), and sqlx, whose own ROLLBACK then fails,
    // keeps counting it open; every later `BEGIN` on it would fail. Closed
    // instead, it is replaced by a fresh connection.
    let mut pool = AnyPoolOptions::new()
        .max_connections(max)
        .before_acquire(|conn, _| {
            Box::pin(async move { Ok(!sqlx::Connection::is_in_transaction(conn)) })
        });
    if backend == Backend::Sqlite {
        pool = pool.after_connect(move |conn, _| {
            Box::pin(async move {
                if !read_only {
                    conn.execute("PRAGMA journal_mode = WAL").await?;
                }
                conn.execute("PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 10000").await?;
                Ok(())
            })
        });
    }
    Ok(pool
        .acquire_timeout(Duration::from_secs(30))
        .connect_with(options)
        .await?)
}

/// The identity of the SQLite file `db` names, once opened.
fn identity_of(db: &str, backend: Backend) -> Result<Option<faults::FileIdentity>, StoreError> {
    if backend != Backend::Sqlite {
        return Ok(None);
    }
    match faults::sqlite_file(db) {
        Some(path) => {
            Ok(Some(faults::FileIdentity::of(&path).map_err(|e| {
                StoreError::Corrupt(format!("{}: {e}", path.display()))
            })?))
        }
        None => Ok(None),
    }
}

/// The versions of the migrations applied to the database of `pool`.
async fn applied_migrations(pool: &AnyPool) -> Result<Vec<i64>, sqlx::Error> {
    sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success")
        .fetch_all(pool)
        .await
}

impl Store {
    /// Opens (creating if needed) the database and applies pending migrations.
    pub async fn open(db: &str) -> Result<Self, StoreError> {
        let backend = Backend::of(db);
        let writer = pool(
            db,
            backend,
            if backend == Backend::Sqlite { 1 } else { 8 },
            false,
        )
        .await?;
        backend.migrator().run(&writer).await?;
        let reader = match backend {
            Backend::Sqlite => pool(db, backend, 4, true).await?,
            Backend::Postgres => writer.clone(),
        };
        let store = Store {
            backend,
            url: db.to_string(),
            writer,
            reader,
            file: identity_of(db, backend)?,
        };
        store.finish_migrations().await?;
        Ok(store)
    }

    /// [`Store::open`] after the start-up checks of `checks` (SQLite only):
    /// a missing or empty file is refused unless `checks.create`; an
    /// existing one must be a writable SQLite database that passes its
    /// integrity check. Each refusal says why at once.
    pub async fn open_checked(db: &str, checks: StartChecks) -> Result<Self, StoreError> {
        if Backend::of(db) == Backend::Sqlite
            && let Some(path) = faults::sqlite_file(db)
        {
            start::check_sqlite(&sqlite_url(db, "rw"), &path, checks).await?;
        }
        Store::open(db).await
    }

    /// What SQL cannot do after SQLite's migrations: hashing (no SHA-256 in
    /// SQL). Nothing to do on PostgreSQL, whose history starts hashed.
    async fn finish_migrations(&self) -> Result<(), StoreError> {
        if self.backend == Backend::Sqlite {
            chain::chain_unhashed(self).await?;
            hash_unhashed_specs(self).await?;
        }
        Ok(())
    }

    /// Applies pending migrations and returns how many there were.
    pub async fn migrate(db: &str) -> Result<usize, StoreError> {
        let backend = Backend::of(db);
        let writer = pool(db, backend, 1, false).await?;
        let migrator = backend.migrator();
        let applied = applied_migrations(&writer).await.unwrap_or_default();
        migrator.run(&writer).await?;
        let store = Store {
            backend,
            url: db.to_string(),
            reader: writer.clone(),
            writer,
            file: None,
        };
        store.finish_migrations().await?;
        let pending = migrator
            .iter()
            .filter(|m| !applied.contains(&m.version))
            .count();
        store.close().await;
        Ok(pending)
    }

    /// Opens an existing, migrated database without changing it (no
    /// migrations, nothing created); for reading only.
    pub async fn open_existing(db: &str) -> Result<Store, StoreError> {
        let backend = Backend::of(db);
        let pool = pool(db, backend, 2, true).await?;
        let applied = applied_migrations(&pool).await.map_err(|_| {
            StoreError::Corrupt(format!("{} is not an lvsd database", redacted(db)))
        })?;
        if let Some(missing) = backend
            .migrator()
            .iter()
            .find(|m| !applied.contains(&m.version))
        {
            let db = redacted(db);
            return Err(StoreError::Corrupt(format!(
                "{db} lacks migration {} ({}): run `lvsd migrate --db {db}` first",
                missing.version, missing.description
            )));
        }
        Ok(Store {
            backend,
            url: db.to_string(),
            writer: pool.clone(),
            reader: pool,
            file: identity_of(db, backend)?,
        })
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Whether several servers may use this database (PostgreSQL): what
    /// one server keeps in memory, the others cannot see.
    pub fn is_shared(&self) -> bool {
        self.backend == Backend::Postgres
    }

    /// A write transaction, once every other writer's has ended. On SQLite,
    /// `BEGIN IMMEDIATE` takes the write lock at once, so a transaction that
    /// reads before it writes never fails because another process (`lvsd
    /// token` on the same file) wrote between; on PostgreSQL the writers'
    /// advisory lock does the same across servers, and is released by the
    /// commit or rollback.
    pub async fn begin(&self) -> Result<Tx, StoreError> {
        if let Some(file) = &self.file {
            file.check()?;
        }
        match self.backend {
            Backend::Sqlite => Ok(self.writer.begin_with("BEGIN IMMEDIATE").await?),
            Backend::Postgres => {
                let mut tx = self.writer.begin().await?;
                // `pg_advisory_xact_lock` returns `void`, which the Any driver cannot read.
                sqlx::query("SELECT count(*) FROM (SELECT pg_advisory_xact_lock($1)) AS locked")
                    .bind(WRITERS_LOCK)
                    .execute(&mut *tx)
                    .await?;
                Ok(tx)
            }
        }
    }

    /// Whether a write could be made now: the SQLite file is still the one
    /// opened, its file system has [`FREE_SPACE_RESERVE`] free, and the
    /// writers' lock can be taken on a database that is not read-only.
    /// Nothing is written.
    pub async fn check_writable(&self) -> Result<(), StoreError> {
        if let Some(file) = &self.file {
            file.check()?;
            file.check_space()?;
        }
        match self.backend {
            Backend::Sqlite => {
                let tx = self.writer.begin_with("BEGIN IMMEDIATE").await?;
                tx.rollback().await?;
            }
            Backend::Postgres => {
                let read_only: String =
                    sqlx::query_scalar("SELECT current_setting('transaction_read_only')")
                        .fetch_one(&self.writer)
                        .await?;
                if read_only == "on" {
                    return Err(StorageFault::ReadOnly(
                        "the PostgreSQL server takes no writes (transaction_read_only)".into(),
                    )
                    .into());
                }
            }
        }
        Ok(())
    }

    /// A read transaction: its reads come from one snapshot.
    pub async fn snapshot(&self) -> Result<Tx, StoreError> {
        Ok(match self.backend {
            Backend::Sqlite => self.reader.begin().await?,
            Backend::Postgres => {
                self.reader
                    .begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                    .await?
            }
        })
    }

    pub fn reader(&self) -> &AnyPool {
        &self.reader
    }

    pub async fn close(&self) {
        self.writer.close().await;
        self.reader.close().await;
    }

    /// Tells the other servers on this database (none on SQLite) that
    /// something under `topic` changed; best effort, after the commit: a
    /// notice lost with its connection is made up for by the listener, which
    /// wakes everything when it reconnects.
    pub async fn publish(&self, origin: &str, topic: Topic) {
        if self.backend == Backend::Postgres {
            notify::publish(&self.writer, origin, topic).await;
        }
    }

    /// Notices from other servers on this database, or `None` on SQLite,
    /// where this process is the only server.
    pub async fn listen(&self, origin: String) -> Option<Listener> {
        match self.backend {
            Backend::Sqlite => None,
            Backend::Postgres => {
                Some(Listener::start(self.url.clone(), origin, self.reader.clone()).await)
            }
        }
    }

    /// Clusters whose rollouts move on their own: those with canaries, and
    /// those whose rollout still waits on canaries. The others release every
    /// revision as it becomes active, which needs no watching.
    pub async fn clusters_with_canaries(&self) -> Result<Vec<String>, StoreError> {
        let has_canaries = match self.backend {
            Backend::Sqlite => "json_array_length(settings, '$.canaries') > 0",
            Backend::Postgres => "json_array_length(settings::json -> 'canaries') > 0",
        };
        Ok(sqlx::query_scalar(&format!(
            "SELECT cluster FROM cluster_settings WHERE {has_canaries}
             UNION SELECT cluster FROM rollouts WHERE state = 'canary'
             ORDER BY 1"
        ))
        .fetch_all(&self.reader)
        .await?)
    }
}

/// The columns of a [`ClusterRow`]: the cluster joined with its draft's head.
const CLUSTER_COLUMNS: &str =
    "SELECT c.name, c.uid, c.description, c.created_at, c.created_by, c.active_revision,
            d.spec AS draft_spec_id, coalesce(s.hash, '') AS draft_hash, d.version AS draft_version,
            d.updated_at AS draft_updated_at, d.updated_by AS draft_updated_by
     FROM clusters c JOIN drafts d ON d.cluster = c.name JOIN specs s ON s.id = d.spec";

pub async fn cluster(
    exec: impl AnyExecutor<'_>,
    name: &str,
) -> Result<Option<ClusterRow>, StoreError> {
    Ok(
        sqlx::query_as(&format!("{CLUSTER_COLUMNS} WHERE c.name = $1"))
            .bind(name)
            .fetch_optional(exec)
            .await?,
    )
}

pub async fn clusters(exec: impl AnyExecutor<'_>) -> Result<Vec<ClusterRow>, StoreError> {
    Ok(
        sqlx::query_as(&format!("{CLUSTER_COLUMNS} ORDER BY c.name"))
            .fetch_all(exec)
            .await?,
    )
}

/// Inserts the cluster of `row` with its draft, whose canonical JSON is
/// `draft_json` (hashed as `row.draft_hash`); sets `row.draft_spec_id`.
pub async fn insert_cluster(
    conn: &mut AnyConnection,
    row: &mut ClusterRow,
    draft_json: &str,
) -> Result<(), StoreError> {
    row.draft_spec_id = put_spec(&mut *conn, &row.draft_hash, draft_json).await?;
    sqlx::query(
        "INSERT INTO clusters (name, uid, description, created_at, created_by, active_revision)
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(&row.name)
    .bind(&row.uid)
    .bind(&row.description)
    .bind(&row.created_at)
    .bind(&row.created_by)
    .bind(row.active_revision)
    .execute(&mut *conn)
    .await?;
    sqlx::query("INSERT INTO drafts (cluster, spec, version, updated_at, updated_by) VALUES ($1, $2, $3, $4, $5)")
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
    sqlx::query("DELETE FROM revisions WHERE cluster = $1")
        .bind(name)
        .execute(&mut **tx)
        .await?;
    sqlx::query("DELETE FROM clusters WHERE name = $1")
        .bind(name)
        .execute(&mut **tx)
        .await?;
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
pub async fn put_spec(conn: &mut AnyConnection, hash: &str, json: &str) -> Result<i64, StoreError> {
    if let Some(id) = spec_id(&mut *conn, hash).await? {
        return Ok(id);
    }
    Ok(
        sqlx::query_scalar("INSERT INTO specs (hash, json) VALUES ($1, $2) RETURNING id")
            .bind(hash)
            .bind(json)
            .fetch_one(&mut *conn)
            .await?,
    )
}

/// The id of the stored spec with content hash `hash`.
pub async fn spec_id(exec: impl AnyExecutor<'_>, hash: &str) -> Result<Option<i64>, StoreError> {
    Ok(sqlx::query_scalar("SELECT id FROM specs WHERE hash = $1")
        .bind(hash)
        .fetch_optional(exec)
        .await?)
}

/// The canonical JSON of stored spec `id`, checked against its content hash.
pub async fn spec_json(exec: impl AnyExecutor<'_>, id: i64) -> Result<String, StoreError> {
    let (hash, json): (String, String) =
        sqlx::query_as("SELECT coalesce(hash, ''), json FROM specs WHERE id = $1")
            .bind(id)
            .fetch_optional(exec)
            .await?
            .ok_or_else(|| StoreError::Corrupt(format!("spec {id} is missing")))?;
    if !hash.is_empty() && !spec_intact(&hash, &json) {
        return Err(StoreError::Damaged(format!(
            "stored spec {hash} (a draft) is damaged: its content no longer matches its hash"
        )));
    }
    Ok(json)
}

/// Whether `json` still hashes to `hash`, the content hash it was stored
/// under: a spec changed in the database by anything but lvsd is not.
fn spec_intact(hash: &str, json: &str) -> bool {
    hex::encode(sha2::Sha256::digest(json.as_bytes())) == hash
}

/// `row` if its spec is intact; what was found otherwise.
fn intact_revision(row: RevisionRow) -> Result<RevisionRow, StoreError> {
    if spec_intact(&row.content_hash, &row.spec) {
        return Ok(row);
    }
    Err(StoreError::Damaged(format!(
        "stored spec of revision {} of cluster {} is damaged: its content no longer matches its hash {}",
        row.number, row.cluster, row.content_hash
    )))
}

/// Every stored spec whose content no longer matches its hash, each named
/// with the revisions and drafts that use it.
pub async fn damaged_specs(pool: &AnyPool) -> Result<Vec<String>, StoreError> {
    use tokio_stream::StreamExt;
    let mut damaged = Vec::new();
    let mut rows = sqlx::query_as::<_, (i64, String, String)>(
        "SELECT id, hash, json FROM specs WHERE hash IS NOT NULL ORDER BY id",
    )
    .fetch(pool);
    while let Some((id, hash, json)) = rows.next().await.transpose()? {
        if !spec_intact(&hash, &json) {
            damaged.push((id, hash));
        }
    }
    drop(rows);
    let mut found = Vec::new();
    for (id, hash) in damaged {
        let users: Vec<String> = sqlx::query_scalar(
            "SELECT 'revision ' || number || ' of cluster ' || cluster FROM revisions WHERE content_hash = $1
             UNION ALL SELECT 'the draft of cluster ' || cluster FROM drafts WHERE spec = $2",
        )
        .bind(&hash)
        .bind(id)
        .fetch_all(pool)
        .await?;
        found.push(format!(
            "stored spec {hash} is damaged: its content no longer matches its hash (used by {})",
            if users.is_empty() {
                "nothing".to_string()
            } else {
                users.join(", ")
            }
        ));
    }
    Ok(found)
}

/// Deletes stored spec `id` unless a draft or a revision still names it.
pub async fn release_spec(exec: impl AnyExecutor<'_>, id: i64) -> Result<(), StoreError> {
    sqlx::query(
        "DELETE FROM specs WHERE id = $1 AND NOT EXISTS (SELECT 1 FROM drafts d WHERE d.spec = specs.id)
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
pub async fn update_draft(
    conn: &mut AnyConnection,
    row: &ClusterRow,
    previous_spec_id: i64,
) -> Result<(), StoreError> {
    sqlx::query("UPDATE drafts SET spec = $1, version = $2, updated_at = $3, updated_by = $4 WHERE cluster = $5")
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
async fn hash_unhashed_specs(store: &Store) -> Result<(), StoreError> {
    let mut tx = store.begin().await?;
    let unhashed: Vec<(i64, String)> =
        sqlx::query_as("SELECT id, json FROM specs WHERE hash IS NULL")
            .fetch_all(&mut *tx)
            .await?;
    for (id, json) in unhashed {
        let hash = hex::encode(sha2::Sha256::digest(json.as_bytes()));
        match spec_id(&mut *tx, &hash).await? {
            Some(existing) => {
                sqlx::query("UPDATE drafts SET spec = $1 WHERE spec = $2")
                    .bind(existing)
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                sqlx::query("DELETE FROM specs WHERE id = $1")
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
            }
            None => {
                sqlx::query("UPDATE specs SET hash = $1 WHERE id = $2")
                    .bind(&hash)
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
            }
        }
    }
    tx.commit().await?;
    Ok(())
}

pub async fn set_active(
    exec: impl AnyExecutor<'_>,
    name: &str,
    revision: Option<i64>,
) -> Result<(), StoreError> {
    sqlx::query("UPDATE clusters SET active_revision = $1 WHERE name = $2")
        .bind(revision)
        .bind(name)
        .execute(exec)
        .await?;
    Ok(())
}

/// The columns of a [`RevisionRow`], its spec read from `specs`.
const REVISION_COLUMNS: &str =
    "SELECT r.cluster, r.number, r.parent, r.author, r.message, r.created_at, s.json AS spec,
            r.content_hash, r.kind, r.rollback_of
     FROM revisions r JOIN specs s ON s.hash = r.content_hash";

pub async fn latest_revision(
    exec: impl AnyExecutor<'_>,
    cluster: &str,
) -> Result<Option<RevisionRow>, StoreError> {
    Ok(sqlx::query_as(&format!(
        "{REVISION_COLUMNS} WHERE r.cluster = $1 ORDER BY r.number DESC LIMIT 1"
    ))
    .bind(cluster)
    .fetch_optional(exec)
    .await?)
}

pub async fn revision(
    exec: impl AnyExecutor<'_>,
    cluster: &str,
    number: i64,
) -> Result<Option<RevisionRow>, StoreError> {
    let row: Option<RevisionRow> = sqlx::query_as(&format!(
        "{REVISION_COLUMNS} WHERE r.cluster = $1 AND r.number = $2"
    ))
    .bind(cluster)
    .bind(number)
    .fetch_optional(exec)
    .await?;
    row.map(intact_revision).transpose()
}

/// Revisions newest first, below `before` when given.
pub async fn revisions(
    exec: impl AnyExecutor<'_>,
    cluster: &str,
    before: Option<i64>,
    limit: i64,
) -> Result<Vec<RevisionRow>, StoreError> {
    Ok(sqlx::query_as(&format!(
        "{REVISION_COLUMNS} WHERE r.cluster = $1 AND r.number < $2 ORDER BY r.number DESC LIMIT $3"
    ))
    .bind(cluster)
    .bind(before.unwrap_or(i64::MAX))
    .bind(limit)
    .fetch_all(exec)
    .await?)
}

/// Records revision `row`. Its spec is not written here: it must be stored
/// already ([`put_spec`]) under `row.content_hash`.
pub async fn insert_revision(
    exec: impl AnyExecutor<'_>,
    row: &RevisionRow,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO revisions (cluster, number, parent, author, message, created_at, content_hash, kind, rollback_of)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
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
pub async fn append_audit(conn: &mut AnyConnection, row: &AuditRow) -> Result<i64, StoreError> {
    chain::append(conn, row).await
}

/// Walks the audit log's hash chain; see [`chain`](self::chain) for what it
/// shows. `expect`: a head hash recorded earlier, reported as found or not.
pub async fn verify_audit(store: &Store, expect: Option<&str>) -> Result<ChainReport, StoreError> {
    chain::verify(store.reader(), expect).await
}

/// Audit entries newest first.
pub async fn audit(
    exec: impl AnyExecutor<'_>,
    filter: &AuditFilter,
) -> Result<Vec<AuditRow>, StoreError> {
    // Built by hand: sqlx's query builder writes `?` placeholders for `Any`,
    // which PostgreSQL does not take.
    let mut sql = String::from("SELECT * FROM audit_log WHERE id < $1");
    let mut values = Vec::new();
    for (column, op, value) in [
        ("cluster", " = ", &filter.cluster),
        ("actor", " = ", &filter.actor),
        ("action", " = ", &filter.action),
        ("at", " >= ", &filter.since),
        ("at", " < ", &filter.until),
    ] {
        if let Some(value) = value {
            values.push(value.clone());
            sql.push_str(&format!(" AND {column}{op}${}", values.len() + 1));
        }
    }
    sql.push_str(&format!(" ORDER BY id DESC LIMIT ${}", values.len() + 2));
    let mut query = sqlx::query_as(&sql).bind(filter.before_id.unwrap_or(i64::MAX));
    for value in values {
        query = query.bind(value);
    }
    Ok(query.bind(filter.limit).fetch_all(exec).await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_sqlite_path_opens_the_file_it_names_whatever_its_characters() {
        let dir = tempfile::tempdir().unwrap();
        for name in [
            "plain.db",
            "with space.db",
            "100%.db",
            "what?.db",
            "hash#.db",
            "café.db",
            "sub%20x.db",
        ] {
            let path = dir.path().join(name);
            let store = Store::open(path.to_str().unwrap())
                .await
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            store.close().await;
            assert!(path.exists(), "{name} was created under its own name");
        }
        // Relative paths too: the URL has no authority to mistake them for.
        assert_eq!(sqlite_url("lvsd.db", "rwc"), "sqlite:lvsd.db?mode=rwc");
        assert_eq!(
            sqlite_url("sqlite:///var/lib/lvsd.db", "ro"),
            "sqlite:///var/lib/lvsd.db?mode=ro"
        );
    }

    #[test]
    fn passwords_are_masked_wherever_a_url_holds_them() {
        for (db, shown) in [
            ("lvsd.db", "lvsd.db"),
            (
                "sqlite:///var/lib/lvsd/lvsd.db",
                "sqlite:///var/lib/lvsd/lvsd.db",
            ),
            ("postgres://db.example/lvsd", "postgres://db.example/lvsd"),
            (
                "postgres://lvsd@db.example:5432/lvsd",
                "postgres://lvsd@db.example:5432/lvsd",
            ),
            (
                "postgres://lvsd:s3cr%40t@db.example:5432/lvsd",
                "postgres://lvsd:***@db.example:5432/lvsd",
            ),
            (
                "postgresql://lvsd:a:b@c@[::1]:5432",
                "postgresql://lvsd:***@[::1]:5432",
            ),
            (
                "postgres://db.example/lvsd?user=lvsd&password=s3cret&sslmode=require",
                "postgres://db.example/lvsd?user=lvsd&password=***&sslmode=require",
            ),
        ] {
            assert_eq!(redacted(db), shown, "{db}");
        }
    }
}
