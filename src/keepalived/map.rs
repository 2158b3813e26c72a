//! keepalived's statements mapped into an lvsd spec, and what could not be.
//!
//! Every statement is either carried into the spec, or reported in the
//! left-out list with its file, line and the reason; none is passed over.
//! Values lvsd refuses (an unknown scheduler, a weight out of range) are
//! errors naming the line, as keepalived itself would refuse them.

use std::collections::BTreeMap;
use std::net::IpAddr;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::syntax::{Node, Pos, SyntaxError};
use crate::model::{
    AddressFamily, CheckType, ForwardingMethod, HealthCheck, HealthCheckDoc, OnFailure,
    PersistenceDoc, PersistenceEngine, Probe, Protocol, QuorumDoc, RealServerDoc, SchedFlags,
    ServiceKey, SorryServerDoc, Spec, SpecDoc, Timeouts, Tunnel, TunnelChecksum, TunnelType,
    ValidationError, VirtualServiceDoc,
};

/// A statement of the file that the spec does not carry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct LeftOut {
    pub file: String,
    pub line: usize,
    /// The keyword left out, with its arguments.
    pub field: String,
    /// The blocks it was in: `virtual_server 10.0.0.1 80 > real_server 10.1.0.1 80`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub within: String,
    pub why: String,
}

impl std::fmt::Display for LeftOut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}: {}", self.file, self.line, self.field)?;
        if !self.within.is_empty() {
            write!(f, " (in {})", self.within)?;
        }
        write!(f, ": {}", self.why)
    }
}

/// A keepalived.conf read into a spec.
#[derive(Debug, Clone, PartialEq)]
pub struct Imported {
    pub spec: Spec,
    pub left_out: Vec<LeftOut>,
}

const VRRP_WHY: &str =
    "VRRP is not part of lvsd's spec yet; keep running keepalived for VRRP (vrrp-only) until it is";

/// Maps parsed statements into a spec.
pub fn map(nodes: &[Node]) -> Result<Imported, SyntaxError> {
    let mut mapper = Mapper::default();
    for node in nodes {
        if node.name() == "virtual_server_group" {
            let name = node
                .args
                .first()
                .ok_or_else(|| SyntaxError::new(node.pos(), "virtual_server_group needs a name"))?;
            mapper.groups.insert(name.text.clone(), node.clone());
        }
    }
    let mut services: Vec<(VirtualServiceDoc, ServicePlaces)> = Vec::new();
    let mut timeouts = Timeouts::default();
    let mut used_groups = std::collections::BTreeSet::new();
    for node in nodes {
        match node.name() {
            "virtual_server" => {
                if let [kind, name] = node.args.as_slice()
                    && kind.text == "group"
                {
                    used_groups.insert(name.text.clone());
                }
                services.extend(mapper.virtual_server(node)?);
            }
            "virtual_server_group" => {}
            "global_defs" => mapper.global_defs(node, &mut timeouts)?,
            "vrrp_instance" | "vrrp_sync_group" | "vrrp_script" | "vrrp_track_process" | "vrrp_track_file" => {
                mapper.leave(node, "", VRRP_WHY)
            }
            "SSL" => mapper.leave(node, "", "lvsd's https checks present no client certificate and verify the server only with verify_tls"),
            "static_ipaddress" | "static_routes" | "static_rules" => mapper.leave(
                node,
                "",
                "lvsd's host settings (`lvsd host`) put the VIPs on a director; other addresses and routes are the host's own business",
            ),
            "track_file" => mapper.leave(node, "", "lvsd has no file-tracking check"),
            "bfd_instance" => mapper.leave(node, "", "lvsd has no BFD check"),
            "linkbeat_interfaces" | "garbage_collection" | "net_namespace" | "instance" => {
                mapper.leave(node, "", "a keepalived process setting, not part of the IPVS table")
            }
            _ => mapper.unknown(node, ""),
        }
    }
    for (name, group) in &mapper.groups.clone() {
        if !used_groups.contains(name) {
            mapper.leave(group, "", "no virtual_server uses this group");
        }
    }

    // Two blocks naming one service: keepalived refuses it too.
    let mut seen: BTreeMap<ServiceKey, Pos> = BTreeMap::new();
    for (doc, places) in &services {
        let key = doc
            .key()
            .map_err(|e| SyntaxError::new(&places.service, e.to_string()))?;
        if let Some(first) = seen.insert(key, places.service.clone()) {
            return Err(SyntaxError::new(
                &places.service,
                format!("service {key} is defined twice (first at {first})"),
            ));
        }
    }
    let spec = SpecDoc {
        services: services.iter().map(|(doc, _)| doc.clone()).collect(),
        timeouts,
        ..SpecDoc::default()
    };
    let spec = spec.validate().map_err(|err| {
        let at = services
            .first()
            .map(|(_, p)| p.service.clone())
            .unwrap_or_else(|| {
                nodes.first().map(|n| n.pos().clone()).unwrap_or(Pos {
                    file: "".into(),
                    line: 0,
                    column: 0,
                })
            });
        SyntaxError::new(&at, err.to_string())
    })?;
    let spec =
        canonical_checks(&spec).expect("a valid spec's own checks, in canonical form, stay valid");
    let mut left_out = mapper.left_out;
    left_out.sort_by(|a, b| (a.file.as_str(), a.line).cmp(&(b.file.as_str(), b.line)));
    Ok(Imported { spec, left_out })
}

/// Where a service's parts were written, to blame the right line.
#[derive(Debug, Clone)]
struct ServicePlaces {
    service: Pos,
    servers: Vec<Pos>,
    sorry: Option<Pos>,
    persistence: Option<Pos>,
}

impl ServicePlaces {
    fn blame(&self, err: ValidationError) -> SyntaxError {
        let pos = if let Some(rest) = err.field.strip_prefix("servers[") {
            rest.split_once(']')
                .and_then(|(i, _)| i.parse::<usize>().ok())
                .and_then(|i| self.servers.get(i))
                .unwrap_or(&self.service)
        } else if err.field.starts_with("sorry_server") {
            self.sorry.as_ref().unwrap_or(&self.service)
        } else if err.field.starts_with("persistence") {
            self.persistence.as_ref().unwrap_or(&self.service)
        } else {
            &self.service
        };
        SyntaxError::new(pos, err.to_string())
    }
}

#[derive(Default)]
struct Mapper {
    groups: BTreeMap<String, Node>,
    left_out: Vec<LeftOut>,
}

