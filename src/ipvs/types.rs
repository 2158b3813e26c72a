//! The kernel's vocabulary: IPVS objects exactly as netlink carries them.
//!
//! These types can hold anything the kernel reports (including what lvsd's
//! model would refuse, such as a table edited by another tool), so reading the
//! kernel never fails on a value. Desired state converts into them without
//! loss; the planner compares desired and actual in these terms.

use std::net::{IpAddr, SocketAddr};

use crate::model::{
    self, AddressFamily, DaemonRole, Forwarding, RealServer, ServiceKey, TunnelChecksum,
    TunnelType, VirtualService,
};

/// Service flags (`IP_VS_SVC_F_*`) that a client sets.
pub mod svc_flags {
    pub const PERSISTENT: u32 = 0x0001;
    /// Set by the kernel on every hashed service; never sent, masked off when read.
    pub const HASHED: u32 = 0x0002;
    pub const ONEPACKET: u32 = 0x0004;
    pub const SCHED1: u32 = 0x0008;
    pub const SCHED2: u32 = 0x0010;
    pub const SCHED3: u32 = 0x0020;
    /// Every flag a client may set.
    pub const SETTABLE: u32 = PERSISTENT | ONEPACKET | SCHED1 | SCHED2 | SCHED3;
}

/// Forwarding methods (`IP_VS_CONN_F_*` & `IP_VS_CONN_F_FWD_MASK`).
pub mod fwd {
    pub const MASQ: u32 = 0x0000;
    pub const LOCALNODE: u32 = 0x0001;
    pub const TUNNEL: u32 = 0x0002;
    pub const DROUTE: u32 = 0x0003;
    pub const BYPASS: u32 = 0x0004;
    pub const MASK: u32 = 0x0007;
}

/// Tunnel types and flags (`IP_VS_CONN_F_TUNNEL_TYPE_*`, `IP_VS_TUNNEL_ENCAP_FLAG_*`).
pub mod tun {
    pub const IPIP: u8 = 0;
    pub const GUE: u8 = 1;
    pub const GRE: u8 = 2;
    pub const FLAG_CSUM: u16 = 1 << 0;
    pub const FLAG_REMCSUM: u16 = 1 << 1;
}

/// A virtual service's settings as the kernel holds them.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Service {
    pub key: ServiceKey,
    pub scheduler: String,
    /// `svc_flags::SETTABLE` bits only.
    pub flags: u32,
    /// Persistence timeout in seconds (meaningful with `PERSISTENT`).
    pub timeout: u32,
    /// IPv4: the mask as a number (`0xffffff00` for /24); IPv6: a prefix length.
    pub netmask: u32,
    pub pe_name: Option<String>,
}

/// What identifies a real server inside a service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DestKey {
    pub addr: IpAddr,
    pub port: u16,
}

impl DestKey {
    pub fn socket_addr(&self) -> SocketAddr {
        SocketAddr::new(self.addr, self.port)
    }
}

impl std::fmt::Display for DestKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.socket_addr().fmt(f)
    }
}

/// A real server's settings as the kernel holds them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Dest {
    pub key: DestKey,
    /// `fwd::*`.
    pub fwd_method: u32,
    pub weight: u32,
    pub u_threshold: u32,
    pub l_threshold: u32,
    pub tun_type: u8,
    pub tun_port: u16,
    pub tun_flags: u16,
}

/// Packet and byte counters with their estimated rates (`--stats`, `--rate`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Serialize)]
pub struct Stats {
    pub conns: u64,
    pub inpkts: u64,
    pub outpkts: u64,
    pub inbytes: u64,
    pub outbytes: u64,
    pub cps: u64,
    pub inpps: u64,
    pub outpps: u64,
    pub inbps: u64,
    pub outbps: u64,
}

/// A real server with its live counters, as a dump returns it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DestEntry {
    pub dest: Dest,
    pub active_conns: u32,
    pub inact_conns: u32,
    pub persist_conns: u32,
    pub stats: Stats,
}

/// A virtual service with its real servers and counters, as a dump returns it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceEntry {
    pub service: Service,
    pub stats: Stats,
    pub dests: Vec<DestEntry>,
}

/// Connection timeouts in seconds; 0 in a request means "leave unchanged".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Timeouts {
    pub tcp: u32,
    pub tcp_fin: u32,
    pub udp: u32,
}

/// A running sync daemon as the kernel reports it (kernel defaults filled in).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Daemon {
    pub role: DaemonRole,
    pub mcast_ifn: String,
    pub syncid: u32,
    /// 0, `None` or absent fields mean "the kernel's default" when starting.
    pub sync_maxlen: Option<u16>,
    pub mcast_group: Option<IpAddr>,
    pub mcast_port: Option<u16>,
    pub mcast_ttl: Option<u8>,
}

