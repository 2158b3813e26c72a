//! ipvsadm text through the API: importing then exporting gives text that
//! imports to the same spec, for generated specs; a bad line is refused with
//! its number and nothing changes.

mod common;

use common::TestServer;
use lvsd::ipvsadm::to_restore;
use lvsd::model::Spec;
use lvsd::model::arbitrary::kernel_spec;
use proptest::prelude::*;
use serde_json::json;

async fn import(server: &TestServer, cluster: &str, text: &str) -> common::Reply {
    let reply = server
        .client
        .post(server.url(&format!("/v1/clusters/{cluster}/draft/import")))
        .header("content-type", "text/plain")
        .body(text.to_string())
        .send()
        .await
        .unwrap();
    common::Reply::from_response(reply).await
}

fn spec_of(body: &serde_json::Value) -> Spec {
    Spec::from_json(body.to_string().as_bytes()).expect("the server returns valid specs")
}

#[test]
fn import_then_export_round_trips() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let server = rt.block_on(async {
        let server = TestServer::start();
        server
            .post("/v1/clusters", json!({"name": "a"}))
            .await
            .expect(201);
        server
            .post("/v1/clusters", json!({"name": "b"}))
            .await
            .expect(201);
        server
    });
    let config = ProptestConfig {
        cases: 48,
        ..ProptestConfig::default()
    };
    proptest!(config, |(spec in kernel_spec())| {
        rt.block_on(async {
            let text = to_restore(&spec);
            let imported = import(&server, "a", &text).await.expect(200);
            assert_eq!(spec_of(&imported.body["spec"]), spec, "import of:\n{text}");
            let commit = server.post("/v1/clusters/a/revisions", json!({"message": "import"})).await;
            assert!(commit.status == 201 || commit.status == 200, "{}", commit.text);
            let number = commit.body["revision"]["number"].as_i64().unwrap();
            let exported = server.get(&format!("/v1/clusters/a/revisions/{number}/export")).await.expect(200);
            let again = import(&server, "b", &exported.text).await.expect(200);
            assert_eq!(spec_of(&again.body["spec"]), spec, "export:\n{}", exported.text);
        });
    });
}

#[tokio::test]
async fn a_bad_line_is_named_and_changes_nothing() {
    let server = TestServer::start();
    server
        .post("/v1/clusters", json!({"name": "web"}))
        .await
        .expect(201);
    let script = "\
# classic LVS-NAT
ipvsadm -A -t 192.168.31.100:80 -s wrr
ipvsadm -a -t 192.168.31.100:80 -r 172.25.0.31:80 -m -w 1
ipvsadm -a -t 192.168.31.100:80 -r 172.25.0.32:80 -m -w 2
ipvsadm -a -t 192.168.31.100:80 -r 172.25.0.33:80 -m -w 3
";
    let imported = import(&server, "web", script).await.expect(200);
    let before = server.get("/v1/clusters/web/draft").await.expect(200);
    assert_eq!(imported.body["etag"], before.etag.clone().unwrap());
    assert_eq!(
        before.body["spec"]["services"][0]["servers"][2]["weight"],
        3
    );

    for (bad, line) in [
        (
            format!("{script}ipvsadm -a -t 192.168.31.100:80 -r 172.25.0.34:80 -m -w 70000\n"),
            "line 6",
        ),
        (
            format!("{script}ipvsadm -A -t 192.168.31.101:80 -s fastest\n"),
            "line 6",
        ),
        (
            "-A -t 10.0.0.1:80\n-a -t 10.0.0.2:80 -r 10.1.0.1\n".to_string(),
            "line 2",
        ),
        (
            "-A -t 10.0.0.1:80\n-A -t 10.0.0.1:80\n".to_string(),
            "line 2",
        ),
        ("-A -t 10.0.0.1\n".to_string(), "line 1"),
        ("--bogus\n".to_string(), "line 1"),
    ] {
        let reply = import(&server, "web", &bad).await.expect(400);
        assert_eq!(reply.body["error"]["field"], line, "{bad}: {}", reply.text);
    }
    let after = server.get("/v1/clusters/web/draft").await.expect(200);
    assert_eq!(after.etag, before.etag);
    assert_eq!(after.body["spec"], before.body["spec"]);
}

/// ipvsadm rules carry no host settings: importing them keeps the draft's,
/// and exporting leaves them out.
#[tokio::test]
async fn import_and_export_leave_the_host_section_alone() {
    let server = TestServer::start();
    server
        .post("/v1/clusters", json!({"name": "web"}))
        .await
        .expect(201);
    let host = json!({"vip_interface": "eth1", "snat_address": "172.25.0.1",
                      "directors": {"d2": {"sync_daemons": [{"role": "backup", "interface": "eth1", "syncid": 0}]}}});
    server
        .post(
            "/v1/clusters/web/revisions",
            json!({"message": "host", "spec": {"services": [], "host": host}}),
        )
        .await
        .expect(201);
    let imported = import(
        &server,
        "web",
        "-A -t 192.168.31.100:80 -s rr\n-a -t 192.168.31.100:80 -r 172.25.0.31 -m\n",
    )
    .await
    .expect(200);
    assert_eq!(imported.body["spec"]["host"], host, "{}", imported.text);
    assert_eq!(
        imported.body["spec"]["services"][0]["id"],
        "tcp:192.168.31.100:80"
    );
    let commit = server
        .post("/v1/clusters/web/revisions", json!({"message": "import"}))
        .await
        .expect(201);
    let number = commit.body["revision"]["number"].as_i64().unwrap();
    let exported = server
        .get(&format!("/v1/clusters/web/revisions/{number}/export"))
        .await
        .expect(200);
    assert_eq!(
        exported.text,
        "-A -t 192.168.31.100:80 -s rr\n-a -t 192.168.31.100:80 -r 172.25.0.31:80 -m -w 1\n"
    );
}
