//! Counters, nested in services and real servers as `STATS` (32-bit packet
//! and connection counters) and `STATS64` (all 64-bit, since Linux 4.1).

use netlink_packet_core::{parse_u32, parse_u64, DecodeError, DefaultNla, ErrorContext, Nla, NlaBuffer, Parseable};

use super::constants::*;
use crate::ipvs::types::Stats;

/// One counter. The width comes from the wire: `STATS` mixes 32-bit and
/// 64-bit values, `STATS64` has only 64-bit ones.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StatsAttr {
    U32(u16, u32),
    U64(u16, u64),
    /// A counter this driver does not know, or the padding attribute.
    Other(DefaultNla),
}

impl Nla for StatsAttr {
    fn value_len(&self) -> usize {
        match self {
            StatsAttr::U32(..) => 4,
            StatsAttr::U64(..) => 8,
            StatsAttr::Other(nla) => nla.value_len(),
        }
    }

    fn kind(&self) -> u16 {
        match self {
            StatsAttr::U32(kind, _) | StatsAttr::U64(kind, _) => *kind,
            StatsAttr::Other(nla) => nla.kind(),
        }
    }

    fn emit_value(&self, buffer: &mut [u8]) {
        match self {
            StatsAttr::U32(_, v) => buffer.copy_from_slice(&v.to_ne_bytes()),
            StatsAttr::U64(_, v) => buffer.copy_from_slice(&v.to_ne_bytes()),
            StatsAttr::Other(nla) => nla.emit_value(buffer),
        }
    }
}

impl<'a, T: AsRef<[u8]> + ?Sized> Parseable<NlaBuffer<&'a T>> for StatsAttr {
    fn parse(buf: &NlaBuffer<&'a T>) -> Result<Self, DecodeError> {
        let payload = buf.value();
        let kind = buf.kind();
        if !(IPVS_STATS_ATTR_CONNS..=IPVS_STATS_ATTR_OUTBPS).contains(&kind) {
            return Ok(StatsAttr::Other(DefaultNla::parse(buf)?));
        }
        match payload.len() {
            4 => Ok(StatsAttr::U32(kind, parse_u32(payload)?)),
            8 => Ok(StatsAttr::U64(kind, parse_u64(payload)?)),
            len => Err(DecodeError::from(format!("counter {kind} has {len} bytes, expected 4 or 8"))),
        }
    }
}

/// Parses the attributes nested in a `STATS`/`STATS64` attribute.
pub fn parse_nested(payload: &[u8]) -> Result<Vec<StatsAttr>, DecodeError> {
    super::nla::parse_nested(payload).context("invalid counters")
}

/// The counters of a `STATS` or `STATS64` attribute.
pub fn to_stats(attrs: &[StatsAttr]) -> Stats {
    let mut stats = Stats::default();
    for attr in attrs {
        let (kind, value) = match attr {
            StatsAttr::U32(kind, v) => (*kind, u64::from(*v)),
            StatsAttr::U64(kind, v) => (*kind, *v),
            StatsAttr::Other(_) => continue,
        };
        let field = match kind {
            IPVS_STATS_ATTR_CONNS => &mut stats.conns,
            IPVS_STATS_ATTR_INPKTS => &mut stats.inpkts,
            IPVS_STATS_ATTR_OUTPKTS => &mut stats.outpkts,
            IPVS_STATS_ATTR_INBYTES => &mut stats.inbytes,
            IPVS_STATS_ATTR_OUTBYTES => &mut stats.outbytes,
            IPVS_STATS_ATTR_CPS => &mut stats.cps,
            IPVS_STATS_ATTR_INPPS => &mut stats.inpps,
            IPVS_STATS_ATTR_OUTPPS => &mut stats.outpps,
            IPVS_STATS_ATTR_INBPS => &mut stats.inbps,
            IPVS_STATS_ATTR_OUTBPS => &mut stats.outbps,
            _ => continue,
        };
        *field = value;
    }
    stats
}

/// `stats` as the kernel writes `STATS64`: every counter 64-bit.
pub fn stats64_attrs(stats: &Stats) -> Vec<StatsAttr> {
    fields(stats).into_iter().map(|(kind, v)| StatsAttr::U64(kind, v)).collect()
}

/// `stats` as the kernel writes `STATS`: byte counters 64-bit, the rest
/// truncated to 32 bits (which is why lvsd prefers `STATS64`).
pub fn stats32_attrs(stats: &Stats) -> Vec<StatsAttr> {
    fields(stats)
        .into_iter()
        .map(|(kind, v)| match kind {
            IPVS_STATS_ATTR_INBYTES | IPVS_STATS_ATTR_OUTBYTES => StatsAttr::U64(kind, v),
            _ => StatsAttr::U32(kind, v as u32),
        })
        .collect()
}

fn fields(s: &Stats) -> [(u16, u64); 10] {
    [
        (IPVS_STATS_ATTR_CONNS, s.conns),
        (IPVS_STATS_ATTR_INPKTS, s.inpkts),
        (IPVS_STATS_ATTR_OUTPKTS, s.outpkts),
        (IPVS_STATS_ATTR_INBYTES, s.inbytes),
        (IPVS_STATS_ATTR_OUTBYTES, s.outbytes),
        (IPVS_STATS_ATTR_CPS, s.cps),
        (IPVS_STATS_ATTR_INPPS, s.inpps),
        (IPVS_STATS_ATTR_OUTPPS, s.outpps),
        (IPVS_STATS_ATTR_INBPS, s.inbps),
        (IPVS_STATS_ATTR_OUTBPS, s.outbps),
    ]
}
