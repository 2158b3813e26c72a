//! Driver errors. IPVS attaches no text to its errors, so the meaning of an
//! errno is given here per operation, once, for the netlink driver and the
//! in-memory table alike.

use std::fmt;

use super::types::{Dest, Op, Service, fwd, tun};
use crate::model::{AddressFamily, ServiceKey};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The kernel has no IPVS (no `IPVS` generic netlink family).
    #[error(
        "IPVS is not available on this host ({0}); load the ip_vs module or run on a kernel with IPVS"
    )]
    Unavailable(String),
    /// The kernel refused an operation.
    #[error("{context}: {reason}")]
    Kernel {
        context: String,
        errno: i32,
        reason: String,
    },
    #[error("netlink socket: {0}")]
    Io(#[from] std::io::Error),
    /// The kernel sent something this driver cannot read.
    #[error("unreadable netlink message: {0}")]
    Decode(String),
}

impl Error {
    /// The error the kernel gives for `op` failing with `errno` (positive).
    pub fn kernel(op: &Op, errno: i32) -> Self {
        Error::Kernel {
            context: describe(op),
            errno,
            reason: explain(op, errno),
        }
    }

    /// The error the kernel gives for a read (`what`: "listing services").
    pub fn read(what: &str, code: i32) -> Self {
        let reason = match code {
            errno::EPERM => "permission denied (lvsd needs CAP_NET_ADMIN)".to_string(),
            code => format!("{} (errno {code})", std::io::Error::from_raw_os_error(code)),
        };
        Error::Kernel {
            context: what.to_string(),
            errno: code,
            reason,
        }
    }

    pub fn errno(&self) -> Option<i32> {
        match self {
            Error::Kernel { errno, .. } => Some(*errno),
            _ => None,
        }
    }
}

/// What an operation does, for messages: "adding real server 172.25.0.31:80 to tcp 192.168.31.100:80".
pub fn describe(op: &Op) -> String {
    match op {
        Op::AddService(s) => format!("adding service {}", service_name(&s.key)),
        Op::EditService(s) => format!("editing service {}", service_name(&s.key)),
        Op::DelService(key) => format!("deleting service {}", service_name(key)),
        Op::AddDest(svc, d) => format!("adding real server {} to {}", d.key, service_name(svc)),
        Op::EditDest(svc, d) => format!("editing real server {} of {}", d.key, service_name(svc)),
        Op::DelDest(svc, key) => format!("deleting real server {} from {}", key, service_name(svc)),
        Op::SetTimeouts(_) => "setting timeouts".to_string(),
        Op::StartDaemon(d) => format!(
            "starting the {} sync daemon on {}",
            d.role.as_str(),
            d.mcast_ifn
        ),
        Op::StopDaemon(role) => format!("stopping the {} sync daemon", role.as_str()),
        Op::Flush => "flushing the table".to_string(),
        Op::Zero(Some(key)) => format!("zeroing the counters of {}", service_name(key)),
        Op::Zero(None) => "zeroing all counters".to_string(),
    }
}

/// A service as people write it: `tcp 192.168.31.100:80`, `fwmark 12`.
pub fn service_name(key: &ServiceKey) -> String {
    match key {
        ServiceKey::Addr { protocol, addr } => format!("{} {addr}", protocol.as_str()),
        ServiceKey::Fwmark { mark, family } => match family {
            crate::model::AddressFamily::Ipv4 => format!("fwmark {mark}"),
            crate::model::AddressFamily::Ipv6 => format!("fwmark {mark} (ipv6)"),
        },
    }
}

/// Errno values IPVS returns (Linux x86-64 numbers, the same on every Linux arch that runs IPVS).
pub mod errno {
    pub const EPERM: i32 = 1;
    pub const ENOENT: i32 = 2;
    pub const ESRCH: i32 = 3;
    pub const ENOMEM: i32 = 12;
    pub const EEXIST: i32 = 17;
    pub const ENODEV: i32 = 19;
    pub const EINVAL: i32 = 22;
    pub const ERANGE: i32 = 34;
    pub const EAFNOSUPPORT: i32 = 97;
    pub const EOPNOTSUPP: i32 = 95;
}

