//! ipvsadm's option syntax, as its option parser (popt) reads it: long
//! options with a value as the next word or after `=`, short options that
//! combine (`-At 10.0.0.1:80`, `-p300`), `-p` whose value is optional (taken
//! unless the next word starts with `-`), `--` ending the options.
//!
//! This layer only splits words into options; what the values mean and which
//! options go with which command is `command`'s business.

use super::ParseError;
use super::lexer::{CommandLine, Word};

/// Every option ipvsadm knows, commands included (popt has one flat table).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Opt {
    AddService,
    EditService,
    DeleteService,
    Clear,
    List,
    Zero,
    AddServer,
    EditServer,
    DeleteServer,
    Set,
    Help,
    Version,
    Restore,
    Save,
    StartDaemon,
    StopDaemon,
    TcpService,
    UdpService,
    SctpService,
    FwmarkService,
    Scheduler,
    Persistent,
    Netmask,
    RealServer,
    Masquerading,
    Ipip,
    Gatewaying,
    Weight,
    UThreshold,
    LThreshold,
    Numeric,
    Connection,
    McastInterface,
    SyncId,
    Timeout,
    Daemon,
    Stats,
    Rate,
    Thresholds,
    PersistentConn,
    NoSort,
    Sort,
    Exact,
    Ipv6,
    Ops,
    Pe,
    SchedFlags,
    McastGroup,
    McastPort,
    McastTtl,
    SyncMaxlen,
    TunInfo,
    TunType,
    TunPort,
    TunNocsum,
    TunCsum,
    TunRemcsum,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Takes {
    Nothing,
    Value,
    /// `-p [timeout]`.
    OptionalValue,
}

struct OptionSpec {
    long: &'static str,
    short: Option<char>,
    takes: Takes,
    opt: Opt,
}

const fn spec(long: &'static str, short: Option<char>, takes: Takes, opt: Opt) -> OptionSpec {
    OptionSpec {
        long,
        short,
        takes,
        opt,
    }
}

use Takes::{Nothing, OptionalValue, Value};

/// ipvsadm 1.31's option table.
const OPTIONS: &[OptionSpec] = &[
    spec("add-service", Some('A'), Nothing, Opt::AddService),
    spec("edit-service", Some('E'), Nothing, Opt::EditService),
    spec("delete-service", Some('D'), Nothing, Opt::DeleteService),
    spec("clear", Some('C'), Nothing, Opt::Clear),
    spec("list", Some('L'), Nothing, Opt::List),
    spec("list", Some('l'), Nothing, Opt::List),
    spec("zero", Some('Z'), Nothing, Opt::Zero),
    spec("add-server", Some('a'), Nothing, Opt::AddServer),
    spec("edit-server", Some('e'), Nothing, Opt::EditServer),
    spec("delete-server", Some('d'), Nothing, Opt::DeleteServer),
    spec("set", None, Nothing, Opt::Set),
    spec("help", Some('h'), Nothing, Opt::Help),
    spec("version", Some('v'), Nothing, Opt::Version),
    spec("restore", Some('R'), Nothing, Opt::Restore),
    spec("save", Some('S'), Nothing, Opt::Save),
    spec("start-daemon", None, Value, Opt::StartDaemon),
    spec("stop-daemon", None, Value, Opt::StopDaemon),
    spec("tcp-service", Some('t'), Value, Opt::TcpService),
    spec("udp-service", Some('u'), Value, Opt::UdpService),
    spec("sctp-service", None, Value, Opt::SctpService),
    spec("fwmark-service", Some('f'), Value, Opt::FwmarkService),
    spec("scheduler", Some('s'), Value, Opt::Scheduler),
    spec("persistent", Some('p'), OptionalValue, Opt::Persistent),
    spec("netmask", Some('M'), Value, Opt::Netmask),
    spec("real-server", Some('r'), Value, Opt::RealServer),
    spec("masquerading", Some('m'), Nothing, Opt::Masquerading),
    spec("ipip", Some('i'), Nothing, Opt::Ipip),
    spec("gatewaying", Some('g'), Nothing, Opt::Gatewaying),
    spec("weight", Some('w'), Value, Opt::Weight),
    spec("u-threshold", Some('x'), Value, Opt::UThreshold),
    spec("l-threshold", Some('y'), Value, Opt::LThreshold),
    spec("numeric", Some('n'), Nothing, Opt::Numeric),
    spec("connection", Some('c'), Nothing, Opt::Connection),
    spec("mcast-interface", None, Value, Opt::McastInterface),
    spec("syncid", None, Value, Opt::SyncId),
    spec("timeout", None, Nothing, Opt::Timeout),
    spec("daemon", None, Nothing, Opt::Daemon),
    spec("stats", None, Nothing, Opt::Stats),
    spec("rate", None, Nothing, Opt::Rate),
    spec("thresholds", None, Nothing, Opt::Thresholds),
    spec("persistent-conn", None, Nothing, Opt::PersistentConn),
    spec("nosort", None, Nothing, Opt::NoSort),
    spec("sort", None, Nothing, Opt::Sort),
    spec("exact", Some('X'), Nothing, Opt::Exact),
    spec("ipv6", Some('6'), Nothing, Opt::Ipv6),
    spec("ops", Some('o'), Nothing, Opt::Ops),
    spec("pe", None, Value, Opt::Pe),
    spec("sched-flags", Some('b'), Value, Opt::SchedFlags),
    spec("mcast-group", None, Value, Opt::McastGroup),
    spec("mcast-port", None, Value, Opt::McastPort),
    spec("mcast-ttl", None, Value, Opt::McastTtl),
    spec("sync-maxlen", None, Value, Opt::SyncMaxlen),
    spec("tun-info", None, Nothing, Opt::TunInfo),
    spec("tun-type", None, Value, Opt::TunType),
    spec("tun-port", None, Value, Opt::TunPort),
    spec("tun-nocsum", None, Nothing, Opt::TunNocsum),
    spec("tun-csum", None, Nothing, Opt::TunCsum),
    spec("tun-remcsum", None, Nothing, Opt::TunRemcsum),
];

