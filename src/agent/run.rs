//! The agent's director loop: what the server says to run, brought to the
//! table with the apply engine's [`reconcile`], and reported back.
//!
//! The loop owns the table. It runs a reconcile step when the desired state
//! changes, when the step before asked to be run again (drift check every
//! reconcile interval, drains ending, retries after a transient failure),
//! and reports after every step that did something, and at least every
//! report interval (a heartbeat with the counters).
//!
//! Refusals: a spec from the server that does not validate is never
//! applied; it is reported as refused and blocked, like a revision the
//! engine refuses or fails for good, and the last good table stays.
//!
//! Fail-static: the last revision applied (with the settings it was applied
//! under and the director's state) goes to the on-disk cache after every
//! apply. At start, when the server cannot be reached, or when what it says
//! to run is blocked, the cached revision is applied instead: after a
//! reboot the table comes back without the server. While the server is out
//! of reach nothing else happens to the table but drift checks and drains.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::sync::{Notify, mpsc};
use tokio::time::Instant;

use super::cache::{Cache, CacheEntry};
use super::client::ServerClient;
use super::ha::HaRunner;
use super::host::HostSetup;
use super::link::{FromServer, Reachability, send_reports, watch_desired};
use super::outbox::{CAPACITY, Outbox};
use crate::apply::{
    self, Action, Actual, ApplyError, ApplyResult, Cause, Counters, DirectorState, DrainView,
    DriftMode, Engine, Event, Report, Runner, StepRequest,
};
use crate::contract::agent::{Desired, DirectorReport, DriftCheck, HealthChange};
use crate::ha::keepalived::runner as ha_runner;
use crate::health::DirectorChecks;
use crate::host::Role;
use crate::ipvs::{IpvsTable, Op, Snapshot};
use crate::model::time::rfc3339;
use crate::model::{ServiceKey, Spec, SyncMode};

/// How the agent runs.
#[derive(Debug, Clone)]
pub struct Options {
    pub cluster: String,
    /// This director's name in the API.
    pub name: String,
    /// Report at least this often.
    pub report_interval: Duration,
    /// Compare the whole table with the revision this often.
    pub reconcile_interval: Duration,
    pub drift: DriftMode,
    /// How long the server may hold a long-poll.
    pub wait: Duration,
    /// The removal limit where the cluster's settings set none.
    pub removal_limit: Option<f64>,
    /// Where the records of the host settings it applies are kept; `None`:
    /// it leaves the host alone (`--no-host`, and always on a memory table).
    pub host_state_dir: Option<PathBuf>,
}

/// How long a director that was asked to switch over stays in FAULT, so
/// that another takes the VIPs and keeps them (nopreempt).
const SWITCHOVER_HOLD: Duration = Duration::from_secs(5);

/// Applies kept for the next report at most (the oldest go first).
const MAX_PENDING_APPLIES: usize = 50;

/// A desired state as received, with its spec validated once.
#[derive(Debug, Clone)]
struct Target {
    message: Desired,
    /// The validated spec, or why the server's spec is refused.
    spec: Result<Arc<Spec>, String>,
}

impl Target {
    fn new(message: Desired) -> Self {
        let spec = match (message.revision, &message.spec) {
            (None, _) => Err("the cluster has no active revision".to_string()),
            (Some(revision), None) => Err(format!(
                "the server sent revision {revision} without its spec"
            )),
            (Some(revision), Some(doc)) => doc.validate().map(Arc::new).map_err(|err| {
                format!("the server's spec of revision {revision} is invalid: {err}")
            }),
        };
        Target { message, spec }
    }

    fn revision(&self) -> Option<i64> {
        self.message.revision
    }
}

/// Which desired state a step runs.
enum Source {
    Server,
    /// The cached revision: at start without the server, or in place of a blocked one.
    Cache,
}

