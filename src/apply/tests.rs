//! The engine and the reconcile step on `MemoryTable`, which has the
//! kernel's semantics (errnos, trash list) plus injected failures and
//! connection counts set by hand.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use super::*;
use crate::ipvs::error::errno;
use crate::ipvs::memory::Conns;
use crate::ipvs::{Dest, DestKey, IpvsTable, MemoryTable, Op, Snapshot, fwd};
use crate::model::{ServiceKey, Spec};
use crate::plan::{DriftKind, PlanOptions, plan};

const WEB: &str = "tcp:192.168.31.100:80";
const TLS: &str = "tcp:192.168.31.100:443";

/// Two NAT services, three weighted real servers each.
fn two_services(weights: [u32; 3]) -> String {
    let servers = |port: u16| {
        weights
            .iter()
            .enumerate()
            .map(|(i, w)| {
                format!(r#"{{"address": "172.25.0.{}", "port": {port}, "forwarding": "nat", "weight": {w}}}"#, 31 + i)
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    format!(
        r#"{{"services": [
            {{"id": "{WEB}", "scheduler": "wrr", "servers": [{}]}},
            {{"id": "{TLS}", "scheduler": "wlc", "servers": [{}]}}
        ]}}"#,
        servers(80),
        servers(443)
    )
}

fn spec(json: &str) -> Arc<Spec> {
    Arc::new(Spec::from_json(json.as_bytes()).unwrap_or_else(|e| panic!("{e}\n{json}")))
}

fn key(id: &str) -> ServiceKey {
    id.parse().unwrap()
}

fn dest_key(addr: &str) -> DestKey {
    let addr: std::net::SocketAddr = addr.parse().unwrap();
    DestKey {
        addr: addr.ip(),
        port: addr.port(),
    }
}

/// A fresh kernel's table holding `json`, with live connections on every real server.
fn table_with(json: &str) -> MemoryTable {
    let mut table = MemoryTable::new();
    table
        .apply(plan(&table.snapshot_now(), &spec(json), &PlanOptions::default()).ops())
        .unwrap();
    for entry in table.snapshot_now().services {
        for (i, d) in entry.dests.iter().enumerate() {
            let conns = Conns {
                active: 10 + i as u32,
                inactive: 2,
                persistent: 0,
            };
            table.set_conns(&entry.service.key, &d.dest.key, conns);
        }
    }
    table
}

fn at(secs: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000 + secs)
}

fn run(cause: Cause, now: SystemTime) -> Run {
    Run {
        cause,
        force: false,
        now,
        read: Read::Cached,
    }
}

fn apply(
    engine: &mut Engine,
    table: &mut MemoryTable,
    json: &str,
    policy: &Policy,
    state: &mut DirectorState,
    now: SystemTime,
) -> Outcome {
    engine.apply(
        table,
        &spec(json),
        policy,
        state,
        run(Cause::Activation, now),
    )
}

#[test]
fn applies_verifies_and_hashes() {
    let mut table = table_with(&two_services([1, 2, 3]));
    let (mut engine, mut state) = (Engine::new(), DirectorState::default());
    let outcome = apply(
        &mut engine,
        &mut table,
        &two_services([3, 2, 1]),
        &Policy::default(),
        &mut state,
        at(0),
    );
    assert_eq!(outcome.error, None);
    let report = outcome.report;
    assert_eq!(report.result, ApplyResult::Applied);
    assert_eq!((report.ops, report.summary.servers_changed), (4, 4));
    assert_eq!(
        report.plan[0],
        "~ real server 172.25.0.31:80 of tcp 192.168.31.100:80: weight 1 -> 3"
    );

    // The hash is the configuration's: a table loaded with the same
    // configuration but other counters hashes the same, and so does a check.
    let hash = report.verified_hash.unwrap();
    let mut twin = table_with(&two_services([3, 2, 1]));
    twin.set_conns(&key(WEB), &dest_key("172.25.0.31:80"), Conns::default());
    let check = Engine::new()
        .check(
            &mut twin,
            &spec(&two_services([3, 2, 1])),
            &Policy::default(),
            &mut state.clone(),
            at(1),
        )
        .unwrap();
    assert_eq!(check.hash, hash);
    assert!(check.drift.is_empty());
    let other = Engine::new().check(
        &mut table_with(&two_services([1, 2, 3])),
        &spec("{}"),
        &Policy::default(),
        &mut state.clone(),
        at(1),
    );
    assert_ne!(other.unwrap().hash, hash);
}

