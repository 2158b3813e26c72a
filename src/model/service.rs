use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::key::parse_fwmark;
use super::{
    AddressFamily, DEFAULT_PERSISTENCE_SECS, HealthCheckDoc, MAX_TIMEOUT_SECS, Protocol, QuorumDoc,
    RealServer, RealServerDoc, SchedFlags, Scheduler, ServerKey, ServiceHealth, ServiceKey,
    SorryServerDoc, ValidationError,
};

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum PersistenceEngine {
    /// Persistence by SIP Call-ID (`--pe sip`).
    Sip,
}

impl PersistenceEngine {
    pub fn as_str(self) -> &'static str {
        match self {
            PersistenceEngine::Sip => "sip",
        }
    }
}

/// Client affinity (`-p TIMEOUT -M NETMASK`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct Persistence {
    /// Seconds a client stays with its real server after its last connection.
    pub timeout: u32,
    /// Prefix length grouping clients that share a real server (`-M`): 32 or
    /// 128 means each client address on its own.
    pub netmask: u8,
}

impl Persistence {
    /// The IPv4 netmask of an IPv4 service, as ipvsadm writes it.
    pub fn ipv4_netmask(&self) -> Ipv4Addr {
        let bits = if self.netmask == 0 {
            0
        } else {
            u32::MAX << (32 - u32::from(self.netmask))
        };
        Ipv4Addr::from(bits)
    }
}

/// A persistence netmask: a prefix length, or for IPv4 a dotted mask.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum NetmaskDoc {
    Prefix(u8),
    Dotted(String),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PersistenceDoc {
    /// 1 to 2678400 seconds; 360 when left out, as `ipvsadm -p`.
    #[serde(default = "default_persistence")]
    pub timeout: u32,
    /// Prefix length (0-32 for IPv4, 1-128 for IPv6) or an IPv4 mask such as
    /// "255.255.255.0"; defaults to one client address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub netmask: Option<NetmaskDoc>,
}

fn default_persistence() -> u32 {
    DEFAULT_PERSISTENCE_SECS
}

/// A virtual service as clients send and receive it.
///
/// Identify it by `protocol` + `address` + `port`, by `fwmark` (+ `family`),
/// or by `id` alone (`tcp:192.168.31.100:80`, `fwmark:12`, `fwmark6:12`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct VirtualServiceDoc {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(example = "tcp:192.168.31.100:80")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<Protocol>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, example = "192.168.31.100")]
    pub address: Option<IpAddr>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fwmark: Option<u32>,
    /// Address family of a firewall-mark service; ipv4 unless said.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub family: Option<AddressFamily>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scheduler: Option<Scheduler>,
    /// sh-fallback, sh-port, mh-fallback, mh-port (`-b`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sched_flags: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub persistence: Option<PersistenceDoc>,
    /// One-packet scheduling (`-o`), for UDP.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub one_packet: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub persistence_engine: Option<PersistenceEngine>,
    #[serde(default, deserialize_with = "super::capped::servers")]
    pub servers: Vec<RealServerDoc>,
    /// How the real servers are checked; each may override any field in its own `health_check`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health_check: Option<HealthCheckDoc>,
    /// Takes the traffic while no real server with a weight above 0 is healthy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sorry_server: Option<SorryServerDoc>,
    /// Healthy real servers needed, a number or a share (`"50%"`); below it the service is reported degraded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub quorum: Option<QuorumDoc>,
}

/// A validated virtual service with its real servers, sorted by their id.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct VirtualService {
    pub key: ServiceKey,
    pub scheduler: Scheduler,
    pub sched_flags: SchedFlags,
    pub persistence: Option<Persistence>,
    pub one_packet: bool,
    pub persistence_engine: Option<PersistenceEngine>,
    servers: Vec<RealServer>,
    health: ServiceHealth,
}

impl VirtualService {
    pub fn servers(&self) -> &[RealServer] {
        &self.servers
    }

