//! Several lvsd servers on one PostgreSQL database: what one commits, the
//! others serve; concurrent writers on different servers never lose or
//! duplicate a revision, and the audit chain stays linear.

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{TestDb, TestServer, nat_example};
use serde_json::{Value, json};

/// How long the writers commit for.
const WRITING: Duration = Duration::from_secs(8);
const WRITERS: usize = 8;

/// A spec that no other writer commits: writer `writer`'s `n`th.
fn spec_of(writer: usize, n: usize) -> Value {
    let mut spec = nat_example();
    spec["services"][0]["servers"][0]["weight"] = json!(1 + writer * 5_000 + n);
    spec
}

/// What one writer did: its acknowledged commits `(number, message)`, and
/// how many commits were refused because another writer got there first.
#[derive(Default)]
struct Written {
    acknowledged: Vec<(i64, String)>,
    stale: usize,
}

/// Commits against `server` until `until`, each on the latest revision it
/// saw (`expected_base`), as an orchestrator would.
async fn write(server: Arc<TestServer>, writer: usize, until: Instant) -> Written {
    let mut written = Written::default();
    let mut n = 0;
    while Instant::now() < until {
        let cluster = server.get("/v1/clusters/web").await.expect(200);
        let base = cluster.body["latest_revision"].as_i64().unwrap_or(0);
        n += 1;
        let message = format!("writer {writer} commit {n}");
        let body = json!({"message": message, "spec": spec_of(writer, n), "expected_base": base});
        let reply = server.post("/v1/clusters/web/revisions", body).await;
        match reply.status {
            201 => {
                let number = reply.body["revision"]["number"]
                    .as_i64()
                    .expect("a revision number");
                written.acknowledged.push((number, message));
            }
            412 => written.stale += 1,
            other => panic!("writer {writer}: commit answered {other}: {}", reply.body),
        }
    }
    written
}

/// Every revision of `web` as `server` lists them, oldest first.
async fn all_revisions(server: &TestServer) -> Vec<Value> {
    let mut revisions = Vec::new();
    let mut before = String::new();
    loop {
        let page = server
            .get(&format!("/v1/clusters/web/revisions?limit=500{before}"))
            .await
            .expect(200);
        revisions.extend(page.body["revisions"].as_array().unwrap().iter().cloned());
        match page.body["next_before"].as_i64() {
            Some(next) => before = format!("&before={next}"),
            None => break,
        }
    }
    revisions.reverse();
    revisions
}

/// Every audit entry of `action`, newest first, page by page.
async fn audit_entries(server: &TestServer, action: &str) -> Vec<Value> {
    let mut entries = Vec::new();
    let mut before = String::new();
    loop {
        let page = server
            .get(&format!("/v1/audit?action={action}&limit=1000{before}"))
            .await
            .expect(200);
        let page = page.body.as_array().unwrap().clone();
        match page.last() {
            Some(last) => before = format!("&before={}", last["id"]),
            None => return entries,
        }
        entries.extend(page);
    }
}

