//! `lvsd agent --role realserver`: a real server's agent. No IPVS table:
//! it follows the revision the server says to run, like a director's
//! agent, and keeps this host's real-server settings in step with it (the
//! VIPs of the DR and TUN services with a real server at one of this host's
//! addresses, on `lo` or `tunl0`, with ARP kept quiet), taking back what it
//! added when those services go. It reports as a director of mode
//! `realserver`: the revision whose settings it applied, and why they fail.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::Instant;

use super::client::ServerClient;
use super::host::HostSetup;
use super::link::{FromServer, Reachability, send_reports, watch_desired};
use super::outbox::{CAPACITY, Outbox};
use crate::contract::agent::{AgentRole, DirectorReport};
use crate::model::Spec;

/// How the real-server agent runs.
#[derive(Debug, Clone)]
pub struct Options {
    pub cluster: String,
    /// This host's name in the API.
    pub name: String,
    /// Report at least this often.
    pub report_interval: Duration,
    /// Retry failed host settings this often.
    pub retry_interval: Duration,
    /// How long the server may hold a long-poll.
    pub wait: Duration,
}

/// Runs the real-server agent until `shutdown` resolves.
pub async fn run(
    options: Options,
    mut host: HostSetup,
    client: ServerClient,
    shutdown: impl std::future::Future<Output = ()>,
) {
    let (to_loop, mut from_server) = mpsc::channel(8);
    let link = Arc::new(Reachability::default());
    let outbox = Arc::new(Outbox::new(CAPACITY));
    let watcher = tokio::spawn(watch_desired(
        client.clone(),
        options.wait,
        to_loop,
        link.clone(),
    ));
    let sender = tokio::spawn(send_reports(client, outbox.clone(), link));
    // The revision and spec to follow, and the revision whose settings are on the host.
    let mut target: Option<(i64, Spec)> = None;
    let mut applied: Option<i64> = None;
    let mut retry: Option<Instant> = None;
    let mut heartbeat = Instant::now() + options.report_interval;
    tokio::pin!(shutdown);
    loop {
        let retry_due = async {
            match retry {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        let mut step = false;
        tokio::select! {
            () = &mut shutdown => break,
            message = from_server.recv() => match message {
                Some(FromServer::Desired(desired)) => {
                    let changed = target.as_ref().map(|(n, _)| Some(*n)) != Some(desired.revision);
                    match (desired.revision, desired.spec.map(|doc| doc.validate())) {
                        (Some(revision), Some(Ok(spec))) if changed => {
                            target = Some((revision, spec));
                            step = true;
                        }
                        (Some(revision), Some(Err(err))) if changed => {
                            tracing::error!(revision, "the server's spec of revision {revision} is invalid: {err}; the host stays as it is");
                        }
                        _ => {}
                    }
                }
                Some(FromServer::Unreachable) => {}
                None => break,
            },
            () = retry_due => step = true,
            () = tokio::time::sleep_until(heartbeat) => {}
        }
        if step && let Some((revision, spec)) = &target {
            retry = None;
            tokio::task::block_in_place(|| host.apply(spec));
            if host.failing() {
                retry = Some(Instant::now() + options.retry_interval);
            } else {
                if applied != Some(*revision) {
                    tracing::info!(
                        revision,
                        "real-server settings of revision {revision} applied"
                    );
                }
                applied = Some(*revision);
            }
        }
        outbox.push(DirectorReport {
            agent_version: env!("CARGO_PKG_VERSION").to_string(),
            role: AgentRole::Realserver,
            applied_revision: applied,
            blocked_revision: None,
            applies: Vec::new(),
            drift_check: None,
            draining: Vec::new(),
            counters: None,
            zeroed_seq: None,
            health: Vec::new(),
            health_changes: Vec::new(),
            host_errors: host.errors().to_vec(),
            agent_errors: Vec::new(),
            report_interval_secs: options.report_interval.as_secs().max(1),
            ha: None,
        });
        heartbeat = Instant::now() + options.report_interval;
    }
    watcher.abort();
    sender.abort();
}
