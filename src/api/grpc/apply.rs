//! Conversions of the apply views (plans, reports, directors, settings,
//! confirmations) between the core and protobuf.

use super::convert::{count, pb_enum};
use super::pb;
use crate::apply::{ApplyResult, Cause, DrainView, OwnershipMode, Report, RestoreResult};
use crate::core::{
    ClusterSettings, Confirmed, DirectorView, PendingConfirm, PlanPreview, PlanTarget, SettingsView,
};
use crate::model::ValidationError;
use crate::plan::{BlastRadius, Drift, DriftKind, Summary};

pub fn pending_confirm(p: PendingConfirm) -> pb::PendingConfirm {
    pb::PendingConfirm {
        revision: p.revision,
        fallback: p.fallback,
        deadline: p.deadline,
        requested_by: p.requested_by,
        requested_at: p.requested_at,
    }
}

pub fn confirmed(c: Confirmed) -> pb::ConfirmResponse {
    pb::ConfirmResponse {
        cluster: c.cluster,
        revision: c.revision,
        confirmed_at: c.confirmed_at,
    }
}

fn summary(s: &Summary) -> pb::PlanSummary {
    pb::PlanSummary {
        services_added: count(s.services_added),
        services_changed: count(s.services_changed),
        services_removed: count(s.services_removed),
        servers_added: count(s.servers_added),
        servers_changed: count(s.servers_changed),
        servers_removed: count(s.servers_removed),
        servers_draining: count(s.servers_draining),
        timeouts_changed: s.timeouts_changed,
        daemons_started: count(s.daemons_started),
        daemons_restarted: count(s.daemons_restarted),
        daemons_stopped: count(s.daemons_stopped),
    }
}

fn blast_radius(r: &BlastRadius) -> pb::BlastRadius {
    pb::BlastRadius {
        services_removed: count(r.services_removed),
        services_total: count(r.services_total),
        servers_removed: count(r.servers_removed),
        servers_total: count(r.servers_total),
    }
}

pub fn plan_preview(p: PlanPreview) -> pb::PlanPreview {
    let against = match p.against {
        PlanTarget::Director => pb::PlanTarget::Director,
        PlanTarget::EmptyTable => pb::PlanTarget::EmptyTable,
    };
    pb::PlanPreview {
        summary: Some(summary(&p.summary)),
        blast_radius: Some(blast_radius(&p.blast_radius)),
        cluster: p.cluster,
        revision: p.revision,
        against: against.into(),
        director: p.director,
        changes: p.changes,
        ops: p.ops,
        refused: p.refused,
    }
}

fn result(r: ApplyResult) -> pb::ApplyResult {
    match r {
        ApplyResult::Applied => pb::ApplyResult::Applied,
        ApplyResult::Refused => pb::ApplyResult::Refused,
        ApplyResult::Failed => pb::ApplyResult::Failed,
        ApplyResult::FailedRestored => pb::ApplyResult::FailedRestored,
        ApplyResult::FailedRestoreFailed => pb::ApplyResult::FailedRestoreFailed,
    }
}

fn cause(c: Cause) -> pb::ApplyCause {
    match c {
        Cause::Activation => pb::ApplyCause::Activation,
        Cause::Retry => pb::ApplyCause::Retry,
        Cause::Drift => pb::ApplyCause::Drift,
        Cause::Drain => pb::ApplyCause::Drain,
        Cause::Requested => pb::ApplyCause::Requested,
        Cause::Forced => pb::ApplyCause::Forced,
        Cause::Health => pb::ApplyCause::Health,
    }
}

fn drain(d: DrainView) -> pb::Drain {
    pb::Drain {
        service: d.service,
        server: d.server,
        active_conns: d.active_conns,
        inactive_conns: d.inactive_conns,
        started_at: d.started_at,
        deadline: d.deadline,
        service_leaves: d.service_leaves,
    }
}

