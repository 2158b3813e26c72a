//! The REST API, driven over HTTP against a real `lvsd serve`, on SQLite and
//! on PostgreSQL (both_backends!).

mod common;

use common::{TestDb, TestServer, both_backends, nat_example};
use serde_json::{Value, json};

const SVC: &str = "/v1/clusters/web/draft/services/tcp:192.168.31.100:80";

async fn server_with_cluster(db: &TestDb) -> TestServer {
    let server = TestServer::start_on(db);
    server
        .post(
            "/v1/clusters",
            json!({"name": "web", "description": "front end"}),
        )
        .await
        .expect(201);
    server
}

fn weights(spec: &Value) -> Vec<(String, u64)> {
    spec["services"][0]["servers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["id"].as_str().unwrap().to_string(),
                s["weight"].as_u64().unwrap(),
            )
        })
        .collect()
}

both_backends! {
async fn nat_example_built_piece_by_piece(db: TestDb) {
    let server = server_with_cluster(&db).await;
    let created = server
        .post("/v1/clusters/web/draft/services", json!({"protocol": "tcp", "address": "192.168.31.100", "port": 80, "scheduler": "wrr"}))
        .await
        .expect(201);
    assert_eq!(created.body["id"], "tcp:192.168.31.100:80");
    for (i, weight) in [(31, 1), (32, 2), (33, 3)] {
        let rs = server
            .post(&format!("{SVC}/servers"), json!({"address": format!("172.25.0.{i}"), "forwarding": "nat", "weight": weight}))
            .await
            .expect(201);
        assert_eq!(rs.body["id"], format!("172.25.0.{i}:80"));
    }
    let draft = server.get("/v1/clusters/web/draft").await.expect(200);
    assert_eq!(draft.body["dirty"], true);
    let commit = server.post("/v1/clusters/web/revisions", json!({"message": "classic LVS-NAT"})).await.expect(201);
    assert_eq!(commit.body["revision"]["number"], 1);
    assert_eq!(commit.body["revision"]["active"], true);

    // The revision holds exactly the NAT example, as if given whole.
    let revision = server.get("/v1/clusters/web/revisions/1").await.expect(200);
    let whole = server.post("/v1/clusters/other", json!({})).await;
    assert_eq!(whole.status, 405, "POST on a cluster is not an operation");
    server.post("/v1/clusters", json!({"name": "other"})).await.expect(201);
    let other = server
        .post("/v1/clusters/other/revisions", json!({"message": "whole", "spec": nat_example()}))
        .await
        .expect(201);
    assert_eq!(revision.body["spec"], other.body["revision"]["spec"]);
    assert_eq!(revision.body["content_hash"], other.body["revision"]["content_hash"]);
    assert_eq!(
        weights(&revision.body["spec"]),
        [("172.25.0.31:80".into(), 1), ("172.25.0.32:80".into(), 2), ("172.25.0.33:80".into(), 3)]
    );

    let cluster = server.get("/v1/clusters/web").await.expect(200);
    assert_eq!(cluster.body["active_revision"], 1);
    assert_eq!(cluster.body["draft_dirty"], false);

    let audit = server.get("/v1/audit?cluster=web").await.expect(200);
    let actions: Vec<_> = audit.body.as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap().to_string()).collect();
    assert_eq!(
        actions,
        ["revision.commit", "draft.server.add", "draft.server.add", "draft.server.add", "draft.service.add", "cluster.create"]
    );
}
}

