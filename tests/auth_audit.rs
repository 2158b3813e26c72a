//! `lvsd audit verify` on a real audit log: it holds after a server's life of
//! changes and refusals, and it names the first entry once rows are edited,
//! deleted or reordered. Entries from before the chain are chained when the
//! database is migrated. (`verify` and the tampering work on the SQLite
//! file; listing entries through the API runs on PostgreSQL too.)

mod auth_support;
mod common;

use std::path::{Path, PathBuf};

use auth_support::{call, lvsd, make_token};
use common::{TestServer, both_backends, nat_example};
use serde_json::json;
use sqlx::sqlite::SqlitePool;

/// A database whose audit log holds changes and refusals made over REST and
/// gRPC by a real server, which is stopped before returning.
async fn lived_in(dir: &Path) -> PathBuf {
    let db = dir.join("lvsd.db");
    let admin = format!("Bearer {}", make_token(&db, "ada", "admin", None));
    let viewer = format!("Bearer {}", make_token(&db, "vera", "viewer", None));
    let server = TestServer::start_on(&db);
    let (base, client) = (&server.http, &server.client);
    let post = |path: &'static str, auth: &str, body: serde_json::Value| {
        let auth = auth.to_string();
        async move {
            call(client, base, "POST", path, Some(&auth), Some(&body))
                .await
                .0
        }
    };
    assert_eq!(
        post("/v1/clusters", &admin, json!({"name": "web"})).await,
        201
    );
    assert_eq!(
        post("/v1/clusters", &viewer, json!({"name": "nope"})).await,
        403
    );
    assert_eq!(
        call(client, base, "GET", "/v1/clusters", None, None)
            .await
            .0,
        401
    );
    assert_eq!(
        post(
            "/v1/clusters/web/revisions",
            &admin,
            json!({"message": "one", "spec": nat_example()})
        )
        .await,
        201
    );
    assert_eq!(
        post("/v1/clusters/web/revisions", &admin, json!({"message": ""})).await,
        400
    );
    assert_eq!(
        post("/v1/clusters/web/rollback", &admin, json!({"to": 1})).await,
        200
    );
    let mut grpc =
        lvsd::api::grpc::pb::lvs_service_client::LvsServiceClient::connect(server.grpc.clone())
            .await
            .unwrap();
    let mut request = tonic::Request::new(lvsd::api::grpc::pb::CreateClusterRequest {
        name: "db".into(),
        description: String::new(),
    });
    request
        .metadata_mut()
        .insert("authorization", admin.parse().unwrap());
    grpc.create_cluster(request).await.unwrap();
    drop(server);
    db
}

fn verify(db: &Path, extra: &[&str]) -> (i32, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_lvsd"))
        .args(["audit", "verify", "--db", db.to_str().unwrap()])
        .args(extra)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), text)
}

/// The head hash `verify` printed.
fn head(text: &str) -> String {
    text.split_whitespace().last().unwrap().to_string()
}

/// Runs SQL on the database as an intruder would: triggers dropped first.
async fn tamper(db: &Path, statements: &[&str]) {
    let pool = SqlitePool::connect(&format!("sqlite://{}", db.display()))
        .await
        .unwrap();
    sqlx::query("DROP TRIGGER IF EXISTS audit_log_no_update")
        .execute(&pool)
        .await
        .unwrap();
    sqlx::query("DROP TRIGGER IF EXISTS audit_log_no_delete")
        .execute(&pool)
        .await
        .unwrap();
    for statement in statements {
        sqlx::query(statement).execute(&pool).await.unwrap();
    }
    pool.close().await;
}

fn copy(db: &Path, name: &str) -> PathBuf {
    let to = db.with_file_name(name);
    std::fs::copy(db, &to).unwrap();
    to
}

