//! One apply of a spec to an IPVS table: read, plan, check the blast radius,
//! send, and then either verify or, when an operation failed, restore.
//!
//! The engine keeps the table as it last read or verified it (its cache), so
//! that a small change to a large table costs what it touches: it plans
//! against the cache, reads again only the services the plan touches (and
//! plans again on what it read), sends the operations, and reads those
//! services back to verify them. It also remembers the spec the cache was
//! last verified against (its basis): while the policy, timeouts and sync
//! daemons stay the same, only the services that differ from the basis (and
//! those draining) are planned at all. A full read happens on the first
//! apply, on the drift check ([`Engine::check`]), and after any failure.
//!
//! Failure policy: an operation the kernel refuses stops the batch (the
//! driver sends nothing after it). The engine then reads the touched
//! services, computes the operations that bring them back to their state
//! before the apply ([`restore_ops`]), sends those, reads again and reports
//! whether the table is exactly as it was. It never leaves a half-applied
//! table without saying so.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use super::hash::{ServiceDigest, service_digest, state_hash};
use super::policy::{OwnershipMode, Policy};
use super::reconcile::{ApplyError, classify};
use super::report::{
    ApplyResult, Cause, DrainView, FailedOp, PLAN_LINES, Report, RestoreReport, RestoreResult, ms,
};
use super::restore::{Config, restore_ops};
use super::state::{DirectorState, DrainRecord};
use crate::ipvs::error::describe;
use crate::ipvs::{DestKey, Error, IpvsTable, Op, ServiceEntry, Snapshot};
use crate::model::time::rfc3339;
use crate::model::{ServiceKey, Spec};
use crate::plan::{
    BlastRadius, Change, Drift, Ownership, Plan, PlanOptions, RemovalLimitExceeded, blast_radius,
    plan,
};

/// How the engine learns the table before planning.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Read {
    /// Dump the whole table.
    Full,
    /// Plan on the cache, then read the services the plan touches (a full
    /// read when there is no cache yet).
    Cached,
}

/// One apply's circumstances.
#[derive(Debug, Clone, Copy)]
pub struct Run {
    pub cause: Cause,
    /// Go ahead past the removal limit.
    pub force: bool,
    pub now: SystemTime,
    pub read: Read,
}

/// The report of an apply, and the error it ended with, classified for the
/// reconcile loop's error policy.
#[derive(Debug)]
pub struct Outcome {
    pub report: Report,
    pub error: Option<ApplyError>,
}

/// What a drift check found.
#[derive(Debug, Clone)]
pub struct Check {
    /// How the kernel differs from the spec, drains in progress aside.
    pub drift: Vec<Drift>,
    /// Drains that can end now (connections gone, or deadline passed).
    pub drains_done: bool,
    /// The state hash of the table as read.
    pub hash: String,
}

/// What activating a spec would do, without doing it.
#[derive(Debug, Clone)]
pub struct Preview {
    pub plan: Plan,
    pub radius: crate::plan::BlastRadius,
    /// Why the engine would refuse it, if it would.
    pub refusal: Option<String>,
}

/// The table as the engine last knew it, with a digest per service.
struct Cache {
    table: Snapshot,
    digests: BTreeMap<ServiceKey, ServiceDigest>,
}

impl Cache {
    fn new(table: Snapshot) -> Self {
        let digests = table
            .services
            .iter()
            .map(|e| (e.service.key, service_digest(e)))
            .collect();
        Cache { table, digests }
    }

    /// Takes in a partial read of the services `keys`: those it lacks are gone.
    fn merge(&mut self, part: Snapshot, keys: &BTreeSet<ServiceKey>) {
        let mut read: BTreeMap<ServiceKey, ServiceEntry> = part
            .services
            .into_iter()
            .map(|e| (e.service.key, e))
            .collect();
        let services = &mut self.table.services;
        for key in keys {
            let at = services.binary_search_by(|e| e.service.key.cmp(key));
            match (at, read.remove(key)) {
                (Ok(i), Some(entry)) => {
                    self.digests.insert(*key, service_digest(&entry));
                    services[i] = entry;
                }
                (Err(i), Some(entry)) => {
                    self.digests.insert(*key, service_digest(&entry));
                    services.insert(i, entry);
                }
                (Ok(i), None) => {
                    self.digests.remove(key);
                    services.remove(i);
                }
                (Err(_), None) => {}
            }
        }
        self.table.timeouts = part.timeouts;
        self.table.daemons = part.daemons;
    }