both_backends! {
async fn diff_and_rollback_never_rewrite_history(db: TestDb) {
    let server = server_with_cluster(&db).await;
    server.post("/v1/clusters/web/revisions", json!({"message": "nat", "spec": nat_example()})).await.expect(201);
    let draft = server.get("/v1/clusters/web/draft").await.expect(200);
    server
        .call("PATCH", &format!("{SVC}/servers/172.25.0.32:80"), Some(json!({"weight": 7})), draft.etag.as_deref())
        .await
        .expect(200);
    server
        .call("PATCH", SVC, Some(json!({"scheduler": "wlc", "persistence": {"timeout": 600}})), None)
        .await
        .expect(200);
    server.post("/v1/clusters/web/revisions", json!({"message": "heavier rs2"})).await.expect(201);

    let diff = server.get("/v1/clusters/web/revisions/2/diff").await.expect(200);
    assert_eq!(diff.body["from"], 1);
    let changed = &diff.body["diff"]["services_changed"][0];
    assert_eq!(changed["id"], "tcp:192.168.31.100:80");
    assert_eq!(changed["changes"], json!([
        {"field": "persistence", "to": {"timeout": 600, "netmask": 32}},
        {"field": "scheduler", "from": "wrr", "to": "wlc"}
    ]));
    assert_eq!(changed["servers_changed"], json!([{"id": "172.25.0.32:80", "changes": [{"field": "weight", "from": 2, "to": 7}]}]));
    let reverse = server.get("/v1/clusters/web/revisions/1/diff?against=2").await.expect(200);
    assert_eq!(reverse.body["diff"]["services_changed"][0]["servers_changed"][0]["changes"][0]["to"], 2);

    let rollback = server.post("/v1/clusters/web/rollback", json!({"to": 1})).await.expect(201);
    let rev3 = &rollback.body["revision"];
    assert_eq!((rev3["number"].as_i64(), rev3["kind"].as_str(), rev3["rollback_of"].as_i64()), (Some(3), Some("rollback"), Some(1)));
    let rev1 = server.get("/v1/clusters/web/revisions/1").await.expect(200);
    assert_eq!(rev3["spec"], rev1.body["spec"]);
    assert_eq!(rev3["content_hash"], rev1.body["content_hash"]);
    // Revision 2 is still there, unchanged.
    let rev2 = server.get("/v1/clusters/web/revisions/2").await.expect(200);
    assert_eq!(weights(&rev2.body["spec"])[1].1, 7);
    let draft = server.get("/v1/clusters/web/draft").await.expect(200);
    assert_eq!(draft.body["spec"], rev1.body["spec"]);
    let list = server.get("/v1/clusters/web/revisions").await.expect(200);
    let numbers: Vec<_> = list.body["revisions"].as_array().unwrap().iter().map(|r| r["number"].as_i64().unwrap()).collect();
    assert_eq!(numbers, [3, 2, 1]);
    assert_eq!(list.body["revisions"][0]["active"], true);

    // Paging.
    let page = server.get("/v1/clusters/web/revisions?limit=2").await.expect(200);
    assert_eq!(page.body["next_before"], 2);
    let next = server.get("/v1/clusters/web/revisions?limit=2&before=2").await.expect(200);
    assert_eq!(next.body["revisions"][0]["number"], 1);
    assert_eq!(next.body["next_before"], Value::Null);
}
}

