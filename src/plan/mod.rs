//! Planning: the ordered operations that turn an actual IPVS table into a desired spec.
//!
//! [`plan`] is a pure function of the table read from the kernel and the
//! spec. It edits in place whatever the kernel can edit, adds services before
//! their real servers, and plans nothing for what already matches, so that
//! planning again after applying a plan gives an empty one.
//!
//! The order of a plan, and why:
//! 1. stop sync daemons the spec drops (a running daemon makes the kernel
//!    refuse real servers of the other address family, which the spec may add);
//! 2. delete (or drain) services that leave the spec;
//! 3. per service, in key order: add or edit the service, then add its new
//!    real servers, edit the changed ones, and only then remove (or drain)
//!    the leaving ones, so capacity never dips while servers are replaced;
//! 4. set timeouts;
//! 5. start or restart sync daemons (the kernel refuses while real servers of
//!    another address family remain, which step 2 or 3 may remove; while
//!    some remain, draining, the start is deferred to a later plan).
//!
//! Nothing is ever deleted and added again: the kernel edits every setting
//! in place, the persistence engine included, and only a key (which is what
//! identifies a service or a real server) cannot change.
//!
//! With [`PlanOptions::drain`], removal takes several plans: the first sets
//! the leaving real servers to weight 0, and a later one, once they have no
//! connection left, deletes them. Re-planning is the drain's clock; a caller
//! that keeps drain deadlines names the overdue servers in
//! [`PlanOptions::drain_expired`], and the plan deletes them regardless.

mod blast;
mod change;
mod drift;
mod globals;
mod services;

#[cfg(test)]
pub(crate) mod arbitrary;
#[cfg(test)]
mod props;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::Serialize;

pub use blast::{BlastRadius, RemovalLimitExceeded, blast_radius, check_removal_limit};
pub use change::{Change, FieldChange, server_name};
pub use drift::{Drift, DriftKind, drift};

use crate::ipvs::error::service_name;
use crate::ipvs::{DestEntry, DestKey, Op, ServiceEntry, Snapshot};
use crate::model::{AddressFamily, Protocol, ServiceKey, Spec};

/// Which services of the kernel's table lvsd may change.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Ownership {
    /// The table is lvsd's: whatever the spec does not list goes, sync daemons included.
    #[default]
    WholeTable,
    /// The table is shared: lvsd manages these services and those of the
    /// spec, and leaves every other service, and sync daemons the spec does
    /// not list, as it finds them.
    Only(BTreeSet<ServiceKey>),
}

impl PlanOptions {
    /// Whether real servers leaving `service` are drained rather than
    /// deleted: the service's own setting, else the cluster's, but UDP
    /// services drain only when named. A UDP entry never ends while its
    /// client keeps sending, so a drain would only hold clients on a server
    /// that is going; deleted (with `expire_nodest_conn`), they move at once.
    pub fn drains(&self, service: &ServiceKey) -> bool {
        let udp = matches!(
            service,
            ServiceKey::Addr {
                protocol: Protocol::Udp,
                ..
            }
        );
        self.drain_services
            .get(service)
            .copied()
            .unwrap_or(self.drain && !udp)
    }

    fn drain_of(&self, service: &ServiceKey) -> services::Drain<'_> {
        services::Drain {
            on: self.drains(service),
            expired: &self.drain_expired,
        }
    }
}

impl Ownership {
    pub fn manages(&self, key: &ServiceKey) -> bool {
        match self {
            Ownership::WholeTable => true,
            Ownership::Only(keys) => keys.contains(key),
        }
    }

    /// The ownership once the spec's services are counted in: lvsd always
    /// manages what it is asked to run.
    fn including(&self, desired: &Spec) -> Ownership {
        match self {
            Ownership::WholeTable => Ownership::WholeTable,
            Ownership::Only(keys) => Ownership::Only(
                keys.iter()
                    .copied()
                    .chain(desired.services().iter().map(|s| s.key))
                    .collect(),
            ),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct PlanOptions {
    pub ownership: Ownership,
    /// Take real servers out gracefully: one leaving the spec is first set to
    /// weight 0 and deleted by a later plan once its connections are gone. A
    /// service leaving the spec keeps running until all its servers are drained.
    pub drain: bool,
    /// Services that drain otherwise than `drain` says (a per-service setting).
    pub drain_services: BTreeMap<ServiceKey, bool>,
    /// Draining real servers whose drain deadline has passed: deleted by this
    /// plan even though connections remain.
    pub drain_expired: BTreeSet<(ServiceKey, DestKey)>,
    /// The largest share (0.0 to 1.0) of the managed services, or of their real
    /// servers, one plan may take out of service; see [`check_removal_limit`].
    pub removal_limit: Option<f64>,
}

/// A real server on its way out: weight 0, waiting for its connections to finish.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Draining {
    pub service: ServiceKey,
    #[serde(serialize_with = "serialize_display")]
    pub server: DestKey,
    pub active_conns: u32,
    pub inact_conns: u32,
    /// The service leaves the spec too, and goes once all its servers are drained.
    pub service_leaves: bool,
}

fn serialize_display<T: fmt::Display, S: serde::Serializer>(
    value: &T,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.collect_str(value)
}

impl Draining {
    fn of(service: ServiceKey, entry: &DestEntry, service_leaves: bool) -> Self {
        Draining {
            service,
            server: entry.dest.key,
            active_conns: entry.active_conns,
            inact_conns: entry.inact_conns,
            service_leaves,
        }
    }
}

impl fmt::Display for Draining {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} draining: {} active, {} inactive connections left",
            server_name(&self.service, &self.server),
            self.active_conns,
            self.inact_conns
        )?;
        if self.service_leaves {
            write!(f, "; the service goes once its servers are drained")?;
        }
        Ok(())
    }
}