    /// The services `keys` as cached, with the globals.
    fn part(&self, keys: &BTreeSet<ServiceKey>) -> Snapshot {
        Snapshot {
            services: keys
                .iter()
                .filter_map(|key| self.entry(key))
                .cloned()
                .collect(),
            timeouts: self.table.timeouts,
            daemons: self.table.daemons.clone(),
        }
    }

    fn entry(&self, key: &ServiceKey) -> Option<&ServiceEntry> {
        let services = &self.table.services;
        services
            .binary_search_by(|e| e.service.key.cmp(key))
            .ok()
            .map(|i| &services[i])
    }

    /// The state hash of the services `manages` accepts.
    fn hash(&self, manages: impl Fn(&ServiceKey) -> bool) -> String {
        let digests = self
            .digests
            .iter()
            .filter(|(key, _)| manages(key))
            .map(|(_, d)| d);
        state_hash(digests, &self.table.timeouts, &self.table.daemons)
    }
}

/// What the cache was last verified against: outside the services an apply
/// touches, the cached table is as this spec says under this policy.
struct Basis {
    spec: Arc<Spec>,
    policy: Policy,
}

/// The services a plan covers.
enum Scope {
    /// All of them: the whole spec against the whole cache.
    All,
    /// Only these (those that differ from the basis, and those draining).
    Services(BTreeSet<ServiceKey>),
}

/// The apply engine of one table. See the module documentation.
#[derive(Default)]
pub struct Engine {
    cache: Option<Cache>,
    basis: Option<Basis>,
    /// Time spent reading the table since the last reset, for reports.
    reading: std::time::Duration,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field(
                "cached_services",
                &self.cache.as_ref().map(|c| c.table.services.len()),
            )
            .finish()
    }
}

/// The services whose kernel objects `plan` changes.
fn touched(plan: &Plan) -> BTreeSet<ServiceKey> {
    plan.ops()
        .iter()
        .filter_map(|op| match op {
            Op::AddService(s) | Op::EditService(s) => Some(s.key),
            Op::DelService(key)
            | Op::AddDest(key, _)
            | Op::EditDest(key, _)
            | Op::DelDest(key, _) => Some(*key),
            Op::Zero(key) => *key,
            Op::SetTimeouts(_) | Op::StartDaemon(_) | Op::StopDaemon(_) | Op::Flush => None,
        })
        .collect()
}

/// The drains `change` ends (see [`ends_drain`]): its real servers, by service.
fn drain_keys(change: &Change) -> Vec<(ServiceKey, DestKey)> {
    match change {
        Change::DelDest { service, dest } => vec![(*service, dest.key)],
        Change::DelService { service, servers } => {
            servers.iter().map(|d| (service.key, d.key)).collect()
        }
        _ => Vec::new(),
    }
}

/// Whether `change` only ends a drain: deletes real servers already at
/// weight 0, of a service that drains.
fn ends_drain(change: &Change, options: &PlanOptions) -> bool {
    match change {
        Change::DelDest { service, dest } => dest.weight == 0 && options.drains(service),
        Change::DelService { service, servers } => {
            !servers.is_empty()
                && servers.iter().all(|d| d.weight == 0)
                && options.drains(&service.key)
        }
        _ => false,
    }
}

/// Services whose desired state differs between `a` and `b`.
fn changed_services(a: &Spec, b: &Spec) -> BTreeSet<ServiceKey> {
    let mut changed = BTreeSet::new();
    let (mut x, mut y) = (
        a.services().iter().peekable(),
        b.services().iter().peekable(),
    );
    loop {
        match (x.peek(), y.peek()) {
            (None, None) => return changed,
            (Some(s), None) => {
                changed.insert(s.key);
                x.next();
            }
            (None, Some(s)) => {
                changed.insert(s.key);
                y.next();
            }
            (Some(s), Some(t)) => match s.key.cmp(&t.key) {
                std::cmp::Ordering::Less => {
                    changed.insert(s.key);
                    x.next();
                }
                std::cmp::Ordering::Greater => {
                    changed.insert(t.key);
                    y.next();
                }
                std::cmp::Ordering::Equal => {
                    if s != t {
                        changed.insert(s.key);
                    }
                    x.next();
                    y.next();
                }
            },
        }
    }
}

