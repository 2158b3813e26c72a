//! `ipvsadm::parse`: never panics; a refusal names a line of the text; an
//! accepted text gives a spec that `to_restore` writes back to the same spec.

use proptest::prelude::*;
use proptest::sample::select;

use super::{apply, edit, fuzz};
use crate::ipvsadm::{parse, to_restore};
use crate::model::arbitrary::kernel_spec;

const WORDS: &[&str] = &[
    "ipvsadm",
    "-A",
    "-E",
    "-D",
    "-C",
    "-a",
    "-e",
    "-d",
    "-R",
    "-S",
    "-L",
    "-Z",
    "-n",
    "-t",
    "-u",
    "-f",
    "--sctp-service",
    "--tcp-service",
    "--udp-service",
    "--fwmark-service",
    "-s",
    "--scheduler",
    "-p",
    "--persistent",
    "-M",
    "--netmask",
    "-r",
    "--real-server",
    "-g",
    "--gatewaying",
    "-i",
    "--ipip",
    "-m",
    "--masquerading",
    "-w",
    "--weight",
    "-x",
    "--u-threshold",
    "-y",
    "--l-threshold",
    "-o",
    "--ops",
    "--pe",
    "sip",
    "-6",
    "--set",
    "--start-daemon",
    "--stop-daemon",
    "master",
    "backup",
    "--mcast-interface",
    "eth0",
    "--syncid",
    "--sync-maxlen",
    "--mcast-group",
    "--mcast-port",
    "--mcast-ttl",
    "-b",
    "--sched-flags",
    "sh-fallback",
    "sh-port",
    "flag-1,flag-2",
    "--tun-type",
    "gue",
    "gre",
    "ipip",
    "--tun-port",
    "--tun-nocsum",
    "--tun-csum",
    "--tun-remcsum",
    "rr",
    "wrr",
    "lc",
    "wlc",
    "lblc",
    "lblcr",
    "dh",
    "sh",
    "sed",
    "nq",
    "fo",
    "ovf",
    "mh",
    "twos",
    "10.0.0.1",
    "10.0.0.1:80",
    "10.0.0.2:8080",
    "192.168.31.100:80",
    "172.25.0.31:80",
    "[2001:db8::1]:443",
    "[2001:db8::2]",
    "2001:db8::1",
    "[::1]:0",
    "[fe80::1]:80",
    "0.0.0.0:0",
    "255.255.255.255:65535",
    "1.2.3.4:http",
    "1.2.3.4:https",
    "1.2.3.4:nope",
    "255.255.255.0",
    "24",
    "/24",
    "64",
    "0",
    "1",
    "80",
    "65535",
    "65536",
    "-1",
    "2147483647",
    "2147483648",
    "4294967295",
    "4294967296",
    "99999999999999999999",
    "300",
    "2678400",
    "2678401",
    "#",
    "# comment",
    "\\",
    "\"",
    "'",
    "\"a b\"",
    "'c d'",
    "=",
    "--",
    "-",
    "---",
    ":",
    "[",
    "]",
    "::",
    "%",
    "\t",
    "é",
    "\u{0}",
];

fn word() -> impl Strategy<Value = String> {
    prop_oneof![
        8 => select(WORDS).prop_map(str::to_string),
        1 => "[ -~]{0,12}",
        1 => any::<String>(),
    ]
}

fn line() -> impl Strategy<Value = String> {
    (
        prop::collection::vec(word(), 0..9),
        select(&[" ", " ", "  ", "\t"][..]),
    )
        .prop_map(|(words, sep)| words.join(sep))
}

/// Texts made of ipvsadm's words, and restore texts of valid specs, edited.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        (
            prop::collection::vec(line(), 0..10),
            select(&["\n", "\n", "\r\n", " \\\n"][..])
        )
            .prop_map(|(lines, end)| lines.join(end)),
        (kernel_spec(), prop::collection::vec(edit(word()), 1..4))
            .prop_map(|(spec, edits)| apply(&to_restore(&spec), &edits)),
    ]
}

#[test]
fn ipvsadm_parse_never_panics_and_names_the_line() {
    fuzz("ipvsadm::parse", text(), |text| {
        let lines = text.split('\n').count();
        match parse(&text) {
            Err(err) => {
                prop_assert!(
                    err.line >= 1 && err.line <= lines,
                    "line {} of {lines}: {err}\n{text:?}",
                    err.line
                );
                prop_assert!(!err.message.is_empty());
                Ok(false)
            }
            Ok(spec) => {
                let restore = to_restore(&spec);
                let back = parse(&restore).map_err(|err| {
                    TestCaseError::fail(format!("{err}\n{restore}\nfrom {text:?}"))
                })?;
                prop_assert_eq!(back, spec, "{}\nfrom {:?}", restore, text);
                Ok(true)
            }
        }
    });
}
