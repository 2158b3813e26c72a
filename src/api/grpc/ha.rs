//! Conversions of director high availability between the core and
//! protobuf: directors' HA reports (checked here as the REST API's JSON
//! parser checks them; the core validates the rest), the cluster's HA view,
//! and switchover requests.

use super::convert::pb_enum;
use super::pb;
use crate::contract::agent::{
    HaReport, SwitchoverRequest, SyncReport, VrrpInstanceReport, VrrpState, VrrpTransition,
};
use crate::core::{HaInstance, HaMember, HaView, SwitchoverView};
use crate::model::ValidationError;

type Result<T> = std::result::Result<T, ValidationError>;

fn state_out(state: VrrpState) -> i32 {
    match state {
        VrrpState::Master => pb::VrrpState::Master,
        VrrpState::Backup => pb::VrrpState::Backup,
        VrrpState::Fault => pb::VrrpState::Fault,
        VrrpState::Stopped => pb::VrrpState::Stopped,
    }
    .into()
}

fn state_in(raw: i32, field: &str) -> Result<VrrpState> {
    pb_enum(
        raw,
        field,
        "VRRP state",
        "master, backup, fault or stopped",
        pb::VrrpState::as_str_name,
        |s| match s {
            pb::VrrpState::Unspecified => None,
            pb::VrrpState::Master => Some(VrrpState::Master),
            pb::VrrpState::Backup => Some(VrrpState::Backup),
            pb::VrrpState::Fault => Some(VrrpState::Fault),
            pb::VrrpState::Stopped => Some(VrrpState::Stopped),
        },
    )
}

fn byte(value: u32, field: String, what: &str) -> Result<u8> {
    u8::try_from(value)
        .map_err(|_| ValidationError::new(field, format!("{value} is not a {what}: 0 to 255")))
}

pub fn ha_report_out(ha: HaReport) -> pb::HaReport {
    pb::HaReport {
        vrrp: ha
            .vrrp
            .into_iter()
            .map(|v| pb::VrrpInstanceReport {
                state: state_out(v.state),
                instance: v.instance,
                vrid: v.vrid.into(),
                since: v.since,
                priority: v.priority.into(),
                transitions: v.transitions,
            })
            .collect(),
        transitions: ha
            .transitions
            .into_iter()
            .map(|t| pb::VrrpTransition {
                from: state_out(t.from),
                to: state_out(t.to),
                at: t.at,
                instance: t.instance,
            })
            .collect(),
        sync: ha.sync.map(|s| pb::SyncReport {
            master: s.master,
            backup: s.backup,
            connections: s.connections,
        }),
        switchover_seq: ha.switchover_seq,
        errors: ha.errors,
    }
}

/// An agent's HA report; enums and byte-sized numbers checked.
pub fn ha_report_in(ha: &pb::HaReport) -> Result<HaReport> {
    let vrrp = ha
        .vrrp
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let field = |name: &str| format!("ha.vrrp[{i}].{name}");
            Ok(VrrpInstanceReport {
                instance: v.instance.clone(),
                vrid: byte(v.vrid, field("vrid"), "virtual router id")?,
                state: state_in(v.state, &field("state"))?,
                since: v.since.clone(),
                priority: byte(v.priority, field("priority"), "VRRP priority")?,
                transitions: v.transitions,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let transitions = ha
        .transitions
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let field = |name: &str| format!("ha.transitions[{i}].{name}");
            Ok(VrrpTransition {
                at: t.at.clone(),
                instance: t.instance.clone(),
                from: state_in(t.from, &field("from"))?,
                to: state_in(t.to, &field("to"))?,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(HaReport {
        vrrp,
        transitions,
        sync: ha.sync.as_ref().map(|s| SyncReport {
            master: s.master,
            backup: s.backup,
            connections: s.connections,
        }),
        switchover_seq: ha.switchover_seq,
        errors: ha.errors.clone(),
    })
}

pub fn switchover_request_out(s: SwitchoverRequest) -> pb::SwitchoverRequest {
    pb::SwitchoverRequest {
        seq: s.seq,
        instance: s.instance,
    }
}

pub fn switchover_out(s: SwitchoverView) -> pb::Switchover {
    pb::Switchover {
        cluster: s.cluster,
        seq: s.seq,
        instance: s.instance,
        requested_at: s.requested_at,
        requested_by: s.requested_by,
        masters: s.masters,
    }
}

fn member_out(m: HaMember) -> pb::HaMember {
    pb::HaMember {
        state: state_out(m.state),
        director: m.director,
        since: m.since,
        priority: m.priority.into(),
        transitions: m.transitions,
        stale: m.stale,
    }
}

fn instance_out(i: HaInstance) -> pb::HaInstance {
    pb::HaInstance {
        instance: i.instance,
        vrid: i.vrid.into(),
        masters: i.masters,
        backups: i.backups,
        faults: i.faults,
        directors: i.directors.into_iter().map(member_out).collect(),
        no_master: i.no_master,
        split_brain: i.split_brain,
    }
}

pub fn ha_view_out(view: HaView) -> pb::HaView {
    pb::HaView {
        cluster: view.cluster,
        instances: view.instances.into_iter().map(instance_out).collect(),
        pending: view.pending,
        switchover: view.switchover.map(switchover_out),
    }
}
