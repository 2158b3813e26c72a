//! Commands that change the draft: `svc`, `rs`, `timeout`, `daemon`, `import`.

use std::io::Read;
use std::net::IpAddr;

use clap::{Args, Subcommand, ValueEnum};
use reqwest::Method;
use serde_json::{Map, Value, json};

use super::api::{Body, Draft, seg, spec_of};
use super::args::{IfMatch, ServerArg, ServiceArg, parse_secs, scheduler_parser};
use super::{Client, Conn, Failure, exit_codes, print_json, render};
use crate::model::{
    DaemonRole, RealServer, RealServerDoc, Scheduler, ServiceKey, ValidationError, VirtualService,
    VirtualServiceDoc,
};

/// Which option gave each field of a service document.
const SERVICE_OPTIONS: &[(&str, &str)] = &[
    ("id", "-t/-u/--sctp-service/-f"),
    ("service", "-t/-u/--sctp-service/-f"),
    ("protocol", "-t/-u/--sctp-service"),
    ("address", "-t/-u/--sctp-service"),
    ("port", "-t/-u/--sctp-service"),
    ("fwmark", "-f"),
    ("family", "-6"),
    ("scheduler", "-s"),
    ("sched_flags", "-b"),
    ("persistence.netmask", "-M"),
    ("persistence", "-p"),
    ("one_packet", "-o"),
    ("persistence_engine", "--pe"),
];

/// Which option gave each field of a real server document.
const SERVER_OPTIONS: &[(&str, &str)] = &[
    ("tunnel.port", "--tun-port"),
    ("tunnel.checksum", "--tun-nocsum/--tun-csum/--tun-remcsum"),
    ("tunnel", "--tun-type"),
    ("address", "-r"),
    ("port", "-r"),
    ("id", "-r"),
    ("server", "-r"),
    ("service", "-t/-u/--sctp-service/-f"),
    ("forwarding", "-g/-m/-i/--fullnat"),
    ("weight", "-w"),
    ("upper_threshold", "-x"),
    ("lower_threshold", "-y"),
];

const DAEMON_OPTIONS: &[(&str, &str)] = &[
    ("interface", "--mcast-interface"),
    ("syncid", "--syncid"),
    ("sync_maxlen", "--sync-maxlen"),
    ("mcast_group", "--mcast-group"),
    ("mcast_port", "--mcast-port"),
    ("mcast_ttl", "--mcast-ttl"),
    ("sync_daemons", "--mcast-interface"),
];

const TIMEOUT_OPTIONS: &[(&str, &str)] = &[
    ("timeouts.tcpfin", "--tcpfin"),
    ("timeouts.tcp", "--tcp"),
    ("timeouts.udp", "--udp"),
];

// ---------------------------------------------------------------- svc

#[derive(Debug, Subcommand)]
pub enum SvcCommand {
    /// Add a virtual service to the draft (ipvsadm -A).
    #[command(
        long_about = "Add a virtual service to the draft (ipvsadm -A).\n\n\
Options not given take ipvsadm's defaults: scheduler wlc, no persistence.\n\
The change waits in the draft until `lvsd commit`.",
        after_help = concat!(
"Examples:
  lvsd svc add -t 192.168.31.100:80 -s wrr
  lvsd svc add -t 192.168.31.100:443 -s sh -b sh-port -p 600 -M 255.255.255.0
  lvsd svc add -u [2001:db8::1]:53 -s rr -o
  lvsd svc add -f 12 -6 -s mh -b mh-fallback,mh-port

", exit_codes!()))]
    Add(SvcAddArgs),
    /// Change options of a virtual service in the draft (like ipvsadm -E, but only what you give).
    #[command(
        long_about = "Change options of a virtual service in the draft.\n\n\
Unlike ipvsadm -E, which resets every option you leave out to its default,\n\
`lvsd svc edit` changes only the options you give and keeps the others:\n\
`lvsd svc edit -t VIP:PORT -s rr` changes the scheduler and nothing else.\n\
Use --no-persistent, --no-pe, --no-ops, or -b '' to turn options off, and\n\
--replace for ipvsadm's behaviour (options not given return to defaults).\n\
Real servers are never touched.\n\n\
The command reads the service and writes it back only if nobody changed\n\
the draft in between (If-Match); otherwise it stops with exit status 4.",
        after_help = concat!(
"Examples:
  lvsd svc edit -t 192.168.31.100:80 -s rr
  lvsd svc edit -t 192.168.31.100:80 -p 900          # make it persistent
  lvsd svc edit -t 192.168.31.100:80 --no-persistent
  lvsd svc edit -t 192.168.31.100:80 --replace -s wlc  # as ipvsadm -E

", exit_codes!()))]
    Edit(SvcEditArgs),
    /// Delete a virtual service and its real servers from the draft (ipvsadm -D).
    #[command(after_help = concat!(
"Examples:
  lvsd svc del -t 192.168.31.100:80
  lvsd svc del -f 12

", exit_codes!()))]
    Del(SvcDelArgs),
}

/// The service options of `-A` and `-E`.
#[derive(Debug, Clone, Args)]
pub struct SvcOpts {
    /// Scheduler [default: wlc]
    #[arg(short = 's', long = "scheduler", value_name = "SCHED", value_parser = scheduler_parser())]
    scheduler: Option<Scheduler>,
    /// Persistent service: a client sticks to its real server for TIMEOUT seconds [default: 360]
    #[arg(short = 'p', long = "persistent", value_name = "TIMEOUT", value_parser = parse_secs)]
    persistent: Option<Option<u32>>,
    /// Persistence granularity: IPv4 netmask (255.255.255.0) or IPv6 prefix length
    #[arg(short = 'M', long = "netmask", value_name = "NETMASK")]
    netmask: Option<String>,
    /// One-packet scheduling: schedule each UDP datagram on its own
    #[arg(short = 'o', long = "ops")]
    ops: bool,
    /// Persistence engine (needs -p)
    #[arg(long = "pe", value_name = "ENGINE", value_parser = ["sip"])]
    pe: Option<String>,
    /// Scheduler flags, comma-separated: sh-fallback, sh-port, mh-fallback, mh-port
    #[arg(
        short = 'b',
        long = "sched-flags",
        value_name = "FLAGS",
        value_delimiter = ','
    )]
    sched_flags: Option<Vec<String>>,
}

