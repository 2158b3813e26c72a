//! The request each table operation becomes.

use super::message::{IpvsAttr, IpvsCmd, IpvsMessage};
use super::{config, daemon, dest, service};
use crate::ipvs::types::Op;
use crate::model::ServiceKey;

pub fn for_op(op: &Op) -> IpvsMessage {
    let (cmd, attrs) = match op {
        Op::AddService(svc) => (
            IpvsCmd::NewService,
            vec![IpvsAttr::Service(service::full_attrs(svc))],
        ),
        Op::EditService(svc) => (
            IpvsCmd::SetService,
            vec![IpvsAttr::Service(service::full_attrs(svc))],
        ),
        Op::DelService(key) => (IpvsCmd::DelService, vec![service_key(key)]),
        Op::AddDest(key, d) => (
            IpvsCmd::NewDest,
            vec![service_key(key), IpvsAttr::Dest(dest::full_attrs(d))],
        ),
        Op::EditDest(key, d) => (
            IpvsCmd::SetDest,
            vec![service_key(key), IpvsAttr::Dest(dest::full_attrs(d))],
        ),
        Op::DelDest(key, d) => (
            IpvsCmd::DelDest,
            vec![service_key(key), IpvsAttr::Dest(dest::key_attrs(d))],
        ),
        Op::SetTimeouts(t) => (
            IpvsCmd::SetConfig,
            config::set_attrs(t)
                .into_iter()
                .map(IpvsAttr::Config)
                .collect(),
        ),
        Op::StartDaemon(d) => (
            IpvsCmd::NewDaemon,
            vec![IpvsAttr::Daemon(daemon::start_attrs(d))],
        ),
        Op::StopDaemon(role) => (
            IpvsCmd::DelDaemon,
            vec![IpvsAttr::Daemon(daemon::stop_attrs(*role))],
        ),
        Op::Flush => (IpvsCmd::Flush, vec![]),
        Op::Zero(Some(key)) => (IpvsCmd::Zero, vec![service_key(key)]),
        // ZERO without a service zeroes every counter.
        Op::Zero(None) => (IpvsCmd::Zero, vec![]),
    };
    IpvsMessage::new(cmd, attrs)
}

fn service_key(key: &ServiceKey) -> IpvsAttr {
    IpvsAttr::Service(service::key_attrs(key))
}

/// GET_SERVICE for one service (without NLM_F_DUMP).
pub fn get_service(key: &ServiceKey) -> IpvsMessage {
    IpvsMessage::new(IpvsCmd::GetService, vec![service_key(key)])
}

/// GET_DEST dump of one service's real servers.
pub fn get_dests(key: &ServiceKey) -> IpvsMessage {
    IpvsMessage::new(IpvsCmd::GetDest, vec![service_key(key)])
}

pub fn get(cmd: IpvsCmd) -> IpvsMessage {
    IpvsMessage::new(cmd, vec![])
}
