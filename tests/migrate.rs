//! `lvsd migrate` creates and upgrades a database, and says what it did.

use std::process::Command;

mod common;

fn migrate(db: &std::path::Path) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_lvsd"))
        .arg("migrate")
        .arg("--db")
        .arg(db)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
    )
}

#[test]
fn migrate_applies_once_then_reports_up_to_date() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("lvsd.db");
    let (ok, first) = migrate(&db);
    assert!(ok, "{first}");
    assert!(
        first.contains("applied") && first.contains("migration"),
        "{first}"
    );
    let (ok, second) = migrate(&db);
    assert!(ok, "{second}");
    assert!(second.contains("is up to date"), "{second}");

    let (ok, broken) = migrate(&dir.path().join("missing-dir/lvsd.db"));
    assert!(
        !ok,
        "a database that cannot be created is an error: {broken}"
    );
    assert!(broken.contains("lvsd migrate"), "{broken}");
}

/// The canonical JSON and content hash lvsd stores for a spec document.
fn stored(doc: &serde_json::Value) -> (String, String) {
    let spec = lvsd::model::Spec::from_json(doc.to_string().as_bytes()).unwrap();
    (spec.to_canonical_json(), spec.content_hash())
}

/// A database as lvsd left it before migration 0004 (specs inline in the
/// clusters and revisions rows), holding:
/// - `web`: revisions 1 and 2, its draft equal to revision 2 (clean);
/// - `edge`: revision 1, its draft edited since (dirty);
/// - `copy`: no revision, its draft the same as `edge`'s.
async fn database_before_0004(db: &std::path::Path) -> (String, String, String) {
    let url = format!("sqlite://{}?mode=rwc", db.display());
    let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
    let mut migrator = sqlx::migrate::Migrator::new(std::path::Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/migrations/sqlite"
    )))
    .await
    .unwrap();
    migrator.migrations = migrator
        .migrations
        .iter()
        .filter(|m| m.version <= 3)
        .cloned()
        .collect::<Vec<_>>()
        .into();
    migrator.run(&pool).await.unwrap();

    let one = serde_json::json!({"services": []});
    let (one_json, one_hash) = stored(&one);
    let (two_json, two_hash) = stored(&common::nat_example());
    let mut edited = common::nat_example();
    edited["services"][0]["servers"][0]["weight"] = serde_json::json!(7);
    let (edited_json, _) = stored(&edited);
    let at = "2026-01-01T00:00:00.000Z";
    for (name, draft, version, active) in [
        ("web", &two_json, 3, Some(2)),
        ("edge", &edited_json, 5, Some(1)),
        ("copy", &edited_json, 2, None),
    ] {
        sqlx::query(
            "INSERT INTO clusters (name, uid, description, created_at, created_by, draft_spec, draft_version,
                                   draft_updated_at, draft_updated_by, active_revision)
             VALUES (?, ?, '', ?, 'alice', ?, ?, ?, 'bob', ?)",
        )
        .bind(name)
        .bind(format!("{name:0<32}"))
        .bind(at)
        .bind(draft)
        .bind(version)
        .bind(at)
        .bind(active)
        .execute(&pool)
        .await
        .unwrap();
    }
    for (cluster, number, json, hash) in [
        ("web", 1, &one_json, &one_hash),
        ("web", 2, &two_json, &two_hash),
        ("edge", 1, &two_json, &two_hash),
    ] {
        sqlx::query(
            "INSERT INTO revisions (cluster, number, parent, author, message, created_at, spec, content_hash, kind, rollback_of)
             VALUES (?, ?, ?, 'alice', 'before 0004', ?, ?, ?, 'commit', NULL)",
        )
        .bind(cluster)
        .bind(number)
        .bind((number > 1).then_some(number - 1))
        .bind(at)
        .bind(json)
        .bind(hash)
        .execute(&pool)
        .await
        .unwrap();
    }
    pool.close().await;
    (two_hash, edited_json, one_hash)
}