impl Opt {
    pub fn is_command(self) -> bool {
        matches!(
            self,
            Opt::AddService
                | Opt::EditService
                | Opt::DeleteService
                | Opt::Clear
                | Opt::List
                | Opt::Zero
                | Opt::AddServer
                | Opt::EditServer
                | Opt::DeleteServer
                | Opt::Set
                | Opt::Help
                | Opt::Version
                | Opt::Restore
                | Opt::Save
                | Opt::StartDaemon
                | Opt::StopDaemon
        )
    }

    /// The option's group as ipvsadm names it in its messages (one of its
    /// `OPTC_*`): options of one group may appear once per command. `-6` and
    /// `--sort` belong to none.
    pub fn group(self) -> Option<&'static str> {
        Some(match self {
            Opt::TcpService | Opt::UdpService | Opt::SctpService | Opt::FwmarkService => {
                "service-address"
            }
            Opt::Scheduler => "scheduler",
            Opt::Persistent => "persistent",
            Opt::Netmask => "netmask",
            Opt::RealServer => "real-server",
            Opt::Masquerading | Opt::Ipip | Opt::Gatewaying => "forwarding-method",
            Opt::Weight => "weight",
            Opt::UThreshold => "u-threshold",
            Opt::LThreshold => "l-threshold",
            Opt::Numeric => "numeric",
            Opt::Connection => "connection",
            Opt::McastInterface => "mcast-interface",
            Opt::SyncId => "syncid",
            Opt::Timeout => "timeout",
            Opt::Daemon => "daemon",
            Opt::Stats => "stats",
            Opt::Rate => "rate",
            Opt::Thresholds => "thresholds",
            Opt::PersistentConn => "persistent-conn",
            Opt::NoSort => "nosort",
            Opt::Exact => "exact",
            Opt::Ops => "ops",
            Opt::Pe => "pe",
            Opt::SchedFlags => "sched-flags",
            Opt::McastGroup => "mcast-group",
            Opt::McastPort => "mcast-port",
            Opt::McastTtl => "mcast-ttl",
            Opt::SyncMaxlen => "sync-maxlen",
            Opt::TunInfo => "tun-info",
            Opt::TunType => "tun-type",
            Opt::TunPort => "tun-port",
            Opt::TunNocsum => "tun-nocsum",
            Opt::TunCsum => "tun-csum",
            Opt::TunRemcsum => "tun-remcsum",
            _ => return None,
        })
    }
}

/// One option as written on a line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Occurrence {
    pub opt: Opt,
    /// As the user spelled it: `-s` or `--scheduler`.
    pub written: String,
    pub value: Option<String>,
    /// Line of the option's word (continuations make this differ per option).
    pub line: usize,
}

