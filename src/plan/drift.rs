//! Drift: how the kernel's table differs from the spec, in words, for the
//! reconcile loop to audit and report. It is the plan read as a list of
//! differences rather than of operations, so the two never disagree.

use std::fmt;

use serde::Serialize;

use super::change::{Change, join};
use super::{Plan, PlanOptions, plan, server_name};
use crate::ipvs::Snapshot;
use crate::model::Spec;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DriftKind {
    /// In the spec, not in the kernel.
    Missing,
    /// In the kernel, not in the spec.
    Unexpected,
    /// In both, with other settings.
    Differs,
    /// Leaving the kernel gracefully: weight 0, connections finishing.
    Draining,
}

/// One difference between the kernel and the spec.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct Drift {
    /// "service tcp 10.0.0.1:80", "real server 172.25.0.31:80 of tcp 10.0.0.1:80", "timeouts", "sync daemon master".
    pub object: String,
    pub kind: DriftKind,
    /// For `Differs`: each setting as "field: kernel X, spec Y"; otherwise any remark.
    pub details: Vec<String>,
}

impl fmt::Display for Drift {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self.kind {
            DriftKind::Missing => "in the spec, missing from the kernel",
            DriftKind::Unexpected => "in the kernel, not in the spec",
            DriftKind::Differs => "differs from the spec",
            DriftKind::Draining => "draining",
        };
        write!(f, "{}: {what}", self.object)?;
        if !self.details.is_empty() {
            write!(f, " ({})", join(&self.details, "; "))?;
        }
        Ok(())
    }
}

/// How `actual` differs from `desired`, within what `options.ownership` lets lvsd manage.
pub fn drift(actual: &Snapshot, desired: &Spec, options: &PlanOptions) -> Vec<Drift> {
    plan(actual, desired, options).drift()
}

impl Plan {
    /// The plan's changes as differences, then its drains in progress and deferred changes.
    pub fn drift(&self) -> Vec<Drift> {
        let mut drifts: Vec<Drift> = self.changes().iter().map(change_drift).collect();
        drifts.extend(self.drains_in_progress().map(|d| Drift {
            object: server_name(&d.service, &d.server),
            kind: DriftKind::Draining,
            details: vec![format!(
                "{} active, {} inactive connections left",
                d.active_conns, d.inact_conns
            )],
        }));
        drifts.extend(self.deferred().iter().map(|d| {
            let mut drift = change_drift(&d.change);
            drift.details.push(format!("not yet: {}", d.reason));
            drift
        }));
        drifts
    }
}

fn change_drift(change: &Change) -> Drift {
    let (kind, details) = match change {
        Change::AddService(_) | Change::AddDest { .. } | Change::StartDaemon(_) => {
            (DriftKind::Missing, Vec::new())
        }
        Change::DelService { servers, .. } => {
            let details = match servers.len() {
                0 => Vec::new(),
                1 => vec!["with its real server".to_string()],
                n => vec![format!("with its {n} real servers")],
            };
            (DriftKind::Unexpected, details)
        }
        Change::DelDest { .. } | Change::StopDaemon(_) => (DriftKind::Unexpected, Vec::new()),
        Change::DrainDest { conns, .. } => (
            DriftKind::Unexpected,
            vec![format!(
                "still taking connections, {conns} open; to be drained"
            )],
        ),
        Change::EditService { .. }
        | Change::EditDest { .. }
        | Change::SetTimeouts { .. }
        | Change::RestartDaemon { .. } => {
            let details = change
                .field_changes()
                .into_iter()
                .map(|c| format!("{}: kernel {}, spec {}", c.field, c.before, c.after))
                .collect();
            (DriftKind::Differs, details)
        }
    };
    Drift {
        object: change.object(),
        kind,
        details,
    }
}
