//! Conversions of the agent protocol ([`crate::contract::agent`]) and of
//! directors' counters between the core and protobuf. Reports come in from
//! agents, so every enum is checked here as the REST API's JSON parser
//! checks it; the core validates the rest.

use super::apply::{self, drain_in, report_in};
use super::convert::{pb_enum, spec_doc_out};
use super::pb;
use crate::apply::{Counters, DriftMode, ServerCounters, ServiceCounters, Traffic};
use crate::contract::agent::{Desired, DirectorReport, DriftCheck, ZeroRequest};
use crate::core::{DirectorCounters, RolloutState, RolloutView, SettingsView, ZeroView};
use crate::model::ValidationError;
use crate::plan::{Drift, DriftKind};

type Result<T> = std::result::Result<T, ValidationError>;

fn traffic_out(t: Traffic) -> pb::Traffic {
    pb::Traffic {
        conns: t.conns,
        in_packets: t.in_packets,
        out_packets: t.out_packets,
        in_bytes: t.in_bytes,
        out_bytes: t.out_bytes,
        cps: t.cps,
        in_pps: t.in_pps,
        out_pps: t.out_pps,
        in_bps: t.in_bps,
        out_bps: t.out_bps,
    }
}

fn traffic_in(t: Option<&pb::Traffic>) -> Traffic {
    t.map_or_else(Traffic::default, |t| Traffic {
        conns: t.conns,
        in_packets: t.in_packets,
        out_packets: t.out_packets,
        in_bytes: t.in_bytes,
        out_bytes: t.out_bytes,
        cps: t.cps,
        in_pps: t.in_pps,
        out_pps: t.out_pps,
        in_bps: t.in_bps,
        out_bps: t.out_bps,
    })
}

pub fn counters_out(c: Counters) -> pb::Counters {
    pb::Counters {
        at: c.at,
        services: c
            .services
            .into_iter()
            .map(|s| pb::ServiceCounters {
                service: s.service,
                traffic: Some(traffic_out(s.traffic)),
                servers: s
                    .servers
                    .into_iter()
                    .map(|r| pb::ServerCounters {
                        server: r.server,
                        weight: r.weight,
                        active_conns: r.active_conns,
                        inactive_conns: r.inactive_conns,
                        persistent_conns: r.persistent_conns,
                        traffic: Some(traffic_out(r.traffic)),
                    })
                    .collect(),
            })
            .collect(),
    }
}

fn counters_in(c: &pb::Counters) -> Counters {
    Counters {
        at: c.at.clone(),
        services: c
            .services
            .iter()
            .map(|s| ServiceCounters {
                service: s.service.clone(),
                traffic: traffic_in(s.traffic.as_ref()),
                servers: s
                    .servers
                    .iter()
                    .map(|r| ServerCounters {
                        server: r.server.clone(),
                        weight: r.weight,
                        active_conns: r.active_conns,
                        inactive_conns: r.inactive_conns,
                        persistent_conns: r.persistent_conns,
                        traffic: traffic_in(r.traffic.as_ref()),
                    })
                    .collect(),
            })
            .collect(),
    }
}

pub fn director_counters(d: DirectorCounters) -> pb::DirectorCounters {
    pb::DirectorCounters {
        director: d.director,
        counters: Some(counters_out(d.counters)),
    }
}

pub fn desired(d: Desired) -> pb::Desired {
    let settings = SettingsView {
        cluster: d.cluster.clone(),
        settings: d.settings,
        updated_at: None,
        updated_by: None,
        etag: String::new(),
    };
    pb::Desired {
        spec: d.spec.as_ref().map(spec_doc_out),
        settings: Some(apply::settings(settings)),
        zero: d.zero.map(|z: ZeroRequest| pb::ZeroRequest {
            seq: z.seq,
            service: z.service,
        }),
        switchover: d.switchover.map(super::ha::switchover_request_out),
        cluster: d.cluster,
        revision: d.revision,
        active_revision: d.active_revision,
    }
}