/// Checker settings that a virtual server passes to its real servers and a
/// real server to its checkers.
#[derive(Debug, Clone, Default)]
struct Defaults {
    delay_loop_ms: Option<u32>,
    connect_timeout_ms: Option<u32>,
    retry: Option<u32>,
    delay_before_retry: Option<(u32, Node)>,
    inhibit: Option<bool>,
    virtualhost: Option<String>,
    /// The port a server's checks probe when its own port was moved to the virtual port.
    check_port: Option<u16>,
}

/// What a real_server block (or a virtual server) may say about forwarding.
#[derive(Debug, Clone, Copy)]
struct Method {
    method: ForwardingMethod,
    tunnel: Option<Tunnel>,
}

impl Mapper {
    fn leave(&mut self, node: &Node, within: &str, why: impl Into<String>) {
        self.left_out.push(LeftOut {
            file: node.pos().file.to_string(),
            line: node.pos().line,
            field: node.head(),
            within: within.to_string(),
            why: why.into(),
        });
    }

    fn unknown(&mut self, node: &Node, within: &str) {
        self.leave(node, within, "not a keepalived keyword lvsd knows here");
    }

    fn global_defs(&mut self, node: &Node, timeouts: &mut Timeouts) -> Result<(), SyntaxError> {
        for child in node.children() {
            match child.name() {
                "lvs_timeouts" => {
                    let mut words = child.args.iter();
                    while let Some(word) = words.next() {
                        let slot = match word.text.as_str() {
                            "tcp" => &mut timeouts.tcp,
                            "tcpfin" => &mut timeouts.tcpfin,
                            "udp" => &mut timeouts.udp,
                            other => {
                                return Err(SyntaxError::new(&word.pos, format!("lvs_timeouts: `{other}` is not tcp, tcpfin or udp")));
                            }
                        };
                        let value = words.next().ok_or_else(|| SyntaxError::new(&word.pos, format!("lvs_timeouts: {} needs a number of seconds", word.text)))?;
                        *slot = Some(number(value, "lvs_timeouts")?);
                    }
                }
                "lvs_sync_daemon" => self.leave(
                    child,
                    "global_defs",
                    "keepalived runs the sync daemon as master or backup following a VRRP instance; lvsd's spec names the role: add it with `lvsd daemon`",
                ),
                "lvs_flush" | "lvs_flush_onstop" => self.leave(child, "global_defs", "lvsd owns the whole IPVS table of a director and removes what its revision lacks"),
                _ => self.leave(child, "global_defs", "a keepalived process setting, not part of the IPVS table"),
            }
        }
        Ok(())
    }

