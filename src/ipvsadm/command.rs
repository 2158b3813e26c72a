//! What one ipvsadm command line means: ipvsadm's own checks (which options
//! go with which command, value ranges, its defaults and silent fix-ups),
//! then lvsd's model rules, each error pinned to the option at fault.
//!
//! ipvsadm applies some options as it meets them: `-M` is read as IPv4 or
//! IPv6 by the service given *before* it, and `-r` without a port takes the
//! port of the service given before it (0 when none was). lvsd reads the line
//! as a whole instead, which gives the same result for every line written
//! service first, as ipvsadm's usage and `-S` write them. `-6` keeps its
//! order rule (after `-f`), since ipvsadm refuses the other order outright.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use super::ParseError;
use super::options::{Invocation, Occurrence, Opt};
use super::ports::port_of_service_name;
use crate::model::{
    AddressFamily, DaemonRole, ForwardingMethod, MAX_TIMEOUT_SECS, PersistenceDoc,
    PersistenceEngine, Protocol, RealServer, RealServerDoc, Scheduler, ServerKey, ServiceKey,
    SpecDoc, SyncDaemon, SyncDaemonDoc, Timeouts, Tunnel, TunnelChecksum, TunnelType,
    ValidationError, VirtualService, VirtualServiceDoc,
};

/// ipvsadm's timeout for `-p` without a value (the model's default too).
const IPVSADM_PERSISTENCE_SECS: u32 = crate::model::DEFAULT_PERSISTENCE_SECS;

/// The multicast interface `--start-daemon` uses when none is given.
const IPVSADM_MCAST_INTERFACE: &str = "eth0";

/// Largest `--sync-maxlen`: a UDP payload within one 64 KiB IPv4 datagram.
const MAX_SYNC_MAXLEN: i64 = 65535 - 20 - 8;

/// The service a command names, and where it was named.
#[derive(Debug, Clone)]
pub(super) struct Target {
    pub key: ServiceKey,
    pub at: Occurrence,
}

/// One line's effect on the table.
#[derive(Debug, Clone)]
pub(super) enum Command {
    AddService(Target, VirtualService),
    /// Replaces every option of the service, as the kernel's SET_SERVICE does.
    EditService(Target, VirtualService),
    DeleteService(Target),
    Clear,
    AddServer(Target, Occurrence, RealServer),
    /// Replaces every option of the real server.
    EditServer(Target, Occurrence, RealServer),
    DeleteServer(Target, Occurrence, ServerKey),
    /// Only the timeouts given (non-zero) change.
    SetTimeouts(Timeouts),
    StartDaemon(Occurrence, SyncDaemon),
    StopDaemon(Occurrence, DaemonRole),
    /// `-L`, `-S`, `-Z`: they read the table or zero counters and leave its
    /// definition alone; the service they name must exist, though.
    NoChange(Option<Target>),
}

impl Command {
    /// The service the command changes, if it changes one.
    pub fn service(&self) -> Option<ServiceKey> {
        match self {
            Command::AddService(target, _)
            | Command::EditService(target, _)
            | Command::DeleteService(target)
            | Command::AddServer(target, ..)
            | Command::EditServer(target, ..)
            | Command::DeleteServer(target, ..) => Some(target.key),
            _ => None,
        }
    }
}

