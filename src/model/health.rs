//! Health checks of real servers: what a service's `health_check` (and a
//! real server's override of it), `sorry_server` and `quorum` say.
//!
//! A check is written once per service; a real server may override any of
//! its fields. The two merge field by field (type-specific fields only when
//! both name the same type) and the result is validated per real server, so
//! an error names the field where it was written.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{ForwardingMethod, RealServer, RealServerDoc, ServerKey, ServiceKey, ValidationError};

/// How a real server is probed.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum CheckType {
    /// A TCP connection is accepted.
    Tcp,
    /// An HTTP request answers with an expected status (and body).
    Http,
    /// The same over TLS; the certificate is not verified unless `verify_tls`.
    Https,
    /// A UDP datagram gets a reply (containing `expect`).
    Udp,
    /// A DNS query over UDP answers with the expected rcode.
    Dns,
    /// A command exits 0; it gets the server in `LVSD_SERVER_ADDRESS` and `LVSD_SERVER_PORT`.
    Exec,
}

impl CheckType {
    pub fn as_str(self) -> &'static str {
        match self {
            CheckType::Tcp => "tcp",
            CheckType::Http => "http",
            CheckType::Https => "https",
            CheckType::Udp => "udp",
            CheckType::Dns => "dns",
            CheckType::Exec => "exec",
        }
    }
}

/// What a failed real server becomes.
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
pub enum OnFailure {
    /// Weight 0: established connections finish, new ones go elsewhere.
    #[default]
    Quiesce,
    /// Taken out of the table.
    Remove,
}

/// A health check as clients send it: on a service, every field; on a real
/// server, the fields that differ from the service's check.
#[derive(
    Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema, Default,
)]
#[serde(deny_unknown_fields)]
pub struct HealthCheckDoc {
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<CheckType>,
    /// The port probed; the real server's port when left out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    /// Milliseconds between two checks of a server (100 to 3600000; 2000 when left out).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval_ms: Option<u32>,
    /// Milliseconds one check may take, at most the interval (1000 when left out, or the interval if shorter).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u32>,
    /// Successes in a row that bring a failed server back (1 to 100; 2 when left out).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rise: Option<u32>,
    /// Failures in a row that take a server out (1 to 100; 3 when left out).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fall: Option<u32>,
    /// `quiesce` (weight 0, the default) or `remove`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_failure: Option<OnFailure>,
    /// http, https: the request method (GET when left out).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    /// http, https: the request path (`/` when left out).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// http, https: the status codes of a healthy answer (any 2xx or 3xx when left out).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expect_status: Option<Vec<u16>>,
    /// http, https: a substring of a healthy answer's body; udp: of its reply.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expect: Option<String>,
    /// http, https: the Host header (the server's address when left out).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// https: verify the server's certificate against the system's roots (off when left out).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verify_tls: Option<bool>,
    /// udp: the datagram sent (empty when left out).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub send: Option<String>,
    /// dns: the name asked for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query_name: Option<String>,
    /// dns: the record type asked for: A (the default), AAAA, CNAME, MX, NS, PTR, SOA, SRV, TXT.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query_type: Option<String>,
    /// dns: the answer's rcode: NOERROR (the default), FORMERR, SERVFAIL, NXDOMAIN, NOTIMP, REFUSED.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expect_rcode: Option<String>,
    /// exec: the program and its arguments, run without a shell.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<Vec<String>>,
}

/// A validated health check of one real server.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct HealthCheck {
    pub probe: Probe,
    /// The port probed.
    pub port: u16,
    pub interval: Duration,
    pub timeout: Duration,
    pub rise: u32,
    pub fall: u32,
    pub on_failure: OnFailure,
}

/// What a check sends and expects.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Probe {
    Tcp,
    Http(HttpProbe),
    Udp {
        send: Vec<u8>,
        expect: Option<String>,
    },
    Dns {
        name: String,
        query_type: u16,
        rcode: u8,
    },
    Exec {
        program: String,
        args: Vec<String>,
    },
}

