//! keepalived.conf through `lvsd import/export --format keepalived` and the
//! gRPC API, against a real `lvsd serve`: the import reads the includes
//! beside the file and lists what was left out, `--strict` refuses and
//! writes nothing, a bad line is named FILE:LINE:COLUMN, and the export is a
//! file keepalived itself accepts that imports to the same spec.

mod common;

use std::process::{Command, Stdio};

use common::TestServer;
use lvsd::api::grpc::pb;
use lvsd::model::Spec;
use serde_json::{Value, json};

const INCLUDE: &str = "tests/data/keepalived/include/keepalived.conf";

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

fn lvsd(server: &TestServer, args: &[&str]) -> Run {
    let home = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_lvsd"))
        .args(args)
        .env("HOME", home.path())
        .env("XDG_CONFIG_HOME", home.path().join(".config"))
        .env("LVSD_SERVER", &server.http)
        .env("LVSD_CLUSTER", "k")
        .env_remove("LVSD_TOKEN")
        .env_remove("LVSD_CONFIG")
        .stdin(Stdio::null())
        .output()
        .expect("lvsd runs");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn draft_spec(rt: &tokio::runtime::Runtime, server: &TestServer) -> (Spec, String) {
    let draft = rt.block_on(server.get("/v1/clusters/k/draft")).expect(200);
    let spec = Spec::from_json(draft.body["spec"].to_string().as_bytes()).unwrap();
    (spec, draft.body["etag"].as_str().unwrap().to_string())
}

#[test]
fn cli_imports_exports_and_refuses() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let server = TestServer::start();
    rt.block_on(server.post("/v1/clusters", json!({"name": "k"})))
        .expect(201);
    let (_, empty_etag) = draft_spec(&rt, &server);

    // --strict: everything that would be left out is listed, nothing is written.
    let strict = lvsd(
        &server,
        &["import", "--format", "keepalived", "--strict", INCLUDE],
    );
    assert_eq!(strict.code, 1, "{}{}", strict.stdout, strict.stderr);
    for expected in [
        "4 statement(s) would be left out",
        "include/keepalived.conf:4: router_id lvs-inc-01",
        "include/vrrp.conf:1: vrrp_sync_group VG_1",
        "include/vrrp.conf:8: vrrp_instance VI_1",
        "include/vrrp.conf:18: vrrp_instance VI_2",
    ] {
        assert!(
            strict.stderr.contains(expected),
            "{expected}: {}",
            strict.stderr
        );
    }
    assert_eq!(
        draft_spec(&rt, &server).1,
        empty_etag,
        "a refused import writes nothing"
    );

    // A file keepalived would refuse: named as compilers do.
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.conf");
    std::fs::write(&bad, "virtual_server 10.0.0.1 80 {\n  lb_algo fastest\n}\n").unwrap();
    let refused = lvsd(
        &server,
        &["import", "--format", "keepalived", bad.to_str().unwrap()],
    );
    assert_eq!(refused.code, 1, "{}", refused.stderr);
    assert!(
        refused.stderr.contains(&format!(
            "{}:2:3: unknown scheduler `fastest`",
            bad.display()
        )),
        "{}",
        refused.stderr
    );

    // The import: includes found beside the file, the left-out list printed.
    let imported = lvsd(&server, &["import", "--format", "keepalived", INCLUDE]);
    assert_eq!(imported.code, 0, "{}", imported.stderr);
    assert!(
        imported.stdout.contains("2 services, 3 real servers"),
        "{}",
        imported.stdout
    );
    assert!(
        imported.stdout.contains("left out (4)"),
        "{}",
        imported.stdout
    );
    assert!(
        imported
            .stdout
            .contains("tests/data/keepalived/include/vrrp.conf:8: vrrp_instance VI_1: VRRP"),
        "{}",
        imported.stdout
    );
    let (spec, _) = draft_spec(&rt, &server);
    let expected = lvsd::keepalived::import(&lvsd::keepalived::Filesystem, INCLUDE).unwrap();
    assert_eq!(spec, expected.spec);

    // Committed, exported, accepted by keepalived, imported again: the same spec.
    rt.block_on(server.post(
        "/v1/clusters/k/revisions",
        json!({"message": "from keepalived"}),
    ))
    .expect(201);
    let exported = lvsd(&server, &["export", "--format", "keepalived", "1"]);
    assert_eq!(exported.code, 0, "{}", exported.stderr);
    assert!(
        exported.stdout.contains("virtual_server 10.40.0.10 80 {"),
        "{}",
        exported.stdout
    );
    let file = dir.path().join("keepalived.conf");
    std::fs::write(&file, &exported.stdout).unwrap();
    let check = Command::new("keepalived")
        .args(["-t", "-l", "-n", "-f"])
        .arg(&file)
        .output()
        .expect("keepalived is installed");
    assert!(
        check.status.success(),
        "{}{}\n{}",
        String::from_utf8_lossy(&check.stdout),
        String::from_utf8_lossy(&check.stderr),
        exported.stdout
    );
    let again = lvsd(
        &server,
        &[
            "import",
            "--format",
            "keepalived",
            "--strict",
            file.to_str().unwrap(),
        ],
    );
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert_eq!(draft_spec(&rt, &server).0, spec);

    let json_run = lvsd(
        &server,
        &[
            "import",
            "--format",
            "keepalived",
            INCLUDE,
            "--output",
            "json",
        ],
    );
    assert_eq!(json_run.code, 0, "{}", json_run.stderr);
    let body: Value = serde_json::from_str(&json_run.stdout).unwrap();
    assert_eq!(body["left_out"].as_array().unwrap().len(), 4, "{body}");
}

