//! Identities of virtual services and real servers, and their readable ids
//! (`tcp:192.168.31.100:80`, `udp:[2001:db8::1]:53`, `fwmark:12`,
//! `fwmark6:12`, and `172.25.0.31:80` for a real server).

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::ValidationError;

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    Tcp,
    Udp,
    Sctp,
}

impl Protocol {
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
            Protocol::Sctp => "sctp",
        }
    }
}

impl FromStr for Protocol {
    type Err = ValidationError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "tcp" => Ok(Protocol::Tcp),
            "udp" => Ok(Protocol::Udp),
            "sctp" => Ok(Protocol::Sctp),
            _ => Err(ValidationError::new(
                "protocol",
                format!("unknown protocol `{s}`, expected tcp, udp or sctp"),
            )),
        }
    }
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
pub enum AddressFamily {
    #[default]
    Ipv4,
    Ipv6,
}

impl AddressFamily {
    pub fn of(addr: IpAddr) -> Self {
        match addr {
            IpAddr::V4(_) => AddressFamily::Ipv4,
            IpAddr::V6(_) => AddressFamily::Ipv6,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            AddressFamily::Ipv4 => "ipv4",
            AddressFamily::Ipv6 => "ipv6",
        }
    }

    /// Longest prefix of an address of this family.
    pub fn max_prefix(self) -> u8 {
        match self {
            AddressFamily::Ipv4 => 32,
            AddressFamily::Ipv6 => 128,
        }
    }
}

/// What identifies a virtual service in the kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ServiceKey {
    Addr {
        protocol: Protocol,
        addr: SocketAddr,
    },
    Fwmark {
        mark: u32,
        family: AddressFamily,
    },
}

impl ServiceKey {
    pub fn family(&self) -> AddressFamily {
        match self {
            ServiceKey::Addr { addr, .. } => AddressFamily::of(addr.ip()),
            ServiceKey::Fwmark { family, .. } => *family,
        }
    }

    /// The virtual port, or 0 for firewall-mark services (which match any port).
    pub fn port(&self) -> u16 {
        match self {
            ServiceKey::Addr { addr, .. } => addr.port(),
            ServiceKey::Fwmark { .. } => 0,
        }
    }

    pub fn is_fwmark(&self) -> bool {
        matches!(self, ServiceKey::Fwmark { .. })
    }
}

impl fmt::Display for ServiceKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ServiceKey::Addr { protocol, addr } => write!(f, "{}:{addr}", protocol.as_str()),
            ServiceKey::Fwmark {
                mark,
                family: AddressFamily::Ipv4,
            } => write!(f, "fwmark:{mark}"),
            ServiceKey::Fwmark {
                mark,
                family: AddressFamily::Ipv6,
            } => write!(f, "fwmark6:{mark}"),
        }
    }
}

impl FromStr for ServiceKey {
    type Err = ValidationError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = |why: &str| {
            ValidationError::new(
                "service",
                format!(
                    "`{s}` is not a service id ({why}); expected tcp:VIP:PORT, udp:VIP:PORT, sctp:VIP:PORT, fwmark:MARK or fwmark6:MARK"
                ),
            )
        };
        let (kind, rest) = s.split_once(':').ok_or_else(|| bad("no `:`"))?;
        match kind {
            "fwmark" | "fwmark6" => {
                let mark = parse_fwmark(rest).map_err(|e| bad(&e.message))?;
                let family = if kind == "fwmark" {
                    AddressFamily::Ipv4
                } else {
                    AddressFamily::Ipv6
                };
                Ok(ServiceKey::Fwmark { mark, family })
            }
            _ => {
                let protocol = kind.parse::<Protocol>().map_err(|e| bad(&e.message))?;
                let addr = rest
                    .parse::<SocketAddr>()
                    .map_err(|_| bad("address must be IPv4:PORT or [IPv6]:PORT"))?;
                Ok(ServiceKey::Addr { protocol, addr })
            }
        }
    }
}

pub(crate) fn parse_fwmark(s: &str) -> Result<u32, ValidationError> {
    match s.parse::<u32>() {
        Ok(0) | Err(_) => Err(ValidationError::new(
            "fwmark",
            format!("`{s}` is not a firewall mark: expected an integer from 1 to 4294967295"),
        )),
        Ok(mark) => Ok(mark),
    }
}

impl Serialize for ServiceKey {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for ServiceKey {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        s.parse()
            .map_err(|e: ValidationError| serde::de::Error::custom(e.message))
    }
}

/// What identifies a real server within its service: address and port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ServerKey(pub SocketAddr);

impl ServerKey {
    pub fn ip(&self) -> IpAddr {
        self.0.ip()
    }

    pub fn port(&self) -> u16 {
        self.0.port()
    }
}

impl fmt::Display for ServerKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl FromStr for ServerKey {
    type Err = ValidationError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        s.parse::<SocketAddr>().map(ServerKey).map_err(|_| {
            ValidationError::new(
                "server",
                format!("`{s}` is not a real server id: expected IPv4:PORT or [IPv6]:PORT"),
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_ids_round_trip() {
        for id in [
            "tcp:192.168.31.100:80",
            "udp:[2001:db8::1]:53",
            "sctp:10.0.0.1:3868",
            "fwmark:12",
            "fwmark6:4294967295",
        ] {
            let key: ServiceKey = id.parse().unwrap();
            assert_eq!(key.to_string(), id);
        }
    }

    #[test]
    fn bad_service_ids_are_refused() {
        for id in [
            "",
            "tcp",
            "tcp:1.2.3.4",
            "icmp:1.2.3.4:1",
            "fwmark:0",
            "fwmark:-1",
            "tcp:2001:db8::1:80",
            "fwmark:x",
        ] {
            let err = id.parse::<ServiceKey>().unwrap_err();
            assert_eq!(err.field, "service", "{id}");
        }
    }
}
