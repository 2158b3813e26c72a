//! Properties of the planner over random specs and random kernel tables,
//! checked by running each plan on a `MemoryTable`.

use std::collections::BTreeSet;

use proptest::prelude::*;

use super::arbitrary::{self, has_mixed_families};
use super::globals::runs_as;
use super::*;
use crate::ipvs::memory::Conns;
use crate::ipvs::{Daemon, Dest, IpvsTable, MemoryTable, Op, Service, ServiceEntry};
use crate::model::{Scheduler, ServerKey};

/// A kernel holding `actual` that can load every scheduler a spec may name.
fn kernel(actual: &Snapshot) -> MemoryTable {
    MemoryTable::from_snapshot(actual).with_schedulers(Scheduler::ALL.map(Scheduler::as_str))
}

fn entry<'a>(snapshot: &'a Snapshot, key: &ServiceKey) -> Option<&'a ServiceEntry> {
    snapshot.services.iter().find(|e| e.service.key == *key)
}

fn has_dest(snapshot: &Snapshot, service: &ServiceKey, dest: &DestKey) -> bool {
    entry(snapshot, service).is_some_and(|e| e.dests.iter().any(|d| d.dest.key == *dest))
}

fn in_spec(desired: &Spec, service: &ServiceKey, dest: &DestKey) -> bool {
    desired
        .service(service)
        .is_some_and(|s| s.server(&ServerKey(dest.socket_addr())).is_some())
}

/// Applies `plan` to `table`, failing the case with the plan when the kernel refuses it.
fn apply(table: &mut MemoryTable, plan: &Plan) -> Result<(), TestCaseError> {
    table
        .apply(plan.ops())
        .map_err(|e| TestCaseError::fail(format!("{e}\nplan:\n{plan}")))
}

/// The spec's services hold exactly as the spec says (compared through the
/// same conversions the driver uses), with exactly its real servers.
fn services_conform(after: &Snapshot, desired: &Spec) -> Result<(), TestCaseError> {
    services_conform_draining(after, desired, false)
}

/// Same, with other real servers allowed at weight 0 when `draining`.
fn services_conform_draining(
    after: &Snapshot,
    desired: &Spec,
    draining: bool,
) -> Result<(), TestCaseError> {
    for wanted in desired.services() {
        let Some(got) = entry(after, &wanted.key) else {
            return Err(TestCaseError::fail(format!(
                "service {} missing",
                wanted.key
            )));
        };
        prop_assert_eq!(&got.service, &Service::from(wanted));
        let wanted_dests: Vec<Dest> = wanted.servers().iter().map(Dest::from).collect();
        let got_dests: Vec<Dest> = got
            .dests
            .iter()
            .map(|d| d.dest)
            .filter(|d| {
                !(draining && d.weight == 0 && !wanted_dests.iter().any(|w| w.key == d.key))
            })
            .collect();
        prop_assert_eq!(got_dests, wanted_dests);
    }
    Ok(())
}

/// The timeouts the spec sets are the kernel's; the others are as they were.
fn timeouts_conform(
    before: &Snapshot,
    after: &Snapshot,
    desired: &Spec,
) -> Result<(), TestCaseError> {
    let t = &desired.timeouts;
    prop_assert_eq!(after.timeouts.tcp, t.tcp.unwrap_or(before.timeouts.tcp));
    prop_assert_eq!(
        after.timeouts.tcp_fin,
        t.tcpfin.unwrap_or(before.timeouts.tcp_fin)
    );
    prop_assert_eq!(after.timeouts.udp, t.udp.unwrap_or(before.timeouts.udp));
    Ok(())
}

/// Every daemon of the spec runs with the spec's settings.
fn daemons_conform(after: &Snapshot, desired: &Spec) -> Result<(), TestCaseError> {
    for wanted in desired.sync_daemons().iter().map(Daemon::from) {
        let running = after.daemons.iter().find(|d| d.role == wanted.role);
        prop_assert!(
            running.is_some_and(|r| runs_as(r, &wanted)),
            "{:?} not running as {:?}",
            running,
            wanted
        );
    }
    Ok(())
}

