//! One check of one real server: connect, ask, compare. Each returns
//! `Err(reason)` with what an operator needs to see (refused, timed out,
//! the status that came back); the caller bounds it with the check's timeout.

use std::net::{IpAddr, SocketAddr};
use std::process::Stdio;
use std::sync::OnceLock;

use tokio::io::AsyncReadExt;
use tokio::net::{TcpStream, UdpSocket};

use crate::model::{HealthCheck, HttpProbe, Probe, ServiceKey};

/// The most of an answer read when looking for an expected substring.
const MAX_BODY: usize = 64 * 1024;

/// Runs `check` once against the real server at `address`.
pub async fn probe(
    check: &HealthCheck,
    service: &ServiceKey,
    address: IpAddr,
) -> Result<(), String> {
    let target = SocketAddr::new(address, check.port);
    match &check.probe {
        Probe::Tcp => TcpStream::connect(target)
            .await
            .map(drop)
            .map_err(|e| format!("connect to {target}: {e}")),
        Probe::Http(http) => http_probe(http, target).await,
        Probe::Udp { send, expect } => udp_probe(target, send, expect.as_deref()).await,
        Probe::Dns {
            name,
            query_type,
            rcode,
        } => dns_probe(target, name, *query_type, *rcode).await,
        Probe::Exec { program, args } => exec_probe(program, args, service, target).await,
    }
}

/// Clients shared by every http check: one verifying certificates, one not.
/// No pooled connections, so every check opens its own, as a client would.
fn client(verify_tls: bool) -> Result<&'static reqwest::Client, String> {
    static VERIFYING: OnceLock<reqwest::Client> = OnceLock::new();
    static TRUSTING: OnceLock<reqwest::Client> = OnceLock::new();
    let cell = if verify_tls { &VERIFYING } else { &TRUSTING };
    if let Some(client) = cell.get() {
        return Ok(client);
    }
    let client = reqwest::Client::builder()
        .danger_accept_invalid_certs(!verify_tls)
        .pool_max_idle_per_host(0)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("lvsd-health/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| format!("building the HTTP client: {e}"))?;
    Ok(cell.get_or_init(|| client))
}

async fn http_probe(http: &HttpProbe, target: SocketAddr) -> Result<(), String> {
    let scheme = if http.tls { "https" } else { "http" };
    let url = format!("{scheme}://{target}{}", http.path);
    let method = reqwest::Method::from_bytes(http.method.as_bytes())
        .map_err(|e| format!("method {}: {e}", http.method))?;
    let mut request = client(http.verify_tls)?.request(method, &url);
    if let Some(host) = &http.host {
        request = request.header(reqwest::header::HOST, host);
    }
    let mut response = request
        .send()
        .await
        .map_err(|e| format!("{} {url}: {}", http.method, error_chain(&e)))?;
    let status = response.status().as_u16();
    if !http.status_ok(status) {
        let expected = if http.expect_status.is_empty() {
            "2xx or 3xx".to_string()
        } else {
            http.expect_status
                .iter()
                .map(u16::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        };
        return Err(format!(
            "{} {url}: status {status}, expected {expected}",
            http.method
        ));
    }
    let Some(expect) = &http.expect else {
        return Ok(());
    };
    let mut body = Vec::new();
    while body.len() < MAX_BODY {
        match response.chunk().await {
            Ok(Some(chunk)) => body.extend_from_slice(&chunk),
            Ok(None) => break,
            Err(e) => return Err(format!("{} {url}: reading the body: {e}", http.method)),
        }
    }
    if contains(&body, expect.as_bytes()) {
        Ok(())
    } else {
        Err(format!(
            "{} {url}: the body does not contain `{expect}`",
            http.method
        ))
    }
}

/// reqwest's error with its causes ("error sending request: connection refused").
fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    needle.is_empty() || haystack.windows(needle.len()).any(|w| w == needle)
}