/// Interprets one command line.
pub(super) fn interpret(inv: &Invocation) -> Result<Command, ParseError> {
    check_options(inv)?;
    check_args(inv)?;
    Ok(match inv.command.opt {
        Opt::AddService => {
            let (target, service) = service(inv)?;
            Command::AddService(target, service)
        }
        Opt::EditService => {
            let (target, service) = service(inv)?;
            Command::EditService(target, service)
        }
        Opt::DeleteService => Command::DeleteService(target(inv)?),
        Opt::Clear => Command::Clear,
        Opt::AddServer => {
            let (target, at, server) = server(inv)?;
            Command::AddServer(target, at, server)
        }
        Opt::EditServer => {
            let (target, at, server) = server(inv)?;
            Command::EditServer(target, at, server)
        }
        Opt::DeleteServer => {
            let target = target(inv)?;
            let at = required(inv, Opt::RealServer).clone();
            let (address, port) = host_and_port(&at, protocol_of(&target.key))
                .map_err(|why| at.error(format!("illegal real server address[:port]: {why}")))?;
            // Only -a and -e force the port of dr/tun servers; -d takes it as given.
            let key = ServerKey(SocketAddr::new(address, port.unwrap_or(target.key.port())));
            Command::DeleteServer(target, at, key)
        }
        Opt::Set => Command::SetTimeouts(timeouts(inv)?),
        Opt::StartDaemon => Command::StartDaemon(inv.command.clone(), daemon(inv)?),
        Opt::StopDaemon => {
            if let Some(syncid) = inv.find(Opt::SyncId) {
                number(syncid, 0, 255, "illegal syncid")?;
            }
            Command::StopDaemon(inv.command.clone(), daemon_role(&inv.command)?)
        }
        Opt::List | Opt::Save | Opt::Zero => {
            let named = inv
                .options
                .iter()
                .any(|o| o.opt.group() == Some("service-address"));
            Command::NoChange(if named { Some(target(inv)?) } else { None })
        }
        Opt::Restore => {
            return Err(inv
                .command
                .error("reads rules from standard input: give the rules themselves instead"));
        }
        Opt::Help | Opt::Version => {
            return Err(inv
                .command
                .error("prints ipvsadm's help or version and stops: not a table command"));
        }
        _ => unreachable!("options::read only yields commands here"),
    })
}

/// ipvsadm's command name (its `cmdnames`), for messages.
fn command_name(opt: Opt) -> &'static str {
    match opt {
        Opt::AddService => "add-service",
        Opt::EditService => "edit-service",
        Opt::DeleteService => "delete-service",
        Opt::Clear => "flush",
        Opt::List => "list",
        Opt::AddServer => "add-server",
        Opt::DeleteServer => "delete-server",
        Opt::EditServer => "edit-server",
        Opt::Set => "set",
        Opt::StartDaemon => "start-daemon",
        Opt::StopDaemon => "stop-daemon",
        Opt::Restore => "restore",
        Opt::Save => "save",
        Opt::Zero => "zero",
        _ => "help",
    }
}

/// ipvsadm's table of legal command/option combinations: (required, optional).
fn legal_options(command: Opt) -> (&'static [&'static str], &'static [&'static str]) {
    const SERVICE: &[&str] = &["service-address"];
    const SERVICE_AND_SERVER: &[&str] = &["service-address", "real-server"];
    match command {
        Opt::AddService | Opt::EditService => (
            SERVICE,
            &[
                "scheduler",
                "persistent",
                "netmask",
                "ops",
                "pe",
                "sched-flags",
            ],
        ),
        Opt::DeleteService => (SERVICE, &[]),
        Opt::AddServer | Opt::EditServer => (
            SERVICE_AND_SERVER,
            &[
                "forwarding-method",
                "weight",
                "u-threshold",
                "l-threshold",
                "tun-type",
                "tun-port",
                "tun-nocsum",
                "tun-csum",
                "tun-remcsum",
            ],
        ),
        Opt::DeleteServer => (SERVICE_AND_SERVER, &[]),
        Opt::StartDaemon => (
            &[],
            &[
                "mcast-interface",
                "syncid",
                "mcast-group",
                "mcast-port",
                "mcast-ttl",
                "sync-maxlen",
            ],
        ),
        Opt::StopDaemon => (&[], &["syncid"]),
        Opt::List => (
            &[],
            &[
                "numeric",
                "connection",
                "service-address",
                "timeout",
                "daemon",
                "stats",
                "rate",
                "thresholds",
                "persistent-conn",
                "nosort",
                "syncid",
                "exact",
                "tun-info",
            ],
        ),
        Opt::Save => (&[], &["numeric"]),
        Opt::Zero => (&[], SERVICE),
        _ => (&[], &[]),
    }
}

/// Each option at most once, only with commands that take it, and every
/// option the command needs.
fn check_options(inv: &Invocation) -> Result<(), ParseError> {
    let name = command_name(inv.command.opt);
    let (required, optional) = legal_options(inv.command.opt);
    for (i, occ) in inv.options.iter().enumerate() {
        let Some(group) = occ.opt.group() else {
            continue;
        };
        if inv.options[..i]
            .iter()
            .any(|earlier| earlier.opt.group() == Some(group))
        {
            return Err(occ.error(format!("multiple '{group}' options specified")));
        }
        if !required.contains(&group) && !optional.contains(&group) {
            return Err(occ.error(format!(
                "the '{group}' option is not allowed with the '{name}' command"
            )));
        }
    }
    for group in required {
        if !inv
            .options
            .iter()
            .any(|occ| occ.opt.group() == Some(*group))
        {
            let how = match *group {
                "service-address" => "-t, -u, --sctp-service or -f",
                _ => "-r",
            };
            return Err(inv.command.error(format!(
                "the '{name}' command needs the '{group}' option ({how})"
            )));
        }
    }
    Ok(())
}