/// The director: its table, the engine, what it remembers, and what it
/// has to report. Its methods do one thing each and block on the table;
/// [`run`] calls them from the async loop.
pub struct Agent {
    options: Options,
    table: Box<dyn IpvsTable + Send>,
    engine: Engine,
    cache: Cache,
    outbox: Arc<Outbox>,
    state: DirectorState,
    zeroed_seq: Option<u64>,
    /// What the server said last.
    target: Option<Target>,
    /// The revision applied last, as received: what the cache holds.
    last_good: Option<Target>,
    /// Whether this process has applied anything yet (after a restart the
    /// table may hold anything, or nothing after a reboot).
    applied_here: bool,
    /// The server could not be reached before it ever answered.
    unreachable_at_start: bool,
    /// When the next step is due, attempts, the drift check's schedule.
    runner: Runner,
    /// Why the cache could not be written last time it was, if it could not.
    cache_error: Option<String>,
    applies: Vec<Report>,
    drift_check: Option<DriftCheck>,
    /// The drift last reported in `report` mode, to report a lasting one once.
    last_drift: Option<Vec<String>>,
    last_report: Instant,
    dropped_reports: u64,
    /// The host settings that go with the table, unless turned off.
    host: Option<HostSetup>,
    /// The real servers' checks, run from this host, and the spec last run.
    checks: DirectorChecks,
    /// The runtime the checks run on (the one the agent was made in).
    checks_runtime: Option<tokio::runtime::Handle>,
    /// Told when a real server goes down or comes back.
    health_notify: Arc<Notify>,
    /// Health changes for the next report, oldest first.
    health_changes: Vec<HealthChange>,
    /// keepalived, once a revision with an `ha` section runs.
    ha: Option<HaRunner>,
    /// Where the keepalived task sends its events (set by [`run`]).
    ha_events: Option<mpsc::UnboundedSender<ha_runner::Event>>,
    /// A switchover in progress: the fault file stays set until then.
    stepping_down_until: Option<Instant>,
}

impl Agent {
    /// An agent on `table`, with what the cache of `options.cluster` holds
    /// (a corrupt cache is logged, moved aside and ignored).
    pub fn new(options: Options, table: Box<dyn IpvsTable + Send>, cache: Cache) -> Self {
        let host = options
            .host_state_dir
            .clone()
            .map(|dir| HostSetup::new(dir, Role::Director, &options.name));
        let mut agent = Agent {
            runner: Runner::new(options.reconcile_interval, options.drift),
            host,
            checks: DirectorChecks::default(),
            checks_runtime: tokio::runtime::Handle::try_current().ok(),
            health_notify: Arc::new(Notify::new()),
            health_changes: Vec::new(),
            ha: None,
            ha_events: None,
            stepping_down_until: None,
            options,
            table,
            engine: Engine::new(),
            cache,
            outbox: Arc::new(Outbox::new(CAPACITY)),
            state: DirectorState::default(),
            zeroed_seq: None,
            target: None,
            last_good: None,
            applied_here: false,
            unreachable_at_start: false,
            cache_error: None,
            applies: Vec::new(),
            drift_check: None,
            last_drift: None,
            last_report: Instant::now(),
            dropped_reports: 0,
        };
        agent.load_cache();
        agent
    }

    fn load_cache(&mut self) {
        let cluster = self.options.cluster.clone();
        match self.cache.load(&cluster) {
            Ok(None) => {
                tracing::info!(file = %self.cache.path(&cluster).display(), "no cached revision yet")
            }
            Ok(Some(entry)) => {
                let revision = entry.desired.revision.unwrap_or_default();
                tracing::info!(revision, file = %self.cache.path(&cluster).display(), "found cached revision {revision}");
                self.state = entry.state;
                // Nothing is verified in this process yet: the first step applies.
                self.state.applied = None;
                self.zeroed_seq = entry.zeroed_seq;
                self.last_good = Some(Target::new(entry.desired));
            }
            Err(err) => {
                let aside = self.cache.set_aside(&cluster);
                match aside {
                    Ok(aside) => tracing::error!(
                        "refusing the cache: {err}; it is not applied, and is kept as {} for inspection",
                        aside.display()
                    ),
                    Err(_) => tracing::error!("refusing the cache: {err}; it is not applied"),
                }
            }
        }
    }

