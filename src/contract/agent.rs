//! The messages between a server and its agents.
//!
//! - The agent asks what to run: `GET /v1/clusters/{cluster}/desired?director=NAME&after=N&wait=30s`
//!   (REST long-poll) or the gRPC server stream `WatchDesired`; both answer
//!   [`Desired`]. With `after=N` (the revision the agent runs) the server
//!   answers at once when the director should run another revision, and
//!   otherwise holds the request until something the director acts on
//!   changes (revision, settings, a zeroing request) or `wait` passes, then
//!   answers with the current state either way.
//! - The agent says what it did: `PUT /v1/clusters/{cluster}/directors/{name}`
//!   or gRPC `ReportDirector`, with a [`DirectorReport`], after every apply
//!   or drift check and at least every `report_interval_secs` (heartbeat).

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::apply::{Counters, DrainView, DriftMode, Report};
use crate::contract::ClusterSettings;
use crate::health::{HealthEvent, ServiceHealthView, Transition};
use crate::model::SpecDoc;
use crate::plan::Drift;

/// What a director should run for a cluster.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Desired {
    pub cluster: String,
    /// The revision this director should run: the cluster's active
    /// revision, or an older one while a canary rollout holds this director
    /// back. `None`: the cluster has no active revision (leave the table alone).
    pub revision: Option<i64>,
    /// The cluster's active revision.
    pub active_revision: Option<i64>,
    /// The spec of `revision`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spec: Option<SpecDoc>,
    /// How the cluster is applied (ownership, drains, removal limit).
    pub settings: ClusterSettings,
    /// The latest request to zero counters, if any: a director zeroes when
    /// its `seq` is above the one it last acted on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zero: Option<ZeroRequest>,
    /// The latest controlled switchover asked through the API, if any: the
    /// director that is master of the named VRRP instances steps down when
    /// its `seq` is above the one it last acted on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub switchover: Option<SwitchoverRequest>,
}

/// A request that the VRRP master of a cluster step down (`lvsd ha switchover`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct SwitchoverRequest {
    /// Increases with every request for the cluster.
    pub seq: u64,
    /// The VRRP instance to move; every instance of the cluster when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance: Option<String>,
}

/// A request to zero counters (`ipvsadm -Z`), made through the API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ZeroRequest {
    /// Increases with every request for the cluster.
    pub seq: u64,
    /// One service's counters (service id, `tcp:192.168.31.100:80`); all the cluster's when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
}

/// The result of a drift check: the kernel compared with the applied revision.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct DriftCheck {
    /// When it ran, RFC 3339.
    pub at: String,
    pub revision: i64,
    /// What differed; empty when the kernel is as the revision says.
    pub drift: Vec<Drift>,
    /// `restore`: the drift was (or is being) undone; `report`: only reported.
    pub mode: DriftMode,
    /// SHA-256 of the kernel state found, when in sync.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hash: Option<String>,
}

