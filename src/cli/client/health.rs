//! `lvsd health`: real servers' health as the cluster's directors see it.

use clap::Args;

use super::{Client, Conn, Failure, exit_codes, print_json, render};
use crate::core::DirectorServersHealth;
use crate::health::ServiceHealthView;

#[derive(Debug, Args)]
#[command(
    long_about = "Show the health of the cluster's real servers as each director last\n\
checked them: healthy or failed, since when, the last error, and the weight\n\
each has in the table now (`-` when a failed server is out of it). A service\n\
below its quorum is marked DEGRADED; the sorry server is named while it takes\n\
the traffic.",
    after_help = concat!(
"Examples:
  lvsd health
  lvsd health --cluster web
  lvsd health --output json

", exit_codes!()))]
pub struct HealthArgs {
    #[command(flatten)]
    pub conn: Conn,
}

pub fn health(client: &Client, _args: HealthArgs) -> Result<(), Failure> {
    let reply = client.api.get(&client.path("/health"))?;
    if client.json() {
        print_json(&reply.value());
        return Ok(());
    }
    let directors: Vec<DirectorServersHealth> = reply.json()?;
    if directors.is_empty() {
        println!("no director of {} reports health checks", client.cluster);
        return Ok(());
    }
    for director in &directors {
        println!("Director {} (at {})", director.director, director.at);
        for service in &director.services {
            print!("{}", service_block(service));
        }
    }
    Ok(())
}

fn service_block(service: &ServiceHealthView) -> String {
    let mut out = format!(
        "  {}  {}/{} healthy",
        service.service, service.healthy_servers, service.servers_total
    );
    if service.degraded {
        out.push_str("  DEGRADED");
    }
    if let Some(sorry) = &service.sorry_server_active {
        out.push_str(&format!("  sorry server {sorry} in use"));
    }
    out.push('\n');
    let mut rows = vec![
        [
            "  SERVER",
            "CHECK",
            "STATE",
            "WEIGHT",
            "OK/FAIL",
            "FAILING SINCE",
            "LAST ERROR",
        ]
        .map(String::from)
        .to_vec(),
    ];
    for s in &service.servers {
        rows.push(vec![
            format!("  {}", s.server),
            s.check.map_or("-", |c| c.as_str()).to_string(),
            if s.healthy { "up" } else { "down" }.to_string(),
            s.effective_weight
                .map_or_else(|| "-".to_string(), |w| w.to_string()),
            format!("{}/{}", s.consecutive_successes, s.consecutive_failures),
            s.failing_since.clone().unwrap_or_else(|| "-".into()),
            s.last_error.clone().unwrap_or_else(|| "-".into()),
        ]);
    }
    out.push_str(&render::columns(&rows));
    out
}