    /// One virtual_server block: one service, or one per entry of its group.
    fn virtual_server(
        &mut self,
        node: &Node,
    ) -> Result<Vec<(VirtualServiceDoc, ServicePlaces)>, SyntaxError> {
        let within = node.head();
        let block = node.children();
        let mut protocol = Protocol::Tcp;
        let mut family: Option<AddressFamily> = None;
        for child in block {
            match child.name() {
                "protocol" => {
                    protocol = one_arg(child)?
                        .text
                        .parse()
                        .map_err(|e: ValidationError| SyntaxError::new(child.pos(), e.message))?
                }
                "ip_family" => {
                    family = Some(match one_arg(child)?.text.as_str() {
                        "inet" => AddressFamily::Ipv4,
                        "inet6" => AddressFamily::Ipv6,
                        other => {
                            return Err(SyntaxError::new(
                                child.pos(),
                                format!("ip_family: `{other}` is not inet or inet6"),
                            ));
                        }
                    })
                }
                _ => {}
            }
        }

        // The service settings, the same for every key of a group.
        let mut doc = VirtualServiceDoc::default();
        let mut method = Method {
            method: ForwardingMethod::Nat,
            tunnel: None,
        };
        let mut defaults = Defaults::default();
        let mut flags: Vec<(&'static str, &Node)> = Vec::new();
        let mut sorry: Option<(IpAddr, Option<u16>, &Node)> = None;
        let mut sorry_method: Option<Method> = None;
        let mut quorum: Option<(u32, &Node)> = None;
        let mut granularity: Option<&Node> = None;
        let mut ops: Option<&Node> = None;
        let mut persistence_pos = None;
        let mut servers = Vec::new();
        for child in block {
            match child.name() {
                "lb_algo" | "lvs_sched" => {
                    doc.scheduler = Some(one_arg(child)?.text.parse().map_err(|e: ValidationError| SyntaxError::new(child.pos(), e.message))?)
                }
                "lb_kind" | "lvs_method" => method = forwarding(child)?,
                "sorry_server_lvs_method" => sorry_method = Some(forwarding(child)?),
                "persistence_timeout" => {
                    let timeout = match child.args.first() {
                        Some(word) => number(word, "persistence_timeout")?,
                        None => crate::model::DEFAULT_PERSISTENCE_SECS,
                    };
                    doc.persistence = Some(PersistenceDoc { timeout, netmask: None });
                    persistence_pos = Some(child.pos().clone());
                }
                "persistence_granularity" => granularity = Some(child),
                "persistence_engine" => match one_arg(child)?.text.as_str() {
                    "sip" => doc.persistence_engine = Some(PersistenceEngine::Sip),
                    other => return Err(SyntaxError::new(child.pos(), format!("persistence_engine: `{other}` is not sip, the only engine IPVS has"))),
                },
                "protocol" | "ip_family" => {}
                "ops" => ops = Some(child),
                "sh-port" | "mh-port" | "flag-2" => flags.push(("port", child)),
                "sh-fallback" | "mh-fallback" | "flag-1" => flags.push(("fallback", child)),
                "flag-3" => self.leave(child, &within, "no scheduler of mainline Linux reads flag-3"),
                "hashed" => self.leave(child, &within, "the hashed flag is old ipvsadm's sh-port spelling on no current kernel"),
                "delay_loop" | "connect_timeout" | "retry" | "nb_get_retry" | "delay_before_retry" | "inhibit_on_failure" | "virtualhost" => {
                    defaults.set(child)?
                }
                "warmup" => self.leave(child, &within, "lvsd starts checks without a random delay"),
                "alpha" => self.leave(child, &within, "lvsd starts real servers healthy and takes them out after `fall` failed checks"),
                "omega" => self.leave(child, &within, "lvsd runs no scripts when it stops"),
                "quorum" => quorum = Some((number(one_arg(child)?, "quorum")?, child)),
                "hysteresis" => match number(one_arg(child)?, "hysteresis")? {
                    0 => {}
                    _ => self.leave(child, &within, "lvsd's quorum has no hysteresis"),
                },
                "quorum_up" | "quorum_down" => self.leave(child, &within, "lvsd runs no scripts on quorum changes; it reports the service degraded"),
                "sorry_server" => {
                    let (address, port) = address_port(child)?;
                    sorry = Some((address, port, child));
                }
                "sorry_server_inhibit" => self.leave(child, &within, "lvsd removes the sorry server while real servers are healthy"),
                "ha_suspend" => self.leave(child, &within, "lvsd checks real servers whether or not the VIP is up"),
                "smtp_alert" | "snmp_name" => self.leave(child, &within, "lvsd sends no mail and serves no SNMP; watch /metrics or the API"),
                "real_server" => servers.push(child),
                _ => self.unknown(child, &within),
            }
        }
        if let Some(child) = granularity {
            match &mut doc.persistence {
                Some(persistence) => persistence.netmask = Some(netmask(child)?),
                None => self.leave(
                    child,
                    &within,
                    "no persistence_timeout: the service is not persistent",
                ),
            }
        }
        doc.protocol = Some(protocol);

        // The keys this block defines.
        let keys = self.service_keys(node, protocol, family, &servers, method)?;
        let scheduler = doc.scheduler.unwrap_or_default();
        for (flag, child) in flags {
            if !scheduler.takes_flags() {
                self.leave(
                    child,
                    &within,
                    format!("the {scheduler} scheduler reads no flags"),
                );
                continue;
            }
            let name = format!("{scheduler}-{flag}");
            if !doc.sched_flags.contains(&name) {
                doc.sched_flags.push(name);
            }
        }
        doc.sched_flags = SchedFlags::parse(&doc.sched_flags, scheduler)
            .expect("flags named after their scheduler")
            .names(scheduler);

        let mut result = Vec::new();
        let mut ops_refused = false;
        for key in keys {
            let mut doc = doc.clone();
            let service_port = key.port();
            if let Some(child) = ops {
                // IPVS takes one-packet scheduling for UDP and firewall marks.
                match key {
                    ServiceKey::Addr {
                        protocol: Protocol::Tcp | Protocol::Sctp,
                        ..
                    } => {
                        if !ops_refused {
                            self.leave(child, &within, "one-packet scheduling is for UDP services");
                            ops_refused = true;
                        }
                    }
                    _ => doc.one_packet = true,
                }
            }
            match key {
                ServiceKey::Addr { protocol, addr } => {
                    doc.protocol = Some(protocol);
                    doc.address = Some(addr.ip());
                    doc.port = Some(addr.port());
                }
                ServiceKey::Fwmark { mark, family } => {
                    doc.protocol = None;
                    doc.fwmark = Some(mark);
                    doc.family = Some(family);
                }
            }
            // Within one group, the checks and left-out lines are the same for every key: report them once.
            let report = result.is_empty();
            let mut places = ServicePlaces {
                service: node.pos().clone(),
                servers: Vec::new(),
                sorry: None,
                persistence: persistence_pos.clone(),
            };
            let mut checks = Vec::new();
            for server in &servers {
                let (rs, check) =
                    self.real_server(server, &key, method, &defaults, &within, report)?;
                places.servers.push(server.pos().clone());
                doc.servers.push(rs);
                checks.push(check);
            }
            if let Some((address, port, child)) = sorry {
                let sorry_method = sorry_method.unwrap_or(method);
                if report && sorry_method.tunnel.is_some_and(|t| t != Tunnel::default()) {
                    self.leave(
                        child,
                        &within,
                        "lvsd's sorry server tunnels with plain ipip",
                    );
                }
                doc.sorry_server = Some(SorryServerDoc {
                    address,
                    port: Some(port.unwrap_or(service_port)),
                    forwarding: sorry_method.method,
                });
                places.sorry = Some(child.pos().clone());
            }
            if let Some((n, child)) = quorum {
                if doc.servers.iter().all(|s| s.weight == 1) {
                    doc.quorum = Some(QuorumDoc::Servers(n));
                    if report && n > 1 && doc.sorry_server.is_some() {
                        self.leave(child, &within, "keepalived hands the service to the sorry server when the quorum is lost; lvsd does when no real server is healthy, and reports the service degraded below the quorum");
                    }
                } else if report {
                    self.leave(child, &within, "keepalived's quorum is a sum of weights, lvsd's a number of healthy servers: they agree only when every weight is 1");
                }
            }
            place_checks(&mut doc, checks);
            // Validate here to blame the line at fault.
            let service = doc.validate().map_err(|e| places.blame(e))?;
            let mut canonical = service.to_doc();
            canonical.id = None;
            result.push((canonical, places));
        }
        Ok(result)
    }

    fn service_keys(
        &mut self,
        node: &Node,
        protocol: Protocol,
        family: Option<AddressFamily>,
        servers: &[&Node],
        method: Method,
    ) -> Result<Vec<ServiceKey>, SyntaxError> {
        // A fwmark's family: said, or that of its real servers that are not tunnelled.
        let fwmark_family = |said: Option<AddressFamily>| -> Result<AddressFamily, SyntaxError> {
            if let Some(family) = said.or(family) {
                return Ok(family);
            }
            for server in servers {
                let method = match server
                    .children()
                    .iter()
                    .find(|c| matches!(c.name(), "lvs_method" | "lb_kind"))
                {
                    Some(child) => forwarding(child)?,
                    None => method,
                };
                if method.method != ForwardingMethod::Tun {
                    return Ok(AddressFamily::of(address_port(server)?.0));
                }
            }
            Ok(AddressFamily::Ipv4)
        };
        let key = |address: IpAddr, port: Option<u16>| ServiceKey::Addr {
            protocol,
            addr: (address, port.unwrap_or(0)).into(),
        };
        match node.args.as_slice() {
            [kind, mark] if kind.text == "fwmark" => Ok(vec![ServiceKey::Fwmark {
                mark: fwmark(mark)?,
                family: fwmark_family(None)?,
            }]),
            [kind, name] if kind.text == "group" => {
                let group = self.groups.get(&name.text).cloned().ok_or_else(|| {
                    SyntaxError::new(
                        &name.pos,
                        format!("no virtual_server_group is named {}", name.text),
                    )
                })?;
                let mut keys = Vec::new();
                for entry in group.children() {
                    if entry.name() == "fwmark" {
                        let said = match entry.args.get(1).map(|w| w.text.as_str()) {
                            None => None,
                            Some("inet") => Some(AddressFamily::Ipv4),
                            Some("inet6") => Some(AddressFamily::Ipv6),
                            Some(other) => {
                                return Err(SyntaxError::new(
                                    &entry.args[1].pos,
                                    format!("`{other}` is not inet or inet6"),
                                ));
                            }
                        };
                        let mark = entry
                            .args
                            .first()
                            .ok_or_else(|| SyntaxError::new(entry.pos(), "fwmark needs a mark"))?;
                        keys.push(ServiceKey::Fwmark {
                            mark: fwmark(mark)?,
                            family: fwmark_family(said)?,
                        });
                        continue;
                    }
                    let port = match entry.args.as_slice() {
                        [] => None,
                        [port] => Some(port_number(port)?),
                        [_, extra, ..] => {
                            return Err(SyntaxError::new(
                                &extra.pos,
                                "a group entry is ADDRESS[-RANGE] [PORT]",
                            ));
                        }
                    };
                    for address in address_range(&entry.keyword)? {
                        keys.push(key(address, port));
                    }
                }
                Ok(keys)
            }
            [address] => Ok(vec![key(ip(address)?, None)]),
            [address, port] => Ok(vec![key(ip(address)?, Some(port_number(port)?))]),
            _ => Err(SyntaxError::new(
                node.pos(),
                "virtual_server takes ADDRESS [PORT], fwmark MARK or group NAME",
            )),
        }
    }

    /// One real_server block: the server and its check, if it has one lvsd can run.
    fn real_server(
        &mut self,
        node: &Node,
        service: &ServiceKey,
        service_method: Method,
        service_defaults: &Defaults,
        service_within: &str,
        report: bool,
    ) -> Result<(RealServerDoc, Option<HealthCheckDoc>), SyntaxError> {
        let within = format!("{service_within} > {}", node.head());
        let (address, port) = address_port(node)?;
        let mut method = service_method;
        let mut defaults = service_defaults.clone();
        let mut doc = RealServerDoc {
            id: None,
            address: Some(address),
            port: Some(port.unwrap_or(service.port())),
            forwarding: ForwardingMethod::Nat,
            tunnel: None,
            weight: 1,
            upper_threshold: 0,
            lower_threshold: 0,
            health_check: None,
        };
        let leave = |mapper: &mut Self, child: &Node, why: &str| {
            if report {
                mapper.leave(child, &within, why)
            }
        };
        let mut checkers = Vec::new();
        for child in node.children() {
            match child.name() {
                "weight" => doc.weight = number(one_arg(child)?, "weight")?,
                "lb_kind" | "lvs_method" => method = forwarding(child)?,
                "uthreshold" => doc.upper_threshold = number(one_arg(child)?, "uthreshold")?,
                "lthreshold" => doc.lower_threshold = number(one_arg(child)?, "lthreshold")?,
                "delay_loop" | "connect_timeout" | "retry" | "nb_get_retry"
                | "delay_before_retry" | "inhibit_on_failure" | "virtualhost" => {
                    defaults.set(child)?
                }
                "notify_up" | "notify_down" => leave(
                    self,
                    child,
                    "lvsd runs no scripts on health changes; watch the API's health view or /metrics",
                ),
                "smtp_alert" | "snmp_name" => {
                    leave(self, child, "lvsd sends no mail and serves no SNMP")
                }
                "alpha" => leave(
                    self,
                    child,
                    "lvsd starts real servers healthy and takes them out after `fall` failed checks",
                ),
                "warmup" => leave(self, child, "lvsd starts checks without a random delay"),
                "HTTP_GET" | "SSL_GET" | "TCP_CHECK" | "DNS_CHECK" | "MISC_CHECK"
                | "SMTP_CHECK" | "UDP_CHECK" => checkers.push(child),
                "PING_CHECK" => leave(
                    self,
                    child,
                    "lvsd has no ICMP check; a tcp check of the service port is the nearest",
                ),
                "FILE_CHECK" => leave(self, child, "lvsd has no file-tracking check"),
                "BFD_CHECK" => leave(self, child, "lvsd has no BFD check"),
                _ => {
                    if report {
                        self.unknown(child, &within)
                    }
                }
            }
        }
        doc.forwarding = method.method;
        doc.tunnel = method.tunnel;
        // Direct routing and tunnels leave the port alone: the kernel ignores
        // a real server port that differs, lvsd refuses it.
        if !service.is_fwmark()
            && matches!(method.method, ForwardingMethod::Dr | ForwardingMethod::Tun)
            && doc.port != Some(service.port())
        {
            if report {
                self.leave(node, service_within, format!("{} forwarding keeps the virtual port {}: the server is imported on that port (its checks keep port {})", forwarding_name(method.method), service.port(), doc.port.unwrap_or_default()));
            }
            let written = doc.port;
            doc.port = Some(service.port());
            defaults.check_port = written;
        }
        let mut check = None;
        for checker in checkers {
            if check.is_some() {
                leave(
                    self,
                    checker,
                    "lvsd runs one check per real server; the first one is kept",
                );
                continue;
            }
            check = self.checker(checker, &defaults, &within, report)?;
        }
        if check.is_none()
            && let Some(inhibit) = node
                .children()
                .iter()
                .find(|c| c.name() == "inhibit_on_failure")
        {
            leave(
                self,
                inhibit,
                "the server has no check lvsd runs, so it never fails",
            );
        }
        // A check on a moved port keeps probing the port written.
        if let (Some(check), Some(port)) = (&mut check, defaults.check_port)
            && check.port.is_none()
            && check.kind != Some(CheckType::Exec)
        {
            check.port = Some(port);
        }
        Ok((doc, check))
    }

    fn checker(
        &mut self,
        node: &Node,
        rs: &Defaults,
        within: &str,
        report: bool,
    ) -> Result<Option<HealthCheckDoc>, SyntaxError> {
        let within = format!("{within} > {}", node.name());
        let leave = |mapper: &mut Self, child: &Node, why: &str| {
            if report {
                mapper.leave(child, &within, why)
            }
        };
        let mut defaults = rs.clone();
        let kind = match node.name() {
            "HTTP_GET" => CheckType::Http,
            "SSL_GET" => CheckType::Https,
            "DNS_CHECK" => CheckType::Dns,
            "MISC_CHECK" => CheckType::Exec,
            "UDP_CHECK" => CheckType::Udp,
            "SMTP_CHECK" => {
                leave(
                    self,
                    node,
                    "lvsd has no SMTP check: imported as a tcp check of the same port (no banner, no HELO)",
                );
                CheckType::Tcp
            }
            _ => CheckType::Tcp,
        };
        let mut doc = HealthCheckDoc {
            kind: Some(kind),
            ..HealthCheckDoc::default()
        };
        let mut misc_timeout = None;
        let mut urls = Vec::new();
        let mut require_reply = false;
        for child in node.children() {
            match (kind, child.name()) {
                (
                    _,
                    "delay_loop" | "connect_timeout" | "retry" | "nb_get_retry"
                    | "delay_before_retry" | "virtualhost",
                ) => defaults.set(child)?,
                (_, "connect_port") => doc.port = Some(port_number(one_arg(child)?)?),
                (_, "connect_ip") => {
                    leave(self, child, "lvsd checks the real server's own address")
                }
                (_, "bindto" | "bind_port" | "bind_if") => leave(
                    self,
                    child,
                    "lvsd's checks leave from the director's own address and a free port",
                ),
                (_, "fwmark") => leave(self, child, "lvsd marks no check packets"),
                (_, "warmup") => leave(self, child, "lvsd starts checks without a random delay"),
                (_, "alpha") => leave(self, child, "lvsd starts real servers healthy"),
                (_, "log_all_failures") => leave(
                    self,
                    child,
                    "lvsd keeps the last failure of every server in its health view",
                ),
                (CheckType::Http | CheckType::Https, "url") => urls.push(child),
                (CheckType::Http | CheckType::Https, "http_protocol") => leave(
                    self,
                    child,
                    "lvsd's http check speaks HTTP/1.1 and closes the connection",
                ),
                (CheckType::Http | CheckType::Https, "fast_recovery") => {
                    leave(self, child, "lvsd checks one url")
                }
                (CheckType::Https, "enable_sni") => leave(
                    self,
                    child,
                    "lvsd sends the server name of `host`, when given",
                ),
                (CheckType::Dns, "type") => {
                    doc.query_type = Some(one_arg(child)?.text.to_ascii_uppercase())
                }
                (CheckType::Dns, "name") => doc.query_name = Some(one_arg(child)?.text.clone()),
                (CheckType::Exec, "misc_path") => {
                    let words: Vec<String> = child.args.iter().map(|w| w.text.clone()).collect();
                    doc.command = Some(if words.len() == 1 {
                        split_command(&words[0])
                    } else {
                        words
                    })
                }
                (CheckType::Exec, "misc_timeout") => {
                    misc_timeout = Some(seconds_ms(one_arg(child)?)?)
                }
                (CheckType::Exec, "misc_dynamic") => leave(
                    self,
                    child,
                    "lvsd does not set weights from a check's exit status",
                ),
                (CheckType::Exec, "user") => {
                    leave(self, child, "lvsd runs exec checks as its own user")
                }
                (CheckType::Tcp, "helo_name") if node.name() == "SMTP_CHECK" => {
                    leave(self, child, "lvsd has no SMTP check")
                }
                (CheckType::Udp, "payload") => match hex_text(child)? {
                    Some(text) => doc.send = Some(text),
                    None => leave(
                        self,
                        child,
                        "lvsd's udp check sends text; this payload is not UTF-8",
                    ),
                },
                (CheckType::Udp, "require_reply") => {
                    require_reply = true;
                    if !child.args.is_empty() {
                        match hex_text(child)? {
                            Some(text) => doc.expect = Some(text),
                            None => leave(
                                self,
                                child,
                                "lvsd's udp check looks for text in the reply; this one is not UTF-8",
                            ),
                        }
                    }
                }
                (CheckType::Udp, "min_reply_length" | "max_reply_length") => leave(
                    self,
                    child,
                    "lvsd's udp check does not bound the reply's length",
                ),
                _ => {
                    if report {
                        self.unknown(child, &within)
                    }
                }
            }
        }
        if kind == CheckType::Udp && !require_reply {
            leave(
                self,
                node,
                "lvsd's udp check needs a reply, as keepalived's require_reply; keepalived without it only fails on ICMP errors",
            );
        }
        if kind == CheckType::Dns
            && doc
                .query_name
                .as_deref()
                .is_none_or(|n| n.trim_end_matches('.').is_empty())
        {
            leave(
                self,
                node,
                "lvsd's dns check needs a name to ask for (keepalived asks for the root zone by default): the server is imported unchecked",
            );
            return Ok(None);
        }
        if kind == CheckType::Dns && doc.query_type.is_none() {
            doc.query_type = Some("SOA".to_string());
        }
        if kind == CheckType::Exec && doc.command.is_none() {
            return Err(SyntaxError::new(node.pos(), "MISC_CHECK needs misc_path"));
        }
        if matches!(kind, CheckType::Http | CheckType::Https) {
            doc.path = Some("/".to_string());
            doc.expect_status = Some((200..=299).collect());
            for (i, url) in urls.iter().enumerate() {
                if i > 0 {
                    leave(
                        self,
                        url,
                        "lvsd's http check asks for one path; the first url is kept",
                    );
                    continue;
                }
                let url_within = format!("{within} > url");
                for child in url.children() {
                    match child.name() {
                        "path" => doc.path = Some(one_arg(child)?.text.clone()),
                        "status_code" => doc.expect_status = Some(status_codes(child)?),
                        "virtualhost" => defaults.virtualhost = Some(one_arg(child)?.text.clone()),
                        "regex" => {
                            let text = child.args.iter().map(|w| w.text.as_str()).collect::<Vec<_>>().join(" ");
                            match literal_of_regex(&text) {
                                Some(literal) => doc.expect = Some(literal),
                                None if report => self.leave(child, &url_within, "lvsd looks for a plain substring of the body, not a regular expression"),
                                None => {}
                            }
                        }
                        "digest" if report => self.leave(child, &url_within, "lvsd compares no digest of the body; use regex (expect) for a string it must contain"),
                        "regex_no_match" | "regex_options" | "regex_stack" | "regex_min_offset" | "regex_max_offset" if report => {
                            self.leave(child, &url_within, "lvsd looks for a plain substring of the body")
                        }
                        _ if report => self.unknown(child, &url_within),
                        _ => {}
                    }
                }
            }
            doc.host = defaults.virtualhost.clone();
        }

        let interval = defaults.delay_loop_ms.unwrap_or(60_000);
        let interval = match interval {
            100..=3_600_000 => interval,
            _ => {
                let clamped = interval.clamp(100, 3_600_000);
                leave(
                    self,
                    node,
                    &format!(
                        "lvsd checks every 0.1 s to 1 h: delay_loop imported as {} ms",
                        clamped
                    ),
                );
                clamped
            }
        };
        let timeout = match kind {
            CheckType::Exec => misc_timeout.unwrap_or(interval),
            _ => defaults.connect_timeout_ms.unwrap_or(5_000),
        };
        let timeout = if timeout > interval {
            leave(
                self,
                node,
                &format!(
                    "lvsd bounds a check by its interval: the timeout of {timeout} ms is imported as {interval} ms"
                ),
            );
            interval
        } else {
            timeout.max(1)
        };
        let retry = defaults.retry.unwrap_or(match kind {
            CheckType::Dns => 3,
            CheckType::Exec => 0,
            _ => 1,
        });
        let fall = match retry + 1 {
            fall @ 1..=100 => fall,
            _ => {
                leave(
                    self,
                    node,
                    "lvsd takes a server out after 1 to 100 failed checks: retry imported as 99",
                );
                100
            }
        };
        if let Some((delay, child)) = &defaults.delay_before_retry
            && *delay != interval
        {
            leave(
                self,
                child,
                "lvsd retries a failed check at its interval (delay_loop), not sooner",
            );
        }
        doc.interval_ms = Some(interval);
        doc.timeout_ms = Some(timeout);
        doc.fall = Some(fall);
        // keepalived brings a server back after one good check.
        doc.rise = Some(1);
        doc.on_failure = Some(match defaults.inhibit.unwrap_or(false) {
            true => OnFailure::Quiesce,
            false => OnFailure::Remove,
        });
        Ok(Some(doc))
    }
}

impl Defaults {
    fn set(&mut self, node: &Node) -> Result<(), SyntaxError> {
        match node.name() {
            "delay_loop" => self.delay_loop_ms = Some(seconds_ms(one_arg(node)?)?),
            "connect_timeout" => self.connect_timeout_ms = Some(seconds_ms(one_arg(node)?)?),
            "retry" | "nb_get_retry" => self.retry = Some(number(one_arg(node)?, node.name())?),
            "delay_before_retry" => {
                self.delay_before_retry = Some((seconds_ms(one_arg(node)?)?, node.clone()))
            }
            "inhibit_on_failure" => self.inhibit = Some(boolean(node)?),
            "virtualhost" => self.virtualhost = Some(one_arg(node)?.text.clone()),
            _ => unreachable!("only checker defaults are set"),
        }
        Ok(())
    }
}

/// The check docs of a service's servers: on the service when all agree,
/// otherwise on each server. Canonical, so that equal checks give equal specs.
fn place_checks(doc: &mut VirtualServiceDoc, checks: Vec<Option<HealthCheckDoc>>) {
    let all_same = checks
        .first()
        .is_some_and(|first| first.is_some() && checks.iter().all(|c| c == first));
    if all_same {
        doc.health_check = checks.into_iter().next().flatten();
        return;
    }
    for (server, check) in doc.servers.iter_mut().zip(checks) {
        server.health_check = check;
    }
}

/// The canonical document of a validated check on a server of port
/// `server_port`: every field explicit, none that says the default twice.
pub fn check_doc(check: &HealthCheck, server_port: u16) -> HealthCheckDoc {
    let mut doc = HealthCheckDoc {
        kind: Some(check.probe.kind()),
        port: (check.port != server_port).then_some(check.port),
        interval_ms: Some(check.interval.as_millis() as u32),
        timeout_ms: Some(check.timeout.as_millis() as u32),
        rise: Some(check.rise),
        fall: Some(check.fall),
        on_failure: Some(check.on_failure),
        ..HealthCheckDoc::default()
    };
    match &check.probe {
        Probe::Tcp => {}
        Probe::Http(http) => {
            doc.method = (http.method != "GET").then(|| http.method.clone());
            doc.path = Some(http.path.clone());
            let mut status = http.expect_status.clone();
            status.sort_unstable();
            status.dedup();
            doc.expect_status =
                (!status.is_empty() && status != (200..=399).collect::<Vec<_>>()).then_some(status);
            doc.expect = http.expect.clone();
            doc.host = http.host.clone();
            doc.verify_tls = http.verify_tls.then_some(true);
        }
        Probe::Udp { send, expect } => {
            doc.send = (!send.is_empty()).then(|| String::from_utf8_lossy(send).to_string());
            doc.expect = expect.clone();
        }
        Probe::Dns {
            name,
            query_type,
            rcode,
        } => {
            doc.query_name = Some(name.clone());
            doc.query_type = Some(super::query_type_name(*query_type).to_string());
            doc.expect_rcode = (*rcode != 0).then(|| super::rcode_name(*rcode).to_string());
        }
        Probe::Exec { program, args } => {
            doc.command = Some(
                std::iter::once(program.clone())
                    .chain(args.iter().cloned())
                    .collect(),
            );
        }
    }
    doc
}

/// A spec's health checks in canonical form (see [`check_doc`]).
pub fn canonical_checks(spec: &Spec) -> Result<Spec, ValidationError> {
    let mut doc = spec.to_doc();
    for (service, svc_doc) in spec.services().iter().zip(doc.services.iter_mut()) {
        let checks = service
            .servers()
            .iter()
            .map(|rs| {
                service
                    .health()
                    .checks
                    .get(&rs.key)
                    .map(|c| check_doc(c, rs.key.port()))
            })
            .collect();
        svc_doc.health_check = None;
        for server in &mut svc_doc.servers {
            server.health_check = None;
        }
        place_checks(svc_doc, checks);
    }
    doc.validate()
}

fn forwarding_name(method: ForwardingMethod) -> &'static str {
    match method {
        ForwardingMethod::Nat => "NAT",
        ForwardingMethod::Dr => "DR",
        ForwardingMethod::Tun => "TUN",
        ForwardingMethod::Fullnat => "FULLNAT",
    }
}

