//! Conversions of the apply views (plans, reports, directors, settings,
//! confirmations) between the core and protobuf.

use super::convert::{count, pb_enum};
use super::pb;
use crate::apply::{
    ApplyResult, Cause, DrainView, FailedOp, OwnershipMode, Report, RestoreReport, RestoreResult,
    Timings,
};
use crate::core::{
    ClusterSettings, Confirmed, DirectorHealth, DirectorView, PendingConfirm, PlanPreview,
    PlanTarget, SettingsView,
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

pub(super) fn drain_in(d: &pb::Drain) -> DrainView {
    DrainView {
        service: d.service.clone(),
        server: d.server.clone(),
        active_conns: d.active_conns,
        inactive_conns: d.inactive_conns,
        started_at: d.started_at.clone(),
        deadline: d.deadline.clone(),
        service_leaves: d.service_leaves,
    }
}

fn summary_in(s: Option<&pb::PlanSummary>) -> Summary {
    s.map_or_else(Summary::default, |s| Summary {
        services_added: s.services_added as usize,
        services_changed: s.services_changed as usize,
        services_removed: s.services_removed as usize,
        servers_added: s.servers_added as usize,
        servers_changed: s.servers_changed as usize,
        servers_removed: s.servers_removed as usize,
        servers_draining: s.servers_draining as usize,
        timeouts_changed: s.timeouts_changed,
        daemons_started: s.daemons_started as usize,
        daemons_restarted: s.daemons_restarted as usize,
        daemons_stopped: s.daemons_stopped as usize,
    })
}

/// An apply report as an agent sent it, its enums checked (`field` names it: `applies[0]`).
pub(super) fn report_in(r: &pb::ApplyReport, field: &str) -> Result<Report, ValidationError> {
    let cause = pb_enum(
        r.cause,
        &format!("{field}.cause"),
        "cause",
        "activation, retry, drift, drain, forced, requested or health",
        pb::ApplyCause::as_str_name,
        |c| match c {
            pb::ApplyCause::Unspecified => None,
            pb::ApplyCause::Activation => Some(Cause::Activation),
            pb::ApplyCause::Retry => Some(Cause::Retry),
            pb::ApplyCause::Drift => Some(Cause::Drift),
            pb::ApplyCause::Drain => Some(Cause::Drain),
            pb::ApplyCause::Forced => Some(Cause::Forced),
            pb::ApplyCause::Requested => Some(Cause::Requested),
            pb::ApplyCause::Health => Some(Cause::Health),
        },
    )?;
    let result = pb_enum(
        r.result,
        &format!("{field}.result"),
        "result",
        "applied, refused, failed, failed_restored or failed_restore_failed",
        pb::ApplyResult::as_str_name,
        |x| match x {
            pb::ApplyResult::Unspecified => None,
            pb::ApplyResult::Applied => Some(ApplyResult::Applied),
            pb::ApplyResult::Refused => Some(ApplyResult::Refused),
            pb::ApplyResult::Failed => Some(ApplyResult::Failed),
            pb::ApplyResult::FailedRestored => Some(ApplyResult::FailedRestored),
            pb::ApplyResult::FailedRestoreFailed => Some(ApplyResult::FailedRestoreFailed),
        },
    )?;
    let restore = match &r.restore {
        None => None,
        Some(x) => Some(RestoreReport {
            result: pb_enum(
                x.result,
                &format!("{field}.restore.result"),
                "restore result",
                "restored or failed",
                pb::RestoreResult::as_str_name,
                |x| match x {
                    pb::RestoreResult::Unspecified => None,
                    pb::RestoreResult::Restored => Some(RestoreResult::Restored),
                    pb::RestoreResult::Failed => Some(RestoreResult::Failed),
                },
            )?,
            ops: x.ops as usize,
            errors: x.errors.clone(),
        }),
    };
    let timings = r
        .timings
        .as_ref()
        .map_or_else(Timings::default, |t| Timings {
            read_ms: t.read_ms,
            plan_ms: t.plan_ms,
            apply_ms: t.apply_ms,
            restore_ms: t.restore_ms,
            verify_ms: t.verify_ms,
            total_ms: t.total_ms,
            commit_to_kernel_ms: t.commit_to_kernel_ms,
            activation_to_kernel_ms: t.activation_to_kernel_ms,
        });
    Ok(Report {
        revision: r.revision,
        cause,
        result,
        errors: r.errors.clone(),
        failed_op: r.failed_op.as_ref().map(|f| FailedOp {
            index: f.index as usize,
            op: f.op.clone(),
            error: f.error.clone(),
            errno: f.errno,
        }),
        restore,
        summary: summary_in(r.summary.as_ref()),
        blast_radius: r.blast_radius.as_ref().map(|b| BlastRadius {
            services_removed: b.services_removed as usize,
            services_total: b.services_total as usize,
            servers_removed: b.servers_removed as usize,
            servers_total: b.servers_total as usize,
        }),
        ops: r.ops as usize,
        plan: r.plan.clone(),
        draining: r.draining.iter().map(drain_in).collect(),
        pending: r.pending.clone(),
        verified_hash: r.verified_hash.clone(),
        at: r.at.clone(),
        timings,
    })
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

fn health(h: DirectorHealth) -> pb::DirectorHealth {
    match h {
        DirectorHealth::Ok => pb::DirectorHealth::Ok,
        DirectorHealth::Applying => pb::DirectorHealth::Applying,
        DirectorHealth::Refused => pb::DirectorHealth::Refused,
        DirectorHealth::Failed => pb::DirectorHealth::Failed,
        DirectorHealth::Drift => pb::DirectorHealth::Drift,
        DirectorHealth::Stale => pb::DirectorHealth::Stale,
    }
}

pub fn director(d: DirectorView) -> pb::Director {
    pb::Director {
        health: health(d.health).into(),
        desired_revision: d.desired_revision,
        lag_revisions: d.lag_revisions,
        behind_since: d.behind_since,
        last_heartbeat: d.last_heartbeat,
        heartbeat_age_secs: d.heartbeat_age_secs,
        report_interval_secs: d.report_interval_secs,
        stale: d.stale,
        agent_version: d.agent_version,
        zeroed_seq: d.zeroed_seq,
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
        ha: d.ha.map(super::ha::ha_report_out),
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
        canaries: s.canaries,
        canary_soak_secs: Some(s.canary_soak_secs),
        etag: view.etag,
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
        canaries: s.canaries.clone(),
        canary_soak_secs: s.canary_soak_secs.unwrap_or(defaults.canary_soak_secs),
    })
}
