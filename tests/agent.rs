//! `lvsd agent` against a real `lvsd serve`: both real processes, the agent
//! on an in-memory table (`--table memory`), watched through the API and
//! the agent's own log, as an operator would.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

mod common;
use common::TestDb;

/// An `lvsd serve` on a port of its choosing, so that it can be restarted
/// on the same database at the same address.
struct Server {
    child: Child,
    http: String,
    client: reqwest::Client,
    /// Sent with every request of the test, once the API is closed.
    token: Option<String>,
}

/// A free port on loopback.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Server {
    fn start(db: impl AsRef<std::ffi::OsStr>, port: u16) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_lvsd"))
            .args(["serve", "--init", "--grpc", "127.0.0.1:0", "--http"])
            .arg(format!("127.0.0.1:{port}"))
            .arg("--db")
            .arg(db)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("lvsd serve starts");
        // The banner ends with the line about applying: the API is up then.
        let stdout = BufReader::new(child.stdout.take().unwrap());
        for line in stdout.lines() {
            if line
                .expect("lvsd serve prints its banner")
                .starts_with("lvsd: applying to the kernel")
            {
                break;
            }
        }
        Server {
            child,
            http: format!("http://127.0.0.1:{port}"),
            client: reqwest::Client::new(),
            token: None,
        }
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut request = self.client.request(method, format!("{}{path}", self.http));
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("the server answers");
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    async fn get(&self, path: &str) -> Value {
        let (status, body) = self.call(reqwest::Method::GET, path, None).await;
        assert_eq!(status, 200, "GET {path}: {body}");
        body
    }

    async fn post(&self, path: &str, body: Value) -> Value {
        let (status, reply) = self.call(reqwest::Method::POST, path, Some(body)).await;
        assert!(
            status == 200 || status == 201,
            "POST {path}: {status} {reply}"
        );
        reply
    }

    /// Commits `spec` to cluster web; returns the revision number.
    async fn commit(&self, spec: Value) -> i64 {
        let reply = self
            .post(
                "/v1/clusters/web/revisions",
                json!({"message": "test", "spec": spec}),
            )
            .await;
        reply["revision"]["number"]
            .as_i64()
            .expect("a revision number")
    }

    /// Director `name` of cluster web as the directors view shows it.
    async fn director(&self, name: &str) -> Value {
        let (status, body) = self
            .call(
                reqwest::Method::GET,
                &format!("/v1/clusters/web/directors/{name}"),
                None,
            )
            .await;
        if status == 200 { body } else { Value::Null }
    }

    fn stop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }

    /// Kills the server at once, as a crash would (SIGKILL).
    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An `lvsd agent` process and the lines it logged.
struct Agent {
    child: Child,
    log: Arc<Mutex<Vec<String>>>,
}

impl Agent {
    /// Starts an agent of cluster web; `token` goes in `LVSD_TOKEN`.
    fn start(server: &str, name: &str, state_dir: &Path, token: Option<&str>) -> Self {
        Agent::start_with(server, name, state_dir, token, &[])
    }

    fn start_with(
        server: &str,
        name: &str,
        state_dir: &Path,
        token: Option<&str>,
        extra: &[&str],
    ) -> Self {
        let mut command = Command::new(env!("CARGO_BIN_EXE_lvsd"));
        command.args(["agent"]).args(extra);
        match token {
            Some(token) => command.env("LVSD_TOKEN", token),
            None => command.env_remove("LVSD_TOKEN"),
        };
        let mut child = command
            .args([
                "--server",
                server,
                "--cluster",
                "web",
                "--name",
                name,
                "--table",
                "memory",
            ])
            .arg("--state-dir")
            .arg(state_dir)
            .args([
                "--report-interval",
                "1s",
                "--reconcile-interval",
                "1s",
                "--wait",
                "5s",
            ])
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1")
            // No config file of the user running the tests.
            .env_remove("LVSD_CONFIG")
            .env("XDG_CONFIG_HOME", state_dir)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("lvsd agent starts");
        let log = Arc::new(Mutex::new(Vec::new()));
        let lines = BufReader::new(child.stderr.take().unwrap());
        let sink = log.clone();
        std::thread::spawn(move || {
            for line in lines.lines().map_while(Result::ok) {
                eprintln!("agent: {line}");
                sink.lock().unwrap().push(line);
            }
        });
        Agent { child, log }
    }