    #[cfg(test)]
    pub(crate) fn table(&mut self) -> &mut dyn IpvsTable {
        self.table.as_mut()
    }

    #[cfg(test)]
    pub(crate) fn schedule(&self) -> (&Runner, &DirectorState) {
        (&self.runner, &self.state)
    }

    pub fn outbox(&self) -> Arc<Outbox> {
        self.outbox.clone()
    }

    /// Takes in what the watcher says.
    pub fn on_message(&mut self, message: FromServer) {
        match message {
            FromServer::Desired(desired) => self.on_desired(*desired),
            FromServer::Unreachable => {
                if self.target.is_none() && !self.unreachable_at_start {
                    self.unreachable_at_start = true;
                    if let Some(revision) = self.last_good.as_ref().and_then(Target::revision) {
                        tracing::warn!(
                            revision,
                            "no answer from the server: applying the cached revision {revision}"
                        );
                        self.runner.due_by(Instant::now());
                    } else {
                        tracing::warn!(
                            "no answer from the server and no cached revision: the table stays as it is"
                        );
                    }
                }
            }
        }
    }

    /// A desired state from the server.
    pub fn on_desired(&mut self, desired: Desired) {
        if desired.cluster != self.options.cluster {
            tracing::error!(
                cluster = desired.cluster,
                "the server sent the desired state of another cluster; ignored"
            );
            return;
        }
        let previous = self.target.as_ref().map(|t| &t.message);
        let revision_changed = previous.is_none_or(|p| p.revision != desired.revision);
        let settings_changed = previous.is_some_and(|p| p.settings != desired.settings);
        if settings_changed {
            // New settings may allow what the old ones refused.
            self.state.blocked = None;
        }
        if revision_changed || settings_changed || self.target.is_none() {
            self.runner.wake();
        }
        self.target = Some(Target::new(desired));
        self.zero_if_asked();
    }

    /// When the next step is due; `None` waits for the server.
    pub fn due(&self) -> Option<Instant> {
        self.runner.due()
    }

    /// When the next heartbeat is due.
    pub fn heartbeat_due(&self) -> Instant {
        self.last_report + self.options.report_interval
    }

    /// What to run now, and from where.
    fn choose(&self) -> Option<(Target, Source)> {
        let fallback = || {
            let good = self.last_good.as_ref()?;
            // Once this process applied something, the table holds the last good revision already.
            (!self.applied_here).then(|| (good.clone(), Source::Cache))
        };
        match &self.target {
            None if self.unreachable_at_start => fallback(),
            None => None,
            Some(target) => match target.revision() {
                None => None,
                Some(revision) if target.spec.is_err() || self.state.blocked == Some(revision) => {
                    fallback()
                }
                Some(_) => Some((target.clone(), Source::Server)),
            },
        }
    }