/// Words that are no option's value: `--set` takes exactly three.
fn check_args(inv: &Invocation) -> Result<(), ParseError> {
    let wanted = if inv.command.opt == Opt::Set { 3 } else { 0 };
    if inv.args.len() < wanted {
        return Err(inv.command.error("needs 3 timeout values: tcp tcpfin udp"));
    }
    match inv.args.get(wanted) {
        Some(extra) => Err(ParseError::new(
            extra.line,
            format!("`{}`: unexpected argument", extra.text),
        )),
        None => Ok(()),
    }
}

fn required(inv: &Invocation, opt: Opt) -> &Occurrence {
    let group = opt.group();
    inv.options
        .iter()
        .find(|o| o.opt.group() == group)
        .expect("check_options ensured the required option")
}

/// A whole number in `min..=max`, read as ipvsadm's `string_to_number` does.
fn number(occ: &Occurrence, min: i64, max: i64, what: &str) -> Result<i64, ParseError> {
    parse_number(occ.value(), min, max).ok_or_else(|| {
        occ.error(format!(
            "{what}: expected a whole number from {min} to {max}"
        ))
    })
}

fn parse_number(text: &str, min: i64, max: i64) -> Option<i64> {
    text.parse::<i64>().ok().filter(|n| (min..=max).contains(n))
}

fn service_option_protocol(opt: Opt) -> Option<Protocol> {
    match opt {
        Opt::TcpService => Some(Protocol::Tcp),
        Opt::UdpService => Some(Protocol::Udp),
        Opt::SctpService => Some(Protocol::Sctp),
        _ => None,
    }
}

/// The protocol whose port names apply; ipvsadm gives fwmark services tcp.
fn protocol_of(key: &ServiceKey) -> Protocol {
    match key {
        ServiceKey::Addr { protocol, .. } => *protocol,
        ServiceKey::Fwmark { .. } => Protocol::Tcp,
    }
}

/// The virtual service of `-t|-u|--sctp-service|-f` (with `-6`).
fn target(inv: &Invocation) -> Result<Target, ParseError> {
    let at = required(inv, Opt::TcpService);
    let position = |opt: Opt| inv.options.iter().position(|o| o.opt == opt);
    if let Some(v6) = position(Opt::Ipv6) {
        // ipvsadm reads -6 as it comes: it only makes a fwmark given before it IPv6.
        if position(Opt::FwmarkService).is_none_or(|fwmark| fwmark > v6) {
            let reason = "-6 used before -f: it makes a fwmark service IPv6 (addresses speak for themselves)";
            return Err(inv.options[v6].error(reason));
        }
    }
    let key = match service_option_protocol(at.opt) {
        Some(protocol) => {
            let (address, port) = host_and_port(at, protocol)
                .map_err(|why| at.error(format!("illegal virtual server address[:port]: {why}")))?;
            ServiceKey::Addr {
                protocol,
                addr: SocketAddr::new(address, port.unwrap_or(0)),
            }
        }
        None => {
            let mark = parse_number(at.value(), 1, i64::from(u32::MAX)).ok_or_else(|| {
                at.error("invalid fwmark value: expected a whole number from 1 to 4294967295")
            })?;
            let family = if inv.has(Opt::Ipv6) {
                AddressFamily::Ipv6
            } else {
                AddressFamily::Ipv4
            };
            ServiceKey::Fwmark {
                mark: mark as u32,
                family,
            }
        }
    };
    Ok(Target {
        key,
        at: at.clone(),
    })
}