impl Probe {
    pub fn kind(&self) -> CheckType {
        match self {
            Probe::Tcp => CheckType::Tcp,
            Probe::Http(http) if http.tls => CheckType::Https,
            Probe::Http(_) => CheckType::Http,
            Probe::Udp { .. } => CheckType::Udp,
            Probe::Dns { .. } => CheckType::Dns,
            Probe::Exec { .. } => CheckType::Exec,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct HttpProbe {
    pub tls: bool,
    pub verify_tls: bool,
    pub method: String,
    pub path: String,
    /// Empty: any 2xx or 3xx.
    pub expect_status: Vec<u16>,
    pub expect: Option<String>,
    pub host: Option<String>,
}

impl HttpProbe {
    pub fn status_ok(&self, status: u16) -> bool {
        if self.expect_status.is_empty() {
            (200..400).contains(&status)
        } else {
            self.expect_status.contains(&status)
        }
    }
}

pub const DEFAULT_INTERVAL_MS: u32 = 2000;
pub const DEFAULT_TIMEOUT_MS: u32 = 1000;
pub const DEFAULT_RISE: u32 = 2;
pub const DEFAULT_FALL: u32 = 3;
const INTERVAL_MS: std::ops::RangeInclusive<u32> = 100..=3_600_000;

/// DNS record types a check may ask for, with their numbers (RFC 1035, 2782, 3596).
const QUERY_TYPES: [(&str, u16); 9] = [
    ("A", 1),
    ("NS", 2),
    ("CNAME", 5),
    ("SOA", 6),
    ("PTR", 12),
    ("MX", 15),
    ("TXT", 16),
    ("AAAA", 28),
    ("SRV", 33),
];
const RCODES: [(&str, u16); 6] = [
    ("NOERROR", 0),
    ("FORMERR", 1),
    ("SERVFAIL", 2),
    ("NXDOMAIN", 3),
    ("NOTIMP", 4),
    ("REFUSED", 5),
];

impl HealthCheckDoc {
    /// `self` (a real server's override) over `service`'s check. Fields
    /// of one check type are inherited only when both say the same type.
    pub fn over(&self, service: &HealthCheckDoc) -> HealthCheckDoc {
        let same_type = self.kind.is_none() || self.kind == service.kind;
        fn pick<T: Clone>(same_type: bool, mine: &Option<T>, theirs: &Option<T>) -> Option<T> {
            match mine {
                Some(_) => mine.clone(),
                None if same_type => theirs.clone(),
                None => None,
            }
        }
        HealthCheckDoc {
            kind: self.kind.or(service.kind),
            port: self.port.or(service.port),
            interval_ms: self.interval_ms.or(service.interval_ms),
            timeout_ms: self.timeout_ms.or(service.timeout_ms),
            rise: self.rise.or(service.rise),
            fall: self.fall.or(service.fall),
            on_failure: self.on_failure.or(service.on_failure),
            method: pick(same_type, &self.method, &service.method),
            path: pick(same_type, &self.path, &service.path),
            expect_status: pick(same_type, &self.expect_status, &service.expect_status),
            expect: pick(same_type, &self.expect, &service.expect),
            host: pick(same_type, &self.host, &service.host),
            verify_tls: pick(same_type, &self.verify_tls, &service.verify_tls),
            send: pick(same_type, &self.send, &service.send),
            query_name: pick(same_type, &self.query_name, &service.query_name),
            query_type: pick(same_type, &self.query_type, &service.query_type),
            expect_rcode: pick(same_type, &self.expect_rcode, &service.expect_rcode),
            command: pick(same_type, &self.command, &service.command),
        }
    }

    /// Validates the check of a real server on `server_port`.
    pub fn validate(&self, server_port: u16) -> Result<HealthCheck, ValidationError> {
        let kind = self.kind.ok_or_else(|| {
            ValidationError::new(
                "type",
                "missing: a health check is tcp, http, https, udp, dns or exec",
            )
        })?;
        self.refuse_foreign_fields(kind)?;
        let port = match self.port.unwrap_or(server_port) {
            0 if self.port.is_some() => {
                return Err(ValidationError::new("port", "0 is not a port"));
            }
            0 if kind != CheckType::Exec => {
                return Err(ValidationError::new(
                    "port",
                    "missing: the real server keeps the packet's port (0), so the check needs a port of its own",
                ));
            }
            port => port,
        };
        let interval_ms = self.interval_ms.unwrap_or(DEFAULT_INTERVAL_MS);
        if !INTERVAL_MS.contains(&interval_ms) {
            return Err(ValidationError::new(
                "interval_ms",
                format!("{interval_ms} is out of range: checks run every 100 to 3600000 ms"),
            ));
        }
        let timeout_ms = self
            .timeout_ms
            .unwrap_or(DEFAULT_TIMEOUT_MS.min(interval_ms));
        if timeout_ms == 0 || timeout_ms > interval_ms {
            return Err(ValidationError::new(
                "timeout_ms",
                format!(
                    "{timeout_ms} is out of range: a check may take 1 ms up to its interval ({interval_ms} ms)"
                ),
            ));
        }
        let count = |value: Option<u32>, default: u32, field: &str| match value.unwrap_or(default) {
            n @ 1..=100 => Ok(n),
            n => Err(ValidationError::new(
                field,
                format!("{n} is out of range: 1 to 100 checks in a row"),
            )),
        };
        let rise = count(self.rise, DEFAULT_RISE, "rise")?;
        let fall = count(self.fall, DEFAULT_FALL, "fall")?;
        let probe = match kind {
            CheckType::Tcp => Probe::Tcp,
            CheckType::Http | CheckType::Https => Probe::Http(self.http(kind == CheckType::Https)?),
            CheckType::Udp => Probe::Udp {
                send: self.send.clone().unwrap_or_default().into_bytes(),
                expect: self.expect.clone().filter(|e| !e.is_empty()),
            },
            CheckType::Dns => self.dns()?,
            CheckType::Exec => {
                let command = self.command.as_deref().unwrap_or_default();
                let Some((program, args)) = command.split_first().filter(|(p, _)| !p.is_empty())
                else {
                    return Err(ValidationError::new(
                        "command",
                        "missing: an exec check needs a program to run",
                    ));
                };
                Probe::Exec {
                    program: program.clone(),
                    args: args.to_vec(),
                }
            }
        };
        Ok(HealthCheck {
            probe,
            port,
            interval: Duration::from_millis(interval_ms.into()),
            timeout: Duration::from_millis(timeout_ms.into()),
            rise,
            fall,
            on_failure: self.on_failure.unwrap_or_default(),
        })
    }

    fn refuse_foreign_fields(&self, kind: CheckType) -> Result<(), ValidationError> {
        use CheckType::*;
        let fields: [(&str, bool, &[CheckType]); 11] = [
            ("method", self.method.is_some(), &[Http, Https]),
            ("path", self.path.is_some(), &[Http, Https]),
            (
                "expect_status",
                self.expect_status.is_some(),
                &[Http, Https],
            ),
            ("expect", self.expect.is_some(), &[Http, Https, Udp]),
            ("host", self.host.is_some(), &[Http, Https]),
            ("verify_tls", self.verify_tls.is_some(), &[Https]),
            ("send", self.send.is_some(), &[Udp]),
            ("query_name", self.query_name.is_some(), &[Dns]),
            ("query_type", self.query_type.is_some(), &[Dns]),
            ("expect_rcode", self.expect_rcode.is_some(), &[Dns]),
            ("command", self.command.is_some(), &[Exec]),
        ];
        for (field, given, types) in fields {
            if given && !types.contains(&kind) {
                let names: Vec<&str> = types.iter().map(|t| t.as_str()).collect();
                return Err(ValidationError::new(
                    field,
                    format!(
                        "only {} checks take {field}; this one is {}",
                        names.join(" and "),
                        kind.as_str()
                    ),
                ));
            }
        }
        Ok(())
    }

    fn http(&self, tls: bool) -> Result<HttpProbe, ValidationError> {
        let method = self.method.clone().unwrap_or_else(|| "GET".to_string());
        if method.is_empty() || !method.bytes().all(|b| b.is_ascii_uppercase()) {
            return Err(ValidationError::new(
                "method",
                format!("`{method}` is not an HTTP method (GET, HEAD, ...)"),
            ));
        }
        let path = self.path.clone().unwrap_or_else(|| "/".to_string());
        if !path.starts_with('/')
            || path
                .bytes()
                .any(|b| b.is_ascii_whitespace() || b.is_ascii_control())
        {
            return Err(ValidationError::new(
                "path",
                format!("`{path}` is not a request path: it starts with / and has no spaces"),
            ));
        }
        let expect_status = self.expect_status.clone().unwrap_or_default();
        if let Some(bad) = expect_status.iter().find(|s| !(100..=599).contains(*s)) {
            return Err(ValidationError::new(
                "expect_status",
                format!("{bad} is not an HTTP status (100 to 599)"),
            ));
        }
        if let Some(host) = &self.host
            && (host.is_empty()
                || host
                    .bytes()
                    .any(|b| b.is_ascii_whitespace() || b.is_ascii_control() || b == b'/'))
        {
            return Err(ValidationError::new(
                "host",
                format!("`{host}` is not a host name"),
            ));
        }
        Ok(HttpProbe {
            tls,
            verify_tls: self.verify_tls.unwrap_or(false),
            method,
            path,
            expect_status,
            expect: self.expect.clone().filter(|e| !e.is_empty()),
            host: self.host.clone(),
        })
    }

    fn dns(&self) -> Result<Probe, ValidationError> {
        let name = self.query_name.clone().unwrap_or_default();
        let name = name.trim_end_matches('.').to_string();
        let labels_ok = !name.is_empty()
            && name.len() <= 253
            && name
                .split('.')
                .all(|l| !l.is_empty() && l.len() <= 63 && l.bytes().all(|b| b.is_ascii_graphic()));
        if !labels_ok {
            return Err(ValidationError::new(
                "query_name",
                format!("`{name}` is not a domain name to ask for"),
            ));
        }
        let lookup = |table: &[(&str, _)], given: &Option<String>, default: &str, field: &str| {
            let given = given.as_deref().unwrap_or(default).to_ascii_uppercase();
            table
                .iter()
                .find(|(n, _)| *n == given)
                .map(|(_, v)| *v)
                .ok_or_else(|| {
                    let names: Vec<&str> = table.iter().map(|(n, _)| *n).collect();
                    ValidationError::new(
                        field,
                        format!("`{given}` is not one of {}", names.join(", ")),
                    )
                })
        };
        let query_type = lookup(&QUERY_TYPES, &self.query_type, "A", "query_type")?;
        let rcode = lookup(&RCODES, &self.expect_rcode, "NOERROR", "expect_rcode")?;
        Ok(Probe::Dns {
            name,
            query_type,
            rcode: rcode as u8,
        })
    }
}

/// A server that takes the service's traffic while no real server is healthy.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SorryServerDoc {
    #[schema(value_type = String, example = "172.25.0.99")]
    pub address: IpAddr,
    /// The virtual port when left out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    #[serde(default)]
    pub forwarding: ForwardingMethod,
}

/// How many healthy real servers a service needs not to be reported degraded:
/// a number, or a share such as `"50%"`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum QuorumDoc {
    Servers(u32),
    Share(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Quorum {
    Servers(u32),
    Percent(u8),
}

impl Quorum {
    /// Whether `healthy` of `total` real servers reach the quorum.
    pub fn met(self, healthy: usize, total: usize) -> bool {
        match self {
            Quorum::Servers(n) => healthy >= n as usize,
            Quorum::Percent(p) => healthy * 100 >= usize::from(p) * total,
        }
    }
}

impl QuorumDoc {
    fn validate(&self) -> Result<Quorum, ValidationError> {
        match self {
            QuorumDoc::Servers(n) => Ok(Quorum::Servers(*n)),
            QuorumDoc::Share(share) => share
                .strip_suffix('%')
                .and_then(|p| p.trim().parse::<u8>().ok())
                .filter(|p| *p <= 100)
                .map(Quorum::Percent)
                .ok_or_else(|| {
                    ValidationError::new(
                        "",
                        format!(
                            "`{share}` is neither a number of servers nor a share from 0% to 100%"
                        ),
                    )
                }),
        }
    }
}

/// A service's health checking, validated: the check of each checked real
/// server, the sorry server and the quorum, with the documents as written.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct ServiceHealth {
    /// The service's `health_check` as written.
    pub doc: Option<HealthCheckDoc>,
    pub sorry_server_doc: Option<SorryServerDoc>,
    pub quorum_doc: Option<QuorumDoc>,
    /// The check of every real server that has one.
    pub checks: BTreeMap<ServerKey, HealthCheck>,
    pub sorry_server: Option<RealServer>,
    pub quorum: Option<Quorum>,
}

impl ServiceHealth {
    /// Validates a service's health settings against its real servers.
    pub fn validate(
        service: &ServiceKey,
        doc: Option<&HealthCheckDoc>,
        sorry_server: Option<&SorryServerDoc>,
        quorum_doc: Option<&QuorumDoc>,
        servers: &[RealServer],
        server_index: impl Fn(&ServerKey) -> String,
    ) -> Result<ServiceHealth, ValidationError> {
        let mut checks = BTreeMap::new();
        for server in servers {
            let merged = match (&server.health_check, doc) {
                (None, None) => continue,
                (Some(mine), Some(service)) => mine.over(service),
                (Some(mine), None) => HealthCheckDoc::clone(mine),
                (None, Some(service)) => service.clone(),
            };
            let check =
                merged
                    .validate(server.key.port())
                    .map_err(|e| match &server.health_check {
                        // Name the field where it was written: the server's override or the service's check.
                        Some(mine) if mine_has(mine, &e.field) || doc.is_none() => {
                            e.within("health_check").within(server_index(&server.key))
                        }
                        _ => e.within("health_check"),
                    })?;
            checks.insert(server.key, check);
        }
        let sorry = match sorry_server {
            None => None,
            Some(sorry) => {
                let as_server = RealServerDoc {
                    id: None,
                    address: Some(sorry.address),
                    port: sorry.port,
                    forwarding: sorry.forwarding,
                    tunnel: None,
                    weight: 1,
                    upper_threshold: 0,
                    lower_threshold: 0,
                    health_check: None,
                };
                let server = as_server
                    .validate(service)
                    .map_err(|e| e.within("sorry_server"))?;
                if servers.iter().any(|s| s.key == server.key) {
                    return Err(ValidationError::new(
                        "sorry_server",
                        format!(
                            "{} is one of the service's real servers; a sorry server stands in for them",
                            server.key
                        ),
                    ));
                }
                Some(server)
            }
        };
        let quorum = quorum_doc
            .map(|q| q.validate().map_err(|e| e.within("quorum")))
            .transpose()?;
        Ok(ServiceHealth {
            doc: doc.cloned(),
            sorry_server_doc: sorry_server.cloned(),
            quorum_doc: quorum_doc.cloned(),
            checks,
            sorry_server: sorry,
            quorum,
        })
    }
}

/// Whether a real server's override sets the field an error names.
fn mine_has(mine: &HealthCheckDoc, field: &str) -> bool {
    let name = field.split(['.', '[']).next().unwrap_or_default();
    let name = if name.is_empty() { "type" } else { name };
    serde_json::to_value(mine)
        .ok()
        .and_then(|v| v.get(name).cloned())
        .is_some()
}

#[cfg(test)]
mod tests {
    use crate::model::{Spec, ValidationError};

    fn spec(services: &str) -> Result<Spec, ValidationError> {
        Spec::from_json(format!(r#"{{"services":[{services}]}}"#).as_bytes())
    }

    const SERVERS: &str = r#""servers":[{"address":"10.1.0.1","forwarding":"nat"},{"address":"10.1.0.2","forwarding":"nat","port":8080}]"#;

    #[test]
    fn refusals_name_the_field() {
        let cases = [
            (
                r#""health_check":{"port":80}"#,
                "services[0].health_check.type",
            ),
            (
                r#""health_check":{"type":"tcp","path":"/"}"#,
                "services[0].health_check.path",
            ),
            (
                r#""health_check":{"type":"http","path":"health"}"#,
                "services[0].health_check.path",
            ),
            (
                r#""health_check":{"type":"http","method":"get"}"#,
                "services[0].health_check.method",
            ),
            (
                r#""health_check":{"type":"http","expect_status":[99]}"#,
                "services[0].health_check.expect_status",
            ),
            (
                r#""health_check":{"type":"http","verify_tls":true}"#,
                "services[0].health_check.verify_tls",
            ),
            (
                r#""health_check":{"type":"tcp","interval_ms":50}"#,
                "services[0].health_check.interval_ms",
            ),
            (
                r#""health_check":{"type":"tcp","interval_ms":1000,"timeout_ms":1001}"#,
                "services[0].health_check.timeout_ms",
            ),
            (
                r#""health_check":{"type":"tcp","rise":0}"#,
                "services[0].health_check.rise",
            ),
            (
                r#""health_check":{"type":"tcp","fall":101}"#,
                "services[0].health_check.fall",
            ),
            (
                r#""health_check":{"type":"tcp","port":0}"#,
                "services[0].health_check.port",
            ),
            (
                r#""health_check":{"type":"dns"}"#,
                "services[0].health_check.query_name",
            ),
            (
                r#""health_check":{"type":"dns","query_name":"a.example","query_type":"BOGUS"}"#,
                "services[0].health_check.query_type",
            ),
            (
                r#""health_check":{"type":"dns","query_name":"a.example","expect_rcode":"NOPE"}"#,
                "services[0].health_check.expect_rcode",
            ),
            (
                r#""health_check":{"type":"exec","command":[]}"#,
                "services[0].health_check.command",
            ),
            (
                r#""health_check":{"type":"udp","query_name":"x"}"#,
                "services[0].health_check.query_name",
            ),
            (
                r#""health_check":{"type":"tcp","bogus":1}"#,
                "services[0].health_check.bogus",
            ),
            (
                r#""sorry_server":{"address":"10.1.0.1","forwarding":"nat"}"#,
                "services[0].sorry_server",
            ),
            (
                r#""sorry_server":{"address":"10.2.0.1","port":81}"#,
                "services[0].sorry_server.port",
            ),
            (r#""quorum":"150%""#, "services[0].quorum"),
            (r#""quorum":"half""#, "services[0].quorum"),
        ];
        for (fields, field) in cases {
            let err =
                spec(&format!(r#"{{"id":"tcp:10.0.0.1:80",{fields},{SERVERS}}}"#)).unwrap_err();
            assert_eq!(err.field, field, "{fields}: {err}");
        }
    }

    #[test]
    fn a_server_override_is_blamed_where_it_was_written() {
        let servers = r#""servers":[{"address":"10.1.0.1","forwarding":"nat"},{"address":"10.1.0.2","forwarding":"nat","health_check":{"path":"nope"}}]"#;
        let err = spec(&format!(
            r#"{{"id":"tcp:10.0.0.1:80","health_check":{{"type":"http"}},{servers}}}"#
        ))
        .unwrap_err();
        assert_eq!(
            err.field, "services[0].servers[1].health_check.path",
            "{err}"
        );
        let servers = r#""servers":[{"address":"10.1.0.1","forwarding":"nat","health_check":{"type":"tcp"}}]"#;
        let err = spec(&format!(
            r#"{{"id":"tcp:10.0.0.1:80","health_check":{{"type":"http","path":"/x"}},{servers}}}"#
        ));
        assert!(
            err.is_ok(),
            "a change of type drops the service's http fields: {err:?}"
        );
    }

    #[test]
    fn defaults_and_overrides_per_server() {
        let spec = spec(
            r#"{"id":"tcp:10.0.0.1:80","health_check":{"type":"http","path":"/health","expect":"ok"},
                "servers":[{"address":"10.1.0.1","forwarding":"nat"},
                           {"address":"10.1.0.2","forwarding":"nat","port":8080,"health_check":{"port":9000,"fall":5,"on_failure":"remove"}}]}"#
        )
        .unwrap();
        let checks = &spec.services()[0].health().checks;
        let first = &checks[&"10.1.0.1:80".parse().unwrap()];
        assert_eq!((first.port, first.rise, first.fall), (80, 2, 3));
        assert_eq!(first.interval, std::time::Duration::from_millis(2000));
        assert_eq!(first.on_failure, super::OnFailure::Quiesce);
        let super::Probe::Http(http) = &first.probe else {
            panic!("{first:?}")
        };
        assert_eq!(
            (
                http.method.as_str(),
                http.path.as_str(),
                http.expect.as_deref()
            ),
            ("GET", "/health", Some("ok"))
        );
        assert!(http.status_ok(204) && http.status_ok(302) && !http.status_ok(500));
        let second = &checks[&"10.1.0.2:8080".parse().unwrap()];
        assert_eq!(
            (second.port, second.fall, second.on_failure),
            (9000, 5, super::OnFailure::Remove)
        );
        assert_eq!(second.probe, first.probe);
    }

    #[test]
    fn output_reads_back_as_the_same_spec() {
        let spec = spec(
            r#"{"id":"udp:10.0.0.1:53","health_check":{"type":"dns","query_name":"example.org","query_type":"aaaa"},
                "sorry_server":{"address":"10.2.0.9","forwarding":"nat"},"quorum":"50%",
                "servers":[{"address":"10.1.0.1","forwarding":"nat","health_check":{"type":"exec","command":["/bin/check","--fast"]}}]}"#
        )
        .unwrap();
        let json = serde_json::to_vec(&spec.to_doc()).unwrap();
        assert_eq!(Spec::from_json(&json).unwrap(), spec);
        let service = &spec.services()[0];
        assert_eq!(service.health().quorum, Some(super::Quorum::Percent(50)));
        assert_eq!(
            service
                .health()
                .sorry_server
                .as_ref()
                .unwrap()
                .key
                .to_string(),
            "10.2.0.9:53"
        );
    }

    #[test]
    fn a_port_0_server_needs_a_check_port() {
        let service = r#"{"id":"tcp:10.0.0.1:0","persistence":{},"health_check":{"type":"tcp"},"servers":[{"address":"10.1.0.1"}]}"#;
        let err = spec(service).unwrap_err();
        assert_eq!(err.field, "services[0].health_check.port", "{err}");
        let fixed = r#"{"id":"tcp:10.0.0.1:0","persistence":{},"health_check":{"type":"tcp","port":22},"servers":[{"address":"10.1.0.1"}]}"#;
        let spec = spec(fixed).unwrap();
        // Servers added later (the draft API) are validated against the check too.
        let service = &spec.services()[0];
        let extra = crate::model::RealServerDoc {
            health_check: Some(super::HealthCheckDoc {
                port: Some(0),
                ..Default::default()
            }),
            ..serde_json::from_str(r#"{"address":"10.1.0.2"}"#).unwrap()
        };
        let extra = extra.validate(&service.key).unwrap();
        let mut servers = service.servers().to_vec();
        servers.push(extra);
        let err = service.with_servers(servers).unwrap_err();
        assert_eq!(err.field, "servers[1].health_check.port", "{err}");
    }

    #[test]
    fn quorum_by_table() {
        use super::Quorum;
        let cases = [
            (Quorum::Servers(2), 2, 3, true),
            (Quorum::Servers(2), 1, 3, false),
            (Quorum::Percent(50), 2, 4, true),
            (Quorum::Percent(50), 1, 3, false),
            (Quorum::Percent(0), 0, 3, true),
            (Quorum::Percent(100), 3, 3, true),
        ];
        for (quorum, healthy, total, met) in cases {
            assert_eq!(
                quorum.met(healthy, total),
                met,
                "{quorum:?} {healthy}/{total}"
            );
        }
    }
}