    /// One reconcile step, then a report if it did anything.
    pub fn step(&mut self) {
        self.runner.idle();
        self.refuse_invalid_spec();
        let Some((target, source)) = self.choose() else {
            return;
        };
        let (Some(revision), Ok(spec)) = (target.revision(), target.spec.clone()) else {
            return;
        };
        // This director's own sync daemons and timeouts (host.directors), if any.
        let mut spec = Spec::shared_for_director(spec, &self.options.name);
        let follows_vrrp = spec
            .ha()
            .and_then(|ha| ha.sync())
            .is_some_and(|sync| sync.mode == SyncMode::FollowVrrp);
        if follows_vrrp && self.ha.as_ref().is_some_and(HaRunner::is_master) {
            spec = Arc::new(spec.with_ha_sync_role(true));
        }
        // Failed real servers out of the table (or at weight 0), as the local director does.
        let checked = self
            .checks
            .target(&spec, self.checks_runtime.as_ref(), &self.health_notify);
        let desired = apply::Desired {
            revision,
            spec: checked.spec,
            policy: target.message.settings.policy(self.options.removal_limit),
        };
        // Running the cached revision in place of a blocked one must not lift the block.
        let blocked = self.state.blocked;
        let before = self.state.clone();
        let actual = Actual {
            table: self.table.as_mut(),
            engine: &mut self.engine,
            state: &mut self.state,
        };
        let request = StepRequest {
            spec_changed: checked.changed,
            ..StepRequest::default()
        };
        let step = self.runner.step(&desired, actual, request);
        let events = step.events;
        if matches!(source, Source::Cache) && blocked.is_some_and(|b| b != revision) {
            self.state.blocked = blocked;
        }
        let applied_now = events
            .iter()
            .any(|e| matches!(e, Event::Applied(r) if r.result.is_ok()));
        if applied_now && self.state.applied == Some(revision) {
            self.applied_here = true;
            self.last_good = Some(target.clone());
            if matches!(source, Source::Cache) {
                tracing::info!(revision, "restored revision {revision} from cache");
            }
        }
        let failed = step.result.is_err();
        let mut reported = self.take_events(events);
        reported |= self.follow_host(&spec, revision, applied_now || step.drift_checked);
        self.follow_ha(&spec, &target.message, failed);
        match &step.result {
            Ok(_) => self.checks.ran(desired.spec.clone()),
            Err(err) => self.log_failure(revision, err, step.action),
        }
        if self.state != before || applied_now {
            self.save_cache();
        }
        if reported {
            self.report();
        }
    }

    /// Brings the host settings in line with the revision in the table:
    /// after every apply that succeeded and at every drift check (`due`;
    /// a setting changed behind lvsd's back is put back), and at every step
    /// while they fail (the step after a failure comes within the reconcile
    /// interval). Returns whether the outcome is worth a report.
    fn follow_host(&mut self, spec: &Spec, revision: i64, due: bool) -> bool {
        let Some(host) = &mut self.host else {
            return false;
        };
        if self.state.applied != Some(revision) || !(due || host.failing()) {
            return false;
        }
        let news = host.apply(spec);
        if host.failing() {
            self.runner
                .due_by(Instant::now() + self.options.reconcile_interval);
        }
        news
    }

    /// Runs keepalived for a spec with an `ha` section (stops it without
    /// one), lowers this director while its revision failed to apply, and
    /// steps down when the server asks for a switchover.
    fn follow_ha(&mut self, spec: &Spec, message: &Desired, failed: bool) {
        if self.ha.is_none() && spec.ha().is_some() {
            let (Some(dir), Some(runtime), Some(events)) = (
                &self.options.host_state_dir,
                &self.checks_runtime,
                &self.ha_events,
            ) else {
                return;
            };
            let dir = dir.join("keepalived").join(&self.options.cluster);
            self.ha = Some(HaRunner::start(runtime, dir, events.clone()));
        }
        let Some(ha) = &mut self.ha else { return };
        ha.follow(spec, &self.options.name);
        if let Some(request) = &message.switchover
            && ha.switchover_seq.is_none_or(|seen| request.seq > seen)
        {
            if ha.is_master() {
                tracing::warn!(seq = request.seq, "switchover asked: stepping down");
                let until = Instant::now() + SWITCHOVER_HOLD;
                self.stepping_down_until = Some(until);
                self.runner.due_by(until);
            }
            ha.switchover_seq = Some(request.seq);
        }
        if self
            .stepping_down_until
            .is_some_and(|until| Instant::now() >= until)
        {
            self.stepping_down_until = None;
        }
        ha.set_fault(failed || self.stepping_down_until.is_some());
    }

    /// An event of the keepalived task.
    pub fn on_ha_event(&mut self, event: ha_runner::Event) {
        let Some(ha) = &mut self.ha else { return };
        let was_master = ha.is_master();
        if ha.on_event(event) {
            if ha.is_master() != was_master {
                // The sync daemon may follow the role; the step decides.
                self.runner.wake();
            }
            self.report();
        }
    }

