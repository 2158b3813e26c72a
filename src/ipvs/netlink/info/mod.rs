//! GET_INFO: the reply (command SET_INFO) carries the IPVS version and the
//! connection table size as first-level attributes numbered 1 and 2, the
//! same numbers as the service and real-server attributes of other commands.

use netlink_packet_core::{DecodeError, ErrorContext, Nla, parse_u32};

use super::constants::*;
use crate::ipvs::types::Info;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InfoAttr {
    /// `(major << 16) | (minor << 8) | patch`.
    Version(u32),
    ConnTabSize(u32),
}

impl Nla for InfoAttr {
    fn value_len(&self) -> usize {
        4
    }

    fn kind(&self) -> u16 {
        match self {
            InfoAttr::Version(_) => IPVS_INFO_ATTR_VERSION,
            InfoAttr::ConnTabSize(_) => IPVS_INFO_ATTR_CONN_TAB_SIZE,
        }
    }

    fn emit_value(&self, buffer: &mut [u8]) {
        let (InfoAttr::Version(v) | InfoAttr::ConnTabSize(v)) = self;
        buffer.copy_from_slice(&v.to_ne_bytes());
    }
}

impl InfoAttr {
    /// The attribute of `kind`, or `None` for a kind this driver does not know.
    pub fn parse(kind: u16, payload: &[u8]) -> Result<Option<Self>, DecodeError> {
        Ok(match kind {
            IPVS_INFO_ATTR_VERSION => Some(InfoAttr::Version(
                parse_u32(payload).context("invalid IPVS_INFO_ATTR_VERSION")?,
            )),
            IPVS_INFO_ATTR_CONN_TAB_SIZE => Some(InfoAttr::ConnTabSize(
                parse_u32(payload).context("invalid IPVS_INFO_ATTR_CONN_TAB_SIZE")?,
            )),
            _ => None,
        })
    }
}

pub fn parse<'a>(attrs: impl IntoIterator<Item = &'a InfoAttr>) -> Result<Info, DecodeError> {
    let (mut version, mut size) = (None, None);
    for attr in attrs {
        match attr {
            InfoAttr::Version(v) => version = Some(*v),
            InfoAttr::ConnTabSize(v) => size = Some(*v),
        }
    }
    Ok(Info {
        version: version
            .ok_or_else(|| DecodeError::from("GET_INFO reply without IPVS_INFO_ATTR_VERSION"))?,
        conn_tab_size: size.ok_or_else(|| {
            DecodeError::from("GET_INFO reply without IPVS_INFO_ATTR_CONN_TAB_SIZE")
        })?,
    })
}

pub fn entry_attrs(info: &Info) -> Vec<InfoAttr> {
    vec![
        InfoAttr::Version(info.version),
        InfoAttr::ConnTabSize(info.conn_tab_size),
    ]
}
