//! One generic netlink socket to the kernel, and the only path requests take
//! to it (`Connection::send`). Everything above speaks in requests and
//! replies; sequence numbers, batching and acknowledgements stay here.

use std::fmt::Debug;
use std::io;
use std::time::Duration;

use netlink_packet_core::{
    DecodeError, NLM_F_ACK, NLM_F_DUMP, NLM_F_REQUEST, NetlinkBuffer, NetlinkDeserializable,
    NetlinkHeader, NetlinkMessage, NetlinkPayload, NetlinkSerializable, NlasIterator,
};
use netlink_packet_generic::constants::{CTRL_ATTR_FAMILY_ID, GENL_HDRLEN};
use netlink_packet_generic::ctrl::nlas::GenlCtrlAttrs;
use netlink_packet_generic::ctrl::{GenlCtrl, GenlCtrlCmd};
use netlink_packet_generic::{GenlFamily, GenlMessage};
use netlink_sys::protocols::NETLINK_GENERIC;
use netlink_sys::{Socket, SocketAddr};
use rustix::net::sockopt::Timeout;

use super::message::{IpvsCmd, IpvsMessage};
use crate::ipvs::error::{Error, errno};

/// Requests awaiting their acknowledgement at most. The kernel handles a
/// whole datagram inside `send` and queues one ACK per request; 256 of them
/// fit the default receive buffer, and the bigger one asked for below.
pub const WINDOW: usize = 256;
/// Bytes of requests per datagram at most (the send buffer bounds a datagram).
const MAX_DATAGRAM: usize = 64 * 1024;
/// Receive buffer: a dump part is at most 32 KiB; error ACKs echo the request.
const RECV_BUF: usize = 64 * 1024;
/// Socket receive buffer asked for, so a window of ACKs never overflows it.
const SO_RCVBUF_WANTED: usize = 4 * 1024 * 1024;
/// How long the kernel may take to answer before lvsd gives up rather than
/// hang: each request is handled inside `send`, so answers are already
/// queued when `recv` waits; only a kernel that sends none (see `pipeline`)
/// makes it wait.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(30);
/// `MSG_TRUNC`: `recv` then returns the datagram's real length.
const MSG_TRUNC: i32 = 0x20;

/// What the kernel answered to one request.
#[derive(Debug)]
pub enum Reply<P> {
    /// A reply message (a GET answer or one message of a dump).
    Message(P),
    /// NLMSG_ERROR with 0: the request took effect.
    Ack,
    /// NLMSG_ERROR with an errno (positive here).
    Errno(i32),
    /// NLMSG_DONE: the dump is complete (a negative code is an errno).
    Done(i32),
    /// A message this driver could not read.
    Undecodable(DecodeError),
}

pub struct Connection {
    socket: Socket,
    family_id: u16,
    next_seq: u32,
    send_buf: Vec<u8>,
    recv_buf: Vec<u8>,
}

impl Connection {
    /// Opens the socket and resolves the IPVS family once for its life.
    pub fn open() -> Result<Self, Error> {
        let mut socket = Socket::new(NETLINK_GENERIC)?;
        socket.bind_auto()?;
        socket.connect(&SocketAddr::new(0, 0))?;
        grow_receive_buffer(&socket);
        rustix::net::sockopt::set_socket_timeout(&socket, Timeout::Recv, Some(ANSWER_TIMEOUT))
            .map_err(io::Error::from)?;
        let mut conn = Connection {
            socket,
            family_id: 0,
            next_seq: 1,
            send_buf: Vec::new(),
            recv_buf: Vec::new(),
        };
        conn.family_id = conn.resolve_family()?;
        Ok(conn)
    }

