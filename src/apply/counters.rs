//! Live counters of a director's table, as `ipvsadm -Ln --stats --rate`
//! shows them: per service and per real server, connections, packets and
//! bytes with their estimated rates. Directors read them from their table
//! and report them; the server keeps the latest in memory only (they change
//! every second and are worthless after a restart).

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::ipvs::{Snapshot, Stats};

/// Totals since the counters were last zeroed, and rates per second
/// estimated by the kernel over the last seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
pub struct Traffic {
    /// Connections scheduled.
    pub conns: u64,
    pub in_packets: u64,
    pub out_packets: u64,
    pub in_bytes: u64,
    pub out_bytes: u64,
    /// Connections per second.
    pub cps: u64,
    pub in_pps: u64,
    pub out_pps: u64,
    /// Bytes per second.
    pub in_bps: u64,
    pub out_bps: u64,
}

impl From<Stats> for Traffic {
    fn from(s: Stats) -> Self {
        Traffic {
            conns: s.conns,
            in_packets: s.inpkts,
            out_packets: s.outpkts,
            in_bytes: s.inbytes,
            out_bytes: s.outbytes,
            cps: s.cps,
            in_pps: s.inpps,
            out_pps: s.outpps,
            in_bps: s.inbps,
            out_bps: s.outbps,
        }
    }
}

impl From<Traffic> for Stats {
    fn from(t: Traffic) -> Self {
        Stats {
            conns: t.conns,
            inpkts: t.in_packets,
            outpkts: t.out_packets,
            inbytes: t.in_bytes,
            outbytes: t.out_bytes,
            cps: t.cps,
            inpps: t.in_pps,
            outpps: t.out_pps,
            inbps: t.in_bps,
            outbps: t.out_bps,
        }
    }
}

/// A real server's counters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ServerCounters {
    /// `172.25.0.31:80` (`[2001:db8::31]:80`).
    pub server: String,
    /// The weight in the kernel now (0 while drained or failing its health check).
    pub weight: u32,
    pub active_conns: u32,
    pub inactive_conns: u32,
    /// Persistence templates pointing at it.
    pub persistent_conns: u32,
    pub traffic: Traffic,
}

/// A virtual service's counters, with its real servers'.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ServiceCounters {
    /// Service id, `tcp:192.168.31.100:80`.
    pub service: String,
    pub traffic: Traffic,
    pub servers: Vec<ServerCounters>,
}

/// Everything one director counted at one moment.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
pub struct Counters {
    /// When the table was read, RFC 3339.
    pub at: String,
    pub services: Vec<ServiceCounters>,
}

impl Counters {
    /// The counters of the services in `snapshot` that `keep` accepts (a
    /// director reports its cluster's services only).
    pub fn from_snapshot(
        snapshot: &Snapshot,
        at: std::time::SystemTime,
        keep: impl Fn(&crate::model::ServiceKey) -> bool,
    ) -> Self {
        let services = snapshot
            .services
            .iter()
            .filter(|entry| keep(&entry.service.key))
            .map(|entry| ServiceCounters {
                service: entry.service.key.to_string(),
                traffic: entry.stats.into(),
                servers: entry
                    .dests
                    .iter()
                    .map(|d| ServerCounters {
                        server: d.dest.key.socket_addr().to_string(),
                        weight: d.dest.weight,
                        active_conns: d.active_conns,
                        inactive_conns: d.inact_conns,
                        persistent_conns: d.persist_conns,
                        traffic: d.stats.into(),
                    })
                    .collect(),
            })
            .collect();
        Counters {
            at: crate::model::time::rfc3339(at),
            services,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ipvs::{IpvsTable, MemoryTable};

    #[test]
    fn counters_name_services_and_servers_as_the_api_does() {
        let spec: crate::model::Spec = serde_json::from_value::<crate::model::SpecDoc>(serde_json::json!({
            "services": [
                {"id": "tcp:192.168.31.100:80", "scheduler": "wrr",
                 "servers": [{"address": "172.25.0.31", "port": 8080, "forwarding": "nat", "weight": 3}]},
                {"id": "udp:[2001:db8::100]:53",
                 "servers": [{"address": "2001:db8::31", "port": 53, "forwarding": "dr"}]}
            ]
        }))
        .unwrap()
        .validate()
        .unwrap();
        let mut table = MemoryTable::new();
        let plan = crate::plan::plan(
            &table.snapshot().unwrap(),
            &spec,
            &crate::plan::PlanOptions::default(),
        );
        let ops = plan.ops().to_vec();
        table.apply(&ops).unwrap();
        let counters = Counters::from_snapshot(
            &table.snapshot().unwrap(),
            std::time::SystemTime::now(),
            |_| true,
        );
        let ids: Vec<_> = counters
            .services
            .iter()
            .map(|s| s.service.as_str())
            .collect();
        assert_eq!(ids, ["tcp:192.168.31.100:80", "udp:[2001:db8::100]:53"]);
        assert_eq!(counters.services[0].servers[0].server, "172.25.0.31:8080");
        assert_eq!(counters.services[0].servers[0].weight, 3);
        assert_eq!(counters.services[1].servers[0].server, "[2001:db8::31]:53");

        let only_udp = Counters::from_snapshot(
            &table.snapshot().unwrap(),
            std::time::SystemTime::now(),
            |k| k.to_string().starts_with("udp"),
        );
        assert_eq!(only_udp.services.len(), 1);
    }
}
