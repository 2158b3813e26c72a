//! Tokens end to end: an open server, the first token closing it, every way a
//! token can be bad, secrets kept out of logs, audit and database, and an
//! open server refusing to listen beyond loopback; on SQLite and on
//! PostgreSQL (both_backends!).

mod auth_support;
mod common;

use std::io::{BufRead, BufReader, Read};
use std::process::{Command, Stdio};
use std::time::Duration;

use auth_support::{audit, call, lvsd, make_token};
use common::{TestServer, both_backends};
use serde_json::json;

both_backends! {
async fn an_open_server_serves_anyone_until_the_first_token(db: TestDb) {
    let server = TestServer::start_on(&db);
    let (base, client) = (&server.http, &server.client);

    let (status, body) = call(client, base, "POST", "/v1/clusters", None, Some(&json!({"name": "web"}))).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["created_by"], "anonymous");

    // A token made on the database while the server runs closes it.
    let admin = make_token(&db, "ada", "admin", None);
    let (status, body) = call(client, base, "GET", "/v1/clusters", None, None).await;
    assert_eq!(status, 401, "{body}");
    let bearer = format!("Bearer {admin}");
    let (status, body) = call(client, base, "POST", "/v1/clusters", Some(&bearer), Some(&json!({"name": "db"}))).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["created_by"], "ada");
    let entries = audit(client, base, &admin, "action=cluster.create").await;
    let actors: Vec<_> = entries.iter().map(|e| e["actor"].as_str().unwrap()).collect();
    assert_eq!(actors, ["ada", "anonymous"]);
    let entries = audit(client, base, &admin, "action=token.create").await;
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0]["target"], "ada");
    assert!(entries[0]["actor"].as_str().unwrap().starts_with("local:"), "{}", entries[0]);
}
}

both_backends! {
async fn bad_tokens_are_refused_saying_why(db: TestDb) {
    let admin = make_token(&db, "ada", "admin", None);
    let doomed = make_token(&db, "doomed", "viewer", None);
    let brief = {
        let (ok, stdout, stderr) = lvsd(&["token", "create", "--db", db.arg(), "--name", "brief", "--role", "viewer", "--expires-in", "1s"]);
        assert!(ok, "{stderr}");
        stdout.trim().to_string()
    };
    let server = TestServer::start_on(&db);
    let (base, client) = (&server.http, &server.client);
    let id = |token: &str| token.split('_').nth(1).unwrap().to_string();

    let (status, _) = call(client, base, "GET", "/v1/clusters", Some(&format!("Bearer {doomed}")), None).await;
    assert_eq!(status, 200);
    let (ok, _, stderr) = lvsd(&["token", "revoke", "doomed", "--db", db.arg()]);
    assert!(ok, "{stderr}");
    std::thread::sleep(Duration::from_millis(1100));

    let wrong_secret = format!("lvsd_{}_{}", id(&admin), "0".repeat(64));
    let cases = [
        (None, "needs an access token"),
        (Some(format!("Basic {admin}")), "bearer tokens only"),
        (Some("Bearer".to_string()), "bearer tokens only"),
        (Some("Bearer lvsd_nope".to_string()), "malformed"),
        (Some(format!("Bearer lvsd_{}_{}", "f".repeat(16), "0".repeat(64))), "not valid"),
        (Some(format!("Bearer {wrong_secret}")), "not valid"),
        (Some(format!("Bearer {doomed}")), "was revoked"),
        (Some(format!("Bearer {brief}")), "expired"),
    ];
    for (authorization, why) in &cases {
        let (status, body) = call(client, base, "GET", "/v1/clusters", authorization.as_deref(), None).await;
        assert_eq!(status, 401, "{authorization:?}: {body}");
        assert_eq!(body["error"]["code"], "unauthenticated");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(message.contains(why), "{authorization:?}: {message}");
    }
    // gRPC says the same.
    let mut grpc = lvsd::api::grpc::pb::lvs_service_client::LvsServiceClient::connect(server.grpc.clone()).await.unwrap();
    let mut request = tonic::Request::new(lvsd::api::grpc::pb::ListClustersRequest {});
    request.metadata_mut().insert("authorization", format!("Bearer {doomed}").parse().unwrap());
    let status = grpc.list_clusters(request).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::Unauthenticated);
    assert!(status.message().contains("was revoked"), "{}", status.message());

    // Each refusal is audited, with the public id of a token-shaped credential.
    let entries = audit(client, base, &admin, "action=access.denied").await;
    assert_eq!(entries.len(), cases.len() + 1);
    let with_id = |token: &str| entries.iter().any(|e| e["detail"]["token_id"] == id(token));
    assert!(with_id(&doomed) && with_id(&brief) && with_id(&wrong_secret));
    assert!(entries.iter().all(|e| e["actor"] == "unauthenticated" && e["outcome"] == "refused"));
}
}