fn one_arg(node: &Node) -> Result<&super::syntax::Word, SyntaxError> {
    match node.args.as_slice() {
        [word] => Ok(word),
        [] => Err(SyntaxError::new(
            node.pos(),
            format!("{} needs a value", node.name()),
        )),
        [_, extra, ..] => Err(SyntaxError::new(
            &extra.pos,
            format!("{} takes one value", node.name()),
        )),
    }
}

fn number<T: std::str::FromStr>(word: &super::syntax::Word, what: &str) -> Result<T, SyntaxError> {
    word.text.parse().map_err(|_| {
        SyntaxError::new(
            &word.pos,
            format!("{what}: `{}` is not a number in range", word.text),
        )
    })
}

/// keepalived's `<BOOL>`: nothing (true), yes/no, on/off, true/false.
fn boolean(node: &Node) -> Result<bool, SyntaxError> {
    match node
        .args
        .first()
        .map(|w| w.text.to_ascii_lowercase())
        .as_deref()
    {
        None | Some("yes" | "on" | "true" | "1") => Ok(true),
        Some("no" | "off" | "false" | "0") => Ok(false),
        Some(other) => Err(SyntaxError::new(
            &node.args[0].pos,
            format!("{}: `{other}` is not yes or no", node.name()),
        )),
    }
}