both_backends! {
async fn two_writers_with_one_etag_exactly_one_wins(db: TestDb) {
    let server = server_with_cluster(&db).await;
    server.call("PUT", "/v1/clusters/web/draft", Some(nat_example()), None).await.expect(200);
    let etag = server.get("/v1/clusters/web/draft").await.expect(200).etag.unwrap();

    let rs = |n: u8| format!("{SVC}/servers/172.25.0.3{n}:80");
    let (rs1, rs2) = (rs(1), rs(2));
    let (a, b) = tokio::join!(
        server.call("PATCH", &rs1, Some(json!({"weight": 10})), Some(&etag)),
        server.call("PATCH", &rs2, Some(json!({"weight": 20})), Some(&etag)),
    );
    let mut statuses = [a.status, b.status];
    statuses.sort();
    assert_eq!(statuses, [200, 412], "{} / {}", a.text, b.text);
    let loser = if a.status == 412 { &a } else { &b };
    assert_eq!(loser.body["error"]["code"], "precondition_failed");

    // The winner's change is kept; the loser rereads and reapplies: nothing lost.
    let draft = server.get("/v1/clusters/web/draft").await.expect(200);
    let (lost_path, lost_weight) = if a.status == 412 { (rs(1), 10) } else { (rs(2), 20) };
    server.call("PATCH", &lost_path, Some(json!({"weight": lost_weight})), draft.etag.as_deref()).await.expect(200);
    let draft = server.get("/v1/clusters/web/draft").await.expect(200);
    let w = weights(&draft.body["spec"]);
    assert_eq!((w[0].1, w[1].1, w[2].1), (10, 20, 3));

    // The same race on whole-draft replacement.
    let etag = draft.etag.unwrap();
    let (a, b) = tokio::join!(
        server.call("PUT", "/v1/clusters/web/draft", Some(json!({"services": []})), Some(&etag)),
        server.call("PUT", "/v1/clusters/web/draft", Some(nat_example()), Some(&etag)),
    );
    let mut statuses = [a.status, b.status];
    statuses.sort();
    assert_eq!(statuses, [200, 412]);
}
}

both_backends! {
async fn commits_are_compare_and_swap_and_safe_to_retry(db: TestDb) {
    let server = server_with_cluster(&db).await;
    let first = json!({"message": "first", "spec": nat_example(), "expected_base": 0});
    server.post("/v1/clusters/web/revisions", first.clone()).await.expect(201);
    // The same request again (a retry after a lost reply) returns the same revision.
    let retry = server.post("/v1/clusters/web/revisions", first).await.expect(200);
    assert_eq!((retry.body["created"].as_bool(), retry.body["revision"]["number"].as_i64()), (Some(false), Some(1)));

    // A commit on a stale base is refused and writes nothing.
    let mut changed = nat_example();
    changed["services"][0]["scheduler"] = json!("rr");
    let stale = server.post("/v1/clusters/web/revisions", json!({"message": "x", "spec": changed, "expected_base": 0})).await.expect(412);
    assert_eq!(stale.body["error"]["code"], "precondition_failed");
    let second = server.post("/v1/clusters/web/revisions", json!({"message": "rr", "spec": changed, "expected_base": 1})).await.expect(201);
    assert_eq!(second.body["revision"]["number"], 2);

    // Committing an unchanged draft returns the latest revision, documented as 200.
    let same = server.post("/v1/clusters/web/revisions", json!({"message": "again"})).await.expect(200);
    assert_eq!((same.body["created"].as_bool(), same.body["revision"]["number"].as_i64()), (Some(false), Some(2)));

    // A draft commit with If-Match of an older draft is refused.
    let old = server.get("/v1/clusters/web/draft").await.etag.unwrap();
    server.call("DELETE", &format!("{SVC}/servers/172.25.0.31:80"), None, None).await.expect(204);
    server.call("POST", "/v1/clusters/web/revisions", Some(json!({"message": "m"})), Some(&old)).await.expect(412);

    // Without activation the active revision stays, until activated.
    let inactive = server.post("/v1/clusters/web/revisions", json!({"message": "later", "activate": false})).await.expect(201);
    assert_eq!(inactive.body["revision"]["active"], false);
    assert_eq!(server.get("/v1/clusters/web").await.body["active_revision"], 2);
    server.post("/v1/clusters/web/revisions/3/activate", json!({})).await.expect(200);
    assert_eq!(server.get("/v1/clusters/web").await.body["active_revision"], 3);
    server.post("/v1/clusters/web/revisions/1/activate", json!({})).await.expect(409);
}
}