/// No change deletes and re-adds what exists on both sides: services and
/// real servers present in both are only ever edited.
fn edits_in_place(actual: &Snapshot, desired: &Spec, plan: &Plan) -> Result<(), TestCaseError> {
    for op in plan.ops() {
        match op {
            Op::AddService(s) => prop_assert!(entry(actual, &s.key).is_none(), "re-adds {}", s.key),
            Op::DelService(key) => prop_assert!(
                desired.service(key).is_none(),
                "deletes {} of the spec",
                key
            ),
            Op::AddDest(s, d) => {
                prop_assert!(!has_dest(actual, s, &d.key), "re-adds {} of {}", d.key, s)
            }
            Op::DelDest(s, d) => prop_assert!(
                !in_spec(desired, s, d),
                "deletes {} of {} in the spec",
                d,
                s
            ),
            _ => {}
        }
    }
    Ok(())
}

fn zero_all_conns(table: &mut MemoryTable) {
    for e in table.snapshot_now().services {
        for d in &e.dests {
            table.set_conns(&e.service.key, &d.dest.key, Conns::default());
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// The strategy builds specs the model accepts: they read back unchanged.
    #[test]
    fn generated_specs_are_valid(desired in arbitrary::spec()) {
        let again = Spec::from_json(desired.to_canonical_json().as_bytes());
        prop_assert_eq!(again, Ok(desired));
    }

    /// (a) the plan runs on the kernel's semantics and yields the spec;
    /// (b) planning again yields nothing; (c) edits happen in place.
    #[test]
    fn a_plan_yields_the_spec((actual, desired) in arbitrary::table_and_spec()) {
        let plan = plan(&actual, &desired, &PlanOptions::default());
        edits_in_place(&actual, &desired, &plan)?;
        prop_assert!(plan.deferred().is_empty() && plan.draining().is_empty());

        let mut table = kernel(&actual);
        apply(&mut table, &plan)?;
        let after = table.snapshot_now();
        let keys: Vec<_> = after.services.iter().map(|e| e.service.key).collect();
        let wanted: Vec<_> = desired.services().iter().map(|s| s.key).collect();
        prop_assert_eq!(keys, wanted);
        services_conform(&after, &desired)?;
        timeouts_conform(&actual, &after, &desired)?;
        daemons_conform(&after, &desired)?;
        prop_assert_eq!(after.daemons.len(), desired.sync_daemons().len());

        let again = super::plan(&after, &desired, &PlanOptions::default());
        prop_assert!(again.is_empty(), "planning again gave:\n{}", again);
        prop_assert!(drift(&after, &desired, &PlanOptions::default()).is_empty());
    }

    /// The plan reads as one line per change, and its drift as one difference per change.
    #[test]
    fn every_change_is_told((actual, desired) in arbitrary::table_and_spec(), drain in any::<bool>()) {
        let options = PlanOptions { drain, ..PlanOptions::default() };
        let plan = plan(&actual, &desired, &options);
        let text = plan.to_string();
        let change_lines = text.lines().filter(|l| !l.starts_with('=') && !l.starts_with('!')).count();
        prop_assert_eq!(change_lines, plan.changes().len());
        prop_assert!(plan.drift().len() >= plan.changes().len());
        let summary = plan.summary();
        prop_assert_eq!(summary.to_string() == "no changes", plan.is_empty() && plan.draining().is_empty());
    }

    /// (d) with shared ownership, services lvsd does not own are untouched,
    /// and everything else still reaches the spec.
    #[test]
    fn unowned_services_are_untouched(
        (mut actual, desired) in arbitrary::table_and_spec(),
        owned_mask in any::<u32>(),
    ) {
        // The kernel refuses real servers of mixed families while any sync
        // daemon runs, and lvsd may not stop one the spec does not list: no
        // plan can reach such a spec, so the table runs no daemon it does not list.
        if desired.services().iter().any(has_mixed_families) {
            actual.daemons.retain(|d| desired.sync_daemons().iter().any(|w| w.role == d.role));
        }
        let owned: BTreeSet<ServiceKey> = actual
            .services
            .iter()
            .enumerate()
            .filter(|(i, _)| owned_mask.checked_shr(*i as u32).is_some_and(|bits| bits & 1 == 1))
            .map(|(_, e)| e.service.key)
            .collect();
        let options = PlanOptions { ownership: Ownership::Only(owned.clone()), ..PlanOptions::default() };
        let plan = plan(&actual, &desired, &options);
        let unowned = |key: &ServiceKey| !owned.contains(key) && desired.service(key).is_none();
        for op in plan.ops() {
            let touched = match op {
                Op::AddService(s) | Op::EditService(s) => Some(s.key),
                Op::DelService(k) | Op::AddDest(k, _) | Op::EditDest(k, _) | Op::DelDest(k, _) => Some(*k),
                Op::Zero(Some(k)) => Some(*k),
                Op::StopDaemon(role) => {
                    prop_assert!(desired.sync_daemons().iter().any(|d| d.role == *role), "stops an unlisted daemon");
                    None
                }
                _ => None,
            };
            prop_assert!(!touched.is_some_and(|k| unowned(&k)), "{:?} touches a service lvsd does not own", op);
        }
        edits_in_place(&actual, &desired, &plan)?;

        let mut table = kernel(&actual);
        apply(&mut table, &plan)?;
        let after = table.snapshot_now();
        for e in actual.services.iter().filter(|e| unowned(&e.service.key)) {
            prop_assert_eq!(entry(&after, &e.service.key), Some(e));
        }
        let owned_leaving = |e: &&ServiceEntry| owned.contains(&e.service.key) && desired.service(&e.service.key).is_none();
        for e in actual.services.iter().filter(owned_leaving) {
            prop_assert!(entry(&after, &e.service.key).is_none(), "owned {} left the spec but stays", e.service.key);
        }
        services_conform(&after, &desired)?;
        timeouts_conform(&actual, &after, &desired)?;
        if plan.deferred().is_empty() {
            daemons_conform(&after, &desired)?;
        }
        prop_assert!(super::plan(&after, &desired, &options).is_empty());
    }

    /// With drain, no real server leaves while it still has connections or
    /// takes new ones; once connections end, two rounds reach the spec.
    #[test]
    fn draining_never_cuts_connections((actual, desired) in arbitrary::table_and_spec()) {
        let options = PlanOptions { drain: true, ..PlanOptions::default() };
        let first = plan(&actual, &desired, &options);
        edits_in_place(&actual, &desired, &first)?;
        let mut table = kernel(&actual);
        apply(&mut table, &first)?;
        let after = table.snapshot_now();
        services_conform_draining(&after, &desired, true)?;
        for e in &actual.services {
            for d in &e.dests {
                let leaves = !in_spec(&desired, &e.service.key, &d.dest.key);
                let serving = d.dest.weight > 0 || d.active_conns + d.inact_conns > 0;
                if leaves && serving && options.drains(&e.service.key) {
                    let now = entry(&after, &e.service.key).and_then(|s| s.dests.iter().find(|x| x.dest.key == d.dest.key));
                    let drained = now.is_some_and(|x| x.dest.weight == 0);
                    prop_assert!(drained, "{} of {} was not drained", d.dest.key, e.service.key);
                }
            }
        }

        zero_all_conns(&mut table);
        let second = super::plan(&table.snapshot_now(), &desired, &options);
        apply(&mut table, &second)?;
        let done = table.snapshot_now();
        let keys: Vec<_> = done.services.iter().map(|e| e.service.key).collect();
        prop_assert_eq!(keys, desired.services().iter().map(|s| s.key).collect::<Vec<_>>());
        services_conform(&done, &desired)?;
        daemons_conform(&done, &desired)?;
        let third = super::plan(&done, &desired, &options);
        prop_assert!(third.is_empty() && third.draining().is_empty(), "third round:\n{}", third);
    }
}