fn drift_in(d: &pb::Drift, field: &str) -> Result<Drift> {
    let kind = pb_enum(
        d.kind,
        field,
        "drift kind",
        "missing, unexpected, differs or draining",
        pb::DriftKind::as_str_name,
        |k| match k {
            pb::DriftKind::Unspecified => None,
            pb::DriftKind::Missing => Some(DriftKind::Missing),
            pb::DriftKind::Unexpected => Some(DriftKind::Unexpected),
            pb::DriftKind::Differs => Some(DriftKind::Differs),
            pb::DriftKind::Draining => Some(DriftKind::Draining),
        },
    )?;
    Ok(Drift {
        object: d.object.clone(),
        kind,
        details: d.details.clone(),
    })
}

fn drift_check_in(c: &pb::DriftCheck) -> Result<DriftCheck> {
    let mode = pb_enum(
        c.mode,
        "drift_check.mode",
        "drift mode",
        "restore or report",
        pb::DriftMode::as_str_name,
        |m| match m {
            pb::DriftMode::Unspecified => None,
            pb::DriftMode::Restore => Some(DriftMode::Restore),
            pb::DriftMode::Report => Some(DriftMode::Report),
        },
    )?;
    let drift = c
        .drift
        .iter()
        .enumerate()
        .map(|(i, d)| drift_in(d, &format!("drift_check.drift[{i}].kind")))
        .collect::<Result<Vec<_>>>()?;
    Ok(DriftCheck {
        at: c.at.clone(),
        revision: c.revision,
        drift,
        mode,
        hash: c.hash.clone(),
    })
}

/// A report as an agent sent it; enums checked, the rest left to the core.
pub fn director_report_in(r: &pb::DirectorReport) -> Result<DirectorReport> {
    Ok(DirectorReport {
        agent_version: r.agent_version.clone(),
        // Real-server agents report over REST.
        role: Default::default(),
        applied_revision: r.applied_revision,
        blocked_revision: r.blocked_revision,
        applies: r
            .applies
            .iter()
            .enumerate()
            .map(|(i, a)| report_in(a, &format!("applies[{i}]")))
            .collect::<Result<Vec<_>>>()?,
        drift_check: r.drift_check.as_ref().map(drift_check_in).transpose()?,
        draining: r.draining.iter().map(drain_in).collect(),
        counters: r.counters.as_ref().map(counters_in),
        zeroed_seq: r.zeroed_seq,
        // Health, its changes and host errors travel in REST reports only, for now.
        health: Vec::new(),
        health_changes: Vec::new(),
        host_errors: Vec::new(),
        agent_errors: Vec::new(),
        report_interval_secs: r.report_interval_secs,
        ha: r.ha.as_ref().map(super::ha::ha_report_in).transpose()?,
    })
}

pub fn rollout(r: RolloutView) -> pb::Rollout {
    let state = match r.state {
        RolloutState::Canary => pb::RolloutState::Canary,
        RolloutState::Released => pb::RolloutState::Released,
        RolloutState::Halted => pb::RolloutState::Halted,
    };
    pb::Rollout {
        cluster: r.cluster,
        revision: r.revision,
        released_revision: r.released_revision,
        state: state.into(),
        since: r.since,
        reason: r.reason,
        soak_started_at: r.soak_started_at,
        canary_soak_secs: r.canary_soak_secs,
        canaries: r
            .canaries
            .into_iter()
            .map(|c| pb::Canary {
                name: c.name,
                status: c.status,
                reason: c.reason,
                applied_revision: c.applied_revision,
            })
            .collect(),
    }
}

pub fn zeroed(z: ZeroView) -> pb::ZeroCountersResponse {
    pb::ZeroCountersResponse {
        cluster: z.cluster,
        seq: z.seq,
        service: z.service,
        requested_at: z.requested_at,
        requested_by: z.requested_by,
        zeroed_by: z.zeroed_by,
        local_error: z.local_error,
    }
}
