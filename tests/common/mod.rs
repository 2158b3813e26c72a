//! A real `lvsd serve` process on ephemeral ports, talked to as a client would.
#![allow(dead_code)]

use std::ffi::OsStr;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::Value;

pub struct TestServer {
    child: Child,
    /// `http://127.0.0.1:PORT`
    pub http: String,
    /// `http://127.0.0.1:PORT`, for tonic clients.
    pub grpc: String,
    /// The `--db` value: a SQLite file or a `postgres://` URL.
    pub db: String,
    pub client: reqwest::Client,
    /// The lines `lvsd serve` printed on start, up to the one about applying.
    pub banner: Vec<String>,
    _db: Option<TestDb>,
}

impl TestServer {
    /// Starts a server on a fresh SQLite database.
    pub fn start() -> Self {
        Self::start_fresh(TestDb::sqlite())
    }

    /// Starts a server on `db`, which it keeps (and drops after stopping).
    pub fn start_fresh(db: TestDb) -> Self {
        let mut server = Self::start_on(&db);
        server._db = Some(db);
        server
    }

    /// Starts a server on `db` (a SQLite file, a `postgres://` URL or a
    /// [`TestDb`]), which may already hold data.
    pub fn start_on(db: impl AsRef<OsStr>) -> Self {
        Self::start_with(db, &[])
    }

    /// Starts a server on `db` with more `lvsd serve` flags.
    pub fn start_with(db: impl AsRef<OsStr>, args: &[&str]) -> Self {
        let db = db.as_ref();
        // A fresh SQLite file is created only when asked (`--init`).
        let fresh = !db.to_string_lossy().starts_with("postgres") && !Path::new(db).exists();
        let mut child = Command::new(env!("CARGO_BIN_EXE_lvsd"))
            .args([
                "serve",
                "--http",
                "127.0.0.1:0",
                "--grpc",
                "127.0.0.1:0",
                "--db",
            ])
            .arg(db)
            .args(if fresh { &["--init"][..] } else { &[] })
            .args(args)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("lvsd starts");
        let stdout = child.stdout.take().expect("stdout is piped");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let (mut http, mut grpc) = (None, None);
        let mut banner = Vec::new();
        loop {
            let line = rx
                .recv_timeout(Duration::from_secs(30))
                .expect("lvsd prints where it listens");
            banner.push(line.clone());
            // The last line of the start-up banner.
            if line.starts_with("lvsd: applying to the kernel") {
                break;
            }
            if let Some(url) = line.strip_prefix("lvsd: REST API on ") {
                http = Some(url.to_string());
            }
            if let Some(addr) = line.strip_prefix("lvsd: gRPC API on ") {
                grpc = Some(format!("http://{addr}"));
            }
        }
        TestServer {
            child,
            http: http.expect("lvsd printed its REST address"),
            grpc: grpc.unwrap_or_default(),
            db: db.to_string_lossy().into_owned(),
            client: reqwest::Client::new(),
            banner,
            _db: None,
        }
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.http)
    }

    /// Stops the server as an operator would (SIGTERM) and returns whether it
    /// shut down cleanly.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill runs");
        self.child.wait().expect("lvsd exits")
    }

    /// Kills the server at once, as a crash would (SIGKILL).
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Sends a request and returns status, ETag and JSON body (Null when empty).
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        body: Option<Value>,
        if_match: Option<&str>,
    ) -> Reply {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut req = self.client.request(method, self.url(path));
        if let Some(body) = body {
            req = req
                .header("content-type", "application/json")
                .body(body.to_string());
        }
        if let Some(tag) = if_match {
            req = req.header("if-match", tag);
        }
        Reply::from(req.send().await.expect("request reaches lvsd")).await
    }

    pub async fn get(&self, path: &str) -> Reply {
        self.call("GET", path, None, None).await
    }

    pub async fn post(&self, path: &str, body: Value) -> Reply {
        self.call("POST", path, Some(body), None).await
    }

    /// Sends a raw body (malformed JSON, text).
    pub async fn send_raw(&self, method: &str, path: &str, body: &str) -> Reply {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let req = self
            .client
            .request(method, self.url(path))
            .header("content-type", "application/json")
            .body(body.to_string());
        Reply::from(req.send().await.expect("request reaches lvsd")).await
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.kill();
    }
}

#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub etag: Option<String>,
    pub body: Value,
    pub text: String,
}

impl Reply {
    pub async fn from_response(response: reqwest::Response) -> Self {
        Self::from(response).await
    }

