//! A spec written as keepalived.conf: `virtual_server` blocks with their
//! real servers and checkers, and `lvs_timeouts`. What keepalived cannot say
//! is written as a `# not in keepalived:` comment where it belongs, so that
//! nothing is lost without a word. Reading the result back with [`import`]
//! gives the same spec whenever there is no such comment.
//!
//! [`import`]: super::import

use std::fmt::Write;
use std::net::IpAddr;

use crate::model::{
    Forwarding, HealthCheck, OnFailure, Probe, Quorum, RealServer, ServiceKey, Spec,
    TunnelChecksum, TunnelType, VirtualService,
};

/// keepalived.conf for `spec`; `title` goes into the first comment line.
pub fn render(spec: &Spec, title: &str) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "! {title}");
    let _ = writeln!(
        out,
        "! Written by lvsd: virtual servers only; VRRP stays in your own configuration."
    );
    let timeouts = spec.timeouts;
    if !timeouts.is_empty() || !spec.sync_daemons().is_empty() {
        out.push_str("\nglobal_defs {\n");
        if !timeouts.is_empty() {
            let mut line = String::from("    lvs_timeouts");
            for (name, value) in [
                ("tcp", timeouts.tcp),
                ("tcpfin", timeouts.tcpfin),
                ("udp", timeouts.udp),
            ] {
                if let Some(secs) = value {
                    let _ = write!(line, " {name} {secs}");
                }
            }
            out.push_str(&line);
            out.push('\n');
        }
        for daemon in spec.sync_daemons() {
            let _ = writeln!(
                out,
                "    # not in keepalived: the {} sync daemon on {} (syncid {}): keepalived's lvs_sync_daemon follows a VRRP instance",
                daemon.role.as_str(),
                daemon.interface,
                daemon.syncid
            );
        }
        out.push_str("}\n");
    }
    for service in spec.services() {
        out.push('\n');
        service_block(&mut out, service);
    }
    out
}

fn service_block(out: &mut String, service: &VirtualService) {
    match service.key {
        ServiceKey::Addr { addr, .. } if addr.port() == 0 => {
            let _ = writeln!(out, "virtual_server {} {{", addr.ip());
        }
        ServiceKey::Addr { addr, .. } => {
            let _ = writeln!(out, "virtual_server {} {} {{", addr.ip(), addr.port());
        }
        ServiceKey::Fwmark { mark, .. } => {
            let _ = writeln!(out, "virtual_server fwmark {mark} {{");
        }
    }
    let line = |out: &mut String, text: &str| {
        let _ = writeln!(out, "    {text}");
    };
    line(out, &format!("lvs_sched {}", service.scheduler));
    match service.key {
        ServiceKey::Addr { protocol, .. } => line(
            out,
            &format!("protocol {}", protocol.as_str().to_uppercase()),
        ),
        ServiceKey::Fwmark { family, .. } => line(
            out,
            match family {
                crate::model::AddressFamily::Ipv4 => "ip_family inet",
                crate::model::AddressFamily::Ipv6 => "ip_family inet6",
            },
        ),
    }
    // keepalived's default forwarding is NAT; say the service's explicitly.
    let methods: Vec<Forwarding> = service.servers().iter().map(|s| s.forwarding).collect();
    let shared = methods
        .first()
        .copied()
        .filter(|first| methods.iter().all(|m| m == first));
    line(
        out,
        &format!("lvs_method {}", method(shared.unwrap_or(Forwarding::Nat))),
    );
    if let Some(p) = service.persistence {
        line(out, &format!("persistence_timeout {}", p.timeout));
        if p.netmask != service.key.family().max_prefix() {
            match service.key.family() {
                crate::model::AddressFamily::Ipv4 => line(
                    out,
                    &format!("persistence_granularity {}", p.ipv4_netmask()),
                ),
                crate::model::AddressFamily::Ipv6 => {
                    line(out, &format!("persistence_granularity {}", p.netmask))
                }
            }
        }
    }
    if let Some(engine) = service.persistence_engine {
        line(out, &format!("persistence_engine {}", engine.as_str()));
    }
    if service.one_packet {
        line(out, "ops");
    }
    for flag in service.sched_flags.names(service.scheduler) {
        line(out, &flag);
    }
    let health = service.health();
    match health.quorum {
        None => {}
        Some(Quorum::Servers(n)) if service.servers().iter().all(|s| s.weight == 1) => {
            line(out, &format!("quorum {n}"))
        }
        Some(Quorum::Servers(n)) => line(
            out,
            &format!(
                "# not in keepalived: quorum of {n} healthy servers (keepalived's quorum sums weights, and these differ)"
            ),
        ),
        Some(Quorum::Percent(p)) => line(
            out,
            &format!(
                "# not in keepalived: quorum of {p}% of the servers (keepalived's quorum is a sum of weights)"
            ),
        ),
    }
    if let Some(sorry) = &health.sorry_server {
        line(
            out,
            &format!(
                "sorry_server {}",
                address_port(sorry.key.ip(), sorry.key.port())
            ),
        );
        if sorry.forwarding != shared.unwrap_or(Forwarding::Nat) {
            line(
                out,
                &format!("sorry_server_lvs_method {}", method(sorry.forwarding)),
            );
        }
    }
    for server in service.servers() {
        server_block(out, service, server, shared);
    }
    out.push_str("}\n");
}

