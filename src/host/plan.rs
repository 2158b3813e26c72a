//! Pure planning: from a spec and a host's role to the host state it needs.
//! Nothing here reads or changes the host.

use std::collections::BTreeSet;
use std::fmt;
use std::net::{IpAddr, SocketAddr};

use serde::{Deserialize, Serialize};

use super::nft::SnatRule;
use crate::model::ipvs_sysctls::recommendation;
use crate::model::{AddressFamily, Forwarding, ServiceKey, Spec, TunnelType, VipInterface};

/// The ipip module's fallback tunnel, which decapsulates IPVS's ipip packets.
pub const IPIP_TUNNEL: &str = "tunl0";
const LOOPBACK: &str = "lo";

/// What the host is to the cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Director,
    Realserver,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Director => "director",
            Role::Realserver => "realserver",
        }
    }
}

/// Which services a real-server host serves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selector {
    /// The services with a real server at one of these addresses (the host's own).
    LocalAddresses(BTreeSet<IpAddr>),
    /// The services with one of these virtual addresses (`--vip`).
    Vips(BTreeSet<IpAddr>),
}

/// An interface the host needs, created when missing, and up.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct PlannedLink {
    pub name: String,
    pub kind: super::rtnl::LinkKind,
}

/// A host address (/32 or /128) on an interface.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct PlannedAddress {
    pub interface: String,
    pub address: IpAddr,
}

impl PlannedAddress {
    pub fn prefix(&self) -> u8 {
        if self.address.is_ipv4() { 32 } else { 128 }
    }
}

impl fmt::Display for PlannedAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}/{} on {}",
            self.address,
            self.prefix(),
            self.interface
        )
    }
}

/// A kernel setting under /proc/sys, its path with '/' (interface names may hold dots).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct PlannedSysctl {
    pub path: String,
    pub value: String,
    /// Why lvsd sets it, for the report.
    pub reason: &'static str,
    /// lvsd's recommended value, which the spec did not give
    /// (`host.ipvs_sysctls.recommended`).
    pub recommended: bool,
}

/// The /proc/sys directory of IPVS's settings (there once `ip_vs` is loaded).
pub const IPVS_SYSCTLS: &str = "net/ipv4/vs";

/// The dotted name of a /proc/sys path, as `sysctl` prints it.
pub fn sysctl_name(path: &str) -> String {
    path.split('/')
        .map(|part| part.replace('.', "/"))
        .collect::<Vec<_>>()
        .join(".")
}

/// The host state a spec asks of one host.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HostPlan {
    pub links: Vec<PlannedLink>,
    pub addresses: Vec<PlannedAddress>,
    pub sysctls: Vec<PlannedSysctl>,
    /// Source NAT of the traffic to fullnat real servers (director only).
    pub snat: Vec<SnatRule>,
    /// Source address of that traffic; masquerade when none (or another family).
    pub snat_address: Option<IpAddr>,
    /// What the spec needs that lvsd does not set up on this host.
    pub notes: Vec<String>,
}