#[derive(Debug, Args)]
pub struct SvcAddArgs {
    #[command(flatten)]
    service: ServiceArg,
    #[command(flatten)]
    opts: SvcOpts,
    #[command(flatten)]
    if_match: IfMatch,
}

#[derive(Debug, Args)]
pub struct SvcEditArgs {
    #[command(flatten)]
    service: ServiceArg,
    #[command(flatten)]
    opts: SvcOpts,
    /// Turn persistence off (and the persistence engine with it)
    #[arg(long = "no-persistent", conflicts_with_all = ["persistent", "netmask", "pe"])]
    no_persistent: bool,
    /// Turn the persistence engine off
    #[arg(long = "no-pe", conflicts_with = "pe")]
    no_pe: bool,
    /// Turn one-packet scheduling off
    #[arg(long = "no-ops", conflicts_with = "ops")]
    no_ops: bool,
    /// Replace every option, as ipvsadm -E: options not given return to their defaults
    #[arg(long, conflicts_with_all = ["no_persistent", "no_pe", "no_ops"])]
    replace: bool,
    #[command(flatten)]
    if_match: IfMatch,
}

#[derive(Debug, Args)]
pub struct SvcDelArgs {
    #[command(flatten)]
    service: ServiceArg,
    #[command(flatten)]
    if_match: IfMatch,
}

fn netmask_value(text: &str) -> Value {
    match text.parse::<u8>() {
        Ok(prefix) => Value::from(prefix),
        Err(_) => Value::from(text),
    }
}

/// The whole service document of `svc add` and `svc edit --replace`.
fn service_doc(key: &ServiceKey, opts: &SvcOpts) -> Result<Value, Failure> {
    let mut doc = Map::new();
    doc.insert("id".into(), key.to_string().into());
    if let Some(scheduler) = opts.scheduler {
        doc.insert("scheduler".into(), scheduler.as_str().into());
    }
    if let Some(flags) = &opts.sched_flags {
        doc.insert("sched_flags".into(), flags_value(flags));
    }
    match (opts.persistent, &opts.netmask) {
        (Some(timeout), netmask) => {
            let mut persistence = Map::new();
            if let Some(timeout) = timeout {
                persistence.insert("timeout".into(), timeout.into());
            }
            if let Some(mask) = netmask {
                persistence.insert("netmask".into(), netmask_value(mask));
            }
            doc.insert("persistence".into(), persistence.into());
        }
        (None, Some(_)) => return Err(netmask_needs_persistence(key)),
        (None, None) => {}
    }
    if opts.ops {
        doc.insert("one_packet".into(), true.into());
    }
    if let Some(pe) = &opts.pe {
        doc.insert("persistence_engine".into(), pe.as_str().into());
    }
    Ok(doc.into())
}

fn netmask_needs_persistence(key: &ServiceKey) -> Failure {
    Failure::Usage(format!(
        "-M groups clients for persistence, and {key} is not persistent: add -p [TIMEOUT]"
    ))
}

fn flags_value(flags: &[String]) -> Value {
    flags
        .iter()
        .map(|f| f.trim())
        .filter(|f| !f.is_empty())
        .collect::<Vec<_>>()
        .into()
}

/// A service document the server sent, validated.
fn service_of(value: &Value) -> Result<VirtualService, Failure> {
    ValidationError::from_json::<VirtualServiceDoc>(value.to_string().as_bytes())
        .and_then(|doc| doc.validate())
        .map_err(|err| {
            Failure::Unreachable(format!(
                "the server sent a service lvsd cannot read ({err})"
            ))
        })
}