/// The reason an errno gives for `op`, as ipvsadm's `ipvs_strerror` would, but
/// naming the object.
pub fn explain(op: &Op, code: i32) -> String {
    use errno::*;
    match (op, code) {
        (_, EPERM) => "permission denied (lvsd needs CAP_NET_ADMIN)".to_string(),
        (_, ENOMEM) => "the kernel is out of memory".to_string(),
        (Op::AddService(s) | Op::EditService(s), ENOENT) => match &s.pe_name {
            Some(pe) => format!("scheduler {} or persistence engine {pe} is not available in this kernel", s.scheduler),
            None => format!("scheduler {} is not available in this kernel", s.scheduler),
        },
        (Op::AddService(_), EEXIST) => "the service already exists".to_string(),
        (Op::AddService(s) | Op::EditService(s), EINVAL) => explain_invalid_service(s),
        (Op::AddService(_) | Op::EditService(_), EAFNOSUPPORT) => "this kernel has no IPv6 support in IPVS".to_string(),
        (Op::EditService(_) | Op::DelService(_) | Op::Zero(Some(_)), ESRCH) => "no such service".to_string(),
        (Op::AddDest(..) | Op::EditDest(..) | Op::DelDest(..), ESRCH) => "no such service".to_string(),
        (Op::AddDest(..), EEXIST) => "the real server already exists in that service".to_string(),
        (Op::EditDest(..) | Op::DelDest(..), ENOENT) => "no such real server in that service".to_string(),
        (Op::AddDest(_, d) | Op::EditDest(_, d), ERANGE) if d.weight > i32::MAX as u32 => {
            format!("weight {} is out of range (at most {})", d.weight, i32::MAX)
        }
        (Op::AddDest(_, d) | Op::EditDest(_, d), ERANGE) if d.l_threshold > d.u_threshold => format!(
            "the lower threshold {} exceeds the upper threshold {}",
            d.l_threshold, d.u_threshold
        ),
        (Op::AddDest(..) | Op::EditDest(..), ERANGE) => "weight or thresholds out of range".to_string(),
        (Op::AddDest(svc, d) | Op::EditDest(svc, d), EINVAL) => explain_invalid_dest(svc, d),
        (Op::AddDest(..) | Op::EditDest(..), EAFNOSUPPORT) => {
            "mixed address families need tunnel forwarding and IPv6 support".to_string()
        }
        (Op::StartDaemon(_), EEXIST) => "that sync daemon is already running".to_string(),
        (Op::StartDaemon(d), ENODEV) => format!("no such interface {}", d.mcast_ifn),
        (Op::StartDaemon(_), EINVAL) => {
            "the kernel refused the sync daemon: its multicast group must be a multicast address, and no service may mix IPv4 and IPv6 real servers".to_string()
        }
        (Op::StopDaemon(_), ESRCH) => "that sync daemon is not running".to_string(),
        (Op::SetTimeouts(_), EINVAL) => "the kernel refused the timeouts as invalid".to_string(),
        (_, code) => format!("{} (errno {code})", std::io::Error::from_raw_os_error(code)),
    }
}

/// EINVAL on a service: the kernel's checks, most specific first.
fn explain_invalid_service(s: &Service) -> String {
    if s.scheduler.len() >= 16 || s.pe_name.as_ref().is_some_and(|pe| pe.len() >= 16) {
        return "scheduler and persistence engine names are at most 15 characters".to_string();
    }
    if s.key.family() == AddressFamily::Ipv6 && !(1..=128).contains(&s.netmask) {
        return format!(
            "an IPv6 persistence netmask is a prefix length from 1 to 128, not {}",
            s.netmask
        );
    }
    "the kernel refused the service's settings as invalid".to_string()
}

/// EINVAL on a real server: the kernel's checks, most specific first.
fn explain_invalid_dest(svc: &ServiceKey, d: &Dest) -> String {
    let tunnel = d.fwd_method & fwd::MASK == fwd::TUNNEL;
    if tunnel && d.tun_type == tun::GUE && d.tun_port == 0 {
        return "a GUE tunnel needs a destination port".to_string();
    }
    if AddressFamily::of(d.key.addr) != svc.family() {
        return match tunnel {
            false => {
                "its address family is not the service's: only tunnel forwarding can mix IPv4 and IPv6".to_string()
            }
            true => "a service cannot mix IPv4 and IPv6 while a sync daemon runs, and the address must be unicast and routable"
                .to_string(),
        };
    }
    "its address must be unicast and routable from the director (is there a route to it?)"
        .to_string()
}

/// How each operation of a batch ended.
#[derive(Debug)]
pub enum Outcome {
    Applied,
    Failed(Error),
    /// Never sent, because an earlier operation failed.
    NotSent,
}

/// A batch that did not fully apply: the outcome of each operation, in order.
#[derive(Debug)]
pub struct BatchError {
    pub outcomes: Vec<Outcome>,
}

impl BatchError {
    /// The first failed operation: its index and error.
    pub fn first_failure(&self) -> Option<(usize, &Error)> {
        self.outcomes.iter().enumerate().find_map(|(i, o)| match o {
            Outcome::Failed(err) => Some((i, err)),
            _ => None,
        })
    }

    /// Indexes of the operations that took effect.
    pub fn applied(&self) -> impl Iterator<Item = usize> + '_ {
        self.outcomes
            .iter()
            .enumerate()
            .filter(|(_, o)| matches!(o, Outcome::Applied))
            .map(|(i, _)| i)
    }
}

impl fmt::Display for BatchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let total = self.outcomes.len();
        let failed = self
            .outcomes
            .iter()
            .filter(|o| matches!(o, Outcome::Failed(_)))
            .count();
        match self.first_failure() {
            Some((i, err)) if failed == 1 => {
                write!(f, "operation {} of {total} failed: {err}", i + 1)
            }
            Some((i, err)) => write!(
                f,
                "{failed} of {total} operations failed, the first ({}) with: {err}",
                i + 1
            ),
            None => write!(f, "batch of {total} operations incomplete"),
        }
    }
}

impl std::error::Error for BatchError {}
