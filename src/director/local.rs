//! `lvsd serve --apply-local`: the server's own kernel as the director of
//! its clusters.
//!
//! One thread of its own owns the table (and the engine's cache of it) and
//! runs the reconcile step of each cluster when it is due: at once when the
//! cluster's active revision changes (it follows [`Core::activations`]),
//! after the drift interval, sooner while drains run, and after the backoff
//! of a transient failure. Its own thread (with its own small runtime) keeps
//! API load, such as the response to the very commit it applies, from
//! delaying the kernel; kernel calls are blocking and run right there.
//! After every step the director's state, report, drift and drains go to the
//! store, with an audit entry per apply and per drift found.
//!
//! Real servers' health checks run per cluster (a [`crate::health::HealthMonitor`] on the
//! server's runtime, from this host's network namespace): the director
//! applies the effective spec (failed servers quiesced or removed, the sorry
//! server when none is healthy) and a change of health is a step at once.
//! States go to the core (in memory) and every change to the audit log.
//!
//! All clusters apply to the same table. With more than one, each manages
//! the table minus the services of the others (their specs', and those they
//! created), and a service listed by two clusters is refused.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::sync::{Notify, mpsc, oneshot};
use tokio::time::Instant;

use crate::apply::engine::{Engine, Preview};
use crate::apply::policy::DriftMode;
use crate::apply::reconcile::{Action, Actual, ApplyError, Desired, Event};
use crate::apply::report::Report;
use crate::apply::runner::{Step, StepRequest};
use crate::apply::state::DirectorState;
use crate::core::{self, BoxFuture, Core, DirectorUpdate, LiveReport, LocalDirector};
use crate::health::DirectorChecks;
use crate::host::{self, HostError, HostPlan, HostState, Role};
use crate::ipvs::conns::Connection;
use crate::ipvs::{IpvsTable, Op};
use crate::model::{ServiceKey, Spec};

/// How the local director runs.
#[derive(Debug, Clone)]
pub struct Options {
    /// Its name in the API (`/v1/clusters/{cluster}/directors/{name}`).
    pub name: String,
    /// How often the whole table is read and compared with the active revision.
    pub interval: Duration,
    pub drift: DriftMode,
    /// The removal limit of clusters whose settings set none.
    pub removal_limit: Option<f64>,
    /// How often the table's counters are read for the API.
    pub counters_interval: Duration,
    /// Where the records of the IPVS settings it sets are kept (`lvsd host`'s
    /// directory); `None`: it leaves them alone (an in-memory table).
    pub host_state_dir: Option<std::path::PathBuf>,
}

/// The desired state of `cluster`: the revision this director should run
/// (the active one, or the released one while a canary rollout holds it
/// back) under its settings, the other clusters' services foreign.
async fn desired(
    core: &Core,
    options: &Options,
    runs: &BTreeMap<String, Run>,
    cluster: &str,
) -> core::Result<Option<Desired>> {
    let Some((revision, spec)) = core.director_spec(cluster, &options.name).await? else {
        return Ok(None);
    };
    // This director's own sync daemons and timeouts (host.directors), if any.
    let spec = Spec::shared_for_director(spec, &options.name);
    let settings = match runs.get(cluster).and_then(|run| run.settings.clone()) {
        Some(settings) => settings,
        None => core.settings(cluster).await?.settings,
    };
    let mut policy = settings.policy(options.removal_limit);
    if runs.len() > 1 {
        let mut others = Vec::new();
        for (name, run) in runs {
            if name != cluster
                && let Some((_, spec)) = core.active_spec(name).await?
            {
                others.push((name.clone(), spec, run.state.created.clone()));
            }
        }
        policy.foreign = core::foreign_services(
            cluster,
            others.iter().map(|(n, s, c)| (n.as_str(), s.as_ref(), c)),
        );
    }
    Ok(Some(Desired {
        revision,
        spec,
        policy,
    }))
}

/// The mode recorded in the director's status.
const MODE: &str = "local";

enum Request {
    Preview {
        cluster: String,
        spec: Arc<Spec>,
        reply: oneshot::Sender<core::Result<Preview>>,
    },
    Apply {
        cluster: String,
        force: bool,
        reply: oneshot::Sender<core::Result<Report>>,
    },
    Connections {
        reply: oneshot::Sender<core::Result<Vec<Connection>>>,
    },
    Zero {
        cluster: String,
        service: Option<ServiceKey>,
        reply: oneshot::Sender<core::Result<()>>,
    },
}