impl HostPlan {
    /// What director `name` needs: its VIPs bound, forwarding for nat and
    /// fullnat, and fullnat's conntrack and source NAT.
    pub fn for_director(spec: &Spec, name: &str) -> HostPlan {
        let settings = spec.host().for_director(name);
        let mut plan = HostPlan {
            snat_address: settings.snat_address,
            ..HostPlan::default()
        };
        // VIPs that VRRP moves are keepalived's to bind, on the master only.
        let carried: Vec<_> = spec
            .ha()
            .map(|ha| ha.bound_addresses(&spec.vips()))
            .unwrap_or_default()
            .into_iter()
            .map(|(_, address, _)| address)
            .collect();
        match &settings.vip_interface {
            VipInterface::Interface(interface) => {
                for svc in spec.services() {
                    if let ServiceKey::Addr { addr, .. } = svc.key
                        && !carried.contains(&addr.ip())
                    {
                        plan.addresses.push(PlannedAddress {
                            interface: interface.clone(),
                            address: addr.ip(),
                        });
                    }
                }
                if !plan.addresses.is_empty() {
                    plan.links.push(PlannedLink {
                        name: interface.clone(),
                        kind: super::rtnl::LinkKind::Dummy,
                    });
                }
            }
            VipInterface::None => {}
        }
        if spec.services().iter().any(|s| s.key.is_fwmark()) {
            plan.notes.push(
                "firewall-mark services: lvsd binds no VIP for them (mark the packets and make their addresses local yourself)"
                    .to_string(),
            );
        }

        let translated = |family: AddressFamily| {
            spec.services()
                .iter()
                .filter(|s| s.key.family() == family)
                .any(|s| {
                    s.servers()
                        .iter()
                        .any(|rs| rs.forwarding.rewrites_destination())
                })
        };
        for family in [AddressFamily::Ipv4, AddressFamily::Ipv6] {
            let has_services = spec.services().iter().any(|s| s.key.family() == family);
            let wanted = match settings.ip_forward {
                Some(true) => has_services || family == AddressFamily::Ipv4,
                Some(false) => false,
                None => translated(family),
            };
            if wanted {
                let path = match family {
                    AddressFamily::Ipv4 => "net/ipv4/ip_forward",
                    AddressFamily::Ipv6 => "net/ipv6/conf/all/forwarding",
                };
                plan.sysctl(
                    path,
                    "1",
                    "replies from nat and fullnat real servers are routed through the director",
                );
            }
        }

        for svc in spec.services() {
            for rs in svc
                .servers()
                .iter()
                .filter(|rs| rs.forwarding == Forwarding::Fullnat)
            {
                plan.snat.push(SnatRule {
                    service: svc.key,
                    server: SocketAddr::new(rs.key.ip(), rs.key.port()),
                });
            }
        }
        if !plan.snat.is_empty() {
            plan.sysctl(
                "net/ipv4/vs/conntrack",
                "1",
                "fullnat: IPVS keeps conntrack entries so the source NAT applies",
            );
        }
        // IPVS's settings exist once it is loaded, which a table with services does.
        if !spec.services().is_empty() {
            for entry in settings.ipvs_sysctls.entries() {
                plan.sysctls.push(PlannedSysctl {
                    path: format!("{IPVS_SYSCTLS}/{}", entry.name),
                    value: entry.value,
                    reason: recommendation(entry.name)
                        .filter(|_| entry.recommended)
                        .unwrap_or("host.ipvs_sysctls"),
                    recommended: entry.recommended,
                });
            }
        }
        plan.finish()
    }

    /// What a real server needs for the services `selector` picks: DR VIPs
    /// on `lo` with ARP kept quiet, TUN VIPs on `tunl0` with reverse-path
    /// filtering off.
    pub fn for_realserver(spec: &Spec, selector: &Selector) -> HostPlan {
        let mut plan = HostPlan::default();
        for svc in spec.services() {
            let ServiceKey::Addr { addr, .. } = svc.key else {
                let local = svc
                    .servers()
                    .iter()
                    .any(|rs| selector.picks_server(rs.key.ip()));
                if local {
                    plan.notes.push(format!("{}: a firewall-mark service has no VIP in the spec: bind its addresses yourself", svc.key));
                }
                continue;
            };
            let vip = addr.ip();
            let servers = svc.servers().iter().filter(|rs| match selector {
                Selector::LocalAddresses(local) => local.contains(&rs.key.ip()),
                Selector::Vips(vips) => vips.contains(&vip),
            });
            for rs in servers {
                match rs.forwarding {
                    Forwarding::Dr => plan.quiet_vip(LOOPBACK, vip),
                    Forwarding::Tun(tunnel) if tunnel.kind == TunnelType::Ipip && vip.is_ipv4() && rs.key.ip().is_ipv4() => {
                        plan.quiet_vip(IPIP_TUNNEL, vip);
                        plan.links.push(PlannedLink { name: IPIP_TUNNEL.to_string(), kind: super::rtnl::LinkKind::IpipFallback });
                        for conf in ["all", IPIP_TUNNEL] {
                            plan.sysctl(
                                &format!("net/ipv4/conf/{conf}/rp_filter"),
                                "0",
                                "tun: decapsulated packets come from clients the tunnel does not route to",
                            );
                        }
                    }
                    Forwarding::Tun(_) => plan.notes.push(format!(
                        "{}: lvsd sets up ipip tunnels of IPv4 services to IPv4 real servers only: set up the {} tunnel for {} yourself",
                        svc.key,
                        match rs.forwarding.tunnel().map(|t| t.kind) {
                            Some(TunnelType::Gue) => "gue",
                            Some(TunnelType::Gre) => "gre",
                            _ => "ipip",
                        },
                        rs.key
                    )),
                    // The director rewrites the destination: nothing to set here.
                    Forwarding::Nat | Forwarding::Fullnat => {}
                }
            }
        }
        // A VIP served both by DR and TUN needs one place only: lo answers both.
        let on_lo: BTreeSet<IpAddr> = plan
            .addresses
            .iter()
            .filter(|a| a.interface == LOOPBACK)
            .map(|a| a.address)
            .collect();
        plan.addresses
            .retain(|a| a.interface == LOOPBACK || !on_lo.contains(&a.address));
        plan.finish()
    }