/// `ADDRESS[:PORT]` as ipvsadm's `parse_service` reads it: IPv6 as
/// `[ADDRESS]:PORT` or bare without a port, IPv4 dotted with an optional
/// `:PORT`, the port a number or a well-known service name.
fn host_and_port(at: &Occurrence, protocol: Protocol) -> Result<(IpAddr, Option<u16>), String> {
    let text = at.value();
    if text.bytes().all(|b| b.is_ascii_digit()) {
        return Err("expected ADDRESS[:PORT]".to_string());
    }
    if let Some(bracketed) = text.strip_prefix('[') {
        let (address, after) = bracketed
            .split_once(']')
            .ok_or("missing `]` after an IPv6 address")?;
        let port = after
            .strip_prefix(':')
            .ok_or("expected `:PORT` after `[ADDRESS]`")?;
        let address = match address.parse::<Ipv6Addr>() {
            Ok(v6) => v6,
            Err(_) if address.parse::<Ipv4Addr>().is_ok() => {
                return Err("brackets are for IPv6 addresses only".to_string());
            }
            Err(_) => return Err(format!("`{address}` is not an IPv6 address")),
        };
        return Ok((IpAddr::V6(address), Some(port_number(port, protocol)?)));
    }
    if let Ok(v6) = text.parse::<Ipv6Addr>() {
        return Ok((IpAddr::V6(v6), None));
    }
    let (host, port) = match text.rsplit_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (text, None),
    };
    let address = host.parse::<Ipv4Addr>().map_err(|_| not_an_address(host))?;
    Ok((
        IpAddr::V4(address),
        port.map(|p| port_number(p, protocol)).transpose()?,
    ))
}

fn not_an_address(host: &str) -> String {
    if host.contains(':') {
        format!("`{host}` is not an address (write IPv6 as [ADDRESS]:PORT)")
    } else if host.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        format!("`{host}` is not a dotted IPv4 address")
    } else {
        format!(
            "`{host}` is a host name: lvsd reads numeric addresses only (save with ipvsadm -Sn)"
        )
    }
}

fn port_number(text: &str, protocol: Protocol) -> Result<u16, String> {
    if let Some(port) = parse_number(text, 0, 65535) {
        return Ok(port as u16);
    }
    port_of_service_name(text).ok_or_else(|| {
        format!(
            "`{text}` is not a port: expected 0 to 65535 or a well-known {} service name",
            protocol.as_str()
        )
    })
}

/// The service of `-A`/`-E`: every option not given takes ipvsadm's default.
fn service(inv: &Invocation) -> Result<(Target, VirtualService), ParseError> {
    let target = target(inv)?;
    let scheduler = match inv.find(Opt::Scheduler) {
        Some(at) => Some(
            at.value()
                .parse::<Scheduler>()
                .map_err(|e| at.error(e.message))?,
        ),
        None => None,
    };
    let sched_flags = match inv.find(Opt::SchedFlags) {
        Some(at) => sched_flag_names(at, scheduler.unwrap_or_default())?,
        None => Vec::new(),
    };
    let persistence = match inv.find(Opt::Persistent) {
        Some(at) => Some(persistence(inv, at, target.key.family())?),
        // ipvsadm takes -M without -p, and the kernel keeps a mask nothing reads.
        None => None,
    };
    let persistence_engine = match inv.find(Opt::Pe) {
        Some(at) if at.value() == PersistenceEngine::Sip.as_str() => Some(PersistenceEngine::Sip),
        Some(at) => return Err(at.error("unknown persistence engine: the kernel has sip only")),
        None => None,
    };
    let (protocol, address, port, fwmark, family) = match target.key {
        ServiceKey::Addr { protocol, addr } => (
            Some(protocol),
            Some(addr.ip()),
            Some(addr.port()),
            None,
            None,
        ),
        ServiceKey::Fwmark { mark, family } => (None, None, None, Some(mark), Some(family)),
    };
    let doc = VirtualServiceDoc {
        id: None,
        protocol,
        address,
        port,
        fwmark,
        family,
        scheduler,
        sched_flags,
        persistence,
        one_packet: inv.has(Opt::Ops),
        persistence_engine,
        servers: Vec::new(),
        // ipvsadm has no health checks.
        health_check: None,
        sorry_server: None,
        quorum: None,
    };
    let service = doc.validate().map_err(|e| blame(inv, e, SERVICE_FIELDS))?;
    Ok((target, service))
}

