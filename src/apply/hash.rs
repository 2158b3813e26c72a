//! The hash of a verified kernel state: SHA-256 over the configuration of
//! the services lvsd manages, the timeouts and the sync daemons, never over
//! counters. Two directors whose tables hold the same configuration report
//! the same hash, whatever their traffic.
//!
//! Each service is digested on its own (so that after an apply only the
//! services it touched are digested again), and the state hash is the
//! SHA-256 of the service digests in key order followed by the globals:
//!
//! ```text
//! service  = sha256("service <id> <scheduler> flags <hex> timeout <s> netmask <hex> pe <name|->\n"
//!                   + for each real server in key order:
//!                     "dest <addr:port> fwd <n> weight <n> thresholds <u> <l> tunnel <type> <port> <flags>\n")
//! state    = sha256(service digests... + "timeouts <tcp> <tcpfin> <udp>\n"
//!                   + for each daemon: "daemon <role> <ifn> <syncid> <maxlen> <group> <port> <ttl>\n")
//! ```

use std::fmt::Write as _;

use sha2::{Digest, Sha256};

use crate::ipvs::{Daemon, ServiceEntry, Timeouts};

pub type ServiceDigest = [u8; 32];

/// The digest of one service's configuration with its real servers.
pub fn service_digest(entry: &ServiceEntry) -> ServiceDigest {
    let s = &entry.service;
    let mut text = String::with_capacity(96 + 96 * entry.dests.len());
    let _ = writeln!(
        text,
        "service {} {} flags {:x} timeout {} netmask {:x} pe {}",
        s.key,
        s.scheduler,
        s.flags,
        s.timeout,
        s.netmask,
        s.pe_name.as_deref().unwrap_or("-")
    );
    let mut dests: Vec<_> = entry.dests.iter().map(|d| &d.dest).collect();
    dests.sort_by_key(|d| d.key);
    for d in dests {
        let _ = writeln!(
            text,
            "dest {} fwd {} weight {} thresholds {} {} tunnel {} {} {}",
            d.key,
            d.fwd_method,
            d.weight,
            d.u_threshold,
            d.l_threshold,
            d.tun_type,
            d.tun_port,
            d.tun_flags
        );
    }
    Sha256::digest(text.as_bytes()).into()
}

/// The state hash, hex, from the digests of the managed services in key order.
pub fn state_hash<'a>(
    services: impl IntoIterator<Item = &'a ServiceDigest>,
    timeouts: &Timeouts,
    daemons: &[Daemon],
) -> String {
    let mut hasher = Sha256::new();
    for digest in services {
        hasher.update(digest);
    }
    hasher.update(format!(
        "timeouts {} {} {}\n",
        timeouts.tcp, timeouts.tcp_fin, timeouts.udp
    ));
    for d in daemons {
        let show = |v: Option<String>| v.unwrap_or_else(|| "-".to_string());
        hasher.update(format!(
            "daemon {} {} {} {} {} {} {}\n",
            d.role.as_str(),
            d.mcast_ifn,
            d.syncid,
            show(d.sync_maxlen.map(|v| v.to_string())),
            show(d.mcast_group.map(|v| v.to_string())),
            show(d.mcast_port.map(|v| v.to_string())),
            show(d.mcast_ttl.map(|v| v.to_string())),
        ));
    }
    hex::encode(hasher.finalize())
}
