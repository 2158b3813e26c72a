//! How much of the table a plan takes out of service, so that a caller can
//! refuse a plan that would empty a director by mistake (a truncated spec, a
//! wrong cluster).

use std::fmt;

use super::change::Change;
use super::{Plan, PlanOptions};
use crate::ipvs::Snapshot;

/// What a plan takes out of service, against what lvsd manages in the table.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Default,
    serde::Serialize,
    serde::Deserialize,
    utoipa::ToSchema,
)]
pub struct BlastRadius {
    pub services_removed: usize,
    pub services_total: usize,
    pub servers_removed: usize,
    pub servers_total: usize,
}

impl BlastRadius {
    /// The removed share of the managed services, 0.0 for an empty table.
    pub fn services_removed_share(&self) -> f64 {
        share(self.services_removed, self.services_total)
    }

    /// The removed share of the managed services' real servers, 0.0 when there are none.
    pub fn servers_removed_share(&self) -> f64 {
        share(self.servers_removed, self.servers_total)
    }

    /// Whether either share is above `limit`.
    pub fn exceeds(&self, limit: f64) -> bool {
        self.services_removed_share() > limit || self.servers_removed_share() > limit
    }
}

fn share(part: usize, whole: usize) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 / whole as f64
    }
}

/// Counts what stops taking new connections with this plan: services
/// deleted or starting to drain, and real servers deleted (alone or with
/// their service) or set to weight 0. A real server already at weight 0
/// takes no new connections, so deleting it removes nothing, and neither
/// does deleting a service all of whose servers are at weight 0.
///
/// The totals are the services `plan` was allowed to touch, as `actual` has them.
pub fn blast_radius(plan: &Plan, actual: &Snapshot) -> BlastRadius {
    let managed = actual
        .services
        .iter()
        .filter(|e| plan.scope().manages(&e.service.key));
    let mut radius = BlastRadius::default();
    for entry in managed {
        radius.services_total += 1;
        radius.servers_total += entry.dests.len();
    }
    let mut draining_services = Vec::new();
    for change in plan.changes() {
        match change {
            Change::DelService { servers, .. } => {
                let serving = servers.iter().filter(|d| d.weight > 0).count();
                radius.servers_removed += serving;
                if serving > 0 || servers.is_empty() {
                    radius.services_removed += 1;
                }
            }
            Change::DelDest { dest, .. } if dest.weight > 0 => radius.servers_removed += 1,
            Change::DrainDest { service, dest, .. } => {
                radius.servers_removed += 1;
                let leaves = plan
                    .draining()
                    .iter()
                    .any(|d| d.service == *service && d.server == dest.key && d.service_leaves);
                if leaves && !draining_services.contains(service) {
                    draining_services.push(*service);
                }
            }
            _ => {}
        }
    }
    radius.services_removed += draining_services.len();
    radius
}

/// A plan that takes out more than the caller allows.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub struct RemovalLimitExceeded {
    pub radius: BlastRadius,
    pub limit: f64,
}

impl fmt::Display for RemovalLimitExceeded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let r = &self.radius;
        write!(
            f,
            "the plan takes {} of {} services ({:.0}%) and {} of {} real servers ({:.0}%) out of service, \
             above the limit of {:.0}%",
            r.services_removed,
            r.services_total,
            100.0 * r.services_removed_share(),
            r.servers_removed,
            r.servers_total,
            100.0 * r.servers_removed_share(),
            100.0 * self.limit
        )
    }
}

/// The plan's blast radius, or an error when it is above `options.removal_limit`.
pub fn check_removal_limit(
    plan: &Plan,
    actual: &Snapshot,
    options: &PlanOptions,
) -> Result<BlastRadius, RemovalLimitExceeded> {
    let radius = blast_radius(plan, actual);
    match options.removal_limit {
        Some(limit) if radius.exceeds(limit) => Err(RemovalLimitExceeded { radius, limit }),
        _ => Ok(radius),
    }
}
