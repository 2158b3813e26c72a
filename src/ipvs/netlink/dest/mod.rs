//! Real servers ("destinations"): the attributes that identify and describe
//! one, and the conversion between them and [`Dest`].

mod attr;

use std::net::Ipv4Addr;

pub use attr::DestAttr;
use netlink_packet_core::{
    DecodeError, ErrorContext, NetlinkDeserializable, NetlinkHeader, NlasIterator, Parseable,
};
use netlink_packet_generic::GenlHeader;
use netlink_packet_generic::constants::GENL_HDRLEN;

use super::constants::{IPVS_CMD_ATTR_DEST, IPVS_CMD_NEW_DEST};

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
    let mut entry = EntryBuilder::default();
    for attr in attrs {
        entry.add(attr.clone());
    }
    entry.finish(service_af)
}

/// A real server gathered attribute by attribute; unknown ones are ignored.
#[derive(Debug, Default)]
struct EntryBuilder {
    addr: Option<InetAddr>,
    port: Option<u16>,
    af: Option<u16>,
    stats32: Option<Stats>,
    stats64: Option<Stats>,
    dest: Option<Dest>,
    active_conns: u32,
    inact_conns: u32,
    persist_conns: u32,
}

impl EntryBuilder {
    fn add(&mut self, attr: DestAttr) {
        let dest = self.dest.get_or_insert(Dest {
            key: DestKey {
                addr: Ipv4Addr::UNSPECIFIED.into(),
                port: 0,
            },
            fwd_method: 0,
            weight: 0,
            u_threshold: 0,
            l_threshold: 0,
            tun_type: 0,
            tun_port: 0,
            tun_flags: 0,
        });
        match attr {
            DestAttr::Addr(v) => self.addr = Some(v),
            DestAttr::Port(v) => self.port = Some(v),
            DestAttr::AddrFamily(v) => self.af = Some(v),
            DestAttr::FwdMethod(v) => dest.fwd_method = v & fwd::MASK,
            DestAttr::Weight(v) => dest.weight = v,
            DestAttr::UThresh(v) => dest.u_threshold = v,
            DestAttr::LThresh(v) => dest.l_threshold = v,
            DestAttr::TunType(v) => dest.tun_type = v,
            DestAttr::TunPort(v) => dest.tun_port = v,
            DestAttr::TunFlags(v) => dest.tun_flags = v,
            DestAttr::ActiveConns(v) => self.active_conns = v,
            DestAttr::InactConns(v) => self.inact_conns = v,
            DestAttr::PersistConns(v) => self.persist_conns = v,
            DestAttr::Stats(v) => self.stats32 = Some(v),
            DestAttr::Stats64(v) => self.stats64 = Some(v),
            DestAttr::Other(_) => {}
        }
    }

    /// The entry, its 64-bit counters preferred.
    fn finish(self, service_af: u16) -> Result<DestEntry, DecodeError> {
        let addr = self
            .addr
            .ok_or_else(|| DecodeError::from("real server without IPVS_DEST_ATTR_ADDR"))?;
        let port = self
            .port
            .ok_or_else(|| DecodeError::from("real server without IPVS_DEST_ATTR_PORT"))?;
        let mut dest = self
            .dest
            .ok_or_else(|| DecodeError::from("real server without attributes"))?;
        dest.key = DestKey {
            addr: addr.to_ip(self.af.unwrap_or(service_af))?,
            port,
        };
        Ok(DestEntry {
            dest,
            active_conns: self.active_conns,
            inact_conns: self.inact_conns,
            persist_conns: self.persist_conns,
            stats: self.stats64.or(self.stats32).unwrap_or_default(),
        })
    }
}

/// One NEW_DEST message of a GET_DEST dump, read straight from the bytes
/// into a real server, with no attribute list in between: a dump of a big
/// table is mostly these (10,000 for 1,000 services of 10), and building the
/// lists took a quarter of reading the table. [`parse_entry`] reads the same
/// attributes from a parsed message.
#[derive(Debug)]
pub struct DestReply(EntryBuilder);

impl DestReply {
    /// The real server; `service_af` as for [`parse_entry`].
    pub fn into_entry(self, service_af: u16) -> Result<DestEntry, DecodeError> {
        self.0.finish(service_af)
    }
}

impl NetlinkDeserializable for DestReply {
    type Error = DecodeError;

    fn deserialize(_header: &NetlinkHeader, payload: &[u8]) -> Result<Self, DecodeError> {
        let genl = GenlHeader::parse(payload).context("invalid generic netlink header")?;
        if genl.cmd != IPVS_CMD_NEW_DEST {
            return Err(DecodeError::from(format!(
                "command {} in a real server dump",
                genl.cmd
            )));
        }
        let mut entry = EntryBuilder::default();
        for nla in NlasIterator::new(&payload[GENL_HDRLEN..]) {
            let nla = nla?;
            if nla.kind() != IPVS_CMD_ATTR_DEST {
                continue;
            }
            for attr in NlasIterator::new(nla.value()) {
                entry.add(DestAttr::parse(&attr?).context("invalid IPVS_CMD_ATTR_DEST")?);
            }
        }
        Ok(DestReply(entry))
    }
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