/// A `<TIMER>`: seconds, with up to six decimals, in milliseconds.
fn seconds_ms(word: &super::syntax::Word) -> Result<u32, SyntaxError> {
    let bad = || {
        SyntaxError::new(
            &word.pos,
            format!("`{}` is not a number of seconds", word.text),
        )
    };
    let (whole, fraction) = word.text.split_once('.').unwrap_or((&word.text, ""));
    if whole.is_empty() && fraction.is_empty()
        || !fraction.bytes().all(|b| b.is_ascii_digit())
        || fraction.len() > 6
    {
        return Err(bad());
    }
    let whole: u64 = if whole.is_empty() {
        0
    } else {
        whole.parse().map_err(|_| bad())?
    };
    let micros: u64 = format!("{fraction:0<6}").parse().map_err(|_| bad())?;
    let ms = whole * 1000 + micros.div_ceil(1000);
    u32::try_from(ms).map_err(|_| bad())
}

fn ip(word: &super::syntax::Word) -> Result<IpAddr, SyntaxError> {
    word.text
        .parse()
        .map_err(|_| SyntaxError::new(&word.pos, format!("`{}` is not an IP address", word.text)))
}

fn port_number(word: &super::syntax::Word) -> Result<u16, SyntaxError> {
    number(word, "port")
}

