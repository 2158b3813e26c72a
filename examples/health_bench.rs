//! The health checker's cost: `bench/health.sh` runs it.
//!
//! `health_bench listen N BASE_PORT`: N listeners on 127.0.0.1 from
//! BASE_PORT, the first half answering HTTP (`200 ok`), the rest accepting
//! TCP connections and closing them.
//!
//! `health_bench check N BASE_PORT SECS CLK_TCK`: one `HealthMonitor`
//! checking those N real servers every second (the first half over http,
//! the rest over tcp) for SECS seconds, then prints what it cost: CPU time
//! (user + sys from /proc/self/stat), peak RSS (VmHWM), checks per second
//! and how many failed.

use std::sync::Arc;
use std::time::{Duration, Instant};

use lvsd::health::{HealthMonitor, MonitorOptions};
use lvsd::model::Spec;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let number = |i: usize| -> u64 {
        args.get(i)
            .and_then(|a| a.parse().ok())
            .unwrap_or_else(|| usage())
    };
    let runtime = tokio::runtime::Runtime::new().expect("a tokio runtime");
    match args.first().map(String::as_str) {
        Some("listen") => runtime.block_on(listen(number(1) as u16, number(2) as u16)),
        Some("check") => runtime.block_on(check(
            number(1) as u16,
            number(2) as u16,
            number(3),
            number(4),
        )),
        _ => usage(),
    }
}

fn usage() -> ! {
    eprintln!("usage: health_bench listen N BASE_PORT | check N BASE_PORT SECS CLK_TCK");
    std::process::exit(2)
}

fn http_servers(n: u16) -> u16 {
    n / 2
}

async fn listen(n: u16, base: u16) {
    for i in 0..n {
        let listener = TcpListener::bind(("127.0.0.1", base + i))
            .await
            .expect("binding a listener");
        let http = i < http_servers(n);
        tokio::spawn(async move {
            loop {
                let Ok((mut conn, _)) = listener.accept().await else {
                    continue;
                };
                if !http {
                    continue; // dropped: closed
                }
                tokio::spawn(async move {
                    let mut request = Vec::new();
                    let mut buf = [0; 1024];
                    while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                        match conn.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => request.extend_from_slice(&buf[..n]),
                        }
                    }
                    let _ = conn
                        .write_all(
                            b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok",
                        )
                        .await;
                });
            }
        });
    }
    println!("listening");
    std::future::pending::<()>().await;
}

fn spec(n: u16, base: u16) -> Spec {
    let servers = |range: std::ops::Range<u16>| {
        range
            .map(|i| {
                format!(
                    r#"{{"address":"127.0.0.1","port":{},"forwarding":"nat"}}"#,
                    base + i
                )
            })
            .collect::<Vec<_>>()
            .join(",")
    };
    let half = http_servers(n);
    let check = |kind: &str| {
        format!(r#"{{"type":"{kind}","interval_ms":1000,"timeout_ms":900,"rise":2,"fall":3}}"#)
    };
    let json = format!(
        r#"{{"services":[
            {{"id":"tcp:10.0.0.1:80","health_check":{},"servers":[{}]}},
            {{"id":"tcp:10.0.0.2:80","health_check":{},"servers":[{}]}}]}}"#,
        check("http"),
        servers(0..half),
        check("tcp"),
        servers(half..n)
    );
    Spec::from_json(json.as_bytes()).expect("a valid spec")
}

async fn check(n: u16, base: u16, secs: u64, clk_tck: u64) {
    let monitor = HealthMonitor::new(Arc::new(spec(n, base)), MonitorOptions::default());
    let started = Instant::now();
    tokio::time::sleep(Duration::from_secs(secs)).await;
    let elapsed = started.elapsed().as_secs_f64();
    let states = monitor.states();
    drop(monitor);
    let checks: u64 = states.values().map(|s| s.checks).sum();
    let failing = states
        .values()
        .filter(|s| s.consecutive_failures > 0 || !s.healthy)
        .count();
    let errors: Vec<&String> = states
        .values()
        .filter_map(|s| s.last_error.as_ref())
        .take(3)
        .collect();

    let stat = std::fs::read_to_string("/proc/self/stat").expect("/proc/self/stat");
    // Fields after the command name (which may hold spaces): utime is the 14th field, stime the 15th.
    let after_name = &stat[stat.rfind(')').expect("a command name") + 2..];
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let hwm = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .unwrap_or("VmHWM: ?")
        .trim_start_matches("VmHWM:")
        .trim();
    let cpu = ticks as f64 / clk_tck as f64;
    println!(
        "servers={n} ({} http, {} tcp) secs={elapsed:.1} checks={checks} checks_per_sec={:.1} cpu_secs={cpu:.2} cpu_share={:.1}% peak_rss={hwm} failing={failing} {errors:?}",
        http_servers(n),
        n - http_servers(n),
        checks as f64 / elapsed,
        100.0 * cpu / elapsed,
    );
}