    pub fn server(&self, key: &ServerKey) -> Option<&RealServer> {
        self.servers
            .binary_search_by(|s| s.key.cmp(key))
            .ok()
            .map(|i| &self.servers[i])
    }

    /// Its health checking: each checked real server's check, the sorry server, the quorum.
    pub fn health(&self) -> &ServiceHealth {
        &self.health
    }

    /// The same service with other real servers, checked again for
    /// duplicates and against the health check.
    pub fn with_servers(&self, servers: Vec<RealServer>) -> Result<Self, ValidationError> {
        let servers = sorted_unique(servers)?;
        let health = revalidate_health(&self.health, &self.key, &servers)?;
        Ok(Self {
            servers,
            health,
            ..self.clone()
        })
    }

    /// The same service with its real servers at these weights, and those
    /// missing from `weights` left out: the table a health check wants.
    /// The health settings stay as they are.
    pub fn with_weights(
        &self,
        weights: &std::collections::BTreeMap<ServerKey, u16>,
        extra: Option<&RealServer>,
    ) -> Self {
        let mut servers: Vec<RealServer> = self
            .servers
            .iter()
            .filter_map(|s| {
                weights.get(&s.key).map(|w| RealServer {
                    weight: *w,
                    ..s.clone()
                })
            })
            .collect();
        if let Some(extra) = extra
            && !servers.iter().any(|s| s.key == extra.key)
        {
            servers.push(extra.clone());
            servers.sort_by_key(|s| s.key);
        }
        Self {
            servers,
            ..self.clone()
        }
    }

    /// The service's settings without its real servers.
    pub fn without_servers(&self) -> Self {
        let health = ServiceHealth {
            checks: Default::default(),
            ..self.health.clone()
        };
        Self {
            servers: Vec::new(),
            health,
            ..self.clone()
        }
    }

    pub fn to_doc(&self) -> VirtualServiceDoc {
        let (protocol, address, port, fwmark, family) = match self.key {
            ServiceKey::Addr { protocol, addr } => (
                Some(protocol),
                Some(addr.ip()),
                Some(addr.port()),
                None,
                None,
            ),
            ServiceKey::Fwmark { mark, family } => (None, None, None, Some(mark), Some(family)),
        };
        VirtualServiceDoc {
            id: Some(self.key.to_string()),
            protocol,
            address,
            port,
            fwmark,
            family,
            scheduler: Some(self.scheduler),
            sched_flags: self.sched_flags.names(self.scheduler),
            persistence: self.persistence.map(|p| PersistenceDoc {
                timeout: p.timeout,
                netmask: Some(NetmaskDoc::Prefix(p.netmask)),
            }),
            one_packet: self.one_packet,
            persistence_engine: self.persistence_engine,
            servers: self.servers.iter().map(RealServerDoc::from).collect(),
            health_check: self.health.doc.clone(),
            sorry_server: self.health.sorry_server_doc.clone(),
            quorum: self.health.quorum_doc.clone(),
        }
    }
}

impl Serialize for VirtualService {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.to_doc().serialize(serializer)
    }
}

fn revalidate_health(
    health: &ServiceHealth,
    key: &ServiceKey,
    servers: &[RealServer],
) -> Result<ServiceHealth, ValidationError> {
    ServiceHealth::validate(
        key,
        health.doc.as_ref(),
        health.sorry_server_doc.as_ref(),
        health.quorum_doc.as_ref(),
        servers,
        |server| {
            format!(
                "servers[{}]",
                servers
                    .iter()
                    .position(|s| s.key == *server)
                    .unwrap_or_default()
            )
        },
    )
}

fn sorted_unique(mut servers: Vec<RealServer>) -> Result<Vec<RealServer>, ValidationError> {
    servers.sort_by_key(|s| s.key);
    if let Some(pair) = servers.windows(2).find(|w| w[0].key == w[1].key) {
        return Err(ValidationError::new(
            "servers",
            format!("real server {} is listed twice", pair[0].key),
        ));
    }
    Ok(servers)
}

