use std::net::IpAddr;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{AddressFamily, HealthCheckDoc, ServerKey, ServiceKey, ValidationError};

/// How the director hands packets to a real server.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    Default,
    ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum ForwardingMethod {
    /// Masquerading (`-m`): the director rewrites the destination; replies come back through it.
    Nat,
    /// Direct routing (`-g`, ipvsadm's default): the real server answers the client itself.
    #[default]
    Dr,
    /// Tunnelling (`-i`): packets are encapsulated to the real server.
    Tun,
    /// NAT plus source NAT on the director, so real servers need no route back through it.
    Fullnat,
}

#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    Default,
    ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum TunnelType {
    #[default]
    Ipip,
    Gue,
    Gre,
}

/// Checksum handling of GUE/GRE encapsulation (`--tun-nocsum|--tun-csum|--tun-remcsum`).
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    Default,
    ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum TunnelChecksum {
    #[default]
    None,
    Csum,
    Remcsum,
}

/// Tunnel details of a `tun` real server.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    Default,
    ToSchema,
)]
#[serde(deny_unknown_fields)]
pub struct Tunnel {
    #[serde(rename = "type", default)]
    pub kind: TunnelType,
    /// Destination UDP port of GUE encapsulation; GUE only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    #[serde(default, skip_serializing_if = "is_default")]
    pub checksum: TunnelChecksum,
}

fn is_default<T: Default + PartialEq>(value: &T) -> bool {
    *value == T::default()
}

/// Forwarding with its tunnel details, which only `tun` has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Forwarding {
    Nat,
    Dr,
    Tun(Tunnel),
    Fullnat,
}

impl Forwarding {
    pub fn method(&self) -> ForwardingMethod {
        match self {
            Forwarding::Nat => ForwardingMethod::Nat,
            Forwarding::Dr => ForwardingMethod::Dr,
            Forwarding::Tun(_) => ForwardingMethod::Tun,
            Forwarding::Fullnat => ForwardingMethod::Fullnat,
        }
    }

    pub fn tunnel(&self) -> Option<Tunnel> {
        match self {
            Forwarding::Tun(tunnel) => Some(*tunnel),
            _ => None,
        }
    }

    /// Whether the director rewrites the destination (and so may map ports).
    pub fn rewrites_destination(&self) -> bool {
        matches!(self, Forwarding::Nat | Forwarding::Fullnat)
    }
}

/// A real server as clients send and receive it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RealServerDoc {
    /// `ADDRESS:PORT`; output only, accepted on input when it agrees.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, example = "172.25.0.31:80")]
    pub id: Option<String>,
    #[schema(value_type = Option<String>, example = "172.25.0.31")]
    pub address: Option<IpAddr>,
    /// Defaults to the virtual port (0 for firewall-mark services: keep the packet's port).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    #[serde(default)]
    pub forwarding: ForwardingMethod,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tunnel: Option<Tunnel>,
    /// 0 to 65535; 0 quiesces the server: connections finish, no new ones arrive.
    #[serde(default = "default_weight")]
    pub weight: u32,
    /// Stop sending new connections above this many (`-x`); 0 means no limit.
    #[serde(default, skip_serializing_if = "is_default")]
    pub upper_threshold: u32,
    /// Resume below this many (`-y`), at most the upper threshold; 0 lets the kernel pick 3/4 of the upper one.
    #[serde(default, skip_serializing_if = "is_default")]
    pub lower_threshold: u32,
    /// This server's differences from the service's health check (or its
    /// whole check when the service has none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health_check: Option<HealthCheckDoc>,
}

/// Largest connection threshold the kernel and ipvsadm accept (`INT_MAX`).
const MAX_THRESHOLD: u32 = i32::MAX as u32;

fn default_weight() -> u32 {
    1
}

/// A validated real server of one virtual service.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RealServer {
    pub key: ServerKey,
    pub forwarding: Forwarding,
    pub weight: u16,
    pub upper_threshold: u32,
    pub lower_threshold: u32,
    /// The override of the service's health check, as written; the service
    /// validates it merged with its own (`VirtualService::health`).
    pub health_check: Option<Arc<HealthCheckDoc>>,
}

