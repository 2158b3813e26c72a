//! Codec tests: real kernel bytes parsed, compared and emitted back
//! byte for byte (`kernel_bytes`), emit→parse round trips of every request
//! and reply (`round_trip`), and datagram splitting with ACKs and errors
//! (`datagram`). None needs a kernel.

mod datagram;
mod fixtures;
mod fuzz;
mod kernel_bytes;
mod round_trip;

use netlink_packet_core::{NLM_F_MULTIPART, NetlinkHeader, NetlinkMessage, NetlinkPayload};
use netlink_packet_generic::GenlMessage;

use super::message::IpvsMessage;

/// Parses one netlink message carrying an IPVS message.
pub fn decode(bytes: &[u8]) -> NetlinkMessage<GenlMessage<IpvsMessage>> {
    NetlinkMessage::<GenlMessage<IpvsMessage>>::deserialize(bytes).expect("the message parses")
}

/// The IPVS message inside.
pub fn ipvs(msg: &NetlinkMessage<GenlMessage<IpvsMessage>>) -> &IpvsMessage {
    match &msg.payload {
        NetlinkPayload::InnerMessage(genl) => &genl.payload,
        other => panic!("not an IPVS message: {other:?}"),
    }
}

/// The bytes of a netlink message as `decode` returned it (header as parsed).
pub fn encode(msg: &NetlinkMessage<GenlMessage<IpvsMessage>>) -> Vec<u8> {
    let mut buf = vec![0; msg.buffer_len()];
    msg.serialize(&mut buf);
    buf
}

/// `payload` in a netlink message as a dump of the kernel would send it.
pub fn as_kernel_sends(payload: IpvsMessage, seq: u32) -> Vec<u8> {
    let mut genl = GenlMessage::from_payload(payload);
    genl.set_resolved_family_id(32);
    let mut header = NetlinkHeader::default();
    header.flags = NLM_F_MULTIPART;
    header.sequence_number = seq;
    header.port_number = 0xc7;
    let mut msg = NetlinkMessage::new(header, NetlinkPayload::InnerMessage(genl));
    msg.finalize();
    encode(&msg)
}
