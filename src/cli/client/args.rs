//! Arguments shared by the draft commands, spelled as ipvsadm spells them.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use clap::Args;
use clap::builder::{PossibleValuesParser, TypedValueParser};

use crate::model::{AddressFamily, Protocol, Scheduler, ServiceKey};

/// An address with an optional port, as `-t`, `-u`, `--sctp-service` and `-r` take it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HostPort {
    pub ip: IpAddr,
    pub port: Option<u16>,
}

/// `ADDRESS[:PORT]`: `192.168.31.100:80`, `192.168.31.100:http`,
/// `[2001:db8::1]:443`, or a bare address (no port).
pub fn parse_host_port(text: &str) -> Result<HostPort, String> {
    if let Some(rest) = text.strip_prefix('[') {
        let (address, after) = rest
            .split_once(']')
            .ok_or("missing `]` after the IPv6 address")?;
        let ip = address.parse::<Ipv6Addr>().map_err(|_| {
            format!("`{address}` is not an IPv6 address (brackets are for IPv6 only)")
        })?;
        let port = match after {
            "" => None,
            _ => Some(port(
                after
                    .strip_prefix(':')
                    .ok_or("expected `:PORT` after `]`")?,
            )?),
        };
        return Ok(HostPort {
            ip: IpAddr::V6(ip),
            port,
        });
    }
    if let Ok(ip) = text.parse::<Ipv6Addr>() {
        return Ok(HostPort {
            ip: IpAddr::V6(ip),
            port: None,
        });
    }
    let (host, port_text) = match text.rsplit_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (text, None),
    };
    let ip = host.parse::<Ipv4Addr>().map_err(|_| {
        if host.contains(':') {
            format!("`{text}` is not an address: write IPv6 with a port as [ADDRESS]:PORT")
        } else if host.is_empty() || host.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
            format!(
                "`{host}` is not an IPv4 address: expected ADDRESS[:PORT] such as 192.168.31.100:80"
            )
        } else {
            format!("`{host}` is a host name: lvsd takes numeric addresses only")
        }
    })?;
    Ok(HostPort {
        ip: IpAddr::V4(ip),
        port: port_text.map(port).transpose()?,
    })
}

fn port(text: &str) -> Result<u16, String> {
    text.parse::<u16>()
        .ok()
        .or_else(|| crate::ipvsadm::port_of_service_name(text))
        .ok_or_else(|| {
            format!("`{text}` is not a port: expected 0 to 65535 or a well-known name such as http")
        })
}

/// A firewall mark, 1 to 4294967295.
fn parse_mark(text: &str) -> Result<u32, String> {
    match text.parse::<u32>() {
        Ok(mark) if mark > 0 => Ok(mark),
        _ => Err(format!(
            "`{text}` is not a firewall mark: expected 1 to 4294967295"
        )),
    }
}

/// Seconds, or a duration such as `15m` or `1h`.
pub fn parse_secs(text: &str) -> Result<u32, String> {
    if let Ok(secs) = text.parse::<u32>() {
        return Ok(secs);
    }
    let duration = humantime::parse_duration(text).map_err(|_| {
        format!("`{text}` is not a duration: expected seconds (900) or a duration such as 15m")
    })?;
    u32::try_from(duration.as_secs()).map_err(|_| format!("`{text}` is too long"))
}

pub fn scheduler_parser() -> impl TypedValueParser<Value = Scheduler> {
    PossibleValuesParser::new(Scheduler::ALL.map(|s| s.as_str()))
        .map(|name| name.parse::<Scheduler>().expect("offered names parse"))
}

/// The virtual service a command is about: one of `-t`, `-u`,
/// `--sctp-service` or `-f` (with `-6` for an IPv6 firewall mark), as the
/// client's draft commands and the local and client `lvsd zero` take it.
/// Required; a command where it is optional says so with
/// `#[command(mut_group("service", |g| g.required(false)))]` and flattens
/// `Option<ServiceArg>`.
#[derive(Debug, Clone, Args)]
#[group(id = "service", required = true, multiple = true)]
pub struct ServiceArg {
    /// TCP virtual service VIP:PORT ([IPv6]:PORT); no port means all ports (needs -p)
    #[arg(short = 't', long = "tcp-service", value_name = "VIP:PORT", value_parser = parse_host_port,
        conflicts_with_all = ["udp", "sctp", "fwmark"], help_heading = "Virtual service")]
    tcp: Option<HostPort>,
    /// UDP virtual service VIP:PORT
    #[arg(short = 'u', long = "udp-service", value_name = "VIP:PORT", value_parser = parse_host_port,
        conflicts_with_all = ["sctp", "fwmark"], help_heading = "Virtual service")]
    udp: Option<HostPort>,
    /// SCTP virtual service VIP:PORT
    #[arg(long = "sctp-service", visible_alias = "sctp", value_name = "VIP:PORT", value_parser = parse_host_port,
        conflicts_with = "fwmark", help_heading = "Virtual service")]
    sctp: Option<HostPort>,
    /// Firewall-mark service: packets that iptables/nftables marked MARK
    #[arg(short = 'f', long = "fwmark-service", value_name = "MARK", value_parser = parse_mark, help_heading = "Virtual service")]
    fwmark: Option<u32>,
    /// The firewall-mark service is IPv6 (after -f)
    #[arg(
        short = '6',
        long = "ipv6",
        requires = "fwmark",
        help_heading = "Virtual service"
    )]
    ipv6: bool,
}