    /// The VIP on `interface`, and for IPv4 the ARP settings that keep the
    /// host from answering for it (the director owns the VIP on the LAN).
    fn quiet_vip(&mut self, interface: &str, vip: IpAddr) {
        self.addresses.push(PlannedAddress {
            interface: interface.to_string(),
            address: vip,
        });
        if vip.is_ipv4() {
            for conf in ["all", interface] {
                self.sysctl(&format!("net/ipv4/conf/{conf}/arp_ignore"), "1", "the VIP is the director's on the LAN: answer ARP only for addresses of the asking interface");
                self.sysctl(
                    &format!("net/ipv4/conf/{conf}/arp_announce"),
                    "2",
                    "never announce the VIP as an ARP source address",
                );
            }
        }
    }

    fn sysctl(&mut self, path: &str, value: &str, reason: &'static str) {
        self.sysctls.push(PlannedSysctl {
            path: path.to_string(),
            value: value.to_string(),
            reason,
            recommended: false,
        });
    }

    fn finish(mut self) -> Self {
        self.links.sort();
        self.links.dedup();
        self.addresses.sort();
        self.addresses.dedup();
        self.sysctls.sort_by(|a, b| a.path.cmp(&b.path));
        self.sysctls.dedup_by(|a, b| a.path == b.path);
        self.snat.sort();
        self.snat.dedup();
        self.notes.sort();
        self.notes.dedup();
        self
    }
}

impl Selector {
    fn picks_server(&self, address: IpAddr) -> bool {
        match self {
            Selector::LocalAddresses(local) => local.contains(&address),
            Selector::Vips(_) => false,
        }
    }
}

impl fmt::Display for HostPlan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for link in &self.links {
            writeln!(f, "interface {} up", link.name)?;
        }
        for address in &self.addresses {
            writeln!(f, "address {address}")?;
        }
        for sysctl in &self.sysctls {
            let mark = match sysctl.recommended {
                true => " (lvsd's recommended value)",
                false => "",
            };
            writeln!(
                f,
                "sysctl {}={}{mark}",
                sysctl_name(&sysctl.path),
                sysctl.value
            )?;
        }
        for rule in &self.snat {
            writeln!(
                f,
                "source nat {rule} to {}",
                self.snat_target(rule.family())
            )?;
        }
        for note in &self.notes {
            writeln!(f, "# {note}")?;
        }
        Ok(())
    }
}

impl HostPlan {
    /// What `family`'s fullnat traffic leaves with as its source.
    pub fn snat_target(&self, family: AddressFamily) -> String {
        match self.snat_address {
            Some(a) if AddressFamily::of(a) == family => a.to_string(),
            _ => "the outgoing interface's address (masquerade)".to_string(),
        }
    }
}