impl VirtualServiceDoc {
    /// The service's identity, from `id` or from the separate fields.
    pub fn key(&self) -> Result<ServiceKey, ValidationError> {
        let from_fields = self.key_from_fields()?;
        let from_id = match &self.id {
            Some(id) => Some(
                id.parse::<ServiceKey>()
                    .map_err(|e| ValidationError::new("id", e.message))?,
            ),
            None => None,
        };
        match (from_id, from_fields) {
            (Some(id), Some(fields)) if id != fields => Err(ValidationError::new(
                "id",
                format!("id {id} disagrees with the service's fields, which say {fields}"),
            )),
            (Some(key), _) | (None, Some(key)) => Ok(key),
            (None, None) => Err(ValidationError::new(
                "protocol",
                "missing: a service needs protocol, address and port, or fwmark",
            )),
        }
    }

    fn key_from_fields(&self) -> Result<Option<ServiceKey>, ValidationError> {
        if let Some(mark) = self.fwmark {
            for (given, field) in [
                (self.protocol.is_some(), "protocol"),
                (self.address.is_some(), "address"),
                (self.port.is_some(), "port"),
            ] {
                if given {
                    return Err(ValidationError::new(
                        field,
                        format!(
                            "a firewall-mark service matches packets by mark alone, so it takes no {field}"
                        ),
                    ));
                }
            }
            let mark = parse_fwmark(&mark.to_string())?;
            return Ok(Some(ServiceKey::Fwmark {
                mark,
                family: self.family.unwrap_or_default(),
            }));
        }
        let missing = |field: &str| {
            ValidationError::new(
                field,
                format!("missing: a {field} is needed unless the service is a fwmark"),
            )
        };
        match (self.protocol, self.address, self.port) {
            (None, None, None) => Ok(None),
            (protocol, address, port) => {
                let protocol = protocol.ok_or_else(|| missing("protocol"))?;
                let address = address.ok_or_else(|| missing("address"))?;
                let port = port.ok_or_else(|| missing("port"))?;
                if let Some(family) = self.family
                    && family != AddressFamily::of(address)
                {
                    return Err(ValidationError::new(
                        "family",
                        format!("{} disagrees with the address {address}", family.as_str()),
                    ));
                }
                if address.is_unspecified() || address.is_multicast() {
                    return Err(ValidationError::new(
                        "address",
                        format!("{address} cannot be a virtual address"),
                    ));
                }
                Ok(Some(ServiceKey::Addr {
                    protocol,
                    addr: SocketAddr::new(address, port),
                }))
            }
        }
    }

