//! Service names `ipvsadm -S` (without `-n`) prints for ports it finds in
//! `/etc/services`. lvsd has no such file to trust on the server, so it knows
//! the common ones only; anything else must be numeric.

/// Names and aliases as Debian's `netbase` lists them.
const WELL_KNOWN: &[(&str, u16)] = &[
    ("ftp-data", 20),
    ("ftp", 21),
    ("ssh", 22),
    ("telnet", 23),
    ("smtp", 25),
    ("domain", 53),
    ("tftp", 69),
    ("http", 80),
    ("www", 80),
    ("kerberos", 88),
    ("pop3", 110),
    ("sunrpc", 111),
    ("nntp", 119),
    ("ntp", 123),
    ("imap2", 143),
    ("imap", 143),
    ("snmp", 161),
    ("ldap", 389),
    ("https", 443),
    ("microsoft-ds", 445),
    ("submissions", 465),
    ("ssmtp", 465),
    ("syslog", 514),
    ("submission", 587),
    ("ldaps", 636),
    ("imaps", 993),
    ("pop3s", 995),
    ("ms-sql-s", 1433),
    ("openvpn", 1194),
    ("radius", 1812),
    ("radius-acct", 1813),
    ("mysql", 3306),
    ("ms-wbt-server", 3389),
    ("sip", 5060),
    ("sip-tls", 5061),
    ("postgresql", 5432),
    ("http-alt", 8080),
];

pub(crate) fn port_of_service_name(name: &str) -> Option<u16> {
    WELL_KNOWN
        .iter()
        .find(|(known, _)| *known == name)
        .map(|(_, port)| *port)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn knows_the_common_names_only() {
        assert_eq!(port_of_service_name("http"), Some(80));
        assert_eq!(port_of_service_name("https"), Some(443));
        assert_eq!(port_of_service_name("domain"), Some(53));
        assert_eq!(port_of_service_name("HTTP"), None);
        assert_eq!(port_of_service_name("gopher-plus"), None);
    }
}
