//! Fullnat's source NAT: nftables tables of lvsd's own (`table ip lvsd`,
//! `table ip6 lvsd`), rendered as text and replaced atomically by one
//! `nft -f -` transaction. lvsd never writes outside these tables.

use std::fmt;
use std::io::Write;
use std::net::{IpAddr, SocketAddr};
use std::process::{Command, Stdio};

use serde::{Deserialize, Serialize};

use crate::model::{AddressFamily, ServiceKey};

/// The name of lvsd's tables, one per family.
pub const TABLE: &str = "lvsd";

/// Packets IPVS forwards from `service` to fullnat real server `server` leave
/// the director with the director's address as their source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SnatRule {
    pub service: ServiceKey,
    /// Port 0: the packet's own port (firewall-mark services).
    pub server: SocketAddr,
}

impl SnatRule {
    pub fn family(&self) -> AddressFamily {
        self.service.family()
    }

    /// The rule's nft statement, less its action.
    fn matches(&self) -> String {
        let ip = nft_family(self.family()).1;
        let rip = self.server.ip();
        match self.service {
            ServiceKey::Addr { protocol, addr } => format!(
                "{ip} daddr {rip} {proto} dport {rport} ct original {ip} daddr {vip} ct original proto-dst {vport}",
                proto = protocol.as_str(),
                rport = self.server.port(),
                vip = addr.ip(),
                vport = addr.port(),
            ),
            ServiceKey::Fwmark { mark, .. } => format!("meta mark {mark:#x} {ip} daddr {rip}"),
        }
    }
}

impl fmt::Display for SnatRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let server = match self.server.port() {
            0 => self.server.ip().to_string(),
            _ => self.server.to_string(),
        };
        write!(f, "{} -> {server}", self.service)
    }
}

/// An nftables family lvsd keeps a table in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NftFamily {
    Ip,
    Ip6,
}

impl NftFamily {
    pub fn of(family: AddressFamily) -> Self {
        nft_family(family).0
    }

    pub fn as_str(self) -> &'static str {
        match self {
            NftFamily::Ip => "ip",
            NftFamily::Ip6 => "ip6",
        }
    }
}

impl fmt::Display for NftFamily {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "table {} {TABLE}", self.as_str())
    }
}

fn nft_family(family: AddressFamily) -> (NftFamily, &'static str) {
    match family {
        AddressFamily::Ipv4 => (NftFamily::Ip, "ip"),
        AddressFamily::Ipv6 => (NftFamily::Ip6, "ip6"),
    }
}

/// The script that makes `family`'s table hold exactly `rules` (those of
/// that family): declared, deleted and defined again in one transaction, so
/// no packet ever sees a half-written table.
pub fn render(family: NftFamily, rules: &[SnatRule], snat_address: Option<IpAddr>) -> String {
    let name = family.as_str();
    let action = match snat_address {
        Some(a) if NftFamily::of(AddressFamily::of(a)) == family => format!("snat to {a}"),
        _ => "masquerade".to_string(),
    };
    let mut text = format!(
        "table {name} {TABLE} {{}}\ndelete table {name} {TABLE}\ntable {name} {TABLE} {{\n"
    );
    text.push_str(
        "\tchain postrouting {\n\t\ttype nat hook postrouting priority srcnat; policy accept;\n",
    );
    for rule in rules.iter().filter(|r| NftFamily::of(r.family()) == family) {
        text.push_str(&format!(
            "\t\t{} {action} comment \"fullnat {rule}\"\n",
            rule.matches()
        ));
    }
    text.push_str("\t}\n}\n");
    text
}

/// The script that removes `family`'s table, present or not.
pub fn render_delete(family: NftFamily) -> String {
    let name = family.as_str();
    format!("table {name} {TABLE} {{}}\ndelete table {name} {TABLE}\n")
}

/// Whether `family`'s lvsd table exists.
pub fn exists(family: NftFamily) -> bool {
    Command::new("nft")
        .args(["list", "table", family.as_str(), TABLE])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Runs `nft -f -` with `script`; the error carries nft's own message.
pub fn run(script: &str) -> Result<(), String> {
    let mut child = Command::new("nft")
        .args(["-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| {
            format!("cannot run nft (nftables' command, needed for fullnat's source NAT): {e}")
        })?;
    child
        .stdin
        .take()
        .expect("stdin is piped")
        .write_all(script.as_bytes())
        .map_err(|e| format!("writing to nft: {e}"))?;
    let out = child
        .wait_with_output()
        .map_err(|e| format!("waiting for nft: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "nft refused the ruleset ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(service: &str, server: &str) -> SnatRule {
        SnatRule {
            service: service.parse().unwrap(),
            server: server.parse().unwrap(),
        }
    }

    #[test]
    fn renders_one_rule_per_fullnat_server_of_the_family() {
        let rules = [
            rule("tcp:172.25.0.100:80", "10.9.0.31:8080"),
            rule("fwmark:12", "10.9.0.32:0"),
            rule("udp:[fd00::100]:53", "[fd00:9::31]:53"),
        ];
        let cases = [
            (
                NftFamily::Ip,
                None,
                "table ip lvsd {}\ndelete table ip lvsd\ntable ip lvsd {\n\tchain postrouting {\n\t\ttype nat hook postrouting priority srcnat; policy accept;\n\
                 \t\tip daddr 10.9.0.31 tcp dport 8080 ct original ip daddr 172.25.0.100 ct original proto-dst 80 masquerade comment \"fullnat tcp:172.25.0.100:80 -> 10.9.0.31:8080\"\n\
                 \t\tmeta mark 0xc ip daddr 10.9.0.32 masquerade comment \"fullnat fwmark:12 -> 10.9.0.32\"\n\t}\n}\n",
            ),
            (
                NftFamily::Ip6,
                Some("172.25.0.1".parse().unwrap()),
                "table ip6 lvsd {}\ndelete table ip6 lvsd\ntable ip6 lvsd {\n\tchain postrouting {\n\t\ttype nat hook postrouting priority srcnat; policy accept;\n\
                 \t\tip6 daddr fd00:9::31 udp dport 53 ct original ip6 daddr fd00::100 ct original proto-dst 53 masquerade comment \"fullnat udp:[fd00::100]:53 -> [fd00:9::31]:53\"\n\t}\n}\n",
            ),
        ];
        for (family, snat, want) in cases {
            assert_eq!(render(family, &rules, snat), want);
        }
        let snat = render(
            NftFamily::Ip,
            &rules[..1],
            Some("172.25.0.1".parse().unwrap()),
        );
        assert!(
            snat.contains("proto-dst 80 snat to 172.25.0.1 comment"),
            "{snat}"
        );
    }
}
