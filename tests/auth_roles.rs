//! Every REST endpoint and every gRPC method against every kind of caller:
//! no token, a bad token, and one token per role (viewer, operator, admin,
//! the agent of the cluster asked about, the agent of another cluster).
//! Allowed calls get past access control (whatever they answer next);
//! refused ones get 401/403 or UNAUTHENTICATED/PERMISSION_DENIED, change
//! nothing, and are audited with who, what and why.
//!
//! The endpoints come from the served OpenAPI document and the gRPC service
//! descriptor, so a new endpoint is in the table without anyone adding it,
//! and the test fails until `auth::policy` classifies it.

mod auth_support;
mod common;

use std::str::FromStr;

use auth_support::{Tokens, audit, call};
use common::{TestServer, nat_example};
use lvsd::auth::policy;
use serde_json::{Value, json};

const SERVICE: &str = "tcp:192.168.31.100:80";

/// A path with its parameters filled in: cluster `web`, its one service and
/// real server, revision 1.
fn fill(route: &str) -> String {
    route
        .replace("{cluster}", "web")
        .replace("{service}", SERVICE)
        .replace("{server}", "172.25.0.31:80")
        .replace("{number}", "1")
        .replace("{name}", "director-1")
}

/// (METHOD, route, has a body) of every operation in the OpenAPI document.
fn rest_endpoints() -> Vec<(String, String, bool)> {
    let doc: Value = serde_json::from_str(&lvsd::api::rest::openapi_json())
        .expect("the OpenAPI document is JSON");
    let mut endpoints = Vec::new();
    for (route, item) in doc["paths"].as_object().expect("paths") {
        for method in ["get", "put", "post", "patch", "delete"] {
            if let Some(operation) = item.get(method) {
                endpoints.push((
                    method.to_uppercase(),
                    route.clone(),
                    operation.get("requestBody").is_some(),
                ));
            }
        }
    }
    endpoints
}

/// What the operator's draft and history look like, to show refusals change nothing.
async fn snapshot(server: &TestServer, admin: &str) -> Value {
    let mut state = Vec::new();
    for path in [
        "/v1/clusters",
        "/v1/clusters/web/draft",
        "/v1/clusters/web/revisions",
    ] {
        let (status, body) =
            call(&server.client, &server.http, "GET", path, Some(admin), None).await;
        assert_eq!(status, 200, "{body}");
        state.push(body);
    }
    Value::Array(state)
}

