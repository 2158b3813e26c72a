//! What one apply did, as a director reports it.

use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::model::time::rfc3339;
use crate::plan::{BlastRadius, Summary};

/// How an apply ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ApplyResult {
    /// Every operation took effect and the table was verified against the spec.
    Applied,
    /// Nothing was sent: the plan takes out more than the removal limit
    /// allows, or lists services that are not this cluster's to manage.
    Refused,
    /// Nothing was changed: the table could not be read, or the operations
    /// took effect but the table read back does not match the spec.
    Failed,
    /// An operation failed; the operations before it were undone and the
    /// table is back exactly as it was before the apply.
    FailedRestored,
    /// An operation failed and undoing the others failed too: the table is
    /// neither as it was nor as the spec says.
    FailedRestoreFailed,
}

impl ApplyResult {
    pub fn as_str(self) -> &'static str {
        match self {
            ApplyResult::Applied => "applied",
            ApplyResult::Refused => "refused",
            ApplyResult::Failed => "failed",
            ApplyResult::FailedRestored => "failed_restored",
            ApplyResult::FailedRestoreFailed => "failed_restore_failed",
        }
    }

    pub fn is_ok(self) -> bool {
        self == ApplyResult::Applied
    }
}

/// Why an apply ran.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Cause {
    /// A new active revision.
    Activation,
    /// The same revision again, after a transient failure.
    Retry,
    /// The kernel drifted from the active revision and was restored.
    Drift,
    /// A drain ended (connections gone or deadline passed).
    Drain,
    /// An operator asked for it.
    Requested,
    /// An operator asked for it, past the removal limit if need be.
    Forced,
    /// Real servers' health changed their weights (or brought in the sorry
    /// server); past the removal limit, as a failed server must stop taking clients.
    Health,
}

/// The operation the kernel refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct FailedOp {
    /// Its place in the plan, from 0.
    pub index: usize,
    /// What it does: "adding real server 10.9.0.1:80 to tcp 192.168.31.100:80".
    pub op: String,
    pub error: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub errno: Option<i32>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RestoreResult {
    /// The table read back equals its state before the apply.
    Restored,
    /// Undoing failed, or the table read back still differs.
    Failed,
}

/// Undoing the operations of a failed apply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct RestoreReport {
    pub result: RestoreResult,
    /// Compensating operations sent.
    pub ops: usize,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<String>,
}

/// A real server being drained.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct DrainView {
    /// Service id, `tcp:192.168.31.100:80`.
    pub service: String,
    /// `172.25.0.33:80`.
    pub server: String,
    pub active_conns: u32,
    pub inactive_conns: u32,
    pub started_at: String,
    /// When it is deleted whatever connections remain.
    pub deadline: String,
    /// The service leaves the spec too, and goes once its servers are drained.
    pub service_leaves: bool,
}

/// Milliseconds spent in each step.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize, ToSchema)]
pub struct Timings {
    /// Reading the table before planning.
    pub read_ms: f64,
    pub plan_ms: f64,
    /// Sending the operations.
    pub apply_ms: f64,
    /// Undoing them after a failure.
    pub restore_ms: f64,
    /// Reading back and comparing with the spec.
    pub verify_ms: f64,
    pub total_ms: f64,
    /// For the apply of a new active revision: from the start of the commit
    /// (rollback, activation) in lvsd to the kernel's acknowledgment of the
    /// last operation. Known where the commit and the apply run in one process.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit_to_kernel_ms: Option<f64>,
    /// The same from the moment the commit was durable in the store (the
    /// director's part: noticing the activation, planning, sending).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub activation_to_kernel_ms: Option<f64>,
}

pub(crate) fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 1e6).round() / 1e3
}

/// The report of one apply.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Report {
    /// The revision applied (absent for a spec applied outside any revision).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<i64>,
    pub cause: Cause,
    pub result: ApplyResult,
    /// What went wrong, in words; empty when applied.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed_op: Option<FailedOp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restore: Option<RestoreReport>,
    pub summary: Summary,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blast_radius: Option<BlastRadius>,
    /// Kernel operations sent (compensation aside).
    pub ops: usize,
    /// The plan, one line per change (at most 200 lines).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub plan: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub draining: Vec<DrainView>,
    /// Changes the kernel does not allow yet, and why.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pending: Vec<String>,
    /// SHA-256 of the configuration verified in the kernel (see `apply::hash`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verified_hash: Option<String>,
    /// When the apply ended, RFC 3339.
    pub at: String,
    pub timings: Timings,
}

/// Longest plan kept in a report.
pub const PLAN_LINES: usize = 200;

impl Report {
    pub(crate) fn new(cause: Cause) -> Self {
        Report {
            revision: None,
            cause,
            result: ApplyResult::Failed,
            errors: Vec::new(),
            failed_op: None,
            restore: None,
            summary: Summary::default(),
            blast_radius: None,
            ops: 0,
            plan: Vec::new(),
            draining: Vec::new(),
            pending: Vec::new(),
            verified_hash: None,
            at: rfc3339(SystemTime::now()),
            timings: Timings::default(),
        }
    }
}