/// `GET_INFO`: IPVS version and connection table size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Info {
    /// `(major << 16) | (minor << 8) | patch`.
    pub version: u32,
    pub conn_tab_size: u32,
}

impl Info {
    pub fn version_string(&self) -> String {
        format!(
            "{}.{}.{}",
            self.version >> 16,
            (self.version >> 8) & 0xff,
            self.version & 0xff
        )
    }
}

/// One change to the kernel's table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    AddService(Service),
    /// Replaces every option of the service (SET_SERVICE is not a patch).
    EditService(Service),
    DelService(ServiceKey),
    AddDest(ServiceKey, Dest),
    /// Replaces every option of the real server, forwarding method included.
    EditDest(ServiceKey, Dest),
    DelDest(ServiceKey, DestKey),
    SetTimeouts(Timeouts),
    StartDaemon(Daemon),
    StopDaemon(DaemonRole),
    Flush,
    /// Zero the counters of one service, or of all with `None`.
    Zero(Option<ServiceKey>),
}

impl From<&VirtualService> for Service {
    fn from(svc: &VirtualService) -> Self {
        let mut flags = 0;
        let (timeout, netmask) = match svc.persistence {
            Some(p) => {
                flags |= svc_flags::PERSISTENT;
                (p.timeout, netmask_value(svc.key.family(), p.netmask))
            }
            None => (
                0,
                netmask_value(svc.key.family(), svc.key.family().max_prefix()),
            ),
        };
        if svc.one_packet {
            flags |= svc_flags::ONEPACKET;
        }
        if svc.sched_flags.fallback {
            flags |= svc_flags::SCHED1;
        }
        if svc.sched_flags.port {
            flags |= svc_flags::SCHED2;
        }
        Service {
            key: svc.key,
            scheduler: svc.scheduler.as_str().to_string(),
            flags,
            timeout,
            netmask,
            pe_name: svc.persistence_engine.map(|pe| pe.as_str().to_string()),
        }
    }
}

/// The kernel's netmask value for a prefix length.
pub fn netmask_value(family: AddressFamily, prefix: u8) -> u32 {
    match family {
        AddressFamily::Ipv4 if prefix == 0 => 0,
        AddressFamily::Ipv4 => u32::MAX << (32 - u32::from(prefix.min(32))),
        AddressFamily::Ipv6 => u32::from(prefix),
    }
}

impl From<&RealServer> for Dest {
    fn from(rs: &RealServer) -> Self {
        let (fwd_method, tun_type, tun_port, tun_flags) = match rs.forwarding {
            // FULLNAT is NAT in the kernel; the director adds the source NAT.
            Forwarding::Nat | Forwarding::Fullnat => (fwd::MASQ, 0, 0, 0),
            Forwarding::Dr => (fwd::DROUTE, 0, 0, 0),
            Forwarding::Tun(t) => {
                let tun_type = match t.kind {
                    TunnelType::Ipip => tun::IPIP,
                    TunnelType::Gue => tun::GUE,
                    TunnelType::Gre => tun::GRE,
                };
                let tun_flags = match t.checksum {
                    TunnelChecksum::None => 0,
                    TunnelChecksum::Csum => tun::FLAG_CSUM,
                    TunnelChecksum::Remcsum => tun::FLAG_REMCSUM,
                };
                (fwd::TUNNEL, tun_type, t.port.unwrap_or(0), tun_flags)
            }
        };
        Dest {
            key: DestKey {
                addr: rs.key.ip(),
                port: rs.key.port(),
            },
            fwd_method,
            weight: rs.weight.into(),
            u_threshold: rs.upper_threshold,
            l_threshold: rs.lower_threshold,
            tun_type,
            tun_port,
            tun_flags,
        }
    }
}

impl From<&model::SyncDaemon> for Daemon {
    fn from(d: &model::SyncDaemon) -> Self {
        Daemon {
            role: d.role,
            mcast_ifn: d.interface.clone(),
            syncid: d.syncid,
            sync_maxlen: d.sync_maxlen,
            mcast_group: d.mcast_group,
            mcast_port: d.mcast_port,
            mcast_ttl: d.mcast_ttl,
        }
    }
}

impl From<&model::Timeouts> for Timeouts {
    fn from(t: &model::Timeouts) -> Self {
        Timeouts {
            tcp: t.tcp.unwrap_or(0),
            tcp_fin: t.tcpfin.unwrap_or(0),
            udp: t.udp.unwrap_or(0),
        }
    }
}