pub fn report(r: Report) -> pb::ApplyReport {
    pb::ApplyReport {
        revision: r.revision,
        cause: cause(r.cause).into(),
        result: result(r.result).into(),
        errors: r.errors,
        failed_op: r.failed_op.map(|f| pb::FailedOp {
            index: count(f.index),
            op: f.op,
            error: f.error,
            errno: f.errno,
        }),
        restore: r.restore.map(|x| pb::RestoreReport {
            result: match x.result {
                RestoreResult::Restored => pb::RestoreResult::Restored,
                RestoreResult::Failed => pb::RestoreResult::Failed,
            }
            .into(),
            ops: count(x.ops),
            errors: x.errors,
        }),
        summary: Some(summary(&r.summary)),
        blast_radius: r.blast_radius.as_ref().map(blast_radius),
        ops: count(r.ops),
        plan: r.plan,
        draining: r.draining.into_iter().map(drain).collect(),
        pending: r.pending,
        verified_hash: r.verified_hash,
        at: r.at,
        timings: Some(pb::ApplyTimings {
            read_ms: r.timings.read_ms,
            plan_ms: r.timings.plan_ms,
            apply_ms: r.timings.apply_ms,
            restore_ms: r.timings.restore_ms,
            verify_ms: r.timings.verify_ms,
            total_ms: r.timings.total_ms,
            commit_to_kernel_ms: r.timings.commit_to_kernel_ms,
            activation_to_kernel_ms: r.timings.activation_to_kernel_ms,
        }),
    }
}

fn drift(d: Drift) -> pb::Drift {
    let kind = match d.kind {
        DriftKind::Missing => pb::DriftKind::Missing,
        DriftKind::Unexpected => pb::DriftKind::Unexpected,
        DriftKind::Differs => pb::DriftKind::Differs,
        DriftKind::Draining => pb::DriftKind::Draining,
    };
    pb::Drift {
        object: d.object,
        kind: kind.into(),
        details: d.details,
    }
}

pub fn director(d: DirectorView) -> pb::Director {
    pb::Director {
        cluster: d.cluster,
        name: d.name,
        mode: d.mode,
        active_revision: d.active_revision,
        applied_revision: d.applied_revision,
        in_sync: d.in_sync,
        blocked_revision: d.blocked_revision,
        result: d.result.map(|r| result(r).into()),
        errors: d.errors,
        applied_at: d.applied_at,
        verified_hash: d.verified_hash,
        checked_at: d.checked_at,
        drift: d.drift.into_iter().map(drift).collect(),
        draining: d.draining.into_iter().map(drain).collect(),
        last_report: d.last_report.map(report),
    }
}

pub fn settings(view: SettingsView) -> pb::ClusterSettings {
    let s = view.settings;
    let ownership = match s.ownership {
        OwnershipMode::Table => pb::Ownership::Table,
        OwnershipMode::Created => pb::Ownership::Created,
    };
    pb::ClusterSettings {
        cluster: view.cluster,
        ownership: Some(ownership.into()),
        drain: s.drain,
        drain_services: s.drain_services.into_iter().collect(),
        drain_timeout_secs: Some(s.drain_timeout_secs),
        removal_limit: s.removal_limit,
        updated_at: view.updated_at,
        updated_by: view.updated_by,
    }
}

/// Settings as sent; the core validates them.
pub fn settings_in(s: &pb::ClusterSettings) -> Result<ClusterSettings, ValidationError> {
    let defaults = ClusterSettings::default();
    let ownership = match s.ownership {
        None => defaults.ownership,
        Some(raw) => pb_enum(
            raw,
            "ownership",
            "ownership",
            "table or created",
            pb::Ownership::as_str_name,
            |o| match o {
                pb::Ownership::Unspecified => None,
                pb::Ownership::Table => Some(OwnershipMode::Table),
                pb::Ownership::Created => Some(OwnershipMode::Created),
            },
        )?,
    };
    Ok(ClusterSettings {
        ownership,
        drain: s.drain,
        drain_services: s
            .drain_services
            .iter()
            .map(|(k, v)| (k.clone(), *v))
            .collect(),
        drain_timeout_secs: s.drain_timeout_secs.unwrap_or(defaults.drain_timeout_secs),
        removal_limit: s.removal_limit,
    })
}