impl Occurrence {
    /// The option and its value as written, to quote in errors: `-w 70000`.
    pub fn shown(&self) -> String {
        match &self.value {
            Some(value) => format!("{} {value}", self.written),
            None => self.written.clone(),
        }
    }

    /// The value of an option that requires one (the reader guarantees it).
    pub fn value(&self) -> &str {
        self.value.as_deref().unwrap_or_default()
    }

    pub fn error(&self, reason: impl std::fmt::Display) -> ParseError {
        ParseError::new(self.line, format!("`{}`: {reason}", self.shown()))
    }
}

/// A command line split into its command, its options and its other words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Invocation {
    pub command: Occurrence,
    pub options: Vec<Occurrence>,
    /// Words that are no option's value (`--set`'s three timeouts).
    pub args: Vec<Word>,
}

impl Invocation {
    pub fn find(&self, opt: Opt) -> Option<&Occurrence> {
        self.options.iter().find(|o| o.opt == opt)
    }

    pub fn has(&self, opt: Opt) -> bool {
        self.find(opt).is_some()
    }
}

/// Reads one command line as ipvsadm's option parser does. As in ipvsadm,
/// the command must come first.
pub(super) fn read(line: &CommandLine) -> Result<Invocation, ParseError> {
    // A script line that is no ipvsadm call (`set -e`, `modprobe ip_vs`).
    if let Some(first) = line.words.first().filter(|w| !w.text.starts_with('-')) {
        return Err(ParseError::new(
            first.line,
            format!("`{}`: not an ipvsadm command", first.text),
        ));
    }
    let mut words = line.words.iter().peekable();
    let mut found = Vec::new();
    let mut args = Vec::new();
    let mut only_args = false;
    while let Some(word) = words.next() {
        let text = word.text.as_str();
        if only_args || !text.starts_with('-') || text == "-" {
            args.push(word.clone());
        } else if text == "--" {
            only_args = true;
        } else if let Some(long) = text.strip_prefix("--") {
            let (name, inline) = match long.split_once('=') {
                Some((name, value)) => (name, Some(value.to_string())),
                None => (long, None),
            };
            let spec = OPTIONS
                .iter()
                .find(|s| s.long == name)
                .ok_or_else(|| unknown_option(&format!("--{name}"), word))?;
            let written = format!("--{name}");
            let value = match (spec.takes, inline) {
                (Takes::Nothing, Some(_)) => {
                    return Err(ParseError::new(
                        word.line,
                        format!("`{text}`: {written} takes no value"),
                    ));
                }
                (_, Some(value)) => Some(value),
                (Takes::Nothing, None) => None,
                (takes, None) => next_value(takes, &written, word, &mut words)?,
            };
            found.push(Occurrence {
                opt: spec.opt,
                written,
                value,
                line: word.line,
            });
        } else {
            // A cluster of short options; one that takes a value takes the
            // rest of the cluster, or else the next word.
            let cluster = &text[1..];
            for (at, c) in cluster.char_indices() {
                let spec = OPTIONS
                    .iter()
                    .find(|s| s.short == Some(c))
                    .ok_or_else(|| unknown_option(&format!("-{c}"), word))?;
                let written = format!("-{c}");
                if spec.takes == Takes::Nothing {
                    found.push(Occurrence {
                        opt: spec.opt,
                        written,
                        value: None,
                        line: word.line,
                    });
                    continue;
                }
                let rest = &cluster[at + c.len_utf8()..];
                let value = if rest.is_empty() {
                    next_value(spec.takes, &written, word, &mut words)?
                } else {
                    Some(rest.to_string())
                };
                found.push(Occurrence {
                    opt: spec.opt,
                    written,
                    value,
                    line: word.line,
                });
                break;
            }
        }
    }

    let mut found = found.into_iter();
    let command = match found.next() {
        Some(first) if first.opt.is_command() => first,
        Some(first) => {
            return Err(first
                .error("a command must come first (such as -A, -E, -D, -a, -e, -d, -C or --set)"));
        }
        None => {
            let word = &line.words[0];
            return Err(ParseError::new(
                word.line,
                format!("`{}`: a command must come first", word.text),
            ));
        }
    };
    let options: Vec<_> = found.collect();
    if let Some(second) = options.iter().find(|o| o.opt.is_command()) {
        return Err(second.error(format!(
            "multiple commands specified ({} already given)",
            command.written
        )));
    }
    Ok(Invocation {
        command,
        options,
        args,
    })
}