/// The handle the core holds: previews and applies on request.
pub struct Handle {
    name: String,
    requests: mpsc::Sender<Request>,
}

fn stopped() -> core::Error {
    core::Error::Internal("the local director has stopped".to_string())
}

impl LocalDirector for Handle {
    fn name(&self) -> &str {
        &self.name
    }

    fn preview<'a>(
        &'a self,
        cluster: &'a str,
        spec: Arc<Spec>,
    ) -> BoxFuture<'a, core::Result<Preview>> {
        Box::pin(async move {
            let (reply, answer) = oneshot::channel();
            let request = Request::Preview {
                cluster: cluster.to_string(),
                spec,
                reply,
            };
            self.requests.send(request).await.map_err(|_| stopped())?;
            answer.await.map_err(|_| stopped())?
        })
    }

    fn apply_now<'a>(
        &'a self,
        cluster: &'a str,
        force: bool,
    ) -> BoxFuture<'a, core::Result<Report>> {
        Box::pin(async move {
            let (reply, answer) = oneshot::channel();
            self.requests
                .send(Request::Apply {
                    cluster: cluster.to_string(),
                    force,
                    reply,
                })
                .await
                .map_err(|_| stopped())?;
            answer.await.map_err(|_| stopped())?
        })
    }

    fn connections(&self) -> BoxFuture<'_, core::Result<Vec<Connection>>> {
        Box::pin(async move {
            let (reply, answer) = oneshot::channel();
            self.requests
                .send(Request::Connections { reply })
                .await
                .map_err(|_| stopped())?;
            answer.await.map_err(|_| stopped())?
        })
    }

    fn zero<'a>(
        &'a self,
        cluster: &'a str,
        service: Option<ServiceKey>,
    ) -> BoxFuture<'a, core::Result<()>> {
        Box::pin(async move {
            let (reply, answer) = oneshot::channel();
            self.requests
                .send(Request::Zero {
                    cluster: cluster.to_string(),
                    service,
                    reply,
                })
                .await
                .map_err(|_| stopped())?;
            answer.await.map_err(|_| stopped())?
        })
    }
}

/// The table and the engine's cache of it, moved into blocking tasks and back.
struct Director {
    table: Box<dyn IpvsTable + Send>,
    engine: Engine,
}

/// One cluster as this director runs it.
struct Run {
    state: DirectorState,
    /// The revision last seen desired for this director.
    seen: Option<i64>,
    /// When its next step is due, attempts, the drift check's schedule:
    /// the same driver as an agent's.
    schedule: crate::apply::Runner,
    /// The drift last reported, to report a lasting drift once.
    last_drift: Option<Vec<String>>,
    /// The cluster's settings, read again when the core says they changed.
    settings: Option<core::ClusterSettings>,
    /// The checks of the active revision's real servers, and the spec last run.
    health: DirectorChecks,
}

struct Runner {
    core: Core,
    options: Options,
    director: Director,
    runs: BTreeMap<String, Run>,
    /// Set when the counters are read on a thread of their own (see [`start`]).
    counters_apart: Option<tokio::sync::watch::Sender<()>>,
    /// The runtime the health checks run on: the server's, so that kernel
    /// calls on this thread do not hold them up.
    checks_runtime: Option<tokio::runtime::Handle>,
    /// Told by every cluster's monitor when a real server goes down or comes back.
    health_changed: Arc<Notify>,
}

