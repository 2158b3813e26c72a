//! Virtual services: the attributes that identify and describe one, and the
//! conversion between them and [`Service`].

mod attr;

use std::net::SocketAddr;

pub use attr::ServiceAttr;
use netlink_packet_core::DecodeError;

use super::constants::*;
use super::nla::{InetAddr, af_of};
use crate::ipvs::types::{Service, Stats, svc_flags};
use crate::model::{AddressFamily, Protocol, ServiceKey};

/// The kernel's number for an address family.
pub fn af(family: AddressFamily) -> u16 {
    match family {
        AddressFamily::Ipv4 => AF_INET,
        AddressFamily::Ipv6 => AF_INET6,
    }
}

fn protocol_number(protocol: Protocol) -> u16 {
    match protocol {
        Protocol::Tcp => IPPROTO_TCP,
        Protocol::Udp => IPPROTO_UDP,
        Protocol::Sctp => IPPROTO_SCTP,
    }
}

/// What identifies a service: enough for DEL_SERVICE, ZERO, GET_DEST and as
/// the service part of real-server commands.
pub fn key_attrs(key: &ServiceKey) -> Vec<ServiceAttr> {
    match key {
        ServiceKey::Addr { protocol, addr } => vec![
            ServiceAttr::Af(af_of(addr.ip())),
            ServiceAttr::Protocol(protocol_number(*protocol)),
            ServiceAttr::Addr(InetAddr::new(addr.ip())),
            ServiceAttr::Port(addr.port()),
        ],
        ServiceKey::Fwmark { mark, family } => {
            vec![ServiceAttr::Af(af(*family)), ServiceAttr::Fwmark(*mark)]
        }
    }
}

/// Everything NEW_SERVICE and SET_SERVICE need. SET_SERVICE replaces every
/// option, so all of them are always sent; the flag mask covers every bit,
/// as ipvsadm sends it, so flags not set here are cleared.
pub fn full_attrs(svc: &Service) -> Vec<ServiceAttr> {
    let mut attrs = key_attrs(&svc.key);
    attrs.push(ServiceAttr::SchedName(svc.scheduler.clone()));
    if let Some(pe) = &svc.pe_name {
        attrs.push(ServiceAttr::PeName(pe.clone()));
    }
    attrs.push(ServiceAttr::Flags {
        flags: svc.flags & svc_flags::SETTABLE,
        mask: u32::MAX,
    });
    attrs.push(ServiceAttr::Timeout(svc.timeout));
    attrs.push(ServiceAttr::Netmask(netmask_bytes(
        svc.key.family(),
        svc.netmask,
    )));
    attrs
}

/// The kernel keeps the netmask in a `__be32`: an IPv4 mask in network order,
/// but an IPv6 prefix length as a plain number.
fn netmask_bytes(family: AddressFamily, netmask: u32) -> [u8; 4] {
    match family {
        AddressFamily::Ipv4 => netmask.to_be_bytes(),
        AddressFamily::Ipv6 => netmask.to_ne_bytes(),
    }
}

fn netmask_value(family: AddressFamily, raw: [u8; 4]) -> u32 {
    match family {
        AddressFamily::Ipv4 => u32::from_be_bytes(raw),
        AddressFamily::Ipv6 => u32::from_ne_bytes(raw),
    }
}

/// A service and its counters from a NEW_SERVICE message of a dump.
/// Prefers 64-bit counters; unknown attributes are ignored.
pub fn parse_entry(attrs: &[ServiceAttr]) -> Result<(Service, Stats), DecodeError> {
    let mut af = None;
    let (mut protocol, mut addr, mut port, mut fwmark) = (None, None, None, None);
    let (mut scheduler, mut pe_name, mut flags, mut timeout, mut netmask) =
        (None, None, 0, 0, [0u8; 4]);
    let (mut stats32, mut stats64) = (None, None);
    for attr in attrs {
        match attr {
            ServiceAttr::Af(v) => af = Some(*v),
            ServiceAttr::Protocol(v) => protocol = Some(*v),
            ServiceAttr::Addr(v) => addr = Some(*v),
            ServiceAttr::Port(v) => port = Some(*v),
            ServiceAttr::Fwmark(v) => fwmark = Some(*v),
            ServiceAttr::SchedName(v) => scheduler = Some(v.clone()),
            ServiceAttr::PeName(v) => pe_name = Some(v.clone()),
            // The kernel marks every listed service HASHED: not a setting.
            ServiceAttr::Flags { flags: f, .. } => flags = f & svc_flags::SETTABLE,
            ServiceAttr::Timeout(v) => timeout = *v,
            ServiceAttr::Netmask(v) => netmask = *v,
            ServiceAttr::Stats(v) => stats32 = Some(*v),
            ServiceAttr::Stats64(v) => stats64 = Some(*v),
            ServiceAttr::Other(_) => {}
        }
    }
    let af = af.ok_or_else(|| DecodeError::from("service without IPVS_SVC_ATTR_AF"))?;
    let family = match af {
        AF_INET => AddressFamily::Ipv4,
        AF_INET6 => AddressFamily::Ipv6,
        other => {
            return Err(DecodeError::from(format!(
                "service with unknown address family {other}"
            )));
        }
    };
    let key = match (fwmark, protocol, addr, port) {
        (Some(mark), ..) if mark != 0 => ServiceKey::Fwmark { mark, family },
        (_, Some(protocol), Some(addr), Some(port)) => {
            let protocol = match protocol {
                IPPROTO_TCP => Protocol::Tcp,
                IPPROTO_UDP => Protocol::Udp,
                IPPROTO_SCTP => Protocol::Sctp,
                // AH and ESP services exist in the kernel but no tool makes them.
                other => {
                    return Err(DecodeError::from(format!(
                        "service with IP protocol {other}, which lvsd does not handle (only tcp, udp, sctp)"
                    )));
                }
            };
            ServiceKey::Addr {
                protocol,
                addr: SocketAddr::new(addr.to_ip(af)?, port),
            }
        }
        _ => {
            return Err(DecodeError::from(
                "service with neither a firewall mark nor protocol, address and port",
            ));
        }
    };
    let service = Service {
        key,
        scheduler: scheduler
            .ok_or_else(|| DecodeError::from("service without IPVS_SVC_ATTR_SCHED_NAME"))?,
        flags,
        timeout,
        netmask: netmask_value(family, netmask),
        pe_name,
    };
    let stats = stats64.or(stats32).unwrap_or_default();
    Ok((service, stats))
}

/// A service as a kernel dump carries it (HASHED set, both counter sets), for
/// codec tests and fakes that speak netlink.
pub fn entry_attrs(svc: &Service, counters: &Stats) -> Vec<ServiceAttr> {
    let mut attrs = key_attrs(&svc.key);
    attrs.push(ServiceAttr::SchedName(svc.scheduler.clone()));
    if let Some(pe) = &svc.pe_name {
        attrs.push(ServiceAttr::PeName(pe.clone()));
    }
    attrs.push(ServiceAttr::Flags {
        flags: svc.flags | svc_flags::HASHED,
        mask: u32::MAX,
    });
    attrs.push(ServiceAttr::Timeout(svc.timeout));
    attrs.push(ServiceAttr::Netmask(netmask_bytes(
        svc.key.family(),
        svc.netmask,
    )));
    attrs.push(ServiceAttr::Stats(*counters));
    attrs.push(ServiceAttr::Stats64(*counters));
    attrs
}