/// `-b` names, with ipvsadm's generic `flag-1`/`flag-2` read as the names
/// sh and mh give those bits.
fn sched_flag_names(at: &Occurrence, scheduler: Scheduler) -> Result<Vec<String>, ParseError> {
    at.value()
        .split(',')
        .filter(|name| !name.is_empty())
        .map(|name| match name {
            "flag-1" | "flag-2" if scheduler.takes_flags() => {
                let flag = if name == "flag-1" { "fallback" } else { "port" };
                Ok(format!("{scheduler}-{flag}"))
            }
            "flag-1" | "flag-2" | "flag-3" => Err(at.error(format!(
                "`{name}`: lvsd keeps scheduler flags for sh and mh only (sh-fallback, sh-port, mh-fallback, mh-port)"
            ))),
            _ => Ok(name.to_string()),
        })
        .collect()
}

fn persistence(
    inv: &Invocation,
    at: &Occurrence,
    family: AddressFamily,
) -> Result<PersistenceDoc, ParseError> {
    let timeout = match &at.value {
        Some(_) => number(at, 1, MAX_TIMEOUT_SECS.into(), "invalid timeout value")? as u32,
        None => IPVSADM_PERSISTENCE_SECS,
    };
    let mut doc = PersistenceDoc {
        timeout,
        netmask: None,
    };
    if let Some(mask) = inv.find(Opt::Netmask) {
        let value = match family {
            AddressFamily::Ipv4 if mask.value().parse::<Ipv4Addr>().is_ok() => {
                serde_json::Value::from(mask.value())
            }
            AddressFamily::Ipv4 => {
                return Err(mask.error("illegal persistent mask: IPv4 services take a dotted netmask such as 255.255.255.0"));
            }
            AddressFamily::Ipv6 => match mask.value().parse::<u8>() {
                Ok(prefix) => serde_json::Value::from(prefix),
                Err(_) => {
                    return Err(
                        mask.error("illegal IPv6 netmask: expected a prefix length from 1 to 128")
                    );
                }
            },
        };
        // The model's netmask type is not exported, so it is built from JSON;
        // the model then checks the mask like any other.
        doc.netmask = serde_json::from_value(value).map_err(|e| mask.error(e))?;
    }
    Ok(doc)
}

/// Which option a model field came from, first match wins.
type FieldOwners = &'static [(&'static str, &'static [Opt])];

const SERVICE_OPTIONS: &[Opt] = &[
    Opt::TcpService,
    Opt::UdpService,
    Opt::SctpService,
    Opt::FwmarkService,
];

const SERVICE_FIELDS: FieldOwners = &[
    ("id", SERVICE_OPTIONS),
    ("protocol", SERVICE_OPTIONS),
    ("address", SERVICE_OPTIONS),
    ("port", SERVICE_OPTIONS),
    ("fwmark", SERVICE_OPTIONS),
    ("family", SERVICE_OPTIONS),
    ("scheduler", &[Opt::Scheduler]),
    ("sched_flags", &[Opt::SchedFlags]),
    ("persistence.netmask", &[Opt::Netmask, Opt::Persistent]),
    ("persistence", &[Opt::Persistent]),
    ("one_packet", &[Opt::Ops]),
    ("persistence_engine", &[Opt::Pe]),
];

const SERVER_FIELDS: FieldOwners = &[
    ("address", &[Opt::RealServer]),
    ("port", &[Opt::RealServer]),
    ("weight", &[Opt::Weight]),
    ("upper_threshold", &[Opt::UThreshold]),
    ("lower_threshold", &[Opt::LThreshold, Opt::UThreshold]),
    ("tunnel.port", &[Opt::TunPort, Opt::TunType]),
    (
        "tunnel.checksum",
        &[Opt::TunCsum, Opt::TunRemcsum, Opt::TunNocsum, Opt::TunType],
    ),
    ("tunnel", &[Opt::TunType, Opt::Ipip]),
];

const DAEMON_FIELDS: FieldOwners = &[
    ("interface", &[Opt::McastInterface]),
    ("syncid", &[Opt::SyncId]),
    ("sync_maxlen", &[Opt::SyncMaxlen]),
    ("mcast_group", &[Opt::McastGroup]),
    ("mcast_port", &[Opt::McastPort]),
    ("mcast_ttl", &[Opt::McastTtl]),
];

/// A model refusal, quoted against the option that gave the value (or the
/// command, when the value was ipvsadm's default).
fn blame(inv: &Invocation, err: ValidationError, owners: FieldOwners) -> ParseError {
    let field = err.field.as_str();
    let owner = owners
        .iter()
        .find(|(prefix, _)| field == *prefix || field.starts_with(&format!("{prefix}.")))
        .and_then(|(_, opts)| opts.iter().find_map(|opt| inv.find(*opt)));
    owner.unwrap_or(&inv.command).error(err.message)
}