    /// What the run loop waits on for health changes.
    pub fn health_notify(&self) -> Arc<Notify> {
        self.health_notify.clone()
    }

    /// A real server went down or came back: the table follows at once, and
    /// the change goes in the next report (sent now) for the audit log.
    pub fn on_health_change(&mut self) {
        if !self.collect_health_changes() {
            return;
        }
        self.step();
        if !self.health_changes.is_empty() {
            self.report();
        }
    }

    /// Takes the checks' transitions for the next report; returns whether there were any.
    fn collect_health_changes(&mut self) -> bool {
        let events = self.checks.take_events();
        for event in &events {
            tracing::warn!(service = %event.service, server = %event.server, change = ?event.transition, "health");
        }
        self.health_changes
            .extend(events.iter().map(HealthChange::from));
        !events.is_empty()
    }

    /// Reports a spec from the server that does not validate, once per revision.
    fn refuse_invalid_spec(&mut self) {
        let Some(target) = &self.target else { return };
        let (Some(revision), Err(why)) = (target.revision(), &target.spec) else {
            return;
        };
        if self.state.blocked == Some(revision) {
            return;
        }
        let mut report = Report::new(Cause::Activation);
        report.revision = Some(revision);
        report.result = ApplyResult::Refused;
        report.errors = vec![format!(
            "{why}; not applied: the table stays at {}",
            describe_revision(self.state.applied)
        )];
        tracing::error!(
            revision,
            "refused revision {revision}: {why}; the table stays as it is"
        );
        self.state.blocked = Some(revision);
        self.applies.push(report);
        self.save_cache();
        self.report();
    }

    /// Keeps what a step did for the next report; returns whether there is anything to report.
    fn take_events(&mut self, events: Vec<Event>) -> bool {
        let mut reported = false;
        for event in events {
            match event {
                Event::Applied(report) => {
                    log_apply(&report);
                    self.last_drift = None;
                    self.applies.push(*report);
                    if self.applies.len() > MAX_PENDING_APPLIES {
                        self.applies.remove(0);
                    }
                    reported = true;
                }
                Event::Drift {
                    revision,
                    drift,
                    mode,
                } => {
                    let lines: Vec<String> = drift.iter().map(ToString::to_string).collect();
                    // A drift only reported is reported once, until it changes.
                    if mode == DriftMode::Report && self.last_drift.as_ref() == Some(&lines) {
                        continue;
                    }
                    tracing::warn!(revision, mode = mode.as_str(), differences = ?lines, "drift: the table differs from the revision");
                    self.last_drift = Some(lines);
                    self.drift_check = Some(DriftCheck {
                        at: rfc3339(SystemTime::now()),
                        revision,
                        drift,
                        mode,
                        hash: None,
                    });
                    reported = true;
                }
                Event::InSync { revision, hash } => {
                    self.last_drift = None;
                    let check = DriftCheck {
                        at: rfc3339(SystemTime::now()),
                        revision,
                        drift: Vec::new(),
                        mode: self.options.drift,
                        hash: Some(hash),
                    };
                    self.drift_check = Some(check);
                    reported = true;
                }
            }
        }
        reported
    }

    /// A failed step, as the error policy took it.
    fn log_failure(&self, revision: i64, err: &ApplyError, action: Action) {
        match action {
            Action::Requeue(after) => {
                tracing::warn!(revision, error = %err, "apply failed; retrying in {after:?}");
            }
            Action::AwaitChange => tracing::error!(
                revision,
                error = %err,
                "revision {revision} failed for good; the table stays at {}, until the server sends another",
                describe_revision(self.state.applied)
            ),
        }
    }