both_backends! {
async fn secrets_stay_out_of_logs_audit_and_database(db: TestDb) {
    let dir = db.scratch();
    let admin = make_token(&db, "ada", "admin", None);
    let viewer = make_token(&db, "vera", "viewer", None);
    let log_path = dir.join("lvsd.log");
    let log = std::fs::File::create(&log_path).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_lvsd"))
        .args(["serve", "--init", "--http", "127.0.0.1:0", "--grpc", "127.0.0.1:0", "--db"])
        .arg(&db)
        .env("RUST_LOG", "trace")
        .stdout(Stdio::piped())
        .stderr(log)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let base = loop {
        let line = lines.next().expect("a banner").unwrap();
        if let Some(url) = line.strip_prefix("lvsd: REST API on ") {
            break url.to_string();
        }
    };
    let client = reqwest::Client::new();
    let bearer = format!("Bearer {admin}");
    let (status, _) = call(&client, &base, "POST", "/v1/clusters", Some(&bearer), Some(&json!({"name": "web"}))).await;
    assert_eq!(status, 201);
    let (status, _) = call(&client, &base, "DELETE", "/v1/clusters/web", Some(&format!("Bearer {viewer}")), None).await;
    assert_eq!(status, 403);
    // Change the secret's last hex digit (to another one, whatever it was).
    let last = if admin.ends_with('1') { '2' } else { '1' };
    let tampered = format!("Bearer {}{last}", &admin[..admin.len() - 1]);
    let (status, _) = call(&client, &base, "GET", "/v1/clusters", Some(&tampered), None).await;
    assert_eq!(status, 401);
    let entries = audit(&client, &base, &admin, "").await;
    let _ = child.kill();
    let _ = child.wait();

    let mut logged = String::new();
    std::fs::File::open(&log_path).unwrap().read_to_string(&mut logged).unwrap();
    assert!(logged.len() > 1000, "trace logging is on: {} bytes", logged.len());
    let (ok, listed, _) = lvsd(&["token", "list", "--json", "--db", db.arg()]);
    assert!(ok);
    // The SQLite files with the WAL, or a pg_dump of the database.
    let stored = db.stored_bytes();
    let stored = String::from_utf8_lossy(&stored);
    let audited = serde_json::to_string(&entries).unwrap();
    for token in [&admin, &viewer] {
        let secret = token.rsplit('_').next().unwrap();
        assert!(!logged.contains(secret), "a secret is in the server's log");
        assert!(!audited.contains(secret), "a secret is in the audit log");
        assert!(!listed.contains(secret), "a secret is in `lvsd token list`");
        assert!(!stored.contains(secret), "a secret is in the database");
    }
}
}

both_backends! {
async fn an_open_server_keeps_to_loopback_unless_allowed(db: TestDb) {
    let db = db.arg();
    let (ok, stdout, stderr) = lvsd(&["serve", "--init", "--db", db, "--http", "0.0.0.0:0", "--grpc", "127.0.0.1:0"]);
    assert!(!ok, "{stdout}");
    assert!(stderr.contains("refusing to serve an OPEN API on 0.0.0.0:0"), "{stderr}");
    assert!(stderr.contains("--allow-open"), "{stderr}");

    // With --allow-open it serves, and says so.
    let text = banner(db, &["--http", "0.0.0.0:0", "--allow-open"]);
    assert!(text.contains("access: OPEN"), "{text}");
    assert!(text.contains("WARNING: the API is OPEN"), "{text}");
    assert!(text.contains("WARNING: --allow-open"), "{text}");

    // A token closes it, and then it may listen anywhere (warning about clear text).
    make_token(db, "ada", "admin", None);
    let text = banner(db, &["--http", "0.0.0.0:0"]);
    assert!(text.contains("access: bearer tokens required"), "{text}");
    assert!(text.contains("WARNING: no TLS"), "{text}");
}
}

/// The start-up banner of `lvsd serve` with `args`, then the server is stopped.
fn banner(db: &str, args: &[&str]) -> String {
    let mut child = Command::new(env!("CARGO_BIN_EXE_lvsd"))
        .args(["serve", "--init", "--db", db, "--grpc", "127.0.0.1:0"])
        .args(args)
        .env("RUST_LOG", "error")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut text = String::new();
    for line in BufReader::new(child.stdout.take().unwrap()).lines() {
        let line = line.unwrap();
        text.push_str(&line);
        text.push('\n');
        if line.starts_with("lvsd: applying to the kernel") {
            break;
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    text
}