/// Starts the local director on `table`, on a thread of its own; it stops
/// when `shutdown` resolves. The handle goes to the core
/// (`Core::set_local_director`).
///
/// With `counters_table`, a second handle on the same kernel table, the
/// counters are read on a thread of their own: reading a large table whole
/// takes long (seconds for 10,000 services), and an activation must not wait
/// for it. Without one the director reads them between its steps.
pub fn start(
    core: Core,
    table: Box<dyn IpvsTable + Send>,
    counters_table: Option<Box<dyn IpvsTable + Send>>,
    options: Options,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<(Arc<Handle>, std::thread::JoinHandle<()>)> {
    let (requests, inbox) = mpsc::channel(16);
    let handle = Arc::new(Handle {
        name: options.name.clone(),
        requests,
    });
    // The counters thread stops when the director does: when this sender,
    // kept by the runner, is dropped.
    let (alive, alive_rx) = tokio::sync::watch::channel(());
    let counters = match counters_table {
        Some(table) => {
            let (core, name, interval) = (
                core.clone(),
                options.name.clone(),
                options.counters_interval,
            );
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            Some(
                std::thread::Builder::new()
                    .name("lvsd-counters".to_string())
                    .spawn(move || {
                        runtime.block_on(read_counters(core, table, name, interval, alive_rx));
                    })?,
            )
        }
        None => None,
    };
    let counters_apart = counters.as_ref().map(|_| alive);
    let runner = Runner {
        core,
        options,
        director: Director {
            table,
            engine: Engine::new(),
        },
        runs: BTreeMap::new(),
        counters_apart,
        checks_runtime: tokio::runtime::Handle::try_current().ok(),
        health_changed: Arc::new(Notify::new()),
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let thread = std::thread::Builder::new()
        .name("lvsd-director".to_string())
        .spawn(move || {
            runtime.block_on(runner.run(inbox, shutdown));
            if let Some(counters) = counters {
                let _ = counters.join();
            }
        })?;
    Ok((handle, thread))
}

/// Reads the counters of `table` every `interval` until `alive`'s sender is dropped.
async fn read_counters(
    core: Core,
    mut table: Box<dyn IpvsTable + Send>,
    name: String,
    interval: Duration,
    mut alive: tokio::sync::watch::Receiver<()>,
) {
    loop {
        match core.active_revisions().await {
            Ok(clusters) => {
                let active = clusters
                    .iter()
                    .filter(|(_, active)| active.is_some())
                    .map(|(cluster, _)| cluster.as_str());
                record_counters(&core, table.as_mut(), &name, active).await;
            }
            Err(err) => {
                tracing::warn!(error = %err, "local director: listing clusters for their counters")
            }
        }
        tokio::select! {
            _ = alive.changed() => return,
            () = tokio::time::sleep(interval) => {}
        }
    }
}

/// Reads the table's counters once and gives each of `clusters` those of its services.
async fn record_counters<'a>(
    core: &Core,
    table: &mut (dyn IpvsTable + Send),
    name: &str,
    clusters: impl Iterator<Item = &'a str>,
) {
    let snapshot = match table.snapshot() {
        Ok(snapshot) => snapshot,
        Err(err) => {
            tracing::warn!(error = %err, "local director: reading counters");
            return;
        }
    };
    let at = SystemTime::now();
    for cluster in clusters {
        let Ok(Some((_, spec))) = core.active_spec(cluster).await else {
            continue;
        };
        let counters =
            crate::apply::Counters::from_snapshot(&snapshot, at, |key| spec.service(key).is_some());
        core.record_live(
            cluster,
            name,
            LiveReport {
                counters: Some(counters),
                ..LiveReport::default()
            },
        )
        .await;
    }
}

impl Runner {
    async fn run(
        mut self,
        mut inbox: mpsc::Receiver<Request>,
        shutdown: impl std::future::Future<Output = ()>,
    ) {
        let mut activations = self.core.activations();
        let mut wakeups = self.core.wakeups();
        let mut releases = self.core.desired_changes();
        let health_changed = self.health_changed.clone();
        tokio::pin!(shutdown);
        self.refresh_clusters(true).await;
        let mut counters_due = Instant::now();
        loop {
            self.step_due().await;
            let own_counters = self.counters_apart.is_none();
            if counters_due <= Instant::now() {
                if own_counters {
                    let Runner {
                        core,
                        options,
                        director,
                        runs,
                        ..
                    } = &mut self;
                    record_counters(
                        core,
                        director.table.as_mut(),
                        &options.name,
                        runs.keys().map(String::as_str),
                    )
                    .await;
                }
                self.record_health().await;
                counters_due = Instant::now() + self.options.counters_interval;
            }
            let next = self
                .runs
                .values()
                .filter_map(|r| r.schedule.due())
                .chain([counters_due])
                .min();
            let timer = async {
                match next {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                () = &mut shutdown => return,
                changed = activations.changed() => {
                    if changed.is_err() { return; }
                    self.refresh_clusters(false).await;
                }
                changed = wakeups.changed() => {
                    if changed.is_err() { return; }
                    self.refresh_clusters(true).await;
                }
                // A canary rollout released (or a zeroing request, which the
                // local director gets directly: nothing changes then).
                changed = releases.changed() => {
                    if changed.is_err() { return; }
                    self.refresh_clusters(false).await;
                }
                request = inbox.recv() => match request {
                    Some(request) => self.serve(request).await,
                    None => return,
                },
                () = health_changed.notified() => self.health_changed().await,
                () = timer => {}
            }
        }
    }

    /// Follows the revision each cluster wants this director to run: a
    /// changed one is due now (all of them with `all`, after a change of
    /// settings, which also lifts the block on a refused revision); clusters
    /// gone are forgotten.
    async fn refresh_clusters(&mut self, all: bool) {
        let entered = std::time::Instant::now();
        let clusters = match self.core.active_revisions().await {
            Ok(clusters) => clusters,
            Err(err) => {
                tracing::error!(error = %err, "local director: listing clusters");
                return;
            }
        };
        let listed = std::time::Instant::now();
        let mut desired = Vec::with_capacity(clusters.len());
        for (name, active) in clusters {
            let asked = std::time::Instant::now();
            let revision = match self.core.director_revision(&name, &self.options.name).await {
                Ok(revision) => revision,
                Err(core::Error::NotFound(_)) => continue, // deleted meanwhile: forgotten below
                Err(err) => {
                    tracing::error!(error = %err, cluster = name, "local director: the revision to run");
                    active
                }
            };
            if let Some((_, activated)) = active.and_then(|n| self.core.activation_times(&name, n))
            {
                // Where the time from a commit's durability to its step goes
                // (with the step's own line), for `RUST_LOG=lvsd::timing=debug`.
                let ms = |d: std::time::Duration| d.as_secs_f64() * 1e3;
                tracing::debug!(
                    target: "lvsd::timing",
                    cluster = name,
                    revision = active,
                    all,
                    woken_ms = ms(entered.saturating_duration_since(activated)),
                    list_ms = ms(listed - entered),
                    director_revision_ms = ms(asked.elapsed()),
                    "refresh"
                );
            }
            desired.push((name, revision));
        }
        let clusters = desired;
        self.runs
            .retain(|name, _| clusters.iter().any(|(c, _)| c == name));
        for (name, active) in clusters {
            if let Some(run) = self.runs.get_mut(&name) {
                if all {
                    // New settings may allow what the old ones refused.
                    run.settings = None;
                    run.state.blocked = None;
                }
                if run.seen != active || all {
                    run.seen = active;
                    match active {
                        Some(_) => run.schedule.wake(),
                        None => run.schedule.idle(),
                    }
                }
                continue;
            }
            let state = match self.core.director_state(&name, &self.options.name).await {
                Ok(state) => state,
                Err(err) => {
                    tracing::error!(error = %err, cluster = name, "local director: loading its state");
                    continue;
                }
            };
            let mut schedule = crate::apply::Runner::new(self.options.interval, self.options.drift);
            if active.is_some() {
                schedule.wake();
            }
            let run = Run {
                state,
                seen: active,
                schedule,
                last_drift: None,
                settings: None,
                health: DirectorChecks::default(),
            };
            self.runs.insert(name, run);
        }
    }

    async fn step_due(&mut self) {
        loop {
            let now = Instant::now();
            let due = self
                .runs
                .iter()
                .find(|(_, run)| run.schedule.due().is_some_and(|at| at <= now))
                .map(|(name, _)| name.clone());
            let Some(cluster) = due else { return };
            if let Err(err) = self.step(&cluster, false, false).await {
                tracing::error!(error = %err, cluster, "local director: step");
                if let Some(run) = self.runs.get_mut(&cluster) {
                    run.schedule.retry_after(self.options.interval);
                }
            }
        }
    }

    /// One reconcile step of `cluster`; returns the reports of its applies.
    async fn step(
        &mut self,
        cluster: &str,
        apply_now: bool,
        force: bool,
    ) -> core::Result<Vec<Report>> {
        let entered = std::time::Instant::now();
        if let Some(run) = self.runs.get_mut(cluster)
            && run.settings.is_none()
        {
            run.settings = Some(self.core.settings(cluster).await?.settings);
        }
        let settled = std::time::Instant::now();
        let Some(mut desired) = desired(&self.core, &self.options, &self.runs, cluster).await?
        else {
            if let Some(run) = self.runs.get_mut(cluster) {
                run.schedule.idle();
                run.health.stop();
            }
            return Ok(Vec::new());
        };
        let run = self
            .runs
            .get_mut(cluster)
            .ok_or_else(|| core::Error::NotFound(format!("no cluster named {cluster}")))?;
        let target = run.health.target(
            &desired.spec,
            self.checks_runtime.as_ref(),
            &self.health_changed,
        );
        desired.spec = target.spec;
        let request = StepRequest {
            apply_now,
            force,
            spec_changed: target.changed,
        };
        let before = run.state.clone();
        let step_started = std::time::Instant::now();
        let commit_times = self.core.activation_times(cluster, desired.revision);
        let mut state = before.clone();
        let actual = Actual {
            table: self.director.table.as_mut(),
            engine: &mut self.director.engine,
            state: &mut state,
        };
        let Step {
            result,
            action,
            mut events,
            drift_checked,
            ..
        } = run.schedule.step(&desired, actual, request);
        if let Some((commit_started, activated)) = commit_times {
            // Where the time from a commit's durability to the step went, for
            // `RUST_LOG=lvsd::timing=debug`.
            tracing::debug!(
                target: "lvsd::timing",
                cluster,
                revision = desired.revision,
                woken_ms = entered.saturating_duration_since(activated).as_secs_f64() * 1e3,
                desired_ms = step_started.saturating_duration_since(entered).as_secs_f64() * 1e3,
                settings_ms = settled.saturating_duration_since(entered).as_secs_f64() * 1e3,
                "step"
            );
            for event in &mut events {
                if let Event::Applied(report) = event
                    && report.cause == crate::apply::report::Cause::Activation
                {
                    let t = &report.timings;
                    let sent = t.read_ms + t.plan_ms + t.apply_ms;
                    let since = |at: std::time::Instant| {
                        let total =
                            crate::apply::report::ms(step_started.saturating_duration_since(at))
                                + sent;
                        Some((total * 1e3).round() / 1e3)
                    };
                    report.timings.commit_to_kernel_ms = since(commit_started);
                    report.timings.activation_to_kernel_ms = since(activated);
                }
            }
        }
        let applied_now = events
            .iter()
            .any(|e| matches!(e, Event::Applied(r) if r.result.is_ok()));
        if result.is_ok() && (applied_now || drift_checked) {
            self.follow_ipvs_sysctls(cluster, &desired.spec);
        }
        let run = self.runs.get_mut(cluster).expect("still there");
        run.state = state;

        // A drift only reported is recorded once, until it changes.
        let mut kept = Vec::with_capacity(events.len());
        for event in events {
            match &event {
                Event::Drift {
                    drift,
                    mode: DriftMode::Report,
                    ..
                } => {
                    let lines: Vec<String> = drift.iter().map(ToString::to_string).collect();
                    if run.last_drift.as_ref() == Some(&lines) {
                        continue;
                    }
                    run.last_drift = Some(lines);
                }
                Event::InSync { .. } | Event::Applied(_) => run.last_drift = None,
                Event::Drift { .. } => {}
            }
            kept.push(event);
        }
        let events = kept;

        match &result {
            Ok(_) => run.health.ran(desired.spec.clone()),
            Err(err) => log_failure(cluster, err, action),
        }
        let after = run.state.clone();
        for event in &events {
            log_event(cluster, event);
        }
        let update = DirectorUpdate {
            cluster,
            director: &self.options.name,
            mode: MODE,
            before: &before,
            after: &after,
            events: &events,
        };
        self.core.record_director(update).await?;
        Ok(events
            .into_iter()
            .filter_map(|e| match e {
                Event::Applied(report) => Some(*report),
                _ => None,
            })
            .collect())
    }

    /// Keeps the IPVS settings (`net.ipv4.vs.*`, one set per network
    /// namespace) as `cluster`'s spec asks, after each apply and at each
    /// drift check; a setting changed behind lvsd's back is put back. With
    /// several clusters, the first by name that runs a revision decides.
    fn follow_ipvs_sysctls(&self, cluster: &str, spec: &Spec) {
        let Some(dir) = &self.options.host_state_dir else {
            return;
        };
        let decides = self
            .runs
            .iter()
            .find(|(_, run)| run.state.applied.is_some())
            .is_none_or(|(name, _)| name == cluster);
        if !decides {
            return;
        }
        let plan = HostPlan::for_director(spec, &self.options.name);
        // Loaded afresh: `lvsd host` may have written the same file since.
        let result = HostState::load(dir, Role::Director)
            .map_err(HostError::State)
            .and_then(|mut state| host::apply_ipvs_sysctls(&plan, &mut state));
        match result {
            Ok(report) => {
                for change in &report.changes {
                    tracing::info!(cluster, "host: {change}");
                }
            }
            Err(err) => {
                tracing::error!(
                    cluster,
                    "host: IPVS settings: {err}; retrying at the next drift check"
                )
            }
        }
    }

    /// Reads the table's counters and hands each cluster those of its
    /// active revision's services.
    /// A real server went down or came back: audit it, report the new
    /// states, and step the clusters whose effective spec changed.
    async fn health_changed(&mut self) {
        let now = Instant::now();
        for (cluster, run) in &mut self.runs {
            let events = run.health.take_events();
            if events.is_empty() {
                continue;
            }
            for event in &events {
                tracing::warn!(cluster, service = %event.service, server = %event.server, change = ?event.transition, "health");
            }
            if let Err(err) = self
                .core
                .record_health_events(cluster, &self.options.name, &events)
                .await
            {
                tracing::error!(error = %err, cluster, "local director: auditing health changes");
            }
            if run.seen.is_some() {
                run.schedule.due_by(now);
            }
        }
        self.record_health().await;
    }

    /// Hands the core each cluster's health as its monitor sees it.
    async fn record_health(&self) {
        for (cluster, run) in &self.runs {
            if let Some(views) = run.health.views() {
                let live = LiveReport {
                    health: Some(views),
                    ..LiveReport::default()
                };
                self.core
                    .record_live(cluster, &self.options.name, live)
                    .await;
            }
        }
    }

    async fn serve(&mut self, request: Request) {
        match request {
            Request::Preview {
                cluster,
                spec,
                reply,
            } => {
                let _ = reply.send(self.preview(&cluster, spec).await);
            }
            Request::Apply {
                cluster,
                force,
                reply,
            } => {
                let result = match self.step(&cluster, true, force).await {
                    Ok(mut reports) => reports.pop().ok_or_else(|| {
                        core::Error::Conflict(format!(
                            "cluster {cluster} has no active revision to apply"
                        ))
                    }),
                    Err(err) => Err(err),
                };
                let _ = reply.send(result);
            }
            Request::Connections { reply } => {
                let read = self.director.table.connections();
                let _ = reply.send(
                    read.map_err(|e| core::Error::Internal(format!("this host's IPVS: {e}"))),
                );
            }
            Request::Zero {
                cluster,
                service,
                reply,
            } => {
                let _ = reply.send(self.zero(&cluster, service).await);
            }
        }
    }

    /// Zeroes `service`, or every service of the cluster's active revision:
    /// the table is shared with other clusters, whose counters stay.
    async fn zero(&mut self, cluster: &str, service: Option<ServiceKey>) -> core::Result<()> {
        let ops: Vec<Op> = match service {
            Some(key) => vec![Op::Zero(Some(key))],
            None => match self.core.active_spec(cluster).await? {
                Some((_, spec)) => spec
                    .services()
                    .iter()
                    .map(|s| Op::Zero(Some(s.key)))
                    .collect(),
                None => Vec::new(),
            },
        };
        self.director.table.apply(&ops).map_err(|e| {
            core::Error::Conflict(format!("zeroing the counters of this host's table: {e}"))
        })?;
        tracing::info!(cluster, services = ops.len(), "counters zeroed");
        Ok(())
    }

    async fn preview(&mut self, cluster: &str, spec: Arc<Spec>) -> core::Result<Preview> {
        let policy = match desired(&self.core, &self.options, &self.runs, cluster).await? {
            Some(desired) => desired.policy,
            None => self
                .core
                .settings(cluster)
                .await?
                .settings
                .policy(self.options.removal_limit),
        };
        let state = self
            .runs
            .get(cluster)
            .map(|r| r.state.clone())
            .unwrap_or_default();
        let director = &mut self.director;
        director
            .engine
            .preview(
                director.table.as_mut(),
                &spec,
                &policy,
                &state,
                SystemTime::now(),
            )
            .map_err(|e| core::Error::Internal(format!("reading this host's IPVS table: {e}")))
    }
}

fn log_event(cluster: &str, event: &Event) {
    match event {
        Event::Applied(report) => tracing::info!(
            cluster,
            revision = report.revision,
            cause = ?report.cause,
            result = report.result.as_str(),
            ops = report.ops,
            total_ms = report.timings.total_ms,
            errors = ?report.errors,
            "apply"
        ),
        Event::Drift {
            revision,
            drift,
            mode,
        } => tracing::warn!(
            cluster,
            revision,
            mode = mode.as_str(),
            differences = ?drift.iter().map(ToString::to_string).collect::<Vec<_>>(),
            "drift"
        ),
        Event::InSync { .. } => {}
    }
}

fn log_failure(cluster: &str, err: &ApplyError, action: Action) {
    match action {
        Action::Requeue(after) => {
            tracing::warn!(cluster, error = %err, retry_in = ?after, "apply failed; will retry")
        }
        Action::AwaitChange => {
            tracing::error!(cluster, error = %err, "apply failed; not retried until the active revision changes")
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::Ordering;

    use super::*;
    use crate::apply::runner::parity::{FAULTS, FaultyTable};
    use crate::core::{Caller, CommitRequest, Precondition};

    fn spec(weights: &[u32]) -> crate::model::SpecDoc {
        let servers: Vec<_> = weights
            .iter()
            .enumerate()
            .map(|(i, w)| {
                serde_json::json!({"address": format!("172.25.0.{}", 31 + i), "forwarding": "nat", "weight": w})
            })
            .collect();
        serde_json::from_value(serde_json::json!({"services": [
            {"id": "tcp:192.168.31.100:80", "scheduler": "wrr", "servers": servers}]}))
        .unwrap()
    }

    async fn commit(core: &Core, weights: &[u32]) {
        let request = CommitRequest {
            message: "m".into(),
            author: None,
            expected_base: None,
            activate: true,
            spec: Some(spec(weights)),
            precondition: Precondition::default(),
            confirm_within: None,
        };
        core.commit(&Caller::anonymous(), "web", request)
            .await
            .unwrap();
    }

    /// The local director takes each fault as an agent does
    /// (`agent::tests::faults_are_taken_as_the_local_director_takes_them`):
    /// both drive their steps through `apply::Runner`, checked against one table.
    #[tokio::test]
    async fn faults_are_taken_as_an_agent_takes_them() {
        for (fault, expected) in FAULTS {
            let dir = tempfile::tempdir().unwrap();
            let core = Core::open_for_tests(&dir.path().join("lvsd.db")).await;
            core.create_cluster(&Caller::anonymous(), "web", "")
                .await
                .unwrap();
            commit(&core, &[1, 2]).await;
            let (table, armed) = FaultyTable::new(fault);
            let mut director = Runner {
                core: core.clone(),
                options: Options {
                    name: "d1".into(),
                    interval: Duration::from_secs(10),
                    drift: DriftMode::Restore,
                    removal_limit: Some(0.5),
                    counters_interval: Duration::from_secs(10),
                    host_state_dir: None,
                },
                director: Director {
                    table: Box::new(table),
                    engine: Engine::new(),
                },
                runs: BTreeMap::new(),
                counters_apart: None,
                checks_runtime: None,
                health_changed: Arc::new(Notify::new()),
            };
            director.refresh_clusters(true).await;
            director.step("web", false, false).await.unwrap();
            let run = &director.runs["web"];
            assert_eq!(run.schedule.attempt(), expected.attempt, "{fault:?}");
            assert_eq!(run.schedule.due().is_some(), expected.retries, "{fault:?}");
            assert_eq!(run.state.blocked == Some(1), expected.blocked, "{fault:?}");
            assert_eq!(run.state.applied, None, "{fault:?}");
            let snapshot = director.director.table.snapshot().unwrap();
            assert!(snapshot.services.is_empty(), "{fault:?}");

            // The fault passes: the retry, or the next revision after a block, applies.
            armed.store(false, Ordering::SeqCst);
            let next = if expected.blocked { 2 } else { 1 };
            if expected.blocked {
                commit(&core, &[3, 4]).await;
                director.refresh_clusters(false).await;
            }
            director.step("web", false, false).await.unwrap();
            let run = &director.runs["web"];
            assert_eq!(
                (run.schedule.attempt(), run.state.applied),
                (0, Some(next)),
                "{fault:?}"
            );
            let snapshot = director.director.table.snapshot().unwrap();
            assert_eq!(snapshot.services[0].dests.len(), 2, "{fault:?}");
        }
    }
}
