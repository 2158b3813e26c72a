//! The kernel's connection table, as `/proc/net/ip_vs_conn` lists it (the
//! netlink interface has no dump of connections; `ipvsadm -Lc` reads the
//! same file). Entries of the reader's network namespace only.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Where the kernel lists connections.
pub const PROC_FILE: &str = "/proc/net/ip_vs_conn";

/// One connection (or persistence template) IPVS tracks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Connection {
    /// `TCP`, `UDP`, `SCTP`; `IP` for a persistence template.
    pub protocol: String,
    /// The client.
    #[schema(value_type = String)]
    pub source: SocketAddr,
    /// The virtual service address the client reached.
    #[schema(value_type = String)]
    pub virtual_addr: SocketAddr,
    /// The real server.
    #[schema(value_type = String)]
    pub destination: SocketAddr,
    /// `ESTABLISHED`, `SYN_RECV`, `FIN_WAIT`, `NONE` (templates), ...
    pub state: String,
    /// Seconds until the entry expires.
    pub expires_secs: u64,
    /// The persistence engine's name and data (`sip`), when one made it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pe: Option<String>,
}

/// Reads this network namespace's connection table.
pub fn read() -> std::io::Result<Vec<Connection>> {
    let text = std::fs::read_to_string(PROC_FILE)?;
    parse(&text).map_err(|e| {
        std::io::Error::new(std::io::ErrorKind::InvalidData, format!("{PROC_FILE}: {e}"))
    })
}

/// Parses the file's text: a title line, then one line per entry.
pub fn parse(text: &str) -> Result<Vec<Connection>, String> {
    text.lines()
        .enumerate()
        .skip(1)
        .filter(|(_, line)| !line.trim().is_empty())
        .map(|(i, line)| parse_line(line).map_err(|e| format!("line {}: {e}: `{line}`", i + 1)))
        .collect()
}

fn parse_line(line: &str) -> Result<Connection, String> {
    let words: Vec<&str> = line.split_whitespace().collect();
    if words.len() < 9 {
        return Err(format!(
            "{} fields where 9 or more were expected",
            words.len()
        ));
    }
    let endpoint = |addr: &str, port: &str| -> Result<SocketAddr, String> {
        let port = u16::from_str_radix(port, 16)
            .map_err(|_| format!("`{port}` is not a hexadecimal port"))?;
        Ok(SocketAddr::new(address(addr)?, port))
    };
    Ok(Connection {
        protocol: words[0].to_string(),
        source: endpoint(words[1], words[2])?,
        virtual_addr: endpoint(words[3], words[4])?,
        destination: endpoint(words[5], words[6])?,
        state: words[7].to_string(),
        expires_secs: words[8]
            .parse()
            .map_err(|_| format!("`{}` is not a number of seconds", words[8]))?,
        pe: (words.len() > 9).then(|| words[9..].join(" ")),
    })
}

/// IPv4 as 8 hexadecimal digits in network order (`AC19001F`); IPv6 in
/// full colon form (`2001:0db8:0000:...`).
fn address(text: &str) -> Result<IpAddr, String> {
    if text.contains(':') {
        return text
            .parse::<Ipv6Addr>()
            .map(IpAddr::V6)
            .map_err(|_| format!("`{text}` is not an IPv6 address"));
    }
    if text.len() != 8 {
        return Err(format!(
            "`{text}` is not an IPv4 address in 8 hexadecimal digits"
        ));
    }
    u32::from_str_radix(text, 16)
        .map(|n| IpAddr::V4(Ipv4Addr::from(n)))
        .map_err(|_| format!("`{text}` is not an IPv4 address in hexadecimal"))
}