fn fwmark(word: &super::syntax::Word) -> Result<u32, SyntaxError> {
    let mark: u32 = number(word, "fwmark")?;
    if mark == 0 {
        return Err(SyntaxError::new(&word.pos, "fwmark 0 marks nothing"));
    }
    Ok(mark)
}

fn address_port(node: &Node) -> Result<(IpAddr, Option<u16>), SyntaxError> {
    match node.args.as_slice() {
        [address] => Ok((ip(address)?, None)),
        [address, port] => Ok((ip(address)?, Some(port_number(port)?))),
        _ => Err(SyntaxError::new(
            node.pos(),
            format!("{} takes ADDRESS [PORT]", node.name()),
        )),
    }
}

/// `lvs_method NAT|DR|TUN [type ipip|gue port N|gre] [nocsum|csum|remcsum]`.
fn forwarding(node: &Node) -> Result<Method, SyntaxError> {
    let words: Vec<&str> = node.args.iter().map(|w| w.text.as_str()).collect();
    let bad = |why: &str| SyntaxError::new(node.pos(), format!("{}: {why}", node.name()));
    let method = match words.first().map(|w| w.to_ascii_uppercase()).as_deref() {
        Some("NAT") => ForwardingMethod::Nat,
        Some("DR") => ForwardingMethod::Dr,
        Some("TUN") => ForwardingMethod::Tun,
        Some(other) => return Err(bad(&format!("`{other}` is not NAT, DR or TUN"))),
        None => return Err(bad("needs NAT, DR or TUN")),
    };
    if method != ForwardingMethod::Tun {
        if words.len() > 1 {
            return Err(bad("only TUN takes tunnel options"));
        }
        return Ok(Method {
            method,
            tunnel: None,
        });
    }
    let mut tunnel = Tunnel::default();
    let mut rest = words[1..].iter();
    while let Some(word) = rest.next() {
        match *word {
            "type" => {
                tunnel.kind = match rest.next().copied() {
                    Some("ipip") => TunnelType::Ipip,
                    Some("gre") => TunnelType::Gre,
                    Some("gue") => TunnelType::Gue,
                    _ => return Err(bad("type is ipip, gue or gre")),
                }
            }
            "port" => {
                tunnel.port = Some(
                    rest.next()
                        .and_then(|p| p.parse().ok())
                        .ok_or_else(|| bad("port needs a number"))?,
                )
            }
            "nocsum" => tunnel.checksum = TunnelChecksum::None,
            "csum" => tunnel.checksum = TunnelChecksum::Csum,
            "remcsum" => tunnel.checksum = TunnelChecksum::Remcsum,
            other => return Err(bad(&format!("`{other}` is not a tunnel option"))),
        }
    }
    Ok(Method {
        method,
        tunnel: Some(tunnel),
    })
}