    fn save_cache(&mut self) {
        let Some(good) = &self.last_good else { return };
        let entry = CacheEntry {
            desired: good.message.clone(),
            state: self.state.clone(),
            zeroed_seq: self.zeroed_seq,
        };
        self.cache_error = match self.cache.save(&entry) {
            Ok(()) => None,
            Err(err) => {
                tracing::error!(error = %err, "cannot write the cache: a reboot without the server would leave the table empty");
                Some(format!(
                    "cannot write the cache {}: {err}; a reboot without the server would leave the table empty",
                    self.cache.path(&self.options.cluster).display()
                ))
            }
        };
    }

    /// Zeroes counters when the server asks, once per request.
    fn zero_if_asked(&mut self) {
        let Some(request) = self.target.as_ref().and_then(|t| t.message.zero.clone()) else {
            return;
        };
        if self.zeroed_seq.is_some_and(|done| done >= request.seq) {
            return;
        }
        let snapshot = match self.table.snapshot() {
            Ok(snapshot) => snapshot,
            Err(err) => {
                tracing::warn!(error = %err, seq = request.seq, "zeroing counters: reading the table failed; will try again");
                return;
            }
        };
        let wanted: Vec<ServiceKey> = match &request.service {
            Some(id) => match id.parse::<ServiceKey>() {
                Ok(key) => vec![key],
                Err(err) => {
                    tracing::error!(service = id, error = %err.message, "zeroing counters: not a service id; request ignored");
                    Vec::new()
                }
            },
            None => self
                .cluster_services()
                .map(|spec| spec.services().iter().map(|s| s.key).collect())
                .unwrap_or_default(),
        };
        // Only services of this cluster that the table has.
        let ops: Vec<Op> = wanted
            .into_iter()
            .filter(|key| self.owns(key) && snapshot.services.iter().any(|e| e.service.key == *key))
            .map(|key| Op::Zero(Some(key)))
            .collect();
        if let Err(err) = self.table.apply(&ops) {
            tracing::warn!(error = %err, seq = request.seq, "zeroing counters failed; will try again");
            return;
        }
        tracing::info!(
            seq = request.seq,
            services = ops.len(),
            "zeroed the counters of {} service(s)",
            ops.len()
        );
        self.zeroed_seq = Some(request.seq);
        self.save_cache();
        self.report();
    }

    /// The spec of the revision in the table.
    fn cluster_services(&self) -> Option<Arc<Spec>> {
        self.last_good.as_ref().and_then(|t| t.spec.clone().ok())
    }

    fn owns(&self, key: &ServiceKey) -> bool {
        self.cluster_services()
            .is_some_and(|spec| spec.service(key).is_some())
    }

    /// Queues a report of the state now, with what happened since the last one.
    pub fn report(&mut self) {
        let snapshot = match self.table.snapshot() {
            Ok(snapshot) => Some(snapshot),
            Err(err) => {
                tracing::warn!(error = %err, "reading the table for the report's counters");
                None
            }
        };
        let spec = self.cluster_services();
        let counters = snapshot
            .as_ref()
            .zip(spec.as_ref())
            .map(|(snapshot, spec)| {
                Counters::from_snapshot(snapshot, SystemTime::now(), |key| {
                    spec.service(key).is_some()
                })
            });
        // A step may run on a change before the loop hears of it: the report
        // that shows the new health carries the change too.
        self.collect_health_changes();
        let report = DirectorReport {
            agent_version: env!("CARGO_PKG_VERSION").to_string(),
            role: crate::contract::agent::AgentRole::Director,
            applied_revision: self.state.applied,
            blocked_revision: self.state.blocked,
            applies: std::mem::take(&mut self.applies),
            drift_check: self.drift_check.take(),
            draining: self.draining(snapshot.as_ref(), spec.as_deref()),
            counters,
            zeroed_seq: self.zeroed_seq,
            health: self.checks.views().unwrap_or_default(),
            health_changes: std::mem::take(&mut self.health_changes),
            host_errors: self
                .host
                .as_ref()
                .map(|h| h.errors().to_vec())
                .unwrap_or_default(),
            agent_errors: self.cache_error.iter().cloned().collect(),
            report_interval_secs: self.options.report_interval.as_secs().max(1),
            ha: self.ha.as_mut().map(|ha| ha.report(spec.as_deref())),
        };
        let dropped = self.outbox.push(report);
        if dropped > self.dropped_reports {
            tracing::warn!(
                dropped,
                "the server has been out of reach for long: the oldest waiting reports were dropped"
            );
            self.dropped_reports = dropped;
        }
        self.last_report = Instant::now();
    }

