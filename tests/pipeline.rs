//! One request pipeline for both transports: a request refused over REST
//! and the same request refused over gRPC leave the same audit entry, and
//! both keep (or replace) a client's request id by the same rule.

mod common;

use common::{TestServer, nat_example};
use lvsd::api::grpc::error::field_of;
use lvsd::api::grpc::pb;
use lvsd::api::grpc::pb::lvs_service_client::LvsServiceClient;
use serde_json::{Value, json};
use tonic::Code;
use tonic::transport::Channel;

async fn grpc(server: &TestServer) -> LvsServiceClient<Channel> {
    let channel = Channel::from_shared(server.grpc.clone())
        .unwrap()
        .connect()
        .await
        .unwrap();
    LvsServiceClient::new(channel)
}

fn with_id<T>(message: T, id: &str) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request
        .metadata_mut()
        .insert("x-request-id", id.parse().unwrap());
    request
}

/// Sends a REST request with `x-request-id: id`; answers its status and body.
async fn rest(
    server: &TestServer,
    method: &str,
    path: &str,
    id: &str,
    body: Value,
) -> (u16, Value) {
    let response = server
        .client
        .request(method.parse().unwrap(), server.url(path))
        .header("x-request-id", id)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// The newest audit entries, newest first.
async fn audit(client: &mut LvsServiceClient<Channel>) -> Vec<pb::AuditEntry> {
    client
        .list_audit(pb::ListAuditRequest {
            limit: Some(1000),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .entries
}

fn entry<'a>(entries: &'a [pb::AuditEntry], request_id: &str) -> &'a pb::AuditEntry {
    entries
        .iter()
        .find(|e| e.request_id == request_id)
        .unwrap_or_else(|| panic!("no audit entry with request id {request_id}"))
}

#[tokio::test]
async fn rest_and_grpc_refuse_and_audit_a_bad_confirm_within_alike() {
    let server = TestServer::start();
    server
        .post("/v1/clusters", json!({"name": "web"}))
        .await
        .expect(201);
    server
        .post(
            "/v1/clusters/web/revisions",
            json!({"message": "first", "spec": nat_example()}),
        )
        .await
        .expect(201);
    let mut client = grpc(&server).await;

    for (n, within) in ["soon", "25h", "0s"].into_iter().enumerate() {
        let (rest_commit, grpc_commit) = (format!("rest-commit-{n}"), format!("grpc-commit-{n}"));
        let (status, body) = rest(
            &server,
            "POST",
            "/v1/clusters/web/revisions",
            &rest_commit,
            json!({"message": "m", "spec": nat_example(), "confirm_within": within}),
        )
        .await;
        assert_eq!(status, 400, "{within}: {body}");
        assert_eq!(body["error"]["field"], "confirm_within", "{body}");
        let refused = client
            .commit(with_id(
                pb::CommitRequest {
                    cluster: "web".into(),
                    message: "m".into(),
                    confirm_within: Some(within.into()),
                    ..Default::default()
                },
                &grpc_commit,
            ))
            .await
            .unwrap_err();
        assert_eq!(refused.code(), Code::InvalidArgument, "{within}");
        assert_eq!(field_of(&refused), Some("confirm_within"));

        let (rest_rollback, grpc_rollback) =
            (format!("rest-rollback-{n}"), format!("grpc-rollback-{n}"));
        let (status, body) = rest(
            &server,
            "POST",
            "/v1/clusters/web/rollback",
            &rest_rollback,
            json!({"to": 1, "confirm_within": within}),
        )
        .await;
        assert_eq!(status, 400, "{within}: {body}");
        assert_eq!(body["error"]["field"], "confirm_within", "{body}");
        let refused = client
            .rollback(with_id(
                pb::RollbackRequest {
                    cluster: "web".into(),
                    to: 1,
                    confirm_within: Some(within.into()),
                    ..Default::default()
                },
                &grpc_rollback,
            ))
            .await
            .unwrap_err();
        assert_eq!(refused.code(), Code::InvalidArgument, "{within}");
        assert_eq!(field_of(&refused), Some("confirm_within"));

        let entries = audit(&mut client).await;
        for (rest_id, grpc_id, action) in [
            (&rest_commit, &grpc_commit, "revision.commit"),
            (&rest_rollback, &grpc_rollback, "revision.rollback"),
        ] {
            let (by_rest, by_grpc) = (entry(&entries, rest_id), entry(&entries, grpc_id));
            for e in [by_rest, by_grpc] {
                assert_eq!(
                    (e.action.as_str(), e.outcome.as_str(), e.cluster.as_deref()),
                    (action, "refused", Some("web")),
                    "{e:?}"
                );
            }
            assert_eq!(by_rest.target, by_grpc.target);
            assert_eq!(by_rest.detail, by_grpc.detail, "{action} with {within}");
        }
    }
    // Nothing was committed or rolled back.
    let revisions = server.get("/v1/clusters/web/revisions").await.expect(200);
    assert_eq!(revisions.body["revisions"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn rest_and_grpc_keep_the_same_request_ids() {
    let server = TestServer::start();
    let mut client = grpc(&server).await;
    let kept = ["abc-123", "r.1_2:3/4", &"x".repeat(128)].map(str::to_string);
    let replaced = ["x".repeat(129), "x".repeat(200), "two words".to_string()];
    for (n, id) in kept.iter().chain(&replaced).enumerate() {
        // Refused (a cluster name must start with a letter or digit), so audited.
        let (status, _) = rest(
            &server,
            "POST",
            "/v1/clusters",
            id,
            json!({"name": format!("-rest{n}")}),
        )
        .await;
        assert_eq!(status, 400);
        let refused = client
            .create_cluster(with_id(
                pb::CreateClusterRequest {
                    name: format!("-grpc{n}"),
                    ..Default::default()
                },
                id,
            ))
            .await
            .unwrap_err();
        assert_eq!(refused.code(), Code::InvalidArgument);

        let entries = audit(&mut client).await;
        let recorded = |name: String| {
            entries
                .iter()
                .find(|e| e.target == name)
                .unwrap_or_else(|| panic!("no audit entry for {name}"))
                .request_id
                .clone()
        };
        let (by_rest, by_grpc) = (recorded(format!("-rest{n}")), recorded(format!("-grpc{n}")));
        if kept.contains(id) {
            assert_eq!(
                (by_rest.as_str(), by_grpc.as_str()),
                (id.as_str(), id.as_str())
            );
        } else {
            for recorded in [&by_rest, &by_grpc] {
                assert!(
                    uuid::Uuid::parse_str(recorded).is_ok(),
                    "{id:?} should be replaced by a fresh id, was kept as {recorded:?}"
                );
            }
        }
    }
}