async fn connected_udp(target: SocketAddr) -> Result<UdpSocket, String> {
    let local: SocketAddr = if target.is_ipv4() {
        ([0, 0, 0, 0], 0).into()
    } else {
        ([0u16; 8], 0).into()
    };
    let socket = UdpSocket::bind(local)
        .await
        .map_err(|e| format!("udp socket: {e}"))?;
    socket
        .connect(target)
        .await
        .map_err(|e| format!("udp to {target}: {e}"))?;
    Ok(socket)
}

async fn udp_probe(target: SocketAddr, send: &[u8], expect: Option<&str>) -> Result<(), String> {
    let socket = connected_udp(target).await?;
    socket
        .send(send)
        .await
        .map_err(|e| format!("udp to {target}: {e}"))?;
    let mut reply = vec![0; MAX_BODY];
    // A closed port answers with ICMP port unreachable, which shows here as "connection refused".
    let n = socket
        .recv(&mut reply)
        .await
        .map_err(|e| format!("udp from {target}: {e}"))?;
    match expect {
        Some(expect) if !contains(&reply[..n], expect.as_bytes()) => Err(format!(
            "udp from {target}: the reply does not contain `{expect}`"
        )),
        _ => Ok(()),
    }
}

/// A DNS query (RFC 1035 4.1) for `name`, recursion desired.
pub fn dns_query(id: u16, name: &str, query_type: u16) -> Vec<u8> {
    let mut query = Vec::with_capacity(18 + name.len());
    query.extend_from_slice(&id.to_be_bytes());
    query.extend_from_slice(&[0x01, 0x00]); // RD
    query.extend_from_slice(&[0, 1, 0, 0, 0, 0, 0, 0]); // one question
    for label in name.split('.') {
        query.push(label.len() as u8);
        query.extend_from_slice(label.as_bytes());
    }
    query.push(0);
    query.extend_from_slice(&query_type.to_be_bytes());
    query.extend_from_slice(&[0, 1]); // class IN
    query
}

/// The rcode of the answer to query `id`, or why it is not one.
pub fn dns_rcode(id: u16, answer: &[u8]) -> Result<u8, String> {
    if answer.len() < 12 {
        return Err(format!(
            "a {}-byte answer is shorter than a DNS header",
            answer.len()
        ));
    }
    if u16::from_be_bytes([answer[0], answer[1]]) != id {
        return Err("the answer is for another query".to_string());
    }
    if answer[2] & 0x80 == 0 {
        return Err("the answer is a query, not a response".to_string());
    }
    Ok(answer[3] & 0x0f)
}

async fn dns_probe(
    target: SocketAddr,
    name: &str,
    query_type: u16,
    rcode: u8,
) -> Result<(), String> {
    let id = query_id();
    let socket = connected_udp(target).await?;
    socket
        .send(&dns_query(id, name, query_type))
        .await
        .map_err(|e| format!("dns to {target}: {e}"))?;
    let mut answer = vec![0; 4096];
    let n = socket
        .recv(&mut answer)
        .await
        .map_err(|e| format!("dns from {target}: {e}"))?;
    match dns_rcode(id, &answer[..n]) {
        Ok(got) if got == rcode => Ok(()),
        Ok(got) => Err(format!(
            "dns from {target}: rcode {got} for {name}, expected {rcode}"
        )),
        Err(why) => Err(format!("dns from {target}: {why}")),
    }
}

fn query_id() -> u16 {
    let mut bytes = [0; 2];
    // A predictable id only weakens spoofing resistance, which a health check can live with.
    let _ = getrandom::fill(&mut bytes);
    u16::from_ne_bytes(bytes)
}

