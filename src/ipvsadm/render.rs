//! Pieces of ipvsadm's output shared by `-S` and `-L`: addresses as glibc's
//! `inet_ntop` writes them, scheduler flags, forwarding names.

use std::fmt::Write;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::ipvs::{Service, fwd, svc_flags, tun};
use crate::model::{AddressFamily, Protocol, ServiceKey};

/// An address as `inet_ntop` writes it. Rust's `Display` agrees except for
/// IPv4-compatible IPv6 addresses (`::1.2.3.4`), which glibc still writes
/// with an embedded IPv4 address.
pub(super) fn ntop(addr: IpAddr) -> String {
    match addr {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => ntop6(v6),
    }
}

fn ntop6(addr: Ipv6Addr) -> String {
    let words = addr.segments();
    // The first longest run of two or more zero words becomes `::`.
    let mut best: Option<(usize, usize)> = None;
    let mut i = 0;
    while i < 8 {
        if words[i] != 0 {
            i += 1;
            continue;
        }
        let start = i;
        while i < 8 && words[i] == 0 {
            i += 1;
        }
        let len = i - start;
        if len >= 2 && best.is_none_or(|(_, best_len)| len > best_len) {
            best = Some((start, len));
        }
    }
    let mut out = String::new();
    let mut i = 0;
    while i < 8 {
        if let Some((start, len)) = best
            && i == start
        {
            out.push(':');
            i += len;
            if i == 8 {
                out.push(':');
            }
            continue;
        }
        if i != 0 {
            out.push(':');
        }
        // glibc writes `::a.b.c.d` and `::ffff:a.b.c.d` with an IPv4 tail.
        let embedded_v4 = i == 6
            && match best {
                Some((0, 6)) => true,
                Some((0, 5)) => words[5] == 0xffff,
                _ => false,
            };
        if embedded_v4 {
            let [.., a, b, c, d] = addr.octets();
            let _ = write!(out, "{}", Ipv4Addr::new(a, b, c, d));
            return out;
        }
        let _ = write!(out, "{:x}", words[i]);
        i += 1;
    }
    out
}

/// `ADDRESS:PORT`, IPv6 in brackets (ipvsadm's numeric `addrport_to_anyname`).
pub(super) fn addr_port(addr: IpAddr, port: u16) -> String {
    match addr {
        IpAddr::V4(_) => format!("{}:{port}", ntop(addr)),
        IpAddr::V6(_) => format!("[{}]:{port}", ntop(addr)),
    }
}

pub(super) fn protocol_option(protocol: Protocol) -> &'static str {
    match protocol {
        Protocol::Tcp => "-t",
        Protocol::Udp => "-u",
        Protocol::Sctp => "--sctp-service",
    }
}

pub(super) fn protocol_title(protocol: Protocol) -> &'static str {
    match protocol {
        Protocol::Tcp => "TCP",
        Protocol::Udp => "UDP",
        Protocol::Sctp => "SCTP",
    }
}

/// The scheduler flags as ipvsadm's `print_sched_flags` names them: after the
/// scheduler for sh and mh, generically for any other; empty when none.
pub(super) fn sched_flags(service: &Service) -> String {
    let names: &[(u32, &str)] = match service.scheduler.as_str() {
        "sh" => &[
            (svc_flags::SCHED1, "sh-fallback"),
            (svc_flags::SCHED2, "sh-port"),
        ],
        "mh" => &[
            (svc_flags::SCHED1, "mh-fallback"),
            (svc_flags::SCHED2, "mh-port"),
        ],
        _ => &[
            (svc_flags::SCHED1, "flag-1"),
            (svc_flags::SCHED2, "flag-2"),
            (svc_flags::SCHED3, "flag-3"),
        ],
    };
    let set: Vec<&str> = names
        .iter()
        .filter(|(bit, _)| service.flags & bit != 0)
        .map(|(_, name)| *name)
        .collect();
    set.join(",")
}

pub(super) fn has_sched_flags(service: &Service) -> bool {
    service.flags & (svc_flags::SCHED1 | svc_flags::SCHED2 | svc_flags::SCHED3) != 0
}

/// The persistence netmask when it is not "each client on its own", as
/// ipvsadm writes it: dotted for IPv4, a prefix length for IPv6.
pub(super) fn netmask(service: &Service) -> Option<String> {
    match service.key.family() {
        AddressFamily::Ipv4 if service.netmask != u32::MAX => {
            Some(Ipv4Addr::from(service.netmask).to_string())
        }
        AddressFamily::Ipv6 if service.netmask != 128 => Some(service.netmask.to_string()),
        _ => None,
    }
}

pub(super) fn is_ipv6(key: &ServiceKey) -> bool {
    key.family() == AddressFamily::Ipv6
}

/// Index of the checksum mode in ipvsadm's `tunflags`/`tun_flags_opts`
/// tables (nocsum, csum, remcsum). ipvsadm indexes them with the raw flags;
/// both bits at once (which it cannot set) read as remcsum here.
pub(super) fn tunnel_checksum(flags: u16) -> usize {
    if flags & tun::FLAG_REMCSUM != 0 {
        2
    } else if flags & tun::FLAG_CSUM != 0 {
        1
    } else {
        0
    }
}

/// Whether a forwarding method is a tunnel (ipvsadm shows tunnel details only then).
pub(super) fn is_tunnel(fwd_method: u32) -> bool {
    fwd_method & fwd::MASK == fwd::TUNNEL
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_as_glibc_writes_it() {
        for (addr, text) in [
            ("2001:db8::1", "2001:db8::1"),
            ("::", "::"),
            ("::1", "::1"),
            ("2001:db8:0:1:0:0:0:1", "2001:db8:0:1::1"),
            ("2001:db8::1:0:0:1", "2001:db8::1:0:0:1"),
            ("2001:0:0:1::1", "2001:0:0:1::1"),
            ("2001:db8:0:0:1:0:0:0", "2001:db8:0:0:1::"),
            ("1:0:1:0:1:0:1:0", "1:0:1:0:1:0:1:0"),
            ("fe80::", "fe80::"),
            ("::ffff:10.0.0.1", "::ffff:10.0.0.1"),
            ("::10.0.0.1", "::10.0.0.1"),
            ("::0.0.0.2", "::2"),
            ("ff02::1:ff00:1", "ff02::1:ff00:1"),
        ] {
            assert_eq!(ntop(addr.parse().unwrap()), text, "{addr}");
        }
    }
}
