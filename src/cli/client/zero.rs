//! `lvsd zero --cluster C [-t|-u|--sctp-service VIP:PORT | -f MARK]`: zeroes
//! counters on every director of a cluster, through the server (`POST
//! /v1/clusters/{cluster}/zero`). Without `--cluster` or `--server`, `lvsd
//! zero` is the local command on this host's own kernel (`cli::local`).

use reqwest::Method;
use serde::Deserialize;
use serde_json::json;

use super::api::Body;
use super::{Client, Failure, print_json};
use crate::model::ServiceKey;

#[derive(Debug, Deserialize)]
struct ZeroView {
    seq: u64,
    #[serde(default)]
    service: Option<String>,
    #[serde(default)]
    zeroed_by: Option<String>,
    #[serde(default)]
    local_error: Option<String>,
}

pub fn zero(client: &Client, service: Option<ServiceKey>) -> Result<(), Failure> {
    let body = json!({ "service": service.map(|key| key.to_string()) });
    let reply = client.api.send(Method::POST, &client.path("/zero"), Body::Json(body), None).map_err(|f| {
        f.hint_if(
            |err| err.status == 404 && err.message == "no such endpoint",
            "this server is older than the command: it cannot zero counters; run `lvsd zero` on each director",
        )
    })?;
    if client.json() {
        print_json(&reply.value());
        return Ok(());
    }
    let view: ZeroView = reply.json()?;
    let what = view
        .service
        .as_deref()
        .map_or("every service".to_string(), |s| format!("service {s}"));
    println!(
        "zeroing request {} for {what} of cluster {}",
        view.seq, client.cluster
    );
    if let Some(director) = view.zeroed_by {
        println!("  {director} (this server's own director): zeroed");
    }
    if let Some(error) = view.local_error {
        println!("  this server's own director could not zero: {error}");
    }
    println!(
        "  agents zero when they next hear from the server; `lvsd directors` shows what each did (zeroed_seq)"
    );
    Ok(())
}