    pub fn validate(&self) -> Result<VirtualService, ValidationError> {
        let key = self.key()?;
        let scheduler = self.scheduler.unwrap_or_default();
        let sched_flags = SchedFlags::parse(&self.sched_flags, scheduler)?;
        let persistence = self
            .persistence
            .as_ref()
            .map(|p| validate_persistence(p, key.family()))
            .transpose()?;
        if key.port() == 0 && !key.is_fwmark() && persistence.is_none() {
            return Err(ValidationError::new(
                "port",
                "port 0 (all ports) is only allowed for persistent services: add persistence",
            ));
        }
        if self.one_packet
            && matches!(
                key,
                ServiceKey::Addr {
                    protocol: Protocol::Tcp | Protocol::Sctp,
                    ..
                }
            )
        {
            return Err(ValidationError::new(
                "one_packet",
                "one-packet scheduling is only for UDP services",
            ));
        }
        if self.persistence_engine.is_some() && persistence.is_none() {
            return Err(ValidationError::new(
                "persistence_engine",
                "a persistence engine needs persistence: set persistence too",
            ));
        }
        let servers = self
            .servers
            .iter()
            .enumerate()
            .map(|(i, doc)| {
                doc.validate(&key)
                    .map_err(|e| e.within(format!("servers[{i}]")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let servers = sorted_unique(servers)?;
        let doc_index = |server: &ServerKey| {
            let at = self.servers.iter().position(|doc| {
                doc.address == Some(server.ip()) && doc.port.unwrap_or(key.port()) == server.port()
                    || doc.id.as_deref() == Some(server.to_string().as_str())
            });
            format!("servers[{}]", at.unwrap_or_default())
        };
        let health = ServiceHealth::validate(
            &key,
            self.health_check.as_ref(),
            self.sorry_server.as_ref(),
            self.quorum.as_ref(),
            &servers,
            doc_index,
        )?;
        Ok(VirtualService {
            key,
            scheduler,
            sched_flags,
            persistence,
            one_packet: self.one_packet,
            persistence_engine: self.persistence_engine,
            servers,
            health,
        })
    }
}

fn validate_persistence(
    doc: &PersistenceDoc,
    family: AddressFamily,
) -> Result<Persistence, ValidationError> {
    if doc.timeout == 0 || doc.timeout > MAX_TIMEOUT_SECS {
        return Err(ValidationError::new(
            "persistence.timeout",
            format!(
                "{} is out of range: persistence lasts 1 to {MAX_TIMEOUT_SECS} seconds",
                doc.timeout
            ),
        ));
    }
    let netmask = match (&doc.netmask, family) {
        (None, family) => family.max_prefix(),
        (Some(NetmaskDoc::Prefix(prefix)), AddressFamily::Ipv4) if *prefix <= 32 => *prefix,
        (Some(NetmaskDoc::Prefix(prefix)), AddressFamily::Ipv6) if (1..=128).contains(prefix) => {
            *prefix
        }
        (Some(NetmaskDoc::Prefix(prefix)), family) => {
            let range = if family == AddressFamily::Ipv4 {
                "0 to 32"
            } else {
                "1 to 128"
            };
            return Err(ValidationError::new(
                "persistence.netmask",
                format!(
                    "prefix length {prefix} is out of range: {} services take {range}",
                    family.as_str()
                ),
            ));
        }
        (Some(NetmaskDoc::Dotted(mask)), AddressFamily::Ipv4) => dotted_prefix(mask)?,
        (Some(NetmaskDoc::Dotted(mask)), AddressFamily::Ipv6) => {
            return Err(ValidationError::new(
                "persistence.netmask",
                format!("`{mask}`: ipv6 services take a prefix length from 1 to 128"),
            ));
        }
    };
    Ok(Persistence {
        timeout: doc.timeout,
        netmask,
    })
}

/// Prefix length of a contiguous dotted IPv4 mask such as 255.255.255.0.
pub(crate) fn dotted_prefix(mask: &str) -> Result<u8, ValidationError> {
    let bad = |why: &str| ValidationError::new("persistence.netmask", format!("`{mask}` {why}"));
    let bits = u32::from(
        mask.parse::<Ipv4Addr>()
            .map_err(|_| bad("is not an IPv4 netmask"))?,
    );
    let prefix = bits.leading_ones();
    if bits.checked_shl(prefix).unwrap_or(0) != 0 {
        return Err(bad("is not a contiguous netmask"));
    }
    Ok(prefix as u8)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> Result<VirtualService, ValidationError> {
        ValidationError::from_json::<VirtualServiceDoc>(json.as_bytes())?.validate()
    }

    #[test]
    fn accepts_every_way_to_name_a_service() {
        let by_fields =
            parse(r#"{"protocol":"tcp","address":"192.168.31.100","port":80,"scheduler":"wrr"}"#)
                .unwrap();
        let by_id = parse(r#"{"id":"tcp:192.168.31.100:80","scheduler":"wrr"}"#).unwrap();
        assert_eq!(by_fields, by_id);
        let fw = parse(r#"{"fwmark":12,"family":"ipv6"}"#).unwrap();
        assert_eq!(fw.key.to_string(), "fwmark6:12");
        assert_eq!(fw.scheduler, Scheduler::Wlc);
    }

    #[test]
    fn persistence_netmasks() {
        let svc =
            parse(r#"{"id":"tcp:10.0.0.1:0","persistence":{"netmask":"255.255.255.0"}}"#).unwrap();
        let p = svc.persistence.unwrap();
        assert_eq!((p.timeout, p.netmask), (360, 24));
        assert_eq!(p.ipv4_netmask().to_string(), "255.255.255.0");
        let svc =
            parse(r#"{"id":"udp:[2001:db8::1]:53","persistence":{"timeout":60,"netmask":64}}"#)
                .unwrap();
        assert_eq!(svc.persistence.unwrap().netmask, 64);
    }

    #[test]
    fn refusals_name_the_field() {
        let cases = [
            (r#"{"protocol":"tcp","address":"10.0.0.1"}"#, "port"),
            (r#"{"fwmark":1,"port":80}"#, "port"),
            (r#"{"fwmark":0}"#, "fwmark"),
            (
                r#"{"id":"tcp:10.0.0.1:80","protocol":"udp","address":"10.0.0.1","port":80}"#,
                "id",
            ),
            (
                r#"{"id":"tcp:10.0.0.1:80","scheduler":"bogus"}"#,
                "scheduler",
            ),
            (
                r#"{"id":"tcp:10.0.0.1:80","scheduler":"wrr","sched_flags":["sh-port"]}"#,
                "sched_flags",
            ),
            (
                r#"{"id":"tcp:10.0.0.1:80","persistence":{"timeout":0}}"#,
                "persistence.timeout",
            ),
            (
                r#"{"id":"tcp:10.0.0.1:80","persistence":{"timeout":2678401}}"#,
                "persistence.timeout",
            ),
            (
                r#"{"id":"tcp:10.0.0.1:80","persistence":{"netmask":33}}"#,
                "persistence.netmask",
            ),
            (
                r#"{"id":"tcp:10.0.0.1:80","persistence":{"netmask":"255.0.255.0"}}"#,
                "persistence.netmask",
            ),
            (
                r#"{"id":"tcp:[::1]:80","persistence":{"netmask":0}}"#,
                "persistence.netmask",
            ),
            (r#"{"id":"tcp:10.0.0.1:0"}"#, "port"),
            (
                r#"{"id":"tcp:10.0.0.1:80","one_packet":true}"#,
                "one_packet",
            ),
            (
                r#"{"id":"udp:10.0.0.1:5060","persistence_engine":"sip"}"#,
                "persistence_engine",
            ),
            (
                r#"{"id":"tcp:10.0.0.1:80","servers":[{"address":"10.1.0.1"},{"address":"10.1.0.1","port":80}]}"#,
                "servers",
            ),
            (
                r#"{"id":"tcp:10.0.0.1:80","servers":[{"address":"10.1.0.1","weight":-1}]}"#,
                "servers[0].weight",
            ),
            (r#"{"id":"tcp:10.0.0.1:80","bogus":1}"#, "bogus"),
        ];
        for (json, field) in cases {
            let err = parse(json).unwrap_err();
            assert_eq!(err.field, field, "{json}: {err}");
        }
    }

    #[test]
    fn output_reads_back_as_the_same_service() {
        let svc = parse(
            r#"{"fwmark":7,"scheduler":"sh","sched_flags":["sh-port","sh-fallback"],"persistence":{"timeout":900,"netmask":"255.255.0.0"},
                "one_packet":true,"persistence_engine":"sip","servers":[{"address":"10.0.0.2","port":0,"weight":3},{"address":"10.0.0.1","forwarding":"nat","port":53}]}"#,
        )
        .unwrap();
        assert_eq!(svc.servers()[0].key.to_string(), "10.0.0.1:53");
        let json = serde_json::to_string(&svc).unwrap();
        assert_eq!(parse(&json).unwrap(), svc);
    }
}
