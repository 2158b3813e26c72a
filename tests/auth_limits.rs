//! Hostile and broken clients: oversized and malformed requests are refused
//! with clear errors and leave the store as it was; specs over the size
//! limits are refused naming the field; slow clients are cut off and cannot
//! take the server from others.

mod auth_support;
mod common;

use std::time::{Duration, Instant};

use auth_support::call;
use common::{TestServer, nat_example};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

fn addr(server: &TestServer) -> String {
    server.http.trim_start_matches("http://").to_string()
}

/// Sends `head` and `body` on a fresh connection and reads the whole answer.
async fn raw(server: &TestServer, head: &str, body: &[u8]) -> (u16, String) {
    let mut stream = TcpStream::connect(addr(server)).await.unwrap();
    stream.write_all(head.as_bytes()).await.unwrap();
    // The server may answer and close before it has read everything.
    let _ = stream.write_all(body).await;
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(20), stream.read_to_end(&mut answer)).await;
    let text = String::from_utf8_lossy(&answer).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, text)
}

fn json_body(answer: &str) -> Value {
    let body = answer.split_once("\r\n\r\n").map_or("", |(_, body)| body);
    // Chunked or not, the JSON object is the part between the outer braces.
    let start = body.find('{').unwrap_or(0);
    let end = body.rfind('}').map_or(body.len(), |i| i + 1);
    serde_json::from_str(&body[start..end]).unwrap_or(Value::Null)
}

/// The cluster `web` with the NAT example committed, and what it looks like.
async fn seeded(server: &TestServer) -> Value {
    server
        .post("/v1/clusters", json!({"name": "web"}))
        .await
        .expect(201);
    server
        .post(
            "/v1/clusters/web/revisions",
            json!({"message": "seed", "spec": nat_example()}),
        )
        .await
        .expect(201);
    state(server).await
}

async fn state(server: &TestServer) -> Value {
    json!([
        server.get("/v1/clusters").await.expect(200).body,
        server.get("/v1/clusters/web/draft").await.expect(200).body,
        server
            .get("/v1/clusters/web/revisions")
            .await
            .expect(200)
            .body,
    ])
}