/// The part of `spec` with the services `keys` names, and the same globals.
fn spec_part(spec: &Spec, keys: &BTreeSet<ServiceKey>) -> Spec {
    let services = keys
        .iter()
        .filter_map(|key| spec.service(key))
        .cloned()
        .collect();
    Spec::new(services, spec.timeouts, spec.sync_daemons().to_vec())
        .expect("a part of a valid spec is valid")
}

/// Whether `policy` lets the cluster manage the service `key` of the table
/// (the services of its spec always).
fn manages(policy: &Policy, state: &DirectorState, spec: &Spec, key: &ServiceKey) -> bool {
    if policy.foreign.contains(key) {
        return false;
    }
    match policy.ownership {
        OwnershipMode::Table => true,
        OwnershipMode::Created => state.created.contains(key) || spec.service(key).is_some(),
    }
}

/// What `planned` takes out of service against everything the cluster
/// manages in `table` (the plan may cover only part of it).
fn radius(
    planned: &Plan,
    part: &Snapshot,
    table: &Snapshot,
    policy: &Policy,
    state: &DirectorState,
    spec: &Spec,
) -> BlastRadius {
    let removed = blast_radius(planned, part);
    let mut radius = BlastRadius {
        services_removed: removed.services_removed,
        servers_removed: removed.servers_removed,
        ..BlastRadius::default()
    };
    for entry in table
        .services
        .iter()
        .filter(|e| manages(policy, state, spec, &e.service.key))
    {
        radius.services_total += 1;
        radius.servers_total += entry.dests.len();
    }
    radius
}

/// The plan options for `policy` over `actual`.
fn plan_options(
    policy: &Policy,
    state: &DirectorState,
    actual: &Snapshot,
    now: SystemTime,
    force: bool,
) -> PlanOptions {
    let ownership = match policy.ownership {
        OwnershipMode::Table if policy.foreign.is_empty() => Ownership::WholeTable,
        OwnershipMode::Table => Ownership::Only(
            actual
                .services
                .iter()
                .map(|e| e.service.key)
                .filter(|key| !policy.foreign.contains(key))
                .collect(),
        ),
        OwnershipMode::Created => Ownership::Only(
            state
                .created
                .iter()
                .copied()
                .filter(|key| !policy.foreign.contains(key))
                .collect(),
        ),
    };
    PlanOptions {
        ownership,
        drain: policy.drain,
        drain_services: policy.drain_services.clone(),
        drain_expired: state.expired_drains(now),
        removal_limit: if force { None } else { policy.removal_limit },
    }
}

fn elapsed_ms(since: Instant) -> f64 {
    ms(since.elapsed())
}

impl Engine {
    pub fn new() -> Self {
        Engine::default()
    }

    /// Forgets the cached table: the next apply reads the whole table.
    pub fn forget(&mut self) {
        self.cache = None;
        self.basis = None;
    }

    /// Services in the cache, if any.
    pub fn cached_services(&self) -> Option<usize> {
        self.cache.as_ref().map(|c| c.table.services.len())
    }

    fn read_full(&mut self, table: &mut dyn IpvsTable) -> Result<&mut Cache, Error> {
        self.forget();
        let t = Instant::now();
        let snapshot = table.snapshot();
        self.reading += t.elapsed();
        Ok(self.cache.insert(Cache::new(snapshot?)))
    }