    fn resolve_family(&mut self) -> Result<u16, Error> {
        let request = GenlCtrl {
            cmd: GenlCtrlCmd::GetFamily,
            nlas: vec![GenlCtrlAttrs::FamilyName(
                IpvsMessage::family_name().to_string(),
            )],
        };
        let seq = self.send(
            NLM_F_REQUEST | NLM_F_ACK,
            [GenlMessage::from_payload(request)],
        )?;
        let mut family = None;
        loop {
            for (reply_seq, reply) in self.recv::<FamilyId>()? {
                if reply_seq != seq {
                    continue;
                }
                match reply {
                    Reply::Message(FamilyId(id)) => family = id,
                    Reply::Ack | Reply::Done(_) => {
                        return family.ok_or_else(|| {
                            Error::Decode(
                                "the generic netlink controller gave no id for IPVS".to_string(),
                            )
                        });
                    }
                    Reply::Errno(errno::ENOENT) => {
                        return Err(Error::Unavailable(
                            "the kernel has no IPVS generic netlink family (ip_vs is neither loaded nor loadable)"
                                .to_string(),
                        ));
                    }
                    Reply::Errno(code) => {
                        return Err(Error::Io(io::Error::from_raw_os_error(code)));
                    }
                    Reply::Undecodable(e) => {
                        return Err(Error::Decode(format!("generic netlink controller: {e}")));
                    }
                }
            }
        }
    }

    /// The one send path: `payloads` become consecutive requests with `flags`,
    /// in one datagram. Returns the sequence number of the first.
    fn send<P: NetlinkSerializable>(
        &mut self,
        flags: u16,
        payloads: impl IntoIterator<Item = P>,
    ) -> Result<u32, Error> {
        let first = self.next_seq;
        self.send_buf.clear();
        for payload in payloads {
            let mut header = NetlinkHeader::default();
            header.flags = flags;
            header.sequence_number = self.next_seq;
            let mut msg = NetlinkMessage::new(header, NetlinkPayload::InnerMessage(payload));
            msg.finalize();
            let start = self.send_buf.len();
            self.send_buf.resize(start + msg.buffer_len(), 0);
            msg.serialize(&mut self.send_buf[start..]);
            self.next_seq = self.next_seq.wrapping_add(1);
        }
        tracing::trace!(target: "lvsd::netlink", "send {}", hex::encode(&self.send_buf));
        let sent = self.socket.send(&self.send_buf, 0)?;
        if sent != self.send_buf.len() {
            return Err(Error::Io(io::Error::new(
                io::ErrorKind::WriteZero,
                "netlink datagram sent in part",
            )));
        }
        Ok(first)
    }