#[test]
fn a_failure_mid_apply_restores_the_table_exactly() {
    let mut table = table_with(&two_services([1, 2, 3]));
    let before = table.snapshot_now();
    // Weights change on both services, a server goes, one comes, a service
    // comes: the new server of port 443 is refused, after port 80 changed.
    let desired = r#"{"services": [
        {"id": "tcp:192.168.31.100:80", "scheduler": "rr", "servers": [
            {"address": "172.25.0.31", "forwarding": "nat", "weight": 5},
            {"address": "172.25.0.32", "forwarding": "nat", "weight": 5}]},
        {"id": "tcp:192.168.31.100:443", "scheduler": "wlc", "servers": [
            {"address": "172.25.0.31", "forwarding": "nat", "weight": 9},
            {"address": "10.9.0.1", "forwarding": "nat", "weight": 1}]},
        {"id": "udp:192.168.31.100:53", "servers": [{"address": "172.25.0.31"}]}
    ]}"#;
    table.fail_on(
        |op| matches!(op, Op::AddDest(_, d) if d.key.addr.to_string() == "10.9.0.1"),
        errno::EINVAL,
    );
    let (mut engine, mut state) = (Engine::new(), DirectorState::default());
    let outcome = apply(
        &mut engine,
        &mut table,
        desired,
        &Policy::default(),
        &mut state,
        at(0),
    );

    let report = outcome.report;
    assert_eq!(report.result, ApplyResult::FailedRestored);
    let failed = report.failed_op.as_ref().unwrap();
    assert_eq!(
        failed.op,
        "adding real server 10.9.0.1:443 to tcp 192.168.31.100:443"
    );
    assert_eq!(failed.errno, Some(errno::EINVAL));
    assert!(
        failed.error.contains("routable from the director"),
        "{}",
        failed.error
    );
    assert!(
        report.ops >= 4,
        "port 80 was changed before the failure: {report:?}"
    );
    let restore = report.restore.as_ref().unwrap();
    assert_eq!(restore.result, RestoreResult::Restored);
    assert!(restore.ops >= 4);
    assert!(matches!(outcome.error, Some(ApplyError::Permanent(_))));
    // Exactly as before: settings, and connections (the deleted server came
    // back from the kernel's trash with them).
    assert_eq!(table.snapshot_now(), before);
    assert_eq!(
        state,
        DirectorState::default(),
        "nothing created, nothing draining"
    );
}

