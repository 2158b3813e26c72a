//! TLS on both APIs (rustls), and client certificates when the server asks
//! for them. Certificates: tests/data/tls (made by its gen.sh).

mod auth_support;
mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use common::TestServer;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio_rustls::rustls::{self, ClientConfig, RootCertStore};

fn tls(file: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/tls")
        .join(file)
}

fn start(dir: &Path, client_ca: bool) -> TestServer {
    let (cert, key, ca) = (tls("server.pem"), tls("server.key"), tls("ca.pem"));
    let mut args = vec![
        "--tls-cert",
        cert.to_str().unwrap(),
        "--tls-key",
        key.to_str().unwrap(),
    ];
    if client_ca {
        args.extend(["--tls-client-ca", ca.to_str().unwrap()]);
    }
    TestServer::start_with(dir.join("lvsd.db"), &args)
}

/// A client trusting the test CA, presenting `identity` (a name in tests/data/tls) if given.
fn connector(identity: Option<&str>, alpn: &[u8]) -> TlsConnector {
    let mut roots = RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_file(tls("ca.pem")).unwrap())
        .unwrap();
    let builder =
        ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots);
    let mut config = match identity {
        None => builder.with_no_client_auth(),
        Some(name) => {
            let cert = CertificateDer::from_pem_file(tls(&format!("{name}.pem"))).unwrap();
            let key = PrivateKeyDer::from_pem_file(tls(&format!("{name}.key"))).unwrap();
            builder.with_client_auth_cert(vec![cert], key).unwrap()
        }
    };
    config.alpn_protocols = vec![alpn.to_vec()];
    TlsConnector::from(Arc::new(config))
}

fn port(url: &str) -> u16 {
    url.rsplit(':')
        .next()
        .unwrap()
        .trim_end_matches('/')
        .parse()
        .unwrap()
}

/// GET `path` over HTTPS; the answer's status line and body, or the error.
async fn https_get(
    server: &TestServer,
    identity: Option<&str>,
    path: &str,
) -> Result<String, String> {
    let tcp = TcpStream::connect(("127.0.0.1", port(&server.http)))
        .await
        .map_err(|e| e.to_string())?;
    let name = ServerName::try_from("localhost").unwrap();
    let mut stream = connector(identity, b"http/1.1")
        .connect(name, tcp)
        .await
        .map_err(|e| e.to_string())?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    stream
        .write_all(request.as_bytes())
        .await
        .map_err(|e| e.to_string())?;
    let mut answer = String::new();
    stream
        .read_to_string(&mut answer)
        .await
        .map_err(|e| e.to_string())?;
    if answer.is_empty() {
        return Err("no answer".into());
    }
    Ok(answer)
}

/// A gRPC channel over TLS to `server`.
async fn grpc_channel(
    server: &TestServer,
    identity: Option<&'static str>,
) -> Result<tonic::transport::Channel, tonic::transport::Error> {
    let port = port(&server.grpc);
    let connect = tower::service_fn(move |_: tonic::codegen::http::Uri| async move {
        let tcp = TcpStream::connect(("127.0.0.1", port)).await?;
        let stream = connector(identity, b"h2")
            .connect(ServerName::try_from("localhost").unwrap(), tcp)
            .await?;
        Ok::<_, std::io::Error>(TokioIo::new(stream))
    });
    tonic::transport::Endpoint::from_shared(format!("http://localhost:{port}"))
        .unwrap()
        .connect_with_connector(connect)
        .await
}

#[tokio::test]
async fn both_apis_speak_tls() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), false);
    assert!(server.http.starts_with("https://"), "{}", server.http);

    let answer = https_get(&server, None, "/healthz").await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let answer = https_get(&server, None, "/v1/clusters").await.unwrap();
    assert!(
        answer.starts_with("HTTP/1.1 200") && answer.ends_with("[]"),
        "{answer}"
    );

    // Plain HTTP to the TLS port gets nowhere.
    let plain = reqwest::get(format!("http://127.0.0.1:{}/healthz", port(&server.http))).await;
    assert!(plain.is_err() || !plain.unwrap().status().is_success());

    let channel = grpc_channel(&server, None).await.unwrap();
    let mut client = lvsd::api::grpc::pb::lvs_service_client::LvsServiceClient::new(channel);
    let clusters = client
        .list_clusters(lvsd::api::grpc::pb::ListClustersRequest {})
        .await
        .unwrap();
    assert!(clusters.into_inner().clusters.is_empty());
}