    /// Reads the services `keys` (and the globals) into the cache; the whole
    /// table when that is most of it (one dump beats a request per service).
    fn refresh(
        &mut self,
        table: &mut dyn IpvsTable,
        keys: &BTreeSet<ServiceKey>,
    ) -> Result<(), Error> {
        let cached = self.cache.as_ref().map_or(0, |c| c.table.services.len());
        if keys.len() > 64 && keys.len() * 2 > cached {
            return self.read_full(table).map(drop);
        }
        let t = Instant::now();
        let read = table.snapshot_of(keys);
        self.reading += t.elapsed();
        match (read, self.cache.as_mut()) {
            (Ok(part), Some(cache)) => {
                cache.merge(part, keys);
                Ok(())
            }
            (Ok(_), None) => self.read_full(table).map(drop),
            (Err(err), _) => {
                self.forget();
                Err(err)
            }
        }
    }

    /// Reads the table for a plan, as `read` says; returns whether it read
    /// everything (so nothing needs reading again before planning).
    fn read_for_plan(&mut self, table: &mut dyn IpvsTable, read: Read) -> Result<bool, Error> {
        if read == Read::Full || self.cache.is_none() {
            self.read_full(table)?;
            return Ok(true);
        }
        Ok(false)
    }

    /// The services to plan: those that differ from the basis, when the
    /// basis still describes the cache under the same policy and globals.
    fn scope(&self, spec: &Arc<Spec>, policy: &Policy, state: &DirectorState) -> Scope {
        let Some(basis) = &self.basis else {
            return Scope::All;
        };
        let same_globals = basis.spec.timeouts == spec.timeouts
            && basis.spec.sync_daemons() == spec.sync_daemons();
        if basis.policy != *policy || !same_globals {
            return Scope::All;
        }
        let mut keys = if Arc::ptr_eq(&basis.spec, spec) {
            BTreeSet::new()
        } else {
            changed_services(&basis.spec, spec)
        };
        keys.extend(state.drains.keys().map(|(service, _)| *service));
        Scope::Services(keys)
    }

    /// Plans `spec` over the cache (all of it, or the services of `scope`).
    fn plan_on_cache(
        &self,
        spec: &Spec,
        policy: &Policy,
        state: &DirectorState,
        run: &Run,
        scope: &Scope,
    ) -> (Plan, PlanOptions, Snapshot) {
        let cache = self.cache.as_ref().expect("planning needs the cache");
        match scope {
            Scope::All => {
                let options = plan_options(policy, state, &cache.table, run.now, run.force);
                (
                    plan(&cache.table, spec, &options),
                    options,
                    Snapshot::default(),
                )
            }
            Scope::Services(keys) => {
                let part = cache.part(keys);
                let options = plan_options(policy, state, &part, run.now, run.force);
                (plan(&part, &spec_part(spec, keys), &options), options, part)
            }
        }
    }

    /// Plans `spec` on the cache; unless the cache was just read whole, reads
    /// the services the plan touches (and those draining) and plans again.
    /// Returns the plan, its options, the services it covers, and the part of
    /// the table it was planned on (empty when it covers the whole table).
    fn fresh_plan(
        &mut self,
        table: &mut dyn IpvsTable,
        spec: &Arc<Spec>,
        policy: &Policy,
        state: &DirectorState,
        run: &Run,
        full: bool,
    ) -> Result<(Plan, PlanOptions, Scope, Snapshot), Error> {
        let scope = if full {
            Scope::All
        } else {
            self.scope(spec, policy, state)
        };
        let (planned, options, part) = self.plan_on_cache(spec, policy, state, run, &scope);
        if full {
            return Ok((planned, options, scope, part));
        }
        let mut keys = touched(&planned);
        keys.extend(state.drains.keys().map(|(service, _)| *service));
        self.refresh(table, &keys)?;
        let (planned, options, part) = self.plan_on_cache(spec, policy, state, run, &scope);
        Ok((planned, options, scope, part))
    }

    /// Applies `spec` to `table` under `policy`, updating `state` (drains,
    /// created services). Never panics on kernel errors: every failure ends
    /// in the report.
    pub fn apply(
        &mut self,
        table: &mut dyn IpvsTable,
        spec: &Arc<Spec>,
        policy: &Policy,
        state: &mut DirectorState,
        run: Run,
    ) -> Outcome {
        let started = Instant::now();
        let mut report = Report::new(run.cause);
        let outcome = self.apply_inner(table, spec, policy, state, run, &mut report);
        report.timings.total_ms = elapsed_ms(started);
        report.at = rfc3339(SystemTime::now());
        if outcome.is_err() {
            // After any failure, trust nothing cached.
            self.forget();
        }
        Outcome {
            report,
            error: outcome.err(),
        }
    }

