//! Splitting datagrams into replies: dumps, ACKs and errors as the kernel
//! sent them.

use crate::ipvs::netlink::connection::{Reply, parse_datagram};
use crate::ipvs::netlink::message::IpvsMessage;
use crate::ipvs::netlink::{dest, service};
use netlink_packet_generic::GenlMessage;

type Replies = Vec<(u32, Reply<GenlMessage<IpvsMessage>>)>;

fn split(bytes: &[u8]) -> Replies {
    parse_datagram(bytes).expect("the datagram splits")
}

/// One datagram of the GET_SERVICE dump: four NEW_SERVICE messages (the
/// services of `kernel_bytes`), sequence number 2.
const SERVICE_DUMP: &str = "400100002000020002000000c7000000010100002c0101000600010002000000060002000600000014000300c0a81f64000000000000000000000000060004000050000008000600777272000c00070002000000ffffffff080008000000000008000900ffffffff5c000a0008000100060000000800020025000000080003001f0000000c00040082090000000000000c0005006e0b00000000000008000600010000000800070003000000080008000300000008000900e400000008000a00120100007c000c000c00010006000000000000000c00020025000000000000000c0003001f000000000000000c00040082090000000000000c0005006e0b0000000000000c00060001000000000000000c00070003000000000000000c00080003000000000000000c000900e4000000000000000c000a001201000000000000400100002000020002000000c7000000010100002c010100060001000a00000006000200110000001400030020010db8000000000000000000000001060004000035000007000600736800000c0007001b000000ffffffff080008005802000008000900400000005c000a000800010000000000080002000000000008000300000000000c00040000000000000000000c0005000000000000000000080006000000000008000700000000000800080000000000080009000000000008000a00000000007c000c000c00010000000000000000000c00020000000000000000000c00030000000000000000000c00040000000000000000000c00050000000000000000000c00060000000000000000000c00070000000000000000000c00080000000000000000000c00090000000000000000000c000a000000000000000000480100002000020002000000c7000000010100003401010006000100020000000600020011000000140003000a0100010000000000000000000000000600040013c40000070006006c63000008000b00736970000c00070007000000ffffffff080008002c01000008000900ffffff005c000a000800010000000000080002000000000008000300000000000c00040000000000000000000c0005000000000000000000080006000000000008000700000000000800080000000000080009000000000008000a00000000007c000c000c00010000000000000000000c00020000000000000000000c00030000000000000000000c00040000000000000000000c00050000000000000000000c00060000000000000000000c00070000000000000000000c00080000000000000000000c00090000000000000000000c000a000000000000000000240100002000020002000000c700000001010000100101000600010002000000080005000700000007000600727200000c00070002000000ffffffff080008000000000008000900ffffffff5c000a000800010000000000080002000000000008000300000000000c00040000000000000000000c0005000000000000000000080006000000000008000700000000000800080000000000080009000000000008000a00000000007c000c000c00010000000000000000000c00020000000000000000000c00030000000000000000000c00040000000000000000000c00050000000000000000000c00060000000000000000000c00070000000000000000000c00080000000000000000000c00090000000000000000000c000a000000000000000000";

/// One datagram of a GET_DEST dump: the two real servers of the NAT service.
const DEST_DUMP: &str = "640100002000020003000000c7000000050100005001020014000100ac19002000000000000000000000000006000200005000000800030000000000080004000200000005000d000000000006000e000000000006000f00000000000800050000000000080006000000000008000700000000000800080004000000080009000000000006000b00020000005c000a000800010004000000080002001900000008000300150000000c00040068060000000000000c000500b007000000000000080006000000000008000700020000000800080001000000080009007300000008000a008a0000007c000c000c00010004000000000000000c00020019000000000000000c00030015000000000000000c00040068060000000000000c000500b0070000000000000c00060000000000000000000c00070002000000000000000c00080001000000000000000c00090073000000000000000c000a008a00000000000000640100002000020003000000c7000000050100005001020014000100ac19001f00000000000000000000000006000200005000000800030000000000080004000100000005000d000000000006000e000000000006000f00000000000800050000000000080006000000000008000700000000000800080002000000080009000000000006000b00020000005c000a000800010002000000080002000c000000080003000a0000000c0004001a030000000000000c000500be03000000000000080006000000000008000700010000000800080001000000080009003800000008000a00430000007c000c000c00010002000000000000000c0002000c000000000000000c0003000a000000000000000c0004001a030000000000000c000500be030000000000000c00060000000000000000000c00070001000000000000000c00080001000000000000000c00090038000000000000000c000a004300000000000000";

#[rustfmt::skip]
const DUMP_DONE: [u8; 20] = [
    0x14, 0x00, 0x00, 0x00, // length 20
    0x03, 0x00, // NLMSG_DONE
    0x02, 0x00, // NLM_F_MULTI
    0x03, 0x00, 0x00, 0x00, // sequence number 3
    0xc7, 0x00, 0x00, 0x00, // port id
    0x00, 0x00, 0x00, 0x00, // status 0: the dump is complete
];

#[rustfmt::skip]
const ACK: [u8; 36] = [
    0x24, 0x00, 0x00, 0x00, // length 36
    0x02, 0x00, // NLMSG_ERROR
    0x00, 0x01, // NLM_F_CAPPED: the request is not echoed
    0x01, 0x00, 0x00, 0x00, // sequence number 1
    0xc7, 0x00, 0x00, 0x00, // port id
    0x00, 0x00, 0x00, 0x00, // error 0: an acknowledgement
    0x20, 0x00, 0x00, 0x00, 0x10, 0x00, 0x05, 0x00, // the request's header: length 32, type 16 (nlctrl), REQUEST|ACK
    0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // sequence number 1, port id 0
];

