//! The codec against hostile bytes: datagrams built from the kernel's own
//! messages (`fixtures`), damaged at random (bits, lengths, cuts, splices),
//! and plain noise. Splitting and parsing never panic; every object parsed
//! from damaged bytes is emitted and parsed back to itself.
//! Bounded like the other targets (`crate::fuzz`): `LVSD_FUZZ_CASES`.

use netlink_packet_generic::GenlMessage;
use proptest::prelude::*;
use proptest::sample::select;

use super::fixtures::*;
use super::{as_kernel_sends, decode, ipvs};
use crate::fuzz::{apply_bytes, byte_edit, fuzz};
use crate::ipvs::netlink::connection::{Reply, parse_datagram};
use crate::ipvs::netlink::message::{IpvsAttr, IpvsCmd, IpvsMessage};
use crate::ipvs::netlink::{config, daemon, dest, info, service};

const AF_INET: u16 = 2;
const AF_INET6: u16 = 10;

/// Datagrams as the kernel sends them: one message, or several in a row.
fn seeds() -> Vec<Vec<u8>> {
    let one: Vec<&[u8]> = vec![
        &TCP_SERVICE_WITH_STATS,
        &IPV6_SH_SERVICE,
        &UDP_SIP_SERVICE,
        &FWMARK_SERVICE,
        &NAT_DEST_WITH_STATS,
        &IPV6_DR_DEST,
        &GUE_TUNNEL_DEST,
        &MASTER_DAEMON,
        &CONFIG_REPLY,
        &INFO_REPLY,
    ];
    let mut seeds: Vec<Vec<u8>> = one.iter().map(|m| m.to_vec()).collect();
    seeds.push(
        [
            &TCP_SERVICE_WITH_STATS[..],
            &IPV6_SH_SERVICE,
            &FWMARK_SERVICE,
        ]
        .concat(),
    );
    seeds.push([&NAT_DEST_WITH_STATS[..], &GUE_TUNNEL_DEST].concat());
    seeds
}

fn datagram() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        8 => (select(seeds()), prop::collection::vec(byte_edit(), 1..5)).prop_map(|(seed, edits)| apply_bytes(&seed, &edits)),
        1 => prop::collection::vec(any::<u8>(), 0..400),
    ]
}

/// Parses every object in `msg`, and checks that what parses round-trips.
fn parse_all(msg: &IpvsMessage) -> Result<bool, TestCaseError> {
    let mut parsed = false;
    if let Some(Ok((svc, stats))) = msg.service().map(service::parse_entry) {
        let again = IpvsMessage::new(
            IpvsCmd::NewService,
            vec![IpvsAttr::Service(service::entry_attrs(&svc, &stats))],
        );
        let back = decode(&as_kernel_sends(again, 1));
        let reparsed = service::parse_entry(ipvs(&back).service().unwrap())
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(reparsed, (svc, stats));
        parsed = true;
    }
    if let Some(attrs) = msg.dest() {
        for af in [AF_INET, AF_INET6] {
            if let Ok(entry) = dest::parse_entry(attrs, af) {
                let again = IpvsMessage::new(
                    IpvsCmd::NewDest,
                    vec![IpvsAttr::Dest(dest::entry_attrs(&entry))],
                );
                let back = decode(&as_kernel_sends(again, 1));
                let reparsed = dest::parse_entry(ipvs(&back).dest().unwrap(), af)
                    .map_err(|e| TestCaseError::fail(e.to_string()))?;
                prop_assert_eq!(reparsed, entry);
                parsed = true;
            }
        }
    }
    if let Some(attrs) = msg.daemon() {
        parsed |= daemon::parse(attrs).is_ok();
    }
    let _ = config::parse(msg.config());
    parsed |= info::parse(msg.info()).is_ok();
    Ok(parsed)
}

#[test]
fn netlink_replies_never_panic_and_round_trip() {
    fuzz(
        "netlink parse_datagram + IPVS objects",
        datagram(),
        |bytes| {
            let Ok(replies) = parse_datagram::<GenlMessage<IpvsMessage>>(&bytes) else {
                return Ok(false);
            };
            let mut parsed = false;
            for (_, reply) in &replies {
                if let Reply::Message(genl) = reply {
                    parsed |= parse_all(&genl.payload)?;
                }
            }
            Ok(parsed)
        },
    );
}