#[tokio::test]
async fn every_rest_endpoint_against_every_role() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("lvsd.db");
    let tokens = Tokens::make(&db);
    let server = TestServer::start_on(&db);
    let admin = format!("Bearer {}", tokens.admin);
    let (base, client) = (&server.http, &server.client);

    let (status, body) = call(
        client,
        base,
        "POST",
        "/v1/clusters",
        Some(&admin),
        Some(&json!({"name": "web"})),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let seed = json!({"message": "seed", "spec": nat_example()});
    let (status, body) = call(
        client,
        base,
        "POST",
        "/v1/clusters/web/revisions",
        Some(&admin),
        Some(&seed),
    )
    .await;
    assert_eq!(status, 201, "{body}");

    let endpoints = rest_endpoints();
    assert!(endpoints.len() >= 27, "{} endpoints", endpoints.len());
    for (method, route, _) in &endpoints {
        assert!(
            policy::rest(method, route).is_some(),
            "{method} {route} is served but not in auth::policy::REST: classify it there"
        );
    }
    let callers = tokens.callers();
    let before = snapshot(&server, &admin).await;

    // Refusals first, so that nothing allowed has changed the store yet.
    let mut refused = Vec::new();
    let header: Vec<String> = callers
        .iter()
        .map(|c| format!("{} {}", c.role.unwrap_or("-"), c.actor))
        .collect();
    let mut table = vec![format!("| endpoint | {} |", header.join(" | "))];
    let mut grid = vec![vec![String::new(); callers.len()]; endpoints.len()];
    for (j, caller) in callers.iter().enumerate() {
        for (i, (method, route, has_body)) in endpoints.iter().enumerate() {
            let access = policy::rest(method, route).unwrap();
            let cluster = route.contains("{cluster}").then_some("web");
            let Some(expected) = caller.refusal(access, cluster) else {
                continue;
            };
            let path = fill(route);
            let body = has_body.then(|| json!({}));
            let (status, reply) = call(
                client,
                base,
                method,
                &path,
                caller.authorization.as_deref(),
                body.as_ref(),
            )
            .await;
            assert_eq!(
                status, expected,
                "{} {method} {path}: {reply}",
                caller.actor
            );
            let code = if expected == 401 {
                "unauthenticated"
            } else {
                "permission_denied"
            };
            assert_eq!(reply["error"]["code"], code, "{reply}");
            refused.push((caller.actor, format!("{method} {path}"), code));
            grid[i][j] = status.to_string();
        }
    }
    assert_eq!(
        snapshot(&server, &admin).await,
        before,
        "a refused request changed the store"
    );

    // Then what is allowed: it gets past access control.
    let mut allowed = 0;
    for (i, (method, route, has_body)) in endpoints.iter().enumerate() {
        for (j, caller) in callers.iter().enumerate() {
            let access = policy::rest(method, route).unwrap();
            let cluster = route.contains("{cluster}").then_some("web");
            if caller.refusal(access, cluster).is_some() {
                continue;
            }
            let path = fill(route);
            let body = has_body.then(|| json!({}));
            let (status, reply) = call(
                client,
                base,
                method,
                &path,
                caller.authorization.as_deref(),
                body.as_ref(),
            )
            .await;
            assert!(
                status != 401 && status != 403,
                "{} {method} {path} was refused: {status} {reply}",
                caller.actor
            );
            allowed += 1;
            grid[i][j] = format!("ok ({status})");
        }
    }
    for (i, (method, route, _)) in endpoints.iter().enumerate() {
        table.push(format!("| {method} {route} | {} |", grid[i].join(" | ")));
    }
    println!("{}", table.join("\n"));
    println!("REST: {} refused, {allowed} allowed", refused.len());

    // Every refusal is in the audit log: who, what, why.
    let entries = audit(client, base, &tokens.admin, "action=access.denied").await;
    for (actor, target, code) in &refused {
        let found = entries.iter().any(|e| {
            e["actor"] == *actor
                && e["target"] == *target
                && e["outcome"] == "refused"
                && e["detail"]["code"] == *code
        });
        assert!(found, "no audit entry for {actor} refused {target}");
    }
    for entry in &entries {
        assert!(
            entry["detail"]["reason"]
                .as_str()
                .is_some_and(|r| !r.is_empty()),
            "{entry}"
        );
        assert!(entry["detail"]["peer"].as_str().is_some(), "{entry}");
    }
    let text = serde_json::to_string(&entries).unwrap();
    for token in [
        &tokens.viewer,
        &tokens.operator,
        &tokens.admin,
        &tokens.agent,
        &tokens.stray_agent,
    ] {
        let secret = token.rsplit('_').next().unwrap();
        assert!(
            !text.contains(secret),
            "a token's secret is in the audit log"
        );
    }
}

/// A request message with only field 1 set: every `lvs.v1` request names its
/// cluster there (`cluster`, or `name` for the cluster calls).
#[derive(Clone, PartialEq, prost::Message)]
struct Scoped {
    #[prost(string, tag = "1")]
    cluster: String,
}