/// A change the plan cannot make yet, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deferred {
    pub change: Change,
    pub reason: String,
}

impl fmt::Display for Deferred {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "! not yet: {}: {}", self.change, self.reason)
    }
}

/// How many objects a plan adds, changes and removes.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, serde::Deserialize, utoipa::ToSchema,
)]
pub struct Summary {
    pub services_added: usize,
    pub services_changed: usize,
    pub services_removed: usize,
    pub servers_added: usize,
    pub servers_changed: usize,
    /// Deleted, on their own or with their service.
    pub servers_removed: usize,
    /// Set to weight 0 now or earlier, waiting for their connections.
    pub servers_draining: usize,
    pub timeouts_changed: bool,
    pub daemons_started: usize,
    pub daemons_restarted: usize,
    pub daemons_stopped: usize,
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let count = |n: usize, one: &str, many: &str, what: &str| match n {
            0 => None,
            1 => Some(format!("1 {one} {what}")),
            n => Some(format!("{n} {many} {what}")),
        };
        let services = |n, what| count(n, "service", "services", what);
        let servers = |n, what| count(n, "real server", "real servers", what);
        let daemons = |n, what| count(n, "sync daemon", "sync daemons", what);
        let parts: Vec<String> = [
            services(self.services_added, "added"),
            services(self.services_changed, "changed"),
            services(self.services_removed, "removed"),
            servers(self.servers_added, "added"),
            servers(self.servers_changed, "changed"),
            servers(self.servers_removed, "removed"),
            servers(self.servers_draining, "draining"),
            self.timeouts_changed
                .then(|| "timeouts changed".to_string()),
            daemons(self.daemons_started, "started"),
            daemons(self.daemons_restarted, "restarted"),
            daemons(self.daemons_stopped, "stopped"),
        ]
        .into_iter()
        .flatten()
        .collect();
        if parts.is_empty() {
            f.write_str("no changes")
        } else {
            f.write_str(&parts.join(", "))
        }
    }
}

/// The ordered changes that bring a table to a spec, with the kernel
/// operations they take.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    changes: Vec<Change>,
    ops: Vec<Op>,
    draining: Vec<Draining>,
    deferred: Vec<Deferred>,
    /// The services this plan was allowed to touch.
    scope: Ownership,
}

impl Plan {
    fn new(
        changes: Vec<Change>,
        draining: Vec<Draining>,
        deferred: Vec<Deferred>,
        scope: Ownership,
    ) -> Self {
        let ops = changes.iter().flat_map(Change::ops).collect();
        Plan {
            changes,
            ops,
            draining,
            deferred,
            scope,
        }
    }

    /// The kernel operations, in the order they must run.
    pub fn ops(&self) -> &[Op] {
        &self.ops
    }

    pub fn into_ops(self) -> Vec<Op> {
        self.ops
    }

    pub fn changes(&self) -> &[Change] {
        &self.changes
    }

