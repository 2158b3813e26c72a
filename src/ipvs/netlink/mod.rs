//! The IPVS generic netlink driver.
//!
//! Layout follows rust-netlink's ethtool: one folder per IPVS object with its
//! attributes and conversions (`service`, `dest`, `daemon`, `config`,
//! `info`, plus `stats` shared by services and real servers), the message
//! type in `message`, and one private send path in `connection`.
//!
//! Wire facts the codec encodes (from `include/uapi/linux/ip_vs.h` and
//! `net/netfilter/ipvs/ip_vs_ctl.c`): ports (service, real server, GUE
//! tunnel) are network byte order, the sync daemon's multicast port is not;
//! addresses are 16-byte `nf_inet_addr` read by a separate family attribute;
//! the IPv4 persistence netmask is network order, the IPv6 one a plain prefix
//! length; service flags are a `{flags, mask}` pair; dumps of GET_SERVICE,
//! GET_DEST and GET_DAEMON answer with NEW_* messages; IPVS attaches no error
//! text, so errnos are explained per operation in `ipvs::error`.

pub mod config;
mod connection;
pub mod constants;
pub mod daemon;
pub mod dest;
pub mod info;
pub mod message;
mod nla;
mod request;
pub mod service;
pub mod stats;
mod table;
#[cfg(test)]
mod tests;

pub use connection::WINDOW;
pub use message::{IpvsAttr, IpvsCmd, IpvsMessage};
pub use nla::InetAddr;
pub use request::for_op as request_for;
pub use table::NetlinkTable;
