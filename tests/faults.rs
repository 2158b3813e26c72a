//! Faults and hostile load: storage that fills, vanishes, turns read-only or
//! rots; requests built to exhaust memory or connections. Each test starts a
//! real `lvsd serve` and checks what an operator would see.
//!
//! The storage tests mount a small tmpfs, so they need root (CI runs tests
//! as root); they say so plainly when they cannot mount.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::TestServer;
use serde_json::{Value, json};

/// A tmpfs of a fixed size mounted on a fresh directory, unmounted on drop.
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    #[track_caller]
    fn mount(size: &str) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "lvsd-faults"])
            .arg(dir.path())
            .output()
            .expect("mount runs");
        assert!(
            out.status.success(),
            "these tests mount a tmpfs and must run as root: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Tmpfs { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Fills every free byte with one file, returned to be deleted later.
    fn fill(&self) -> PathBuf {
        use std::io::Write;
        let path = self.path().join("filler");
        let mut file = std::fs::File::create(&path).expect("filler file");
        let block = vec![0u8; 64 * 1024];
        loop {
            match file.write(&block) {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
        }
        // The last partial blocks.
        while file.write(&[0u8; 512]).is_ok_and(|n| n > 0) {}
        path
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount")
            .args(["-l"])
            .arg(self.dir.path())
            .status();
    }
}

/// A spec of `count` services, each with one real server of `weight`.
fn spec_of(count: usize, weight: u32) -> Value {
    let services: Vec<Value> = (0..count)
        .map(|i| {
            json!({
                "protocol": "tcp",
                "address": format!("10.{}.{}.1", i / 250, i % 250),
                "port": 80,
                "scheduler": "wrr",
                "servers": [{"address": "172.16.0.1", "port": 80, "forwarding": "nat", "weight": weight}]
            })
        })
        .collect();
    json!({ "services": services })
}

async fn commit(server: &TestServer, cluster: &str, spec: Value) -> common::Reply {
    server
        .post(
            &format!("/v1/clusters/{cluster}/revisions"),
            json!({"message": "load", "spec": spec}),
        )
        .await
}

#[tokio::test]
async fn a_full_disk_refuses_writes_by_name_and_they_recover_when_space_returns() {
    let fs = Tmpfs::mount("4m");
    let db = fs.path().join("lvsd.db");
    let server = TestServer::start_with(&db, &[]);
    server
        .post("/v1/clusters", json!({"name": "web"}))
        .await
        .expect(201);
    commit(&server, "web", spec_of(10, 1)).await.expect(201);

    let filler = fs.fill();
    for attempt in 1..=3 {
        let refused = commit(&server, "web", spec_of(400 + attempt, 2)).await;
        assert_eq!(refused.status, 507, "attempt {attempt}: {}", refused.text);
        assert!(
            refused.text.contains("full"),
            "the cause is named: {}",
            refused.text
        );
    }
    let ready = server.get("/readyz").await;
    assert_eq!(ready.status, 503, "not ready while full: {}", ready.text);
    assert!(ready.text.contains("full"), "{}", ready.text);

    std::fs::remove_file(filler).expect("filler removed");
    server.get("/readyz").await.expect(200);
    let made = commit(&server, "web", spec_of(400, 3)).await.expect(201);
    let number = made.body["revision"]["number"]
        .as_i64()
        .expect("a revision number");
    let stored = server
        .get(&format!("/v1/clusters/web/revisions/{number}"))
        .await
        .expect(200);
    assert_eq!(
        stored.body["spec"]["services"].as_array().unwrap().len(),
        400
    );
}

/// Runs `lvsd serve` expected to refuse to start; returns what it printed on
/// stderr. One still running after 20 s has not refused: it is stopped and
/// the test fails.
#[track_caller]
fn refused_start(db: &Path, args: &[&str]) -> String {
    use std::process::Stdio;
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
        .args(args)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("lvsd starts");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            let mut stderr = String::new();
            use std::io::Read;
            child
                .stderr
                .take()
                .unwrap()
                .read_to_string(&mut stderr)
                .unwrap();
            assert!(!status.success(), "lvsd serve started: {stderr}");
            return stderr;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("lvsd serve on {} did not refuse to start", db.display());
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// Runs one SQL statement on a SQLite file, as something other than lvsd.
async fn sqlite_exec(db: &Path, sql: &str) {
    use sqlx::{Connection, Executor};
    let url = format!("sqlite:{}", db.display());
    let mut conn = sqlx::SqliteConnection::connect(&url).await.expect("opens");
    conn.execute(sql).await.expect(sql);
    conn.close().await.unwrap();
}

#[tokio::test]
async fn a_damaged_stored_spec_is_refused_on_every_path_audited_and_reported() {
    let db = common::TestDb::sqlite();
    let mut server = TestServer::start_on(&db);
    server
        .post("/v1/clusters", json!({"name": "web"}))
        .await
        .expect(201);
    commit(&server, "web", spec_of(2, 11)).await.expect(201);
    commit(&server, "web", spec_of(3, 5)).await.expect(201);
    // One byte of revision 1's stored spec changed: weight 11 becomes 17.
    sqlite_exec(
        db.path(),
        "UPDATE specs SET json = replace(json, '\"weight\":11', '\"weight\":17')
         WHERE hash = (SELECT content_hash FROM revisions WHERE number = 1)",
    )
    .await;

    let damaged = "stored spec of revision 1 of cluster web is damaged";
    let got = server.get("/v1/clusters/web/revisions/1").await;
    assert_eq!(got.status, 500, "{}", got.text);
    assert!(got.text.contains(damaged), "{}", got.text);
    let export = server.get("/v1/clusters/web/revisions/1/export").await;
    assert_eq!(export.status, 500, "{}", export.text);
    assert!(export.text.contains(damaged), "{}", export.text);
    let rollback = server
        .post("/v1/clusters/web/rollback", json!({"to": 1}))
        .await;
    assert_eq!(rollback.status, 500, "{}", rollback.text);
    assert!(rollback.text.contains(damaged), "{}", rollback.text);
    let history = server.get("/v1/clusters/web/revisions").await.expect(200);
    assert_eq!(
        history.body["revisions"].as_array().unwrap().len(),
        2,
        "no revision made from it"
    );
    let audit = server
        .get("/v1/audit?action=spec.damaged")
        .await
        .expect(200);
    assert!(
        audit.text.contains(damaged),
        "the damage is audited: {}",
        audit.text
    );

    // Agents: the active revision's spec damaged, read after a restart.
    sqlite_exec(
        db.path(),
        "UPDATE specs SET json = replace(json, '\"weight\":5', '\"weight\":6')
         WHERE hash = (SELECT content_hash FROM revisions WHERE number = 2)",
    )
    .await;
    server.kill();
    let server = TestServer::start_on(&db);
    let desired = server.get("/v1/clusters/web/desired?director=d1").await;
    assert_eq!(desired.status, 500, "{}", desired.text);
    assert!(
        desired
            .text
            .contains("stored spec of revision 2 of cluster web is damaged"),
        "{}",
        desired.text
    );
    drop(server);

    let verify = Command::new(env!("CARGO_BIN_EXE_lvsd"))
        .args(["audit", "verify", "--db"])
        .arg(db.path())
        .output()
        .expect("lvsd audit verify runs");
    let out = String::from_utf8_lossy(&verify.stdout);
    assert!(!verify.status.success(), "audit verify fails: {out}");
    assert!(out.contains("revision 1 of cluster web"), "{out}");
    assert!(out.contains("revision 2 of cluster web"), "{out}");
}

#[tokio::test]
async fn a_database_deleted_under_the_server_is_noticed_and_not_made_anew() {
    let db = common::TestDb::sqlite();
    let mut server = TestServer::start_on(&db);
    server
        .post("/v1/clusters", json!({"name": "web"}))
        .await
        .expect(201);
    server.get("/readyz").await.expect(200);
    std::fs::remove_file(db.path()).expect("database deleted");

    let refused = commit(&server, "web", spec_of(1, 1)).await;
    assert_eq!(refused.status, 503, "{}", refused.text);
    assert!(refused.text.contains("deleted"), "{}", refused.text);
    let ready = server.get("/readyz").await;
    assert_eq!(ready.status, 503, "{}", ready.text);
    assert!(ready.text.contains("deleted"), "{}", ready.text);
    server.kill();

    let stderr = refused_start(db.path(), &[]);
    assert!(stderr.contains("--init"), "{stderr}");
    assert!(!db.path().exists(), "no new database was made");
}

#[tokio::test]
async fn a_database_that_cannot_be_used_is_refused_at_start_saying_why() {
    let dir = tempfile::tempdir().unwrap();

    // Not a database at all: said at once, not after a pool's timeout.
    let garbage = dir.path().join("garbage.db");
    std::fs::write(&garbage, "this is not a database\n".repeat(400)).unwrap();
    let stderr = refused_start(&garbage, &[]);
    assert!(stderr.contains("file is not a database"), "{stderr}");

    // An empty file: made a new database only when asked.
    let empty = dir.path().join("empty.db");
    std::fs::write(&empty, "").unwrap();
    let stderr = refused_start(&empty, &[]);
    assert!(stderr.contains("--init"), "{stderr}");
    let server = TestServer::start_with(&empty, &["--init"]);
    server.get("/readyz").await.expect(200);
    drop(server);

    // Pages damaged: the integrity check refuses it.
    let damaged = dir.path().join("damaged.db");
    let mut server = TestServer::start_on(&damaged);
    server
        .post("/v1/clusters", json!({"name": "web"}))
        .await
        .expect(201);
    for i in 0..20 {
        commit(&server, "web", spec_of(20 + i, 1)).await.expect(201);
    }
    server.terminate();
    sqlite_exec(&damaged, "PRAGMA wal_checkpoint(TRUNCATE)").await;
    let mut bytes = std::fs::read(&damaged).unwrap();
    assert!(bytes.len() > 8 * 4096, "a database of several pages");
    // Page 3 onwards: b-tree pages whose headers become nonsense.
    for byte in &mut bytes[2 * 4096..2 * 4096 + 64] {
        *byte = 0xA5;
    }
    std::fs::write(&damaged, bytes).unwrap();
    let stderr = refused_start(&damaged, &["--integrity-check", "full"]);
    assert!(
        stderr.contains("integrity") || stderr.contains("malformed"),
        "{stderr}"
    );
}

#[tokio::test]
async fn a_read_only_database_is_refused_at_start_saying_so() {
    let fs = Tmpfs::mount("16m");
    let db = fs.path().join("lvsd.db");
    let mut server = TestServer::start_on(&db);
    server
        .post("/v1/clusters", json!({"name": "web"}))
        .await
        .expect(201);
    server.terminate();
    let remount = Command::new("mount")
        .args(["-o", "remount,ro"])
        .arg(fs.path())
        .status()
        .expect("mount runs");
    assert!(remount.success());
    let stderr = refused_start(&db, &[]);
    assert!(stderr.contains("read-only"), "{stderr}");
}

#[tokio::test]
async fn free_text_is_bounded_and_the_error_names_the_field() {
    let server = TestServer::start();
    let long_description = server
        .post(
            "/v1/clusters",
            json!({"name": "web", "description": "d".repeat(2000)}),
        )
        .await
        .expect(400);
    assert_eq!(long_description.body["error"]["field"], "description");
    server
        .post("/v1/clusters", json!({"name": "web"}))
        .await
        .expect(201);
    for (body, field) in [
        (
            json!({"message": "m", "author": "a".repeat(300), "spec": spec_of(1, 1)}),
            "author",
        ),
        (
            json!({"message": "m", "author": "bell\u{7}", "spec": spec_of(1, 1)}),
            "author",
        ),
        (
            json!({"message": "m".repeat(5000), "spec": spec_of(1, 1)}),
            "message",
        ),
    ] {
        let refused = server
            .post("/v1/clusters/web/revisions", body)
            .await
            .expect(400);
        assert_eq!(refused.body["error"]["field"], field, "{}", refused.text);
    }
    let history = server.get("/v1/clusters/web/revisions").await.expect(200);
    assert_eq!(history.body["revisions"], json!([]), "nothing was written");
}

#[tokio::test]
async fn secrets_in_a_query_string_never_reach_the_log_even_at_trace_level() {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;
    let dir = tempfile::tempdir().unwrap();
    let log_path = dir.path().join("lvsd.log");
    let mut child = Command::new(env!("CARGO_BIN_EXE_lvsd"))
        .args([
            "serve",
            "--init",
            "--http",
            "127.0.0.1:0",
            "--grpc",
            "127.0.0.1:0",
            "--db",
        ])
        .arg(dir.path().join("lvsd.db"))
        .env("RUST_LOG", "trace")
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&log_path).unwrap())
        .spawn()
        .expect("lvsd starts");
    let mut http = None;
    for line in BufReader::new(child.stdout.take().unwrap()).lines() {
        let line = line.unwrap();
        if let Some(url) = line.strip_prefix("lvsd: REST API on ") {
            http = Some(url.to_string());
        }
        if line.starts_with("lvsd: applying to the kernel") {
            break;
        }
    }
    let http = http.expect("the REST address");
    let client = reqwest::Client::new();
    for query in [
        "access_token=SECRET-ONE-4711",
        "token=SECRET-TWO-4711&limit=1",
        "password=SECRET-THREE-4711",
        "api_key=SECRET-FOUR-4711",
    ] {
        client
            .get(format!("{http}/v1/clusters?{query}"))
            .send()
            .await
            .expect("answered");
    }
    let _ = child.kill();
    let _ = child.wait();
    let log = std::fs::read_to_string(&log_path).unwrap();
    assert!(
        log.contains("access_token=***"),
        "the request is logged, its secret masked"
    );
    assert!(!log.contains("SECRET-"), "a secret reached the log");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_that_cannot_write_its_cache_says_so_in_the_directors_view_and_metrics() {
    use std::process::Stdio;
    let fs = Tmpfs::mount("1m");
    let remount = Command::new("mount")
        .args(["-o", "remount,ro"])
        .arg(fs.path())
        .status()
        .expect("mount runs");
    assert!(remount.success());
    let server = TestServer::start();
    server
        .post("/v1/clusters", json!({"name": "web"}))
        .await
        .expect(201);
    commit(&server, "web", spec_of(1, 1)).await.expect(201);
    let mut agent = Command::new(env!("CARGO_BIN_EXE_lvsd"))
        .args([
            "agent",
            "--server",
            &server.http,
            "--cluster",
            "web",
            "--name",
            "d1",
        ])
        .args([
            "--table",
            "memory",
            "--report-interval",
            "1s",
            "--wait",
            "5s",
        ])
        .arg("--state-dir")
        .arg(fs.path())
        .env("XDG_CONFIG_HOME", fs.path())
        .env_remove("LVSD_CONFIG")
        .env_remove("LVSD_TOKEN")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .spawn()
        .expect("lvsd agent starts");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let view = loop {
        let view = server.get("/v1/clusters/web/directors/d1").await;
        if view.text.contains("agent: cannot write the cache") {
            break view;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the directors view never showed the agent's fault: {}",
            view.text
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    let _ = agent.kill();
    let _ = agent.wait();
    assert!(view.text.contains("Read-only file system"), "{}", view.text);
    let metrics = server.get("/metrics").await.expect(200);
    let line = metrics
        .text
        .lines()
        .find(|l| l.starts_with("lvsd_director_errors{") && l.contains("\"d1\""))
        .unwrap_or_else(|| panic!("no lvsd_director_errors for d1:\n{}", metrics.text));
    assert!(line.ends_with(" 1"), "{line}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_connections_to_the_grpc_port_are_closed_and_clients_get_through() {
    use tokio::io::AsyncReadExt;
    use tonic_health::pb::HealthCheckRequest;
    use tonic_health::pb::health_client::HealthClient;
    let db = common::TestDb::sqlite();
    let server = TestServer::start_with(&db, &["--max-connections", "50"]);
    let addr = server.grpc.strip_prefix("http://").unwrap().to_string();
    // More silent connections than the server takes: every place is held.
    let mut silent = Vec::new();
    for _ in 0..60 {
        silent.push(tokio::net::TcpStream::connect(&addr).await.unwrap());
    }
    let channel = tonic::transport::Endpoint::from_shared(server.grpc.clone())
        .unwrap()
        .connect_lazy();
    let mut health = HealthClient::new(channel);
    let answer = tokio::time::timeout(
        std::time::Duration::from_secs(45),
        health.check(HealthCheckRequest {
            service: String::new(),
        }),
    )
    .await
    .expect("a health check is answered while silent connections are open")
    .expect("serving");
    assert_eq!(answer.into_inner().status, 1, "SERVING");
    // The silent ones were closed by the server.
    let mut buf = [0u8; 16];
    let read = tokio::time::timeout(std::time::Duration::from_secs(30), silent[0].read(&mut buf))
        .await
        .expect("closed by the server");
    assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_polls_do_not_starve_health_checks_or_commits() {
    let db = common::TestDb::sqlite();
    let server = TestServer::start_with(&db, &["--max-in-flight", "8"]);
    server
        .post("/v1/clusters", json!({"name": "web"}))
        .await
        .expect(201);
    commit(&server, "web", spec_of(1, 1)).await.expect(201);
    let mut polls = Vec::new();
    for i in 0..20 {
        let url = server.url(&format!(
            "/v1/clusters/web/desired?director=d{i}&after=1&wait=40s"
        ));
        let client = server.client.clone();
        polls.push(tokio::spawn(async move { client.get(url).send().await }));
    }
    // Let them all arrive and wait.
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    let quick = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(20))
        .build()
        .unwrap();
    let health = quick
        .get(server.url("/healthz"))
        .send()
        .await
        .expect("/healthz answered while long polls wait");
    assert_eq!(health.status(), 200);
    let committed = quick
        .post(server.url("/v1/clusters/web/revisions"))
        .json(&json!({"message": "while polled", "spec": spec_of(2, 1)}))
        .send()
        .await
        .expect("a commit answered while long polls wait");
    assert_eq!(committed.status(), 201);
    for poll in polls {
        let answer = poll.await.unwrap().expect("the long poll is answered");
        assert_eq!(answer.status(), 200);
    }
}

/// A gRPC request body that announces a 20 MiB message, sends 1 KiB of it,
/// then nothing more.
struct Trickle {
    sent: bool,
}

impl hyper::body::Body for Trickle {
    type Data = hyper::body::Bytes;
    type Error = tonic::Status;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<Self::Data>, Self::Error>>> {
        if self.sent {
            return std::task::Poll::Pending;
        }
        self.sent = true;
        let mut frame = vec![0u8];
        frame.extend((20u32 << 20).to_be_bytes());
        frame.extend(vec![b'x'; 1024]);
        std::task::Poll::Ready(Some(Ok(hyper::body::Frame::data(frame.into()))))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_refuses_a_call_without_a_valid_token_before_reading_its_message() {
    use tower::ServiceExt;
    let db = common::TestDb::sqlite();
    let made = Command::new(env!("CARGO_BIN_EXE_lvsd"))
        .args([
            "token", "create", "--name", "admin", "--role", "admin", "--db",
        ])
        .arg(db.path())
        .output()
        .expect("lvsd token create runs");
    assert!(made.status.success(), "{made:?}");
    let server = TestServer::start_on(&db);
    let channel = tonic::transport::Endpoint::from_shared(server.grpc.clone())
        .unwrap()
        .connect()
        .await
        .expect("connects");
    for credentials in [None, Some("Bearer lvsd_0000000000000000_0000")] {
        let mut request = hyper::Request::builder()
            .method("POST")
            .uri(format!("{}/lvs.v1.LvsService/Commit", server.grpc))
            .header("content-type", "application/grpc")
            .header("te", "trailers");
        if let Some(value) = credentials {
            request = request.header("authorization", value);
        }
        let request = request
            .body(tonic::body::Body::new(Trickle { sent: false }))
            .unwrap();
        let response = tokio::time::timeout(
            std::time::Duration::from_secs(20),
            channel.clone().oneshot(request),
        )
        .await
        .expect("refused without waiting for the whole message")
        .expect("an answer");
        let status = response
            .headers()
            .get("grpc-status")
            .map(|v| v.to_str().unwrap().to_string());
        assert_eq!(
            status.as_deref(),
            Some("16"),
            "UNAUTHENTICATED: {response:?}"
        );
    }
}

/// A field of /proc/PID/status in KiB (`VmHWM`: the peak resident set).
fn proc_status_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("{field} in /proc/{pid}/status"))
}

#[tokio::test]
async fn a_spec_of_too_many_tiny_services_is_refused_before_it_is_built() {
    let server = TestServer::start();
    server
        .post("/v1/clusters", json!({"name": "web"}))
        .await
        .expect(201);
    let before = proc_status_kib(server.pid(), "VmRSS");
    // 300,000 services of a few bytes each: about 10 MB of JSON, under the
    // body limit; built whole, they would take hundreds of MB.
    let tiny = r#"{"id":"fwmark:1"}"#;
    let body = format!(
        r#"{{"message":"many","spec":{{"services":[{}]}}}}"#,
        vec![tiny; 300_000].join(",")
    );
    let refused = server
        .send_raw("POST", "/v1/clusters/web/revisions", &body)
        .await;
    assert_eq!(
        refused.status,
        400,
        "{}",
        &refused.text[..refused.text.len().min(500)]
    );
    assert!(
        refused.text.contains("more than 20000 virtual services"),
        "{}",
        refused.text
    );
    let peak = proc_status_kib(server.pid(), "VmHWM");
    assert!(
        peak.saturating_sub(before) < 100 * 1024,
        "the refusal took {} MiB",
        peak.saturating_sub(before) / 1024
    );
}