/// The entries as `ipvsadm -Lcn` prints them.
pub fn render(connections: &[Connection]) -> String {
    use std::fmt::Write;
    let mut out = String::from("IPVS connection entries\n");
    let _ = writeln!(
        out,
        "pro expire {:<11} {:<18} {:<18} destination",
        "state", "source", "virtual"
    );
    for c in connections {
        let expire = format!("{:02}:{:02}", c.expires_secs / 60, c.expires_secs % 60);
        let _ = writeln!(
            out,
            "{:<3} {:<6} {:<11} {:<18} {:<18} {}",
            c.protocol, expire, c.state, c.source, c.virtual_addr, c.destination
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const TITLE: &str =
        "Pro FromIP   FPrt ToIP     TPrt DestIP   DPrt State       Expires PEName PEData\n";

    #[test]
    fn entries_parse_as_the_kernel_prints_them() {
        let cases: &[(&str, &str, &str, &str, &str, u64)] = &[
            (
                "TCP AC190002 B4F2 C0A81F64 0050 AC19001F 0050 ESTABLISHED     899",
                "172.25.0.2:46322",
                "192.168.31.100:80",
                "172.25.0.31:80",
                "ESTABLISHED",
                899,
            ),
            (
                "UDP 0A000001 D431 0A0000C8 0035 0A00000B 1435 UDP             287",
                "10.0.0.1:54321",
                "10.0.0.200:53",
                "10.0.0.11:5173",
                "UDP",
                287,
            ),
            (
                "IP  AC190002 0000 C0A81F64 0050 AC19001F 0050 NONE            359",
                "172.25.0.2:0",
                "192.168.31.100:80",
                "172.25.0.31:80",
                "NONE",
                359,
            ),
            (
                "TCP 2001:0db8:0000:0000:0000:0000:0000:0002 A000 2001:0db8:0000:0000:0000:0000:0000:0064 01BB \
                 2001:0db8:0000:0000:0000:0000:0000:001f 01BB FIN_WAIT         58",
                "[2001:db8::2]:40960",
                "[2001:db8::64]:443",
                "[2001:db8::1f]:443",
                "FIN_WAIT",
                58,
            ),
        ];
        for (line, source, virt, dest, state, expires) in cases {
            let parsed = parse(&format!("{TITLE}{line}\n")).unwrap();
            assert_eq!(parsed.len(), 1, "{line}");
            let c = &parsed[0];
            assert_eq!(c.source.to_string(), *source, "{line}");
            assert_eq!(c.virtual_addr.to_string(), *virt, "{line}");
            assert_eq!(c.destination.to_string(), *dest, "{line}");
            assert_eq!(c.state, *state, "{line}");
            assert_eq!(c.expires_secs, *expires, "{line}");
            assert_eq!(c.pe, None);
        }
    }

    #[test]
    fn persistence_engine_data_is_kept() {
        let text = format!(
            "{TITLE}UDP 0A000001 13C4 0A0000C8 13C4 0A00000B 13C4 UDP             179 sip 6162\n"
        );
        assert_eq!(parse(&text).unwrap()[0].pe.as_deref(), Some("sip 6162"));
    }

    #[test]
    fn damaged_lines_are_refused_naming_the_line() {
        for line in [
            "TCP AC190002 B4F2",
            "TCP AC1900 B4F2 C0A81F64 0050 AC19001F 0050 ESTABLISHED 899",
            "TCP AC190002 XYZW C0A81F64 0050 AC19001F 0050 ESTABLISHED 899",
            "TCP AC190002 B4F2 C0A81F64 0050 AC19001F 0050 ESTABLISHED soon",
        ] {
            let err = parse(&format!("{TITLE}{line}\n")).unwrap_err();
            assert!(err.starts_with("line 2: "), "{err}");
        }
    }

    #[test]
    fn rendering_matches_ipvsadm_lcn() {
        let text =
            format!("{TITLE}TCP AC190002 B4F2 C0A81F64 0050 AC19001F 0050 ESTABLISHED     899\n");
        let expected = "IPVS connection entries\n\
            pro expire state       source             virtual            destination\n\
            TCP 14:59  ESTABLISHED 172.25.0.2:46322   192.168.31.100:80  172.25.0.31:80\n";
        assert_eq!(render(&parse(&text).unwrap()), expected);
    }
}