fn unknown_option(name: &str, word: &Word) -> ParseError {
    let reason = if name == word.text {
        "unknown option".to_string()
    } else {
        format!("unknown option `{name}`")
    };
    ParseError::new(word.line, format!("`{}`: {reason}", word.text))
}

/// The value of an option from the next word: required ones take whatever
/// comes (as popt does), the optional one only a word not starting with `-`.
fn next_value<'a>(
    takes: Takes,
    written: &str,
    word: &Word,
    words: &mut std::iter::Peekable<impl Iterator<Item = &'a Word>>,
) -> Result<Option<String>, ParseError> {
    match (takes, words.peek()) {
        (Takes::OptionalValue, Some(next)) if next.text.starts_with('-') => Ok(None),
        (Takes::OptionalValue, None) => Ok(None),
        (_, Some(_)) => Ok(words.next().map(|next| next.text.clone())),
        (_, None) => Err(ParseError::new(
            word.line,
            format!("`{}`: {written} needs a value", word.text),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ipvsadm::lexer::split;

    fn read_one(text: &str) -> Result<Invocation, ParseError> {
        read(&split(text).unwrap()[0])
    }

    fn shown(text: &str) -> Vec<String> {
        let inv = read_one(text).unwrap();
        std::iter::once(&inv.command)
            .chain(&inv.options)
            .map(Occurrence::shown)
            .chain(inv.args.iter().map(|w| format!("arg {}", w.text)))
            .collect()
    }

    #[test]
    fn long_short_and_combined_forms() {
        assert_eq!(
            shown("--add-service --tcp-service=10.0.0.1:80 --scheduler wrr"),
            [
                "--add-service",
                "--tcp-service 10.0.0.1:80",
                "--scheduler wrr"
            ]
        );
        assert_eq!(
            shown("-At 10.0.0.1:80 -swrr"),
            ["-A", "-t 10.0.0.1:80", "-s wrr"]
        );
        assert_eq!(
            shown("-a -t 10.0.0.1:80 -r 10.0.1.1 -mw 3"),
            ["-a", "-t 10.0.0.1:80", "-r 10.0.1.1", "-m", "-w 3"]
        );
        assert_eq!(
            shown("--set 900 120 300"),
            ["--set", "arg 900", "arg 120", "arg 300"]
        );
        assert_eq!(
            shown("--set -- 1 2 -3"),
            ["--set", "arg 1", "arg 2", "arg -3"]
        );
    }

    #[test]
    fn persistent_takes_a_value_only_when_one_follows() {
        assert_eq!(
            shown("-A -t 10.0.0.1:80 -p"),
            ["-A", "-t 10.0.0.1:80", "-p"]
        );
        assert_eq!(
            shown("-A -t 10.0.0.1:80 -p -s rr"),
            ["-A", "-t 10.0.0.1:80", "-p", "-s rr"]
        );
        assert_eq!(
            shown("-A -t 10.0.0.1:80 -p 60 -s rr"),
            ["-A", "-t 10.0.0.1:80", "-p 60", "-s rr"]
        );
        assert_eq!(
            shown("-A -t 10.0.0.1:80 -p60"),
            ["-A", "-t 10.0.0.1:80", "-p 60"]
        );
        assert_eq!(
            shown("-A -t 10.0.0.1:80 --persistent=60"),
            ["-A", "-t 10.0.0.1:80", "--persistent 60"]
        );
        // popt takes any next word; ipvsadm then refuses it as a timeout.
        assert_eq!(
            shown("-A -t 10.0.0.1:80 -p x"),
            ["-A", "-t 10.0.0.1:80", "-p x"]
        );
    }

    #[test]
    fn refusals() {
        for (text, needle) in [
            ("-A -t 10.0.0.1:80 -q", "`-q`: unknown option"),
            ("-A -t 10.0.0.1:80 -Aq", "`-Aq`: unknown option `-q`"),
            ("-A -t 10.0.0.1:80 --bogus", "`--bogus`: unknown option"),
            ("-A -t", "`-t`: -t needs a value"),
            ("-C --clear=yes", "`--clear=yes`: --clear takes no value"),
            (
                "-t 10.0.0.1:80 -A",
                "`-t 10.0.0.1:80`: a command must come first",
            ),
            ("-A -a -t 10.0.0.1:80", "`-a`: multiple commands specified"),
            ("set -e", "`set`: not an ipvsadm command"),
        ] {
            let err = read_one(text).unwrap_err();
            assert!(err.message.contains(needle), "{text}: {err}");
        }
    }
}
