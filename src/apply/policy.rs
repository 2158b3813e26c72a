//! How a director applies a cluster: what it owns, how real servers leave,
//! how much one apply may take out of service.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::model::ServiceKey;

/// Which services of the kernel's table a cluster manages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum OwnershipMode {
    /// The whole table: what the spec does not list is removed (services of
    /// other clusters applied to the same table excepted).
    #[default]
    Table,
    /// Only the services lvsd created for this cluster (it records them) and
    /// those its spec lists; everything else is left as it is found.
    Created,
}

impl OwnershipMode {
    pub fn as_str(self) -> &'static str {
        match self {
            OwnershipMode::Table => "table",
            OwnershipMode::Created => "created",
        }
    }
}

/// What the drift check does when the kernel differs from the active revision.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema, clap::ValueEnum,
)]
#[serde(rename_all = "lowercase")]
pub enum DriftMode {
    /// Record the drift and apply the active revision again.
    #[default]
    Restore,
    /// Record the drift and leave the table as it is.
    Report,
}

impl DriftMode {
    pub fn as_str(self) -> &'static str {
        match self {
            DriftMode::Restore => "restore",
            DriftMode::Report => "report",
        }
    }
}

/// Longest a real server drains before it is deleted with connections left, by default.
pub const DEFAULT_DRAIN_TIMEOUT: Duration = Duration::from_secs(300);

/// The rules one apply follows.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    pub ownership: OwnershipMode,
    /// Drain real servers that leave the spec (weight 0 until their
    /// connections end or the drain timeout passes) instead of deleting them.
    pub drain: bool,
    /// Per-service exceptions to `drain`.
    pub drain_services: BTreeMap<ServiceKey, bool>,
    pub drain_timeout: Duration,
    /// The largest share of the managed services, or of their real servers,
    /// one apply may take out of service; `None` for no limit.
    pub removal_limit: Option<f64>,
    /// Services that belong to someone else (another cluster applied to the
    /// same table): never touched, and a spec that lists one is refused.
    pub foreign: BTreeSet<ServiceKey>,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            ownership: OwnershipMode::Table,
            drain: false,
            drain_services: BTreeMap::new(),
            drain_timeout: DEFAULT_DRAIN_TIMEOUT,
            removal_limit: None,
            foreign: BTreeSet::new(),
        }
    }
}