fn server_block(
    out: &mut String,
    service: &VirtualService,
    server: &RealServer,
    shared: Option<Forwarding>,
) {
    let port = server.key.port();
    let head = if service.key.is_fwmark() && port == 0 {
        server.key.ip().to_string()
    } else {
        address_port(server.key.ip(), port)
    };
    let _ = writeln!(out, "    real_server {head} {{");
    let line = |out: &mut String, text: &str| {
        let _ = writeln!(out, "        {text}");
    };
    line(out, &format!("weight {}", server.weight));
    if shared.is_none() {
        line(out, &format!("lvs_method {}", method(server.forwarding)));
    }
    if server.upper_threshold != 0 {
        line(out, &format!("uthreshold {}", server.upper_threshold));
    }
    if server.lower_threshold != 0 {
        line(out, &format!("lthreshold {}", server.lower_threshold));
    }
    if let Some(check) = service.health().checks.get(&server.key) {
        if check.on_failure == OnFailure::Quiesce {
            line(out, "inhibit_on_failure");
        }
        checker_block(out, check, port);
    }
    out.push_str("    }\n");
}

fn checker_block(out: &mut String, check: &HealthCheck, server_port: u16) {
    let line = |out: &mut String, text: &str| {
        let _ = writeln!(out, "            {text}");
    };
    let name = match &check.probe {
        Probe::Tcp => "TCP_CHECK",
        Probe::Http(http) if http.tls => "SSL_GET",
        Probe::Http(_) => "HTTP_GET",
        Probe::Udp { .. } => "UDP_CHECK",
        Probe::Dns { .. } => "DNS_CHECK",
        Probe::Exec { .. } => "MISC_CHECK",
    };
    let _ = writeln!(out, "        {name} {{");
    match &check.probe {
        Probe::Tcp => {}
        Probe::Http(http) => {
            let _ = writeln!(out, "            url {{");
            let _ = writeln!(out, "                path {}", word(&http.path));
            let codes = if http.expect_status.is_empty() {
                (200..=399).collect()
            } else {
                http.expect_status.clone()
            };
            let _ = writeln!(out, "                status_code {}", status_ranges(&codes));
            if let Some(expect) = &http.expect {
                let _ = writeln!(out, "                regex {}", word(&escape_regex(expect)));
            }
            let _ = writeln!(out, "            }}");
            if let Some(host) = &http.host {
                line(out, &format!("virtualhost {}", word(host)));
            }
            if http.method != "GET" {
                line(
                    out,
                    &format!(
                        "# not in keepalived: method {} (keepalived's HTTP_GET always GETs)",
                        http.method
                    ),
                );
            }
            if http.verify_tls {
                line(
                    out,
                    "# not in keepalived: verify_tls (SSL_GET verifies with the SSL block's ca only)",
                );
            }
        }
        Probe::Udp { send, expect } => {
            if !send.is_empty() {
                line(out, &format!("payload {}", hex(send)));
            }
            match expect {
                Some(expect) => line(out, &format!("require_reply {}", hex(expect.as_bytes()))),
                None => line(out, "require_reply"),
            }
        }
        Probe::Dns {
            name,
            query_type,
            rcode,
        } => {
            line(
                out,
                &format!("type {}", super::query_type_name(*query_type)),
            );
            line(out, &format!("name {}", word(name)));
            if *rcode != 0 {
                line(
                    out,
                    &format!(
                        "# not in keepalived: expect_rcode {} (DNS_CHECK wants an answer)",
                        super::rcode_name(*rcode)
                    ),
                );
            }
        }
        Probe::Exec { program, args } => {
            let command: Vec<String> = std::iter::once(program)
                .chain(args)
                .map(|w| shell_word(w))
                .collect();
            line(out, &format!("misc_path {}", quoted(&command.join(" "))));
            line(
                out,
                &format!("misc_timeout {}", check.timeout.as_secs().max(1)),
            );
            if check.timeout.subsec_millis() != 0 {
                line(
                    out,
                    &format!(
                        "# not in keepalived: a timeout of {} ms (misc_timeout takes whole seconds)",
                        check.timeout.as_millis()
                    ),
                );
            }
        }
    }
    if check.port != server_port {
        line(out, &format!("connect_port {}", check.port));
    }
    if !matches!(check.probe, Probe::Exec { .. }) {
        line(
            out,
            &format!("connect_timeout {}", seconds(check.timeout.as_millis())),
        );
    }
    line(
        out,
        &format!("delay_loop {}", seconds(check.interval.as_millis())),
    );
    line(out, &format!("retry {}", check.fall - 1));
    line(
        out,
        &format!("delay_before_retry {}", seconds(check.interval.as_millis())),
    );
    if check.rise != 1 {
        line(
            out,
            &format!(
                "# not in keepalived: rise {} (keepalived brings a server back after one good check)",
                check.rise
            ),
        );
    }
    let _ = writeln!(out, "        }}");
}