both_backends! {
async fn delete_refuses_an_active_cluster_unless_forced(db: TestDb) {
    let server = server_with_cluster(&db).await;
    server.post("/v1/clusters/web/revisions", json!({"message": "nat", "spec": nat_example()})).await.expect(201);
    let refused = server.call("DELETE", "/v1/clusters/web", None, None).await.expect(409);
    assert!(refused.body["error"]["message"].as_str().unwrap().contains("active revision 1"));
    server.call("DELETE", "/v1/clusters/web?force=true", None, None).await.expect(204);
    server.get("/v1/clusters/web").await.expect(404);
    // A new cluster of the same name starts afresh.
    server.post("/v1/clusters", json!({"name": "web"})).await.expect(201);
    let list = server.get("/v1/clusters/web/revisions").await.expect(200);
    assert_eq!(list.body["revisions"], json!([]));
    server.post("/v1/clusters", json!({"name": "web"})).await.expect(409);
}
}

both_backends! {
/// Every kind of bad input gets 400 naming the field, and changes nothing.
async fn bad_input_is_refused_with_the_field_and_writes_nothing(db: TestDb) {
    let server = server_with_cluster(&db).await;
    server.call("PUT", "/v1/clusters/web/draft", Some(nat_example()), None).await.expect(200);
    let before = server.get("/v1/clusters/web/draft").await.expect(200);
    let audit_before = server.get("/v1/audit?limit=1000").await.body.as_array().unwrap().len();

    let spec_with = |service: Value| json!({"services": [service]});
    let svc = |extra: Value| {
        let mut s = json!({"protocol": "tcp", "address": "10.0.0.1", "port": 80});
        s.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        s
    };
    let cases: Vec<(&str, String, Value, &str)> = vec![
        ("PUT", "/v1/clusters/web/draft".into(), json!({"services": "nope"}), "services"),
        ("PUT", "/v1/clusters/web/draft".into(), spec_with(svc(json!({"scheduler": "fastest"}))), "services[0].scheduler"),
        ("PUT", "/v1/clusters/web/draft".into(), spec_with(svc(json!({"port": 65536}))), "services[0].port"),
        ("PUT", "/v1/clusters/web/draft".into(), spec_with(json!({"protocol": "tcp", "address": "10.0.0.300", "port": 80})), "services[0].address"),
        ("PUT", "/v1/clusters/web/draft".into(), spec_with(json!({"protocol": "icmp", "address": "10.0.0.1", "port": 80})), "services[0].protocol"),
        ("PUT", "/v1/clusters/web/draft".into(), spec_with(json!({"fwmark": 5, "port": 80})), "services[0].port"),
        ("PUT", "/v1/clusters/web/draft".into(), spec_with(svc(json!({"persistence": {"timeout": 300, "netmask": 33}}))), "services[0].persistence.netmask"),
        ("PUT", "/v1/clusters/web/draft".into(), spec_with(svc(json!({"servers": [{"address": "2001:db8::1", "forwarding": "nat"}]}))), "services[0].servers[0].address"),
        ("PUT", "/v1/clusters/web/draft".into(), spec_with(svc(json!({"servers": [{"address": "10.1.0.1", "weight": 65536}]}))), "services[0].servers[0].weight"),
        ("PUT", "/v1/clusters/web/draft".into(), spec_with(svc(json!({"servers": [{"address": "10.1.0.1", "weight": "heavy"}]}))), "services[0].servers[0].weight"),
        ("PUT", "/v1/clusters/web/draft".into(), spec_with(svc(json!({"servers": [{"address": "10.1.0.1"}, {"address": "10.1.0.1"}]}))), "services[0].servers"),
        ("PUT", "/v1/clusters/web/draft".into(), json!({"services": [svc(json!({})), svc(json!({}))]}), "services"),
        ("PUT", "/v1/clusters/web/draft".into(), json!({"timeouts": {"tcp": 0}}), "timeouts.tcp"),
        ("POST", "/v1/clusters/web/draft/services".into(), svc(json!({"one_packet": true})), "one_packet"),
        ("POST", "/v1/clusters/web/draft/services".into(), json!({"id": "tcp:192.168.31.100:80"}), ""),
        ("POST", format!("{SVC}/servers"), json!({"address": "172.25.0.40", "port": 8080}), "port"),
        ("POST", format!("{SVC}/servers"), json!({"address": "172.25.0.40", "upper_threshold": 5, "lower_threshold": 6}), "lower_threshold"),
        ("PATCH", SVC.into(), json!({"port": 81}), "id"),
        ("PATCH", SVC.into(), json!({"sched_flags": ["sh-port"]}), "sched_flags"),
        ("PATCH", format!("{SVC}/servers/172.25.0.31:80"), json!({"weight": -1}), "weight"),
        ("PATCH", format!("{SVC}/servers/172.25.0.31:80"), json!({"forwarding": "carrier-pigeon"}), "forwarding"),
        ("POST", "/v1/clusters".into(), json!({"name": "Web Cluster"}), "name"),
        ("POST", "/v1/clusters/web/revisions".into(), json!({"message": ""}), "message"),
        ("POST", "/v1/clusters/web/revisions".into(), json!({"message": "m", "spec": {"services": [{"fwmark": 0}]}}), "spec.services[0].fwmark"),
    ];
    for (method, path, body, field) in cases {
        let reply = server.call(method, &path, Some(body.clone()), None).await;
        let expected = if field.is_empty() { 409 } else { 400 };
        assert_eq!(reply.status, expected, "{method} {path} {body}: {}", reply.text);
        if expected == 400 {
            assert_eq!(reply.body["error"]["code"], "invalid_argument");
            assert_eq!(reply.body["error"]["field"], field, "{method} {path} {body}: {}", reply.text);
        }
    }
    for (method, path, raw) in [
        ("PUT", "/v1/clusters/web/draft", "{\"services\": ["),
        ("PUT", "/v1/clusters/web/draft", "not json"),
        ("POST", "/v1/clusters/web/draft/services", ""),
    ] {
        let reply = server.send_raw(method, path, raw).await.expect(400);
        assert_eq!(reply.body["error"]["code"], "invalid_argument", "{raw}");
    }
    server.get("/v1/clusters/web/revisions/zero").await.expect(400);
    server.get("/v1/audit?limit=many").await.expect(400);
    server.get("/v1/clusters/web/draft/services/tcp:nowhere").await.expect(400);

    let after = server.get("/v1/clusters/web/draft").await.expect(200);
    assert_eq!(after.etag, before.etag, "a refused request changed the draft");
    assert_eq!(after.body["spec"], before.body["spec"]);
    let list = server.get("/v1/clusters/web/revisions").await.expect(200);
    assert_eq!(list.body["revisions"], json!([]));
    // Refused writes are audited with their reason.
    let audit = server.get("/v1/audit?limit=1000").await.body;
    let refused: Vec<_> = audit.as_array().unwrap().iter().filter(|e| e["outcome"] == "refused").collect();
    assert!(refused.len() >= 20, "{} refused entries", refused.len());
    assert!(audit.as_array().unwrap().len() > audit_before);
    assert!(refused.iter().any(|e| e["detail"]["field"] == "services[0].scheduler"));
}
}