    fn apply_inner(
        &mut self,
        table: &mut dyn IpvsTable,
        spec: &Arc<Spec>,
        policy: &Policy,
        state: &mut DirectorState,
        run: Run,
        report: &mut Report,
    ) -> Result<(), ApplyError> {
        if let Some(foreign) = spec
            .services()
            .iter()
            .find(|s| policy.foreign.contains(&s.key))
        {
            let why = format!(
                "service {} belongs to another cluster applied to this table: a service has one owner",
                foreign.key
            );
            report.result = ApplyResult::Refused;
            report.errors.push(why.clone());
            return Err(ApplyError::Refused(why));
        }

        // Read and plan.
        let t = Instant::now();
        self.reading = std::time::Duration::ZERO;
        let read_failed = |report: &mut Report, err: Error| {
            let message = format!("reading the table: {err}");
            report.result = ApplyResult::Failed;
            report.errors.push(message.clone());
            classify(&err, message)
        };
        let full = match self.read_for_plan(table, run.read) {
            Ok(full) => full,
            Err(err) => return Err(read_failed(report, err)),
        };
        let (planned, options, scope, part) =
            match self.fresh_plan(table, spec, policy, state, &run, full) {
                Ok(planned) => planned,
                Err(err) => return Err(read_failed(report, err)),
            };
        let read_ms = ms(self.reading);
        let total = elapsed_ms(t);
        report.summary = planned.summary();
        report.plan = planned
            .to_string()
            .lines()
            .take(PLAN_LINES)
            .map(str::to_string)
            .collect();
        report.pending = planned
            .deferred()
            .iter()
            .map(|d| format!("{}: {}", d.change, d.reason))
            .collect();
        report.ops = planned.ops().len();
        report.timings.read_ms = read_ms;
        report.timings.plan_ms = ((total - read_ms) * 1e3).round() / 1e3;

        // Blast radius, against everything the cluster manages.
        let cache = self.cache.as_ref().expect("planned on the cache");
        let planned_on = if matches!(scope, Scope::All) {
            &cache.table
        } else {
            &part
        };
        let blast = radius(&planned, planned_on, &cache.table, policy, state, spec);
        report.blast_radius = Some(blast);
        if let Some(limit) = options.removal_limit.filter(|limit| blast.exceeds(*limit)) {
            let exceeded = RemovalLimitExceeded {
                radius: blast,
                limit,
            };
            let why =
                format!("refused: {exceeded}; nothing was changed (force the apply to go ahead)");
            report.result = ApplyResult::Refused;
            report.errors.push(why.clone());
            report.ops = 0;
            return Err(ApplyError::Refused(why));
        }

        // Send.
        let keys = touched(&planned);
        let before = cache.part(&keys);
        let t = Instant::now();
        let sent = if planned.ops().is_empty() {
            Ok(())
        } else {
            table.apply(planned.ops())
        };
        report.timings.apply_ms = elapsed_ms(t);
        if let Err(batch) = sent {
            let (index, err) = batch
                .first_failure()
                .expect("a failed batch has a failed operation");
            let op = &planned.ops()[index];
            report.failed_op = Some(FailedOp {
                index,
                op: describe(op),
                error: err.to_string(),
                errno: err.errno(),
            });
            report.errors.push(format!(
                "operation {} of {} failed: {err}",
                index + 1,
                planned.ops().len()
            ));
            let error = classify(err, err.to_string());
            report.ops = batch.applied().count();
            let t = Instant::now();
            let restore = self.restore(table, &keys, &before);
            report.timings.restore_ms = elapsed_ms(t);
            report.result = match restore.result {
                RestoreResult::Restored => ApplyResult::FailedRestored,
                RestoreResult::Failed => ApplyResult::FailedRestoreFailed,
            };
            report.errors.extend(restore.errors.iter().cloned());
            report.restore = Some(restore);
            return Err(error);
        }

        // Verify: read back what was touched; the spec must need nothing more
        // than drains ending.
        let t = Instant::now();
        if let Err(err) = self.refresh(table, &keys) {
            report.timings.verify_ms = elapsed_ms(t);
            let message = format!("reading the table back: {err}");
            report.result = ApplyResult::Failed;
            report.errors.push(message.clone());
            return Err(classify(&err, message));
        }
        let (after, options, _) = self.plan_on_cache(spec, policy, state, &run, &scope);
        let left: Vec<String> = after
            .changes()
            .iter()
            .filter(|c| !ends_drain(c, &options))
            .map(ToString::to_string)
            .collect();
        if !left.is_empty() {
            report.timings.verify_ms = elapsed_ms(t);
            let message = format!(
                "the operations took effect but the table read back differs from the spec (changed meanwhile?): {}",
                left.join("; ")
            );
            report.result = ApplyResult::Failed;
            report.errors.push(message.clone());
            return Err(ApplyError::Transient(message));
        }

        // Remember drains and created services, then hash what was verified.
        update_state(state, &planned, policy, run.now);
        let cache = self.cache.as_ref().expect("refresh keeps the cache");
        report.verified_hash = Some(cache.hash(|key| manages(policy, state, spec, key)));
        report.draining = drain_views(state, &planned, cache);
        report.timings.verify_ms = elapsed_ms(t);
        report.result = ApplyResult::Applied;
        // Deferred changes (a daemon waiting for a drain) are planned against
        // the whole table next time.
        self.basis = planned.deferred().is_empty().then(|| Basis {
            spec: spec.clone(),
            policy: policy.clone(),
        });
        Ok(())
    }