/// Migration 0004 moves the specs out of the clusters and revisions rows:
/// every draft, version (ETag) and revision reads back as before, and the
/// database keeps working for edits and commits.
#[tokio::test]
async fn migration_0004_keeps_drafts_and_revisions() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("lvsd.db");
    let (two_hash, edited_json, one_hash) = database_before_0004(&db).await;
    let (ok, out) = migrate(&db);
    assert!(ok, "{out}");
    // 0004 and every migration after it.
    let later = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations/sqlite"))
        .unwrap()
        .filter(|entry| {
            entry
                .as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .as_ref()
                >= "0004"
        })
        .count();
    assert!(
        out.contains(&format!("applied {later} migration(s)")),
        "{out}"
    );

    let server = common::TestServer::start_on(&db);
    let web = server.get("/v1/clusters/web").await.expect(200).body;
    assert_eq!(
        web["draft_etag"], "\"web00000.3\"",
        "the draft's version survives: {web}"
    );
    assert_eq!(web["draft_dirty"], false, "{web}");
    assert_eq!(web["active_revision"], 2);
    let edge = server.get("/v1/clusters/edge").await.expect(200).body;
    assert_eq!(edge["draft_etag"], "\"edge0000.5\"", "{edge}");
    assert_eq!(
        edge["draft_dirty"], true,
        "an edited draft stays dirty: {edge}"
    );
    let copy = server.get("/v1/clusters/copy").await.expect(200).body;
    assert_eq!(copy["draft_dirty"], true, "{copy}");

    let rev = server
        .get("/v1/clusters/web/revisions/2")
        .await
        .expect(200)
        .body;
    assert_eq!(rev["content_hash"], two_hash.as_str());
    assert_eq!(
        rev["spec"]["services"][0]["servers"][2]["weight"], 3,
        "{rev}"
    );
    let rev = server
        .get("/v1/clusters/web/revisions/1")
        .await
        .expect(200)
        .body;
    assert_eq!(rev["content_hash"], one_hash.as_str());
    assert_eq!(rev["services"], 0);
    let page = server
        .get("/v1/clusters/web/revisions")
        .await
        .expect(200)
        .body;
    assert_eq!(page["revisions"].as_array().unwrap().len(), 2, "{page}");

    let expected: serde_json::Value = serde_json::from_str(&edited_json).unwrap();
    for cluster in ["edge", "copy"] {
        let draft = server
            .get(&format!("/v1/clusters/{cluster}/draft"))
            .await
            .expect(200)
            .body;
        assert_eq!(draft["updated_by"], "bob");
        assert_eq!(
            draft["spec"]["services"][0]["servers"][0]["weight"], 7,
            "{draft}"
        );
        assert_eq!(
            draft["spec"]["services"][0]["servers"], expected["services"][0]["servers"],
            "the draft of {cluster} reads back as stored"
        );
    }

    // The carried-over drafts commit, with the hash lvsd computes for them,
    // and still edit independently of each other.
    let committed = server
        .post(
            "/v1/clusters/edge/revisions",
            serde_json::json!({"message": "after 0004"}),
        )
        .await
        .expect(201)
        .body;
    assert_eq!(committed["revision"]["number"], 2);
    assert_eq!(
        committed["revision"]["content_hash"],
        stored(&{
            let mut doc = common::nat_example();
            doc["services"][0]["servers"][0]["weight"] = serde_json::json!(7);
            doc
        })
        .1
        .as_str()
    );
    let patched = server
        .call(
            "PATCH",
            "/v1/clusters/copy/draft/services/tcp:192.168.31.100:80/servers/172.25.0.31:80",
            Some(serde_json::json!({"weight": 9})),
            None,
        )
        .await
        .expect(200);
    assert_eq!(patched.body["weight"], 9);
    let edge_draft = server.get("/v1/clusters/edge/draft").await.expect(200).body;
    assert_eq!(
        edge_draft["spec"]["services"][0]["servers"][0]["weight"], 7,
        "edge keeps its own draft"
    );
    assert_eq!(edge_draft["dirty"], false);
}