    /// Reads one datagram and returns its messages with their sequence numbers.
    fn recv<P: NetlinkDeserializable>(&mut self) -> Result<Vec<(u32, Reply<P>)>, Error> {
        self.recv_buf.clear();
        self.recv_buf.reserve(RECV_BUF);
        let len = loop {
            match self.socket.recv(&mut self.recv_buf, MSG_TRUNC) {
                Ok(len) => break len,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    return Err(Error::Io(io::Error::new(
                        io::ErrorKind::TimedOut,
                        format!(
                            "the kernel did not answer within {} s",
                            ANSWER_TIMEOUT.as_secs()
                        ),
                    )));
                }
                Err(e) if e.raw_os_error() == Some(105) => {
                    // ENOBUFS: the kernel dropped messages for us; which ones is unknowable.
                    return Err(Error::Io(io::Error::new(
                        e.kind(),
                        "the kernel dropped replies: the socket receive buffer overflowed (ENOBUFS)",
                    )));
                }
                Err(e) => return Err(e.into()),
            }
        };
        if len > self.recv_buf.len() {
            return Err(Error::Decode(format!(
                "netlink datagram of {len} bytes truncated to {}",
                self.recv_buf.len()
            )));
        }
        tracing::trace!(target: "lvsd::netlink", "recv {}", hex::encode(&self.recv_buf));
        parse_datagram(&self.recv_buf)
    }

    /// A request answered by replies and an ACK (GET_INFO, GET_CONFIG, GET_SERVICE).
    /// Outer error: the socket failed; inner: the kernel's errno.
    pub fn request(&mut self, msg: IpvsMessage) -> Result<Result<Vec<IpvsMessage>, i32>, Error> {
        let seq = self.send(NLM_F_REQUEST | NLM_F_ACK, [self.genl(msg)])?;
        Ok(self
            .collect::<GenlMessage<IpvsMessage>>(seq)?
            .map(|replies| replies.into_iter().map(|genl| genl.payload).collect()))
    }

    /// A dump: every message up to NLMSG_DONE. One dump at a time per socket.
    pub fn dump(&mut self, msg: IpvsMessage) -> Result<Result<Vec<IpvsMessage>, i32>, Error> {
        Ok(self
            .dump_as::<GenlMessage<IpvsMessage>>(msg)?
            .map(|replies| replies.into_iter().map(|genl| genl.payload).collect()))
    }

    /// A dump whose messages are read as `P` rather than as [`IpvsMessage`]s.
    pub fn dump_as<P: NetlinkDeserializable>(
        &mut self,
        msg: IpvsMessage,
    ) -> Result<Result<Vec<P>, i32>, Error> {
        let seq = self.send(NLM_F_REQUEST | NLM_F_DUMP, [self.genl(msg)])?;
        self.collect(seq)
    }

    fn collect<P: NetlinkDeserializable>(
        &mut self,
        seq: u32,
    ) -> Result<Result<Vec<P>, i32>, Error> {
        let mut messages = Vec::new();
        let mut undecodable = None;
        loop {
            for (reply_seq, reply) in self.recv::<P>()? {
                if reply_seq != seq {
                    continue;
                }
                match reply {
                    Reply::Message(msg) => messages.push(msg),
                    // Keep reading to the end, so the socket is clean for the next request.
                    Reply::Undecodable(e) => undecodable = undecodable.or(Some(e)),
                    Reply::Errno(code) => return Ok(Err(code)),
                    Reply::Done(code) if code < 0 => return Ok(Err(-code)),
                    Reply::Ack | Reply::Done(_) => {
                        return match undecodable {
                            Some(e) => Err(Error::Decode(e.to_string())),
                            None => Ok(Ok(messages)),
                        };
                    }
                }
            }
        }
    }

    /// Sends `requests` with NLM_F_ACK each, many per datagram and at most
    /// [`WINDOW`] unacknowledged, and stops sending after the first failure.
    /// Returns, per request, `Some(Ok)` (took effect), `Some(Err(errno))`, or
    /// `None` (never sent). Requests already sent when one fails still run:
    /// their own results say how they ended.
    ///
    /// DEL_DAEMON may get no answer at all: when the daemon's threads had not
    /// run yet, `kthread_stop` returns -EINTR, and netlink sends no ACK for
    /// -EINTR (it means "restart" there), although the daemon is stopped. So a
    /// GET_INFO probe follows each DEL_DAEMON in the same datagram: requests
    /// are answered in order, and a probe answered before its DEL_DAEMON
    /// means the daemon stopped silently.
    pub fn pipeline(
        &mut self,
        requests: Vec<IpvsMessage>,
    ) -> Result<Vec<Option<Result<(), i32>>>, PipelineError> {
        enum Slot {
            Request(usize),
            /// The probe after the DEL_DAEMON request of that index.
            Probe(usize),
        }
        let total = requests.len();
        let mut results: Vec<Option<Result<(), i32>>> = vec![None; total];
        let mut requests = requests.into_iter().enumerate();
        let base = self.next_seq;
        // What each sequence number from `base` on was sent for.
        let mut slots = Vec::with_capacity(total);
        let (mut sent, mut unanswered, mut failed) = (0usize, 0usize, false);
        loop {
            if !failed && sent < total && unanswered <= WINDOW / 2 {
                let (mut chunk, mut bytes, sent_before) = (Vec::new(), 0, sent);
                while unanswered + chunk.len() + 1 < WINDOW && bytes < MAX_DATAGRAM {
                    let Some((index, msg)) = requests.next() else {
                        break;
                    };
                    bytes += msg_len(&msg);
                    let silent_on_eintr = msg.cmd == IpvsCmd::DelDaemon;
                    chunk.push(self.genl(msg));
                    slots.push(Slot::Request(index));
                    sent = index + 1;
                    if silent_on_eintr {
                        chunk.push(self.genl(IpvsMessage::new(IpvsCmd::GetInfo, vec![])));
                        slots.push(Slot::Probe(index));
                    }
                }
                let count = chunk.len();
                self.send(NLM_F_REQUEST | NLM_F_ACK, chunk)
                    .map_err(|error| PipelineError {
                        error,
                        results: results.clone(),
                        sent: sent_before,
                    })?;
                unanswered += count;
            }
            if unanswered == 0 {
                return Ok(results);
            }
            let replies =
                self.recv::<GenlMessage<IpvsMessage>>()
                    .map_err(|error| PipelineError {
                        error,
                        results: results.clone(),
                        sent,
                    })?;
            for (seq, reply) in replies {
                let Some(slot) = slots.get(seq.wrapping_sub(base) as usize) else {
                    continue;
                };
                // A set command answers with an ACK or an errno only; the
                // probe's GET_INFO reply comes before its ACK and is ignored.
                let result = match reply {
                    Reply::Ack => Ok(()),
                    Reply::Errno(code) => Err(code),
                    _ => continue,
                };
                match *slot {
                    Slot::Request(index) if results[index].is_none() => {
                        failed |= result.is_err();
                        results[index] = Some(result);
                        unanswered -= 1;
                    }
                    Slot::Request(_) => {}
                    Slot::Probe(index) => {
                        unanswered -= 1;
                        if results[index].is_none() {
                            // The DEL_DAEMON before it went unanswered: -EINTR, stopped.
                            results[index] = Some(Ok(()));
                            unanswered -= 1;
                        }
                    }
                }
            }
        }
    }

    fn genl(&self, msg: IpvsMessage) -> GenlMessage<IpvsMessage> {
        let mut genl = GenlMessage::from_payload(msg);
        genl.set_resolved_family_id(self.family_id);
        genl
    }
}

