//! Service and real server ids, as they arrive in URL paths: parsing never
//! panics, and what parses prints back to itself.

use proptest::prelude::*;
use proptest::sample::select;

use super::fuzz;
use crate::model::{ServerKey, ServiceKey};

fn id() -> impl Strategy<Value = String> {
    let protocol = select(&["tcp", "udp", "sctp", "fwmark", "fwmark6", "TCP", "", "x"][..]);
    let address = select(
        &[
            "10.0.0.1",
            "[2001:db8::1]",
            "2001:db8::1",
            "[::ffff:1.2.3.4]",
            "[fe80::1%eth0]",
            "1.2.3",
            "0.0.0.0",
            "255.255.255.255",
            "[::]",
            "",
            "12",
            "4294967296",
        ][..],
    );
    let port = select(&["80", "0", "65535", "65536", "-1", "", "http", "080", "+1"][..]);
    let part = prop_oneof![
        select(&[":", "[", "]", "::", "%5B", " ", "10.0.0.1", "80"][..]).prop_map(str::to_string),
        "[0-9a-f:.\\[\\]]{0,6}",
        any::<String>(),
    ];
    prop_oneof![
        2 => (protocol.clone(), address.clone(), port.clone()).prop_map(|(p, a, n)| format!("{p}:{a}:{n}")),
        1 => (protocol, "[0-9]{0,11}").prop_map(|(p, n)| format!("{p}:{n}")),
        1 => (address, port).prop_map(|(a, n)| format!("{a}:{n}")),
        2 => prop::collection::vec(part, 0..6).prop_map(|parts| parts.concat()),
    ]
}

#[test]
fn ids_parse_without_panics_and_print_back() {
    fuzz("ServiceKey/ServerKey::from_str", id(), |text| {
        let mut accepted = false;
        if let Ok(key) = text.parse::<ServiceKey>() {
            let printed = key.to_string();
            prop_assert_eq!(
                printed.parse::<ServiceKey>().ok(),
                Some(key),
                "{} from {:?}",
                printed,
                text
            );
            accepted = true;
        }
        if let Ok(key) = text.parse::<ServerKey>() {
            let printed = key.to_string();
            prop_assert_eq!(
                printed.parse::<ServerKey>().ok(),
                Some(key),
                "{} from {:?}",
                printed,
                text
            );
            accepted = true;
        }
        Ok(accepted)
    });
}
