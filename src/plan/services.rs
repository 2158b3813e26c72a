//! Planning virtual services and their real servers.
//!
//! Everything SET_SERVICE and SET_DEST can change is changed in place:
//! scheduler, flags, persistence, netmask and persistence engine
//! (`ip_vs_edit_service` rebinds the engine too), and weight, thresholds,
//! forwarding and tunnel of a real server. Deleting and adding again would
//! break every established connection, so it is never planned: what
//! identifies a service or a real server (its key) is the only thing an edit
//! cannot change, and a different key is a different object.

use std::collections::{BTreeMap, BTreeSet};

use super::Draining;
use super::change::Change;
use crate::ipvs::{Dest, DestEntry, DestKey, Service, ServiceEntry};
use crate::model::{ServiceKey, VirtualService};

/// How a service takes its real servers out.
#[derive(Clone, Copy)]
pub(super) struct Drain<'a> {
    /// Drain (weight 0 first) rather than delete at once.
    pub on: bool,
    /// Draining servers past their deadline: they go, connections or not.
    pub expired: &'a BTreeSet<(ServiceKey, DestKey)>,
}

/// Changes and drains, in the order the plan will run them.
#[derive(Default)]
pub(super) struct ServiceChanges {
    /// Services leaving the spec: deleted, or their servers drained.
    pub removals: Vec<Change>,
    /// Services added or brought to the spec, each followed by its real servers.
    pub updates: Vec<Change>,
    pub draining: Vec<Draining>,
}

/// A managed service the spec no longer lists.
///
/// Deleting the service deletes its real servers with it in one step; taking
/// them out one by one first would pile the service's traffic onto the last
/// ones for the length of the plan.
pub(super) fn leave_service(entry: &ServiceEntry, drain: Drain<'_>, out: &mut ServiceChanges) {
    let key = entry.service.key;
    let delete = Change::DelService {
        service: entry.service.clone(),
        servers: dests(entry),
    };
    if !drain.on {
        out.removals.push(delete);
        return;
    }
    let mut drained = Vec::new();
    let mut quiesced = Vec::new();
    for d in &entry.dests {
        match drain_step(key, d, drain) {
            DrainStep::Done => drained.push(Change::DelDest {
                service: key,
                dest: d.dest,
            }),
            DrainStep::Quiesce => {
                quiesced.push(Change::DrainDest {
                    service: key,
                    dest: d.dest,
                    conns: conns(d),
                });
                out.draining.push(Draining::of(key, d, true));
            }
            DrainStep::Wait => out.draining.push(Draining::of(key, d, true)),
        }
    }
    if out.draining.iter().any(|d| d.service == key) {
        // The service stays until its last server is drained; drained ones
        // go now, as they would from a service that stays.
        out.removals.extend(quiesced);
        out.removals.extend(drained);
    } else {
        out.removals.push(delete);
    }
}

/// A service of the spec that the kernel does not have.
pub(super) fn add_service(desired: &VirtualService, out: &mut ServiceChanges) {
    let key = desired.key;
    out.updates.push(Change::AddService(Service::from(desired)));
    out.updates
        .extend(desired.servers().iter().map(|rs| Change::AddDest {
            service: key,
            dest: Dest::from(rs),
        }));
}

/// A service both have: edit what differs.
///
/// Real servers are added before others are removed, so that replacing
/// servers never leaves the service with fewer than it needs.
pub(super) fn update_service(
    entry: &ServiceEntry,
    desired: &VirtualService,
    drain: Drain<'_>,
    out: &mut ServiceChanges,
) {
    let key = desired.key;
    let wanted = Service::from(desired);
    if entry.service != wanted {
        out.updates.push(Change::EditService {
            before: entry.service.clone(),
            after: wanted,
        });
    }

    let actual: BTreeMap<DestKey, &DestEntry> =
        entry.dests.iter().map(|d| (d.dest.key, d)).collect();
    let mut edits = Vec::new();
    for rs in desired.servers() {
        let wanted = Dest::from(rs);
        match actual.get(&wanted.key) {
            None => out.updates.push(Change::AddDest {
                service: key,
                dest: wanted,
            }),
            Some(current) if current.dest != wanted => {
                edits.push(Change::EditDest {
                    service: key,
                    before: current.dest,
                    after: wanted,
                });
            }
            Some(_) => {}
        }
    }
    out.updates.extend(edits);

    let leaving = entry
        .dests
        .iter()
        .filter(|d| desired.server(&server_key(&d.dest.key)).is_none());
    for d in leaving {
        if !drain.on {
            out.updates.push(Change::DelDest {
                service: key,
                dest: d.dest,
            });
            continue;
        }
        match drain_step(key, d, drain) {
            DrainStep::Done => out.updates.push(Change::DelDest {
                service: key,
                dest: d.dest,
            }),
            DrainStep::Quiesce => {
                out.updates.push(Change::DrainDest {
                    service: key,
                    dest: d.dest,
                    conns: conns(d),
                });
                out.draining.push(Draining::of(key, d, false));
            }
            DrainStep::Wait => out.draining.push(Draining::of(key, d, false)),
        }
    }
}

/// Where a real server leaving the spec stands in its drain.
enum DrainStep {
    /// Still takes new connections: set its weight to 0 first, even with no
    /// connection now, since one may arrive before the deletion would.
    Quiesce,
    /// Weight 0 already, connections left: wait for them.
    Wait,
    /// Weight 0 and no connection: it can go.
    Done,
}

/// Persistence templates do not hold a drain up: once the server is gone the
/// kernel sends their clients elsewhere. Inactive connections do, as UDP
/// flows count as inactive. A drain past its deadline is done whatever is left.
fn drain_step(service: ServiceKey, d: &DestEntry, drain: Drain<'_>) -> DrainStep {
    match (d.dest.weight, conns(d)) {
        (0, 0) => DrainStep::Done,
        (0, _) if drain.expired.contains(&(service, d.dest.key)) => DrainStep::Done,
        (0, _) => DrainStep::Wait,
        _ => DrainStep::Quiesce,
    }
}

fn conns(d: &DestEntry) -> u64 {
    u64::from(d.active_conns) + u64::from(d.inact_conns)
}

fn dests(entry: &ServiceEntry) -> Vec<Dest> {
    entry.dests.iter().map(|d| d.dest).collect()
}

fn server_key(key: &DestKey) -> crate::model::ServerKey {
    crate::model::ServerKey(key.socket_addr())
}