/// What a director reports about one cluster.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct DirectorReport {
    /// The agent's version (`lvsd --version`).
    pub agent_version: String,
    /// What the agent runs on: a director's IPVS table, or a real server's
    /// host settings only (shown as the director's mode, `agent` or `realserver`).
    #[serde(default)]
    pub role: AgentRole,
    /// The revision applied and verified last.
    pub applied_revision: Option<i64>,
    /// A revision refused or failed for good (like an xDS NACK): the
    /// director keeps its last good table and does not retry it until the
    /// desired revision changes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blocked_revision: Option<i64>,
    /// Applies since the previous report, oldest first; the server audits each.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub applies: Vec<Report>,
    /// The latest drift check since the previous report.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drift_check: Option<DriftCheck>,
    /// Real servers draining now.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub draining: Vec<DrainView>,
    /// The table's counters for the cluster's services.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub counters: Option<Counters>,
    /// The last zeroing request done (`ZeroRequest::seq`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zeroed_seq: Option<u64>,
    /// Its real servers' health, per service with checks
    /// (`HealthMonitor::views`); the server keeps the latest, in memory (and
    /// in the database on PostgreSQL, for the other servers).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub health: Vec<ServiceHealthView>,
    /// Real servers that went down or came back since the previous report,
    /// oldest first; the server audits each (`health.down`, `health.up`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub health_changes: Vec<HealthChange>,
    /// Why the host settings that go with the table (VIPs, sysctls, FULLNAT
    /// rules) could not be applied; empty when they are (or are off). The
    /// table stays applied; the agent tries again at its next step.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub host_errors: Vec<String>,
    /// The agent's own faults on its director, apart from the host
    /// settings: its cache cannot be written (a reboot without the server
    /// would leave the table empty), ... Empty when there are none. The
    /// server shows them with the host errors, each marked `agent:`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub agent_errors: Vec<String>,
    /// How often this agent reports at the least; the server flags the
    /// director stale after three intervals without a report.
    pub report_interval_secs: u64,
    /// Its high-availability state, when the spec has an `ha` section:
    /// VRRP instances as keepalived reports them, and the sync daemon.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ha: Option<HaReport>,
}

/// A director's high-availability state.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct HaReport {
    /// One entry per VRRP instance of the spec that this director takes part in.
    #[serde(default)]
    pub vrrp: Vec<VrrpInstanceReport>,
    /// VRRP state changes since the previous report, oldest first; the
    /// server audits each (`ha.transition`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub transitions: Vec<VrrpTransition>,
    /// The IPVS connection sync daemon threads running on this director.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sync: Option<SyncReport>,
    /// The last switchover request acted on (`SwitchoverRequest::seq`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub switchover_seq: Option<u64>,
    /// Why keepalived could not be configured or run; empty when all is well.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<String>,
}

/// One VRRP instance on one director.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct VrrpInstanceReport {
    /// The instance's name in the spec.
    pub instance: String,
    /// Virtual router id (1-255).
    pub vrid: u8,
    pub state: VrrpState,
    /// Since when, RFC 3339.
    pub since: String,
    /// The priority this director advertises now (after tracked health).
    pub priority: u8,
    /// State changes seen since the agent started.
    pub transitions: u64,
}

/// A VRRP state change on one director.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct VrrpTransition {
    /// When, RFC 3339.
    pub at: String,
    pub instance: String,
    pub from: VrrpState,
    pub to: VrrpState,
}

/// A VRRP instance's state, as keepalived names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum VrrpState {
    Master,
    Backup,
    Fault,
    /// keepalived is not running (or not yet reporting) for this instance.
    Stopped,
}

/// The IPVS sync daemon on a director.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct SyncReport {
    /// The master thread (sends this director's connections) runs.
    pub master: bool,
    /// The backup thread (receives the other directors' connections) runs.
    pub backup: bool,
    /// Connection entries in the table, when known (synced ones included).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connections: Option<u64>,
}

/// A real server going down or coming back, as a director's checks saw it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct HealthChange {
    /// When, RFC 3339.
    pub at: String,
    /// Service id, `tcp:192.168.31.100:80`.
    pub service: String,
    /// Real server id, `172.25.0.31:80`.
    pub server: String,
    /// `false`: it went down; `true`: it came back.
    pub healthy: bool,
    /// Why it went down: the last failed check's error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl From<&HealthEvent> for HealthChange {
    fn from(event: &HealthEvent) -> Self {
        let (healthy, reason) = match &event.transition {
            Transition::Down { reason } => (false, Some(reason.clone())),
            Transition::Up => (true, None),
        };
        HealthChange {
            at: crate::model::time::rfc3339(event.at),
            service: event.service.to_string(),
            server: event.server.to_string(),
            healthy,
            reason,
        }
    }
}

/// What an agent runs on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum AgentRole {
    /// A director: the IPVS table, and its host settings.
    #[default]
    Director,
    /// A real server: its host settings only (`lvsd agent --role realserver`).
    Realserver,
}
