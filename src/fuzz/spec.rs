//! `Spec::from_json`: never panics; refuses with a field and a message; an
//! accepted spec round-trips through its canonical JSON unchanged.

use std::collections::BTreeMap;

use proptest::prelude::*;
use proptest::sample::select;
use serde_json::{Number, Value};

use super::{apply, edit, fuzz};
use crate::model::Spec;
use crate::model::arbitrary::spec;

const KEYS: &[&str] = &[
    "services",
    "timeouts",
    "sync_daemons",
    "id",
    "protocol",
    "address",
    "port",
    "fwmark",
    "family",
    "scheduler",
    "sched_flags",
    "persistence",
    "timeout",
    "netmask",
    "one_packet",
    "persistence_engine",
    "servers",
    "forwarding",
    "weight",
    "upper_threshold",
    "lower_threshold",
    "tunnel",
    "type",
    "checksum",
    "tcp",
    "tcpfin",
    "udp",
    "role",
    "mcast_interface",
    "syncid",
    "mcast_group",
    "mcast_port",
    "mcast_ttl",
    "sync_maxlen",
    "ha",
    "vrrp",
    "directors",
    "virtual_router_id",
    "advert_interval_ms",
    "priority",
    "preempt",
    "internal_vip",
    "method",
    "snat",
    "x",
];

const STRINGS: &[&str] = &[
    "tcp",
    "udp",
    "sctp",
    "ipv4",
    "ipv6",
    "nat",
    "dr",
    "tun",
    "fullnat",
    "masq",
    "rr",
    "wrr",
    "wlc",
    "sh",
    "mh",
    "sip",
    "sh-fallback",
    "sh-port",
    "flag-3",
    "ipip",
    "gue",
    "gre",
    "none",
    "csum",
    "remcsum",
    "master",
    "backup",
    "eth0",
    "",
    "10.0.0.1",
    "192.168.31.100",
    "172.25.0.31",
    "0.0.0.0",
    "255.255.255.255",
    "224.0.0.81",
    "::",
    "::1",
    "2001:db8::1",
    "fe80::1",
    "169.254.0.1",
    "ff02::1",
    "255.255.255.0",
    "24",
    "tcp:10.0.0.1:80",
    "udp:[2001:db8::1]:53",
    "fwmark:12",
    "fwmark6:0",
    "10.0.0.1:80",
    "[2001:db8::7]:443",
    "\u{0}",
    "é",
];

fn scalar() -> impl Strategy<Value = Value> {
    prop_oneof![
        4 => select(STRINGS).prop_map(|s| Value::String(s.to_string())),
        3 => select(&[0i64, 1, 2, 80, 255, 256, 65535, 65536, 2_147_483_647, 2_147_483_648, 2_678_400, 2_678_401, 4_294_967_296, -1][..])
            .prop_map(Value::from),
        1 => any::<i64>().prop_map(Value::from),
        1 => any::<f64>().prop_map(|f| Number::from_f64(f).map_or(Value::Null, Value::Number)),
        1 => any::<bool>().prop_map(Value::Bool),
        1 => Just(Value::Null),
        1 => ".{0,8}".prop_map(Value::String),
    ]
}

fn key() -> impl Strategy<Value = String> {
    prop_oneof![9 => select(KEYS).prop_map(str::to_string), 1 => "[a-z_]{1,8}"]
}

/// Any JSON, biased towards the words of a spec.
fn value() -> impl Strategy<Value = Value> {
    scalar().prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::btree_map(key(), inner, 0..7)
                .prop_map(|m: BTreeMap<String, Value>| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn object(
    keys: impl Strategy<Value = String>,
    values: impl Strategy<Value = Value>,
    max: usize,
) -> impl Strategy<Value = Value> {
    prop::collection::btree_map(keys, values, 0..max)
        .prop_map(|m| Value::Object(m.into_iter().collect()))
}

/// Shaped like a spec, filled with spec-like values.
fn shaped() -> impl Strategy<Value = Value> {
    let server = object(key(), scalar(), 6);
    let service = (
        object(key(), scalar(), 8),
        prop::collection::vec(server, 0..4),
    )
        .prop_map(|(mut service, servers)| {
            service["servers"] = Value::Array(servers);
            service
        });
    (prop::collection::vec(service, 0..4), object(key(), scalar(), 4), prop::collection::vec(object(key(), scalar(), 6), 0..3))
        .prop_map(|(services, timeouts, daemons)| serde_json::json!({"services": services, "timeouts": timeouts, "sync_daemons": daemons}))
}

fn json_text() -> impl Strategy<Value = String> {
    let punctuation = prop_oneof![
        select(
            &[
                "{", "}", "[", "]", ",", ":", "\"", "null", "-", "1e999", "\\u0000", "\\", "0x1"
            ][..]
        )
        .prop_map(str::to_string),
        select(STRINGS).prop_map(|s| format!("\"{s}\"")),
    ];
    prop_oneof![
        2 => value().prop_map(|v| v.to_string()),
        3 => shaped().prop_map(|v| v.to_string()),
        3 => (spec(), prop::collection::vec(edit(punctuation), 1..4)).prop_map(|(spec, edits)| apply(&spec.to_canonical_json(), &edits)),
        1 => spec().prop_map(|spec| spec.to_canonical_json()),
        1 => any::<Vec<u8>>().prop_map(|bytes| String::from_utf8_lossy(&bytes).into_owned()),
    ]
}

#[test]
fn spec_from_json_never_panics_and_round_trips() {
    fuzz(
        "Spec::from_json",
        json_text(),
        |text| match Spec::from_json(text.as_bytes()) {
            Err(err) => {
                prop_assert!(!err.message.is_empty(), "{err:?}");
                Ok(false)
            }
            Ok(spec) => {
                let canonical = spec.to_canonical_json();
                let back = Spec::from_json(canonical.as_bytes())
                    .map_err(|e| TestCaseError::fail(format!("{e}\n{canonical}")))?;
                prop_assert_eq!(&back, &spec, "{}", canonical);
                prop_assert_eq!(back.to_canonical_json(), canonical);
                let revalidated = spec.to_doc().validate();
                prop_assert_eq!(revalidated.as_ref(), Ok(&spec));
                Ok(true)
            }
        },
    );
}