fn method(forwarding: Forwarding) -> String {
    match forwarding {
        Forwarding::Nat => "NAT".to_string(),
        Forwarding::Dr => "DR".to_string(),
        // keepalived has no FULLNAT: NAT plus lvsd's source NAT, which keepalived does not set up.
        Forwarding::Fullnat => {
            "NAT # not in keepalived: fullnat (lvsd adds source NAT on the director)".to_string()
        }
        Forwarding::Tun(tunnel) => {
            let mut text = String::from("TUN");
            match tunnel.kind {
                TunnelType::Ipip => {}
                TunnelType::Gre => text.push_str(" type gre"),
                TunnelType::Gue => {
                    let _ = write!(text, " type gue port {}", tunnel.port.unwrap_or_default());
                }
            }
            match tunnel.checksum {
                TunnelChecksum::None => {}
                TunnelChecksum::Csum => text.push_str(" csum"),
                TunnelChecksum::Remcsum => text.push_str(" remcsum"),
            }
            text
        }
    }
}

fn address_port(ip: IpAddr, port: u16) -> String {
    format!("{ip} {port}")
}

/// Milliseconds as keepalived's `<TIMER>` seconds.
fn seconds(ms: u128) -> String {
    match ms % 1000 {
        0 => format!("{}", ms / 1000),
        frac => format!(
            "{}.{}",
            ms / 1000,
            format!("{frac:03}").trim_end_matches('0')
        ),
    }
}

/// `text` as one word: bare when it is plain, quoted otherwise.
fn word(text: &str) -> String {
    let plain = !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_graphic() && !"\"'{}#!".contains(c));
    if plain {
        text.to_string()
    } else {
        quoted(text)
    }
}

fn quoted(text: &str) -> String {
    format!("\"{}\"", text.replace('\\', "\\\\").replace('"', "\\\""))
}

fn shell_word(word: &str) -> String {
    if !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:,@%+".contains(c))
    {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', "'\\''"))
    }
}

fn escape_regex(literal: &str) -> String {
    let mut out = String::new();
    for c in literal.chars() {
        if ".^$*+?()[]{}|\\".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Sorted codes as keepalived's ranges: `200-299 301 304`.
fn status_ranges(codes: &[u16]) -> String {
    let mut codes = codes.to_vec();
    codes.sort_unstable();
    codes.dedup();
    let mut parts = Vec::new();
    let mut i = 0;
    while i < codes.len() {
        let start = codes[i];
        while i + 1 < codes.len() && codes[i + 1] == codes[i] + 1 {
            i += 1;
        }
        parts.push(match codes[i] {
            end if end == start => start.to_string(),
            end => format!("{start}-{end}"),
        });
        i += 1;
    }
    parts.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_by_table() {
        assert_eq!(
            status_ranges(&[301, 200, 201, 202, 304, 303]),
            "200-202 301 303-304"
        );
        assert_eq!(seconds(1500), "1.5");
        assert_eq!(seconds(60000), "60");
        assert_eq!(seconds(2001), "2.001");
        assert_eq!(escape_regex("up. (ok)"), r"up\. \(ok\)");
        assert_eq!(
            super::super::map::literal_of_regex(&escape_regex("a.b*c\\d")).as_deref(),
            Some("a.b*c\\d")
        );
        assert_eq!(shell_word("it's"), r"'it'\''s'");
    }
}
