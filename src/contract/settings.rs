//! How a cluster's revisions are applied to its directors: what the
//! settings API stores and what every director receives with its revision.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::apply::{OwnershipMode, Policy};
use crate::model::ServiceKey;

fn default_drain_timeout() -> u64 {
    crate::apply::DEFAULT_DRAIN_TIMEOUT.as_secs()
}

fn default_canary_soak() -> u64 {
    60
}

fn is_default_canary_soak(secs: &u64) -> bool {
    *secs == default_canary_soak()
}

/// How the cluster's revisions are applied to its directors.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClusterSettings {
    /// `table` (the default): the director's whole IPVS table is the
    /// cluster's, and what the spec does not list is removed. `created`: only
    /// the services lvsd created for the cluster (and those its spec lists);
    /// others are left as they are. Adopting a hand-managed director never
    /// flushes it either way: the first apply is an ordinary plan.
    #[serde(default)]
    pub ownership: OwnershipMode,
    /// Drain real servers that leave the spec (weight 0 until their active
    /// and inactive connections reach 0, or `drain_timeout_secs` passes)
    /// instead of deleting them at once. UDP services drain only when
    /// `drain_services` names them: their clients move at once.
    #[serde(default)]
    pub drain: bool,
    /// Per-service exceptions to `drain`, by service id (`tcp:192.168.31.100:80`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub drain_services: BTreeMap<String, bool>,
    /// Longest a real server drains before it is deleted with connections left; 300 by default.
    #[serde(default = "default_drain_timeout")]
    pub drain_timeout_secs: u64,
    /// Largest share (0 to 1) of the managed services, or of their real
    /// servers, one apply may take out of service; above it the apply is
    /// refused unless forced. The server's `--removal-limit` when left out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub removal_limit: Option<f64>,
    /// Directors (by name) that run a newly active revision first; the
    /// others keep the last released revision until every canary has run
    /// the new one in sync for `canary_soak_secs`. Empty (the default): every
    /// director runs the active revision at once.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub canaries: Vec<String>,
    /// How long every canary must run a new revision, applied, in sync and
    /// reporting, before the other directors get it; 60 by default.
    #[serde(
        default = "default_canary_soak",
        skip_serializing_if = "is_default_canary_soak"
    )]
    pub canary_soak_secs: u64,
}

impl Default for ClusterSettings {
    fn default() -> Self {
        ClusterSettings {
            ownership: OwnershipMode::Table,
            drain: false,
            drain_services: BTreeMap::new(),
            drain_timeout_secs: default_drain_timeout(),
            removal_limit: None,
            canaries: Vec::new(),
            canary_soak_secs: default_canary_soak(),
        }
    }
}

impl ClusterSettings {
    /// The engine's policy: these settings, with `default_limit` where they set no removal limit.
    pub fn policy(&self, default_limit: Option<f64>) -> Policy {
        Policy {
            ownership: self.ownership,
            drain: self.drain,
            drain_services: self
                .drain_services
                .iter()
                .filter_map(|(id, drain)| id.parse::<ServiceKey>().ok().map(|key| (key, *drain)))
                .collect(),
            drain_timeout: Duration::from_secs(self.drain_timeout_secs),
            removal_limit: self.removal_limit.or(default_limit),
            foreign: Default::default(),
        }
    }
}
