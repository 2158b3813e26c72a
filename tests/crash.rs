//! A server killed with SIGKILL in the middle of a stream of commits loses
//! no acknowledged revision.

mod common;

use std::time::Duration;

use common::{TestServer, nat_example};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_during_commits_keeps_every_acknowledged_revision() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("lvsd.db");
    let mut server = TestServer::start_on(&db);
    server
        .post("/v1/clusters", json!({"name": "web"}))
        .await
        .expect(201);

    // Writers commit distinct specs as fast as they can; the server is killed under them.
    let client = server.client.clone();
    let url = server.url("/v1/clusters/web/revisions");
    let writer = tokio::spawn(async move {
        let mut acknowledged = Vec::new();
        for weight in 1u32.. {
            let mut spec = nat_example();
            spec["services"][0]["servers"][0]["weight"] = json!(weight);
            let body = json!({"message": format!("weight {weight}"), "spec": spec});
            let sent = client
                .post(&url)
                .header("content-type", "application/json")
                .body(body.to_string())
                .send()
                .await;
            let Ok(reply) = sent else { break };
            if reply.status() != 201 {
                break;
            }
            let Ok(reply) = reply.json::<serde_json::Value>().await else {
                break;
            };
            let revision = &reply["revision"];
            acknowledged.push((
                revision["number"].as_i64().unwrap(),
                revision["content_hash"].as_str().unwrap().to_string(),
                weight,
            ));
        }
        acknowledged
    });
    tokio::time::sleep(Duration::from_millis(700)).await;
    server.kill();
    let acknowledged = writer.await.unwrap();
    assert!(
        acknowledged.len() >= 5,
        "only {} commits before the kill",
        acknowledged.len()
    );

    let server = TestServer::start_on(&db);
    for (number, hash, weight) in &acknowledged {
        let revision = server
            .get(&format!("/v1/clusters/web/revisions/{number}"))
            .await
            .expect(200);
        assert_eq!(
            revision.body["content_hash"],
            hash.as_str(),
            "revision {number}"
        );
        assert_eq!(
            revision.body["spec"]["services"][0]["servers"][0]["weight"],
            *weight
        );
    }
    // Numbers stay gap-free, and the server takes new commits after the restart.
    let latest = server.get("/v1/clusters/web").await.body["latest_revision"]
        .as_i64()
        .unwrap();
    assert!(latest >= acknowledged.last().unwrap().0);
    let page = server
        .get("/v1/clusters/web/revisions?limit=500")
        .await
        .expect(200);
    let numbers: Vec<i64> = page.body["revisions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["number"].as_i64().unwrap())
        .collect();
    assert_eq!(numbers, (1..=latest).rev().collect::<Vec<_>>());
    let next = server
        .post(
            "/v1/clusters/web/revisions",
            json!({"message": "after restart", "spec": {"services": []}}),
        )
        .await
        .expect(201);
    assert_eq!(next.body["revision"]["number"], latest + 1);
    println!(
        "{} acknowledged commits survived SIGKILL; latest revision {latest}",
        acknowledged.len()
    );
}