fn server_of(value: &Value, service: &ServiceKey) -> Result<RealServer, Failure> {
    ValidationError::from_json::<RealServerDoc>(value.to_string().as_bytes())
        .and_then(|doc| doc.validate(service))
        .map_err(|err| {
            Failure::Unreachable(format!(
                "the server sent a real server lvsd cannot read ({err})"
            ))
        })
}

fn service_path(client: &Client, key: &ServiceKey) -> String {
    client.path(&format!("/draft/services/{}", seg(&key.to_string())))
}

fn server_path(client: &Client, key: &ServiceKey, server: &str) -> String {
    format!("{}/servers/{}", service_path(client, key), seg(server))
}

/// Hints for a service the draft lacks.
fn no_such_service(failure: Failure, cluster: &str, key: &ServiceKey) -> Failure {
    let missing = format!("the draft of {cluster} has no service {key}");
    failure.hint_if(
        move |err| err.status == 404 && err.message == missing,
        "`lvsd draft show` lists the draft's services; `lvsd svc add` adds one",
    )
}

pub fn svc(client: &Client, command: SvcCommand) -> Result<(), Failure> {
    let cluster = client.cluster.clone();
    match command {
        SvcCommand::Add(args) => {
            let key = args.service.key();
            let doc = service_doc(&key, &args.opts)?;
            let reply = client
                .api
                .send(
                    Method::POST,
                    &client.path("/draft/services"),
                    Body::Json(doc),
                    args.if_match.given(),
                )
                .map_err(|f| {
                    f.options(SERVICE_OPTIONS)
                        .exists_hint("change it with `lvsd svc edit`")
                        .draft_race(true)
                })?;
            if client.json() {
                print_json(&reply.value());
            } else {
                let svc = service_of(&reply.value())?;
                println!(
                    "added to the draft of {cluster}: {}",
                    render::service_line(&svc)
                );
            }
            Ok(())
        }
        SvcCommand::Edit(args) => svc_edit(client, args),
        SvcCommand::Del(args) => {
            let key = args.service.key();
            client
                .api
                .send(
                    Method::DELETE,
                    &service_path(client, &key),
                    Body::Empty,
                    args.if_match.given(),
                )
                .map_err(|f| {
                    no_such_service(f.options(SERVICE_OPTIONS), &cluster, &key).draft_race(true)
                })?;
            if client.json() {
                print_json(&json!({"deleted": key.to_string()}));
            } else {
                println!("deleted {key} and its real servers from the draft of {cluster}");
            }
            Ok(())
        }
    }
}

fn svc_edit(client: &Client, args: SvcEditArgs) -> Result<(), Failure> {
    let cluster = &client.cluster;
    let key = args.service.key();
    let path = service_path(client, &key);
    let current = client
        .api
        .get(&path)
        .map_err(|f| no_such_service(f, cluster, &key))?;
    let etag = current.etag.clone().unwrap_or_default();
    let before = service_of(&current.value())?;
    let opts = &args.opts;
    let (method, body) = if args.replace {
        (Method::PUT, service_doc(&key, opts)?)
    } else {
        let mut patch = Map::new();
        if let Some(scheduler) = opts.scheduler {
            patch.insert("scheduler".into(), scheduler.as_str().into());
        }
        if let Some(flags) = &opts.sched_flags {
            patch.insert("sched_flags".into(), flags_value(flags));
        }
        if args.no_persistent {
            patch.insert("persistence".into(), Value::Null);
            patch.insert("persistence_engine".into(), Value::Null);
        } else if opts.persistent.is_some() || opts.netmask.is_some() {
            if opts.persistent.is_none() && before.persistence.is_none() {
                return Err(netmask_needs_persistence(&key));
            }
            let mut persistence = Map::new();
            if let Some(Some(timeout)) = opts.persistent {
                persistence.insert("timeout".into(), timeout.into());
            }
            if let Some(mask) = &opts.netmask {
                persistence.insert("netmask".into(), netmask_value(mask));
            }
            patch.insert("persistence".into(), persistence.into());
        }
        if opts.ops || args.no_ops {
            patch.insert("one_packet".into(), opts.ops.into());
        }
        if let Some(pe) = &opts.pe {
            patch.insert("persistence_engine".into(), pe.as_str().into());
        } else if args.no_pe {
            patch.insert("persistence_engine".into(), Value::Null);
        }
        if patch.is_empty() {
            return Err(Failure::Usage(
                "nothing to change: give what to change (-s, -p, -M, -o, --pe, -b, --no-persistent, --no-pe, --no-ops)".into(),
            ));
        }
        (Method::PATCH, patch.into())
    };
    let reply = client
        .api
        .send(
            method,
            &path,
            Body::Json(body),
            Some(args.if_match.or(&etag)),
        )
        .map_err(|f| {
            no_such_service(f.options(SERVICE_OPTIONS), cluster, &key)
                .hint_if(
                    |err| err.field.as_deref() == Some("sched_flags") && opts.sched_flags.is_none(),
                    "give the new scheduler's flags with -b, or -b '' for none",
                )
                .draft_race(args.if_match.given().is_some())
        })?;
    if client.json() {
        print_json(&reply.value());
        return Ok(());
    }
    let after = service_of(&reply.value())?;
    if after == before {
        println!("{key} already was so: nothing changed");
    } else {
        println!("changed in the draft of {cluster}:");
        println!("  was: {}", render::service_line(&before));
        println!("  now: {}", render::service_line(&after));
    }
    Ok(())
}