    /// The drains in progress, with the connections the table counts now.
    fn draining(&self, snapshot: Option<&Snapshot>, spec: Option<&Spec>) -> Vec<DrainView> {
        self.state
            .drains
            .iter()
            .map(|((service, dest), record)| {
                let entry = snapshot
                    .and_then(|s| s.services.iter().find(|e| e.service.key == *service))
                    .and_then(|e| e.dests.iter().find(|d| d.dest.key == *dest));
                DrainView {
                    service: service.to_string(),
                    server: dest.socket_addr().to_string(),
                    active_conns: entry.map_or(0, |d| d.active_conns),
                    inactive_conns: entry.map_or(0, |d| d.inact_conns),
                    started_at: rfc3339(record.started_at),
                    deadline: rfc3339(record.deadline),
                    service_leaves: spec.is_some_and(|spec| spec.service(service).is_none()),
                }
            })
            .collect()
    }
}

fn describe_revision(revision: Option<i64>) -> String {
    match revision {
        Some(revision) => format!("revision {revision}"),
        None => "what it was".to_string(),
    }
}

fn log_apply(report: &Report) {
    let revision = report.revision.unwrap_or_default();
    if report.result.is_ok() {
        tracing::info!(
            revision,
            cause = ?report.cause,
            ops = report.ops,
            total_ms = report.timings.total_ms,
            "applied revision {revision}"
        );
    } else {
        tracing::error!(
            revision,
            cause = ?report.cause,
            result = report.result.as_str(),
            errors = ?report.errors,
            "revision {revision} not applied"
        );
    }
}

/// Runs the agent until `shutdown` resolves.
pub async fn run(
    mut agent: Agent,
    client: ServerClient,
    shutdown: impl std::future::Future<Output = ()>,
) {
    let (to_loop, mut from_server) = mpsc::channel(8);
    let link = Arc::new(Reachability::default());
    let outbox = agent.outbox();
    let watcher = tokio::spawn(watch_desired(
        client.clone(),
        agent.options.wait,
        to_loop,
        link.clone(),
    ));
    let sender = tokio::spawn(send_reports(client, outbox.clone(), link));
    let health_notify = agent.health_notify();
    let (ha_events, mut from_keepalived) = mpsc::unbounded_channel();
    agent.ha_events = Some(ha_events);
    tokio::pin!(shutdown);
    loop {
        let due = agent.due();
        let step = async {
            match due {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        // Table calls block: they run in place, off the runtime's other tasks.
        tokio::select! {
            () = &mut shutdown => break,
            message = from_server.recv() => match message {
                Some(message) => tokio::task::block_in_place(|| agent.on_message(message)),
                None => break,
            },
            () = step => tokio::task::block_in_place(|| agent.step()),
            () = health_notify.notified() => tokio::task::block_in_place(|| agent.on_health_change()),
            Some(event) = from_keepalived.recv() => tokio::task::block_in_place(|| agent.on_ha_event(event)),
            () = tokio::time::sleep_until(agent.heartbeat_due()) => tokio::task::block_in_place(|| agent.report()),
        }
    }
    watcher.abort();
    // keepalived goes first: it releases the VIPs so a backup takes over now.
    if let Some(ha) = agent.ha.take() {
        ha.stop().await;
        agent.report();
    }
    // Reports still waiting get a moment to go out.
    let _ = tokio::time::timeout(Duration::from_secs(2), async {
        while !outbox.is_empty() {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    sender.abort();
}