#[test]
fn a_failed_restore_says_so() {
    let mut table = table_with(&two_services([1, 2, 3]));
    let desired = two_services([1, 2, 3]).replace(r#""scheduler": "wlc""#, r#""scheduler": "sed""#);
    // Port 80 gets a new server; the edit of port 443 fails, and so does
    // deleting the new server again.
    let desired = desired.replacen(
        r#""weight": 1}"#,
        r#""weight": 1}, {"address": "172.25.0.40", "forwarding": "nat", "weight": 1}"#,
        1,
    );
    table.fail_on(|op| matches!(op, Op::EditService(_)), errno::ENOMEM);
    table.fail_on(|op| matches!(op, Op::DelDest(..)), errno::EPERM);
    let outcome = apply(
        &mut Engine::new(),
        &mut table,
        &desired,
        &Policy::default(),
        &mut DirectorState::default(),
        at(0),
    );
    let report = outcome.report;
    assert_eq!(
        report.result,
        ApplyResult::FailedRestoreFailed,
        "{report:?}"
    );
    let restore = report.restore.unwrap();
    assert_eq!(restore.result, RestoreResult::Failed);
    assert!(
        restore.errors[0].contains("deleting real server 172.25.0.40:80"),
        "{:?}",
        restore.errors
    );
    assert!(
        matches!(outcome.error, Some(ApplyError::Transient(_))),
        "ENOMEM is worth a retry"
    );
}

#[test]
fn plans_above_the_removal_limit_are_refused_unless_forced() {
    let three = r#"{"services": [{"id": "tcp:10.0.0.1:80"}, {"id": "tcp:10.0.0.2:80"}, {"id": "tcp:10.0.0.3:80"}]}"#;
    let one = r#"{"services": [{"id": "tcp:10.0.0.1:80"}]}"#;
    let mut table = table_with(three);
    let before = table.snapshot_now();
    let policy = Policy {
        removal_limit: Some(0.5),
        ..Policy::default()
    };
    let (mut engine, mut state) = (Engine::new(), DirectorState::default());

    let outcome = apply(&mut engine, &mut table, one, &policy, &mut state, at(0));
    assert_eq!(outcome.report.result, ApplyResult::Refused);
    assert_eq!(outcome.report.ops, 0);
    let why = &outcome.report.errors[0];
    assert!(
        why.contains("takes 2 of 3 services (67%)")
            && why.contains("limit of 50%")
            && why.contains("force"),
        "{why}"
    );
    assert!(matches!(outcome.error, Some(ApplyError::Refused(_))));
    assert_eq!(table.snapshot_now(), before, "nothing sent");

    let forced = Run {
        force: true,
        ..run(Cause::Forced, at(1))
    };
    let outcome = engine.apply(&mut table, &spec(one), &policy, &mut state, forced);
    assert_eq!(outcome.report.result, ApplyResult::Applied);
    assert_eq!(table.snapshot_now().services.len(), 1);
}

/// The drain policy of these tests: drain, 60 s at most.
fn draining() -> Policy {
    Policy {
        drain: true,
        drain_timeout: Duration::from_secs(60),
        ..Policy::default()
    }
}

fn step(
    desired: &Desired,
    table: &mut MemoryTable,
    engine: &mut Engine,
    state: &mut DirectorState,
    now: SystemTime,
    drift_due: bool,
) -> (Result<Action, ApplyError>, Vec<Event>) {
    let ctx = Context {
        now,
        apply_now: false,
        force: false,
        attempt: 0,
        drift_due,
        drift: DriftMode::Restore,
        interval: Duration::from_secs(10),
        spec_changed: false,
    };
    let mut events = Vec::new();
    let mut actual = Actual {
        table,
        engine,
        state,
    };
    (reconcile(desired, &mut actual, &ctx, &mut events), events)
}

fn desired(revision: i64, json: &str, policy: Policy) -> Desired {
    Desired {
        revision,
        spec: spec(json),
        policy,
    }
}

fn weight_of(table: &MemoryTable, service: &str, server: &str) -> Option<u32> {
    let snapshot = table.snapshot_now();
    let entry = snapshot
        .services
        .iter()
        .find(|e| e.service.key == key(service))?;
    entry
        .dests
        .iter()
        .find(|d| d.dest.key == dest_key(server))
        .map(|d| d.dest.weight)
}

#[test]
fn drains_end_when_connections_end_or_the_deadline_passes_even_across_restarts() {
    let mut table = table_with(&two_services([1, 2, 3]));
    let (mut engine, mut state) = (Engine::new(), DirectorState::default());
    state.applied = Some(1);
    // .33 leaves both services: on 80 with 12 connections, on 443 with none.
    let without_33 = two_services([1, 2, 3]).replace(
        r#", {"address": "172.25.0.33", "port": 80, "forwarding": "nat", "weight": 3}"#,
        "",
    );
    let without_33 = without_33.replace(
        r#", {"address": "172.25.0.33", "port": 443, "forwarding": "nat", "weight": 3}"#,
        "",
    );
    table.set_conns(&key(TLS), &dest_key("172.25.0.33:443"), Conns::default());
    let rev2 = desired(2, &without_33, draining());

    let (action, events) = step(&rev2, &mut table, &mut engine, &mut state, at(0), false);
    assert_eq!(action, Ok(Action::Requeue(reconcile::DRAIN_POLL)));
    let Event::Applied(report) = &events[0] else {
        panic!("{events:?}")
    };
    assert_eq!(report.summary.servers_draining, 2);
    assert_eq!(report.draining.len(), 2);
    assert_eq!(report.draining[0].deadline, "2023-11-14T22:14:20.000Z");
    assert_eq!(weight_of(&table, WEB, "172.25.0.33:80"), Some(0));
    assert_eq!(weight_of(&table, TLS, "172.25.0.33:443"), Some(0));
    assert_eq!(state.drains.len(), 2);
    assert_eq!(state.applied, Some(2));

    // Next step: 443's server has no connection left and goes; 80's waits.
    let (_, events) = step(&rev2, &mut table, &mut engine, &mut state, at(2), false);
    let Event::Applied(report) = &events[0] else {
        panic!("{events:?}")
    };
    assert_eq!(report.cause, Cause::Drain);
    assert_eq!(
        report.plan[0],
        "- real server 172.25.0.33:443 from tcp 192.168.31.100:443"
    );
    assert_eq!(weight_of(&table, TLS, "172.25.0.33:443"), None);
    assert_eq!(
        state.drains.keys().collect::<Vec<_>>(),
        [&(key(WEB), dest_key("172.25.0.33:80"))]
    );

    // A restart: new engine, state as stored. Connections remain, the
    // deadline has not passed: nothing happens.
    let mut stored = state.clone();
    let mut engine = Engine::new();
    let (_, events) = step(&rev2, &mut table, &mut engine, &mut stored, at(30), true);
    assert!(
        matches!(&events[..], [Event::InSync { .. }]),
        "a drain in progress is no drift: {events:?}"
    );
    assert_eq!(weight_of(&table, WEB, "172.25.0.33:80"), Some(0));

    // The deadline passes with connections left: deleted all the same.
    let (action, events) = step(&rev2, &mut table, &mut engine, &mut stored, at(61), false);
    let Event::Applied(report) = &events[0] else {
        panic!("{events:?}")
    };
    assert_eq!(
        report.plan[0],
        "- real server 172.25.0.33:80 from tcp 192.168.31.100:80"
    );
    assert_eq!(weight_of(&table, WEB, "172.25.0.33:80"), None);
    assert!(stored.drains.is_empty());
    assert_eq!(action, Ok(Action::Requeue(Duration::from_secs(10))));
}

#[test]
fn a_drain_whose_connections_end_at_a_drift_check_ends_there() {
    // The step after the connections end is a drift check: it must delete
    // the server, not forget the drain and leave it at weight 0 for good.
    let mut table = table_with(&two_services([1, 2, 3]));
    let (mut engine, mut state) = (Engine::new(), DirectorState::default());
    state.applied = Some(1);
    let without_33 = two_services([1, 2, 3]).replace(
        r#", {"address": "172.25.0.33", "port": 80, "forwarding": "nat", "weight": 3}"#,
        "",
    );
    let rev2 = desired(2, &without_33, draining());
    step(&rev2, &mut table, &mut engine, &mut state, at(0), false)
        .0
        .unwrap();
    assert_eq!(
        weight_of(&table, WEB, "172.25.0.33:80"),
        Some(0),
        "draining with its connections"
    );

    table.set_conns(&key(WEB), &dest_key("172.25.0.33:80"), Conns::default());
    let (_, events) = step(&rev2, &mut table, &mut engine, &mut state, at(5), true);
    let Event::Applied(report) = &events[0] else {
        panic!("the drain's end is applied: {events:?}")
    };
    assert_eq!(report.cause, Cause::Drain);
    assert_eq!(
        report.plan,
        ["- real server 172.25.0.33:80 from tcp 192.168.31.100:80"]
    );
    assert_eq!(weight_of(&table, WEB, "172.25.0.33:80"), None);
    assert!(state.drains.is_empty());

    // And when the connections end with no record of the drain (a restart
    // lost it), the drift check deletes the server all the same.
    let mut table = table_with(&two_services([1, 2, 3]));
    let leaving = table.snapshot_now().services[0].dests[2].dest;
    table
        .execute(&Op::EditDest(
            key(WEB),
            Dest {
                weight: 0,
                ..leaving
            },
        ))
        .unwrap();
    table.set_conns(&key(WEB), &leaving.key, Conns::default());
    let (mut engine, mut state) = (
        Engine::new(),
        DirectorState {
            applied: Some(2),
            ..DirectorState::default()
        },
    );
    step(&rev2, &mut table, &mut engine, &mut state, at(100), true)
        .0
        .unwrap();
    assert_eq!(weight_of(&table, WEB, "172.25.0.33:80"), None);
    assert!(state.drains.is_empty());
}

#[test]
fn a_weight_0_server_without_a_drain_record_gets_a_deadline() {
    // lvsd set the weight to 0 and died before storing the drain: on start
    // the drain gets a deadline, so it never stays forever.
    let mut table = table_with(&two_services([1, 2, 3]));
    let web = key(WEB);
    let leaving = table.snapshot_now().services[0].dests[2].dest;
    table
        .execute(&Op::EditDest(
            web,
            Dest {
                weight: 0,
                ..leaving
            },
        ))
        .unwrap();
    let without = two_services([1, 2, 3]).replace(
        r#", {"address": "172.25.0.33", "port": 80, "forwarding": "nat", "weight": 3}"#,
        "",
    );
    let rev = desired(2, &without, draining());
    let (mut engine, mut state) = (Engine::new(), DirectorState::default());
    step(&rev, &mut table, &mut engine, &mut state, at(0), false)
        .0
        .unwrap();
    assert_eq!(state.drains[&(web, leaving.key)].deadline, at(60));
    step(&rev, &mut table, &mut engine, &mut state, at(60), false)
        .0
        .unwrap();
    assert_eq!(weight_of(&table, WEB, "172.25.0.33:80"), None);

    // Found by the drift check of a revision already applied, after a restart.
    let mut table = table_with(&two_services([1, 2, 3]));
    table
        .execute(&Op::EditDest(
            web,
            Dest {
                weight: 0,
                ..leaving
            },
        ))
        .unwrap();
    let (mut engine, mut state) = (
        Engine::new(),
        DirectorState {
            applied: Some(2),
            ..DirectorState::default()
        },
    );
    let (action, events) = step(&rev, &mut table, &mut engine, &mut state, at(100), true);
    assert!(
        matches!(&events[..], [Event::InSync { .. }]),
        "a drain is no drift: {events:?}"
    );
    assert_eq!(action, Ok(Action::Requeue(reconcile::DRAIN_POLL)));
    assert_eq!(state.drains[&(web, leaving.key)].deadline, at(160));
    step(&rev, &mut table, &mut engine, &mut state, at(130), false)
        .0
        .unwrap();
    assert_eq!(
        weight_of(&table, WEB, "172.25.0.33:80"),
        Some(0),
        "connections left, deadline ahead"
    );
    step(&rev, &mut table, &mut engine, &mut state, at(160), false)
        .0
        .unwrap();
    assert_eq!(
        weight_of(&table, WEB, "172.25.0.33:80"),
        None,
        "deadline passed"
    );
    assert!(state.drains.is_empty());
}

#[test]
fn ownership_created_leaves_other_services_alone() {
    let hand_made =
        r#"{"services": [{"id": "tcp:10.1.1.1:22", "servers": [{"address": "10.1.1.2"}]}]}"#;
    let mut table = table_with(hand_made);
    let theirs = table.snapshot_now();
    let policy = Policy {
        ownership: OwnershipMode::Created,
        ..Policy::default()
    };
    let (mut engine, mut state) = (Engine::new(), DirectorState::default());

    let outcome = apply(
        &mut engine,
        &mut table,
        &two_services([1, 1, 1]),
        &policy,
        &mut state,
        at(0),
    );
    assert_eq!(outcome.report.result, ApplyResult::Applied);
    assert_eq!(state.created, BTreeSet::from([key(WEB), key(TLS)]));
    assert_eq!(table.snapshot_now().services.len(), 3);
    let check = engine
        .check(
            &mut table,
            &spec(&two_services([1, 1, 1])),
            &policy,
            &mut state.clone(),
            at(1),
        )
        .unwrap();
    assert!(
        check.drift.is_empty(),
        "the hand-made service is not drift: {:?}",
        check.drift
    );

    // The cluster drops its services: lvsd's go, the hand-made one stays.
    let outcome = apply(&mut engine, &mut table, "{}", &policy, &mut state, at(2));
    assert_eq!(outcome.report.summary.services_removed, 2);
    assert_eq!(table.snapshot_now(), theirs);
    assert!(state.created.is_empty());

    // With the whole table, the same spec would remove it.
    let outcome = apply(
        &mut engine,
        &mut table,
        "{}",
        &Policy::default(),
        &mut state,
        at(3),
    );
    assert_eq!(outcome.report.summary.services_removed, 1);
}

#[test]
fn adopting_a_hand_managed_director_never_flushes() {
    // ipvsadm built the table; the first apply of the same spec sends nothing.
    let mut table = table_with(&two_services([1, 2, 3]));
    let before = table.snapshot_now();
    let applied_before = table.applied().len();
    let outcome = apply(
        &mut Engine::new(),
        &mut table,
        &two_services([1, 2, 3]),
        &Policy::default(),
        &mut DirectorState::default(),
        at(0),
    );
    assert_eq!(
        (outcome.report.result, outcome.report.ops),
        (ApplyResult::Applied, 0)
    );
    assert_eq!(table.applied().len(), applied_before);
    assert_eq!(table.snapshot_now(), before, "connections untouched");
    // A different spec is an ordinary plan: edits in place, nothing flushed.
    let outcome = apply(
        &mut Engine::new(),
        &mut table,
        &two_services([2, 2, 2]),
        &Policy::default(),
        &mut DirectorState::default(),
        at(0),
    );
    assert!(
        table.applied()[applied_before..]
            .iter()
            .all(|op| matches!(op, Op::EditDest(..))),
        "{:?}",
        outcome.report.plan
    );
    assert_eq!(table.snapshot_now().services[0].dests[0].active_conns, 10);
}

#[test]
fn drift_is_detected_reported_and_restored() {
    let json = two_services([1, 2, 3]);
    let mut table = table_with(&json);
    let rev = desired(1, &json, Policy::default());
    let (mut engine, mut state) = (
        Engine::new(),
        DirectorState {
            applied: Some(1),
            ..DirectorState::default()
        },
    );
    let (_, events) = step(&rev, &mut table, &mut engine, &mut state, at(0), true);
    assert!(matches!(&events[..], [Event::InSync { revision: 1, .. }]));

    // Someone runs `ipvsadm -a -t 192.168.31.100:80 -r 172.25.0.40:80 -m` and
    // `ipvsadm -d -t 192.168.31.100:443 -r 172.25.0.31:443`.
    let extra = Dest {
        key: dest_key("172.25.0.40:80"),
        fwd_method: fwd::MASQ,
        weight: 1,
        ..table.snapshot_now().services[1].dests[0].dest
    };
    table.execute(&Op::AddDest(key(WEB), extra)).unwrap();
    table
        .execute(&Op::DelDest(key(TLS), dest_key("172.25.0.31:443")))
        .unwrap();

    // Between drift checks nothing reads the table.
    let reads = table.reads();
    let (action, events) = step(&rev, &mut table, &mut engine, &mut state, at(5), false);
    assert!(events.is_empty());
    assert_eq!(action, Ok(Action::Requeue(Duration::from_secs(10))));
    assert_eq!(table.reads(), reads);

    // Report only.
    let ctx = Context {
        now: at(10),
        apply_now: false,
        force: false,
        attempt: 0,
        drift_due: true,
        drift: DriftMode::Report,
        interval: Duration::from_secs(10),
        spec_changed: false,
    };
    let mut events = Vec::new();
    reconcile(
        &rev,
        &mut Actual {
            table: &mut table,
            engine: &mut engine,
            state: &mut state,
        },
        &ctx,
        &mut events,
    )
    .unwrap();
    let [
        Event::Drift {
            drift,
            mode: DriftMode::Report,
            ..
        },
    ] = &events[..]
    else {
        panic!("{events:?}")
    };
    let lines: Vec<String> = drift.iter().map(ToString::to_string).collect();
    assert_eq!(
        lines,
        [
            "real server 172.25.0.40:80 of tcp 192.168.31.100:80: in the kernel, not in the spec",
            "real server 172.25.0.31:443 of tcp 192.168.31.100:443: in the spec, missing from the kernel",
        ]
    );
    assert_eq!(
        (drift[0].kind, drift[1].kind),
        (DriftKind::Unexpected, DriftKind::Missing)
    );
    assert_eq!(
        weight_of(&table, WEB, "172.25.0.40:80"),
        Some(1),
        "reported, not restored"
    );

    // Restore.
    let (_, events) = step(&rev, &mut table, &mut engine, &mut state, at(20), true);
    let [
        Event::Drift {
            mode: DriftMode::Restore,
            ..
        },
        Event::Applied(report),
    ] = &events[..]
    else {
        panic!("{events:?}")
    };
    assert_eq!(
        (report.cause, report.result, report.ops),
        (Cause::Drift, ApplyResult::Applied, 2)
    );
    assert_eq!(weight_of(&table, WEB, "172.25.0.40:80"), None);
    assert_eq!(weight_of(&table, TLS, "172.25.0.31:443"), Some(1));
    // The deleted server came back from the trash with its connections.
    assert_eq!(table.snapshot_now().services[1].dests[0].active_conns, 10);
}

#[test]
fn a_weight_change_reads_only_what_it_touches() {
    let services: Vec<String> = (0..1000)
        .map(|i| {
            format!(
                r#"{{"id": "tcp:10.{}.{}.1:80", "scheduler": "wrr", "servers": [{}]}}"#,
                i / 250,
                i % 250,
                (1..=4)
                    .map(|rs| format!(
                        r#"{{"address": "172.16.{}.{rs}", "forwarding": "nat"}}"#,
                        i % 250
                    ))
                    .collect::<Vec<_>>()
                    .join(",")
            )
        })
        .collect();
    let json = format!(r#"{{"services": [{}]}}"#, services.join(","));
    let mut table = table_with(&json);
    let (mut engine, mut state) = (Engine::new(), DirectorState::default());
    // The first apply reads the whole table.
    let first = apply(
        &mut engine,
        &mut table,
        &json,
        &Policy::default(),
        &mut state,
        at(0),
    );
    assert_eq!(
        (first.report.result, first.report.ops),
        (ApplyResult::Applied, 0)
    );
    assert_eq!(table.reads().full, 1);

    let changed = json.replacen(
        r#""address": "172.16.7.2", "forwarding": "nat""#,
        r#""address": "172.16.7.2", "forwarding": "nat", "weight": 5"#,
        1,
    );
    let outcome = apply(
        &mut engine,
        &mut table,
        &changed,
        &Policy::default(),
        &mut state,
        at(1),
    );
    assert_eq!(
        (outcome.report.result, outcome.report.ops),
        (ApplyResult::Applied, 1)
    );
    assert_eq!(table.reads().full, 1, "no second full read");
    assert_eq!(
        table.reads().services,
        2,
        "the service read before planning, and read back"
    );
    assert_eq!(
        weight_of(&table, "tcp:10.0.7.1:80", "172.16.7.2:80"),
        Some(5)
    );
    // The cache-based hash equals a full read's.
    let check = Engine::new()
        .check(
            &mut table,
            &spec(&changed),
            &Policy::default(),
            &mut state.clone(),
            at(2),
        )
        .unwrap();
    assert_eq!(outcome.report.verified_hash.unwrap(), check.hash);
}

#[test]
fn the_error_policy_retries_transient_errors_and_blocks_permanent_ones() {
    let json = two_services([1, 2, 3]);
    let mut table = table_with(&json);
    let (mut engine, mut state) = (
        Engine::new(),
        DirectorState {
            applied: Some(1),
            ..DirectorState::default()
        },
    );
    let rev2 = desired(2, &two_services([2, 2, 2]), Policy::default());

    table.fail_once(|op| matches!(op, Op::EditDest(..)), errno::ENOMEM);
    let (result, _) = step(&rev2, &mut table, &mut engine, &mut state, at(0), false);
    let err = result.unwrap_err();
    assert!(matches!(err, ApplyError::Transient(_)));
    assert_eq!(
        error_policy(&err, 0),
        Action::Requeue(Duration::from_secs(1))
    );
    assert_eq!(
        error_policy(&err, 3),
        Action::Requeue(Duration::from_secs(8))
    );
    assert_eq!(
        error_policy(&err, 30),
        Action::Requeue(Duration::from_secs(60))
    );
    assert_eq!(state.applied, Some(1));
    // The retry reads everything and succeeds.
    let ctx = Context {
        now: at(1),
        apply_now: false,
        force: false,
        attempt: 1,
        drift_due: false,
        drift: DriftMode::Restore,
        interval: Duration::from_secs(10),
        spec_changed: false,
    };
    let mut events = Vec::new();
    reconcile(
        &rev2,
        &mut Actual {
            table: &mut table,
            engine: &mut engine,
            state: &mut state,
        },
        &ctx,
        &mut events,
    )
    .unwrap();
    let [Event::Applied(report)] = &events[..] else {
        panic!()
    };
    assert_eq!(
        (report.cause, report.result),
        (Cause::Retry, ApplyResult::Applied)
    );
    assert_eq!(state.applied, Some(2));

    // A scheduler the kernel lacks fails for good: not tried again.
    let mut table = MemoryTable::new().with_schedulers(["rr"]);
    let rev3 = desired(3, &json, Policy::default());
    let mut engine = Engine::new();
    let (result, _) = step(&rev3, &mut table, &mut engine, &mut state, at(2), false);
    let err = result.unwrap_err();
    assert!(
        err.to_string().contains("scheduler wrr is not available"),
        "{err}"
    );
    assert_eq!(error_policy(&err, 0), Action::AwaitChange);
    assert_eq!(state.blocked, Some(3));
    let (result, events) = step(&rev3, &mut table, &mut engine, &mut state, at(3), true);
    assert_eq!((result, events.len()), (Ok(Action::AwaitChange), 0));

    // No IPVS at all.
    let mut table = MemoryTable::new();
    table.set_unavailable(Some("no IPVS family"));
    let (result, events) = step(
        &desired(4, &json, Policy::default()),
        &mut table,
        &mut Engine::new(),
        &mut DirectorState::default(),
        at(4),
        false,
    );
    assert!(matches!(result, Err(ApplyError::Unavailable(_))));
    let [Event::Applied(report)] = &events[..] else {
        panic!()
    };
    assert_eq!(report.result, ApplyResult::Failed);
    assert!(
        report.errors[0].contains("IPVS is not available"),
        "{:?}",
        report.errors
    );
}

#[test]
fn services_of_another_cluster_are_foreign() {
    let mut table = table_with(r#"{"services": [{"id": "tcp:10.9.9.9:80"}]}"#);
    let policy = Policy {
        foreign: BTreeSet::from([key("tcp:10.9.9.9:80")]),
        ..Policy::default()
    };
    let (mut engine, mut state) = (Engine::new(), DirectorState::default());
    // The whole table minus the other cluster's service.
    let outcome = apply(
        &mut engine,
        &mut table,
        &two_services([1, 1, 1]),
        &policy,
        &mut state,
        at(0),
    );
    assert_eq!(outcome.report.result, ApplyResult::Applied);
    assert_eq!(table.snapshot_now().services.len(), 3);
    let outcome = apply(
        &mut engine,
        &mut table,
        r#"{"services": [{"id": "tcp:10.9.9.9:80"}]}"#,
        &policy,
        &mut state,
        at(1),
    );
    assert_eq!(outcome.report.result, ApplyResult::Refused);
    assert!(outcome.report.errors[0].contains("belongs to another cluster"));
}

#[test]
fn preview_plans_without_applying() {
    let mut table = table_with(&two_services([1, 2, 3]));
    let before = table.snapshot_now();
    let policy = Policy {
        removal_limit: Some(0.4),
        ..Policy::default()
    };
    let preview = Engine::new()
        .preview(
            &mut table,
            &spec("{}"),
            &policy,
            &DirectorState::default(),
            at(0),
        )
        .unwrap();
    assert_eq!(preview.plan.ops().len(), 2);
    assert!(preview.refusal.unwrap().contains("refused unless forced"));
    assert_eq!(preview.radius.services_removed, 2);
    assert_eq!(table.snapshot_now(), before);
    assert_eq!(Snapshot::default().services.len(), 0);
}

mod incremental {
    //! Planning only what changed since the basis must end exactly where
    //! planning everything would.

    use proptest::prelude::*;

    use super::*;
    use crate::model::Scheduler;

    fn kernel(snapshot: &Snapshot) -> MemoryTable {
        let odd = snapshot
            .services
            .iter()
            .map(|e| e.service.scheduler.clone());
        let schedulers = Scheduler::ALL
            .map(|s| s.as_str().to_string())
            .into_iter()
            .chain(odd);
        MemoryTable::from_snapshot(snapshot).with_schedulers(schedulers)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(150))]

        #[test]
        fn planning_what_changed_ends_where_planning_everything_does(
            (actual, first) in crate::plan::arbitrary::table_and_spec(),
            other in crate::plan::arbitrary::spec(),
            keep in proptest::collection::vec(any::<bool>(), 8),
            drain in any::<bool>(),
        ) {
            // The second spec keeps some of the first's services, and takes
            // others (new, or changed) from another spec, with the first's globals.
            let mut services: Vec<_> =
                first.services().iter().zip(keep.iter().cycle()).filter(|(_, keep)| **keep).map(|(s, _)| s.clone()).collect();
            for s in other.services().iter().take(2) {
                services.retain(|kept| kept.key != s.key);
                services.push(s.clone());
            }
            let second = Spec::new(services, first.timeouts, first.sync_daemons().to_vec());
            prop_assume!(second.is_ok());
            let policy = Policy { drain, ..Policy::default() };
            let (first, second) = (Arc::new(first), Arc::new(second.unwrap()));
            let mut table = kernel(&actual);
            let mut engine = Engine::new();
            let mut state = DirectorState::default();
            let applied = engine.apply(&mut table, &first, &policy, &mut state, run(Cause::Activation, at(0)));
            prop_assume!(applied.error.is_none());

            // The same table and state, planned whole by a fresh engine.
            let mut twin = kernel(&table.snapshot_now());
            let mut twin_state = state.clone();
            let full = Run { read: Read::Full, ..run(Cause::Activation, at(1)) };
            let whole = Engine::new().apply(&mut twin, &second, &policy, &mut twin_state, full);

            let full_reads = table.reads().full;
            let part = engine.apply(&mut table, &second, &policy, &mut state, run(Cause::Activation, at(1)));
            prop_assert_eq!(table.reads().full, full_reads, "planned on the cache, without reading everything");
            prop_assert_eq!(part.report.result, whole.report.result);
            prop_assert_eq!(&part.report.plan, &whole.report.plan);
            prop_assert_eq!(&part.report.verified_hash, &whole.report.verified_hash);
            prop_assert_eq!(part.report.blast_radius, whole.report.blast_radius);
            prop_assert_eq!(crate::apply::restore::Config::of(&table.snapshot_now()), crate::apply::restore::Config::of(&twin.snapshot_now()));
            prop_assert_eq!(state, twin_state);
        }
    }
}

#[test]
fn a_health_change_applies_the_same_revision_again_past_the_removal_limit() {
    let mut table = table_with(&two_services([1, 2, 3]));
    let (mut engine, mut state) = (Engine::new(), DirectorState::default());
    state.applied = Some(4);
    // Health took every server of both services out: far past a 10% limit.
    let limited = Policy {
        removal_limit: Some(0.1),
        ..Policy::default()
    };
    let all_down = desired(4, &two_services([0, 0, 0]), limited);
    let ctx = |spec_changed| Context {
        now: at(0),
        apply_now: false,
        force: false,
        attempt: 0,
        drift_due: false,
        drift: DriftMode::Report,
        interval: Duration::from_secs(10),
        spec_changed,
    };

    // The same revision, unchanged as far as the director knows: nothing happens.
    let mut events = Vec::new();
    let mut actual = Actual {
        table: &mut table,
        engine: &mut engine,
        state: &mut state,
    };
    reconcile(&all_down, &mut actual, &ctx(false), &mut events).unwrap();
    assert!(events.is_empty(), "{events:?}");
    assert_eq!(weight_of(&table, WEB, "172.25.0.33:80"), Some(3));

    let mut actual = Actual {
        table: &mut table,
        engine: &mut engine,
        state: &mut state,
    };
    reconcile(&all_down, &mut actual, &ctx(true), &mut events).unwrap();
    let [Event::Applied(report)] = &events[..] else {
        panic!("{events:?}")
    };
    assert_eq!(
        (report.cause, report.result, report.revision),
        (Cause::Health, ApplyResult::Applied, Some(4))
    );
    for server in ["172.25.0.31:80", "172.25.0.32:80", "172.25.0.33:80"] {
        assert_eq!(weight_of(&table, WEB, server), Some(0), "{server}");
    }
    assert_eq!(state.applied, Some(4));
}
