//! Attributes nested in `IPVS_CMD_ATTR_SERVICE`.

use netlink_packet_core::{
    DecodeError, DefaultNla, ErrorContext, Nla, NlaBuffer, Parseable, parse_u16, parse_u16_be,
    parse_u32,
};

use crate::ipvs::netlink::constants::*;
use crate::ipvs::netlink::nla::{InetAddr, emit_string, fixed, parse_string};
use crate::ipvs::netlink::stats;
use crate::ipvs::types::Stats;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServiceAttr {
    /// `AF_INET` or `AF_INET6`; says how to read `Addr` and `Netmask`.
    Af(u16),
    /// `IPPROTO_TCP`, `IPPROTO_UDP` or `IPPROTO_SCTP`.
    Protocol(u16),
    Addr(InetAddr),
    /// In host order here; network order on the wire.
    Port(u16),
    Fwmark(u32),
    SchedName(String),
    /// `struct ip_vs_flags`: the kernel changes only the bits set in `mask`.
    Flags {
        flags: u32,
        mask: u32,
    },
    /// Persistence timeout in seconds.
    Timeout(u32),
    /// The four bytes as the kernel keeps them (`__be32`): for IPv4 a mask in
    /// network order, for IPv6 a prefix length in host order.
    Netmask([u8; 4]),
    /// `STATS`: packet and connection counters truncated to 32 bits.
    Stats(Stats),
    /// Persistence engine (`sip`).
    PeName(String),
    /// `STATS64`: every counter 64-bit.
    Stats64(Stats),
    /// An attribute of a newer kernel: kept, never interpreted.
    Other(DefaultNla),
}

impl Nla for ServiceAttr {
    fn value_len(&self) -> usize {
        match self {
            ServiceAttr::Af(_) | ServiceAttr::Protocol(_) | ServiceAttr::Port(_) => 2,
            ServiceAttr::Addr(addr) => addr.len,
            ServiceAttr::Fwmark(_) | ServiceAttr::Timeout(_) | ServiceAttr::Netmask(_) => 4,
            ServiceAttr::SchedName(s) | ServiceAttr::PeName(s) => s.len() + 1,
            ServiceAttr::Flags { .. } => 8,
            ServiceAttr::Stats(_) => stats::block_len(false),
            ServiceAttr::Stats64(_) => stats::block_len(true),
            ServiceAttr::Other(nla) => nla.value_len(),
        }
    }

    fn kind(&self) -> u16 {
        match self {
            ServiceAttr::Af(_) => IPVS_SVC_ATTR_AF,
            ServiceAttr::Protocol(_) => IPVS_SVC_ATTR_PROTOCOL,
            ServiceAttr::Addr(_) => IPVS_SVC_ATTR_ADDR,
            ServiceAttr::Port(_) => IPVS_SVC_ATTR_PORT,
            ServiceAttr::Fwmark(_) => IPVS_SVC_ATTR_FWMARK,
            ServiceAttr::SchedName(_) => IPVS_SVC_ATTR_SCHED_NAME,
            ServiceAttr::Flags { .. } => IPVS_SVC_ATTR_FLAGS,
            ServiceAttr::Timeout(_) => IPVS_SVC_ATTR_TIMEOUT,
            ServiceAttr::Netmask(_) => IPVS_SVC_ATTR_NETMASK,
            ServiceAttr::Stats(_) => IPVS_SVC_ATTR_STATS,
            ServiceAttr::PeName(_) => IPVS_SVC_ATTR_PE_NAME,
            ServiceAttr::Stats64(_) => IPVS_SVC_ATTR_STATS64,
            ServiceAttr::Other(nla) => nla.kind(),
        }
    }