    async fn from(response: reqwest::Response) -> Self {
        let status = response.status().as_u16();
        let etag = response
            .headers()
            .get("etag")
            .map(|v| v.to_str().unwrap().to_string());
        let text = response.text().await.unwrap_or_default();
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Reply {
            status,
            etag,
            body,
            text,
        }
    }

    #[track_caller]
    pub fn expect(self, status: u16) -> Self {
        assert_eq!(self.status, status, "unexpected reply: {}", self.text);
        self
    }
}

/// The classic LVS-NAT example: VIP 192.168.31.100:80, wrr, real servers
/// 172.25.0.31-33 via NAT with weights 1, 2, 3.
pub fn nat_example() -> Value {
    serde_json::json!({
        "services": [{
            "protocol": "tcp", "address": "192.168.31.100", "port": 80, "scheduler": "wrr",
            "servers": [
                {"address": "172.25.0.31", "port": 80, "forwarding": "nat", "weight": 1},
                {"address": "172.25.0.32", "port": 80, "forwarding": "nat", "weight": 2},
                {"address": "172.25.0.33", "port": 80, "forwarding": "nat", "weight": 3}
            ]
        }]
    })
}

/// A fresh database for one test: a SQLite file in a temporary directory, or a
/// database of its own on the test run's PostgreSQL server. Pass it (or
/// [`TestDb::arg`]) wherever a `--db` goes; a server restarted on the same
/// `TestDb` finds its data again. Dropped with the test: the directory is
/// deleted, the PostgreSQL database dropped.
pub enum TestDb {
    Sqlite {
        dir: tempfile::TempDir,
        path: PathBuf,
        arg: String,
    },
    Postgres {
        admin: String,
        name: String,
        url: String,
    },
}

/// The admin URL of the test run's PostgreSQL server, set by
/// scripts/postgres-test.sh (nextest's setup script).
pub const POSTGRES_ENV: &str = "LVSD_TEST_POSTGRES";

impl TestDb {
    /// `lvsd.db` in a fresh temporary directory.
    pub fn sqlite() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("lvsd.db");
        let arg = path.to_str().expect("a UTF-8 temporary path").to_string();
        TestDb::Sqlite { dir, path, arg }
    }

    /// A new, empty database `lvsd_test_<random>` on the server named by
    /// `LVSD_TEST_POSTGRES`; lvsd's migrations make the schema on first open.
    pub fn postgres() -> Self {
        let admin = match std::env::var(POSTGRES_ENV) {
            Ok(url) if !url.is_empty() => url,
            _ => panic!(
                "{POSTGRES_ENV} is not set: run the tests with `cargo nextest run`, whose setup script starts \
                 PostgreSQL (see scripts/postgres-test.sh and .config/nextest.toml, whose filter must name this \
                 test binary), or set it to the admin URL of a PostgreSQL server of your own"
            ),
        };
        let name = format!("lvsd_test_{}", uuid::Uuid::new_v4().simple());
        psql(&admin, &format!("CREATE DATABASE {name}"));
        let url = with_database(&admin, &name);
        TestDb::Postgres { admin, name, url }
    }

    /// The `--db` value: the SQLite file's path or the PostgreSQL URL.
    pub fn arg(&self) -> &str {
        match self {
            TestDb::Sqlite { arg, .. } => arg,
            TestDb::Postgres { url, .. } => url,
        }
    }

    /// `sqlite` or `postgres`.
    pub fn backend(&self) -> &'static str {
        match self {
            TestDb::Sqlite { .. } => "sqlite",
            TestDb::Postgres { .. } => "postgres",
        }
    }

    pub fn is_postgres(&self) -> bool {
        matches!(self, TestDb::Postgres { .. })
    }

    /// The SQLite file; panics on PostgreSQL.
    #[track_caller]
    pub fn path(&self) -> &Path {
        match self {
            TestDb::Sqlite { path, .. } => path,
            TestDb::Postgres { .. } => panic!("a SQLite-only test ran on PostgreSQL"),
        }
    }

    /// A temporary directory for the test's other files (logs, state), deleted
    /// with the `TestDb` for SQLite; for PostgreSQL, a new one each call that
    /// lives as long as the returned guard.
    pub fn scratch(&self) -> Scratch<'_> {
        match self {
            TestDb::Sqlite { dir, .. } => Scratch::Borrowed(dir.path()),
            TestDb::Postgres { .. } => Scratch::Owned(tempfile::tempdir().expect("temp dir")),
        }
    }

    /// Everything the database holds, as bytes, to look for what must not be
    /// stored: the SQLite files (with the WAL), or a `pg_dump` of the database.
    pub fn stored_bytes(&self) -> Vec<u8> {
        match self {
            TestDb::Sqlite { dir, .. } => {
                let mut stored = Vec::new();
                for entry in std::fs::read_dir(dir.path()).expect("the temp dir") {
                    let path = entry.expect("a dir entry").path();
                    if path
                        .file_name()
                        .is_some_and(|n| n.to_string_lossy().starts_with("lvsd.db"))
                    {
                        stored.extend(std::fs::read(&path).expect("a database file"));
                    }
                }
                stored
            }
            TestDb::Postgres { url, .. } => {
                let out = Command::new("pg_dump")
                    .args(["--no-owner", "-d", url])
                    .output()
                    .expect("pg_dump runs (Debian's postgresql-client)");
                assert!(
                    out.status.success(),
                    "pg_dump failed: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
                out.stdout
            }
        }
    }
}

