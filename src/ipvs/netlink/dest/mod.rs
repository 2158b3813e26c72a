//! Real servers ("destinations"): the attributes that identify and describe
//! one, and the conversion between them and [`Dest`].

mod attr;

pub use attr::DestAttr;
use netlink_packet_core::DecodeError;

use super::nla::{InetAddr, af_of};
use crate::ipvs::types::{Dest, DestEntry, DestKey, Stats, fwd};

/// What identifies a real server within its service (DEL_DEST). The family
/// is sent too: without it the kernel assumes the service's.
pub fn key_attrs(key: &DestKey) -> Vec<DestAttr> {
    vec![
        DestAttr::Addr(InetAddr::new(key.addr)),
        DestAttr::Port(key.port),
        DestAttr::AddrFamily(af_of(key.addr)),
    ]
}

/// Everything NEW_DEST and SET_DEST need. SET_DEST replaces every option
/// (forwarding method included), so all are always sent. Tunnel attributes go
/// only with tunnel forwarding: the kernel reads their absence as 0, and
/// kernels before 5.2 do not know them.
pub fn full_attrs(dest: &Dest) -> Vec<DestAttr> {
    let mut attrs = key_attrs(&dest.key);
    attrs.extend([
        DestAttr::FwdMethod(dest.fwd_method & fwd::MASK),
        DestAttr::Weight(dest.weight),
        DestAttr::UThresh(dest.u_threshold),
        DestAttr::LThresh(dest.l_threshold),
    ]);
    if dest.fwd_method & fwd::MASK == fwd::TUNNEL {
        attrs.extend([
            DestAttr::TunType(dest.tun_type),
            DestAttr::TunPort(dest.tun_port),
            DestAttr::TunFlags(dest.tun_flags),
        ]);
    }
    attrs
}

/// A real server and its counters from a NEW_DEST message of a dump.
/// `service_af` reads the address when the kernel omits the real server's
/// own family (kernels before 3.18).
pub fn parse_entry(attrs: &[DestAttr], service_af: u16) -> Result<DestEntry, DecodeError> {
    let (mut addr, mut port, mut af) = (None, None, None);
    let mut entry = DestEntry {
        dest: Dest {
            key: DestKey {
                addr: std::net::Ipv4Addr::UNSPECIFIED.into(),
                port: 0,
            },
            fwd_method: 0,
            weight: 0,
            u_threshold: 0,
            l_threshold: 0,
            tun_type: 0,
            tun_port: 0,
            tun_flags: 0,
        },
        active_conns: 0,
        inact_conns: 0,
        persist_conns: 0,
        stats: Stats::default(),
    };
    let (mut stats32, mut stats64) = (None, None);
    let dest = &mut entry.dest;
    for attr in attrs {
        match attr {
            DestAttr::Addr(v) => addr = Some(*v),
            DestAttr::Port(v) => port = Some(*v),
            DestAttr::AddrFamily(v) => af = Some(*v),
            DestAttr::FwdMethod(v) => dest.fwd_method = v & fwd::MASK,
            DestAttr::Weight(v) => dest.weight = *v,
            DestAttr::UThresh(v) => dest.u_threshold = *v,
            DestAttr::LThresh(v) => dest.l_threshold = *v,
            DestAttr::TunType(v) => dest.tun_type = *v,
            DestAttr::TunPort(v) => dest.tun_port = *v,
            DestAttr::TunFlags(v) => dest.tun_flags = *v,
            DestAttr::ActiveConns(v) => entry.active_conns = *v,
            DestAttr::InactConns(v) => entry.inact_conns = *v,
            DestAttr::PersistConns(v) => entry.persist_conns = *v,
            DestAttr::Stats(v) => stats32 = Some(*v),
            DestAttr::Stats64(v) => stats64 = Some(*v),
            DestAttr::Other(_) => {}
        }
    }
    let addr = addr.ok_or_else(|| DecodeError::from("real server without IPVS_DEST_ATTR_ADDR"))?;
    let port = port.ok_or_else(|| DecodeError::from("real server without IPVS_DEST_ATTR_PORT"))?;
    entry.dest.key = DestKey {
        addr: addr.to_ip(af.unwrap_or(service_af))?,
        port,
    };
    entry.stats = stats64.or(stats32).unwrap_or_default();
    Ok(entry)
}

/// A real server as a kernel dump carries it, for codec tests.
pub fn entry_attrs(entry: &DestEntry) -> Vec<DestAttr> {
    let d = &entry.dest;
    vec![
        DestAttr::Addr(InetAddr::new(d.key.addr)),
        DestAttr::Port(d.key.port),
        DestAttr::FwdMethod(d.fwd_method),
        DestAttr::Weight(d.weight),
        DestAttr::TunType(d.tun_type),
        DestAttr::TunPort(d.tun_port),
        DestAttr::TunFlags(d.tun_flags),
        DestAttr::UThresh(d.u_threshold),
        DestAttr::LThresh(d.l_threshold),
        DestAttr::ActiveConns(entry.active_conns),
        DestAttr::InactConns(entry.inact_conns),
        DestAttr::PersistConns(entry.persist_conns),
        DestAttr::AddrFamily(af_of(d.key.addr)),
        DestAttr::Stats(entry.stats),
        DestAttr::Stats64(entry.stats),
    ]
}