    fn emit_value(&self, buffer: &mut [u8]) {
        match self {
            ServiceAttr::Af(v) | ServiceAttr::Protocol(v) => {
                buffer.copy_from_slice(&v.to_ne_bytes())
            }
            ServiceAttr::Addr(addr) => addr.emit(buffer),
            ServiceAttr::Port(port) => buffer.copy_from_slice(&port.to_be_bytes()),
            ServiceAttr::Fwmark(v) | ServiceAttr::Timeout(v) => {
                buffer.copy_from_slice(&v.to_ne_bytes())
            }
            ServiceAttr::SchedName(s) | ServiceAttr::PeName(s) => emit_string(s, buffer),
            ServiceAttr::Flags { flags, mask } => {
                buffer[..4].copy_from_slice(&flags.to_ne_bytes());
                buffer[4..].copy_from_slice(&mask.to_ne_bytes());
            }
            ServiceAttr::Netmask(raw) => buffer.copy_from_slice(raw),
            ServiceAttr::Stats(s) => stats::emit(s, false, buffer),
            ServiceAttr::Stats64(s) => stats::emit(s, true, buffer),
            ServiceAttr::Other(nla) => nla.emit_value(buffer),
        }
    }
}

impl<'a, T: AsRef<[u8]> + ?Sized> Parseable<NlaBuffer<&'a T>> for ServiceAttr {
    fn parse(buf: &NlaBuffer<&'a T>) -> Result<Self, DecodeError> {
        let payload = buf.value();
        Ok(match buf.kind() {
            IPVS_SVC_ATTR_AF => {
                ServiceAttr::Af(parse_u16(payload).context("invalid IPVS_SVC_ATTR_AF")?)
            }
            IPVS_SVC_ATTR_PROTOCOL => {
                ServiceAttr::Protocol(parse_u16(payload).context("invalid IPVS_SVC_ATTR_PROTOCOL")?)
            }
            IPVS_SVC_ATTR_ADDR => {
                ServiceAttr::Addr(InetAddr::parse(payload).context("invalid IPVS_SVC_ATTR_ADDR")?)
            }
            IPVS_SVC_ATTR_PORT => {
                ServiceAttr::Port(parse_u16_be(payload).context("invalid IPVS_SVC_ATTR_PORT")?)
            }
            IPVS_SVC_ATTR_FWMARK => {
                ServiceAttr::Fwmark(parse_u32(payload).context("invalid IPVS_SVC_ATTR_FWMARK")?)
            }
            IPVS_SVC_ATTR_SCHED_NAME => ServiceAttr::SchedName(
                parse_string(payload).context("invalid IPVS_SVC_ATTR_SCHED_NAME")?,
            ),
            IPVS_SVC_ATTR_FLAGS => {
                let raw: [u8; 8] = fixed(payload, "IPVS_SVC_ATTR_FLAGS")?;
                ServiceAttr::Flags {
                    flags: u32::from_ne_bytes([raw[0], raw[1], raw[2], raw[3]]),
                    mask: u32::from_ne_bytes([raw[4], raw[5], raw[6], raw[7]]),
                }
            }
            IPVS_SVC_ATTR_TIMEOUT => {
                ServiceAttr::Timeout(parse_u32(payload).context("invalid IPVS_SVC_ATTR_TIMEOUT")?)
            }
            IPVS_SVC_ATTR_NETMASK => ServiceAttr::Netmask(fixed(payload, "IPVS_SVC_ATTR_NETMASK")?),
            IPVS_SVC_ATTR_STATS => {
                ServiceAttr::Stats(stats::parse(payload).context("invalid IPVS_SVC_ATTR_STATS")?)
            }
            IPVS_SVC_ATTR_PE_NAME => {
                ServiceAttr::PeName(parse_string(payload).context("invalid IPVS_SVC_ATTR_PE_NAME")?)
            }
            IPVS_SVC_ATTR_STATS64 => ServiceAttr::Stats64(
                stats::parse(payload).context("invalid IPVS_SVC_ATTR_STATS64")?,
            ),
            _ => ServiceAttr::Other(DefaultNla::parse(buf)?),
        })
    }
}