#[tokio::test]
async fn oversized_bodies_get_413_and_change_nothing() {
    let server = TestServer::start();
    let before = seeded(&server).await;
    let big = format!(r#"{{"message": "{}"}}"#, "x".repeat(33 * 1024 * 1024));

    // Announced by Content-Length: refused before it is read.
    let head = format!(
        "POST /v1/clusters/web/revisions HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        big.len()
    );
    let (status, answer) = raw(&server, &head, big.as_bytes()).await;
    assert_eq!(status, 413, "{answer}");
    let body = json_body(&answer);
    assert_eq!(body["error"]["code"], "payload_too_large", "{answer}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("32 MiB"),
        "{answer}"
    );

    // Chunked, length unknown: cut off once past the limit.
    let head = "PUT /v1/clusters/web/draft HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n";
    let mut chunked = Vec::new();
    for chunk in big.as_bytes().chunks(1024 * 1024) {
        chunked.extend(format!("{:x}\r\n", chunk.len()).as_bytes());
        chunked.extend(chunk);
        chunked.extend(b"\r\n");
    }
    chunked.extend(b"0\r\n\r\n");
    let (status, answer) = raw(&server, head, &chunked).await;
    assert_eq!(status, 413, "{}", &answer[..answer.len().min(500)]);
    assert_eq!(json_body(&answer)["error"]["code"], "payload_too_large");

    assert_eq!(state(&server).await, before);
    let refused = server
        .get("/v1/audit?action=request.rejected")
        .await
        .expect(200)
        .body;
    assert_eq!(refused.as_array().unwrap().len(), 2, "{refused}");
}

#[tokio::test]
async fn malformed_requests_get_400_naming_the_field_and_change_nothing() {
    let server = TestServer::start();
    let before = seeded(&server).await;
    let service = "/v1/clusters/web/draft/services/tcp:192.168.31.100:80";
    let cases = [
        (
            "POST",
            "/v1/clusters/web/revisions",
            r#"{"message": "#,
            "",
            "EOF",
        ),
        (
            "POST",
            "/v1/clusters/web/revisions",
            r#"{"message": 7}"#,
            "message",
            "invalid type",
        ),
        (
            "POST",
            "/v1/clusters/web/revisions",
            r#"{"message": "m", "surprise": 1}"#,
            "",
            "unknown field",
        ),
        (
            "PUT",
            "/v1/clusters/web/draft",
            r#"{"services": [{"protocol": "tcp", "address": "10.0.0.1", "port": 99999}]}"#,
            "services[0].port",
            "",
        ),
        (
            "PUT",
            "/v1/clusters/web/draft",
            "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[",
            "",
            "",
        ),
        (
            "PATCH",
            service,
            r#"{"scheduler": "nope"}"#,
            "scheduler",
            "",
        ),
        ("PATCH", service, "\u{0}\u{1}\u{2}", "", ""),
        (
            "POST",
            "/v1/clusters/web/draft/import",
            "-A -t 10.0.0.1:80 -s nope\n",
            "line 1",
            "",
        ),
        (
            "POST",
            "/v1/clusters/web/rollback",
            r#"{"to": "one"}"#,
            "to",
            "",
        ),
    ];
    for (method, path, body, field, words) in cases {
        let reply = server.send_raw(method, path, body).await;
        assert_eq!(
            reply.status, 400,
            "{method} {path} {body:.40}: {}",
            reply.text
        );
        assert_eq!(
            reply.body["error"]["code"], "invalid_argument",
            "{}",
            reply.text
        );
        if !field.is_empty() {
            assert_eq!(reply.body["error"]["field"], field, "{}", reply.text);
        }
        assert!(
            reply.body["error"]["message"]
                .as_str()
                .unwrap()
                .contains(words),
            "{}",
            reply.text
        );
    }
    // Bad path parameters and query strings, too.
    for path in [
        "/v1/clusters/web/revisions/zero",
        "/v1/clusters/web/revisions?limit=many",
        "/v1/audit?since=yesterday",
    ] {
        let reply = server.get(path).await;
        assert_eq!(reply.status, 400, "{path}: {}", reply.text);
    }
    assert_eq!(state(&server).await, before);
}

#[tokio::test]
async fn specs_over_the_limits_are_refused_naming_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start_with(
        dir.path().join("lvsd.db"),
        &["--max-services", "2", "--max-servers", "4"],
    );
    let before = seeded(&server).await; // 1 service, 3 real servers

    let service = |i: u8| json!({"protocol": "tcp", "address": format!("10.0.0.{i}"), "port": 80, "scheduler": "rr"});
    let reply = server
        .call(
            "PUT",
            "/v1/clusters/web/draft",
            Some(json!({"services": [service(1), service(2), service(3)]})),
            None,
        )
        .await;
    assert_eq!(reply.status, 400, "{}", reply.text);
    assert_eq!(reply.body["error"]["field"], "services");
    assert!(
        reply
            .text
            .contains("3 virtual services: a spec holds at most 2 (lvsd serve --max-services)"),
        "{}",
        reply.text
    );

    let mut spec = nat_example();
    spec["services"][0]["servers"]
        .as_array_mut()
        .unwrap()
        .extend([
            json!({"address": "172.25.0.34", "forwarding": "nat"}),
            json!({"address": "172.25.0.35", "forwarding": "nat"}),
        ]);
    let reply = server
        .post(
            "/v1/clusters/web/revisions",
            json!({"message": "big", "spec": spec}),
        )
        .await;
    assert_eq!(reply.status, 400, "{}", reply.text);
    assert_eq!(reply.body["error"]["field"], "spec.services[].servers");

    // One piece at a time meets the same limit.
    server
        .post(
            "/v1/clusters/web/draft/services/tcp:192.168.31.100:80/servers",
            json!({"address": "172.25.0.34", "forwarding": "nat"}),
        )
        .await
        .expect(201);
    let reply = server
        .post(
            "/v1/clusters/web/draft/services/tcp:192.168.31.100:80/servers",
            json!({"address": "172.25.0.35", "forwarding": "nat"}),
        )
        .await;
    assert_eq!(reply.status, 400, "{}", reply.text);
    assert_eq!(reply.body["error"]["field"], "services[].servers");
    server
        .call(
            "DELETE",
            "/v1/clusters/web/draft/services/tcp:192.168.31.100:80/servers/172.25.0.34:80",
            None,
            None,
        )
        .await
        .expect(204);

    // gRPC too.
    let mut grpc =
        lvsd::api::grpc::pb::lvs_service_client::LvsServiceClient::connect(server.grpc.clone())
            .await
            .unwrap();
    let pb_service = |i: u8| lvsd::api::grpc::pb::VirtualService {
        id: format!("tcp:10.0.0.{i}:80"),
        ..Default::default()
    };
    let request = lvsd::api::grpc::pb::ReplaceDraftRequest {
        cluster: "web".into(),
        spec: Some(lvsd::api::grpc::pb::Spec {
            services: vec![pb_service(1), pb_service(2), pb_service(3)],
            ..Default::default()
        }),
        ..Default::default()
    };
    let status = grpc.replace_draft(request).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::InvalidArgument);
    assert_eq!(lvsd::api::grpc::error::field_of(&status), Some("services"));

    let after = state(&server).await;
    assert_eq!(after[2], before[2], "no revision was made");
    assert_eq!(
        after[1]["spec"], before[1]["spec"],
        "the draft is as it was"
    );
}