/// `lvsd zero -t 10.9.9.9:80` on a table without that service.
#[rustfmt::skip]
const ESRCH_ERROR: [u8; 88] = [
    0x58, 0x00, 0x00, 0x00, // length 88
    0x02, 0x00, // NLMSG_ERROR
    0x00, 0x00, // flags: the whole request is echoed
    0x02, 0x00, 0x00, 0x00, // sequence number 2
    0x67, 0x00, 0x00, 0x00, // port id
    0xfd, 0xff, 0xff, 0xff, // error -3: ESRCH
    0x44, 0x00, 0x00, 0x00, 0x20, 0x00, 0x05, 0x00, // the request: length 68, type 32 (IPVS), REQUEST|ACK
    0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // sequence number 2, port id 0
    0x10, 0x01, 0x00, 0x00, // ZERO, version 1
    0x30, 0x00, 0x01, 0x00, // IPVS_CMD_ATTR_SERVICE, 48 bytes
    0x06, 0x00, 0x01, 0x00, 0x02, 0x00, 0x00, 0x00, // AF_INET
    0x06, 0x00, 0x02, 0x00, 0x06, 0x00, 0x00, 0x00, // IPPROTO_TCP
    0x14, 0x00, 0x03, 0x00, 0x0a, 0x09, 0x09, 0x09, // 10.9.9.9 in 16 bytes
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00,
    0x06, 0x00, 0x04, 0x00, 0x00, 0x50, 0x00, 0x00, // port 80
];

#[test]
fn a_service_dump_datagram_holds_several_messages() {
    let replies = split(&hex::decode(SERVICE_DUMP).unwrap());
    let keys: Vec<String> = replies
        .iter()
        .map(|(seq, reply)| {
            assert_eq!(*seq, 2);
            match reply {
                Reply::Message(genl) => service::parse_entry(genl.payload.service().unwrap())
                    .unwrap()
                    .0
                    .key
                    .to_string(),
                other => panic!("expected a service, got {other:?}"),
            }
        })
        .collect();
    assert_eq!(
        keys,
        [
            "tcp:192.168.31.100:80",
            "udp:[2001:db8::1]:53",
            "udp:10.1.0.1:5060",
            "fwmark:7"
        ]
    );
}

#[test]
fn a_dest_dump_ends_with_done() {
    let mut replies = split(&hex::decode(DEST_DUMP).unwrap());
    replies.extend(split(&DUMP_DONE));
    let ids: Vec<String> = replies
        .iter()
        .filter_map(|(_, reply)| match reply {
            Reply::Message(genl) => Some(
                dest::parse_entry(genl.payload.dest().unwrap(), 2)
                    .unwrap()
                    .dest
                    .key
                    .to_string(),
            ),
            _ => None,
        })
        .collect();
    // The kernel lists real servers newest first; snapshot() sorts them.
    assert_eq!(ids, ["172.25.0.32:80", "172.25.0.31:80"]);
    assert!(matches!(replies.last(), Some((3, Reply::Done(0)))));
}

#[test]
fn dest_dumps_read_straight_into_real_servers_as_through_messages() {
    let bytes = hex::decode(DEST_DUMP).unwrap();
    let direct: Vec<_> = parse_datagram::<dest::DestReply>(&bytes)
        .unwrap()
        .into_iter()
        .map(|(_, reply)| match reply {
            Reply::Message(reply) => reply.into_entry(2).unwrap(),
            other => panic!("expected a real server, got {other:?}"),
        })
        .collect();
    let through_messages: Vec<_> = split(&bytes)
        .into_iter()
        .map(|(_, reply)| match reply {
            Reply::Message(genl) => dest::parse_entry(genl.payload.dest().unwrap(), 2).unwrap(),
            other => panic!("expected a real server, got {other:?}"),
        })
        .collect();
    assert_eq!(direct.len(), 2);
    assert_eq!(direct, through_messages);
    // Another command in a real-server dump is refused, not misread.
    let services = hex::decode(SERVICE_DUMP).unwrap();
    assert!(
        parse_datagram::<dest::DestReply>(&services)
            .unwrap()
            .iter()
            .all(|(_, r)| matches!(r, Reply::Undecodable(_)))
    );
}

#[test]
fn acks_and_errors_carry_the_request_sequence_number() {
    let mut both = ACK.to_vec();
    both.extend_from_slice(&ESRCH_ERROR);
    let replies = split(&both);
    assert!(matches!(replies[0], (1, Reply::Ack)));
    assert!(matches!(replies[1], (2, Reply::Errno(3))));
}

#[test]
fn broken_datagrams_are_refused() {
    // A length field longer than the datagram.
    let mut bytes = ACK.to_vec();
    bytes[0] = 0x40;
    assert!(parse_datagram::<GenlMessage<IpvsMessage>>(&bytes).is_err());
    // A message that is not IPVS is reported, not fatal to the others.
    let mut bytes = hex::decode(SERVICE_DUMP).unwrap();
    bytes[16] = 99; // first message: unknown command
    let replies = split(&bytes);
    assert!(matches!(replies[0].1, Reply::Undecodable(_)));
    assert!(matches!(replies[1].1, Reply::Message(_)));
}