    /// Whether the table already matches the spec (drains in progress aside).
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }

    /// Real servers at weight 0 waiting for their connections, this plan's and earlier ones'.
    pub fn draining(&self) -> &[Draining] {
        &self.draining
    }

    /// Changes held back until the kernel allows them.
    pub fn deferred(&self) -> &[Deferred] {
        &self.deferred
    }

    /// The services the plan may touch: the ownership asked for, plus the spec's services.
    pub fn scope(&self) -> &Ownership {
        &self.scope
    }

    pub fn summary(&self) -> Summary {
        let mut s = Summary {
            servers_draining: self.draining.len(),
            ..Summary::default()
        };
        for change in &self.changes {
            match change {
                Change::AddService(_) => s.services_added += 1,
                Change::EditService { .. } => s.services_changed += 1,
                Change::DelService { servers, .. } => {
                    s.services_removed += 1;
                    s.servers_removed += servers.len();
                }
                Change::AddDest { .. } => s.servers_added += 1,
                Change::EditDest { .. } => s.servers_changed += 1,
                Change::DrainDest { .. } => {}
                Change::DelDest { .. } => s.servers_removed += 1,
                Change::SetTimeouts { .. } => s.timeouts_changed = true,
                Change::StartDaemon(_) => s.daemons_started += 1,
                Change::RestartDaemon { .. } => s.daemons_restarted += 1,
                Change::StopDaemon(_) => s.daemons_stopped += 1,
            }
        }
        s
    }

    /// Drains this plan does not start itself: they wait on connections.
    fn drains_in_progress(&self) -> impl Iterator<Item = &Draining> {
        let started_here = |d: &Draining| {
            self.changes.iter().any(|c| {
                matches!(c, Change::DrainDest { service, dest, .. } if *service == d.service && dest.key == d.server)
            })
        };
        self.draining.iter().filter(move |d| !started_here(d))
    }
}

/// One line per change, then the drains still waiting and the deferred changes.
impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for change in &self.changes {
            writeln!(f, "{change}")?;
        }
        for draining in self.drains_in_progress() {
            writeln!(f, "= {draining}")?;
        }
        for deferred in &self.deferred {
            writeln!(f, "{deferred}")?;
        }
        Ok(())
    }
}

/// The plan that turns `actual` into `desired`. See the module documentation for its order.
pub fn plan(actual: &Snapshot, desired: &Spec, options: &PlanOptions) -> Plan {
    let scope = options.ownership.including(desired);
    let by_key: BTreeMap<ServiceKey, &ServiceEntry> =
        actual.services.iter().map(|e| (e.service.key, e)).collect();

    let mut services = services::ServiceChanges::default();
    for entry in by_key.values() {
        let key = &entry.service.key;
        if scope.manages(key) && desired.service(key).is_none() {
            services::leave_service(entry, options.drain_of(key), &mut services);
        }
    }
    for wanted in desired.services() {
        match by_key.get(&wanted.key) {
            Some(entry) => services::update_service(
                entry,
                wanted,
                options.drain_of(&wanted.key),
                &mut services,
            ),
            None => services::add_service(wanted, &mut services),
        }
    }

    let whole_table = scope == Ownership::WholeTable;
    let daemons = globals::daemons(&actual.daemons, desired.sync_daemons(), whole_table);
    let (starts, deferred) = match mixed_family_server(&by_key, desired, &scope, &services.draining)
    {
        Some(reason) if !daemons.starts.is_empty() => {
            let reason =
                format!("{reason}, and the kernel cannot sync services that mix address families");
            let deferred = daemons.starts.into_iter().map(|change| Deferred {
                change,
                reason: reason.clone(),
            });
            (Vec::new(), deferred.collect())
        }
        _ => (daemons.starts, Vec::new()),
    };

    let mut changes = daemons.stops;
    changes.extend(services.removals);
    changes.extend(services.updates);
    changes.extend(globals::timeouts(&actual.timeouts, &desired.timeouts));
    changes.extend(starts);
    Plan::new(changes, services.draining, deferred, scope)
}

/// A real server of another address family than its service's that the
/// table will still hold after the plan, described; `None` when there is none.
fn mixed_family_server(
    actual: &BTreeMap<ServiceKey, &ServiceEntry>,
    desired: &Spec,
    scope: &Ownership,
    draining: &[Draining],
) -> Option<String> {
    let mixed =
        |service: &ServiceKey, server: &DestKey| AddressFamily::of(server.addr) != service.family();
    let describe = |service: &ServiceKey, server: &DestKey, why: &str| {
        let families = format!(
            "{} in an {} service",
            AddressFamily::of(server.addr).as_str(),
            service.family().as_str()
        );
        format!("{} is {families} ({why})", server_name(service, server))
    };
    for service in desired.services() {
        for rs in service.servers() {
            let dest = DestKey {
                addr: rs.key.ip(),
                port: rs.key.port(),
            };
            if mixed(&service.key, &dest) {
                return Some(describe(&service.key, &dest, "in the spec"));
            }
        }
    }
    if let Some(d) = draining.iter().find(|d| mixed(&d.service, &d.server)) {
        return Some(describe(&d.service, &d.server, "draining"));
    }
    let unmanaged = actual
        .values()
        .filter(|entry| !scope.manages(&entry.service.key));
    for entry in unmanaged {
        if let Some(d) = entry
            .dests
            .iter()
            .find(|d| mixed(&entry.service.key, &d.dest.key))
        {
            let why = format!("service {} is not lvsd's", service_name(&entry.service.key));
            return Some(describe(&entry.service.key, &d.dest.key, &why));
        }
    }
    None
}
