//! Health checks run by `lvsd serve --apply-local` on an in-memory table,
//! against real TCP listeners of this test: a server that stops listening
//! goes to weight 0 (the director applies it, cause `health`), the API and
//! the audit log say so, and it comes back when it listens again. The VM
//! tests `vm/tests/6*-health-*.sh` do the same against a real kernel.

mod common;

use std::net::TcpListener;
use std::time::{Duration, Instant};

use common::TestServer;
use serde_json::{Value, json};

/// Polls `path` until `done` holds for its body (15 s at most).
async fn wait_for(
    server: &TestServer,
    path: &str,
    what: &str,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let start = Instant::now();
    loop {
        let reply = server.get(path).await;
        if reply.status == 200 && done(&reply.body) {
            return reply.body;
        }
        assert!(
            start.elapsed() < Duration::from_secs(15),
            "waited 15 s for {what}; last: {}",
            reply.text
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The health the local director reports of one real server.
fn server_health<'a>(health: &'a Value, server: &str) -> &'a Value {
    let servers = health[0]["services"][0]["servers"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    servers
        .iter()
        .find(|s| s["server"] == server)
        .unwrap_or(&Value::Null)
}

#[tokio::test]
async fn a_server_that_stops_listening_is_quiesced_and_comes_back() {
    let up = TcpListener::bind("127.0.0.1:0").unwrap();
    let down = TcpListener::bind("127.0.0.1:0").unwrap();
    let (up_addr, down_addr) = (up.local_addr().unwrap(), down.local_addr().unwrap());
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("lvsd.db");
    let args = [
        "--apply-local",
        "--table",
        "memory",
        "--director",
        "d1",
        "--counters-interval",
        "200ms",
    ];
    let server = TestServer::start_with(&db, &args);
    server
        .post("/v1/clusters", json!({"name": "web"}))
        .await
        .expect(201);
    let spec = json!({"services": [{"id": "tcp:192.168.31.100:80", "scheduler": "wrr",
        "health_check": {"type": "tcp", "interval_ms": 200, "timeout_ms": 150, "rise": 2, "fall": 2},
        "servers": [
            {"address": "127.0.0.1", "port": up_addr.port(), "forwarding": "nat", "weight": 3},
            {"address": "127.0.0.1", "port": down_addr.port(), "forwarding": "nat", "weight": 5}]}]});
    server
        .post(
            "/v1/clusters/web/revisions",
            json!({"message": "checked", "spec": spec}),
        )
        .await
        .expect(201);

    let up_id = up_addr.to_string();
    let down_id = down_addr.to_string();
    let health = wait_for(
        &server,
        "/v1/clusters/web/health",
        "both checked and healthy",
        |h| {
            server_health(h, &down_id)["consecutive_successes"].as_u64() >= Some(1)
                && server_health(h, &up_id)["consecutive_successes"].as_u64() >= Some(1)
        },
    )
    .await;
    assert_eq!(health[0]["director"], "d1");
    assert_eq!(server_health(&health, &down_id)["effective_weight"], 5);
    assert_eq!(health[0]["services"][0]["degraded"], false);

    drop(down);
    let health = wait_for(
        &server,
        "/v1/clusters/web/health",
        "the closed server down",
        |h| {
            server_health(h, &down_id)["healthy"] == false
                && server_health(h, &down_id)["effective_weight"] == 0
        },
    )
    .await;
    let failed = server_health(&health, &down_id);
    assert!(
        failed["last_error"].as_str().unwrap().contains(&down_id),
        "{failed}"
    );
    assert!(failed["failing_since"].is_string(), "{failed}");
    assert_eq!(
        server_health(&health, &up_id)["effective_weight"],
        3,
        "the other keeps its weight"
    );
    let director = server
        .get("/v1/clusters/web/directors/d1")
        .await
        .expect(200)
        .body;
    assert_eq!(
        director["applied_revision"], 1,
        "health makes no revision: {director}"
    );
    let audit = server
        .get("/v1/audit?action=director.apply")
        .await
        .expect(200)
        .text;
    assert!(
        audit.contains(r#""cause":"health""#),
        "the director applied for health: {audit}"
    );
    let downs = server
        .get("/v1/audit?action=health.down")
        .await
        .expect(200)
        .body;
    let entry = &downs[0];
    assert_eq!(entry["detail"]["server"], down_id, "{entry}");
    assert_eq!(
        entry["detail"]["service"], "tcp:192.168.31.100:80",
        "{entry}"
    );
    assert!(
        entry["detail"]["reason"]
            .as_str()
            .unwrap()
            .contains("connect"),
        "{entry}"
    );

    // gRPC says the same.
    let channel = tonic::transport::Channel::from_shared(server.grpc.clone())
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut client = lvsd::api::grpc::pb::lvs_service_client::LvsServiceClient::new(channel);
    let request = lvsd::api::grpc::pb::GetHealthRequest {
        cluster: "web".into(),
    };
    let reply = client.get_health(request).await.unwrap().into_inner();
    let service = &reply.directors[0].services[0];
    let failed = service
        .servers
        .iter()
        .find(|s| s.server == down_id)
        .expect("the failed server");
    assert_eq!(
        (
            failed.healthy,
            failed.effective_weight,
            failed.check.as_str()
        ),
        (false, Some(0), "tcp")
    );
    assert_eq!(service.healthy_servers, 1);

    // And /metrics, one series per checked server.
    let metrics = server.get("/metrics").await.expect(200).text;
    let series = |server: &str| {
        format!(
            r#"lvsd_real_server_healthy{{cluster="web",director="d1",service="tcp:192.168.31.100:80",server="{server}"}}"#
        )
    };
    assert!(
        metrics.contains(&format!("{} 0\n", series(&down_id))),
        "{metrics}"
    );
    assert!(
        metrics.contains(&format!("{} 1\n", series(&up_id))),
        "{metrics}"
    );
    assert!(metrics.contains(r#"lvsd_virtual_service_healthy_servers{cluster="web",director="d1",service="tcp:192.168.31.100:80"} 1"#), "{metrics}");

    let _back = TcpListener::bind(down_addr).unwrap();
    wait_for(
        &server,
        "/v1/clusters/web/health",
        "the server back at its weight",
        |h| {
            server_health(h, &down_id)["healthy"] == true
                && server_health(h, &down_id)["effective_weight"] == 5
        },
    )
    .await;
    let ups = server
        .get("/v1/audit?action=health.up")
        .await
        .expect(200)
        .text;
    assert!(ups.contains(&down_id), "{ups}");
}

#[tokio::test]
async fn health_of_an_unknown_cluster_is_not_found() {
    let server = TestServer::start();
    let reply = server.get("/v1/clusters/nope/health").await;
    assert_eq!(reply.status, 404, "{}", reply.text);
}