/// The socket failed in the middle of a batch: what was known by then.
#[derive(Debug)]
pub struct PipelineError {
    pub error: Error,
    pub results: Vec<Option<Result<(), i32>>>,
    /// How many requests had been sent (the first `sent` of them).
    pub sent: usize,
}

fn msg_len(msg: &IpvsMessage) -> usize {
    use netlink_packet_core::Emitable;
    16 + GENL_HDRLEN + msg.buffer_len()
}

/// Raises the socket's receive buffer: SO_RCVBUFFORCE as root (ignoring the
/// rmem_max cap), else SO_RCVBUF up to that cap. Failing both is harmless:
/// the window is sized for the default buffer.
fn grow_receive_buffer(socket: &Socket) {
    if rustix::net::sockopt::set_socket_recv_buffer_size_force(socket, SO_RCVBUF_WANTED).is_err() {
        let _ = socket.set_rx_buf_sz(SO_RCVBUF_WANTED);
    }
}

/// Splits a datagram into its netlink messages.
pub fn parse_datagram<P: NetlinkDeserializable>(
    data: &[u8],
) -> Result<Vec<(u32, Reply<P>)>, Error> {
    let mut replies = Vec::new();
    let mut offset = 0;
    while offset < data.len() {
        let buf = NetlinkBuffer::new_checked(&data[offset..])
            .map_err(|e| Error::Decode(format!("netlink message at byte {offset}: {e}")))?;
        let len = buf.length() as usize;
        let seq = buf.sequence_number();
        let message = &data[offset..offset + len];
        offset += (len + 3) & !3;
        let reply = match NetlinkMessage::<P>::deserialize(message) {
            Ok(msg) => match msg.payload {
                NetlinkPayload::InnerMessage(inner) => Reply::Message(inner),
                NetlinkPayload::Error(e) => match e.code {
                    None => Reply::Ack,
                    Some(code) => Reply::Errno(-code.get()),
                },
                NetlinkPayload::Done(done) => Reply::Done(done.code),
                // NOOP and OVERRUN are never sent to a generic netlink client.
                _ => continue,
            },
            Err(e) => Reply::Undecodable(e),
        };
        replies.push((seq, reply));
    }
    Ok(replies)
}

/// The id in a CTRL_CMD_NEWFAMILY reply. Read by hand so that controller
/// attributes this crate version does not know cannot fail the lookup.
#[derive(Debug)]
struct FamilyId(Option<u16>);

impl NetlinkDeserializable for FamilyId {
    type Error = DecodeError;

    fn deserialize(_header: &NetlinkHeader, payload: &[u8]) -> Result<Self, DecodeError> {
        let attrs = payload
            .get(GENL_HDRLEN..)
            .ok_or_else(|| DecodeError::from("short controller message"))?;
        for nla in NlasIterator::new(attrs) {
            let nla = nla?;
            if nla.kind() == CTRL_ATTR_FAMILY_ID {
                let value: [u8; 2] = nla
                    .value()
                    .try_into()
                    .map_err(|_| DecodeError::from("CTRL_ATTR_FAMILY_ID is not 2 bytes"))?;
                return Ok(FamilyId(Some(u16::from_ne_bytes(value))));
            }
        }
        Ok(FamilyId(None))
    }
}
