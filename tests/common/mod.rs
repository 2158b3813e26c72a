//! A real `lvsd serve` process on ephemeral ports, talked to as a client would.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::Value;

pub struct TestServer {
    child: Child,
    /// `http://127.0.0.1:PORT`
    pub http: String,
    /// `http://127.0.0.1:PORT`, for tonic clients.
    pub grpc: String,
    pub db: PathBuf,
    pub client: reqwest::Client,
    /// The lines `lvsd serve` printed on start, up to the one about applying.
    pub banner: Vec<String>,
    _dir: Option<tempfile::TempDir>,
}

impl TestServer {
    /// Starts a server on a fresh database.
    pub fn start() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let db = dir.path().join("lvsd.db");
        let mut server = Self::start_on(&db);
        server._dir = Some(dir);
        server
    }

    /// Starts a server on `db`, which may already hold data.
    pub fn start_on(db: &Path) -> Self {
        Self::start_with(db, &[])
    }

    /// Starts a server on `db` with more `lvsd serve` flags.
    pub fn start_with(db: &Path, args: &[&str]) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_lvsd"))
            .args(["serve", "--http", "127.0.0.1:0", "--grpc", "127.0.0.1:0", "--db"])
            .arg(db)
            .args(args)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("lvsd starts");
        let stdout = child.stdout.take().expect("stdout is piped");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let (mut http, mut grpc) = (None, None);
        let mut banner = Vec::new();
        loop {
            let line = rx.recv_timeout(Duration::from_secs(30)).expect("lvsd prints where it listens");
            banner.push(line.clone());
            // The last line of the start-up banner.
            if line.starts_with("lvsd: applying to the kernel") {
                break;
            }
            if let Some(url) = line.strip_prefix("lvsd: REST API on ") {
                http = Some(url.to_string());
            }
            if let Some(addr) = line.strip_prefix("lvsd: gRPC API on ") {
                grpc = Some(format!("http://{addr}"));
            }
        }
        TestServer {
            child,
            http: http.expect("lvsd printed its REST address"),
            grpc: grpc.unwrap_or_default(),
            db: db.to_path_buf(),
            client: reqwest::Client::new(),
            banner,
            _dir: None,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.http)
    }

    /// Stops the server as an operator would (SIGTERM) and returns whether it
    /// shut down cleanly.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        Command::new("kill").args(["-TERM", &pid]).status().expect("kill runs");
        self.child.wait().expect("lvsd exits")
    }

    /// Kills the server at once, as a crash would (SIGKILL).
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Sends a request and returns status, ETag and JSON body (Null when empty).
    pub async fn call(&self, method: &str, path: &str, body: Option<Value>, if_match: Option<&str>) -> Reply {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut req = self.client.request(method, self.url(path));
        if let Some(body) = body {
            req = req.header("content-type", "application/json").body(body.to_string());
        }
        if let Some(tag) = if_match {
            req = req.header("if-match", tag);
        }
        Reply::from(req.send().await.expect("request reaches lvsd")).await
    }

    pub async fn get(&self, path: &str) -> Reply {
        self.call("GET", path, None, None).await
    }

    pub async fn post(&self, path: &str, body: Value) -> Reply {
        self.call("POST", path, Some(body), None).await
    }

    /// Sends a raw body (malformed JSON, text).
    pub async fn send_raw(&self, method: &str, path: &str, body: &str) -> Reply {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let req = self.client.request(method, self.url(path)).header("content-type", "application/json").body(body.to_string());
        Reply::from(req.send().await.expect("request reaches lvsd")).await
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.kill();
    }
}

#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub etag: Option<String>,
    pub body: Value,
    pub text: String,
}

impl Reply {
    pub async fn from_response(response: reqwest::Response) -> Self {
        Self::from(response).await
    }

    async fn from(response: reqwest::Response) -> Self {
        let status = response.status().as_u16();
        let etag = response.headers().get("etag").map(|v| v.to_str().unwrap().to_string());
        let text = response.text().await.unwrap_or_default();
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Reply { status, etag, body, text }
    }

    #[track_caller]
    pub fn expect(self, status: u16) -> Self {
        assert_eq!(self.status, status, "unexpected reply: {}", self.text);
        self
    }
}

/// The classic LVS-NAT example: VIP 192.168.31.100:80, wrr, real servers
/// 172.25.0.31-33 via NAT with weights 1, 2, 3.
pub fn nat_example() -> Value {
    serde_json::json!({
        "services": [{
            "protocol": "tcp", "address": "192.168.31.100", "port": 80, "scheduler": "wrr",
            "servers": [
                {"address": "172.25.0.31", "port": 80, "forwarding": "nat", "weight": 1},
                {"address": "172.25.0.32", "port": 80, "forwarding": "nat", "weight": 2},
                {"address": "172.25.0.33", "port": 80, "forwarding": "nat", "weight": 3}
            ]
        }]
    })
}