#[tokio::test]
async fn client_certificates_from_the_ca_are_required_when_asked() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), true);

    let answer = https_get(&server, Some("client"), "/healthz")
        .await
        .unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    for identity in [None, Some("stranger")] {
        let refused = https_get(&server, identity, "/healthz").await;
        assert!(refused.is_err(), "{identity:?} got in: {refused:?}");
    }

    let channel = grpc_channel(&server, Some("client")).await.unwrap();
    let mut client = lvsd::api::grpc::pb::lvs_service_client::LvsServiceClient::new(channel);
    client
        .list_clusters(lvsd::api::grpc::pb::ListClustersRequest {})
        .await
        .unwrap();
    for identity in [None, Some("stranger")] {
        let outcome = match grpc_channel(&server, identity).await {
            Err(err) => Err(err.to_string()),
            Ok(channel) => {
                let mut client =
                    lvsd::api::grpc::pb::lvs_service_client::LvsServiceClient::new(channel);
                client
                    .list_clusters(lvsd::api::grpc::pb::ListClustersRequest {})
                    .await
                    .map(|_| ())
                    .map_err(|s| s.to_string())
            }
        };
        assert!(outcome.is_err(), "{identity:?} got in");
    }
}

#[test]
fn bad_tls_files_stop_the_server_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("lvsd.db");
    let (cert, key, ca) = (tls("server.pem"), tls("server.key"), tls("ca.pem"));
    let cases = [
        (vec!["--tls-cert", cert.to_str().unwrap()], "--tls-key"),
        (
            vec![
                "--tls-cert",
                ca.to_str().unwrap(),
                "--tls-key",
                key.to_str().unwrap(),
            ],
            "--tls-cert",
        ),
        (
            vec![
                "--tls-cert",
                key.to_str().unwrap(),
                "--tls-key",
                key.to_str().unwrap(),
            ],
            "no PEM certificate",
        ),
        (
            vec![
                "--tls-cert",
                "/nonexistent.pem",
                "--tls-key",
                key.to_str().unwrap(),
            ],
            "/nonexistent.pem",
        ),
    ];
    for (args, expected) in cases {
        let (ok, _, stderr) = auth_support::lvsd(
            &[
                &[
                    "serve",
                    "--init",
                    "--db",
                    db.to_str().unwrap(),
                    "--http",
                    "127.0.0.1:0",
                    "--grpc",
                    "127.0.0.1:0",
                ][..],
                &args[..],
            ]
            .concat(),
        );
        assert!(!ok, "{args:?} started");
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
    }
}

#[test]
fn the_command_line_speaks_https_with_a_ca_and_a_client_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("lvsd.db");
    let admin = auth_support::make_token(&db, "ada", "admin", None);
    let server = start(dir.path(), true);
    let (ca, cert, key) = (tls("ca.pem"), tls("client.pem"), tls("client.key"));
    let base = [
        "--server",
        &server.http,
        "--token",
        &admin,
        "--ca",
        ca.to_str().unwrap(),
    ];
    let with_cert = [
        "--client-cert",
        cert.to_str().unwrap(),
        "--client-key",
        key.to_str().unwrap(),
    ];

    let (ok, stdout, stderr) =
        auth_support::lvsd(&[&["cluster", "create", "web"][..], &base, &with_cert].concat());
    assert!(ok, "{stdout}{stderr}");
    let (ok, stdout, stderr) =
        auth_support::lvsd(&[&["cluster", "list"][..], &base, &with_cert].concat());
    assert!(ok && stdout.contains("web"), "{stdout}{stderr}");
    let (ok, stdout, stderr) = auth_support::lvsd(
        &[
            &["audit", "--action", "cluster.create"][..],
            &base,
            &with_cert,
        ]
        .concat(),
    );
    assert!(ok && stdout.contains("ada"), "{stdout}{stderr}");

    // Without the client certificate, or without trusting the CA: refused.
    let (ok, _, stderr) = auth_support::lvsd(&[&["cluster", "list"][..], &base].concat());
    assert!(!ok, "{stderr}");
    let (ok, _, stderr) = auth_support::lvsd(
        &[
            &[
                "cluster",
                "list",
                "--server",
                &server.http,
                "--token",
                &admin,
            ][..],
            &with_cert,
        ]
        .concat(),
    );
    assert!(!ok, "{stderr}");
    assert!(stderr.contains("cannot reach"), "{stderr}");
}