both_backends! {
async fn ids_with_ipv6_and_fwmark_work_in_paths(db: TestDb) {
    let server = server_with_cluster(&db).await;
    server.post("/v1/clusters/web/draft/services", json!({"id": "udp:[2001:db8::1]:53", "scheduler": "rr"})).await.expect(201);
    server.post("/v1/clusters/web/draft/services", json!({"fwmark": 12, "scheduler": "sh", "sched_flags": ["sh-port"]})).await.expect(201);
    let v6 = "/v1/clusters/web/draft/services/udp:%5B2001:db8::1%5D:53";
    server.post(&format!("{v6}/servers"), json!({"address": "2001:db8::10"})).await.expect(201);
    let rs = server.get(&format!("{v6}/servers/%5B2001:db8::10%5D:53")).await.expect(200);
    assert_eq!(rs.body["id"], "[2001:db8::10]:53");
    server.get("/v1/clusters/web/draft/services/fwmark:12").await.expect(200);
    server.call("DELETE", "/v1/clusters/web/draft/services/fwmark:12", None, None).await.expect(204);
    server.get("/v1/clusters/web/draft/services/fwmark:12").await.expect(404);
}
}

#[tokio::test]
async fn cors_is_off_unless_asked() {
    let server = TestServer::start();
    let reply = server
        .client
        .get(server.url("/v1/clusters"))
        .header("origin", "https://dash.example")
        .send()
        .await
        .unwrap();
    assert!(reply.headers().get("access-control-allow-origin").is_none());
}