impl ServiceArg {
    pub fn key(&self) -> ServiceKey {
        let addr = |protocol, hp: HostPort| ServiceKey::Addr {
            protocol,
            addr: SocketAddr::new(hp.ip, hp.port.unwrap_or(0)),
        };
        match (self.tcp, self.udp, self.sctp, self.fwmark) {
            (Some(hp), ..) => addr(Protocol::Tcp, hp),
            (_, Some(hp), ..) => addr(Protocol::Udp, hp),
            (_, _, Some(hp), _) => addr(Protocol::Sctp, hp),
            (.., Some(mark)) => {
                let family = if self.ipv6 {
                    AddressFamily::Ipv6
                } else {
                    AddressFamily::Ipv4
                };
                ServiceKey::Fwmark { mark, family }
            }
            (None, None, None, None) => {
                unreachable!("clap requires one of -t, -u, --sctp-service, -f")
            }
        }
    }
}

/// `-r RIP[:PORT]`.
#[derive(Debug, Clone, Args)]
pub struct ServerArg {
    /// Real server address, with the port when it differs from the virtual port (NAT only)
    #[arg(short = 'r', long = "real-server", value_name = "RIP[:PORT]", value_parser = parse_host_port, help_heading = "Real server")]
    real_server: HostPort,
}

impl ServerArg {
    pub fn host_port(&self) -> HostPort {
        self.real_server
    }

    /// The real server's id within `service`: the port defaults to the virtual port.
    pub fn id(&self, service: &ServiceKey) -> String {
        let hp = self.host_port();
        SocketAddr::new(hp.ip, hp.port.unwrap_or(service.port())).to_string()
    }
}

/// `--if-match ETAG` of every draft write.
#[derive(Debug, Clone, Args)]
pub struct IfMatch {
    /// Change the draft only if it is still this version (its ETag, from `lvsd draft show`)
    #[arg(
        long = "if-match",
        value_name = "ETAG",
        help_heading = "Server options"
    )]
    pub if_match: Option<String>,
}

impl IfMatch {
    /// The ETag to send: the one given, else the one this command read.
    pub fn or<'a>(&'a self, read: &'a str) -> &'a str {
        self.if_match.as_deref().unwrap_or(read)
    }

    pub fn given(&self) -> Option<&str> {
        self.if_match.as_deref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_tree_is_consistent() {
        <crate::cli::Cli as clap::CommandFactory>::command().debug_assert();
    }

    #[test]
    fn host_ports() {
        let hp = |text| parse_host_port(text).unwrap();
        assert_eq!(
            hp("192.168.31.100:80"),
            HostPort {
                ip: "192.168.31.100".parse().unwrap(),
                port: Some(80)
            }
        );
        assert_eq!(hp("192.168.31.100:https").port, Some(443));
        assert_eq!(hp("172.25.0.31").port, None);
        assert_eq!(hp("[2001:db8::1]:53").port, Some(53));
        assert_eq!(
            hp("2001:db8::1"),
            HostPort {
                ip: "2001:db8::1".parse().unwrap(),
                port: None
            }
        );
        for bad in [
            "192.168.31:80",
            "web1:80",
            "192.168.31.100:99999",
            "[10.0.0.1]:80",
            "2001:db8::1:80:x",
            "",
        ] {
            assert!(parse_host_port(bad).is_err(), "{bad}");
        }
        assert!(
            parse_host_port("web1:80")
                .unwrap_err()
                .contains("host name")
        );
    }

    #[test]
    fn durations() {
        assert_eq!(parse_secs("900"), Ok(900));
        assert_eq!(parse_secs("15m"), Ok(900));
        assert!(parse_secs("soon").is_err());
    }
}