/// The real server of `-a`/`-e`, with ipvsadm's defaults (`-g`, weight 1,
/// the virtual port) and its silent fix-up of dr/tun ports.
fn server(inv: &Invocation) -> Result<(Target, Occurrence, RealServer), ParseError> {
    let target = target(inv)?;
    let at = required(inv, Opt::RealServer).clone();
    let (address, port) = host_and_port(&at, protocol_of(&target.key))
        .map_err(|why| at.error(format!("illegal real server address[:port]: {why}")))?;
    let forwarding = match inv
        .options
        .iter()
        .find(|o| o.opt.group() == Some("forwarding-method"))
    {
        Some(o) if o.opt == Opt::Masquerading => ForwardingMethod::Nat,
        Some(o) if o.opt == Opt::Ipip => ForwardingMethod::Tun,
        _ => ForwardingMethod::Dr,
    };
    let tunnel = tunnel(inv, forwarding)?;
    // dr and tun deliver the packet unchanged, so ipvsadm makes the real port
    // the virtual one whatever was written (fwmark services have no port).
    let port = match forwarding {
        ForwardingMethod::Dr | ForwardingMethod::Tun if !target.key.is_fwmark() => {
            target.key.port()
        }
        _ => port.unwrap_or(target.key.port()),
    };
    let weight = match inv.find(Opt::Weight) {
        Some(w) => number(w, 0, 65535, "illegal weight")? as u32,
        None => 1,
    };
    let threshold = |opt: Opt, what: &str| -> Result<u32, ParseError> {
        match inv.find(opt) {
            Some(t) => Ok(number(t, 0, i32::MAX.into(), what)? as u32),
            None => Ok(0),
        }
    };
    let doc = RealServerDoc {
        id: None,
        address: Some(address),
        port: Some(port),
        forwarding,
        tunnel,
        weight,
        upper_threshold: threshold(Opt::UThreshold, "illegal u_threshold")?,
        lower_threshold: threshold(Opt::LThreshold, "illegal l_threshold")?,
        health_check: None,
    };
    let server = doc
        .validate(&target.key)
        .map_err(|e| blame(inv, e, SERVER_FIELDS))?;
    Ok((target, at, server))
}

const TUNNEL_OPTIONS: &[Opt] = &[
    Opt::TunType,
    Opt::TunPort,
    Opt::TunNocsum,
    Opt::TunCsum,
    Opt::TunRemcsum,
];

/// Tunnel settings, checked as ipvsadm's `tunnel_opt_check` does: which
/// options each tunnel type takes, and one checksum option at most.
fn tunnel(inv: &Invocation, forwarding: ForwardingMethod) -> Result<Option<Tunnel>, ParseError> {
    let given: Vec<&Occurrence> = inv
        .options
        .iter()
        .filter(|o| TUNNEL_OPTIONS.contains(&o.opt))
        .collect();
    if forwarding != ForwardingMethod::Tun {
        return match given.first() {
            Some(first) => {
                Err(first.error("tunnel options conflict with the forwarding method: they need -i"))
            }
            None => Ok(None),
        };
    }
    let kind = match inv.find(Opt::TunType) {
        Some(at) => match at.value() {
            "ipip" => TunnelType::Ipip,
            "gue" => TunnelType::Gue,
            "gre" => TunnelType::Gre,
            _ => return Err(at.error("illegal tunnel type: expected ipip, gue or gre")),
        },
        None => TunnelType::Ipip,
    };
    let kind_name = match kind {
        TunnelType::Ipip => "ipip",
        TunnelType::Gue => "gue",
        TunnelType::Gre => "gre",
    };
    let illegal: &[Opt] = match kind {
        TunnelType::Ipip => &[Opt::TunPort, Opt::TunNocsum, Opt::TunCsum, Opt::TunRemcsum],
        TunnelType::Gue => &[],
        TunnelType::Gre => &[Opt::TunPort, Opt::TunRemcsum],
    };
    if let Some(bad) = given.iter().find(|o| illegal.contains(&o.opt)) {
        return Err(bad.error(format!("not allowed with the '{kind_name}' tunnel type")));
    }
    let mut checksums = given
        .iter()
        .filter(|o| matches!(o.opt, Opt::TunNocsum | Opt::TunCsum | Opt::TunRemcsum));
    let checksum = checksums.next();
    if let (Some(first), Some(second)) = (checksum, checksums.next()) {
        return Err(second.error(format!(
            "conflicts with {} in the '{kind_name}' tunnel type",
            first.written
        )));
    }
    let port = match inv.find(Opt::TunPort) {
        Some(at) => Some(number(at, 1, 65535, "illegal tunnel port")? as u16),
        None if kind == TunnelType::Gue => {
            let at = inv.find(Opt::TunType).unwrap_or(&inv.command);
            return Err(at.error("the 'gue' tunnel type needs the 'tun-port' option"));
        }
        None => None,
    };
    let checksum = match checksum.map(|o| o.opt) {
        Some(Opt::TunCsum) => TunnelChecksum::Csum,
        Some(Opt::TunRemcsum) => TunnelChecksum::Remcsum,
        _ => TunnelChecksum::None,
    };
    Ok(Some(Tunnel {
        kind,
        port,
        checksum,
    }))
}

