//! Connection timeouts: first-level attributes of SET_CONFIG and of the
//! GET_CONFIG reply (the reply's command is SET_CONFIG).

use netlink_packet_core::{DecodeError, ErrorContext, Nla, parse_u32};

use super::constants::*;
use crate::ipvs::types::Timeouts;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigAttr {
    TimeoutTcp(u32),
    TimeoutTcpFin(u32),
    TimeoutUdp(u32),
}

impl Nla for ConfigAttr {
    fn value_len(&self) -> usize {
        4
    }

    fn kind(&self) -> u16 {
        match self {
            ConfigAttr::TimeoutTcp(_) => IPVS_CMD_ATTR_TIMEOUT_TCP,
            ConfigAttr::TimeoutTcpFin(_) => IPVS_CMD_ATTR_TIMEOUT_TCP_FIN,
            ConfigAttr::TimeoutUdp(_) => IPVS_CMD_ATTR_TIMEOUT_UDP,
        }
    }

    fn emit_value(&self, buffer: &mut [u8]) {
        let (ConfigAttr::TimeoutTcp(v) | ConfigAttr::TimeoutTcpFin(v) | ConfigAttr::TimeoutUdp(v)) =
            self;
        buffer.copy_from_slice(&v.to_ne_bytes());
    }
}

impl ConfigAttr {
    /// The attribute of `kind`, or `None` when `kind` is no timeout.
    pub fn parse(kind: u16, payload: &[u8]) -> Result<Option<Self>, DecodeError> {
        let value =
            || parse_u32(payload).with_context(|| format!("invalid timeout attribute {kind}"));
        Ok(match kind {
            IPVS_CMD_ATTR_TIMEOUT_TCP => Some(ConfigAttr::TimeoutTcp(value()?)),
            IPVS_CMD_ATTR_TIMEOUT_TCP_FIN => Some(ConfigAttr::TimeoutTcpFin(value()?)),
            IPVS_CMD_ATTR_TIMEOUT_UDP => Some(ConfigAttr::TimeoutUdp(value()?)),
            _ => None,
        })
    }
}

/// SET_CONFIG: the kernel reads a missing or 0 timeout as "unchanged", so
/// only the ones set are sent.
pub fn set_attrs(t: &Timeouts) -> Vec<ConfigAttr> {
    let mut attrs = Vec::with_capacity(3);
    if t.tcp != 0 {
        attrs.push(ConfigAttr::TimeoutTcp(t.tcp));
    }
    if t.tcp_fin != 0 {
        attrs.push(ConfigAttr::TimeoutTcpFin(t.tcp_fin));
    }
    if t.udp != 0 {
        attrs.push(ConfigAttr::TimeoutUdp(t.udp));
    }
    attrs
}

/// The timeouts of a GET_CONFIG reply (a kernel built without TCP or UDP
/// support leaves those out: they read as 0).
pub fn parse<'a>(attrs: impl IntoIterator<Item = &'a ConfigAttr>) -> Timeouts {
    let mut t = Timeouts::default();
    for attr in attrs {
        match attr {
            ConfigAttr::TimeoutTcp(v) => t.tcp = *v,
            ConfigAttr::TimeoutTcpFin(v) => t.tcp_fin = *v,
            ConfigAttr::TimeoutUdp(v) => t.udp = *v,
        }
    }
    t
}
