//! [`HealthMonitor`]: runs the checks of one spec's real servers on the
//! current tokio runtime and keeps their states.
//!
//! Each checked real server has a task of its own: it starts at an offset
//! drawn within the interval (so that a thousand servers checked every
//! second are not probed in one burst), then runs a check every interval,
//! each bounded by the check's timeout and all of them by one semaphore.
//! Whoever runs the monitor (the local director, an agent) reads the
//! effective spec and the states, and is told of every transition through
//! [`HealthMonitor::subscribe`], then collects them with
//! [`HealthMonitor::take_events`] (for the audit log).

use std::collections::BTreeMap;
use std::hash::BuildHasher;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use tokio::sync::{Semaphore, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::{ServerState, ServiceHealthView, Transition, effective, probe, views};
use crate::model::{HealthCheck, ServerKey, ServiceKey, Spec};

/// How a monitor runs its checks.
#[derive(Debug, Clone, Copy)]
pub struct MonitorOptions {
    /// Checks in flight at once, across all servers.
    pub concurrency: usize,
}

impl Default for MonitorOptions {
    fn default() -> Self {
        MonitorOptions { concurrency: 256 }
    }
}

/// One health change, for the audit log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthEvent {
    pub at: SystemTime,
    pub service: ServiceKey,
    pub server: ServerKey,
    pub transition: Transition,
}

type Target = (ServiceKey, ServerKey);

struct Shared {
    states: Mutex<BTreeMap<Target, ServerState>>,
    events: Mutex<Vec<HealthEvent>>,
    /// Bumped after every transition.
    changed: watch::Sender<u64>,
    permits: Arc<Semaphore>,
}

/// The checks of one spec; see the module documentation. Dropping it stops them.
pub struct HealthMonitor {
    shared: Arc<Shared>,
    spec: Mutex<Arc<Spec>>,
    tasks: Mutex<BTreeMap<Target, (HealthCheck, JoinHandle<()>)>>,
}

impl HealthMonitor {
    /// Starts checking the real servers of `spec`. Must be called within a tokio runtime.
    pub fn new(spec: Arc<Spec>, options: MonitorOptions) -> Self {
        let shared = Arc::new(Shared {
            states: Mutex::new(BTreeMap::new()),
            events: Mutex::new(Vec::new()),
            changed: watch::channel(0).0,
            permits: Arc::new(Semaphore::new(options.concurrency.max(1))),
        });
        let monitor = HealthMonitor {
            shared,
            spec: Mutex::new(spec.clone()),
            tasks: Mutex::new(BTreeMap::new()),
        };
        monitor.update(spec);
        monitor
    }

    /// Checks the real servers of `spec` from now on: new ones start
    /// (healthy until their checks say otherwise), those gone stop and are
    /// forgotten, those whose check changed restart it keeping their state.
    pub fn update(&self, spec: Arc<Spec>) {
        let mut wanted: BTreeMap<Target, (HealthCheck, IpAddr)> = BTreeMap::new();
        for service in spec.services() {
            for (server, check) in &service.health().checks {
                wanted.insert((service.key, *server), (check.clone(), server.ip()));
            }
        }
        let mut tasks = self.tasks.lock().expect("tasks lock");
        tasks.retain(|target, (check, task)| {
            let keep = wanted.get(target).is_some_and(|(want, _)| want == check);
            if !keep {
                task.abort();
            }
            keep
        });
        self.shared
            .states
            .lock()
            .expect("states lock")
            .retain(|target, _| wanted.contains_key(target));
        for (target, (check, address)) in wanted {
            if tasks.contains_key(&target) {
                continue;
            }
            let task = tokio::spawn(run_checks(
                self.shared.clone(),
                target,
                address,
                check.clone(),
            ));
            tasks.insert(target, (check, task));
        }
        *self.spec.lock().expect("spec lock") = spec;
    }

    /// The spec the checks run for.
    pub fn spec(&self) -> Arc<Spec> {
        self.spec.lock().expect("spec lock").clone()
    }

    /// The spec as health wants it in the table (see [`effective`]).
    pub fn effective(&self) -> Spec {
        let spec = self.spec();
        let states = self.shared.states.lock().expect("states lock");
        effective(&spec, |service, server| {
            states.get(&(*service, *server)).is_none_or(|s| s.healthy)
        })
    }

    /// The state of every checked server now.
    pub fn states(&self) -> BTreeMap<Target, ServerState> {
        self.shared.states.lock().expect("states lock").clone()
    }

    /// Per service, per real server, as the API shows it.
    pub fn views(&self) -> Vec<ServiceHealthView> {
        let spec = self.spec();
        let effective = self.effective();
        let states = self.states();
        views(&spec, &effective, |service, server| {
            states.get(&(*service, *server))
        })
    }

    /// Changes when a server goes down or comes back.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.shared.changed.subscribe()
    }

    /// The transitions since the last call, oldest first.
    pub fn take_events(&self) -> Vec<HealthEvent> {
        std::mem::take(&mut *self.shared.events.lock().expect("events lock"))
    }
}

impl Drop for HealthMonitor {
    fn drop(&mut self) {
        for (_, (_, task)) in self.tasks.lock().expect("tasks lock").iter() {
            task.abort();
        }
    }
}

/// Where in the interval a server's checks run: spread evenly, by a hash of the server.
fn offset(target: &Target, interval: Duration) -> Duration {
    static SEED: std::sync::OnceLock<std::hash::RandomState> = std::sync::OnceLock::new();
    let hash = SEED
        .get_or_init(std::hash::RandomState::new)
        .hash_one(target);
    let millis = interval.as_millis().max(1) as u64;
    Duration::from_millis(hash % millis)
}

async fn run_checks(shared: Arc<Shared>, target: Target, address: IpAddr, check: HealthCheck) {
    let mut next = Instant::now() + offset(&target, check.interval);
    loop {
        tokio::time::sleep_until(next).await;
        let outcome = {
            let _permit = shared
                .permits
                .acquire()
                .await
                .expect("the semaphore is never closed");
            match tokio::time::timeout(check.timeout, probe(&check, &target.0, address)).await {
                Ok(outcome) => outcome,
                Err(_) => Err(format!("no answer within {} ms", check.timeout.as_millis())),
            }
        };
        shared.observe(&target, outcome, &check);
        next += check.interval;
        // Behind (a slow check, a busy machine): skip the missed rounds rather than run them in a burst.
        let now = Instant::now();
        if next < now {
            next = now + check.interval;
        }
    }
}

impl Shared {
    fn observe(&self, target: &Target, outcome: Result<(), String>, check: &HealthCheck) {
        let now = SystemTime::now();
        let transition = {
            let mut states = self.states.lock().expect("states lock");
            states
                .entry(*target)
                .or_default()
                .observe(outcome, check.rise, check.fall, now)
        };
        if let Some(transition) = transition {
            let event = HealthEvent {
                at: now,
                service: target.0,
                server: target.1,
                transition,
            };
            self.events.lock().expect("events lock").push(event);
            self.changed.send_modify(|n| *n += 1);
        }
    }
}