#[tokio::test]
async fn verify_holds_on_a_real_log_and_names_the_first_bad_entry() {
    let dir = tempfile::tempdir().unwrap();
    let db = lived_in(dir.path()).await;
    // Fold the WAL into the main file so that copies carry everything.
    lvsd(&["migrate", "--db", db.to_str().unwrap()]);
    let pool = SqlitePool::connect(&format!("sqlite://{}", db.display()))
        .await
        .unwrap();
    sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
        .execute(&pool)
        .await
        .unwrap();
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM audit_log")
        .fetch_one(&pool)
        .await
        .unwrap();
    let refused: i64 =
        sqlx::query_scalar("SELECT count(*) FROM audit_log WHERE outcome = 'refused'")
            .fetch_one(&pool)
            .await
            .unwrap();
    pool.close().await;
    assert!(
        count >= 8 && refused >= 3,
        "{count} entries, {refused} refused"
    );

    let (code, text) = verify(&db, &[]);
    assert_eq!(code, 0, "{text}");
    assert!(
        text.contains(&format!("{count} entries, chain intact")),
        "{text}"
    );
    let good_head = head(&text);
    let (code, text) = verify(&db, &["--expect", &good_head]);
    assert_eq!(code, 0, "{text}");

    // The triggers refuse edits and deletions made through SQL.
    let pool = SqlitePool::connect(&format!("sqlite://{}", db.display()))
        .await
        .unwrap();
    let err = sqlx::query("UPDATE audit_log SET actor = 'x' WHERE id = 1")
        .execute(&pool)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("append-only"), "{err}");
    let err = sqlx::query("DELETE FROM audit_log WHERE id = 1")
        .execute(&pool)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("append-only"), "{err}");
    pool.close().await;

    let cases: [(&str, Vec<String>, &str); 6] = [
        (
            "edited",
            vec!["UPDATE audit_log SET actor = 'mallory' WHERE id = 5".into()],
            "entry 5: its fields do not match its hash",
        ),
        (
            "edited detail",
            vec!["UPDATE audit_log SET detail = detail || ' ' WHERE id = 7".into()],
            "entry 7: its fields do not match its hash",
        ),
        (
            "deleted",
            vec!["DELETE FROM audit_log WHERE id = 4".into()],
            "entry 5: it follows entry 3: entry 4 is missing",
        ),
        (
            "reordered",
            vec![
                "UPDATE audit_log SET id = -3 WHERE id = 3".into(),
                "UPDATE audit_log SET id = 3 WHERE id = 4".into(),
                "UPDATE audit_log SET id = 4 WHERE id = -3".into(),
            ],
            "entry 3:",
        ),
        (
            "renumbered after a deletion",
            vec![
                "DELETE FROM audit_log WHERE id = 2".into(),
                "UPDATE audit_log SET id = id - 1 WHERE id > 2".into(),
            ],
            "entry 2:",
        ),
        (
            "first deleted",
            vec!["DELETE FROM audit_log WHERE id = 1".into()],
            "entry 2: it is the first entry: entry 1 is missing",
        ),
    ];
    for (name, statements, expected) in cases {
        let copy = copy(&db, &format!("{}.db", name.replace(' ', "-")));
        let statements: Vec<&str> = statements.iter().map(String::as_str).collect();
        tamper(&copy, &statements).await;
        let (code, text) = verify(&copy, &[]);
        assert_eq!(code, 1, "{name}: {text}");
        assert!(
            text.contains(&format!("the chain breaks at {expected}")),
            "{name}: {text}"
        );
    }

    // Cutting entries off the end leaves a valid, shorter chain: only a head
    // kept elsewhere shows it.
    let cut = copy(&db, "cut.db");
    tamper(
        &cut,
        &[&format!("DELETE FROM audit_log WHERE id > {}", count - 2)],
    )
    .await;
    let (code, text) = verify(&cut, &[]);
    assert_eq!(code, 0, "{text}");
    let (code, text) = verify(&cut, &["--expect", &good_head]);
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("cut off the end"), "{text}");

    let (code, text) = verify(&dir.path().join("missing.db"), &[]);
    assert_eq!(code, 2, "{text}");
}

#[tokio::test]
async fn entries_from_before_the_chain_are_chained_when_migrating() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("old.db");
    // A database as lvsd left it before migration 0003.
    let early = dir.path().join("migrations");
    std::fs::create_dir(&early).unwrap();
    let all = Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations/sqlite");
    for entry in std::fs::read_dir(&all).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if name.as_str() < "0003" {
            std::fs::copy(&path, early.join(&name)).unwrap();
        }
    }
    let options = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(&db)
        .create_if_missing(true);
    let pool = SqlitePool::connect_with(options).await.unwrap();
    sqlx::migrate::Migrator::new(early.as_path())
        .await
        .unwrap()
        .run(&pool)
        .await
        .unwrap();
    for i in 1..=3 {
        sqlx::query(
            "INSERT INTO audit_log (at, actor, request_id, cluster, action, target, outcome, detail)
             VALUES ('2024-01-01T00:00:00.000Z', 'old', ?, 'web', 'cluster.create', 'web', 'ok', '{}')",
        )
        .bind(format!("r{i}"))
        .execute(&pool)
        .await
        .unwrap();
    }
    pool.close().await;

    let (ok, stdout, stderr) = lvsd(&["migrate", "--db", db.to_str().unwrap()]);
    assert!(ok, "{stdout}{stderr}");
    // New entries chain on after the old ones.
    make_token(&db, "ada", "admin", None);
    let (code, text) = verify(&db, &[]);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("4 entries, chain intact"), "{text}");

    tamper(
        &db,
        &["UPDATE audit_log SET actor = 'someone' WHERE id = 2"],
    )
    .await;
    let (code, text) = verify(&db, &[]);
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("breaks at entry 2"), "{text}");
}

both_backends! {
async fn lvsd_audit_lists_entries_through_the_api(db: TestDb) {
    let viewer = make_token(&db, "vera", "viewer", None);
    let agent = make_token(&db, "agent-web", "agent", Some("web"));
    let server = TestServer::start_on(&db);
    assert_eq!(call(&server.client, &server.http, "GET", "/v1/clusters", None, None).await.0, 401);

    let (ok, stdout, stderr) = lvsd(&["audit", "--server", &server.http, "--token", &viewer, "--action", "access.denied", "--output", "json"]);
    assert!(ok, "{stderr}");
    let entries: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(entries.as_array().unwrap().len(), 1, "{entries}");
    assert_eq!(entries[0]["actor"], "unauthenticated");

    let (ok, stdout, stderr) = lvsd(&["audit", "--server", &server.http, "--token", &viewer]);
    assert!(ok, "{stderr}");
    assert!(stdout.lines().next().unwrap().starts_with("ID  AT"), "{stdout}");
    assert!(stdout.contains("token.create") && stdout.contains("access.denied"), "{stdout}");

    // An agent may not read the audit log; the refusal is itself audited.
    let (ok, _, stderr) = lvsd(&["audit", "--server", &server.http, "--token", &agent]);
    assert!(!ok);
    assert!(stderr.contains("audit access"), "{stderr}");
    let (ok, stdout, _) = lvsd(&["audit", "--server", &server.http, "--token", &viewer, "--actor", "agent-web", "--output", "json"]);
    assert!(ok);
    assert!(stdout.contains("GET /v1/audit"), "{stdout}");
}
}
