//! REST API benchmark on loopback against a release `lvsd serve`:
//! commits per second, and p50/p99 latency of reading a revision with 1,000
//! services, next to the latency of `/healthz` (the transport's floor) in the
//! same run.
//!
//! With `--postgres URL` (an admin URL such as bench/postgres.sh passes) the
//! same run is made again on a fresh PostgreSQL database, and the commit
//! rates are compared with SQLite's.
//!
//! Run: `cargo bench --bench api` (options: `-- --commits N --reads N --services N --postgres URL`).

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

fn arg(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn spec(services: usize, generation: usize) -> Value {
    let services: Vec<Value> = (0..services)
        .map(|i| {
            let vip = format!("10.{}.{}.1", 100 + i / 250, i % 250);
            let servers: Vec<Value> = (0..4)
                .map(|j| json!({"address": format!("172.{}.{}.{}", 16 + i / 250, i % 250, 10 + j), "forwarding": "nat", "weight": 1 + (j + generation) % 100}))
                .collect();
            json!({"protocol": "tcp", "address": vip, "port": 80, "scheduler": "wrr", "servers": servers})
        })
        .collect();
    json!({ "services": services })
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

async fn timed_gets(client: &reqwest::Client, url: &str, n: usize) -> Vec<Duration> {
    let mut times = Vec::with_capacity(n);
    for _ in 0..n {
        let start = Instant::now();
        let reply = client.get(url).send().await.expect("request");
        assert!(reply.status().is_success());
        reply.bytes().await.expect("body");
        times.push(start.elapsed());
    }
    times.sort();
    times
}

/// What one run measured.
struct Figures {
    small_rate: f64,
    large_rate: f64,
    revision: Vec<Duration>,
    health: Vec<Duration>,
}

/// Starts `lvsd serve --db db` and measures it.
async fn run(db: &std::ffi::OsStr, commits: usize, reads: usize, services: usize) -> Figures {
    let mut child = Command::new(env!("CARGO_BIN_EXE_lvsd"))
        .args([
            "serve",
            "--http",
            "127.0.0.1:0",
            "--grpc",
            "127.0.0.1:0",
            "--db",
        ])
        .arg(db)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .spawn()
        .expect("lvsd starts");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut base = String::new();
    for line in lines.by_ref() {
        if let Some(url) = line.unwrap().strip_prefix("lvsd: REST API on ") {
            base = url.to_string();
            break;
        }
    }
    // The rest of the banner still comes: read it, or lvsd's writes fail on a closed pipe.
    std::thread::spawn(move || lines.for_each(drop));
    let client = reqwest::Client::new();
    let post = |path: &str, body: Value| {
        client
            .post(format!("{base}{path}"))
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
    };
    post("/v1/clusters", json!({"name": "bench"}))
        .await
        .unwrap();

    // Small commits: one real server's weight changes each time (a typical edit).
    let small = spec(10, 0);
    let start = Instant::now();
    for i in 0..commits {
        let mut body = small.clone();
        body["services"][0]["servers"][0]["weight"] = json!(1 + i % 60000);
        let reply = post(
            "/v1/clusters/bench/revisions",
            json!({"message": "bench", "spec": body}),
        )
        .await
        .unwrap();
        assert_eq!(reply.status(), 201);
    }
    let small_rate = commits as f64 / start.elapsed().as_secs_f64();

    // Large commits: whole specs of `services` services x 4 real servers.
    let large_commits = (commits / 10).max(5);
    let start = Instant::now();
    for i in 0..large_commits {
        let reply = post(
            "/v1/clusters/bench/revisions",
            json!({"message": "bench", "spec": spec(services, i + 1)}),
        )
        .await
        .unwrap();
        assert_eq!(reply.status(), 201);
    }
    let large_rate = large_commits as f64 / start.elapsed().as_secs_f64();

    let latest = commits + large_commits;
    let revision = timed_gets(
        &client,
        &format!("{base}/v1/clusters/bench/revisions/{latest}"),
        reads,
    )
    .await;
    let health = timed_gets(&client, &format!("{base}/healthz"), reads).await;
    let _ = child.kill();
    let _ = child.wait();
    Figures {
        small_rate,
        large_rate,
        revision,
        health,
    }
}

fn print(store: &str, figures: &Figures, reads: usize, services: usize) {
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let Figures {
        small_rate,
        large_rate,
        revision,
        health,
    } = figures;
    println!("lvsd REST on loopback on {store}, {reads} reads each, release build");
    println!("commits/s, 10 services x 4 servers:    {small_rate:8.1}");
    println!("commits/s, {services} services x 4 servers: {large_rate:8.1}");
    println!(
        "GET revision ({services} services): p50 {:.2} ms, p99 {:.2} ms",
        ms(percentile(revision, 0.5)),
        ms(percentile(revision, 0.99))
    );
    println!(
        "GET /healthz (baseline):         p50 {:.3} ms, p99 {:.3} ms",
        ms(percentile(health, 0.5)),
        ms(percentile(health, 0.99))
    );
    println!(
        "ratio revision/healthz p50: {:.1}x",
        ms(percentile(revision, 0.5)) / ms(percentile(health, 0.5))
    );
}

/// A fresh database named `name` on the PostgreSQL server of `admin`.
fn create_database(admin: &str, name: &str) -> String {
    let made = Command::new("psql")
        .args([admin, "-qc", &format!("CREATE DATABASE {name}")])
        .status()
        .expect("psql runs");
    assert!(made.success(), "CREATE DATABASE {name}");
    let (server, _) = admin
        .rsplit_once('/')
        .expect("an admin URL ends with /DATABASE");
    format!("{server}/{name}")
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let (commits, reads, services) = (
        arg("--commits", 200),
        arg("--reads", 300),
        arg("--services", 1000),
    );
    let dir = tempfile::tempdir().expect("temp dir");
    let sqlite = run(
        dir.path().join("bench.db").as_os_str(),
        commits,
        reads,
        services,
    )
    .await;
    print("SQLite", &sqlite, reads, services);
    let args: Vec<String> = std::env::args().collect();
    let Some(admin) = args
        .iter()
        .position(|a| a == "--postgres")
        .and_then(|i| args.get(i + 1))
    else {
        return;
    };
    let db = create_database(admin, &format!("lvsd_bench_{}", std::process::id()));
    let postgres = run(std::ffi::OsStr::new(&db), commits, reads, services).await;
    println!();
    print("PostgreSQL", &postgres, reads, services);
    println!(
        "PostgreSQL/SQLite commits/s: small {:.2}x, large {:.2}x",
        postgres.small_rate / sqlite.small_rate,
        postgres.large_rate / sqlite.large_rate
    );
}