    /// Brings the services `keys` (and the globals) back to `before`.
    fn restore(
        &mut self,
        table: &mut dyn IpvsTable,
        keys: &BTreeSet<ServiceKey>,
        before: &Snapshot,
    ) -> RestoreReport {
        let failed = |ops: usize, error: String| RestoreReport {
            result: RestoreResult::Failed,
            ops,
            errors: vec![error],
        };
        if let Err(err) = self.refresh(table, keys) {
            return failed(0, format!("restore: reading the table: {err}"));
        }
        let current = self
            .cache
            .as_ref()
            .expect("refresh keeps the cache")
            .part(keys);
        let ops = restore_ops(&current, before);
        if let Err(batch) = table.apply(&ops) {
            let applied = batch.applied().count();
            let why = match batch.first_failure() {
                Some((i, err)) => format!("restore: {}: {err}", describe(&ops[i])),
                None => format!("restore: {batch}"),
            };
            self.forget();
            return failed(applied, why);
        }
        if let Err(err) = self.refresh(table, keys) {
            return failed(ops.len(), format!("restore: reading the table back: {err}"));
        }
        let now = self
            .cache
            .as_ref()
            .expect("refresh keeps the cache")
            .part(keys);
        if Config::of(&now) == Config::of(before) {
            RestoreReport {
                result: RestoreResult::Restored,
                ops: ops.len(),
                errors: Vec::new(),
            }
        } else {
            self.forget();
            let left = restore_ops(&now, before)
                .iter()
                .map(describe)
                .collect::<Vec<_>>()
                .join("; ");
            failed(
                ops.len(),
                format!("restore: the table still differs from before the apply: {left}"),
            )
        }
    }

    /// Reads the whole table and compares it with `spec`: the drift check.
    ///
    /// Real servers it finds draining (weight 0, leaving the spec) join the
    /// drains of `state`, with a deadline from now if they had none: a server
    /// set to weight 0 by an apply whose state was never stored (lvsd stopped
    /// in between) still ends its drain.
    pub fn check(
        &mut self,
        table: &mut dyn IpvsTable,
        spec: &Arc<Spec>,
        policy: &Policy,
        state: &mut DirectorState,
        now: SystemTime,
    ) -> Result<Check, Error> {
        let cache = self.read_full(table)?;
        let options = plan_options(policy, state, &cache.table, now, false);
        let planned = plan(&cache.table, spec, &options);
        let drifts = planned.drift();
        let mut drift = Vec::new();
        let mut ending = Vec::new();
        for (change, d) in planned.changes().iter().zip(drifts) {
            if ends_drain(change, &options) {
                ending.extend(drain_keys(change));
            } else {
                drift.push(d);
            }
        }
        let drains_done = !ending.is_empty();
        let ended: Vec<_> = ending
            .iter()
            .map(|key| (*key, state.drains.get(key).copied()))
            .collect();
        sync_drains(state, &planned, policy, now);
        // A drain this check ends stays recorded until the apply that follows
        // deletes its server: that apply reads only the services it changes
        // and those with drains recorded, so forgetting the drain here would
        // leave the server at weight 0 for good.
        for (key, record) in ended {
            state.drains.insert(
                key,
                record.unwrap_or(DrainRecord {
                    started_at: now,
                    deadline: now,
                }),
            );
        }
        let hash = cache.hash(|key| manages(policy, state, spec, key));
        if drift.is_empty() && planned.deferred().is_empty() {
            self.basis = Some(Basis {
                spec: spec.clone(),
                policy: policy.clone(),
            });
        }
        Ok(Check {
            drift,
            drains_done,
            hash,
        })
    }