    fn logged(&self, text: &str) -> bool {
        self.log
            .lock()
            .unwrap()
            .iter()
            .any(|line| line.contains(text))
    }

    /// Waits until the agent logs a line containing `text`.
    async fn wait_for_log(&self, text: &str) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while !self.logged(text) {
            assert!(
                Instant::now() < deadline,
                "the agent never logged `{text}`; it logged:\n{}",
                self.log.lock().unwrap().join("\n")
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn stop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Polls director `name` until `done` accepts what the view shows (60 s at most).
async fn wait_director(
    server: &Server,
    name: &str,
    what: &str,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let view = server.director(name).await;
        if done(&view) {
            return view;
        }
        assert!(
            Instant::now() < deadline,
            "director {name} never showed {what}; it shows: {view}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn wait_applied(server: &Server, name: &str, revision: i64) -> Value {
    wait_director(
        server,
        name,
        &format!("revision {revision} applied"),
        |view| view["applied_revision"] == json!(revision) && view["result"] == "applied",
    )
    .await
}

/// The NAT example with a scheduler and weights.
fn spec(scheduler: &str, weights: &[u32]) -> Value {
    let servers: Vec<Value> = weights
        .iter()
        .enumerate()
        .map(|(i, w)| json!({"address": format!("172.25.0.{}", 31 + i), "forwarding": "nat", "weight": w}))
        .collect();
    json!({"services": [{"id": "tcp:192.168.31.100:80", "scheduler": scheduler, "servers": servers}]})
}

struct Setup {
    dir: tempfile::TempDir,
    port: u16,
    server: Server,
}

impl Setup {
    async fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let server = Server::start(dir.path().join("lvsd.db"), port);
        server.post("/v1/clusters", json!({"name": "web"})).await;
        Setup { dir, port, server }
    }

    fn state_dir(&self, name: &str) -> PathBuf {
        self.dir.path().join("agents").join(name)
    }

    fn agent(&self, name: &str) -> Agent {
        Agent::start(&self.server.http, name, &self.state_dir(name), None)
    }

    /// Another server, on its own database in the same directory, with
    /// cluster web too: what an agent sees of a second server sharing the
    /// first one's database, as far as SQLite allows.
    async fn other_server(&self, name: &str) -> Server {
        let server = Server::start(self.dir.path().join(format!("{name}.db")), free_port());
        server.post("/v1/clusters", json!({"name": "web"})).await;
        server
    }

    fn restart_server(&mut self) {
        self.server.stop();
        let token = self.server.token.take();
        self.server = Server::start(self.dir.path().join("lvsd.db"), self.port);
        self.server.token = token;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_commit_reaches_the_agents_and_the_directors_view_shows_it() {
    let setup = Setup::new().await;
    let _d1 = setup.agent("d1");
    let _d2 = setup.agent("d2");
    let revision = setup.server.commit(spec("wrr", &[1, 2, 3])).await;

    for name in ["d1", "d2"] {
        let view = wait_applied(&setup.server, name, revision).await;
        assert_eq!(view["mode"], "agent", "{view}");
        assert_eq!(view["active_revision"], json!(revision));
        assert_eq!(view["last_report"]["revision"], json!(revision), "{view}");
    }
    let list = setup.server.get("/v1/clusters/web/directors").await;
    let names: Vec<&str> = list
        .as_array()
        .expect("a list")
        .iter()
        .filter_map(|d| d["name"].as_str())
        .collect();
    assert_eq!(names, ["d1", "d2"]);

    // The next commit follows without a restart: the long-poll brings it.
    let next = setup.server.commit(spec("wrr", &[5, 2, 3])).await;
    wait_applied(&setup.server, "d1", next).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revision_the_agent_cannot_apply_is_blocked_and_the_next_good_one_applies() {
    let setup = Setup::new().await;
    let d1 = setup.agent("d1");
    let good = setup.server.commit(spec("wrr", &[1, 2, 3])).await;
    wait_applied(&setup.server, "d1", good).await;

    // The server takes `twos`; the director's kernel (Linux 6.1, as the
    // in-memory table is) has no such scheduler and refuses the service.
    let bad = setup.server.commit(spec("twos", &[1, 2, 3])).await;
    let view = wait_director(&setup.server, "d1", "the revision blocked", |v| {
        v["blocked_revision"] == json!(bad)
    })
    .await;
    assert_eq!(
        view["applied_revision"],
        json!(good),
        "the last good revision stays: {view}"
    );
    assert_eq!(view["result"], "failed_restored", "{view}");
    let errors = view["errors"].to_string();
    assert!(
        errors.contains("twos"),
        "the error names the scheduler: {errors}"
    );
    d1.wait_for_log(&format!(
        "revision {bad} failed for good; the table stays at revision {good}"
    ))
    .await;

    let fixed = setup.server.commit(spec("wrr", &[1, 2])).await;
    let view = wait_applied(&setup.server, "d1", fixed).await;
    assert!(
        view["blocked_revision"].is_null(),
        "the block is lifted: {view}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_agent_reconnects_and_reports_when_the_server_restarts_on_the_same_database() {
    let mut setup = Setup::new().await;
    let d1 = setup.agent("d1");
    let first = setup.server.commit(spec("wrr", &[1, 2, 3])).await;
    wait_applied(&setup.server, "d1", first).await;

    setup.server.stop();
    d1.wait_for_log("server unreachable, retrying in").await;
    setup.restart_server();

    // A revision committed to the restarted server reaches the agent: it
    // watches again, applies, and reports.
    let second = setup.server.commit(spec("wrr", &[4, 2, 3])).await;
    let view = wait_applied(&setup.server, "d1", second).await;
    assert_eq!(view["mode"], "agent");
    d1.wait_for_log("the server answers again").await;
}

/// The cache file's JSON body (after its checksum line).
fn cache_body(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).expect("the cache file is there");
    let (header, body) = text.split_once('\n').unwrap();
    assert!(
        header.starts_with("# lvsd agent cache v1 sha256:"),
        "{header}"
    );
    serde_json::from_str(body).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_agent_restores_its_cache_without_the_server_and_refuses_a_corrupt_one() {
    let mut setup = Setup::new().await;
    let mut d1 = setup.agent("d1");
    let revision = setup.server.commit(spec("wrr", &[1, 2, 3])).await;
    wait_applied(&setup.server, "d1", revision).await;

    let file = setup.state_dir("d1").join("web.json");
    let body = cache_body(&file);
    assert_eq!(body["desired"]["revision"], json!(revision));
    assert_eq!(
        body["desired"]["spec"]["services"][0]["id"],
        "tcp:192.168.31.100:80"
    );
    assert_eq!(body["applied"], json!(revision));

    // Without the server, a new agent applies the cached revision.
    d1.stop();
    setup.server.stop();
    let mut restarted = setup.agent("d1");
    restarted
        .wait_for_log(&format!("restored revision {revision} from cache"))
        .await;
    restarted.stop();

    // A cache damaged on disk is refused, kept aside, and never applied.
    let text = std::fs::read_to_string(&file).unwrap();
    std::fs::write(&file, text.replace("\"weight\": 3", "\"weight\": 30")).unwrap();
    let corrupt = setup.agent("d1");
    corrupt.wait_for_log("refusing the cache").await;
    corrupt
        .wait_for_log("server unreachable, retrying in")
        .await;
    corrupt
        .wait_for_log("no cached revision: the table stays as it is")
        .await;
    assert!(
        !corrupt.logged("restored revision"),
        "a corrupt cache must not be applied"
    );
    assert!(corrupt.logged("its SHA-256 does not match its content"));
    assert!(setup.state_dir("d1").join("web.json.corrupt").exists());

    // The server back, the agent applies what it says and caches it afresh.
    setup.restart_server();
    wait_applied(&setup.server, "d1", revision).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    while !file.exists() {
        assert!(Instant::now() < deadline, "no new cache file");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(cache_body(&file)["desired"]["revision"], json!(revision));
}

/// `lvsd token create` on the server's database; returns the token.
fn create_token(db: &Path, args: &[&str]) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_lvsd"))
        .args(["token", "create", "--db"])
        .arg(db)
        .args(args)
        .output()
        .expect("lvsd token create runs");
    assert!(
        output.status.success(),
        "lvsd token create {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap().trim().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_token_of_its_cluster_is_all_an_agent_needs() {
    let mut setup = Setup::new().await;
    setup
        .server
        .post("/v1/clusters", json!({"name": "shop"}))
        .await;
    let db = setup.dir.path().join("lvsd.db");
    // The first token closes the API: the test itself needs one from then on.
    setup.server.token = Some(create_token(&db, &["--name", "alice", "--role", "admin"]));
    let d1_token = create_token(
        &db,
        &["--name", "d1", "--role", "agent", "--cluster", "web"],
    );
    let shop_token = create_token(
        &db,
        &["--name", "d9", "--role", "agent", "--cluster", "shop"],
    );

    let _d1 = Agent::start(
        &setup.server.http,
        "d1",
        &setup.state_dir("d1"),
        Some(&d1_token),
    );
    let revision = setup.server.commit(spec("wrr", &[1, 2, 3])).await;
    let view = wait_applied(&setup.server, "d1", revision).await;
    assert_eq!(view["mode"], "agent");

    // Another cluster's agent token does not let an agent follow web.
    let wrong = Agent::start(
        &setup.server.http,
        "d2",
        &setup.state_dir("d2"),
        Some(&shop_token),
    );
    wrong.wait_for_log("the server refuses this agent").await;
    wrong.wait_for_log("HTTP 403").await;
    // And without any token, the agent is told what to pass.
    let none = Agent::start(&setup.server.http, "d3", &setup.state_dir("d3"), None);
    none.wait_for_log("the server wants a token").await;
    assert_eq!(
        setup.server.director("d2").await,
        Value::Null,
        "d2 never reported"
    );
}

/// One real server's health as director `director` reports it.
fn server_health<'a>(health: &'a Value, director: &str, server: &str) -> &'a Value {
    let Some(view) = health
        .as_array()
        .and_then(|all| all.iter().find(|d| d["director"] == director))
    else {
        return &Value::Null;
    };
    let servers = view["services"][0]["servers"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    servers
        .iter()
        .find(|s| s["server"] == server)
        .unwrap_or(&Value::Null)
}

/// Polls the cluster's health until `done` holds (60 s at most).
async fn wait_health(server: &Server, what: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let health = server.get("/v1/clusters/web/health").await;
        if done(&health) {
            return health;
        }
        assert!(
            Instant::now() < deadline,
            "the health never showed {what}; it shows: {health}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_agent_checks_real_servers_quiesces_a_failed_one_and_the_server_audits_it() {
    let up = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let down = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let (up_id, down_id) = (
        up.local_addr().unwrap().to_string(),
        down.local_addr().unwrap().to_string(),
    );
    let setup = Setup::new().await;
    let d1 = setup.agent("d1");
    let checked = json!({"services": [{"id": "tcp:192.168.31.100:80", "scheduler": "wrr",
        "health_check": {"type": "tcp", "interval_ms": 200, "timeout_ms": 150, "rise": 2, "fall": 2},
        "servers": [
            {"address": "127.0.0.1", "port": up.local_addr().unwrap().port(), "forwarding": "nat", "weight": 3},
            {"address": "127.0.0.1", "port": down.local_addr().unwrap().port(), "forwarding": "nat", "weight": 5}]}]});
    let revision = setup.server.commit(checked).await;
    wait_applied(&setup.server, "d1", revision).await;
    let health = wait_health(&setup.server, "both servers checked by d1", |h| {
        server_health(h, "d1", &down_id)["consecutive_successes"].as_u64() >= Some(1)
    })
    .await;
    assert_eq!(
        server_health(&health, "d1", &down_id)["effective_weight"],
        5,
        "{health}"
    );

    drop(down);
    let health = wait_health(&setup.server, "the closed server down on d1", |h| {
        server_health(h, "d1", &down_id)["healthy"] == false
            && server_health(h, "d1", &down_id)["effective_weight"] == 0
    })
    .await;
    assert_eq!(
        server_health(&health, "d1", &up_id)["effective_weight"],
        3,
        "the other keeps its weight"
    );
    // The agent quiesced it in its table: a step of cause `health`, same revision.
    d1.wait_for_log("health").await;
    let view = wait_director(&setup.server, "d1", "a health apply", |v| {
        v["last_report"]["cause"] == "health"
    })
    .await;
    assert_eq!(
        view["applied_revision"],
        json!(revision),
        "health makes no revision: {view}"
    );
    let downs = setup.server.get("/v1/audit?action=health.down").await;
    let entry = &downs[0];
    assert_eq!(entry["detail"]["director"], "d1", "{entry}");
    assert_eq!(entry["detail"]["server"], down_id, "{entry}");
    assert!(
        entry["detail"]["reason"]
            .as_str()
            .unwrap_or_default()
            .contains("connect"),
        "{entry}"
    );

    let _back = std::net::TcpListener::bind(&down_id).unwrap();
    wait_health(&setup.server, "the server back at its weight on d1", |h| {
        server_health(h, "d1", &down_id)["healthy"] == true
            && server_health(h, "d1", &down_id)["effective_weight"] == 5
    })
    .await;
    let ups = setup.server.get("/v1/audit?action=health.up").await;
    assert_eq!(ups[0]["detail"]["server"], down_id, "{ups}");
    assert_eq!(ups[0]["actor"], "director:d1", "{ups}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_server_agent_follows_the_revision_and_shows_as_mode_realserver() {
    let setup = Setup::new().await;
    // None of the spec's real servers (172.25.0.x) is an address of this
    // host: the agent serves no service here, and changes nothing on it.
    let rs = Agent::start_with(
        &setup.server.http,
        "rs1",
        &setup.state_dir("rs1"),
        None,
        &["--role", "realserver"],
    );
    let revision = setup.server.commit(spec("wrr", &[1, 2])).await;
    let view = wait_director(&setup.server, "rs1", "revision applied", |v| {
        v["applied_revision"] == json!(revision)
    })
    .await;
    assert_eq!(view["mode"], "realserver", "{view}");
    assert!(view.get("host_errors").is_none(), "{view}");
    assert!(
        !rs.logged("+ address"),
        "no VIP bound on a host that serves none"
    );

    let next = setup.server.commit(spec("wrr", &[3, 2])).await;
    wait_director(&setup.server, "rs1", "the next revision", |v| {
        v["applied_revision"] == json!(next)
    })
    .await;
}

/// A URL nothing listens on.
fn dead_server() -> String {
    format!("http://127.0.0.1:{}", free_port())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_given_a_dead_server_first_moves_on_to_the_live_one() {
    let setup = Setup::new().await;
    let dead = dead_server();
    let d1 = Agent::start(
        &format!("{dead},{}", setup.server.http),
        "d1",
        &setup.state_dir("d1"),
        None,
    );
    let revision = setup.server.commit(spec("wrr", &[1, 2, 3])).await;
    let view = wait_applied(&setup.server, "d1", revision).await;
    assert_eq!(view["mode"], "agent", "{view}");
    assert_eq!(view["last_report"]["revision"], json!(revision), "{view}");
    d1.wait_for_log(&format!(
        "switching to server {}: {dead} failed",
        setup.server.http
    ))
    .await;
    // One dead server of two is no outage: no backoff, and the loop never
    // hears that the server is out of reach.
    assert!(
        !d1.logged("unreachable, retrying in") && !d1.logged("not delivered, retrying in"),
        "the agent backed off though a server answered"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_whose_server_is_killed_mid_long_poll_converges_on_the_other() {
    let mut setup = Setup::new().await;
    let b = setup.other_server("b").await;
    let a_url = setup.server.http.clone();
    let d1 = Agent::start(
        &format!("{a_url},{}", b.http),
        "d1",
        &setup.state_dir("d1"),
        None,
    );
    let on_a = setup.server.commit(spec("wrr", &[1, 2, 3])).await;
    wait_applied(&setup.server, "d1", on_a).await;
    assert_eq!(
        b.director("d1").await,
        Value::Null,
        "the agent sticks to a while it answers"
    );

    // The agent holds a long-poll on a (--wait 5s) when a dies.
    setup.server.kill();
    d1.wait_for_log(&format!("switching to server {}: {a_url} failed", b.http))
        .await;

    // On its own database b numbers its revisions apart from a's: two
    // commits make its revision another number, and its weights tell them apart.
    b.commit(spec("wrr", &[1, 2, 3])).await;
    let on_b = b.commit(spec("wrr", &[7, 8, 9])).await;
    assert_ne!(on_b, on_a);
    let view = wait_applied(&b, "d1", on_b).await;
    assert_eq!(view["mode"], "agent", "{view}");
    assert_eq!(view["last_report"]["revision"], json!(on_b), "{view}");
    // What the agent applied is b's spec: its cache holds b's weights.
    assert_cached(&setup.state_dir("d1"), on_b, &[7, 8, 9]);
}

/// The agent whose state is in `state_dir` applied `revision`, whose real
/// servers have `weights`: what its cache holds.
fn assert_cached(state_dir: &Path, revision: i64, weights: &[u32]) {
    let cached = cache_body(&state_dir.join("web.json"));
    assert_eq!(cached["applied"], json!(revision), "{cached}");
    let cached_weights: Vec<&Value> = cached["desired"]["spec"]["services"][0]["servers"]
        .as_array()
        .expect("servers")
        .iter()
        .map(|s| &s["weight"])
        .collect();
    let weights: Vec<Value> = weights.iter().map(|w| json!(w)).collect();
    assert_eq!(
        cached_weights,
        weights.iter().collect::<Vec<_>>(),
        "{cached}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_postgres_an_agent_whose_server_dies_converges_through_the_other() {
    let db = TestDb::postgres();
    let mut a = Server::start(db.arg(), free_port());
    let b = Server::start(db.arg(), free_port());
    a.post("/v1/clusters", json!({"name": "web"})).await;
    let dir = tempfile::tempdir().unwrap();
    let state_dir = dir.path().join("d1");
    let a_url = a.http.clone();
    let d1 = Agent::start(&format!("{a_url},{}", b.http), "d1", &state_dir, None);
    let first = a.commit(spec("wrr", &[1, 2, 3])).await;
    // The agent reports to a; b serves the same database, so it shows it.
    wait_applied(&b, "d1", first).await;

    a.kill();
    let second = b.commit(spec("wrr", &[7, 8, 9])).await;
    assert_eq!(second, first + 1, "one history, whichever server commits");
    let view = wait_applied(&b, "d1", second).await;
    assert_eq!(view["last_report"]["revision"], json!(second), "{view}");
    d1.wait_for_log(&format!("switching to server {}: {a_url} failed", b.http))
        .await;
    assert_cached(&state_dir, second, &[7, 8, 9]);
}
