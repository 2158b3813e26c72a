//! What the API shows of health: per service, per real server.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::ServerState;
use crate::model::time::rfc3339;
use crate::model::{CheckType, Quorum, ServerKey, ServiceKey, Spec};

/// The health of one service's real servers on one director.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ServiceHealthView {
    /// Service id, `tcp:192.168.31.100:80`.
    pub service: String,
    /// Fewer healthy real servers than the quorum (at least one when the spec sets none).
    pub degraded: bool,
    pub healthy_servers: usize,
    pub servers_total: usize,
    /// The sorry server, while it takes the traffic.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sorry_server_active: Option<String>,
    pub servers: Vec<ServerHealthView>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ServerHealthView {
    /// Real server id, `172.25.0.31:80`.
    pub server: String,
    /// The check's type; absent for a server without a check (always healthy).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub check: Option<CheckType>,
    pub healthy: bool,
    /// Its weight in the table now; absent when it is out of the table.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub effective_weight: Option<u16>,
    pub consecutive_successes: u32,
    pub consecutive_failures: u32,
    /// When the current run of failed checks began, RFC 3339.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failing_since: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// Checks run since the director started checking it.
    pub checks: u64,
}

/// The views of the services of `spec` that have checks or a sorry server,
/// given each checked server's state and the effective spec.
pub fn views<'a>(
    spec: &Spec,
    effective: &Spec,
    state: impl Fn(&ServiceKey, &ServerKey) -> Option<&'a ServerState>,
) -> Vec<ServiceHealthView> {
    let mut out = Vec::new();
    for service in spec.services() {
        let health = service.health();
        if health.checks.is_empty() && health.sorry_server.is_none() {
            continue;
        }
        let running = effective.service(&service.key);
        let weight_now = |key: &ServerKey| running.and_then(|s| s.server(key)).map(|s| s.weight);
        let unchecked = ServerState::default();
        let servers: Vec<ServerHealthView> = service
            .servers()
            .iter()
            .map(|server| {
                let check = health.checks.get(&server.key);
                let st = check
                    .and_then(|_| state(&service.key, &server.key))
                    .unwrap_or(&unchecked);
                ServerHealthView {
                    server: server.key.to_string(),
                    check: check.map(|c| c.probe.kind()),
                    healthy: st.healthy,
                    effective_weight: weight_now(&server.key),
                    consecutive_successes: st.consecutive_successes,
                    consecutive_failures: st.consecutive_failures,
                    failing_since: st.failing_since.map(rfc3339),
                    last_error: st.last_error.clone(),
                    checks: st.checks,
                }
            })
            .collect();
        let healthy_servers = servers.iter().filter(|s| s.healthy).count();
        let quorum = health.quorum.unwrap_or(Quorum::Servers(1));
        let sorry_server_active = health
            .sorry_server
            .as_ref()
            .filter(|sorry| weight_now(&sorry.key).is_some())
            .map(|s| s.key.to_string());
        out.push(ServiceHealthView {
            service: service.key.to_string(),
            degraded: !quorum.met(healthy_servers, servers.len()),
            healthy_servers,
            servers_total: servers.len(),
            sorry_server_active,
            servers,
        });
    }
    out
}
