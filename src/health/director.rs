//! [`DirectorChecks`]: the health checks one director runs for one cluster,
//! following its desired spec, and the spec it reconciles toward. The local
//! director (`serve --apply-local`) and an agent hold one each, so that both
//! turn the same revision and the same health into the same table.

use std::sync::Arc;

use tokio::sync::Notify;

use super::{HealthEvent, HealthMonitor, MonitorOptions, ServiceHealthView};
use crate::model::Spec;

/// A cluster's checks on one director, and the spec it last ran without error.
#[derive(Default)]
pub struct DirectorChecks {
    /// The checks of the desired spec's real servers, when it has some.
    monitor: Option<HealthMonitor>,
    /// The spec last run without error: the revision's, or what health made of it.
    ran: Option<Arc<Spec>>,
}

/// What a director reconciles toward.
pub struct Target {
    /// The desired spec as health wants it in the table.
    pub spec: Arc<Spec>,
    /// It differs from the spec last run (same revision, health changed weights).
    pub changed: bool,
}

impl DirectorChecks {
    /// Starts, updates or stops the checks to follow `desired`, and returns
    /// the spec to reconcile toward. Checks started here run on `runtime`
    /// (the current runtime when `None`; without one, the spec runs
    /// unchecked and an error says why); `changed` is told of every
    /// server going down or coming back.
    pub fn target(
        &mut self,
        desired: &Arc<Spec>,
        runtime: Option<&tokio::runtime::Handle>,
        changed: &Arc<Notify>,
    ) -> Target {
        self.follow(desired, runtime, changed);
        let spec = match &self.monitor {
            Some(monitor) => Arc::new(monitor.effective()),
            None => desired.clone(),
        };
        let changed = self.ran.as_ref().is_some_and(|ran| **ran != *spec);
        Target { spec, changed }
    }

    /// Remembers `spec` as run without error.
    pub fn ran(&mut self, spec: Arc<Spec>) {
        self.ran = Some(spec);
    }

    /// Stops the checks: the cluster has no revision to run.
    pub fn stop(&mut self) {
        self.monitor = None;
    }

    /// The transitions since the last call, oldest first (for the audit log).
    pub fn take_events(&self) -> Vec<HealthEvent> {
        self.monitor
            .as_ref()
            .map(HealthMonitor::take_events)
            .unwrap_or_default()
    }

    /// Per service, per real server, as the API shows it; `None` without checks.
    pub fn views(&self) -> Option<Vec<ServiceHealthView>> {
        self.monitor.as_ref().map(HealthMonitor::views)
    }

    fn follow(
        &mut self,
        spec: &Arc<Spec>,
        runtime: Option<&tokio::runtime::Handle>,
        changed: &Arc<Notify>,
    ) {
        let checked = spec
            .services()
            .iter()
            .any(|s| !s.health().checks.is_empty() || s.health().sorry_server.is_some());
        match (&self.monitor, checked) {
            (Some(monitor), true) => {
                let current = monitor.spec();
                if !Arc::ptr_eq(&current, spec) && *current != **spec {
                    let _entered = runtime.map(tokio::runtime::Handle::enter);
                    monitor.update(spec.clone());
                }
            }
            (None, true) => {
                let Some(runtime) = runtime
                    .cloned()
                    .or_else(|| tokio::runtime::Handle::try_current().ok())
                else {
                    tracing::error!("health checks need a tokio runtime: the spec runs unchecked");
                    return;
                };
                let _entered = runtime.enter();
                let monitor = HealthMonitor::new(spec.clone(), MonitorOptions::default());
                let mut changes = monitor.subscribe();
                let changed = changed.clone();
                // Ends with the monitor, whose drop closes the channel.
                tokio::spawn(async move {
                    while changes.changed().await.is_ok() {
                        changed.notify_one();
                    }
                });
                self.monitor = Some(monitor);
            }
            (Some(_), false) => self.monitor = None,
            (None, false) => {}
        }
    }
}