#[test]
fn grpc_imports_and_exports() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let server = TestServer::start();
    rt.block_on(async {
        server.post("/v1/clusters", json!({"name": "k"})).await.expect(201);
        let channel = tonic::transport::Channel::from_shared(server.grpc.clone())
            .unwrap()
            .connect()
            .await
            .unwrap();
        let mut client = pb::lvs_service_client::LvsServiceClient::new(channel);
        let file = |path: &str, text: &str| pb::KeepalivedFile { path: path.into(), text: text.into() };
        let main = "virtual_server 10.0.0.1 80 {\n  lvs_sched rr\n  lvs_method DR\n  include servers/*.conf\n}\nvrrp_instance V {\n}\n";
        let request = pb::ImportKeepalivedRequest {
            cluster: "k".into(),
            main: "etc/keepalived.conf".into(),
            files: vec![
                file("etc/keepalived.conf", main),
                file("etc/servers/a.conf", "real_server 10.1.0.1 80 {\n  weight 2\n}\n"),
                file("etc/servers/b.conf", "real_server 10.1.0.2 80 {\n  weight 3\n}\n"),
            ],
            ..Default::default()
        };
        let reply = client.import_keepalived(request.clone()).await.unwrap().into_inner();
        let servers = &reply.draft.unwrap().spec.unwrap().services[0].servers;
        assert_eq!(servers.len(), 2);
        assert_eq!(reply.left_out.len(), 1);
        assert_eq!((reply.left_out[0].file.as_str(), reply.left_out[0].line), ("etc/keepalived.conf", 6));

        let strict = client
            .import_keepalived(pb::ImportKeepalivedRequest { strict: true, ..request.clone() })
            .await
            .unwrap_err();
        assert_eq!(strict.code(), tonic::Code::InvalidArgument);
        assert!(strict.message().contains("vrrp_instance V"), "{}", strict.message());

        let mut broken = request.clone();
        broken.files[1].text = "real_server 10.1.0.1 80 {\n  weight -1\n}\n".into();
        let refused = client.import_keepalived(broken).await.unwrap_err();
        assert_eq!(refused.code(), tonic::Code::InvalidArgument);
        assert!(refused.message().contains("etc/servers/a.conf:2:"), "{}", refused.message());

        server
            .post("/v1/clusters/k/revisions", json!({"message": "m"}))
            .await
            .expect(201);
        let text = client
            .export_keepalived(pb::ExportRevisionRequest { cluster: "k".into(), number: 1 })
            .await
            .unwrap()
            .into_inner()
            .text;
        assert!(text.contains("    real_server 10.1.0.2 80 {\n        weight 3\n"), "{text}");
        let rest = server.get("/v1/clusters/k/revisions/1/export/keepalived").await.expect(200);
        assert_eq!(rest.text, text);
    });
}
