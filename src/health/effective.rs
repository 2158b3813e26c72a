//! The spec a director runs: the active revision's, with real servers'
//! weights as their health says. Pure, so that the local director and an
//! agent compute the same table from the same states.

use std::collections::BTreeMap;

use crate::model::{OnFailure, ServerKey, ServiceKey, Spec, VirtualService};

/// `spec` with each failed real server at weight 0 (`quiesce`) or left out
/// (`remove`), and a service's sorry server added while none of its real
/// servers with a weight above 0 is healthy. A healthy server keeps its
/// spec weight, so a server the operator set to 0 stays at 0.
///
/// `healthy` answers for checked servers only; unchecked ones are healthy.
pub fn effective(spec: &Spec, healthy: impl Fn(&ServiceKey, &ServerKey) -> bool) -> Spec {
    let mut out = spec.clone();
    for service in spec.services() {
        if let Some(changed) = effective_service(service, &healthy) {
            out = out.with_service(changed);
        }
    }
    out
}

/// The service as its health wants it, or `None` when that is as the spec says.
fn effective_service(
    service: &VirtualService,
    healthy: &impl Fn(&ServiceKey, &ServerKey) -> bool,
) -> Option<VirtualService> {
    let health = service.health();
    if health.checks.is_empty() && health.sorry_server.is_none() {
        return None;
    }
    let mut weights = BTreeMap::new();
    let mut serving = 0;
    for server in service.servers() {
        let check = health.checks.get(&server.key);
        let up = check.is_none() || healthy(&service.key, &server.key);
        match (up, check.map(|c| c.on_failure)) {
            (true, _) => {
                weights.insert(server.key, server.weight);
                if server.weight > 0 {
                    serving += 1;
                }
            }
            (false, Some(OnFailure::Remove)) => {}
            (false, _) => {
                weights.insert(server.key, 0);
            }
        }
    }
    let sorry = health.sorry_server.as_ref().filter(|_| serving == 0);
    let unchanged = sorry.is_none()
        && weights.len() == service.servers().len()
        && service
            .servers()
            .iter()
            .all(|s| weights.get(&s.key) == Some(&s.weight));
    (!unchanged).then(|| service.with_weights(&weights, sorry))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use proptest::prelude::*;

    use super::*;

    fn spec(json: &str) -> Spec {
        Spec::from_json(json.as_bytes()).unwrap()
    }

    /// The table of the first service: `(server, weight)`.
    fn table(spec: &Spec) -> Vec<(String, u16)> {
        spec.services()[0]
            .servers()
            .iter()
            .map(|s| (s.key.to_string(), s.weight))
            .collect()
    }

    const SERVICE: &str = r#"{"services":[{"id":"tcp:10.0.0.1:80","health_check":{"type":"tcp"},
        "sorry_server":{"address":"10.2.0.9","forwarding":"nat"},
        "servers":[{"address":"10.1.0.1","forwarding":"nat","weight":3},
                   {"address":"10.1.0.2","forwarding":"nat","weight":0},
                   {"address":"10.1.0.3","forwarding":"nat","weight":2,"health_check":{"on_failure":"remove"}}]}]}"#;

    #[test]
    fn weights_by_table() {
        let s = |a: &str, w: u16| (a.to_string(), w);
        // (down servers, expected table)
        type Case<'a> = (&'a [&'a str], Vec<(String, u16)>);
        let cases: Vec<Case> = vec![
            (
                &[],
                vec![
                    s("10.1.0.1:80", 3),
                    s("10.1.0.2:80", 0),
                    s("10.1.0.3:80", 2),
                ],
            ),
            (
                &["10.1.0.1:80"],
                vec![
                    s("10.1.0.1:80", 0),
                    s("10.1.0.2:80", 0),
                    s("10.1.0.3:80", 2),
                ],
            ),
            // Removed, not quiesced: its override says so.
            (
                &["10.1.0.3:80"],
                vec![s("10.1.0.1:80", 3), s("10.1.0.2:80", 0)],
            ),
            // The operator's weight 0 stays 0 whether healthy or not, and does not count as serving.
            (
                &["10.1.0.2:80"],
                vec![
                    s("10.1.0.1:80", 3),
                    s("10.1.0.2:80", 0),
                    s("10.1.0.3:80", 2),
                ],
            ),
            (
                &["10.1.0.1:80", "10.1.0.3:80"],
                vec![
                    s("10.1.0.1:80", 0),
                    s("10.1.0.2:80", 0),
                    s("10.2.0.9:80", 1),
                ],
            ),
            (
                &["10.1.0.1:80", "10.1.0.2:80", "10.1.0.3:80"],
                vec![
                    s("10.1.0.1:80", 0),
                    s("10.1.0.2:80", 0),
                    s("10.2.0.9:80", 1),
                ],
            ),
        ];
        let spec = spec(SERVICE);
        for (down, expected) in cases {
            let down: BTreeSet<String> = down.iter().map(ToString::to_string).collect();
            let out = effective(&spec, |_, server| !down.contains(&server.to_string()));
            assert_eq!(table(&out), expected, "down: {down:?}");
        }
    }

    #[test]
    fn a_spec_without_checks_is_left_alone() {
        let plain =
            spec(r#"{"services":[{"id":"tcp:10.0.0.1:80","servers":[{"address":"10.1.0.1"}]}]}"#);
        assert_eq!(effective(&plain, |_, _| false), plain);
    }

    #[test]
    fn unchecked_servers_stay_in_service_beside_checked_ones() {
        let mixed = spec(
            r#"{"services":[{"id":"tcp:10.0.0.1:80","servers":[{"address":"10.1.0.1","forwarding":"nat"},
                {"address":"10.1.0.2","forwarding":"nat","health_check":{"type":"tcp"}}]}]}"#,
        );
        let out = effective(&mixed, |_, _| false);
        assert_eq!(
            table(&out),
            vec![
                ("10.1.0.1:80".to_string(), 1),
                ("10.1.0.2:80".to_string(), 0)
            ]
        );
    }

    proptest! {
        /// Against any valid spec and any health: healthy servers keep
        /// their spec weight, failed ones are at 0 or gone, nothing else
        /// changes, and every server is back when all are healthy.
        #[test]
        fn healthy_servers_keep_their_weight(spec in crate::model::arbitrary::spec(), seed in any::<u64>()) {
            let down = |service: &ServiceKey, server: &ServerKey| {
                let h = format!("{service}{server}{seed}").bytes().fold(0u64, |h, b| h.wrapping_mul(31).wrapping_add(b.into()));
                h % 3 == 0
            };
            let out = effective(&spec, |svc, srv| !down(svc, srv));
            prop_assert_eq!(out.services().len(), spec.services().len());
            for (before, after) in spec.services().iter().zip(out.services()) {
                prop_assert_eq!(before.key, after.key);
                prop_assert_eq!(before.health(), after.health());
                for server in before.servers() {
                    let checked = before.health().checks.contains_key(&server.key);
                    match after.server(&server.key) {
                        Some(now) if !checked || !down(&before.key, &server.key) => prop_assert_eq!(now.weight, server.weight),
                        Some(now) => prop_assert_eq!(now.weight, 0),
                        None => prop_assert!(checked && down(&before.key, &server.key)),
                    }
                }
            }
            prop_assert_eq!(effective(&spec, |_, _| true), spec);
        }
    }
}