impl RealServerDoc {
    /// Validates this real server as one of `service`'s.
    pub fn validate(&self, service: &ServiceKey) -> Result<RealServer, ValidationError> {
        let from_id = match &self.id {
            Some(id) => Some(
                id.parse::<ServerKey>()
                    .map_err(|e| ValidationError::new("id", e.message))?,
            ),
            None => None,
        };
        let address = match (self.address, from_id) {
            (Some(address), Some(key)) if address != key.ip() => {
                return Err(ValidationError::new(
                    "address",
                    format!("{address} disagrees with id {key}"),
                ));
            }
            (Some(address), _) => address,
            (None, Some(key)) => key.ip(),
            (None, None) => {
                return Err(ValidationError::new(
                    "address",
                    "missing: every real server needs an address",
                ));
            }
        };
        check_unicast(address)?;
        let port = match (self.port, from_id) {
            (Some(port), Some(key)) if port != key.port() => {
                return Err(ValidationError::new(
                    "port",
                    format!("{port} disagrees with id {key}"),
                ));
            }
            (Some(port), _) => port,
            (None, Some(key)) => key.port(),
            (None, None) => service.port(),
        };

        let forwarding = match (self.forwarding, self.tunnel) {
            (ForwardingMethod::Tun, tunnel) => {
                Forwarding::Tun(validate_tunnel(tunnel.unwrap_or_default())?)
            }
            (method, Some(_)) => {
                return Err(ValidationError::new(
                    "tunnel",
                    format!(
                        "only tun real servers have tunnel settings, this one uses {}",
                        method_name(method)
                    ),
                ));
            }
            (ForwardingMethod::Nat, None) => Forwarding::Nat,
            (ForwardingMethod::Dr, None) => Forwarding::Dr,
            (ForwardingMethod::Fullnat, None) => Forwarding::Fullnat,
        };

        if AddressFamily::of(address) != service.family()
            && !matches!(forwarding, Forwarding::Tun(_))
        {
            return Err(ValidationError::new(
                "address",
                format!(
                    "{address} is {} but the service is {}: only tun forwarding can cross address families",
                    AddressFamily::of(address).as_str(),
                    service.family().as_str()
                ),
            ));
        }
        if !service.is_fwmark() && !forwarding.rewrites_destination() && port != service.port() {
            return Err(ValidationError::new(
                "port",
                format!(
                    "{} forwards packets unchanged, so the real server port must be the virtual port {} (use nat to map ports)",
                    method_name(forwarding.method()),
                    service.port()
                ),
            ));
        }

        let weight = u16::try_from(self.weight).map_err(|_| {
            ValidationError::new(
                "weight",
                format!(
                    "{} is out of range: weights go from 0 to 65535",
                    self.weight
                ),
            )
        })?;
        for (value, field) in [
            (self.upper_threshold, "upper_threshold"),
            (self.lower_threshold, "lower_threshold"),
        ] {
            if value > MAX_THRESHOLD {
                return Err(ValidationError::new(
                    field,
                    format!("{value} is out of range: thresholds go from 0 to {MAX_THRESHOLD}"),
                ));
            }
        }
        if self.lower_threshold > self.upper_threshold {
            // The kernel refuses this too (ERANGE), even with no upper threshold.
            return Err(ValidationError::new(
                "lower_threshold",
                format!(
                    "{} is above the upper threshold {}: the lower threshold may not exceed the upper one",
                    self.lower_threshold, self.upper_threshold
                ),
            ));
        }
        Ok(RealServer {
            key: ServerKey((address, port).into()),
            forwarding,
            weight,
            upper_threshold: self.upper_threshold,
            lower_threshold: self.lower_threshold,
            health_check: self.health_check.clone().map(Arc::new),
        })
    }
}

fn method_name(method: ForwardingMethod) -> &'static str {
    match method {
        ForwardingMethod::Nat => "nat",
        ForwardingMethod::Dr => "dr",
        ForwardingMethod::Tun => "tun",
        ForwardingMethod::Fullnat => "fullnat",
    }
}

/// The kernel only forwards to unicast (or local) destinations.
pub(crate) fn check_unicast(address: IpAddr) -> Result<(), ValidationError> {
    let why = match address {
        a if a.is_unspecified() => Some("the unspecified address"),
        a if a.is_multicast() => Some("a multicast address"),
        IpAddr::V4(v4) if v4.is_broadcast() => Some("the broadcast address"),
        IpAddr::V6(v6) if v6.segments()[0] & 0xffc0 == 0xfe80 => {
            Some("link-local, which needs an interface scope that IPVS cannot carry")
        }
        _ => None,
    };
    match why {
        Some(why) => Err(ValidationError::new(
            "address",
            format!("{address} is {why}; a real server needs a unicast address"),
        )),
        None => Ok(()),
    }
}