/// `lvsd audit verify` on the shared database: its exit code and output.
fn verify_audit(db: &TestDb) -> (i32, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_lvsd"))
        .args(["audit", "verify", "--db", db.arg()])
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn eight_writers_on_two_servers_lose_and_duplicate_nothing() {
    let db = TestDb::postgres();
    let a = Arc::new(TestServer::start_on(&db));
    let b = Arc::new(TestServer::start_on(&db));
    a.post("/v1/clusters", json!({"name": "web"}))
        .await
        .expect(201);
    // What one server wrote, the other serves.
    b.get("/v1/clusters/web").await.expect(200);

    let until = Instant::now() + WRITING;
    let writers: Vec<_> = (0..WRITERS)
        .map(|writer| {
            let server = if writer % 2 == 0 {
                a.clone()
            } else {
                b.clone()
            };
            tokio::spawn(write(server, writer, until))
        })
        .collect();
    let mut acknowledged: BTreeMap<i64, String> = BTreeMap::new();
    let mut stale = 0;
    for writer in writers {
        let written = writer.await.unwrap();
        stale += written.stale;
        for (number, message) in written.acknowledged {
            if let Some(earlier) = acknowledged.insert(number, message.clone()) {
                panic!(
                    "revision {number} was acknowledged twice: to `{earlier}` and to `{message}`"
                );
            }
        }
    }
    assert!(
        acknowledged.len() > WRITERS,
        "the writers committed: {} commits",
        acknowledged.len()
    );

    for server in [&a, &b] {
        let revisions = all_revisions(server).await;
        let numbers: Vec<i64> = revisions
            .iter()
            .map(|r| r["number"].as_i64().unwrap())
            .collect();
        let expected: Vec<i64> = (1..=numbers.len() as i64).collect();
        assert_eq!(
            numbers, expected,
            "revision numbers are 1..N without gaps or duplicates"
        );
        assert_eq!(
            revisions.len(),
            acknowledged.len(),
            "every revision was acknowledged to a writer, and only once"
        );
        for revision in &revisions {
            let number = revision["number"].as_i64().unwrap();
            assert_eq!(
                revision["message"].as_str(),
                acknowledged.get(&number).map(String::as_str),
                "revision {number}"
            );
            let parent = revision["parent"].as_i64();
            assert_eq!(
                parent,
                (number > 1).then_some(number - 1),
                "revision {number} is based on the one before"
            );
        }
        let active = server.get("/v1/clusters/web").await.body["active_revision"].as_i64();
        assert_eq!(
            active,
            Some(acknowledged.len() as i64),
            "both servers see the last commit active"
        );
    }

    let commits = audit_entries(&a, "revision.commit").await;
    let audited: BTreeMap<i64, String> = commits
        .iter()
        .filter(|e| e["outcome"] == "ok")
        .map(|e| {
            (
                e["target"].as_str().unwrap().parse().unwrap(),
                e["actor"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        audited.keys().collect::<Vec<_>>(),
        acknowledged.keys().collect::<Vec<_>>(),
        "each commit is audited once"
    );
    let refused = commits.iter().filter(|e| e["outcome"] != "ok").count();
    assert_eq!(refused, stale, "each stale commit is audited as refused");
    let (code, text) = verify_audit(&db);
    assert_eq!(code, 0, "the audit chain verifies: {text}");
    println!(
        "two servers, {WRITERS} writers, {} s: {} commits acknowledged, {stale} refused as stale (412), \
         revisions 1..{} without gaps or duplicates on both servers; {}",
        WRITING.as_secs(),
        acknowledged.len(),
        acknowledged.len(),
        text.trim()
    );
}

#[tokio::test]
async fn a_long_poll_on_one_server_answers_a_commit_made_on_the_other() {
    let db = TestDb::postgres();
    let a = TestServer::start_on(&db);
    let b = TestServer::start_on(&db);
    a.post("/v1/clusters", json!({"name": "web"}))
        .await
        .expect(201);
    a.post(
        "/v1/clusters/web/revisions",
        json!({"message": "first", "spec": nat_example()}),
    )
    .await
    .expect(201);

    let url = a.url("/v1/clusters/web/desired?director=lb-1&after=1&wait=30s");
    let poll = tokio::spawn(async move {
        let reply = reqwest::get(url).await.unwrap();
        (
            reply.status().as_u16(),
            reply.json::<Value>().await.unwrap(),
            Instant::now(),
        )
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    let committed = Instant::now();
    b.post(
        "/v1/clusters/web/revisions",
        json!({"message": "second", "spec": spec_of(0, 1)}),
    )
    .await
    .expect(201);
    let (status, desired, answered) = poll.await.unwrap();
    assert_eq!(status, 200);
    assert_eq!(
        desired["revision"], 2,
        "server A answers with the revision committed on B: {desired}"
    );
    assert_eq!(desired["spec"]["services"][0]["servers"][0]["weight"], 2);
    println!(
        "a long-poll on server A answered B's commit {:?} after it was acknowledged",
        answered - committed
    );
}

/// A long-poll for `director` on `server`, asking for something other than `after`.
fn long_poll(server: &TestServer, after: i64) -> tokio::task::JoinHandle<(u16, Value)> {
    let url = server.url(&format!(
        "/v1/clusters/web/desired?director=lb-1&after={after}&wait=30s"
    ));
    tokio::spawn(async move {
        let reply = reqwest::get(url).await.unwrap();
        (
            reply.status().as_u16(),
            reply.json::<Value>().await.unwrap(),
        )
    })
}

#[tokio::test]
async fn a_change_no_notice_announced_is_found_by_the_servers_own_look() {
    let db = TestDb::postgres();
    let a = TestServer::start_on(&db);
    let b = TestServer::start_on(&db);
    a.post("/v1/clusters", json!({"name": "web"}))
        .await
        .expect(201);
    a.post(
        "/v1/clusters/web/revisions",
        json!({"message": "first", "spec": nat_example()}),
    )
    .await
    .expect(201);
    a.post(
        "/v1/clusters/web/revisions",
        json!({"message": "second", "spec": spec_of(0, 1)}),
    )
    .await
    .expect(201);

    // A server that committed and died before its notice: the change is in
    // the database (here written by hand, with its audit entry), and no
    // NOTIFY follows.
    let poll = long_poll(&b, 2);
    tokio::time::sleep(Duration::from_millis(500)).await;
    common::psql(
        db.arg(),
        "BEGIN;
         UPDATE clusters SET active_revision = 1 WHERE name = 'web';
         INSERT INTO audit_log (id, at, actor, request_id, cluster, action, target, outcome, detail)
         SELECT max(id) + 1, '2026-01-01T00:00:00.000Z', 'test', 'r', 'web', 'revision.activate', '1', 'ok', '{}' FROM audit_log;
         COMMIT;",
    );
    let changed = Instant::now();
    let (status, desired) = tokio::time::timeout(Duration::from_secs(20), poll)
        .await
        .expect("answered")
        .unwrap();
    assert_eq!(status, 200);
    assert_eq!(
        desired["revision"], 1,
        "server B found the change by itself: {desired}"
    );
    println!(
        "a change without a notice reached a long-poll on another server after {:?}",
        changed.elapsed()
    );
}

#[tokio::test]
async fn tokens_and_drafts_are_shared_and_etags_hold_across_servers() {
    let db = TestDb::postgres();
    let a = TestServer::start_on(&db);
    let b = TestServer::start_on(&db);
    a.post("/v1/clusters", json!({"name": "web"}))
        .await
        .expect(201);
    a.call("PUT", "/v1/clusters/web/draft", Some(nat_example()), None)
        .await
        .expect(200);
    let etag_a = a.get("/v1/clusters/web/draft").await.etag.unwrap();
    let etag_b = b.get("/v1/clusters/web/draft").await.etag.unwrap();
    assert_eq!(etag_a, etag_b, "both servers name the draft alike");
    // B changes the draft; A's ETag is stale on A as on B.
    b.call(
        "PUT",
        "/v1/clusters/web/draft",
        Some(spec_of(1, 1)),
        Some(&etag_b),
    )
    .await
    .expect(200);
    a.call(
        "PUT",
        "/v1/clusters/web/draft",
        Some(spec_of(2, 1)),
        Some(&etag_a),
    )
    .await
    .expect(412);
    let draft = a.get("/v1/clusters/web/draft").await.expect(200);
    assert_eq!(
        draft.body["spec"]["services"][0]["servers"][0]["weight"], 5_002,
        "B's edit stands: {}",
        draft.body
    );
}

/// `lvsd` with `args`: whether it succeeded, and what it printed (stdout, stderr).
fn lvsd(args: &[&str]) -> (bool, String, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_lvsd"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test]
async fn lvsd_migrate_moves_a_sqlite_history_into_postgres_whole() {
    let sqlite = TestDb::sqlite();
    let mut old = TestServer::start_on(&sqlite);
    old.post("/v1/clusters", json!({"name": "web"}))
        .await
        .expect(201);
    for n in 1..=3 {
        old.post(
            "/v1/clusters/web/revisions",
            json!({"message": format!("commit {n}"), "spec": spec_of(0, n)}),
        )
        .await
        .expect(201);
    }
    old.post(
        "/v1/clusters/web/rollback",
        json!({"to": 1, "message": "back"}),
    )
    .await
    .expect(201);
    old.call("PUT", "/v1/clusters/web/draft", Some(spec_of(1, 1)), None)
        .await
        .expect(200);
    let revisions = all_revisions(&old).await;
    let draft = old.get("/v1/clusters/web/draft").await.expect(200);
    old.terminate();
    let (ok, token, stderr) = lvsd(&[
        "token",
        "create",
        "--db",
        sqlite.arg(),
        "--name",
        "ops",
        "--role",
        "admin",
    ]);
    assert!(ok, "{stderr}");
    let token = token.trim().to_string();
    let (_, sqlite_audit) = verify_audit(&sqlite);

    let postgres = TestDb::postgres();
    let (ok, out, stderr) = lvsd(&["migrate", "--db", sqlite.arg(), "--to", postgres.arg()]);
    assert!(ok, "lvsd migrate --to: {stderr}");
    assert!(
        out.contains(&format!("copied {} row(s) of revisions", revisions.len())),
        "{out}"
    );
    assert!(out.contains("copied 1 row(s) of tokens"), "{out}");
    let (code, postgres_audit) = verify_audit(&postgres);
    assert_eq!(code, 0, "{postgres_audit}");
    let head = |text: &str| text.split_whitespace().last().unwrap().to_string();
    assert_eq!(
        head(&postgres_audit),
        head(&sqlite_audit),
        "the chain carries over to the same head"
    );

    // The copy serves what the original did, to the same token.
    let new = TestServer::start_on(&postgres);
    let client = reqwest::Client::new();
    let get = |path: &str| {
        let (request, path) = (
            client.get(new.url(path)).bearer_auth(&token),
            path.to_string(),
        );
        async move {
            let reply = request.send().await.unwrap();
            assert_eq!(reply.status(), 200, "{path}");
            (
                reply
                    .headers()
                    .get("etag")
                    .map(|v| v.to_str().unwrap().to_string()),
                reply.json::<Value>().await.unwrap(),
            )
        }
    };
    assert_eq!(
        get("/v1/clusters/web/revisions?limit=500").await.1["revisions"]
            .as_array()
            .unwrap()
            .len(),
        revisions.len()
    );
    for revision in &revisions {
        let number = revision["number"].as_i64().unwrap();
        let (_, copied) = get(&format!("/v1/clusters/web/revisions/{number}")).await;
        assert_eq!(copied["message"], revision["message"], "revision {number}");
        assert_eq!(
            copied["content_hash"], revision["content_hash"],
            "revision {number}"
        );
    }
    let (etag, copied_draft) = get("/v1/clusters/web/draft").await;
    assert_eq!(copied_draft["spec"], draft.body["spec"]);
    assert_eq!(
        etag, draft.etag,
        "an ETag issued before the move still matches"
    );
    assert_eq!(get("/v1/clusters/web").await.1["active_revision"], 4);
    // New specs get new ids after the copied ones.
    let reply = client
        .post(new.url("/v1/clusters/web/revisions"))
        .bearer_auth(&token)
        .json(&json!({"message": "after the move", "spec": spec_of(2, 1)}))
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), 201);

    // A second copy into the same database is refused and changes nothing.
    let (ok, _, stderr) = lvsd(&["migrate", "--db", sqlite.arg(), "--to", postgres.arg()]);
    assert!(!ok);
    assert!(
        stderr.contains("already has") && stderr.contains("empty database"),
        "{stderr}"
    );
    assert_eq!(
        get("/v1/clusters/web/revisions?limit=500").await.1["revisions"]
            .as_array()
            .unwrap()
            .len(),
        revisions.len() + 1
    );
}

#[tokio::test]
async fn the_database_password_is_never_printed() {
    let db = TestDb::postgres();
    // The test server trusts local connections: any password does.
    let url = db
        .arg()
        .replacen("postgres://postgres@", "postgres://postgres:hunter2@", 1);
    assert!(url.contains(":hunter2@"), "{url}");
    let server = TestServer::start_on(&url);
    assert!(
        server
            .banner
            .iter()
            .any(|line| line.contains("postgres:***@")),
        "{:?}",
        server.banner
    );
    assert!(
        server.banner.iter().all(|line| !line.contains("hunter2")),
        "{:?}",
        server.banner
    );
    for args in [
        vec!["audit", "verify", "--db", &url],
        vec!["migrate", "--db", &url],
    ] {
        let (ok, out, err) = lvsd(&args);
        assert!(ok, "{args:?}: {err}");
        assert!(
            !out.contains("hunter2") && !err.contains("hunter2"),
            "{args:?}: {out}{err}"
        );
    }
    // Nor when it fails.
    let (ok, out, err) = lvsd(&["migrate", "--db", &format!("{url}_nowhere")]);
    assert!(!ok);
    assert!(
        !out.contains("hunter2") && !err.contains("hunter2"),
        "{out}{err}"
    );
}

/// A director's counters for `web`'s service, `conns` connections scheduled.
fn counters(at: &str, conns: u64) -> Value {
    let traffic = |conns: u64| {
        json!({"conns": conns, "in_packets": 10 * conns, "out_packets": 9 * conns, "in_bytes": 1_000 * conns,
               "out_bytes": 900 * conns, "cps": 1, "in_pps": 2, "out_pps": 3, "in_bps": 4, "out_bps": 5})
    };
    json!({"at": at, "services": [{"service": "tcp:192.168.31.100:80", "traffic": traffic(conns), "servers": [
        {"server": "172.25.0.31:80", "weight": 1, "active_conns": 2, "inactive_conns": 1, "persistent_conns": 0, "traffic": traffic(conns)},
    ]}]})
}

/// What `server` shows of director `director`'s live reports: counters,
/// health, host errors (`null` where none).
async fn live_of(server: &TestServer, director: &str) -> (Value, Value, Value) {
    let counters = server
        .get("/v1/clusters/web/counters")
        .await
        .expect(200)
        .body;
    let health = server.get("/v1/clusters/web/health").await.expect(200).body;
    let view = server
        .get(&format!("/v1/clusters/web/directors/{director}"))
        .await
        .expect(200)
        .body;
    let listed = server
        .get("/v1/clusters/web/directors")
        .await
        .expect(200)
        .body;
    assert_eq!(
        listed[0]["host_errors"], view["host_errors"],
        "the list shows the director as its own view does"
    );
    (counters, health, view["host_errors"].clone())
}

#[tokio::test]
async fn what_an_agent_reports_to_one_server_the_other_shows() {
    let db = TestDb::postgres();
    let a = TestServer::start_on(&db);
    let b = TestServer::start_on(&db);
    a.post("/v1/clusters", json!({"name": "web"}))
        .await
        .expect(201);
    a.post(
        "/v1/clusters/web/revisions",
        json!({"message": "first", "spec": nat_example()}),
    )
    .await
    .expect(201);

    // The agent reports to A: counters, its real servers' health, failing host settings.
    let health = json!([{"service": "tcp:192.168.31.100:80", "degraded": false, "healthy_servers": 1, "servers_total": 2,
    "servers": [
        {"server": "172.25.0.31:80", "check": "tcp", "healthy": true, "effective_weight": 1,
         "consecutive_successes": 7, "consecutive_failures": 0, "checks": 7},
        {"server": "172.25.0.32:80", "check": "tcp", "healthy": false, "consecutive_successes": 0,
         "consecutive_failures": 3, "failing_since": "2026-01-01T00:00:00.000Z", "last_error": "connect: connection refused", "checks": 7},
    ]}]);
    let report = json!({
        "agent_version": "lvsd 0.1.0", "applied_revision": 1, "report_interval_secs": 10,
        "counters": counters("2026-01-01T00:00:01.000Z", 42), "health": health,
        "host_errors": ["host settings (director): sysctl net.ipv4.vs.conntrack: permission denied"],
    });
    a.call("PUT", "/v1/clusters/web/directors/lb-1", Some(report), None)
        .await
        .expect(200);

    let on_a = live_of(&a, "lb-1").await;
    let on_b = live_of(&b, "lb-1").await;
    assert_eq!(on_a, on_b, "B shows what the agent reported to A");
    let (counters_b, health_b, host_errors_b) = on_b;
    assert_eq!(counters_b[0]["director"], "lb-1", "{counters_b}");
    assert_eq!(
        counters_b[0]["counters"]["services"][0]["traffic"]["conns"], 42,
        "{counters_b}"
    );
    assert_eq!(health_b[0]["director"], "lb-1", "{health_b}");
    assert_eq!(
        health_b[0]["services"][0]["servers"][1]["last_error"], "connect: connection refused",
        "{health_b}"
    );
    assert!(
        host_errors_b[0]
            .as_str()
            .unwrap()
            .contains("permission denied"),
        "{host_errors_b}"
    );

    // It fails over to B: a heartbeat with new counters and fixed host
    // settings. A shows that; the health it did not report again stands.
    let heartbeat = json!({"agent_version": "lvsd 0.1.0", "applied_revision": 1, "report_interval_secs": 10,
        "counters": counters("2026-01-01T00:00:11.000Z", 50)});
    b.call(
        "PUT",
        "/v1/clusters/web/directors/lb-1",
        Some(heartbeat),
        None,
    )
    .await
    .expect(200);
    let on_a = live_of(&a, "lb-1").await;
    assert_eq!(
        on_a,
        live_of(&b, "lb-1").await,
        "both servers show the newest report"
    );
    let (counters_a, health_a, host_errors_a) = on_a;
    assert_eq!(
        counters_a[0]["counters"]["services"][0]["traffic"]["conns"], 50,
        "{counters_a}"
    );
    assert_eq!(health_a, health_b, "the health reported to A stands");
    assert_eq!(
        host_errors_a,
        Value::Null,
        "fixed host settings clear the errors on A too"
    );

    // Both servers' metrics count the director's traffic.
    for server in [&a, &b] {
        let metrics = reqwest::get(server.url("/metrics"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(
            metrics
                .lines()
                .any(|l| l.starts_with("lvsd_virtual_service_connections")
                    && l.contains("director=\"lb-1\"")
                    && l.ends_with(" 50")),
            "{metrics}"
        );
    }

    // Deleting the cluster on B deletes what its directors reported: a
    // cluster of the same name starts with nothing on A.
    b.call("DELETE", "/v1/clusters/web?force=true", None, None)
        .await
        .expect(204);
    a.post("/v1/clusters", json!({"name": "web"}))
        .await
        .expect(201);
    a.post(
        "/v1/clusters/web/revisions",
        json!({"message": "again", "spec": nat_example()}),
    )
    .await
    .expect(201);
    assert_eq!(
        a.get("/v1/clusters/web/counters").await.expect(200).body,
        json!([])
    );
    assert_eq!(
        b.get("/v1/clusters/web/health").await.expect(200).body,
        json!([])
    );
}
