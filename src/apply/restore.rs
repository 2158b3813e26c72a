//! Compensation: the operations that bring a table back to an earlier
//! snapshot of it, after an apply failed part-way.
//!
//! The earlier state is a [`Snapshot`], not a spec: it may hold what lvsd's
//! model refuses (a table another tool wrote), so it is compared with the
//! table in the kernel's own terms. Counters and connections are not
//! configuration and are not restored; a real server deleted and added back
//! gets its connections back from the kernel's trash list anyway.

use std::collections::BTreeMap;

use crate::ipvs::{Daemon, Dest, DestKey, Op, Service, ServiceEntry, Snapshot, Timeouts};
use crate::model::{DaemonRole, ServiceKey};

/// The operations that turn `current` into `target`, for every service
/// either holds, and for the timeouts and sync daemons.
///
/// Both are usually partial snapshots of the same services (those an apply
/// touched). The order is the planner's: daemons stop first, services that
/// must go go next, then each service is added or edited before its real
/// servers are added, edited and deleted, then timeouts, then daemons start.
pub fn restore_ops(current: &Snapshot, target: &Snapshot) -> Vec<Op> {
    let mut ops = Vec::new();
    let daemon =
        |snapshot: &Snapshot, role| snapshot.daemons.iter().find(|d| d.role == role).cloned();
    let mut starts = Vec::new();
    for role in [DaemonRole::Master, DaemonRole::Backup] {
        match (daemon(current, role), daemon(target, role)) {
            (Some(now), Some(then)) if now == then => {}
            (Some(_), then) => {
                ops.push(Op::StopDaemon(role));
                starts.extend(then);
            }
            (None, then) => starts.extend(then),
        }
    }

    let now: BTreeMap<ServiceKey, &ServiceEntry> = current
        .services
        .iter()
        .map(|e| (e.service.key, e))
        .collect();
    let then: BTreeMap<ServiceKey, &ServiceEntry> =
        target.services.iter().map(|e| (e.service.key, e)).collect();
    ops.extend(
        now.keys()
            .filter(|key| !then.contains_key(key))
            .map(|key| Op::DelService(*key)),
    );
    for (key, wanted) in &then {
        match now.get(key) {
            None => {
                ops.push(Op::AddService(wanted.service.clone()));
                ops.extend(wanted.dests.iter().map(|d| Op::AddDest(*key, d.dest)));
            }
            Some(entry) => {
                if entry.service != wanted.service {
                    ops.push(Op::EditService(wanted.service.clone()));
                }
                ops.extend(dest_ops(*key, entry, wanted));
            }
        }
    }

    if current.timeouts != target.timeouts {
        ops.push(Op::SetTimeouts(target.timeouts));
    }
    ops.extend(starts.into_iter().map(Op::StartDaemon));
    ops
}

/// Real servers of one service: additions, then edits, then deletions.
fn dest_ops(key: ServiceKey, current: &ServiceEntry, target: &ServiceEntry) -> Vec<Op> {
    let now: BTreeMap<DestKey, &Dest> = current
        .dests
        .iter()
        .map(|d| (d.dest.key, &d.dest))
        .collect();
    let then: BTreeMap<DestKey, &Dest> =
        target.dests.iter().map(|d| (d.dest.key, &d.dest)).collect();
    let mut adds = Vec::new();
    let mut edits = Vec::new();
    for (dest_key, wanted) in &then {
        match now.get(dest_key) {
            None => adds.push(Op::AddDest(key, **wanted)),
            Some(have) if have != wanted => edits.push(Op::EditDest(key, **wanted)),
            Some(_) => {}
        }
    }
    let dels = now
        .keys()
        .filter(|k| !then.contains_key(k))
        .map(|k| Op::DelDest(key, *k));
    adds.into_iter().chain(edits).chain(dels).collect()
}

/// A table's configuration, without counters or connections: what an apply
/// changes and a restore must bring back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub services: Vec<(Service, Vec<Dest>)>,
    pub timeouts: Timeouts,
    pub daemons: Vec<Daemon>,
}

impl Config {
    pub fn of(snapshot: &Snapshot) -> Self {
        Config {
            services: snapshot
                .services
                .iter()
                .map(|e| (e.service.clone(), e.dests.iter().map(|d| d.dest).collect()))
                .collect(),
            timeouts: snapshot.timeouts,
            daemons: snapshot.daemons.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::ipvs::{IpvsTable, MemoryTable};
    use crate::model::Scheduler;
    use crate::plan::{PlanOptions, plan};

    /// A kernel holding `snapshot` with every scheduler a spec may name
    /// and those the snapshots' services use (an odd kernel's included).
    fn kernel(snapshot: &Snapshot, other: &Snapshot) -> MemoryTable {
        let odd = [snapshot, other]
            .into_iter()
            .flat_map(|s| &s.services)
            .map(|e| e.service.scheduler.clone());
        let schedulers = Scheduler::ALL
            .map(|s| s.as_str().to_string())
            .into_iter()
            .chain(odd);
        MemoryTable::from_snapshot(snapshot).with_schedulers(schedulers)
    }

    /// Any table goes back to any other table, exactly, counters of kept
    /// real servers included.
    fn round_trip(from: &Snapshot, to: &Snapshot) -> Result<(), TestCaseError> {
        let mut table = kernel(from, to);
        let ops = restore_ops(from, to);
        table
            .apply(&ops)
            .map_err(|e| TestCaseError::fail(format!("{e}: {ops:?}")))?;
        prop_assert_eq!(Config::of(&table.snapshot_now()), Config::of(to));
        prop_assert!(restore_ops(&table.snapshot_now(), to).is_empty());
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]

        #[test]
        fn a_planned_table_restores_to_where_it_was(
            (before, desired) in crate::plan::arbitrary::table_and_spec(),
        ) {
            let mut table = kernel(&before, &before);
            let planned = plan(&before, &desired, &PlanOptions::default());
            prop_assume!(table.apply(planned.ops()).is_ok());
            let after = table.snapshot_now();
            round_trip(&after, &before)?;
        }
    }
}