impl AsRef<OsStr> for TestDb {
    fn as_ref(&self) -> &OsStr {
        OsStr::new(self.arg())
    }
}

impl std::fmt::Display for TestDb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.arg())
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let TestDb::Postgres { admin, name, .. } = self {
            if std::env::var_os("LVSD_TEST_KEEP_DB").is_some() {
                eprintln!("keeping PostgreSQL database {name} (LVSD_TEST_KEEP_DB)");
                return;
            }
            // FORCE: a killed server's connections may not be closed yet.
            let _ = Command::new("psql")
                .args([
                    "-X",
                    "-q",
                    "-v",
                    "ON_ERROR_STOP=1",
                    "-d",
                    admin.as_str(),
                    "-c",
                ])
                .arg(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .stdout(Stdio::null())
                .status();
        }
    }
}

/// A directory from [`TestDb::scratch`].
pub enum Scratch<'a> {
    Borrowed(&'a Path),
    Owned(tempfile::TempDir),
}

impl std::ops::Deref for Scratch<'_> {
    type Target = Path;
    fn deref(&self) -> &Path {
        match self {
            Scratch::Borrowed(path) => path,
            Scratch::Owned(dir) => dir.path(),
        }
    }
}

/// Runs one SQL statement with `psql` on `url`; panics saying why if it fails.
#[track_caller]
pub fn psql(url: &str, sql: &str) -> String {
    let out = Command::new("psql")
        .args([
            "-X",
            "-q",
            "-A",
            "-t",
            "-v",
            "ON_ERROR_STOP=1",
            "-d",
            url,
            "-c",
            sql,
        ])
        .output()
        .unwrap_or_else(|e| panic!("psql runs ({e}): install Debian's postgresql package"));
    assert!(
        out.status.success(),
        "psql {sql:?} on {url}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `url` with its database name replaced by `name`.
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let rest = base
        .strip_prefix("postgres://")
        .or_else(|| base.strip_prefix("postgresql://"))
        .expect("a postgres:// URL");
    let authority = rest.split('/').next().unwrap_or(rest);
    let scheme = &base[..base.len() - rest.len()];
    match query {
        Some(query) => format!("{scheme}{authority}/{name}?{query}"),
        None => format!("{scheme}{authority}/{name}"),
    }
}

/// Runs a test body on both backends:
///
/// ```ignore
/// both_backends! {
///     /// Doc comments and attributes are kept.
///     async fn commit_and_rollback(db: TestDb) {
///         let server = TestServer::start_on(&db);
///         // ...
///     }
/// }
/// ```
///
/// makes the body a function `commit_and_rollback(db: TestDb)` and the tests
/// `commit_and_rollback::sqlite` and `commit_and_rollback::postgres`, each
/// with a fresh [`TestDb`] (kept until the body ends). Attributes in
/// `#[test_attr(...)]` go on both tests, e.g.
/// `#[test_attr(tokio::test(flavor = "multi_thread"))]` instead of the
/// default `#[tokio::test]`.
#[allow(unused_macros)]
macro_rules! both_backends {
    ($(
        $(#[doc = $doc:literal])*
        $(#[test_attr($test_attr:meta)])?
        async fn $name:ident($db:ident : TestDb) $body:block
    )*) => {$(
        $(#[doc = $doc])*
        async fn $name($db: $crate::common::TestDb) $body

        mod $name {
            $crate::common::both_backends!(@test sqlite, $name, [$($test_attr)?]);
            $crate::common::both_backends!(@test postgres, $name, [$($test_attr)?]);
        }
    )*};
    (@test $backend:ident, $name:ident, []) => {
        $crate::common::both_backends!(@test $backend, $name, [tokio::test]);
    };
    (@test $backend:ident, $name:ident, [$test_attr:meta]) => {
        #[$test_attr]
        async fn $backend() {
            super::$name($crate::common::TestDb::$backend()).await
        }
    };
}
#[allow(unused_imports)]
pub(crate) use both_backends;
