//! Counters, nested in services and real servers as `STATS` (32-bit packet
//! and connection counters, 64-bit byte counters) and `STATS64` (all 64-bit,
//! since Linux 4.1). A dump carries both for every object, so they are read
//! straight into [`Stats`], without an attribute list per block.

use netlink_packet_core::{DecodeError, NlasIterator};

use super::constants::*;
use crate::ipvs::types::Stats;

/// Reads a `STATS` or `STATS64` block. Each counter's width comes from its
/// length (4 or 8 bytes); unknown counters and padding are skipped.
pub fn parse(payload: &[u8]) -> Result<Stats, DecodeError> {
    let mut stats = Stats::default();
    for nla in NlasIterator::new(payload) {
        let nla = nla?;
        let value = match *nla.value() {
            [a, b, c, d] => u64::from(u32::from_ne_bytes([a, b, c, d])),
            [a, b, c, d, e, f, g, h] => u64::from_ne_bytes([a, b, c, d, e, f, g, h]),
            _ => continue,
        };
        if let Some(field) = field(&mut stats, nla.kind()) {
            *field = value;
        }
    }
    Ok(stats)
}

fn field(stats: &mut Stats, kind: u16) -> Option<&mut u64> {
    Some(match kind {
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
        _ => return None,
    })
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

/// How wide each counter of a block is: in `STATS` only the byte counters
/// are 64-bit (the others are truncated, which is why lvsd reads `STATS64`).
fn is_wide(wide_block: bool, kind: u16) -> bool {
    wide_block || matches!(kind, IPVS_STATS_ATTR_INBYTES | IPVS_STATS_ATTR_OUTBYTES)
}

/// The value length of a block as the kernel writes it.
pub fn block_len(wide_block: bool) -> usize {
    fields(&Stats::default())
        .iter()
        .map(|(kind, _)| if is_wide(wide_block, *kind) { 12 } else { 8 })
        .sum()
}

/// Writes a block as the kernel does (`block_len` bytes).
pub fn emit(stats: &Stats, wide_block: bool, buffer: &mut [u8]) {
    let mut at = 0;
    for (kind, value) in fields(stats) {
        let len: u16 = if is_wide(wide_block, kind) { 12 } else { 8 };
        buffer[at..at + 2].copy_from_slice(&len.to_ne_bytes());
        buffer[at + 2..at + 4].copy_from_slice(&kind.to_ne_bytes());
        if len == 12 {
            buffer[at + 4..at + 12].copy_from_slice(&value.to_ne_bytes());
        } else {
            buffer[at + 4..at + 8].copy_from_slice(&(value as u32).to_ne_bytes());
        }
        at += usize::from(len);
    }
}