/// `persistence_granularity`: a dotted IPv4 mask or a prefix length.
fn netmask(node: &Node) -> Result<crate::model::NetmaskDoc, SyntaxError> {
    let word = one_arg(node)?;
    Ok(match word.text.parse::<u8>() {
        Ok(prefix) => crate::model::NetmaskDoc::Prefix(prefix),
        Err(_) => crate::model::NetmaskDoc::Dotted(word.text.clone()),
    })
}

/// `status_code 200 301-302 ...`: the codes, sorted.
fn status_codes(node: &Node) -> Result<Vec<u16>, SyntaxError> {
    let mut codes = Vec::new();
    for word in &node.args {
        let bad = || {
            SyntaxError::new(
                &word.pos,
                format!(
                    "status_code: `{}` is not a code or a range of codes",
                    word.text
                ),
            )
        };
        let (low, high) = word
            .text
            .split_once('-')
            .unwrap_or((&word.text, &word.text));
        let low: u16 = low.parse().map_err(|_| bad())?;
        let high: u16 = high.parse().map_err(|_| bad())?;
        if !(100..=599).contains(&low) || !(low..=599).contains(&high) {
            return Err(bad());
        }
        codes.extend(low..=high);
    }
    if codes.is_empty() {
        return Err(SyntaxError::new(node.pos(), "status_code needs a code"));
    }
    codes.sort_unstable();
    codes.dedup();
    Ok(codes)
}