#[tokio::test]
async fn slow_clients_are_cut_off_and_others_still_served() {
    let dir = tempfile::tempdir().unwrap();
    let args = [
        "--header-timeout",
        "1s",
        "--request-timeout",
        "2s",
        "--max-connections-per-client",
        "40",
    ];
    let server = TestServer::start_with(dir.path().join("lvsd.db"), &args);
    server
        .post("/v1/clusters", json!({"name": "web"}))
        .await
        .expect(201);

    // Slowloris: 30 connections trickling their headers in.
    let mut slow = Vec::new();
    for _ in 0..30 {
        let mut stream = TcpStream::connect(addr(&server)).await.unwrap();
        stream
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: t\r\n")
            .await
            .unwrap();
        slow.push(stream);
    }
    // Meanwhile others are served at once.
    let started = Instant::now();
    let reply = server.get("/v1/clusters").await;
    assert_eq!(reply.status, 200);
    assert!(
        started.elapsed() < Duration::from_millis(500),
        "{:?}",
        started.elapsed()
    );
    // And the slow ones are closed after the header timeout, trickle or not.
    let started = Instant::now();
    for stream in &mut slow {
        let _ = stream.write_all(b"X-Slow: 1\r\n").await;
        let mut buf = [0u8; 512];
        let read = tokio::time::timeout(Duration::from_secs(5), async {
            loop {
                match stream.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(_) => continue,
                }
            }
        })
        .await;
        assert!(read.is_ok(), "a slow client kept its connection for 5 s");
    }
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );

    // A body trickled in is cut off by the request timeout, with a JSON 503.
    let mut stream = TcpStream::connect(addr(&server)).await.unwrap();
    stream
        .write_all(b"POST /v1/clusters HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"name\"")
        .await
        .unwrap();
    let started = Instant::now();
    let mut answer = Vec::new();
    let mut buf = [0u8; 1024];
    loop {
        tokio::select! {
            read = stream.read(&mut buf) => match read {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    answer.extend(&buf[..n]);
                    if answer.ends_with(b"}") { break; }
                }
            },
            () = tokio::time::sleep(Duration::from_millis(300)) => {
                let _ = stream.write_all(b" ").await;
            }
        }
        assert!(
            started.elapsed() < Duration::from_secs(6),
            "no answer to a trickled body"
        );
    }
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    assert!(answer.contains("\"code\":\"unavailable\""), "{answer}");
    assert!(answer.contains("took longer than 2 s"), "{answer}");
    assert_eq!(
        server
            .get("/v1/clusters")
            .await
            .expect(200)
            .body
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

#[tokio::test]
async fn one_client_cannot_hold_every_connection() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start_with(
        dir.path().join("lvsd.db"),
        &["--max-connections-per-client", "4"],
    );
    let mut idle = Vec::new();
    for _ in 0..4 {
        idle.push(TcpStream::connect(addr(&server)).await.unwrap());
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    // The fifth is closed at once.
    let mut fifth = TcpStream::connect(addr(&server)).await.unwrap();
    let _ = fifth
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
        .await;
    let mut buf = [0u8; 64];
    let read = tokio::time::timeout(Duration::from_secs(2), fifth.read(&mut buf))
        .await
        .expect("closed, not left hanging");
    assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");
    // Once one is given back there is room again.
    idle.pop();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (status, body) = call(&server.client, &server.http, "GET", "/healthz", None, None).await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn what_refused_clients_send_is_clipped_in_the_audit_log() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("lvsd.db");
    let admin = auth_support::make_token(&db, "ada", "admin", None);
    let server = TestServer::start_on(&db);
    let long_path = format!("/v1/clusters/{}/draft", "w".repeat(8000));
    let response = server
        .client
        .get(server.url(&long_path))
        .header("x-request-id", "r".repeat(10_000))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 401);
    let entries =
        auth_support::audit(&server.client, &server.http, &admin, "action=access.denied").await;
    assert_eq!(entries.len(), 1);
    let entry = &entries[0];
    assert!(
        entry["request_id"].as_str().unwrap().len() <= 128,
        "{entry}"
    );
    assert!(entry["target"].as_str().unwrap().len() <= 512, "{entry}");
    assert!(entry["cluster"].as_str().unwrap().len() <= 128, "{entry}");

    // Headers trickled in beyond 64 KiB are not buffered: 431, or the connection closed.
    let mut stream = TcpStream::connect(addr(&server)).await.unwrap();
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: t\r\nX-Junk: ")
        .await
        .unwrap();
    let mut sent = 0;
    while sent < 100_000 {
        if stream.write_all(&[b'j'; 4096]).await.is_err() {
            break;
        }
        sent += 4096;
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut answer)).await;
    let answer = String::from_utf8_lossy(&answer);
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 431"),
        "{answer}"
    );
}