/// `--set tcp tcpfin udp`; 0 leaves a timeout as it is.
fn timeouts(inv: &Invocation) -> Result<Timeouts, ParseError> {
    let mut values = [None; 3];
    for (value, word) in values.iter_mut().zip(&inv.args) {
        let secs = parse_number(&word.text, 0, MAX_TIMEOUT_SECS.into()).ok_or_else(|| {
            ParseError::new(
                word.line,
                format!("`{}`: invalid timeout value: expected a whole number from 0 to {MAX_TIMEOUT_SECS}", word.text),
            )
        })?;
        *value = (secs > 0).then_some(secs as u32);
    }
    let [tcp, tcpfin, udp] = values;
    let timeouts = Timeouts { tcp, tcpfin, udp };
    // The model's own check (ranges agree with ipvsadm's today).
    let doc = SpecDoc {
        timeouts,
        ..SpecDoc::default()
    };
    doc.validate().map_err(|e| inv.command.error(e))?;
    Ok(timeouts)
}

fn daemon_role(at: &Occurrence) -> Result<DaemonRole, ParseError> {
    match at.value() {
        "master" => Ok(DaemonRole::Master),
        "backup" => Ok(DaemonRole::Backup),
        _ => Err(at.error("illegal daemon state: expected master or backup")),
    }
}

/// `--start-daemon`, with ipvsadm's defaults (interface eth0, syncid 0).
fn daemon(inv: &Invocation) -> Result<SyncDaemon, ParseError> {
    let role = daemon_role(&inv.command)?;
    let optional = |opt: Opt, min: i64, max: i64, what: &str| -> Result<Option<i64>, ParseError> {
        inv.find(opt)
            .map(|at| number(at, min, max, what))
            .transpose()
    };
    let mcast_group = match inv.find(Opt::McastGroup) {
        Some(at) => Some(at.value().parse::<IpAddr>().map_err(|_| {
            at.error("invalid mcast-group: expected an IPv4 or IPv6 multicast address")
        })?),
        None => None,
    };
    let doc = SyncDaemonDoc {
        role,
        interface: inv
            .find(Opt::McastInterface)
            .map_or(IPVSADM_MCAST_INTERFACE, Occurrence::value)
            .to_string(),
        syncid: optional(Opt::SyncId, 0, 255, "illegal syncid")?.unwrap_or(0) as u32,
        sync_maxlen: optional(Opt::SyncMaxlen, 1, MAX_SYNC_MAXLEN, "illegal sync-maxlen")?
            .map(|n| n as u16),
        mcast_group,
        mcast_port: optional(Opt::McastPort, 1, 65535, "illegal mcast-port")?.map(|n| n as u16),
        mcast_ttl: optional(Opt::McastTtl, 1, 255, "illegal mcast-ttl")?.map(|n| n as u8),
    };
    // The model checks a daemon only as part of a spec.
    let spec = SpecDoc {
        sync_daemons: vec![doc],
        ..SpecDoc::default()
    }
    .validate()
    .map_err(|e| {
        let field = e
            .field
            .strip_prefix("sync_daemons[0].")
            .unwrap_or(&e.field)
            .to_string();
        blame(inv, ValidationError::new(field, e.message), DAEMON_FIELDS)
    })?;
    Ok(spec.sync_daemons()[0].clone())
}