#[tokio::test]
async fn every_grpc_method_against_every_role() {
    use prost::Message;
    use tonic::Code;

    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("lvsd.db");
    let tokens = Tokens::make(&db);
    let server = TestServer::start_on(&db);
    let admin = format!("Bearer {}", tokens.admin);
    let (status, _) = call(
        &server.client,
        &server.http,
        "POST",
        "/v1/clusters",
        Some(&admin),
        Some(&json!({"name": "web"})),
    )
    .await;
    assert_eq!(status, 201);
    let seed = json!({"message": "seed", "spec": nat_example()});
    let (status, _) = call(
        &server.client,
        &server.http,
        "POST",
        "/v1/clusters/web/revisions",
        Some(&admin),
        Some(&seed),
    )
    .await;
    assert_eq!(status, 201);

    let descriptors =
        prost_types::FileDescriptorSet::decode(lvsd::api::grpc::pb::FILE_DESCRIPTOR_SET).unwrap();
    let service = descriptors
        .file
        .iter()
        .filter(|f| f.package() == "lvs.v1")
        .flat_map(|f| &f.service)
        .find(|s| s.name() == "LvsService")
        .expect("lvs.v1.LvsService");
    let methods: Vec<(String, bool)> = service
        .method
        .iter()
        .map(|m| (m.name().to_string(), m.server_streaming()))
        .collect();
    assert!(methods.len() >= 23);
    for (name, _) in &methods {
        assert!(
            policy::grpc(name).is_some(),
            "{name} is served but not in auth::policy::GRPC: classify it there"
        );
    }

    let channel = tonic::transport::Channel::from_shared(server.grpc.clone())
        .unwrap()
        .connect()
        .await
        .unwrap();
    let callers = tokens.callers();
    let mut refused = Vec::new();
    let mut allowed = 0;
    for caller in &callers {
        for (name, streaming) in &methods {
            let access = policy::grpc(name).unwrap();
            // ListClusters and ListAudit are not about one cluster.
            let cluster = (!matches!(name.as_str(), "ListClusters" | "ListAudit")).then_some("web");
            let expected = caller.refusal(access, cluster);
            let mut request = tonic::Request::new(Scoped {
                cluster: "web".into(),
            });
            if let Some(value) = &caller.authorization {
                request
                    .metadata_mut()
                    .insert("authorization", value.parse().unwrap());
            }
            let path = tonic::codegen::http::uri::PathAndQuery::from_str(&format!(
                "/lvs.v1.LvsService/{name}"
            ))
            .unwrap();
            let codec = tonic_prost::ProstCodec::<Scoped, ()>::default();
            let mut grpc = tonic::client::Grpc::new(channel.clone());
            grpc.ready().await.unwrap();
            let outcome = if *streaming {
                grpc.server_streaming(request, path, codec)
                    .await
                    .map(|_| ())
            } else {
                grpc.unary(request, path, codec).await.map(|_| ())
            };
            let code = outcome.err().map_or(Code::Ok, |status| status.code());
            match expected {
                Some(401) => {
                    assert_eq!(code, Code::Unauthenticated, "{} {name}", caller.actor);
                    refused.push((caller.actor, name.clone(), "unauthenticated"));
                }
                Some(_) => {
                    assert_eq!(code, Code::PermissionDenied, "{} {name}", caller.actor);
                    refused.push((caller.actor, name.clone(), "permission_denied"));
                }
                None => {
                    assert!(
                        !matches!(code, Code::Unauthenticated | Code::PermissionDenied),
                        "{} {name} was refused: {code:?}",
                        caller.actor
                    );
                    allowed += 1;
                }
            }
        }
    }
    println!(
        "gRPC: {} methods, {} refused, {allowed} allowed",
        methods.len(),
        refused.len()
    );

    let entries = audit(
        &server.client,
        &server.http,
        &tokens.admin,
        "action=access.denied",
    )
    .await;
    for (actor, method, code) in &refused {
        let target = format!("/lvs.v1.LvsService/{method}");
        let found = entries
            .iter()
            .any(|e| e["actor"] == *actor && e["target"] == target && e["detail"]["code"] == *code);
        assert!(found, "no audit entry for {actor} refused {target}");
    }
}
