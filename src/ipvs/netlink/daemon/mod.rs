//! Connection synchronisation daemons: the attributes of NEW/DEL/GET_DAEMON
//! and the conversion between them and [`Daemon`].

mod attr;

use std::net::IpAddr;

pub use attr::DaemonAttr;
use netlink_packet_core::DecodeError;

use super::constants::{IP_VS_STATE_BACKUP, IP_VS_STATE_MASTER};
use crate::ipvs::types::Daemon;
use crate::model::DaemonRole;

pub fn state(role: DaemonRole) -> u32 {
    match role {
        DaemonRole::Master => IP_VS_STATE_MASTER,
        DaemonRole::Backup => IP_VS_STATE_BACKUP,
    }
}

/// NEW_DAEMON: state, interface and sync id are required; the rest is sent
/// only when set, so the kernel applies its defaults (0 means "default" too).
pub fn start_attrs(d: &Daemon) -> Vec<DaemonAttr> {
    let mut attrs = vec![
        DaemonAttr::State(state(d.role)),
        DaemonAttr::McastIfn(d.mcast_ifn.clone()),
        DaemonAttr::SyncId(d.syncid),
    ];
    if let Some(maxlen) = d.sync_maxlen.filter(|&v| v != 0) {
        attrs.push(DaemonAttr::SyncMaxlen(maxlen));
    }
    match d.mcast_group {
        Some(IpAddr::V4(group)) => attrs.push(DaemonAttr::McastGroup(group)),
        Some(IpAddr::V6(group)) => attrs.push(DaemonAttr::McastGroup6(group)),
        None => {}
    }
    if let Some(port) = d.mcast_port.filter(|&v| v != 0) {
        attrs.push(DaemonAttr::McastPort(port));
    }
    if let Some(ttl) = d.mcast_ttl.filter(|&v| v != 0) {
        attrs.push(DaemonAttr::McastTtl(ttl));
    }
    attrs
}

/// DEL_DAEMON needs only the state.
pub fn stop_attrs(role: DaemonRole) -> Vec<DaemonAttr> {
    vec![DaemonAttr::State(state(role))]
}

/// A running daemon from a NEW_DAEMON message of a GET_DAEMON dump.
pub fn parse(attrs: &[DaemonAttr]) -> Result<Daemon, DecodeError> {
    let mut role = None;
    let mut daemon = Daemon {
        role: DaemonRole::Master,
        mcast_ifn: String::new(),
        syncid: 0,
        sync_maxlen: None,
        mcast_group: None,
        mcast_port: None,
        mcast_ttl: None,
    };
    for attr in attrs {
        match attr {
            DaemonAttr::State(IP_VS_STATE_MASTER) => role = Some(DaemonRole::Master),
            DaemonAttr::State(IP_VS_STATE_BACKUP) => role = Some(DaemonRole::Backup),
            DaemonAttr::State(other) => {
                return Err(DecodeError::from(format!(
                    "sync daemon in unknown state {other}"
                )));
            }
            DaemonAttr::McastIfn(v) => daemon.mcast_ifn = v.clone(),
            DaemonAttr::SyncId(v) => daemon.syncid = *v,
            DaemonAttr::SyncMaxlen(v) => daemon.sync_maxlen = Some(*v),
            DaemonAttr::McastGroup(v) => daemon.mcast_group = Some(IpAddr::V4(*v)),
            DaemonAttr::McastGroup6(v) => daemon.mcast_group = Some(IpAddr::V6(*v)),
            DaemonAttr::McastPort(v) => daemon.mcast_port = Some(*v),
            DaemonAttr::McastTtl(v) => daemon.mcast_ttl = Some(*v),
            DaemonAttr::Other(_) => {}
        }
    }
    daemon.role =
        role.ok_or_else(|| DecodeError::from("sync daemon without IPVS_DAEMON_ATTR_STATE"))?;
    Ok(daemon)
}

/// A daemon as the kernel lists it (every field present), for codec tests.
pub fn entry_attrs(d: &Daemon) -> Vec<DaemonAttr> {
    let mut attrs = vec![
        DaemonAttr::State(state(d.role)),
        DaemonAttr::McastIfn(d.mcast_ifn.clone()),
        DaemonAttr::SyncId(d.syncid),
        DaemonAttr::SyncMaxlen(d.sync_maxlen.unwrap_or(0)),
        DaemonAttr::McastPort(d.mcast_port.unwrap_or(0)),
        DaemonAttr::McastTtl(d.mcast_ttl.unwrap_or(0)),
    ];
    match d.mcast_group {
        Some(IpAddr::V4(group)) => attrs.push(DaemonAttr::McastGroup(group)),
        Some(IpAddr::V6(group)) => attrs.push(DaemonAttr::McastGroup6(group)),
        None => {}
    }
    attrs
}