async fn exec_probe(
    program: &str,
    args: &[String],
    service: &ServiceKey,
    target: SocketAddr,
) -> Result<(), String> {
    let mut child = tokio::process::Command::new(program)
        .args(args)
        .env("LVSD_SERVER_ADDRESS", target.ip().to_string())
        .env("LVSD_SERVER_PORT", target.port().to_string())
        .env("LVSD_SERVICE", service.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        // The check's timeout drops this future: the command must not outlive it.
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("running {program}: {e}"))?;
    let mut stderr = String::new();
    if let Some(mut pipe) = child.stderr.take() {
        let mut buf = Vec::new();
        let _ = (&mut pipe).take(4096).read_to_end(&mut buf).await;
        stderr = String::from_utf8_lossy(&buf)
            .lines()
            .next()
            .unwrap_or_default()
            .to_string();
    }
    let status = child
        .wait()
        .await
        .map_err(|e| format!("running {program}: {e}"))?;
    match (status.success(), stderr.is_empty()) {
        (true, _) => Ok(()),
        (false, true) => Err(format!("{program} {status}")),
        (false, false) => Err(format!("{program} {status}: {stderr}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dns_query_matches_rfc_1035_layout() {
        let query = dns_query(0xabcd, "example.com", 28);
        let expected: Vec<u8> = [
            &[0xab, 0xcd, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0][..],
            &[7],
            b"example",
            &[3],
            b"com",
            &[0, 0, 28, 0, 1],
        ]
        .concat();
        assert_eq!(query, expected);
    }

    fn check(json: &str, port: u16) -> HealthCheck {
        let doc: crate::model::HealthCheckDoc = serde_json::from_str(json).unwrap();
        doc.validate(port).unwrap()
    }

    fn service() -> ServiceKey {
        "tcp:10.0.0.1:80".parse().unwrap()
    }

    const LOCAL: IpAddr = IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);

    /// A port nothing listens on: bound, then closed.
    fn closed_port() -> u16 {
        std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port()
    }

    /// An HTTP server answering every request with `status` and `body`, once per connection.
    async fn http_server(status: u16, body: &'static str) -> u16 {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            loop {
                let (mut conn, _) = listener.accept().await.unwrap();
                tokio::spawn(async move {
                    use tokio::io::AsyncWriteExt;
                    let mut buf = vec![0; 4096];
                    let _ = conn.read(&mut buf).await;
                    let reply = format!(
                        "HTTP/1.1 {status} X\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = conn.write_all(reply.as_bytes()).await;
                });
            }
        });
        port
    }

    #[tokio::test]
    async fn tcp_accepts_and_refuses() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let open = listener.local_addr().unwrap().port();
        assert_eq!(
            probe(&check(r#"{"type":"tcp"}"#, open), &service(), LOCAL).await,
            Ok(())
        );
        let closed = closed_port();
        let err = probe(&check(r#"{"type":"tcp"}"#, closed), &service(), LOCAL)
            .await
            .unwrap_err();
        assert!(
            err.contains(&format!("127.0.0.1:{closed}")) && err.contains("refused"),
            "{err}"
        );
    }

    #[tokio::test]
    async fn http_status_and_body_by_table() {
        let ok = http_server(200, "all good").await;
        let broken = http_server(503, "down").await;
        // (check, port, Ok or the text the error contains)
        let cases = [
            (r#"{"type":"http"}"#, ok, None),
            (r#"{"type":"http","expect":"good"}"#, ok, None),
            (
                r#"{"type":"http","expect":"bad"}"#,
                ok,
                Some("does not contain `bad`"),
            ),
            (
                r#"{"type":"http","expect_status":[204]}"#,
                ok,
                Some("status 200, expected 204"),
            ),
            (
                r#"{"type":"http"}"#,
                broken,
                Some("status 503, expected 2xx or 3xx"),
            ),
            (
                r#"{"type":"http","expect_status":[503],"method":"HEAD","path":"/x","host":"example.org"}"#,
                broken,
                None,
            ),
            (
                r#"{"type":"http"}"#,
                closed_port(),
                Some("Connection refused"),
            ),
        ];
        for (json, port, expected) in cases {
            let outcome = probe(&check(json, port), &service(), LOCAL).await;
            match expected {
                None => assert_eq!(outcome, Ok(()), "{json}"),
                Some(text) => assert!(
                    outcome.as_ref().is_err_and(|e| e.contains(text)),
                    "{json}: {outcome:?}"
                ),
            }
        }
    }

    #[tokio::test]
    async fn udp_needs_a_reply_with_the_expected_text() {
        let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let port = socket.local_addr().unwrap().port();
        tokio::spawn(async move {
            let mut buf = [0; 512];
            loop {
                let (n, from) = socket.recv_from(&mut buf).await.unwrap();
                let reply = if &buf[..n] == b"ping" {
                    &b"pong"[..]
                } else {
                    &b"what?"[..]
                };
                socket.send_to(reply, from).await.unwrap();
            }
        });
        let ping = check(r#"{"type":"udp","send":"ping","expect":"pong"}"#, port);
        assert_eq!(probe(&ping, &service(), LOCAL).await, Ok(()));
        let wrong = check(r#"{"type":"udp","send":"hello","expect":"pong"}"#, port);
        assert!(
            probe(&wrong, &service(), LOCAL)
                .await
                .unwrap_err()
                .contains("does not contain `pong`")
        );
        // A closed UDP port answers with ICMP port unreachable.
        let closed = std::net::UdpSocket::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        assert!(
            probe(&check(r#"{"type":"udp"}"#, closed), &service(), LOCAL)
                .await
                .is_err()
        );
    }

    #[tokio::test]
    async fn dns_compares_the_rcode() {
        let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let port = socket.local_addr().unwrap().port();
        tokio::spawn(async move {
            let mut buf = [0; 512];
            loop {
                let (n, from) = socket.recv_from(&mut buf).await.unwrap();
                // NXDOMAIN for anything under .invalid, NOERROR otherwise.
                let mut answer = buf[..n].to_vec();
                let nx = answer.windows(7).any(|w| w == b"invalid");
                answer[2] = 0x81;
                answer[3] = if nx { 0x83 } else { 0x80 };
                socket.send_to(&answer, from).await.unwrap();
            }
        });
        let found = check(r#"{"type":"dns","query_name":"example.org"}"#, port);
        assert_eq!(probe(&found, &service(), LOCAL).await, Ok(()));
        let missing = check(r#"{"type":"dns","query_name":"nothing.invalid"}"#, port);
        assert!(
            probe(&missing, &service(), LOCAL)
                .await
                .unwrap_err()
                .contains("rcode 3")
        );
        let expect_nx = check(
            r#"{"type":"dns","query_name":"nothing.invalid","expect_rcode":"nxdomain"}"#,
            port,
        );
        assert_eq!(probe(&expect_nx, &service(), LOCAL).await, Ok(()));
    }

    #[tokio::test]
    async fn exec_gets_the_server_and_exits_0_when_healthy() {
        let script = r#"test "$LVSD_SERVER_ADDRESS:$LVSD_SERVER_PORT $LVSD_SERVICE" = "127.0.0.1:8080 tcp:10.0.0.1:80" || { echo "got $LVSD_SERVER_ADDRESS:$LVSD_SERVER_PORT" >&2; exit 3; }"#;
        let json =
            serde_json::json!({"type": "exec", "command": ["/bin/sh", "-c", script]}).to_string();
        assert_eq!(probe(&check(&json, 8080), &service(), LOCAL).await, Ok(()));
        let err = probe(&check(&json, 8081), &service(), LOCAL)
            .await
            .unwrap_err();
        assert!(
            err.contains("exit status: 3") && err.contains("got 127.0.0.1:8081"),
            "{err}"
        );
        let missing = r#"{"type":"exec","command":["/nonexistent/check"]}"#;
        assert!(
            probe(&check(missing, 80), &service(), LOCAL)
                .await
                .unwrap_err()
                .contains("/nonexistent/check")
        );
    }

    #[test]
    fn dns_answers_by_table() {
        let header = |id: u16, flags: [u8; 2]| {
            let mut h = id.to_be_bytes().to_vec();
            h.extend_from_slice(&flags);
            h.extend_from_slice(&[0; 8]);
            h
        };
        assert_eq!(dns_rcode(7, &header(7, [0x81, 0x80])), Ok(0));
        assert_eq!(dns_rcode(7, &header(7, [0x81, 0x83])), Ok(3));
        assert!(
            dns_rcode(7, &header(8, [0x81, 0x80]))
                .unwrap_err()
                .contains("another query")
        );
        assert!(
            dns_rcode(7, &header(7, [0x01, 0x00]))
                .unwrap_err()
                .contains("not a response")
        );
        assert!(dns_rcode(7, &[0; 5]).unwrap_err().contains("shorter"));
    }
}