fn validate_tunnel(tunnel: Tunnel) -> Result<Tunnel, ValidationError> {
    match (tunnel.kind, tunnel.port) {
        (TunnelType::Gue, None | Some(0)) => {
            return Err(ValidationError::new(
                "tunnel.port",
                "gue tunnels need the UDP port of the real server's decapsulation",
            ));
        }
        (TunnelType::Ipip | TunnelType::Gre, Some(_)) => {
            return Err(ValidationError::new(
                "tunnel.port",
                "only gue tunnels have a port",
            ));
        }
        _ => {}
    }
    match (tunnel.kind, tunnel.checksum) {
        (TunnelType::Ipip, TunnelChecksum::Csum | TunnelChecksum::Remcsum) => {
            Err(ValidationError::new(
                "tunnel.checksum",
                "ipip tunnels carry no checksum; use gue or gre",
            ))
        }
        (TunnelType::Gre, TunnelChecksum::Remcsum) => Err(ValidationError::new(
            "tunnel.checksum",
            "remote checksum offload (remcsum) is for gue tunnels only",
        )),
        _ => Ok(tunnel),
    }
}

impl From<&RealServer> for RealServerDoc {
    fn from(server: &RealServer) -> Self {
        RealServerDoc {
            id: Some(server.key.to_string()),
            address: Some(server.key.ip()),
            port: Some(server.key.port()),
            forwarding: server.forwarding.method(),
            tunnel: server.forwarding.tunnel(),
            weight: server.weight.into(),
            upper_threshold: server.upper_threshold,
            lower_threshold: server.lower_threshold,
            health_check: server.health_check.as_deref().cloned(),
        }
    }
}

impl Serialize for RealServer {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        RealServerDoc::from(self).serialize(serializer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tcp80() -> ServiceKey {
        "tcp:192.168.31.100:80".parse().unwrap()
    }

    fn doc(json: &str) -> RealServerDoc {
        ValidationError::from_json(json.as_bytes()).unwrap()
    }

    #[test]
    fn defaults_follow_ipvsadm() {
        let rs = doc(r#"{"address":"172.25.0.31"}"#)
            .validate(&tcp80())
            .unwrap();
        assert_eq!(rs.key.to_string(), "172.25.0.31:80");
        assert_eq!(rs.forwarding, Forwarding::Dr);
        assert_eq!(rs.weight, 1);
    }

    #[test]
    fn refusals_name_the_field() {
        let cases = [
            (r#"{"address":"172.25.0.31","weight":65536}"#, "weight"),
            (r#"{"address":"2001:db8::1","forwarding":"nat"}"#, "address"),
            (r#"{"address":"172.25.0.31","port":8080}"#, "port"),
            (r#"{"address":"0.0.0.0","forwarding":"nat"}"#, "address"),
            (r#"{"address":"224.0.0.1","forwarding":"nat"}"#, "address"),
            (
                r#"{"address":"172.25.0.31","forwarding":"nat","tunnel":{}}"#,
                "tunnel",
            ),
            (
                r#"{"address":"172.25.0.31","forwarding":"tun","tunnel":{"type":"gue"}}"#,
                "tunnel.port",
            ),
            (
                r#"{"address":"172.25.0.31","forwarding":"tun","tunnel":{"type":"ipip","port":1}}"#,
                "tunnel.port",
            ),
            (
                r#"{"address":"172.25.0.31","upper_threshold":10,"lower_threshold":11}"#,
                "lower_threshold",
            ),
            (r#"{"port":80}"#, "address"),
            (r#"{"address":"fe80::1","forwarding":"tun"}"#, "address"),
            (
                r#"{"address":"172.25.0.31","upper_threshold":2147483648}"#,
                "upper_threshold",
            ),
            (
                r#"{"id":"172.25.0.31:80","port":81,"forwarding":"nat"}"#,
                "port",
            ),
        ];
        for (json, field) in cases {
            let err = doc(json).validate(&tcp80()).unwrap_err();
            assert_eq!(err.field, field, "{json}: {err}");
        }
    }

    #[test]
    fn nat_maps_ports_and_tun_crosses_families() {
        let rs = doc(r#"{"address":"172.25.0.31","port":8080,"forwarding":"nat","weight":0}"#)
            .validate(&tcp80())
            .unwrap();
        assert_eq!(rs.key.port(), 8080);
        assert_eq!(rs.weight, 0);
        let rs = doc(r#"{"address":"2001:db8::7","forwarding":"tun","tunnel":{"type":"gue","port":6080,"checksum":"remcsum"}}"#)
            .validate(&tcp80())
            .unwrap();
        assert_eq!(rs.forwarding.tunnel().unwrap().port, Some(6080));
    }

    #[test]
    fn output_reads_back_as_the_same_server() {
        let rs = doc(r#"{"address":"10.1.2.3","forwarding":"tun","tunnel":{"type":"gre","checksum":"csum"},"weight":7,"upper_threshold":100}"#)
            .validate(&tcp80())
            .unwrap();
        let json = serde_json::to_vec(&rs).unwrap();
        assert_eq!(
            doc(std::str::from_utf8(&json).unwrap())
                .validate(&tcp80())
                .unwrap(),
            rs
        );
    }
}