/// The harness itself: `TestDb::postgres()` makes a database of its own on the
/// test run's PostgreSQL (started by scripts/postgres-test.sh) and drops it
/// when dropped.
#[test]
fn a_postgres_test_db_is_a_fresh_database_dropped_after() {
    let db = TestDb::postgres();
    let common::TestDb::Postgres { admin, name, url } = &db else {
        unreachable!()
    };
    assert!(name.starts_with("lvsd_test_"), "{name}");
    assert!(url.ends_with(&format!("/{name}")), "{url}");
    let (admin, name) = (admin.clone(), name.clone());
    let listed = common::psql(
        &admin,
        &format!("SELECT datname FROM pg_database WHERE datname = '{name}'"),
    );
    assert_eq!(listed.trim(), name);
    eprintln!(
        "created {name} on {admin}, listed by psql: {}",
        listed.trim()
    );
    // Empty: lvsd's migrations make the schema on first open.
    let tables = common::psql(
        db.arg(),
        "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'",
    );
    assert_eq!(tables.trim(), "0");
    drop(db);
    let listed = common::psql(
        &admin,
        &format!("SELECT datname FROM pg_database WHERE datname = '{name}'"),
    );
    assert_eq!(listed.trim(), "", "dropped with the TestDb");
}

both_backends! {
/// Two writers who read the same settings: the first one's change stands,
/// the second is refused with 412 instead of overwriting it.
async fn settings_writes_are_compare_and_swap(db: TestDb) {
    let server = server_with_cluster(&db).await;
    let read = server.get("/v1/clusters/web/settings").await.expect(200);
    let etag = read.etag.clone().expect("settings carry an ETag");
    assert_eq!(read.body["etag"].as_str(), Some(etag.as_str()), "the body names the same tag");

    let first = server.call("PUT", "/v1/clusters/web/settings", Some(json!({"drain": true})), Some(&etag)).await.expect(200);
    let after_first = first.etag.clone().unwrap();
    assert_ne!(after_first, etag, "a write gets a new tag");
    let stale = server.call("PUT", "/v1/clusters/web/settings", Some(json!({"removal_limit": 0.5})), Some(&etag)).await.expect(412);
    assert_eq!(stale.body["error"]["code"], "precondition_failed");
    assert!(stale.body["error"]["message"].as_str().unwrap().contains("changed since you read them"), "{}", stale.body);
    let now = server.get("/v1/clusters/web/settings").await.expect(200);
    assert_eq!(now.body["settings"]["drain"], true, "the first writer's change stands: {}", now.body);
    assert_eq!(now.etag, Some(after_first.clone()));

    // With the current tag, or with none, the write goes through.
    server.call("PUT", "/v1/clusters/web/settings", Some(json!({"drain": true, "removal_limit": 0.5})), Some(&after_first)).await.expect(200);
    server.call("PUT", "/v1/clusters/web/settings", Some(json!({"drain": false})), None).await.expect(200);
    server.call("PUT", "/v1/clusters/web/settings", Some(json!({"drain": false})), Some("not-a-tag")).await.expect(400);
}
}