/// The addresses of a group entry: `10.0.0.1`, `10.0.0.1-5`,
/// `10.0.0.250-10.0.1.10`, `10.0.0.8/29` (and their IPv6 forms).
fn address_range(word: &super::syntax::Word) -> Result<Vec<IpAddr>, SyntaxError> {
    let bad = |why: &str| SyntaxError::new(&word.pos, format!("`{}` {why}", word.text));
    let text = word.text.as_str();
    let (first, last): (u128, u128) = if let Some((address, prefix)) = text.split_once('/') {
        let address: IpAddr = address
            .parse()
            .map_err(|_| bad("is not an address range"))?;
        let bits = u32::from(AddressFamily::of(address).max_prefix());
        let prefix: u32 = prefix
            .parse()
            .ok()
            .filter(|p| *p <= bits)
            .ok_or_else(|| bad("has a bad prefix length"))?;
        let value = to_u128(address);
        let host = if prefix == bits {
            0
        } else {
            (1u128 << (bits - prefix)) - 1
        };
        (value & !host, value | host)
    } else if let Some((address, end)) = text.split_once('-') {
        let start: IpAddr = address
            .parse()
            .map_err(|_| bad("is not an address range"))?;
        let value = to_u128(start);
        let end = match end.parse::<IpAddr>() {
            Ok(end) if AddressFamily::of(end) == AddressFamily::of(start) => to_u128(end),
            Ok(_) => return Err(bad("mixes address families")),
            // The last part alone: a byte of IPv4, a hex group of IPv6.
            Err(_) => match start {
                IpAddr::V4(_) => {
                    (value & !0xff)
                        | u128::from(
                            end.parse::<u8>()
                                .map_err(|_| bad("does not end in a byte"))?,
                        )
                }
                IpAddr::V6(_) => {
                    (value & !0xffff)
                        | u128::from(
                            u16::from_str_radix(end, 16)
                                .map_err(|_| bad("does not end in a hex group"))?,
                        )
                }
            },
        };
        (value, end)
    } else {
        let address: IpAddr = text.parse().map_err(|_| bad("is not an address"))?;
        return Ok(vec![address]);
    };
    if last < first {
        return Err(bad("ends before it starts"));
    }
    if last - first >= 4096 {
        return Err(bad("spans more than 4096 addresses"));
    }
    let v4 = !text.contains(':');
    Ok((first..=last)
        .map(|v| {
            if v4 {
                IpAddr::from(std::net::Ipv4Addr::from(v as u32))
            } else {
                IpAddr::from(std::net::Ipv6Addr::from(v))
            }
        })
        .collect())
}

fn to_u128(address: IpAddr) -> u128 {
    match address {
        IpAddr::V4(v4) => u128::from(u32::from(v4)),
        IpAddr::V6(v6) => u128::from(v6),
    }
}

/// keepalived's free-form hex (`Ab12f 3 456`) as text, when it is UTF-8.
fn hex_text(node: &Node) -> Result<Option<String>, SyntaxError> {
    let mut bytes = Vec::new();
    for word in &node.args {
        let digits: Vec<u8> = word
            .text
            .chars()
            .map(|c| c.to_digit(16).map(|d| d as u8))
            .collect::<Option<_>>()
            .ok_or_else(|| SyntaxError::new(&word.pos, format!("`{}` is not hex", word.text)))?;
        // An odd count: the last digit stands alone, as keepalived reads it.
        for pair in digits.chunks(2) {
            bytes.push(match pair {
                [high, low] => high << 4 | low,
                [single] => *single,
                _ => unreachable!(),
            });
        }
    }
    Ok(String::from_utf8(bytes).ok())
}

/// The text a regular expression matches when it is a plain string
/// (metacharacters escaped), or `None`.
pub(crate) fn literal_of_regex(regex: &str) -> Option<String> {
    let mut out = String::new();
    let mut chars = regex.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some(escaped) if !escaped.is_ascii_alphanumeric() => out.push(escaped),
                _ => return None,
            },
            '.' | '^' | '$' | '*' | '+' | '?' | '(' | ')' | '[' | ']' | '{' | '}' | '|' => {
                return None;
            }
            c => out.push(c),
        }
    }
    (!out.is_empty()).then_some(out)
}

/// A MISC_CHECK command line split into words as a shell would (quotes, no expansion).
fn split_command(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut quote: Option<char> = None;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some('"'), '\\') => word.extend(chars.next()),
            (Some(_), c) => word.push(c),
            (None, '\'' | '"') => {
                quote = Some(c);
                in_word = true;
            }
            (None, '\\') => {
                word.extend(chars.next());
                in_word = true;
            }
            (None, c) if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            (None, c) => {
                word.push(c);
                in_word = true;
            }
        }
    }
    if in_word {
        words.push(word);
    }
    words
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keepalived::syntax::Word;

    fn word(text: &str) -> Word {
        Word {
            text: text.to_string(),
            pos: Pos {
                file: "t".into(),
                line: 1,
                column: 1,
            },
        }
    }

    #[test]
    fn ranges_by_table() {
        let cases: [(&str, &[&str]); 5] = [
            ("10.0.0.1-3", &["10.0.0.1", "10.0.0.2", "10.0.0.3"]),
            (
                "10.0.0.255-10.0.1.1",
                &["10.0.0.255", "10.0.1.0", "10.0.1.1"],
            ),
            (
                "10.0.0.8/30",
                &["10.0.0.8", "10.0.0.9", "10.0.0.10", "10.0.0.11"],
            ),
            (
                "2001:db8::a-c",
                &["2001:db8::a", "2001:db8::b", "2001:db8::c"],
            ),
            ("10.0.0.7", &["10.0.0.7"]),
        ];
        for (text, expected) in cases {
            let got: Vec<String> = address_range(&word(text))
                .unwrap()
                .iter()
                .map(|a| a.to_string())
                .collect();
            assert_eq!(got, expected, "{text}");
        }
        for bad in ["10.0.0.5-1", "10.0.0.1-300", "10.0.0.0/8", "nope-1"] {
            assert!(address_range(&word(bad)).is_err(), "{bad}");
        }
    }

    #[test]
    fn timers_by_table() {
        for (text, ms) in [
            ("6", 6000),
            ("1.5", 1500),
            ("0.25", 250),
            (".1", 100),
            ("2.0001", 2001),
        ] {
            assert_eq!(seconds_ms(&word(text)).unwrap(), ms, "{text}");
        }
        for bad in ["", "x", "1.2.3", "-1", "1.1234567"] {
            assert!(seconds_ms(&word(bad)).is_err(), "{bad}");
        }
    }

    #[test]
    fn regex_literals_and_commands() {
        assert_eq!(literal_of_regex("OK"), Some("OK".into()));
        assert_eq!(
            literal_of_regex(r"status: up\."),
            Some("status: up.".into())
        );
        assert_eq!(literal_of_regex("^OK$"), None);
        assert_eq!(literal_of_regex(r"\d+"), None);
        assert_eq!(
            split_command(r#"/usr/bin/check --host "a b" 'c d' e\ f"#),
            ["/usr/bin/check", "--host", "a b", "c d", "e f"]
        );
    }
}