    /// What applying `spec` would do to `table`, without doing it.
    pub fn preview(
        &mut self,
        table: &mut dyn IpvsTable,
        spec: &Arc<Spec>,
        policy: &Policy,
        state: &DirectorState,
        now: SystemTime,
    ) -> Result<Preview, Error> {
        let run = Run {
            cause: Cause::Activation,
            force: false,
            now,
            read: Read::Cached,
        };
        let full = self.read_for_plan(table, Read::Cached)?;
        let (planned, options, scope, part) =
            self.fresh_plan(table, spec, policy, state, &run, full)?;
        let cache = self.cache.as_ref().expect("planned on the cache");
        let planned_on = if matches!(scope, Scope::All) {
            &cache.table
        } else {
            &part
        };
        let radius = radius(&planned, planned_on, &cache.table, policy, state, spec);
        let refusal = match spec
            .services()
            .iter()
            .find(|s| policy.foreign.contains(&s.key))
        {
            Some(s) => Some(format!(
                "service {} belongs to another cluster applied to this table",
                s.key
            )),
            None => options
                .removal_limit
                .filter(|limit| radius.exceeds(*limit))
                .map(|limit| {
                    format!(
                        "{}: the apply would be refused unless forced",
                        RemovalLimitExceeded { radius, limit }
                    )
                }),
        };
        Ok(Preview {
            plan: planned,
            radius,
            refusal,
        })
    }
}

/// The drains `planned` found: those new get a deadline, those over are forgotten.
fn sync_drains(state: &mut DirectorState, planned: &Plan, policy: &Policy, now: SystemTime) {
    let draining: BTreeSet<_> = planned
        .draining()
        .iter()
        .map(|d| (d.service, d.server))
        .collect();
    state.drains.retain(|key, _| draining.contains(key));
    for key in draining {
        state.drains.entry(key).or_insert(DrainRecord {
            started_at: now,
            deadline: now + policy.drain_timeout,
        });
    }
}

/// After a verified apply: drains started, going on, or over; services created or deleted.
fn update_state(state: &mut DirectorState, planned: &Plan, policy: &Policy, now: SystemTime) {
    sync_drains(state, planned, policy, now);
    for change in planned.changes() {
        match change {
            Change::AddService(s) => {
                state.created.insert(s.key);
            }
            Change::DelService { service, .. } => {
                state.created.remove(&service.key);
            }
            _ => {}
        }
    }
}

fn drain_views(state: &DirectorState, planned: &Plan, cache: &Cache) -> Vec<DrainView> {
    planned
        .draining()
        .iter()
        .filter_map(|d| {
            let record = state.drains.get(&(d.service, d.server))?;
            let entry = cache
                .entry(&d.service)
                .and_then(|e| e.dests.iter().find(|x| x.dest.key == d.server));
            Some(DrainView {
                service: d.service.to_string(),
                server: d.server.to_string(),
                active_conns: entry.map_or(d.active_conns, |e| e.active_conns),
                inactive_conns: entry.map_or(d.inact_conns, |e| e.inact_conns),
                started_at: rfc3339(record.started_at),
                deadline: rfc3339(record.deadline),
                service_leaves: d.service_leaves,
            })
        })
        .collect()
}