// ---------------------------------------------------------------- rs

#[derive(Debug, Subcommand)]
pub enum RsCommand {
    /// Add a real server to a virtual service in the draft (ipvsadm -a).
    #[command(
        long_about = "Add a real server to a virtual service in the draft (ipvsadm -a).\n\n\
Options not given take ipvsadm's defaults: direct routing (-g), weight 1,\n\
the virtual port. Unlike ipvsadm, which silently replaces the port of a\n\
-g or -i real server with the virtual port, lvsd refuses a different port:\n\
only NAT (-m, --fullnat) maps ports.",
        after_help = concat!(
"Examples:
  lvsd rs add -t 192.168.31.100:80 -r 172.25.0.31 -m -w 1
  lvsd rs add -t 192.168.31.100:80 -r 172.25.0.32:8080 -m -w 2
  lvsd rs add -t 10.0.0.10:80 -r 10.0.0.21 -g
  lvsd rs add -f 12 -r 10.1.0.5 -i --tun-type gue --tun-port 6080 --tun-csum

", exit_codes!()))]
    Add(RsAddArgs),
    /// Change options of a real server in the draft (like ipvsadm -e, but only what you give).
    #[command(
        long_about = "Change options of a real server in the draft.\n\n\
Unlike ipvsadm -e, which resets every option you leave out (forwarding\n\
back to -g, weight back to 1), `lvsd rs edit` changes only the options you\n\
give: `lvsd rs edit -t VIP:PORT -r RIP -w 0` drains the server and keeps\n\
its forwarding. --replace gives ipvsadm's behaviour.\n\n\
The command reads the real server and writes it back only if nobody\n\
changed the draft in between (If-Match); otherwise it stops with exit\n\
status 4.",
        after_help = concat!(
"Examples:
  lvsd rs edit -t 192.168.31.100:80 -r 172.25.0.31 -w 5
  lvsd rs edit -t 192.168.31.100:80 -r 172.25.0.31 -w 0     # drain
  lvsd rs edit -t 192.168.31.100:80 -r 172.25.0.31 -x 1000 -y 800

", exit_codes!()))]
    Edit(RsEditArgs),
    /// Delete a real server from a virtual service in the draft (ipvsadm -d).
    #[command(after_help = concat!(
"Examples:
  lvsd rs del -t 192.168.31.100:80 -r 172.25.0.33
  lvsd rs del -t 192.168.31.100:80 -r 172.25.0.32:8080

", exit_codes!()))]
    Del(RsDelArgs),
}

/// `-g`, `-m`, `-i`, `--fullnat`: one of them.
#[derive(Debug, Clone, Args)]
#[group(id = "forwarding", multiple = false)]
pub struct ForwardingFlags {
    /// Direct routing (gatewaying): the real server answers the client itself [default]
    #[arg(short = 'g', long = "gatewaying", help_heading = "Forwarding")]
    gatewaying: bool,
    /// NAT (masquerading): replies return through the director; ports may differ
    #[arg(short = 'm', long = "masquerading", help_heading = "Forwarding")]
    masquerading: bool,
    /// Tunnelling (ipip, or --tun-type)
    #[arg(short = 'i', long = "ipip", help_heading = "Forwarding")]
    ipip: bool,
    /// NAT plus source NAT on the director, so real servers need no route back (lvsd)
    #[arg(long = "fullnat", help_heading = "Forwarding")]
    fullnat: bool,
}

impl ForwardingFlags {
    fn method(&self) -> Option<&'static str> {
        match (self.gatewaying, self.masquerading, self.ipip, self.fullnat) {
            (true, ..) => Some("dr"),
            (_, true, ..) => Some("nat"),
            (_, _, true, _) => Some("tun"),
            (.., true) => Some("fullnat"),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum TunType {
    Ipip,
    Gue,
    Gre,
}

/// `--tun-nocsum`, `--tun-csum`, `--tun-remcsum`: one of them.
#[derive(Debug, Clone, Args)]
#[group(id = "checksum", multiple = false)]
pub struct ChecksumFlags {
    /// No tunnel checksum (gue, gre)
    #[arg(long = "tun-nocsum", help_heading = "Forwarding")]
    nocsum: bool,
    /// Tunnel checksum (gue, gre)
    #[arg(long = "tun-csum", help_heading = "Forwarding")]
    csum: bool,
    /// Remote checksum offload (gue)
    #[arg(long = "tun-remcsum", help_heading = "Forwarding")]
    remcsum: bool,
}

/// The real server options of `-a` and `-e`.
#[derive(Debug, Clone, Args)]
pub struct RsOpts {
    #[command(flatten)]
    forwarding: ForwardingFlags,
    /// Weight, 0 to 65535; 0 takes no new connections [default: 1]
    #[arg(short = 'w', long = "weight", value_name = "WEIGHT")]
    weight: Option<u32>,
    /// Upper connection threshold: no new connections above it (0: none)
    #[arg(short = 'x', long = "u-threshold", value_name = "UPPER")]
    upper: Option<u32>,
    /// Lower connection threshold: new connections again below it
    #[arg(short = 'y', long = "l-threshold", value_name = "LOWER")]
    lower: Option<u32>,
    /// Tunnel type of -i [default: ipip]
    #[arg(
        long = "tun-type",
        value_enum,
        value_name = "TYPE",
        help_heading = "Forwarding"
    )]
    tun_type: Option<TunType>,
    /// Destination UDP port of gue encapsulation
    #[arg(long = "tun-port", value_name = "PORT", help_heading = "Forwarding")]
    tun_port: Option<u16>,
    #[command(flatten)]
    checksum: ChecksumFlags,
}

impl RsOpts {
    /// The tunnel settings given, as a (partial) tunnel document.
    fn tunnel(&self) -> Option<Map<String, Value>> {
        let mut tunnel = Map::new();
        if let Some(kind) = self.tun_type {
            let name = match kind {
                TunType::Ipip => "ipip",
                TunType::Gue => "gue",
                TunType::Gre => "gre",
            };
            tunnel.insert("type".into(), name.into());
        }
        if let Some(port) = self.tun_port {
            tunnel.insert("port".into(), port.into());
        }
        let c = &self.checksum;
        let checksum = match (c.nocsum, c.csum, c.remcsum) {
            (true, ..) => Some("none"),
            (_, true, _) => Some("csum"),
            (.., true) => Some("remcsum"),
            _ => None,
        };
        if let Some(checksum) = checksum {
            tunnel.insert("checksum".into(), checksum.into());
        }
        (!tunnel.is_empty()).then_some(tunnel)
    }

    fn is_empty(&self) -> bool {
        self.forwarding.method().is_none()
            && self.weight.is_none()
            && self.upper.is_none()
            && self.lower.is_none()
            && self.tunnel().is_none()
    }
}

#[derive(Debug, Args)]
pub struct RsAddArgs {
    #[command(flatten)]
    service: ServiceArg,
    #[command(flatten)]
    server: ServerArg,
    #[command(flatten)]
    opts: RsOpts,
    #[command(flatten)]
    if_match: IfMatch,
}

#[derive(Debug, Args)]
pub struct RsEditArgs {
    #[command(flatten)]
    service: ServiceArg,
    #[command(flatten)]
    server: ServerArg,
    #[command(flatten)]
    opts: RsOpts,
    /// Replace every option, as ipvsadm -e: options not given return to their defaults
    #[arg(long)]
    replace: bool,
    #[command(flatten)]
    if_match: IfMatch,
}

#[derive(Debug, Args)]
pub struct RsDelArgs {
    #[command(flatten)]
    service: ServiceArg,
    #[command(flatten)]
    server: ServerArg,
    #[command(flatten)]
    if_match: IfMatch,
}

/// The whole real server document of `rs add` and `rs edit --replace`.
fn server_doc(ip: IpAddr, port: Option<u16>, opts: &RsOpts) -> Value {
    let mut doc = Map::new();
    doc.insert("address".into(), ip.to_string().into());
    if let Some(port) = port {
        doc.insert("port".into(), port.into());
    }
    if let Some(method) = opts.forwarding.method() {
        doc.insert("forwarding".into(), method.into());
    }
    if let Some(tunnel) = opts.tunnel() {
        doc.insert("tunnel".into(), tunnel.into());
    }
    for (field, value) in [
        ("weight", opts.weight),
        ("upper_threshold", opts.upper),
        ("lower_threshold", opts.lower),
    ] {
        if let Some(value) = value {
            doc.insert(field.into(), value.into());
        }
    }
    doc.into()
}

fn no_such_server(failure: Failure, key: &ServiceKey, server: &str) -> Failure {
    let missing = format!("service {key} has no real server {server}");
    failure.hint_if(
        move |err| err.status == 404 && err.message == missing,
        "`lvsd draft show` lists the draft's real servers; `lvsd rs add` adds one",
    )
}

pub fn rs(client: &Client, command: RsCommand) -> Result<(), Failure> {
    let cluster = &client.cluster;
    match command {
        RsCommand::Add(args) => {
            let key = args.service.key();
            let hp = args.server.host_port();
            let doc = server_doc(hp.ip, hp.port, &args.opts);
            let path = format!("{}/servers", service_path(client, &key));
            let reply = client
                .api
                .send(Method::POST, &path, Body::Json(doc), args.if_match.given())
                .map_err(|f| {
                    no_such_service(f.options(SERVER_OPTIONS), cluster, &key)
                        .exists_hint("change it with `lvsd rs edit`")
                        .draft_race(true)
                })?;
            if client.json() {
                print_json(&reply.value());
            } else {
                let rs = server_of(&reply.value(), &key)?;
                println!(
                    "added to {key} in the draft of {cluster}: {}",
                    render::server_summary(&rs)
                );
            }
            Ok(())
        }
        RsCommand::Edit(args) => {
            let key = args.service.key();
            let id = args.server.id(&key);
            let path = server_path(client, &key, &id);
            if !args.replace && args.opts.is_empty() {
                return Err(Failure::Usage(
                    "nothing to change: give what to change (-g, -m, -i, --fullnat, -w, -x, -y, --tun-type, --tun-port, ...)".into(),
                ));
            }
            let current = client
                .api
                .get(&path)
                .map_err(|f| no_such_server(no_such_service(f, cluster, &key), &key, &id))?;
            let etag = current.etag.clone().unwrap_or_default();
            let before = server_of(&current.value(), &key)?;
            let (method, body) = if args.replace {
                let hp = args.server.host_port();
                (
                    Method::PUT,
                    server_doc(hp.ip, Some(before.key.port()), &args.opts),
                )
            } else {
                let Value::Object(mut patch) = server_doc(before.key.ip(), None, &args.opts) else {
                    unreachable!("a document")
                };
                patch.remove("address");
                // Leaving tun drops the tunnel settings with it.
                if matches!(args.opts.forwarding.method(), Some(method) if method != "tun") {
                    patch.insert("tunnel".into(), Value::Null);
                }
                (Method::PATCH, patch.into())
            };
            let reply = client
                .api
                .send(
                    method,
                    &path,
                    Body::Json(body),
                    Some(args.if_match.or(&etag)),
                )
                .map_err(|f| {
                    no_such_server(f.options(SERVER_OPTIONS), &key, &id)
                        .draft_race(args.if_match.given().is_some())
                })?;
            if client.json() {
                print_json(&reply.value());
                return Ok(());
            }
            let after = server_of(&reply.value(), &key)?;
            if after == before {
                println!("{id} of {key} already was so: nothing changed");
            } else {
                println!("changed {key} in the draft of {cluster}:");
                println!("  was: {}", render::server_summary(&before));
                println!("  now: {}", render::server_summary(&after));
            }
            Ok(())
        }
        RsCommand::Del(args) => {
            let key = args.service.key();
            let id = args.server.id(&key);
            client
                .api
                .send(
                    Method::DELETE,
                    &server_path(client, &key, &id),
                    Body::Empty,
                    args.if_match.given(),
                )
                .map_err(|f| {
                    no_such_server(
                        no_such_service(f.options(SERVER_OPTIONS), cluster, &key),
                        &key,
                        &id,
                    )
                    .draft_race(true)
                })?;
            if client.json() {
                print_json(&json!({"deleted": id, "service": key.to_string()}));
            } else {
                println!("deleted {id} from {key} in the draft of {cluster}");
            }
            Ok(())
        }
    }
}

// ---------------------------------------------------------------- draft-wide edits

/// Reads the draft, changes its spec with `edit`, and writes it back only if
/// nobody changed it in between. Returns the draft as written.
fn edit_spec(
    client: &Client,
    if_match: &IfMatch,
    owners: &[(&str, &str)],
    edit: impl FnOnce(&mut Value) -> Result<(), Failure>,
) -> Result<Value, Failure> {
    let draft: Draft = client.api.draft(&client.cluster)?;
    let mut spec = draft.spec.clone();
    edit(&mut spec)?;
    let reply = client
        .api
        .send(
            Method::PUT,
            &client.path("/draft"),
            Body::Json(spec),
            Some(if_match.or(&draft.etag)),
        )
        .map_err(|f| f.options(owners).draft_race(if_match.given().is_some()))?;
    Ok(reply.value())
}

#[derive(Debug, Subcommand)]
pub enum TimeoutCommand {
    /// Set connection timeouts in the draft (ipvsadm --set TCP TCPFIN UDP).
    #[command(
        long_about = "Set connection timeouts in the draft (ipvsadm --set TCP TCPFIN UDP).\n\n\
Give any of the three; the others stay as the draft has them. As with\n\
ipvsadm, 0 means \"leave the kernel's value alone\": the draft then has no\n\
opinion on that timeout.",
        after_help = concat!(
"Examples:
  lvsd timeout set --tcp 900 --tcpfin 120 --udp 300
  lvsd timeout set --tcp 15m
  lvsd timeout set --udp 0      # leave udp as each director has it

", exit_codes!()))]
    Set(TimeoutSetArgs),
}

#[derive(Debug, Args)]
#[command(group = clap::ArgGroup::new("timeouts").required(true).multiple(true))]
pub struct TimeoutSetArgs {
    /// TCP session timeout (seconds, or 15m)
    #[arg(long, value_name = "T", value_parser = parse_secs, group = "timeouts")]
    tcp: Option<u32>,
    /// TCP timeout after a FIN
    #[arg(long, value_name = "T", value_parser = parse_secs, group = "timeouts")]
    tcpfin: Option<u32>,
    /// UDP timeout
    #[arg(long, value_name = "T", value_parser = parse_secs, group = "timeouts")]
    udp: Option<u32>,
    #[command(flatten)]
    if_match: IfMatch,
}

pub fn timeout(client: &Client, command: TimeoutCommand) -> Result<(), Failure> {
    let TimeoutCommand::Set(args) = command;
    let draft = edit_spec(client, &args.if_match, TIMEOUT_OPTIONS, |spec| {
        let timeouts = spec
            .as_object_mut()
            .expect("a spec is an object")
            .entry("timeouts")
            .or_insert_with(|| json!({}));
        for (name, value) in [
            ("tcp", args.tcp),
            ("tcpfin", args.tcpfin),
            ("udp", args.udp),
        ] {
            match value {
                Some(0) => {
                    timeouts.as_object_mut().map(|t| t.remove(name));
                }
                Some(secs) => timeouts[name] = secs.into(),
                None => {}
            }
        }
        Ok(())
    })?;
    if client.json() {
        print_json(&draft);
    } else {
        let spec = spec_of(&draft["spec"])?;
        println!(
            "draft of {}: {}",
            client.cluster,
            render::timeouts_line(&spec.timeouts)
        );
    }
    Ok(())
}

#[derive(Debug, Subcommand)]
pub enum DaemonCommand {
    /// Run a connection sync daemon (ipvsadm --start-daemon).
    #[command(
        long_about = "Run a connection sync daemon on the cluster's directors (ipvsadm --start-daemon).\n\n\
The daemon goes into the draft; a daemon of the same role already there is\n\
replaced. As with ipvsadm, the interface defaults to eth0 and the sync id\n\
to 0.",
        after_help = concat!(
"Examples:
  lvsd daemon start master --mcast-interface eth1 --syncid 7
  lvsd daemon start backup --mcast-interface eth1 --syncid 7 --mcast-group 239.0.0.81

", exit_codes!()))]
    Start(DaemonStartArgs),
    /// Stop a connection sync daemon (ipvsadm --stop-daemon).
    #[command(after_help = concat!(
"Examples:
  lvsd daemon stop backup

", exit_codes!()))]
    Stop(DaemonStopArgs),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Role {
    Master,
    Backup,
}

impl Role {
    fn name(self) -> &'static str {
        match self {
            Role::Master => DaemonRole::Master.as_str(),
            Role::Backup => DaemonRole::Backup.as_str(),
        }
    }
}

#[derive(Debug, Args)]
pub struct DaemonStartArgs {
    #[arg(value_enum)]
    role: Role,
    /// Multicast interface
    #[arg(long = "mcast-interface", value_name = "IF", default_value = "eth0")]
    interface: String,
    /// Sync id, 0 to 255
    #[arg(long, value_name = "N", default_value_t = 0)]
    syncid: u32,
    /// Largest sync message payload, bytes
    #[arg(long = "sync-maxlen", value_name = "BYTES")]
    sync_maxlen: Option<u16>,
    /// Multicast group [kernel default: 224.0.0.81]
    #[arg(long = "mcast-group", value_name = "ADDRESS")]
    mcast_group: Option<IpAddr>,
    /// Multicast port
    #[arg(long = "mcast-port", value_name = "PORT")]
    mcast_port: Option<u16>,
    /// Multicast TTL
    #[arg(long = "mcast-ttl", value_name = "TTL")]
    mcast_ttl: Option<u8>,
    #[command(flatten)]
    if_match: IfMatch,
}

#[derive(Debug, Args)]
pub struct DaemonStopArgs {
    #[arg(value_enum)]
    role: Role,
    #[command(flatten)]
    if_match: IfMatch,
}

fn daemons(spec: &mut Value) -> &mut Vec<Value> {
    let entry = spec
        .as_object_mut()
        .expect("a spec is an object")
        .entry("sync_daemons")
        .or_insert_with(|| json!([]));
    if !entry.is_array() {
        *entry = json!([]);
    }
    entry.as_array_mut().expect("made an array")
}

pub fn daemon(client: &Client, command: DaemonCommand) -> Result<(), Failure> {
    let cluster = client.cluster.clone();
    let (draft, said) = match command {
        DaemonCommand::Start(args) => {
            let role = args.role.name();
            let mut daemon =
                json!({"role": role, "interface": args.interface, "syncid": args.syncid});
            let optional = [
                ("sync_maxlen", args.sync_maxlen.map(Value::from)),
                (
                    "mcast_group",
                    args.mcast_group.map(|g| g.to_string().into()),
                ),
                ("mcast_port", args.mcast_port.map(Value::from)),
                ("mcast_ttl", args.mcast_ttl.map(Value::from)),
            ];
            for (field, value) in optional {
                if let Some(value) = value {
                    daemon[field] = value;
                }
            }
            let mut replaced = false;
            let draft = edit_spec(client, &args.if_match, DAEMON_OPTIONS, |spec| {
                let list = daemons(spec);
                let before = list.len();
                list.retain(|d| d["role"] != role);
                replaced = list.len() != before;
                list.push(daemon);
                Ok(())
            })?;
            let verb = if replaced { "replaced" } else { "added" };
            (
                draft,
                format!("{verb} the {role} sync daemon in the draft of {cluster}"),
            )
        }
        DaemonCommand::Stop(args) => {
            let role = args.role.name();
            let draft = edit_spec(client, &args.if_match, DAEMON_OPTIONS, |spec| {
                let list = daemons(spec);
                let before = list.len();
                list.retain(|d| d["role"] != role);
                if list.len() == before {
                    return Err(Failure::Local(format!(
                        "the draft of {cluster} runs no {role} sync daemon: nothing to stop"
                    )));
                }
                Ok(())
            })?;
            (
                draft,
                format!("removed the {role} sync daemon from the draft of {cluster}"),
            )
        }
    };
    if client.json() {
        print_json(&draft);
    } else {
        println!("{said}");
    }
    Ok(())
}

// ---------------------------------------------------------------- import

#[derive(Debug, Args)]
#[command(
    long_about = "Replace the draft with ipvsadm rules (ipvsadm -R, into the draft).\n\n\
FILE holds `ipvsadm -Sn` output, or a script of ipvsadm command lines\n\
(-A -E -D -C -a -e -d --set --start-daemon --stop-daemon, each line with\n\
or without a leading `ipvsadm`). The rules build the draft from an empty\n\
table; nothing is active until `lvsd commit`. A bad line is reported as\n\
FILE:LINE and nothing is written.",
    after_help = concat!(
"Examples:
  ipvsadm -Sn | lvsd import -
  lvsd import /etc/ipvsadm.rules && lvsd draft diff && lvsd commit -m 'from ipvsadm.rules'
  lvsd import --format keepalived /etc/keepalived/keepalived.conf

", exit_codes!()))]
pub struct ImportArgs {
    /// File of ipvsadm rules, or - for standard input
    #[arg(value_name = "FILE")]
    file: String,
    /// What FILE holds; keepalived: a keepalived.conf, its includes read beside it
    #[arg(long, value_enum, default_value_t)]
    format: super::keepalived::Format,
    /// keepalived: refuse the import when anything would be left out, listing it
    #[arg(long)]
    strict: bool,
    #[command(flatten)]
    if_match: IfMatch,
    #[command(flatten)]
    pub conn: Conn,
}

pub fn import(client: &Client, args: ImportArgs) -> Result<(), Failure> {
    match (args.format, args.strict) {
        (super::keepalived::Format::Keepalived, strict) => {
            return super::keepalived::import(client, &args.file, strict, args.if_match.given());
        }
        (_, true) => {
            return Err(Failure::Usage(
                "--strict is for --format keepalived: an ipvsadm import refuses every line it cannot carry".into(),
            ));
        }
        _ => {}
    }
    let (name, text) = if args.file == "-" {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .map_err(|err| Failure::Local(format!("cannot read standard input: {err}")))?;
        ("<stdin>".to_string(), text)
    } else {
        let text = std::fs::read_to_string(&args.file)
            .map_err(|err| Failure::Local(format!("cannot read {}: {err}", args.file)))?;
        (args.file.clone(), text)
    };
    let reply = client
        .api
        .send(
            Method::POST,
            &client.path("/draft/import"),
            Body::Text(text),
            args.if_match.given(),
        )
        .map_err(|failure| match failure {
            // A bad line: name it as compilers do, FILE:LINE.
            Failure::Server(mut err)
                if err.field.as_deref().is_some_and(|f| f.starts_with("line ")) =>
            {
                let line = err.field.take().unwrap_or_default();
                err.message = format!(
                    "{name}:{}: {}",
                    line.trim_start_matches("line "),
                    err.message
                );
                Failure::Server(err)
            }
            other => other.draft_race(true),
        })?;
    let draft = reply.value();
    if client.json() {
        print_json(&draft);
        return Ok(());
    }
    let spec = spec_of(&draft["spec"])?;
    println!(
        "replaced the draft of {} with {name}: {}, {}",
        client.cluster,
        render::count(spec.services().len(), "service"),
        render::count(spec.server_count(), "real server")
    );
    println!("  review: lvsd draft diff");
    println!("  then:   lvsd commit -m MESSAGE");
    Ok(())
}
